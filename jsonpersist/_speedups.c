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

/* ---------------------------------------------------------------------------------------
 * same(a, b): whether two values certainly encode to the same JSON (the bot data's check of
 * which members changed since the last save, against a copy decoded from the file).
 *
 * Stricter than ==, which takes 1 for 1.0 and True, 0.0 for -0.0, a set for a frozenset:
 * types must be exactly equal, floats bit for bit, dict keys and set items of exact str or
 * int only. The keys and items of b are taken to be exact str or int already (a copy that
 * simple_keys() accepted): then a key of a found in b is of the same type. Anything else (a datetime, a Telegram object, a registered class) answers "not
 * known to be the same", and the caller encodes it to find out: 0 is always safe.
 *
 * Only exact built-in types are compared, so no Python code runs (their hashing and equality
 * are C), and nothing can change the containers during the walk; the GIL is held.
 * Answers 1 (same), 0 (not known to be the same) or -1 (a C API call failed).
 */

static int same_value(PyObject *a, PyObject *b, int depth);

/* A key or set item whose equality implies equal JSON: an exact str or a non-bool int. */
static int
simple_key(PyObject *key)
{
    return PyUnicode_CheckExact(key) || PyLong_CheckExact(key);
}

static int
same_dict(PyObject *a, PyObject *b, int depth)
{
    if (PyDict_GET_SIZE(a) != PyDict_GET_SIZE(b)) {
        return 0;
    }
    /* The copies keep the order and the very key objects of the application's dicts (and
     * PTB's deep copies share them), so walking both side by side usually finds the key in
     * b at once; a lookup is the fallback. */
    Py_ssize_t pos = 0, other_pos = 0;
    PyObject *key, *value, *other_key, *other;
    int in_step = 1;
    while (PyDict_Next(a, &pos, &key, &value)) {
        if (!simple_key(key)) {
            return 0;
        }
        if (!(in_step && PyDict_Next(b, &other_pos, &other_key, &other) && other_key == key)) {
            in_step = 0;
            other = PyDict_GetItemWithError(b, key);
            if (other == NULL) {
                return PyErr_Occurred() ? -1 : 0;
            }
        }
        int same = same_value(value, other, depth + 1);
        if (same != 1) {
            return same;
        }
    }
    return 1;
}

/* Whether every item of a set is a simple key and found in other (NULL: the check only). */
static int
simple_items_in(PyObject *set, PyObject *other)
{
    PyObject *iterator = PyObject_GetIter(set);
    if (iterator == NULL) {
        return -1;
    }
    int answer = 1;
    PyObject *item;
    while (answer == 1 && (item = PyIter_Next(iterator)) != NULL) {
        answer = !simple_key(item) ? 0 : other == NULL ? 1 : PySet_Contains(other, item);
        Py_DECREF(item);
    }
    Py_DECREF(iterator);
    return PyErr_Occurred() ? -1 : answer;
}

static int
same_set(PyObject *a, PyObject *b)
{
    if (PySet_GET_SIZE(a) != PySet_GET_SIZE(b)) {
        return 0;
    }
    return simple_items_in(a, b);
}

static int
same_sequence(PyObject *a, PyObject *b, int depth)
{
    Py_ssize_t size = PySequence_Fast_GET_SIZE(a);
    if (size != PySequence_Fast_GET_SIZE(b)) {
        return 0;
    }
    PyObject **left = PySequence_Fast_ITEMS(a), **right = PySequence_Fast_ITEMS(b);
    for (Py_ssize_t index = 0; index < size; index++) {
        int same = same_value(left[index], right[index], depth + 1);
        if (same != 1) {
            return same;
        }
    }
    return 1;
}

static int
same_value(PyObject *a, PyObject *b, int depth)
{
    PyTypeObject *kind = Py_TYPE(a);
    if (kind != Py_TYPE(b)) {
        return 0;
    }
    /* The same immutable object (the copies share strings and numbers): the same. */
    if (a == b && (kind == &PyUnicode_Type || kind == &PyLong_Type || kind == &PyFloat_Type ||
                   kind == &PyBool_Type || a == Py_None)) {
        return 1;
    }
    if (a == Py_None || kind == &PyBool_Type) {
        return a == b;
    }
    if (kind == &PyUnicode_Type || kind == &PyLong_Type) {
        return PyObject_RichCompareBool(a, b, Py_EQ);
    }
    if (kind == &PyFloat_Type) {
        double left = PyFloat_AS_DOUBLE(a), right = PyFloat_AS_DOUBLE(b);
        return memcmp(&left, &right, sizeof(double)) == 0;
    }
    if (depth > 256) {
        return 0;
    }
    if (kind == &PyDict_Type) {
        return same_dict(a, b, depth);
    }
    if (kind == &PyList_Type || kind == &PyTuple_Type) {
        return same_sequence(a, b, depth);
    }
    if (kind == &PySet_Type || kind == &PyFrozenSet_Type) {
        return same_set(a, b);
    }
    return 0;
}

PyDoc_STRVAR(changed_members_doc,
"changed_members(values, copies, position, count, /)\n--\n\n"
"The keys of up to count members of the dict values, from position on, that are not\n"
"certainly the same as their copy in the dict copies (missing there, or different); and\n"
"the position to go on from, or -1 at the end.");

static PyObject *
changed_members(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 4) {
        PyErr_Format(PyExc_TypeError, "changed_members() takes 4 arguments (%zd given)", nargs);
        return NULL;
    }
    PyObject *values = args[0], *copies = args[1];
    if (!PyDict_CheckExact(values) || !PyDict_CheckExact(copies)) {
        PyErr_SetString(PyExc_TypeError, "changed_members() compares two dicts");
        return NULL;
    }
    Py_ssize_t pos = PyLong_AsSsize_t(args[2]), count = PyLong_AsSsize_t(args[3]);
    if ((pos == -1 || count == -1) && PyErr_Occurred()) {
        return NULL;
    }
    if (pos < 0 || count < 1) {
        PyErr_SetString(PyExc_ValueError, "position must be >= 0 and count >= 1");
        return NULL;
    }
    PyObject *changed = PyList_New(0);
    if (changed == NULL) {
        return NULL;
    }
    PyObject *key, *value;
    Py_ssize_t seen = 0;
    int more = 0;
    while (PyDict_Next(values, &pos, &key, &value)) {
        int same = 0;
        if (simple_key(key)) {
            PyObject *copy = PyDict_GetItemWithError(copies, key);
            if (copy != NULL) {
                same = same_value(value, copy, 0);
            }
            else if (PyErr_Occurred()) {
                same = -1;
            }
        }
        if (same < 0 || (same == 0 && PyList_Append(changed, key) < 0)) {
            Py_DECREF(changed);
            return NULL;
        }
        if (++seen == count) {
            more = 1;
            break;
        }
    }
    return Py_BuildValue("(Nn)", changed, more ? pos : (Py_ssize_t)-1);
}

/* clone(value): a copy of the dicts, lists, tuples and sets in a value, sharing everything
 * else (strings, numbers and any other object). The bot data's copies are made so at load:
 * sharing the strings with the application's data (and with the deep copies PTB makes of it
 * each round) makes comparing them cheap, while no container of the application's is shared,
 * so a change made in place is always seen. Runs no Python code (exact types only). */
static PyObject *
clone_value(PyObject *value, int depth)
{
    PyTypeObject *kind = Py_TYPE(value);
    if (depth > 256) {
        PyErr_SetString(PyExc_RecursionError, "clone(): nested too deeply");
        return NULL;
    }
    if (kind == &PyDict_Type) {
        PyObject *out = PyDict_New();
        if (out == NULL) {
            return NULL;
        }
        Py_ssize_t pos = 0;
        PyObject *key, *item;
        while (PyDict_Next(value, &pos, &key, &item)) {
            PyObject *copy = clone_value(item, depth + 1);
            if (copy == NULL || PyDict_SetItem(out, key, copy) < 0) {
                Py_XDECREF(copy);
                Py_DECREF(out);
                return NULL;
            }
            Py_DECREF(copy);
        }
        return out;
    }
    if (kind == &PyList_Type || kind == &PyTuple_Type) {
        Py_ssize_t size = PySequence_Fast_GET_SIZE(value);
        PyObject *out = kind == &PyList_Type ? PyList_New(size) : PyTuple_New(size);
        if (out == NULL) {
            return NULL;
        }
        PyObject **items = PySequence_Fast_ITEMS(value);
        for (Py_ssize_t index = 0; index < size; index++) {
            PyObject *copy = clone_value(items[index], depth + 1);
            if (copy == NULL) {
                Py_DECREF(out);
                return NULL;
            }
            if (kind == &PyList_Type) {
                PyList_SET_ITEM(out, index, copy);
            }
            else {
                PyTuple_SET_ITEM(out, index, copy);
            }
        }
        return out;
    }
    if (kind == &PySet_Type || kind == &PyFrozenSet_Type) {
        /* Items of a set are hashable, so immutable as far as equality goes: shared. */
        return kind == &PySet_Type ? PySet_New(value) : PyFrozenSet_New(value);
    }
    Py_INCREF(value);
    return value;
}

PyDoc_STRVAR(clone_doc,
"clone(value, /)\n--\n\n"
"A copy of the dicts, lists, tuples and sets in value; everything else is shared.");

static PyObject *
clone_containers(PyObject *module, PyObject *value)
{
    return clone_value(value, 0);
}

/* simple_keys(value): whether every dict key and set item in value is an exact str or int,
 * the copies same() can be asked about. */
static int
simple_keys_in(PyObject *value, int depth)
{
    PyTypeObject *kind = Py_TYPE(value);
    if (depth > 256) {
        return 0;
    }
    if (kind == &PyDict_Type) {
        Py_ssize_t pos = 0;
        PyObject *key, *item;
        while (PyDict_Next(value, &pos, &key, &item)) {
            if (!simple_key(key) || !simple_keys_in(item, depth + 1)) {
                return 0;
            }
        }
        return 1;
    }
    if (kind == &PyList_Type || kind == &PyTuple_Type) {
        Py_ssize_t size = PySequence_Fast_GET_SIZE(value);
        PyObject **items = PySequence_Fast_ITEMS(value);
        for (Py_ssize_t index = 0; index < size; index++) {
            if (!simple_keys_in(items[index], depth + 1)) {
                return 0;
            }
        }
        return 1;
    }
    if (kind == &PySet_Type || kind == &PyFrozenSet_Type) {
        int simple = simple_items_in(value, NULL);
        return simple == 1;
    }
    return 1;
}

PyDoc_STRVAR(simple_keys_doc,
"simple_keys(value, /)\n--\n\n"
"Whether every dict key and set item in value is an exact str or int.");

static PyObject *
simple_keys(PyObject *module, PyObject *value)
{
    int simple = simple_keys_in(value, 0);
    if (PyErr_Occurred()) {
        return NULL;
    }
    return PyBool_FromLong(simple);
}

/* share_strings(value, cache): makes equal short strings in the dicts and lists of a freshly
 * parsed file one object each (the first seen, kept in cache). A file of 100,000 users holds
 * "en" 100,000 times; pickle keeps the one object a bot shared, orjson makes one per use.
 * Sharing them keeps memory close to the data and makes comparing them (the bot data's
 * rounds) a pointer check. Only exact dicts and lists are changed, in place, values only. */
#define SHARED_MAX_LENGTH 64

static int
share_in(PyObject *value, PyObject *cache, int depth)
{
    PyTypeObject *kind = Py_TYPE(value);
    if (depth > 256) {
        return 0;
    }
    if (kind == &PyDict_Type) {
        Py_ssize_t pos = 0;
        PyObject *key, *item;
        while (PyDict_Next(value, &pos, &key, &item)) {
            if (PyUnicode_CheckExact(item)) {
                if (PyUnicode_GET_LENGTH(item) > SHARED_MAX_LENGTH) {
                    continue;
                }
                PyObject *shared = PyDict_SetDefault(cache, item, item);
                if (shared == NULL) {
                    return -1;
                }
                if (shared != item && PyDict_SetItem(value, key, shared) < 0) {
                    return -1;  /* an existing key: the dict does not resize */
                }
            }
            else if (share_in(item, cache, depth + 1) < 0) {
                return -1;
            }
        }
        return 0;
    }
    if (kind == &PyList_Type) {
        for (Py_ssize_t index = 0; index < PyList_GET_SIZE(value); index++) {
            PyObject *item = PyList_GET_ITEM(value, index);
            if (PyUnicode_CheckExact(item)) {
                if (PyUnicode_GET_LENGTH(item) > SHARED_MAX_LENGTH) {
                    continue;
                }
                PyObject *shared = PyDict_SetDefault(cache, item, item);
                if (shared == NULL) {
                    return -1;
                }
                if (shared != item) {
                    Py_INCREF(shared);
                    PyList_SET_ITEM(value, index, shared);
                    Py_DECREF(item);
                }
            }
            else if (share_in(item, cache, depth + 1) < 0) {
                return -1;
            }
        }
    }
    return 0;
}

PyDoc_STRVAR(share_strings_doc,
"share_strings(value, cache, /)\n--\n\n"
"Makes equal short strings in the dicts and lists of value one object each, in place.");

static PyObject *
share_strings(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 2 || !PyDict_CheckExact(args[1])) {
        PyErr_SetString(PyExc_TypeError, "share_strings() takes a value and a dict");
        return NULL;
    }
    if (share_in(args[0], args[1], 0) < 0) {
        return NULL;
    }
    Py_RETURN_NONE;
}

PyDoc_STRVAR(split_lines_doc,
"split_lines(whole, raw, start, /)\n--\n\n"
"The entry lines of raw from start on, if they are the elements of whole one a line.\n\n"
"whole is orjson's bytes of the entries as one array. The lines are \",\" + element + \"\\n\"\n"
"each, and \"]\\n\" ends raw; if raw is anything else, None.");

/* Where the element of the array `whole` that starts at `begin` ends: the index of the comma
 * after it, or of the array's closing bracket. orjson's output has no whitespace, and inside a
 * string a backslash escapes the next byte, so brackets and commas in strings are skipped. */
static Py_ssize_t
element_end(const char *whole, Py_ssize_t begin, Py_ssize_t last)
{
    Py_ssize_t depth = 0;
    int in_string = 0;
    for (Py_ssize_t i = begin; i < last; i++) {
        char c = whole[i];
        if (in_string) {
            if (c == '\\') {
                i++;
            }
            else if (c == '"') {
                in_string = 0;
            }
        }
        else if (c == '"') {
            in_string = 1;
        }
        else if (c == '[' || c == '{') {
            depth++;
        }
        else if (c == ']' || c == '}') {
            depth--;
        }
        else if (c == ',' && depth == 0) {
            return i;
        }
    }
    return last;
}

static PyObject *
split_lines(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 3 || !PyBytes_CheckExact(args[0]) || !PyBytes_CheckExact(args[1])) {
        PyErr_SetString(PyExc_TypeError, "split_lines() takes two bytes and an int");
        return NULL;
    }
    Py_ssize_t start = PyLong_AsSsize_t(args[2]);
    if (start == -1 && PyErr_Occurred()) {
        return NULL;
    }
    const char *whole = PyBytes_AS_STRING(args[0]);
    Py_ssize_t size = PyBytes_GET_SIZE(args[0]);
    const char *raw = PyBytes_AS_STRING(args[1]);
    Py_ssize_t length = PyBytes_GET_SIZE(args[1]);
    if (size < 2 || whole[0] != '[' || whole[size - 1] != ']' || start < 0 || start > length) {
        Py_RETURN_NONE;
    }
    PyObject *lines = PyList_New(0);
    if (lines == NULL) {
        return NULL;
    }
    Py_ssize_t at = start;
    for (Py_ssize_t begin = 1; begin < size - 1;) {
        Py_ssize_t end = element_end(whole, begin, size - 1);
        Py_ssize_t element = end - begin;
        if (element == 0 || length - at < element + 2 || raw[at] != ','
            || raw[at + element + 1] != '\n'
            || memcmp(raw + at + 1, whole + begin, (size_t)element) != 0) {
            Py_DECREF(lines);
            Py_RETURN_NONE;
        }
        PyObject *line = PyBytes_FromStringAndSize(raw + at, element + 2);
        if (line == NULL || PyList_Append(lines, line) < 0) {
            Py_XDECREF(line);
            Py_DECREF(lines);
            return NULL;
        }
        Py_DECREF(line);
        at += element + 2;
        begin = end + 1;
    }
    if (length - at != 2 || raw[at] != ']' || raw[at + 1] != '\n') {
        Py_DECREF(lines);
        Py_RETURN_NONE;
    }
    return lines;
}

PyDoc_STRVAR(sorted_ids_doc,
"sorted_ids(entries, start, /)\n--\n\n"
"The ids of entries[start:] if each is [id, value] with an exact int id of 64 bits, the ids\n"
"strictly increasing; else None.");

static PyObject *
sorted_ids(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 2 || !PyList_CheckExact(args[0])) {
        PyErr_SetString(PyExc_TypeError, "sorted_ids() takes a list and an int");
        return NULL;
    }
    Py_ssize_t start = PyLong_AsSsize_t(args[1]);
    if (start == -1 && PyErr_Occurred()) {
        return NULL;
    }
    PyObject *entries = args[0];
    Py_ssize_t count = PyList_GET_SIZE(entries);
    if (start < 0 || start > count) {
        Py_RETURN_NONE;
    }
    PyObject *ids = PyList_New(count - start);
    if (ids == NULL) {
        return NULL;
    }
    long long previous = 0;
    for (Py_ssize_t index = start; index < count; index++) {
        PyObject *entry = PyList_GET_ITEM(entries, index);
        if (!PyList_CheckExact(entry) || PyList_GET_SIZE(entry) != 2) {
            goto none;
        }
        PyObject *id = PyList_GET_ITEM(entry, 0);
        if (!PyLong_CheckExact(id)) {
            goto none;
        }
        int overflow = 0;
        long long value = PyLong_AsLongLongAndOverflow(id, &overflow);
        if (overflow != 0) {
            goto none;
        }
        if (value == -1 && PyErr_Occurred()) {
            Py_DECREF(ids);
            return NULL;
        }
        if (index > start && value <= previous) {
            goto none;
        }
        previous = value;
        Py_INCREF(id);
        PyList_SET_ITEM(ids, index - start, id);
    }
    return ids;
none:
    Py_DECREF(ids);
    Py_RETURN_NONE;
}

static PyMethodDef speedups_methods[] = {
    {"is_plain", (PyCFunction)(void (*)(void))is_plain, METH_FASTCALL, is_plain_doc},
    {"changed_members", (PyCFunction)(void (*)(void))changed_members, METH_FASTCALL,
     changed_members_doc},
    {"clone", (PyCFunction)clone_containers, METH_O, clone_doc},
    {"simple_keys", (PyCFunction)simple_keys, METH_O, simple_keys_doc},
    {"share_strings", (PyCFunction)(void (*)(void))share_strings, METH_FASTCALL,
     share_strings_doc},
    {"split_lines", (PyCFunction)(void (*)(void))split_lines, METH_FASTCALL, split_lines_doc},
    {"sorted_ids", (PyCFunction)(void (*)(void))sorted_ids, METH_FASTCALL, sorted_ids_doc},
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
    .m_doc = "The codec's plain-JSON check and the bot data's change check in C; see jsonpersist/_speedups.c.",
    .m_size = 0,
    .m_methods = speedups_methods,
    .m_slots = speedups_slots,
};

PyMODINIT_FUNC
PyInit__speedups(void)
{
    return PyModuleDef_Init(&speedups_module);
}
