/* fastpath.c: accel's compiled entry points for the common small call.
 *
 * accel.relu, sigmoid, tanh, gelu, silu, matmul, dot and linear are objects of the type FastOp.
 * A call whose arguments are the common case (exact numpy.ndarray operands that are
 * C-contiguous, aligned, native float32 or float64; out= None or such an array that the kernel
 * may write: exactly in place for an activation, else sharing no memory with an input;
 * backend= None, "cpu" or, for the activations, "simd") and whose selection the Python layer
 * has already resolved to that backend for that op, dtype and size runs the kernel straight
 * from here: cpu's C entry points, or the simd module's export through wasmtime's C API on the
 * calling thread's instance. Every other call goes to the op's Python function (`fallback`),
 * which does everything else and stays the only place with semantics: this file only skips
 * work for calls whose outcome that path has already decided.
 *
 * The Python layer (accel/_fast.py) sets, per op and dtype, the largest work the fast path
 * may take with backend=None (0: none) and with a backend named, from what the dispatcher
 * decided, and zeroes them whenever anything that decides changes (set_backend, a
 * use_backend block anywhere, a backend replaced or failing, a calibration, a simd module
 * build switched). Calls are counted here, one in eight timed, and merged into
 * accel.stats() with the bytes the simd calls copied.
 *
 * Arrays are read and made through numpy's C API (its headers at build time; the API table
 * at import): taking the data pointer is a field read and a new array costs what numpy's own
 * ufuncs pay, where the buffer protocol and a call of numpy.empty cost more than a small
 * kernel. The GIL is held throughout (the kernels of a small call take less than releasing
 * it). Built with Python's limited API (3.10), so one wheel serves every Python.
 */
#define PY_SSIZE_T_CLEAN
#ifndef Py_LIMITED_API
#define Py_LIMITED_API 0x030A0000
#endif
#include <Python.h>
#define NPY_NO_DEPRECATED_API NPY_1_7_API_VERSION
#define NPY_TARGET_VERSION NPY_1_24_API_VERSION /* accel-chain's oldest numpy */
#include <numpy/arrayobject.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

#define SLOTS 8 /* activation ids 0..4, then matmul, dot and linear */
#define SLOT_MATMUL 5
#define SLOT_DOT 6
#define SLOT_LINEAR 7
#define RING 4096

/* where a call runs: the selection's first choice (backend=None), or a named backend */
enum { AUTO = 0, CPU = 1, SIMD = 2, TARGETS = 3 };
enum { ON_CPU = 0, ON_SIMD = 1, BACKENDS_N = 2 };

typedef void (*elementwise_fn)(int, const void *, void *, int64_t);
typedef int (*linear_fn)(const void *, const void *, void *, const void *, int, int64_t,
                         int64_t, int64_t, int64_t, int64_t, int64_t);
typedef double (*dot_fn)(const void *, const void *, int64_t);

static elementwise_fn ew[2];
static linear_fn lin[2];
static dot_fn dotk[2];
static PyArray_Descr *descr[2]; /* float32, float64 */
static PyObject *act_ids;       /* activation name -> id, for linear's activation= */
static PyObject *s_backend, *s_out, *s_cpu, *s_simd, *s_activation, *s_bias;
/* bound[target][slot][dt]: the largest work the fast path takes (0: none); auto_on: which
 * backend the selection's first choice is, for bound[AUTO] */
static double bound[TARGETS][SLOTS][2];
static int auto_on[SLOTS][2];
static long long calls[BACKENDS_N][SLOTS][2];
static long long moved_calls, moved_bytes; /* simd: copies in and out of its memory */
static double lat[BACKENDS_N][SLOTS][2][RING];
static unsigned lat_n[BACKENDS_N][SLOTS][2], tick;
static int frames; /* use_backend blocks active anywhere: while any is, nothing is fast */
/* cpu Arrays: accel.Array, the registered cpu backend object whose Arrays are ndarrays in
 * _buf, and host_result(backend, ndarray) -> an Array there (set by accel/_fast.py) */
static PyObject *array_type, *cpu_backend, *host_result;
static PyObject *s_buf, *s_backend_attr, *s_spilled, *s_shape;

/* -- simd: one call of the module's elementwise export through wasmtime's C API ------------
 * The simd backend hands over, per thread, its instance's context and exports and a scratch
 * block of the shared memory (`simd_binder()` -> (context, elementwise_f32, elementwise_f64,
 * memory base, scratch offset, scratch bytes)), and once wasmtime_func_call_unchecked's
 * address; a binding is valid while `simd_gen` (bumped by reset()) has not moved. */
typedef void *(*wasm_call_fn)(void *, const void *, void *, size_t, void **);
typedef void (*wasm_delete_fn)(void *);
static wasm_call_fn wasm_call;
static wasm_delete_fn wasm_error_delete, wasm_trap_delete;
static size_t raw_size; /* sizeof(wasmtime_val_raw_t) */
static PyObject *simd_binder;
static long simd_gen = 1;
typedef struct {
    long gen;
    void *ctx;
    const void *func[2];
    char *base;      /* the shared memory, in this process */
    uint32_t offset; /* the scratch block, in the module's addresses */
    size_t bytes;
} SimdThread;
static _Thread_local SimdThread simd_tls;

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

/* Set while a call's operands include cpu Arrays (their ndarrays substituted) */
static _Thread_local int host_arrays; /* (per thread: a binder call may switch threads) */

/* The target of this call from backend= (None, "cpu" or "simd"), and out= (None, or an
 * exact ndarray left in *out for the caller to check); -1 when the call is not the common
 * case. */
static int target_of(int slot, PyObject *kwargs, PyObject **out)
{
    int target = AUTO;
    *out = NULL;
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
                if (!PyUnicode_Check(value))
                    return -1;
                if (PyUnicode_Compare(value, s_cpu) == 0)
                    target = CPU;
                else if (PyUnicode_Compare(value, s_simd) == 0)
                    target = SIMD;
                else
                    return -1;
            } else if (PyUnicode_Compare(key, s_out) == 0) {
                if (value != Py_None)
                    *out = value;
            } else {
                return -1; /* an unknown keyword: Python raises the TypeError */
            }
        }
    }
    return frames ? -1 : target;
}

/* The backend this call may run on (ON_CPU, ON_SIMD) if its work is within the bound; -1.
 * *out: out= (NULL when None). */
static int runs_on(int slot, int dt, PyObject *kwargs, double work, PyObject **out)
{
    int target = target_of(slot, kwargs, out);
    if (host_arrays) { /* cpu Arrays: the data decides (strictly cpu), out= as Python does */
        if (target == SIMD || *out)
            return -1;
        target = CPU;
    }
    if (target < 0 || !(work <= bound[target][slot][dt]))
        return -1;
    return target == AUTO ? auto_on[slot][dt] : target == SIMD ? ON_SIMD : ON_CPU;
}

static void book(int on, int slot, int dt, double t0)
{
    calls[on][slot][dt]++;
    if (t0 > 0) {
        lat[on][slot][dt][lat_n[on][slot][dt] % RING] = now() - t0;
        lat_n[on][slot][dt]++;
    }
}

/* The dtype index of an exact ndarray that is C-contiguous, aligned, native float32/64: 0 or
 * 1; -1 for anything else. */
static int float_index(PyObject *x)
{
    if (!PyArray_CheckExact(x))
        return -1;
    PyArrayObject *a = (PyArrayObject *)x;
    int t = PyArray_TYPE(a);
    int dt = t == NPY_FLOAT ? 0 : t == NPY_DOUBLE ? 1 : -1;
    if (dt < 0 || !PyArray_IS_C_CONTIGUOUS(a) || !PyArray_ISALIGNED(a) ||
        !PyArray_ISNOTSWAPPED(a))
        return -1;
    return dt;
}

/* Whether two arrays' bytes overlap */
static int overlaps(PyArrayObject *x, PyArrayObject *y)
{
    char *x0 = PyArray_BYTES(x), *y0 = PyArray_BYTES(y);
    return x0 < y0 + PyArray_NBYTES(y) && y0 < x0 + PyArray_NBYTES(x);
}

/* out= as the result array of dtype dt and shape (nd, dims), when it is one the kernel may
 * write (exact ndarray, C-contiguous, aligned, native, writeable, that shape); NULL if not */
static PyArrayObject *usable_out(PyObject *out, int dt, int nd, const npy_intp *dims)
{
    if (float_index(out) != dt)
        return NULL;
    PyArrayObject *o = (PyArrayObject *)out;
    if (!PyArray_ISWRITEABLE(o) || PyArray_NDIM(o) != nd)
        return NULL;
    for (int i = 0; i < nd; i++)
        if (PyArray_DIM(o, i) != dims[i])
            return NULL;
    return o;
}

static PyObject *new_array(int dt, int nd, npy_intp *dims)
{
    Py_INCREF(descr[dt]);
    return PyArray_NewFromDescr(&PyArray_Type, descr[dt], nd, dims, NULL, NULL, 0, NULL);
}

/* This thread's simd binding, made on its first use: 1 when it can take n bytes */
static int simd_ready(size_t nbytes)
{
    SimdThread *t = &simd_tls;
    if (t->gen != simd_gen) {
        if (!simd_binder || !wasm_call)
            return 0;
        PyObject *r = PyObject_CallObject(simd_binder, NULL);
        unsigned long long ctx, f32, f64, base, off, bytes;
        if (!r || r == Py_None ||
            !PyArg_ParseTuple(r, "KKKKKK", &ctx, &f32, &f64, &base, &off, &bytes)) {
            PyErr_Clear();
            Py_XDECREF(r);
            return 0;
        }
        Py_DECREF(r);
        t->ctx = (void *)(uintptr_t)ctx;
        t->func[0] = (const void *)(uintptr_t)f32;
        t->func[1] = (const void *)(uintptr_t)f64;
        t->base = (char *)(uintptr_t)base;
        t->offset = (uint32_t)off;
        t->bytes = (size_t)bytes;
        t->gen = simd_gen;
    }
    return nbytes <= t->bytes;
}

/* Calls a wasm export with n integer arguments (at most 16): 0, or -1 on a trap or an error
 * (freed here). A raw slot is as wide as wasmtime_val_raw_t (a union up to v128), and an i32
 * reads the low half of its slot. */
static int wasm_invoke(void *ctx, const void *func, const int64_t *args, int n)
{
    unsigned char raw[16 * 32];
    memset(raw, 0, (size_t)n * raw_size);
    for (int i = 0; i < n; i++)
        memcpy(raw + (size_t)i * raw_size, &args[i], 8); /* little-endian, as wasm */
    void *trap = NULL;
    void *error = wasm_call(ctx, func, raw, (size_t)n, &trap);
    if (error || trap) {
        if (error)
            wasm_error_delete(error);
        if (trap)
            wasm_trap_delete(trap);
        return -1;
    }
    return 0;
}

/* act on n elements through this thread's simd instance: 0, or -1 (nothing raised; the
 * Python path then runs the call and reports whatever went wrong) */
static int simd_elementwise(int act, int dt, const void *x, void *y, int64_t n)
{
    SimdThread *t = &simd_tls;
    size_t nbytes = (size_t)n * (dt ? 8 : 4);
    /* elementwise_fXX(act, x, y, n), in place in the scratch block */
    int64_t args[4] = {act, t->offset, t->offset, n};
    char *at = t->base + t->offset;
    memcpy(at, x, nbytes);
    if (wasm_invoke(t->ctx, t->func[dt], args, 4) != 0)
        return -1;
    memcpy(y, at, nbytes);
    moved_calls++;
    moved_bytes += (long long)nbytes;
    return 0;
}

/* -- simd: bands of one product on the cpu backend's thread pool -----------------------------
 * The simd backend splits a large product into bands, each a call of the module's linear
 * export on an instance of its own. Python threads hand work over through locks and condition
 * variables (about 90 us per call on a 2-core machine, the run time of a 64 x 256 x 256
 * product); the cpu backend's native pool spins briefly between jobs. A band's instance is
 * used by its task alone, and the backend lets one caller at a time use the band instances. */
typedef void (*parallel_for_fn)(void (*)(void *, int64_t), void *, int64_t);
static parallel_for_fn pool_for;
#define BAND_ARGS 16 /* wasm_invoke's most */

typedef struct {
    void *ctx;
    const void *func;
    int nargs;
    int failed;
    int64_t args[BAND_ARGS];
} WasmBand;

static void run_band(void *bands, int64_t i)
{
    WasmBand *b = (WasmBand *)bands + i;
    b->failed = wasm_invoke(b->ctx, b->func, b->args, b->nargs) != 0;
}

/* configure_pool(address of accel_parallel_for, or 0 to forget it) */
static PyObject *configure_pool(PyObject *module, PyObject *args)
{
    (void)module;
    unsigned long long address;
    if (!PyArg_ParseTuple(args, "K", &address))
        return NULL;
    pool_for = (parallel_for_fn)(uintptr_t)address;
    Py_RETURN_NONE;
}

/* wasm_bands(((context, func, (i32 args...)), ...)) -> how many bands failed (a trap or an
 * error); runs them on the pool with the GIL released. configure_simd and configure_pool
 * must have been called. */
static PyObject *wasm_bands(PyObject *module, PyObject *args)
{
    (void)module;
    PyObject *tasks;
    if (!PyArg_ParseTuple(args, "O!", &PyTuple_Type, &tasks))
        return NULL;
    if (!pool_for || !wasm_call) {
        PyErr_SetString(PyExc_RuntimeError, "wasm_bands: the pool or wasmtime is not configured");
        return NULL;
    }
    Py_ssize_t n = PyTuple_Size(tasks);
    WasmBand *bands = PyMem_Calloc(n ? (size_t)n : 1, sizeof(WasmBand));
    if (!bands)
        return PyErr_NoMemory();
    for (Py_ssize_t i = 0; i < n; i++) {
        unsigned long long ctx, func;
        PyObject *values;
        if (!PyArg_ParseTuple(PyTuple_GetItem(tasks, i), "KKO!", &ctx, &func, &PyTuple_Type,
                              &values)) {
            PyMem_Free(bands);
            return NULL;
        }
        Py_ssize_t nargs = PyTuple_Size(values);
        if (nargs > BAND_ARGS) {
            PyMem_Free(bands);
            PyErr_SetString(PyExc_ValueError, "wasm_bands: too many arguments");
            return NULL;
        }
        bands[i].ctx = (void *)(uintptr_t)ctx;
        bands[i].func = (const void *)(uintptr_t)func;
        bands[i].nargs = (int)nargs;
        for (Py_ssize_t j = 0; j < nargs; j++) {
            bands[i].args[j] = PyLong_AsLongLong(PyTuple_GetItem(values, j));
            if (bands[i].args[j] == -1 && PyErr_Occurred()) {
                PyMem_Free(bands);
                return NULL;
            }
        }
    }
    Py_BEGIN_ALLOW_THREADS
    pool_for(run_band, bands, (int64_t)n);
    Py_END_ALLOW_THREADS
    long failed = 0;
    for (Py_ssize_t i = 0; i < n; i++)
        failed += bands[i].failed;
    PyMem_Free(bands);
    return PyLong_FromLong(failed);
}

/* NULL: not the common case (nothing raised); else the result */
static PyObject *try_unary(FastOp *op, PyObject *args, PyObject *kwargs)
{
    if (PyTuple_Size(args) != 1)
        return NULL;
    PyObject *x = PyTuple_GetItem(args, 0);
    int dt = float_index(x);
    if (dt < 0)
        return NULL;
    PyArrayObject *ax = (PyArrayObject *)x;
    int64_t n = (int64_t)PyArray_SIZE(ax);
    PyObject *out;
    int on = n > 0 ? runs_on(op->slot, dt, kwargs, (double)n, &out) : -1;
    if (on < 0 || (on == ON_SIMD && !simd_ready((size_t)n * (dt ? 8 : 4))))
        return NULL;
    PyObject *y;
    if (out) { /* written in place exactly, or with no overlap at all */
        PyArrayObject *o = usable_out(out, dt, PyArray_NDIM(ax), PyArray_DIMS(ax));
        if (!o || (PyArray_DATA(o) != PyArray_DATA(ax) && overlaps(o, ax)))
            return NULL;
        Py_INCREF(out);
        y = out;
    } else {
        y = new_array(dt, PyArray_NDIM(ax), PyArray_DIMS(ax));
        if (!y) {
            PyErr_Clear();
            return NULL;
        }
    }
    double t0 = (++tick & 7) == 0 ? now() : 0;
    void *yd = PyArray_DATA((PyArrayObject *)y);
    if (on == ON_SIMD) {
        if (simd_elementwise(op->slot, dt, PyArray_DATA(ax), yd, n) != 0) {
            Py_DECREF(y);
            return NULL;
        }
    } else {
        ew[dt](op->slot, PyArray_DATA(ax), yd, n);
    }
    book(on, op->slot, dt, t0);
    return y;
}

/* The first two arguments as arrays of one dtype: its index, or -1 */
static int pair_index(PyObject *args)
{
    int dt = float_index(PyTuple_GetItem(args, 0));
    return dt >= 0 && float_index(PyTuple_GetItem(args, 1)) == dt ? dt : -1;
}

/* A new (m, n) array, or (n,) when nd is 1, holding act(x @ w + bias): NULL (nothing
 * raised) when it cannot be had or the kernel could not allocate (Python then raises). */
static PyObject *run_linear(FastOp *op, int dt, int nd, PyArrayObject *x, PyArrayObject *w,
                            PyArrayObject *bias, PyObject *out, int act, int64_t m, int64_t n,
                            int64_t k)
{
    npy_intp dims[2] = {(npy_intp)m, (npy_intp)n};
    npy_intp *shape = nd == 2 ? dims : dims + 1;
    PyObject *c;
    if (out) { /* out= sharing no memory with an input */
        PyArrayObject *o = usable_out(out, dt, nd, shape);
        if (!o || overlaps(o, x) || overlaps(o, w) || (bias && overlaps(o, bias)))
            return NULL;
        Py_INCREF(out);
        c = out;
    } else {
        c = new_array(dt, nd, shape);
        if (!c) {
            PyErr_Clear();
            return NULL;
        }
    }
    double t0 = (++tick & 7) == 0 ? now() : 0;
    if (lin[dt](PyArray_DATA(x), PyArray_DATA(w), PyArray_DATA((PyArrayObject *)c),
                bias ? PyArray_DATA(bias) : NULL, act, 1, m, n, k, 0, 0) != 0) {
        Py_DECREF(c);
        return NULL;
    }
    book(ON_CPU, op->slot, dt, t0);
    return c;
}

/* Exactly two positional arguments, arrays of one dtype with nd dimensions each: the dtype
 * index, with *a and *b set; -1 for anything else */
static int operand_pair(PyObject *args, int nd, PyArrayObject **a, PyArrayObject **b)
{
    if (PyTuple_Size(args) != 2)
        return -1;
    int dt = pair_index(args);
    if (dt < 0)
        return -1;
    *a = (PyArrayObject *)PyTuple_GetItem(args, 0);
    *b = (PyArrayObject *)PyTuple_GetItem(args, 1);
    return PyArray_NDIM(*a) == nd && PyArray_NDIM(*b) == nd ? dt : -1;
}

static PyObject *try_matmul(FastOp *op, PyObject *args, PyObject *kwargs)
{
    PyArrayObject *a, *b;
    int dt = operand_pair(args, 2, &a, &b);
    if (dt < 0)
        return NULL;
    int64_t m = PyArray_DIM(a, 0), k = PyArray_DIM(a, 1), n = PyArray_DIM(b, 1);
    PyObject *out;
    if (PyArray_DIM(b, 0) != k || m <= 0 || n <= 0 || k <= 0 ||
        runs_on(op->slot, dt, kwargs, 2.0 * (double)m * (double)n * (double)k, &out) != ON_CPU)
        return NULL;
    return run_linear(op, dt, 2, a, b, NULL, out, -1, m, n, k);
}

static PyObject *try_dot(FastOp *op, PyObject *args, PyObject *kwargs)
{
    PyArrayObject *a, *b;
    int dt = operand_pair(args, 1, &a, &b);
    if (dt < 0)
        return NULL;
    int64_t n = PyArray_DIM(a, 0);
    PyObject *out;
    if (PyArray_DIM(b, 0) != n || n <= 0 ||
        runs_on(op->slot, dt, kwargs, (double)n, &out) != ON_CPU || out)
        return NULL;
    double t0 = (++tick & 7) == 0 ? now() : 0;
    double value = dotk[dt](PyArray_DATA(a), PyArray_DATA(b), n);
    float value32 = (float)value;
    PyObject *r = PyArray_Scalar(dt ? (void *)&value : (void *)&value32, descr[dt], NULL);
    if (!r) {
        PyErr_Clear();
        return NULL;
    }
    book(ON_CPU, op->slot, dt, t0);
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
    int dt = pair_index(args);
    if (dt < 0)
        return NULL;
    PyArrayObject *x = (PyArrayObject *)PyTuple_GetItem(args, 0);
    PyArrayObject *w = (PyArrayObject *)PyTuple_GetItem(args, 1);
    int have_bias = bias != Py_None;
    if (have_bias && float_index(bias) != dt)
        return NULL;
    int nd = PyArray_NDIM(x);
    if ((nd != 1 && nd != 2) || PyArray_NDIM(w) != 2)
        return NULL;
    int64_t m = nd == 2 ? PyArray_DIM(x, 0) : 1, k = PyArray_DIM(w, 0), n = PyArray_DIM(w, 1);
    if (PyArray_DIM(x, nd - 1) != k || k <= 0 || n <= 0 || m <= 0)
        return NULL;
    if (have_bias && (PyArray_NDIM((PyArrayObject *)bias) != 1 ||
                      PyArray_DIM((PyArrayObject *)bias, 0) != n))
        return NULL;
    PyObject *out;
    if (runs_on(op->slot, dt, kwargs, 2.0 * (double)m * (double)n * (double)k, &out) != ON_CPU)
        return NULL;
    return run_linear(op, dt, nd, x, w, have_bias ? (PyArrayObject *)bias : NULL, out, (int)act,
                      m, n, k);
}

/* An exact accel.Array on the registered cpu backend, unspilled, whose _buf is an ndarray of
 * its shape: that ndarray (a new reference); NULL (nothing raised) for anything else */
static PyObject *host_ndarray(PyObject *x)
{
    if (!cpu_backend || (PyObject *)Py_TYPE(x) != array_type)
        return NULL;
    PyObject *b = PyObject_GetAttr(x, s_backend_attr);
    PyObject *spilled = b ? PyObject_GetAttr(x, s_spilled) : NULL;
    PyObject *buf = spilled ? PyObject_GetAttr(x, s_buf) : NULL;
    PyObject *shape = buf ? PyObject_GetAttr(x, s_shape) : NULL;
    int ok = shape && b == cpu_backend && spilled == Py_False && PyArray_CheckExact(buf) &&
             PyTuple_Check(shape) && PyTuple_Size(shape) == PyArray_NDIM((PyArrayObject *)buf);
    for (Py_ssize_t i = 0; ok && i < PyTuple_Size(shape); i++) {
        PyObject *d = PyTuple_GetItem(shape, i);
        ok = PyLong_Check(d) && PyLong_AsSsize_t(d) == PyArray_DIM((PyArrayObject *)buf, (int)i);
    }
    if (PyErr_Occurred())
        PyErr_Clear();
    Py_XDECREF(b);
    Py_XDECREF(spilled);
    Py_XDECREF(shape);
    if (!ok) {
        Py_XDECREF(buf);
        return NULL;
    }
    return buf;
}

/* args with each cpu Array replaced by its ndarray (a new tuple in *swapped), 1; 0 when there
 * are no Arrays; -1 when there is an Array this path does not take (another backend's) */
static int swap_host_arrays(PyObject *args, PyObject **swapped)
{
    Py_ssize_t n = PyTuple_Size(args);
    *swapped = NULL;
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *x = PyTuple_GetItem(args, i);
        if (!array_type || (PyObject *)Py_TYPE(x) != array_type)
            continue;
        PyObject *nd = host_ndarray(x);
        if (!nd) {
            Py_XDECREF(*swapped);
            *swapped = NULL;
            return -1;
        }
        if (!*swapped) { /* a new tuple (a slice of all of args would be args itself) */
            *swapped = PyTuple_New(n);
            if (!*swapped) {
                PyErr_Clear();
                Py_DECREF(nd);
                return -1;
            }
            for (Py_ssize_t j = 0; j < n; j++) {
                PyObject *item = PyTuple_GetItem(args, j);
                Py_INCREF(item);
                PyTuple_SetItem(*swapped, j, item);
            }
        }
        PyTuple_SetItem(*swapped, i, nd); /* steals nd, releases the Array's slot */
    }
    return *swapped ? 1 : 0;
}

static PyObject *fastop_call(PyObject *self, PyObject *args, PyObject *kwargs)
{
    FastOp *op = (FastOp *)self;
    PyObject *swapped;
    int arrays = swap_host_arrays(args, &swapped);
    if (arrays >= 0 && kwargs && op->slot == SLOT_LINEAR) { /* an Array bias= by keyword */
        PyObject *kb = PyDict_GetItemWithError(kwargs, s_bias);
        if (kb && array_type && (PyObject *)Py_TYPE(kb) == array_type)
            arrays = -1;
        PyErr_Clear();
    }
    PyObject *r = NULL;
    if (arrays >= 0) {
        PyObject *use = arrays ? swapped : args;
        host_arrays = arrays;
        r = op->slot == SLOT_MATMUL   ? try_matmul(op, use, kwargs)
            : op->slot == SLOT_DOT    ? try_dot(op, use, kwargs)
            : op->slot == SLOT_LINEAR ? try_linear(op, use, kwargs)
                                      : try_unary(op, use, kwargs);
        host_arrays = 0;
        Py_XDECREF(swapped);
        if (r && arrays && PyArray_CheckExact(r)) { /* results stay where the inputs live */
            PyObject *wrapped = PyObject_CallFunctionObjArgs(host_result, cpu_backend, r, NULL);
            Py_DECREF(r);
            if (!wrapped)
                return NULL;
            r = wrapped;
        }
    }
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

/* configure((elementwise f32, f64, linear f32, f64, dot f32, f64), {activation name: id}) */
static PyObject *configure(PyObject *module, PyObject *args)
{
    (void)module;
    unsigned long long e32, e64, l32, l64, d32, d64;
    PyObject *acts;
    if (!PyArg_ParseTuple(args, "(KKKKKK)O!", &e32, &e64, &l32, &l64, &d32, &d64, &PyDict_Type,
                          &acts))
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
    Py_RETURN_NONE;
}

/* configure_simd(wasmtime_func_call_unchecked, wasmtime_error_delete, wasm_trap_delete,
 *                sizeof(wasmtime_val_raw_t), binder): binder() -> this thread's binding */
static PyObject *configure_simd(PyObject *module, PyObject *args)
{
    (void)module;
    unsigned long long call, error_delete, trap_delete, size;
    PyObject *binder;
    if (!PyArg_ParseTuple(args, "KKKKO", &call, &error_delete, &trap_delete, &size, &binder))
        return NULL;
    if (size < 8 || size > 32 || !call || !error_delete || !trap_delete) {
        PyErr_SetString(PyExc_ValueError, "not a wasmtime C API this path knows");
        return NULL;
    }
    wasm_call = (wasm_call_fn)(uintptr_t)call;
    wasm_error_delete = (wasm_delete_fn)(uintptr_t)error_delete;
    wasm_trap_delete = (wasm_delete_fn)(uintptr_t)trap_delete;
    raw_size = (size_t)size;
    Py_INCREF(binder);
    Py_XDECREF(simd_binder);
    simd_binder = binder;
    simd_gen++;
    Py_RETURN_NONE;
}

/* configure_host(accel.Array, the cpu backend object or None, host_result) */
static PyObject *configure_host(PyObject *module, PyObject *args)
{
    (void)module;
    PyObject *at, *cb, *hr;
    if (!PyArg_ParseTuple(args, "OOO", &at, &cb, &hr))
        return NULL;
    PyObject *keep[3] = {at, cb == Py_None ? NULL : cb, hr};
    PyObject *old[3] = {array_type, cpu_backend, host_result};
    for (int i = 0; i < 3; i++)
        Py_XINCREF(keep[i]);
    array_type = keep[0];
    cpu_backend = keep[1];
    host_result = keep[2];
    for (int i = 0; i < 3; i++)
        Py_XDECREF(old[i]);
    Py_RETURN_NONE;
}

/* set_bound(slot, dtype index, target, on, work): the largest work the fast path takes for
 * calls with backend= None (target 0: the selection's first choice, which is backend `on`,
 * 0 cpu or 1 simd), "cpu" (1) or "simd" (2) */
static PyObject *set_bound(PyObject *module, PyObject *args)
{
    (void)module;
    int slot, dt, target, on;
    double work;
    if (!PyArg_ParseTuple(args, "iiiid", &slot, &dt, &target, &on, &work))
        return NULL;
    if (slot < 0 || slot >= SLOTS || dt < 0 || dt > 1 || target < 0 || target >= TARGETS ||
        on < 0 || on >= BACKENDS_N) {
        PyErr_SetString(PyExc_ValueError, "slot, dtype or target out of range");
        return NULL;
    }
    if (on == ON_SIMD && slot >= SLOT_MATMUL)
        Py_RETURN_NONE; /* simd's fast path is elementwise only */
    bound[target][slot][dt] = work;
    if (target == AUTO)
        auto_on[slot][dt] = on;
    Py_RETURN_NONE;
}

/* No call is fast until bounds are set again; every thread's simd binding is made again. */
static PyObject *reset(PyObject *module, PyObject *noargs)
{
    (void)module;
    (void)noargs;
    memset(bound, 0, sizeof bound);
    simd_gen++;
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

/* take_stats() -> ([(backend index, slot, calls, [seconds...])], (simd copies, bytes each
 * way)), and zeroes them */
static PyObject *take_stats(PyObject *module, PyObject *noargs)
{
    (void)module;
    (void)noargs;
    PyObject *out = PyList_New(0);
    if (!out)
        return NULL;
    for (int on = 0; on < BACKENDS_N; on++)
        for (int s = 0; s < SLOTS; s++)
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
    PyObject *r = Py_BuildValue("(N(LL))", out, moved_calls, moved_bytes);
    moved_calls = moved_bytes = 0;
    return r;
}

static PyMethodDef methods[] = {
    {"make", make, METH_VARARGS, "make(slot, fallback): a fast entry point"},
    {"configure", configure, METH_VARARGS, "configure(addresses, activation ids)"},
    {"configure_simd", configure_simd, METH_VARARGS, "configure_simd(call, ..., binder)"},
    {"configure_host", configure_host, METH_VARARGS, "configure_host(Array, cpu, host_result)"},
    {"configure_pool", configure_pool, METH_VARARGS, "configure_pool(accel_parallel_for)"},
    {"wasm_bands", wasm_bands, METH_VARARGS, "wasm_bands(bands): linear bands on the pool"},
    {"set_bound", set_bound, METH_VARARGS, "set_bound(slot, dtype, target, on, work)"},
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
    import_array();
    descr[0] = PyArray_DescrFromType(NPY_FLOAT);
    descr[1] = PyArray_DescrFromType(NPY_DOUBLE);
    if (!descr[0] || !descr[1])
        return NULL;
    fastop_type = PyType_FromSpec(&fastop_spec);
    if (!fastop_type)
        return NULL;
    s_backend = PyUnicode_InternFromString("backend");
    s_out = PyUnicode_InternFromString("out");
    s_cpu = PyUnicode_InternFromString("cpu");
    s_simd = PyUnicode_InternFromString("simd");
    s_buf = PyUnicode_InternFromString("_buf");
    s_backend_attr = PyUnicode_InternFromString("_backend");
    s_spilled = PyUnicode_InternFromString("_spilled");
    s_shape = PyUnicode_InternFromString("shape");
    s_activation = PyUnicode_InternFromString("activation");
    s_bias = PyUnicode_InternFromString("bias");
    return PyModule_Create(&module_def);
}
