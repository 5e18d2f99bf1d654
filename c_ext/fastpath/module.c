/* module.c: the extension accel._fastpath, and the state the Python layers set (fastpath.h
 * says what each file holds; accel/_fast.py is the only Python module that writes it, the
 * simd backend's memory aside, which makes its BlockPool here).
 */
#define ACCEL_FASTPATH_MODULE
#include "fastpath.h"

#include <string.h>
#include <time.h>

Routes fp_routes[MAX_SELECTIONS][MAX_SLOTS][2];
int fp_outer = -1;
int fp_selections;
int fp_strict[BACKENDS_N];
PyObject *fp_context_get;
PyObject *fp_named;

PyObject *fp_cpu;
elementwise_fn fp_elementwise[2];
linear_fn fp_linear[2];
dot_fn fp_dot[2];
softmax_fn fp_softmax[2];
map_fn fp_map[2];
norm_fn fp_norm[2];
PyObject *fp_view_type;

PyObject *fp_simd;
accel_wasm_api fp_wasm;
PyObject *fp_binder;
static PyObject *band_binder;
static Bands bands;
long fp_wasm_gen = 1;

PyObject *fp_array_type;
static PyObject *slot_names[ARRAY_SLOTS];
Py_ssize_t fp_slot_offsets[ARRAY_SLOTS] = {-1, -1, -1, -1};
PyArray_Descr *fp_descr[2];

static long long calls[BACKENDS_N][MAX_SLOTS][2];
static double lat[BACKENDS_N][MAX_SLOTS][2][RING];
static unsigned lat_n[BACKENDS_N][MAX_SLOTS][2];
unsigned fp_tick;
long long fp_moved_calls, fp_moved_up, fp_moved_down;

double fp_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

void fp_book(int on, int slot, int dt, double t0)
{
    calls[on][slot][dt]++;
    if (t0 > 0) {
        lat[on][slot][dt][lat_n[on][slot][dt] % RING] = fp_now() - t0;
        lat_n[on][slot][dt]++;
    }
}

/* -- the simd binding of this thread ----------------------------------------------------- */

static _Thread_local WasmThread wasm_tls;

/* The func addresses of WasmEntries.EXPORTS, from a binder's tuple of them: 1, or 0 (an
 * error set) */
static int read_funcs(PyObject *funcs, const void **func)
{
    for (int i = 0; i < EXPORTS; i++) {
        func[i] = (const void *)(uintptr_t)PyLong_AsUnsignedLongLong(PyTuple_GetItem(funcs, i));
        if (PyErr_Occurred())
            return 0;
    }
    return 1;
}

/* This thread's binding to its simd instance, made on first use and again after every reset;
 * NULL when there is none. The binder (Python) may release the GIL, and another thread may
 * reset meanwhile: a binding is kept only if no reset came between asking and answering. */
WasmThread *fp_wasm_thread(void)
{
    WasmThread *t = &wasm_tls;
    if (t->gen == fp_wasm_gen)
        return t;
    if (!fp_binder || !fp_wasm.call)
        return NULL;
    long gen = fp_wasm_gen;
    PyObject *r = PyObject_CallNoArgs(fp_binder);
    if (!r || r == Py_None || gen != fp_wasm_gen) {
        Py_XDECREF(r);
        PyErr_Clear();
        return NULL;
    }
    unsigned long long ctx, base, off, bytes;
    PyObject *funcs;
    int ok = PyArg_ParseTuple(r, "KO!KKK", &ctx, &PyTuple_Type, &funcs, &base, &off, &bytes) &&
             PyTuple_Size(funcs) == EXPORTS;
    WasmThread fresh = {gen, (void *)(uintptr_t)ctx, {0}, (char *)(uintptr_t)base,
                        (uint32_t)off, (size_t)bytes};
    ok = ok && read_funcs(funcs, fresh.func);
    Py_DECREF(r);
    if (!ok || gen != fp_wasm_gen) {
        PyErr_Clear();
        return NULL;
    }
    *t = fresh;
    return t;
}

/* The band binding, made on first use and again after every reset; NULL when there is none
 * (remembered until the next reset: one thread, or no native pool). As for a thread's
 * binding, one is kept only if no reset came while the binder ran. */
Bands *fp_wasm_bands(void)
{
    if (bands.gen == fp_wasm_gen)
        return bands.n > 0 ? &bands : NULL;
    if (!band_binder || !fp_wasm.call)
        return NULL;
    long gen = fp_wasm_gen;
    PyObject *r = PyObject_CallNoArgs(band_binder);
    if (!r || gen != fp_wasm_gen) {
        Py_XDECREF(r);
        PyErr_Clear();
        return NULL;
    }
    Bands fresh;
    memset(&fresh, 0, sizeof fresh);
    fresh.gen = gen;
    PyObject *lock, *records, *holder;
    unsigned long long run;
    if (r != Py_None && PyArg_ParseTuple(r, "OKO!O", &lock, &run, &PyTuple_Type, &records,
                                         &holder) &&
        run && PyTuple_Size(records) <= MAX_BANDS) {
        int n = (int)PyTuple_Size(records), ok = 1;
        for (int i = 0; ok && i < n; i++) {
            unsigned long long ctx, off, bytes;
            PyObject *funcs;
            ok = PyArg_ParseTuple(PyTuple_GetItem(records, i), "KO!KK", &ctx, &PyTuple_Type,
                                  &funcs, &off, &bytes) &&
                 PyTuple_Size(funcs) == EXPORTS && read_funcs(funcs, fresh.inst[i].func);
            fresh.inst[i].ctx = (void *)(uintptr_t)ctx;
            fresh.inst[i].scratch = (int64_t)off;
            fresh.inst[i].bytes = (int64_t)bytes;
        }
        if (ok) {
            fresh.n = n;
            fresh.run = (wasm_bands_fn)(uintptr_t)run;
            fresh.lock = lock;
        }
    }
    PyErr_Clear();
    if (fresh.n > 0) {
        fresh.binding = r;
        Py_INCREF(fresh.lock);
    } else {
        Py_DECREF(r);
    }
    /* the new binding first, then the old one let go: freeing its instances runs Python,
     * where another thread may look at the binding */
    Bands old = bands;
    bands = fresh;
    Py_XDECREF(old.binding);
    Py_XDECREF(old.lock);
    return bands.n > 0 && bands.gen == fp_wasm_gen ? &bands : NULL;
}

/* -- what the Python layers set ----------------------------------------------------------- */

/* configure_selection(context variable, outer selection index, selections, slots, (the
 * strict selections of cpu and simd)) */
static PyObject *configure_selection(PyObject *module, PyObject *args)
{
    (void)module;
    PyObject *var;
    int outer, selections, slots;
    if (!PyArg_ParseTuple(args, "Oiii(ii)", &var, &outer, &selections, &slots, &fp_strict[ON_CPU],
                          &fp_strict[ON_SIMD]))
        return NULL;
    if (selections > MAX_SELECTIONS || slots > MAX_SLOTS) {
        PyErr_SetString(PyExc_ValueError, "more selections or ops than the fast path holds");
        return NULL;
    }
    PyObject *get = PyObject_GetAttrString(var, "get");
    if (!get)
        return NULL;
    FP_SET(fp_context_get, get);
    fp_outer = outer;
    fp_selections = selections;
    Py_RETURN_NONE;
}

/* name_selection(text, index): a backend= text that names a selection */
static PyObject *name_selection(PyObject *module, PyObject *args)
{
    (void)module;
    PyObject *text;
    int index;
    if (!PyArg_ParseTuple(args, "Ui", &text, &index))
        return NULL;
    if (index < 0 || index >= fp_selections) {
        PyErr_SetString(PyExc_ValueError, "selection index out of range");
        return NULL;
    }
    if (PyDict_Size(fp_named) > 256)
        PyDict_Clear(fp_named); /* as accel/_fast.py's own record of them */
    PyObject *i = PyLong_FromLong(index);
    int rc = i ? PyDict_SetItem(fp_named, text, i) : -1;
    Py_XDECREF(i);
    if (rc < 0)
        return NULL;
    Py_RETURN_NONE;
}

/* allow(selection, slot, dtype, backend, lower, upper): calls of work in [lower, upper) run on
 * the backend */
static PyObject *allow(PyObject *module, PyObject *args)
{
    (void)module;
    int sel, slot, dt, on;
    double lo, hi;
    if (!PyArg_ParseTuple(args, "iiiidd", &sel, &slot, &dt, &on, &lo, &hi))
        return NULL;
    if (sel < 0 || sel >= fp_selections || slot < 0 || slot >= MAX_SLOTS || dt < 0 || dt > 1 ||
        on < 0 || on >= BACKENDS_N) {
        PyErr_SetString(PyExc_ValueError, "selection, slot, dtype or backend out of range");
        return NULL;
    }
    Routes *r = &fp_routes[sel][slot][dt];
    for (int i = 0; i < r->n; i++)
        if (r->lo[i] == lo && r->hi[i] == hi) {
            r->on[i] = (signed char)on;
            Py_RETURN_NONE;
        }
    if (r->n < SEGMENTS) {
        r->lo[r->n] = lo;
        r->hi[r->n] = hi;
        r->on[r->n] = (signed char)on;
        r->n++;
    }
    Py_RETURN_NONE;
}

/* reset(outer selection index): no route is known until allowed again; every thread's simd
 * binding is made again */
static PyObject *reset(PyObject *module, PyObject *arg)
{
    (void)module;
    long outer = PyLong_AsLong(arg);
    if (outer == -1 && PyErr_Occurred())
        return NULL;
    memset(fp_routes, 0, sizeof fp_routes);
    fp_host_cache_clear();
    fp_outer = (int)outer;
    fp_wasm_gen++;
    Py_RETURN_NONE;
}

/* configure_cpu(backend, (addresses of accel_<kind>_<f32|f64>: elementwise, linear, dot,
 * softmax, map)) */
static PyObject *configure_cpu(PyObject *module, PyObject *args)
{
    (void)module;
    PyObject *backend;
    unsigned long long a[12];
    if (!PyArg_ParseTuple(args, "O(KKKKKKKKKKKK)", &backend, &a[0], &a[1], &a[2], &a[3], &a[4],
                          &a[5], &a[6], &a[7], &a[8], &a[9], &a[10], &a[11]))
        return NULL;
    for (int i = 0; i < 12; i++)
        if (!a[i]) {
            PyErr_SetString(PyExc_ValueError, "a null entry point");
            return NULL;
        }
    for (int dt = 0; dt < 2; dt++) {
        fp_elementwise[dt] = (elementwise_fn)(uintptr_t)a[dt];
        fp_linear[dt] = (linear_fn)(uintptr_t)a[2 + dt];
        fp_dot[dt] = (dot_fn)(uintptr_t)a[4 + dt];
        fp_softmax[dt] = (softmax_fn)(uintptr_t)a[6 + dt];
        fp_map[dt] = (map_fn)(uintptr_t)a[8 + dt];
        fp_norm[dt] = (norm_fn)(uintptr_t)a[10 + dt];
    }
    Py_INCREF(backend);
    FP_SET(fp_cpu, backend);
    Py_RETURN_NONE;
}

/* configure_wasm(backend, wasmtime_func_call_unchecked, wasmtime_error_delete,
 * wasm_trap_delete, sizeof(wasmtime_val_raw_t), binder, band_binder) */
static PyObject *configure_wasm(PyObject *module, PyObject *args)
{
    (void)module;
    PyObject *backend, *binder, *bander;
    unsigned long long call, error_delete, trap_delete, size;
    if (!PyArg_ParseTuple(args, "OKKKKOO", &backend, &call, &error_delete, &trap_delete, &size,
                          &binder, &bander))
        return NULL;
    if (size < 8 || size > 32 || !call || !error_delete || !trap_delete) {
        PyErr_SetString(PyExc_ValueError, "not a wasmtime C API this path knows");
        return NULL;
    }
    fp_wasm.call = (accel_wasm_call_fn)(uintptr_t)call;
    fp_wasm.error_delete = (accel_wasm_delete_fn)(uintptr_t)error_delete;
    fp_wasm.trap_delete = (accel_wasm_delete_fn)(uintptr_t)trap_delete;
    fp_wasm.raw_size = (size_t)size;
    Py_INCREF(backend);
    FP_SET(fp_simd, backend);
    Py_INCREF(binder);
    FP_SET(fp_binder, binder);
    Py_INCREF(bander);
    FP_SET(band_binder, bander);
    fp_wasm_gen++;
    Py_RETURN_NONE;
}

PyObject *fp_array_getattr(PyObject *array, int slot)
{
    return PyObject_GetAttr(array, slot_names[slot]);
}

int fp_array_setattr(PyObject *array, int slot, PyObject *value)
{
    return PyObject_SetAttr(array, slot_names[slot], value);
}

/* Where each slot of the Array type lies in its objects: a fresh one gets a distinct object
 * in each slot, and its words are searched for them. Every slot found exactly once, or none
 * is used (attribute access then). */
static void find_slot_offsets(PyObject *type)
{
    for (int i = 0; i < ARRAY_SLOTS; i++)
        fp_slot_offsets[i] = -1;
    PyObject *size = PyObject_GetAttrString(type, "__basicsize__");
    Py_ssize_t basicsize = size ? PyLong_AsSsize_t(size) : -1;
    Py_XDECREF(size);
    allocfunc alloc = (allocfunc)PyType_GetSlot((PyTypeObject *)type, Py_tp_alloc);
    PyObject *probe = basicsize > 0 && alloc ? alloc((PyTypeObject *)type, 0) : NULL;
    PyObject *marks[ARRAY_SLOTS] = {NULL};
    Py_ssize_t found[ARRAY_SLOTS];
    int ok = probe != NULL;
    for (int i = 0; ok && i < ARRAY_SLOTS; i++) {
        marks[i] = PyList_New(0); /* any object of its own */
        ok = marks[i] && PyObject_SetAttr(probe, slot_names[i], marks[i]) == 0;
        found[i] = -1;
    }
    for (Py_ssize_t off = (Py_ssize_t)sizeof(PyObject); ok && off + (Py_ssize_t)sizeof(void *) <=
                                                           basicsize;
         off += (Py_ssize_t)sizeof(void *)) {
        PyObject *word = *(PyObject **)((char *)probe + off);
        for (int i = 0; i < ARRAY_SLOTS; i++)
            if (word == marks[i])
                ok = found[i] < 0 ? (found[i] = off, 1) : 0;
    }
    for (int i = 0; ok && i < ARRAY_SLOTS; i++)
        ok = found[i] >= 0;
    if (ok)
        for (int i = 0; i < ARRAY_SLOTS; i++)
            fp_slot_offsets[i] = found[i];
    Py_XDECREF(probe);
    for (int i = 0; i < ARRAY_SLOTS; i++)
        Py_XDECREF(marks[i]);
    PyErr_Clear();
}

/* configure_arrays(accel.Array, wrap[, View]): the Array type (its maker is not needed:
 * Arrays are made here slot by slot), and the type of a view's buffer */
static PyObject *configure_arrays(PyObject *module, PyObject *args)
{
    (void)module;
    PyObject *type, *maker, *view = NULL;
    if (!PyArg_ParseTuple(args, "O!O|O!", &PyType_Type, &type, &maker, &PyType_Type, &view))
        return NULL;
    Py_INCREF(type);
    FP_SET(fp_array_type, type);
    Py_XINCREF(view);
    FP_SET(fp_view_type, view);
    find_slot_offsets(type);
    Py_RETURN_NONE;
}

/* slot_offsets() -> the offsets found (-1: attribute access), for the tests */
static PyObject *array_slot_offsets(PyObject *module, PyObject *noargs)
{
    (void)module;
    (void)noargs;
    return Py_BuildValue("(nnnn)", fp_slot_offsets[0], fp_slot_offsets[1], fp_slot_offsets[2],
                         fp_slot_offsets[3]);
}

/* take_stats() -> ([(backend, slot, calls, [seconds...])], (simd calls that copied numpy
 * data, bytes in, bytes out)), and zeroes them */
static PyObject *take_stats(PyObject *module, PyObject *noargs)
{
    (void)module;
    (void)noargs;
    PyObject *out = PyList_New(0);
    if (!out)
        return NULL;
    for (int on = 0; on < BACKENDS_N; on++)
        for (int s = 0; s < MAX_SLOTS; s++)
            for (int d = 0; d < 2; d++) {
                if (!calls[on][s][d])
                    continue;
                unsigned count = lat_n[on][s][d] < RING ? lat_n[on][s][d] : RING;
                PyObject *times = PyList_New(count);
                for (unsigned i = 0; times && i < count; i++)
                    PyList_SetItem(times, i, PyFloat_FromDouble(lat[on][s][d][i]));
                PyObject *rec =
                    times ? Py_BuildValue("(iiLN)", on, s, calls[on][s][d], times) : NULL;
                if (!rec || PyList_Append(out, rec) != 0) {
                    Py_XDECREF(rec);
                    Py_DECREF(out);
                    return NULL;
                }
                Py_DECREF(rec);
                calls[on][s][d] = 0;
                lat_n[on][s][d] = 0;
            }
    PyObject *r = Py_BuildValue("(N(LLL))", out, fp_moved_calls, fp_moved_up, fp_moved_down);
    fp_moved_calls = fp_moved_up = fp_moved_down = 0;
    return r;
}

static PyObject *closing(PyObject *module, PyObject *noargs)
{
    (void)module;
    (void)noargs;
    fp_blocks_closing();
    Py_RETURN_NONE;
}

static PyMethodDef methods[] = {
    {"make", fp_make, METH_VARARGS,
     "make(slot, kind, activation id, fallback, name, doc, module): an op's public function"},
    {"python_route", fp_python_route, METH_O, "python_route(slot): the op's Python function"},
    {"configure_selection", configure_selection, METH_VARARGS,
     "configure_selection(context variable, outer index, selections, slots)"},
    {"name_selection", name_selection, METH_VARARGS, "name_selection(text, index)"},
    {"allow", allow, METH_VARARGS, "allow(selection, slot, dtype, backend, lower, upper)"},
    {"reset", reset, METH_O, "reset(outer selection index): no route is known"},
    {"configure_cpu", configure_cpu, METH_VARARGS, "configure_cpu(backend, addresses)"},
    {"configure_wasm", configure_wasm, METH_VARARGS, "configure_wasm(backend, ..., binder, band_binder)"},
    {"configure_arrays", configure_arrays, METH_VARARGS, "configure_arrays(Array, maker)"},
    {"array_slot_offsets", array_slot_offsets, METH_NOARGS, "where the Array slots lie"},
    {"take_stats", take_stats, METH_NOARGS, "the calls and timings since the last take"},
    {"closing", closing, METH_NOARGS, "the interpreter exits: blocks are no longer given back"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module_def = {
    PyModuleDef_HEAD_INIT, "_fastpath", "accel's compiled fast path (see accel/_fast.py)", -1,
    methods, NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__fastpath(void)
{
    import_array();
    fp_descr[0] = PyArray_DescrFromType(NPY_FLOAT);
    fp_descr[1] = PyArray_DescrFromType(NPY_DOUBLE);
    fp_named = PyDict_New();
    const char *names[ARRAY_SLOTS] = {"_backend", "_buf", "shape", "dtype"};
    for (int i = 0; i < ARRAY_SLOTS; i++)
        if (!(slot_names[i] = PyUnicode_InternFromString(names[i])))
            return NULL;
    if (!fp_descr[0] || !fp_descr[1] || !fp_named)
        return NULL;
    PyObject *module = PyModule_Create(&module_def);
    if (!module)
        return NULL;
    if (fp_calls_init(module) < 0 || fp_blocks_init(module) < 0) {
        Py_DECREF(module);
        return NULL;
    }
    return module;
}
