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

#if defined(__linux__) && defined(SYS_renameat2)
#include <sys/stat.h>

/* The identity of a file as jsonpersist's Signature: inode, size, mtime in ns. */
static int
same_file(const char *path, unsigned long long ino, long long size, long long mtime_ns)
{
    struct stat info;
    if (lstat(path, &info) != 0) {
        return 0;
    }
    long long stamp = (long long)info.st_mtim.tv_sec * 1000000000LL + info.st_mtim.tv_nsec;
    return (unsigned long long)info.st_ino == ino && (long long)info.st_size == size
           && stamp == mtime_ns;
}

static unsigned long long
inode_of(const char *path)
{
    struct stat info;
    return lstat(path, &info) == 0 ? (unsigned long long)info.st_ino : 0;
}
#endif

/* exchange_checked(new, target, ino, size, mtime_ns, ours) -> 0, 1 or 2
 *
 * Swaps `new` into `target`'s place and checks the file it replaced against the expected
 * signature. 0: it was the one expected (it is now at `new`, for the caller to delete).
 * Otherwise someone wrote `target` since the caller looked: the two are swapped back at once,
 * so that their file is displaced for microseconds only; 1: `new` holds the caller's file
 * again (inode `ours`); 2: a third file came back (someone replaced `target` again in those
 * microseconds) and is at `new`. All of it runs without the GIL, so that no other thread of
 * the process can stretch the window.
 */
static PyObject *
exchange_checked(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    (void)module;
    unsigned long long ino, ours;
    long long size, mtime_ns;
    if (nargs != 6) {
        PyErr_SetString(PyExc_TypeError, "expected new, target, ino, size, mtime_ns, ours");
        return NULL;
    }
    ino = PyLong_AsUnsignedLongLong(args[2]);
    size = PyLong_AsLongLong(args[3]);
    mtime_ns = PyLong_AsLongLong(args[4]);
    ours = PyLong_AsUnsignedLongLong(args[5]);
    if (PyErr_Occurred()) {
        return NULL;
    }
    PyObject *new_path = NULL, *target_path = NULL;
    if (!PyUnicode_FSConverter(args[0], &new_path)) {
        return NULL;
    }
    if (!PyUnicode_FSConverter(args[1], &target_path)) {
        Py_DECREF(new_path);
        return NULL;
    }
    int status = -1, error = ENOSYS;
#if defined(__linux__) && defined(SYS_renameat2)
    const char *fresh = PyBytes_AS_STRING(new_path);
    const char *target = PyBytes_AS_STRING(target_path);
    Py_BEGIN_ALLOW_THREADS
    if (syscall(SYS_renameat2, AT_FDCWD, fresh, AT_FDCWD, target, RENAME_EXCHANGE) != 0) {
        error = errno;
    }
    else if (same_file(fresh, ino, size, mtime_ns)) {
        status = 0;
    }
    else if (syscall(SYS_renameat2, AT_FDCWD, fresh, AT_FDCWD, target, RENAME_EXCHANGE) != 0) {
        error = errno;
    }
    else {
        status = inode_of(fresh) == ours ? 1 : 2;
    }
    Py_END_ALLOW_THREADS
#else
    (void)ino;
    (void)size;
    (void)mtime_ns;
    (void)ours;
#endif
    Py_DECREF(new_path);
    Py_DECREF(target_path);
    if (status < 0) {
        errno = error;
        return PyErr_SetFromErrnoWithFilenameObjects(PyExc_OSError, args[0], args[1]);
    }
    return PyLong_FromLong(status);
}

static PyMethodDef exchange_methods[] = {
    {"exchange_checked", (PyCFunction)(void (*)(void))exchange_checked, METH_FASTCALL,
     "exchange_checked(new, target, ino, size, mtime_ns, ours)\n--\n\n"
     "Swaps new into target's place; swaps back at once if the file replaced is not the one "
     "expected. Returns 0 (placed), 1 (swapped back) or 2 (swapped back, a third file came "
     "back)."},
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
