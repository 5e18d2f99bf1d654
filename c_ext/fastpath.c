/* fastpath.c: accel's compiled entry points for the common small call.
 *
 * accel.relu, sigmoid, tanh, gelu, silu, matmul, dot and linear are objects of the type FastOp.
 * A call whose arguments are the common case (exact numpy.ndarray operands that are
 * C-contiguous, aligned, native float32 or float64; no out=; backend= None or "cpu") and whose
 * selection the Python layer has already resolved to the cpu backend for that op, dtype and
 * size runs the cpu kernel straight from here. Every other call goes to the op's Python
 * function (`fallback`), which does everything else and stays the only place with semantics:
 * this file only skips work for calls whose outcome that path has already decided.
 *
 * The Python layer (accel/_fast.py) sets, per op and dtype, the largest work the fast path
 * may take with backend=None (0: none) and with backend="cpu", from what the dispatcher
 * decided, and zeroes them whenever anything that decides changes (set_backend, a
 * use_backend block anywhere, a backend replaced or failing, a calibration). Calls are
 * counted here, one in eight timed, and merged into accel.stats().
 *
 * The GIL is held throughout (the kernels of a small call take less than releasing it).
 * Built with Python's limited API (3.11: the buffer protocol); on older Pythons accel runs
 * without it.
 */
#define PY_SSIZE_T_CLEAN
#ifndef Py_LIMITED_API
#define Py_LIMITED_API 0x030B0000
#endif
#include <Python.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

#define SLOTS 8 /* activation ids 0..4, then matmul and dot */
#define SLOT_MATMUL 5
#define SLOT_DOT 6
#define SLOT_LINEAR 7
#define RING 4096

typedef void (*elementwise_fn)(int, const void *, void *, int64_t);
typedef int (*linear_fn)(const void *, const void *, void *, const void *, int, int64_t,
                         int64_t, int64_t, int64_t, int64_t, int64_t);
typedef double (*dot_fn)(const void *, const void *, int64_t);

static elementwise_fn ew[2];
static linear_fn lin[2];
static dot_fn dotk[2];
static PyObject *ndarray_type, *empty_like, *empty, *scalar_type[2], *dtype_obj[2];
static PyObject *act_ids; /* activation name -> id, for linear's activation= */
static PyObject *s_backend, *s_out, *s_cpu, *s_activation, *s_bias;
static double bound_auto[SLOTS][2], bound_cpu[SLOTS][2];
static long long calls[SLOTS][2];
static double lat[SLOTS][2][RING];
static unsigned lat_n[SLOTS][2], tick;
static int frames; /* use_backend blocks active anywhere: while any is, nothing is fast */

typedef struct {
    PyObject_HEAD
    int slot;
    PyObject *fallback;
} FastOp;

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* the dtype index of a buffer: 0 float32, 1 float64, -1 anything else */
static int float_index(const Py_buffer *v)
{
    if (!v->format || v->format[1] != '\0')
        return -1;
    if (v->format[0] == 'f' && v->itemsize == 4)
        return 0;
    if (v->format[0] == 'd' && v->itemsize == 8)
        return 1;
    return -1;
}

/* The largest work allowed for this call: from backend= (None or "cpu") and out= (None);
 * -1 when the call is not the common case. */
static double allowed(int slot, int dt, PyObject *kwargs, int *strict)
{
    *strict = 0;
    if (kwargs) {
        PyObject *key, *value;
        Py_ssize_t pos = 0;
        while (PyDict_Next(kwargs, &pos, &key, &value)) {
            if (slot == SLOT_LINEAR && (PyUnicode_Compare(key, s_activation) == 0 ||
                                        PyUnicode_Compare(key, s_bias) == 0))
                continue; /* read by try_linear */
            if (PyUnicode_Compare(key, s_backend) == 0) {
                if (value == Py_None)
                    continue;
                if (!PyUnicode_Check(value) || PyUnicode_Compare(value, s_cpu) != 0)
                    return -1;
                *strict = 1;
            } else if (PyUnicode_Compare(key, s_out) == 0) {
                if (value != Py_None)
                    return -1;
            } else {
                return -1; /* an unknown keyword: Python raises the TypeError */
            }
        }
    }
    if (frames)
        return -1;
    return *strict ? bound_cpu[slot][dt] : bound_auto[slot][dt];
}

static void book(int slot, int dt, double t0)
{
    calls[slot][dt]++;
    if (t0 > 0) {
        lat[slot][dt][lat_n[slot][dt] % RING] = now() - t0;
        lat_n[slot][dt]++;
    }
}

static int get_array(PyObject *x, Py_buffer *v, int flags)
{
    if ((PyObject *)Py_TYPE(x) != ndarray_type)
        return -1;
    if (PyObject_GetBuffer(x, v, flags | PyBUF_FORMAT | PyBUF_ND) != 0) {
        PyErr_Clear();
        return -1;
    }
    int dt = float_index(v);
    if (dt < 0 || ((uintptr_t)v->buf % (uintptr_t)v->itemsize) != 0) {
        PyBuffer_Release(v);
        return -1;
    }
    return dt;
}

/* NULL: not the common case (nothing raised); else the result */
static PyObject *try_unary(FastOp *op, PyObject *args, PyObject *kwargs)
{
    if (PyTuple_Size(args) != 1)
        return NULL;
    PyObject *x = PyTuple_GetItem(args, 0);
    Py_buffer vx;
    int dt = get_array(x, &vx, PyBUF_C_CONTIGUOUS);
    if (dt < 0)
        return NULL;
    int strict;
    int64_t n = (int64_t)(vx.len / vx.itemsize);
    if (n == 0 || (double)n > allowed(op->slot, dt, kwargs, &strict)) {
        PyBuffer_Release(&vx);
        return NULL;
    }
    PyObject *y = PyObject_CallFunctionObjArgs(empty_like, x, NULL);
    Py_buffer vy;
    if (!y || PyObject_GetBuffer(y, &vy, PyBUF_C_CONTIGUOUS | PyBUF_WRITABLE) != 0) {
        PyErr_Clear();
        Py_XDECREF(y);
        PyBuffer_Release(&vx);
        return NULL;
    }
    double t0 = (++tick & 7) == 0 ? now() : 0;
    ew[dt](op->slot, vx.buf, vy.buf, n);
    book(op->slot, dt, t0);
    PyBuffer_Release(&vy);
    PyBuffer_Release(&vx);
    return y;
}

/* The first two arguments as arrays of one dtype: its index, or -1 (nothing held) */
static int get_pair(PyObject *args, Py_buffer *va, Py_buffer *vb)
{
    int dt = get_array(PyTuple_GetItem(args, 0), va, PyBUF_C_CONTIGUOUS);
    if (dt < 0)
        return -1;
    int db = get_array(PyTuple_GetItem(args, 1), vb, PyBUF_C_CONTIGUOUS);
    if (db != dt) {
        if (db >= 0)
            PyBuffer_Release(vb);
        PyBuffer_Release(va);
        return -1;
    }
    return dt;
}

/* A new array of `shape` (a new reference, consumed) holding act(x @ w + bias): NULL (nothing
 * raised) when it cannot be had or the kernel could not allocate (Python then raises). */
static PyObject *run_linear(FastOp *op, int dt, PyObject *shape, const void *x, const void *w,
                            const void *bias, int act, int64_t m, int64_t n, int64_t k)
{
    PyObject *c = shape ? PyObject_CallFunctionObjArgs(empty, shape, dtype_obj[dt], NULL) : NULL;
    Py_XDECREF(shape);
    Py_buffer vc;
    if (!c || PyObject_GetBuffer(c, &vc, PyBUF_C_CONTIGUOUS | PyBUF_WRITABLE) != 0) {
        PyErr_Clear();
        Py_XDECREF(c);
        return NULL;
    }
    double t0 = (++tick & 7) == 0 ? now() : 0;
    int rc = lin[dt](x, w, vc.buf, bias, act, 1, m, n, k, 0, 0);
    PyBuffer_Release(&vc);
    if (rc != 0) {
        Py_DECREF(c);
        return NULL;
    }
    book(op->slot, dt, t0);
    return c;
}

static PyObject *try_matmul(FastOp *op, PyObject *args, PyObject *kwargs)
{
    Py_buffer va, vb;
    if (PyTuple_Size(args) != 2)
        return NULL;
    int dt = get_pair(args, &va, &vb);
    if (dt < 0)
        return NULL;
    PyObject *c = NULL;
    int strict;
    if (va.ndim == 2 && vb.ndim == 2 && va.shape[1] == vb.shape[0] && va.shape[0] > 0 &&
        vb.shape[1] > 0 && va.shape[1] > 0) {
        int64_t m = va.shape[0], k = va.shape[1], n = vb.shape[1];
        if (2.0 * (double)m * (double)n * (double)k <= allowed(op->slot, dt, kwargs, &strict))
            c = run_linear(op, dt, Py_BuildValue("(nn)", (Py_ssize_t)m, (Py_ssize_t)n), va.buf,
                           vb.buf, NULL, -1, m, n, k);
    }
    PyBuffer_Release(&vb);
    PyBuffer_Release(&va);
    return c;
}

static PyObject *try_dot(FastOp *op, PyObject *args, PyObject *kwargs)
{
    Py_buffer va, vb;
    if (PyTuple_Size(args) != 2)
        return NULL;
    int dt = get_pair(args, &va, &vb);
    if (dt < 0)
        return NULL;
    PyObject *r = NULL;
    int strict;
    if (va.ndim == 1 && vb.ndim == 1 && va.shape[0] == vb.shape[0] &&
        va.shape[0] > 0 && (double)va.shape[0] <= allowed(op->slot, dt, kwargs, &strict)) {
        double t0 = (++tick & 7) == 0 ? now() : 0;
        double value = dotk[dt](va.buf, vb.buf, va.shape[0]);
        r = PyObject_CallFunction(scalar_type[dt], "d", value);
        if (r)
            book(op->slot, dt, t0);
        else
            PyErr_Clear();
    }
    PyBuffer_Release(&vb);
    PyBuffer_Release(&va);
    return r;
}

/* linear(x, w, bias=None, *, activation=None): x (M, K) or (K,), w (K, N), bias (N,) */
static PyObject *try_linear(FastOp *op, PyObject *args, PyObject *kwargs)
{
    Py_ssize_t nargs = PyTuple_Size(args);
    if (nargs != 2 && nargs != 3)
        return NULL;
    PyObject *bias = nargs == 3 ? PyTuple_GetItem(args, 2) : Py_None;
    PyObject *activation = Py_None;
    if (kwargs) {
        PyObject *kb = PyDict_GetItemWithError(kwargs, s_bias);
        PyObject *ka = PyDict_GetItemWithError(kwargs, s_activation);
        if (PyErr_Occurred()) {
            PyErr_Clear();
            return NULL;
        }
        if (kb) {
            if (nargs == 3)
                return NULL; /* bias given twice: Python raises */
            bias = kb;
        }
        if (ka)
            activation = ka;
    }
    long act = -1;
    if (activation != Py_None) {
        PyObject *id = act_ids ? PyDict_GetItemWithError(act_ids, activation) : NULL;
        if (!id) {
            PyErr_Clear();
            return NULL; /* an unknown name: Python raises the ValueError */
        }
        act = PyLong_AsLong(id);
    }
    Py_buffer vx, vw, vb;
    int dt = get_pair(args, &vx, &vw);
    if (dt < 0)
        return NULL;
    int have_bias = bias != Py_None;
    int dbias = have_bias ? get_array(bias, &vb, PyBUF_C_CONTIGUOUS) : dt;
    PyObject *c = NULL;
    int strict;
    if (dbias == dt && (vx.ndim == 1 || vx.ndim == 2) && vw.ndim == 2 &&
        vx.shape[vx.ndim - 1] == vw.shape[0] && vw.shape[0] > 0 && vw.shape[1] > 0 &&
        (!have_bias || (vb.ndim == 1 && vb.shape[0] == vw.shape[1]))) {
        int64_t m = vx.ndim == 2 ? vx.shape[0] : 1, k = vw.shape[0], n = vw.shape[1];
        if (m > 0 && 2.0 * (double)m * (double)n * (double)k <=
                         allowed(op->slot, dt, kwargs, &strict)) {
            PyObject *shape = vx.ndim == 2 ? Py_BuildValue("(nn)", (Py_ssize_t)m, (Py_ssize_t)n)
                                           : Py_BuildValue("(n)", (Py_ssize_t)n);
            c = run_linear(op, dt, shape, vx.buf, vw.buf, have_bias ? vb.buf : NULL, (int)act, m,
                           n, k);
        }
    }
    if (have_bias && dbias >= 0)
        PyBuffer_Release(&vb);
    PyBuffer_Release(&vw);
    PyBuffer_Release(&vx);
    return c;
}

static PyObject *fastop_call(PyObject *self, PyObject *args, PyObject *kwargs)
{
    FastOp *op = (FastOp *)self;
    PyObject *r = op->slot == SLOT_MATMUL   ? try_matmul(op, args, kwargs)
                  : op->slot == SLOT_DOT    ? try_dot(op, args, kwargs)
                  : op->slot == SLOT_LINEAR ? try_linear(op, args, kwargs)
                                            : try_unary(op, args, kwargs);
    if (r)
        return r;
    return PyObject_Call(op->fallback, args, kwargs);
}

static void fastop_dealloc(PyObject *self)
{
    PyTypeObject *tp = Py_TYPE(self);
    Py_XDECREF(((FastOp *)self)->fallback);
    freefunc tp_free = (freefunc)PyType_GetSlot(tp, Py_tp_free);
    tp_free(self);
    Py_DECREF(tp);
}

static PyObject *fastop_get_doc(PyObject *self, void *closure)
{
    (void)closure;
    return PyObject_GetAttrString(((FastOp *)self)->fallback, "__doc__");
}

static PyObject *fastop_get_name(PyObject *self, void *closure)
{
    (void)closure;
    return PyObject_GetAttrString(((FastOp *)self)->fallback, "__name__");
}

static PyObject *fastop_get_fallback(PyObject *self, void *closure)
{
    (void)closure;
    PyObject *f = ((FastOp *)self)->fallback;
    Py_INCREF(f);
    return f;
}

static PyObject *fastop_get_module(PyObject *self, void *closure)
{
    (void)self;
    (void)closure;
    return PyUnicode_FromString("accel");
}

/* pickled by name, as functions are: accel.<name> in the receiving process */
static PyObject *fastop_reduce(PyObject *self, PyObject *noargs)
{
    (void)noargs;
    return PyObject_GetAttrString(((FastOp *)self)->fallback, "__name__");
}

static PyMethodDef fastop_methods[] = {
    {"__reduce__", fastop_reduce, METH_NOARGS, NULL},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef fastop_getset[] = {
    {"__module__", fastop_get_module, NULL, NULL, NULL},
    {"__doc__", fastop_get_doc, NULL, NULL, NULL},
    {"__name__", fastop_get_name, NULL, NULL, NULL},
    {"__qualname__", fastop_get_name, NULL, NULL, NULL},
    {"__wrapped__", fastop_get_fallback, NULL, NULL, NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PyType_Slot fastop_slots[] = {
    {Py_tp_call, fastop_call},
    {Py_tp_dealloc, fastop_dealloc},
    {Py_tp_getset, fastop_getset},
    {Py_tp_methods, fastop_methods},
    {0, NULL},
};

static PyType_Spec fastop_spec = {
    "accel._fastpath.FastOp", sizeof(FastOp), 0, Py_TPFLAGS_DEFAULT, fastop_slots,
};

static PyObject *fastop_type;

/* make(slot, fallback) -> a FastOp */
static PyObject *make(PyObject *module, PyObject *args)
{
    (void)module;
    int slot;
    PyObject *fallback;
    if (!PyArg_ParseTuple(args, "iO", &slot, &fallback))
        return NULL;
    if (slot < 0 || slot >= SLOTS) {
        PyErr_SetString(PyExc_ValueError, "slot out of range");
        return NULL;
    }
    allocfunc tp_alloc = (allocfunc)PyType_GetSlot((PyTypeObject *)fastop_type, Py_tp_alloc);
    FastOp *op = (FastOp *)tp_alloc((PyTypeObject *)fastop_type, 0);
    if (!op)
        return NULL;
    op->slot = slot;
    Py_INCREF(fallback);
    op->fallback = fallback;
    return (PyObject *)op;
}

/* configure(addresses, ndarray, empty_like, empty, float32, float64, dtype32, dtype64,
 *           {activation name: id}) */
static PyObject *configure(PyObject *module, PyObject *args)
{
    (void)module;
    unsigned long long e32, e64, l32, l64, d32, d64;
    PyObject *nd, *el, *em, *f32, *f64, *t32, *t64, *acts;
    if (!PyArg_ParseTuple(args, "(KKKKKK)OOOOOOOO", &e32, &e64, &l32, &l64, &d32, &d64, &nd,
                          &el, &em, &f32, &f64, &t32, &t64, &acts))
        return NULL;
    Py_INCREF(acts);
    Py_XDECREF(act_ids);
    act_ids = acts;
    ew[0] = (elementwise_fn)(uintptr_t)e32;
    ew[1] = (elementwise_fn)(uintptr_t)e64;
    lin[0] = (linear_fn)(uintptr_t)l32;
    lin[1] = (linear_fn)(uintptr_t)l64;
    dotk[0] = (dot_fn)(uintptr_t)d32;
    dotk[1] = (dot_fn)(uintptr_t)d64;
    PyObject *keep[] = {nd, el, em, f32, f64};
    for (int i = 0; i < 5; i++)
        Py_INCREF(keep[i]);
    Py_XDECREF(ndarray_type);
    Py_XDECREF(empty_like);
    Py_XDECREF(empty);
    Py_XDECREF(scalar_type[0]);
    Py_XDECREF(scalar_type[1]);
    ndarray_type = nd;
    empty_like = el;
    empty = em;
    scalar_type[0] = f32;
    scalar_type[1] = f64;
    Py_XDECREF(dtype_obj[0]);
    Py_XDECREF(dtype_obj[1]);
    Py_INCREF(t32);
    Py_INCREF(t64);
    dtype_obj[0] = t32;
    dtype_obj[1] = t64;
    Py_RETURN_NONE;
}

/* set_bound(slot, dtype index, strict, work): the largest work the fast path takes */
static PyObject *set_bound(PyObject *module, PyObject *args)
{
    (void)module;
    int slot, dt, strict;
    double work;
    if (!PyArg_ParseTuple(args, "iipd", &slot, &dt, &strict, &work))
        return NULL;
    if (slot < 0 || slot >= SLOTS || dt < 0 || dt > 1) {
        PyErr_SetString(PyExc_ValueError, "slot or dtype out of range");
        return NULL;
    }
    (strict ? bound_cpu : bound_auto)[slot][dt] = work;
    Py_RETURN_NONE;
}

static PyObject *reset(PyObject *module, PyObject *noargs)
{
    (void)module;
    (void)noargs;
    memset(bound_auto, 0, sizeof bound_auto);
    memset(bound_cpu, 0, sizeof bound_cpu);
    Py_RETURN_NONE;
}

static PyObject *frames_delta(PyObject *module, PyObject *args)
{
    (void)module;
    int delta;
    if (!PyArg_ParseTuple(args, "i", &delta))
        return NULL;
    frames += delta;
    if (frames < 0)
        frames = 0;
    Py_RETURN_NONE;
}

/* take_stats() -> [(slot, dtype index, calls, [seconds...])], and zeroes them */
static PyObject *take_stats(PyObject *module, PyObject *noargs)
{
    (void)module;
    (void)noargs;
    PyObject *out = PyList_New(0);
    if (!out)
        return NULL;
    for (int s = 0; s < SLOTS; s++)
        for (int d = 0; d < 2; d++) {
            if (!calls[s][d])
                continue;
            unsigned count = lat_n[s][d] < RING ? lat_n[s][d] : RING;
            PyObject *times = PyList_New(count);
            for (unsigned i = 0; times && i < count; i++)
                PyList_SetItem(times, i, PyFloat_FromDouble(lat[s][d][i]));
            PyObject *rec = times ? Py_BuildValue("(iiLN)", s, d, calls[s][d], times) : NULL;
            if (!rec || PyList_Append(out, rec) != 0) {
                Py_XDECREF(rec);
                Py_DECREF(out);
                return NULL;
            }
            Py_DECREF(rec);
            calls[s][d] = 0;
            lat_n[s][d] = 0;
        }
    return out;
}

static PyMethodDef methods[] = {
    {"make", make, METH_VARARGS, "make(slot, fallback): a fast entry point"},
    {"configure", configure, METH_VARARGS, "configure(addresses, ndarray, empty_like, ...)"},
    {"set_bound", set_bound, METH_VARARGS, "set_bound(slot, dtype, strict, work)"},
    {"reset", reset, METH_NOARGS, "no call is fast until bounds are set again"},
    {"frames", frames_delta, METH_VARARGS, "frames(+1 or -1): use_backend blocks"},
    {"take_stats", take_stats, METH_NOARGS, "the calls and timings since the last take"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module_def = {
    PyModuleDef_HEAD_INIT, "_fastpath", "accel's compiled entry points for small calls", -1,
    methods, NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__fastpath(void)
{
    fastop_type = PyType_FromSpec(&fastop_spec);
    if (!fastop_type)
        return NULL;
    s_backend = PyUnicode_InternFromString("backend");
    s_out = PyUnicode_InternFromString("out");
    s_cpu = PyUnicode_InternFromString("cpu");
    s_activation = PyUnicode_InternFromString("activation");
    s_bias = PyUnicode_InternFromString("bias");
    return PyModule_Create(&module_def);
}
