/* jsonpersist._exchange: renames that cannot lose a file someone else wrote meanwhile.
 *
 * With watch mode a save must not replace a state file that a person edited after the save
 * checked it. A check followed by rename() always leaves a window; Linux's renameat2() closes
 * it: RENAME_EXCHANGE swaps two names atomically, so the file that was replaced is still in
 * hand under the other name, and RENAME_NOREPLACE creates a name only if nobody did meanwhile.
 *
 * Both release the GIL for the system call. Elsewhere (not Linux, or headers without
 * SYS_renameat2) they raise OSError(ENOSYS); a file system without support raises EINVAL.
 * The caller then falls back to rename() and its window.
 */

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <errno.h>

#if defined(__linux__)
#include <fcntl.h>
#include <sys/syscall.h>
#include <unistd.h>
#endif

#ifndef RENAME_NOREPLACE
#define RENAME_NOREPLACE (1 << 0)
#endif
#ifndef RENAME_EXCHANGE
#define RENAME_EXCHANGE (1 << 1)
#endif

static PyObject *
rename2(PyObject *const *args, Py_ssize_t nargs, unsigned int flags)
{
    if (nargs != 2) {
        PyErr_SetString(PyExc_TypeError, "expected two paths");
        return NULL;
    }
    PyObject *old_path = NULL, *new_path = NULL;
    if (!PyUnicode_FSConverter(args[0], &old_path)) {
        return NULL;
    }
    if (!PyUnicode_FSConverter(args[1], &new_path)) {
        Py_DECREF(old_path);
        return NULL;
    }
    int result = -1;
    int error = ENOSYS;
#if defined(__linux__) && defined(SYS_renameat2)
    const char *old_name = PyBytes_AS_STRING(old_path);
    const char *new_name = PyBytes_AS_STRING(new_path);
    Py_BEGIN_ALLOW_THREADS
    result = (int)syscall(SYS_renameat2, AT_FDCWD, old_name, AT_FDCWD, new_name, flags);
    error = errno;
    Py_END_ALLOW_THREADS
#else
    (void)flags;
#endif
    Py_DECREF(old_path);
    Py_DECREF(new_path);
    if (result != 0) {
        errno = error;
        return PyErr_SetFromErrnoWithFilenameObjects(PyExc_OSError, args[0], args[1]);
    }
    Py_RETURN_NONE;
}

static PyObject *
exchange(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    (void)module;
    return rename2(args, nargs, RENAME_EXCHANGE);
}

static PyObject *
rename_noreplace(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    (void)module;
    return rename2(args, nargs, RENAME_NOREPLACE);
}

static PyMethodDef exchange_methods[] = {
    {"exchange", (PyCFunction)(void (*)(void))exchange, METH_FASTCALL,
     "exchange(a, b)\n--\n\nSwaps the names a and b atomically (renameat2 RENAME_EXCHANGE)."},
    {"rename_noreplace", (PyCFunction)(void (*)(void))rename_noreplace, METH_FASTCALL,
     "rename_noreplace(src, dst)\n--\n\n"
     "Renames src to dst unless dst exists (renameat2 RENAME_NOREPLACE; FileExistsError)."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef exchange_module = {
    PyModuleDef_HEAD_INIT,
    "jsonpersist._exchange",
    "Atomic renames that keep a replaced file in hand (Linux renameat2).",
    0,
    exchange_methods,
    NULL,
    NULL,
    NULL,
    NULL,
};

PyMODINIT_FUNC
PyInit__exchange(void)
{
    return PyModuleDef_Init(&exchange_module);
}
