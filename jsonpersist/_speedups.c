/* The codec's hot check in C: is a value plain JSON that needs no tags?
 *
 * The same check as jsonpersist._codec._walk_plain, which is its reference and its stand-in
 * where this module was not built; the tests hold the two to the same answers. Only exact
 * types count: a dict whose keys are all str (none starting with "$"), a list, str, bool,
 * None, an int from -2**63 to 2**64-1 and a finite float. Containers nest at most max_depth
 * levels below the value.
 *
 * The walk reads the value and runs no Python code (no comparisons, no __hash__, no
 * allocation), so nothing can change the containers under it: the borrowed references stay
 * valid, and the GIL is held throughout. The recursion is bounded by max_depth.
 *
 * The checks below answer 1 (plain), 0 (not plain) or -1 (a C API call failed and left an
 * exception set). A failure stops the walk at once and is_plain raises it, rather than
 * answering for a value it could not read.
 */

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <math.h>

static int plain_container(PyObject *container, int depth, int max_depth);

/* An int in the range orjson writes and reads exactly: -2**63 to 2**64-1. */
static int
plain_int(PyObject *value)
{
    int overflow;
    if (PyLong_AsLongLongAndOverflow(value, &overflow) == -1 && PyErr_Occurred()) {
        return -1;
    }
    if (overflow == 0) {
        return 1;
    }
    if (overflow < 0) {
        return 0;
    }
    if (PyLong_AsUnsignedLongLong(value) == (unsigned long long)-1 && PyErr_Occurred()) {
        /* Above 2**64-1 is an answer (not plain); any other error is a failure. */
        if (!PyErr_ExceptionMatches(PyExc_OverflowError)) {
            return -1;
        }
        PyErr_Clear();
        return 0;
    }
    return 1;
}

/* An item of a container at `depth`: a plain scalar, or a plain container one level down. */
static int
plain_item(PyObject *item, int depth, int max_depth)
{
    PyTypeObject *type = Py_TYPE(item);
    if (type == &PyUnicode_Type || type == &PyBool_Type || item == Py_None) {
        return 1;
    }
    if (type == &PyLong_Type) {
        return plain_int(item);
    }
    if (type == &PyFloat_Type) {
        return isfinite(PyFloat_AS_DOUBLE(item)) ? 1 : 0;
    }
    if (type == &PyDict_Type || type == &PyList_Type) {
        return plain_container(item, depth + 1, max_depth);
    }
    return 0;
}

static int
plain_key(PyObject *key)
{
    if (!PyUnicode_CheckExact(key)) {
        return 0;
    }
    /* The functions, not the macros: Python 3.10 and 3.11 may hold a str not yet "ready",
     * and making it ready can fail (out of memory). */
    Py_ssize_t length = PyUnicode_GetLength(key);
    if (length < 0) {
        return -1;
    }
    if (length == 0) {
        return 1;
    }
    Py_UCS4 first = PyUnicode_ReadChar(key, 0);
    if (first == (Py_UCS4)-1 && PyErr_Occurred()) {
        return -1;
    }
    return first != '$';
}

static int
plain_container(PyObject *container, int depth, int max_depth)
{
    if (depth > max_depth) {
        return 0;
    }
    if (Py_TYPE(container) == &PyDict_Type) {
        Py_ssize_t position = 0;
        PyObject *key, *item;
        while (PyDict_Next(container, &position, &key, &item)) {
            int plain = plain_key(key);
            if (plain == 1) {
                plain = plain_item(item, depth, max_depth);
            }
            if (plain != 1) {
                return plain;
            }
        }
        return 1;
    }
    for (Py_ssize_t index = 0; index < PyList_GET_SIZE(container); index++) {
        int plain = plain_item(PyList_GET_ITEM(container, index), depth, max_depth);
        if (plain != 1) {
            return plain;
        }
    }
    return 1;
}

PyDoc_STRVAR(is_plain_doc,
"is_plain(value, max_depth, /)\n--\n\n"
"Whether value is plain JSON that the codec writes as it is, with containers nested at\n"
"most max_depth levels below it.");

static PyObject *
is_plain(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 2) {
        PyErr_Format(PyExc_TypeError, "is_plain() takes 2 arguments (%zd given)", nargs);
        return NULL;
    }
    long max_depth = PyLong_AsLong(args[1]);
    if (max_depth == -1 && PyErr_Occurred()) {
        return NULL;
    }
    if (max_depth < 0 || max_depth > 1000) {
        PyErr_SetString(PyExc_ValueError, "max_depth must be from 0 to 1000");
        return NULL;
    }
    /* The value itself sits one level above its items: a container is at depth 0. */
    int plain = plain_item(args[0], -1, (int)max_depth);
    if (plain < 0) {
        return NULL;
    }
    return PyBool_FromLong(plain);
}

static PyMethodDef speedups_methods[] = {
    {"is_plain", (PyCFunction)(void (*)(void))is_plain, METH_FASTCALL, is_plain_doc},
    {NULL, NULL, 0, NULL},
};

/* No Py_mod_gil slot: the walk relies on the GIL (see the top), so a free-threaded build
 * turns the GIL back on when this module is imported. */
static PyModuleDef_Slot speedups_slots[] = {
#ifdef Py_mod_multiple_interpreters
    {Py_mod_multiple_interpreters, Py_MOD_PER_INTERPRETER_GIL_SUPPORTED},
#endif
    {0, NULL},
};

static struct PyModuleDef speedups_module = {
    PyModuleDef_HEAD_INIT,
    .m_name = "jsonpersist._speedups",
    .m_doc = "The codec's plain-JSON check in C; see jsonpersist/_speedups.c.",
    .m_size = 0,
    .m_methods = speedups_methods,
    .m_slots = speedups_slots,
};

PyMODINIT_FUNC
PyInit__speedups(void)
{
    return PyModuleDef_Init(&speedups_module);
}
