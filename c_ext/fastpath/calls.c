/* calls.c: FastOp, the public ops' entry points.
 *
 * A call runs here when it is the common case and its route is known:
 * - operands: exact numpy arrays (C-contiguous, aligned, native float32/float64) or Arrays of
 *   the cpu or simd backend (unspilled, their buffer an ndarray of their shape or a Block of
 *   the build in force), one dtype;
 * - `out=`: None, such an ndarray for numpy operands (exactly the input for an elementwise op,
 *   else sharing no memory with an input), or an Array of the operands' backend that owns its
 *   buffer (an elementwise op may write its input in place);
 * - the route: for numpy operands, the dispatcher's decision for the selection in force
 *   (`backend=`, else the innermost use_backend frame, else the outer selection), the op, the
 *   dtype and the work; for Arrays, their backend's strict selection, once it ran there.
 * Every other call goes to the op's Python function (`fallback`), which does everything else
 * and raises every error: a call here never raises (but a kernel's allocation failure, which
 * Python then reports).
 *
 * Kernels: cpu's C entry points, with the GIL released around large work; simd's exports
 * through wasmtime's C API on the calling thread's instance, numpy operands copied through
 * its scratch block, Arrays read and written where they are. simd takes small calls only (a
 * large one is split across threads by the Python route).
 */
#include "fastpath.h"

#include <math.h>
#include <string.h>

#define MAX_DIMS 32
#define GIL_FREE_WORK (1 << 20)       /* elements or flops past which the GIL is released */
#define SIMD_ELEMENTS (1 << 16)       /* elementwise work in one simd call on the fast path */
#define SIMD_SPREAD (1 << 15)         /* ... and in parts on the band instances from this size */
#define SIMD_FLOPS (1 << 19)          /* products on simd's fast path */
#define SIMD_DOT (1 << 18)            /* one part of simd's dot (its Python route's _DOT_PART) */
#define ALIGN(x) (((x) + 63) & ~(int64_t)63)

typedef struct {
    PyObject_HEAD
    int slot, kind, act;
    double dflt; /* a norm's default eps */
    PyObject *fallback;
} FastOp;

static PyObject *s_backend, *s_out, *s_bias, *s_activation, *s_weight, *s_eps, *act_ids;

/* An operand: numpy data, or an Array's */
typedef struct {
    int where; /* -1: a numpy array; ON_CPU, ON_SIMD: an Array of that backend */
    int dt;
    int nd;
    npy_intp dims[MAX_DIMS];
    int64_t size;
    char *data;       /* host data (numpy, cpu Array) */
    int64_t offset;   /* simd Array: byte offset in linear memory */
    uintptr_t base;   /* simd Array: its memory's address */
    PyObject *array;  /* the Array, or NULL (borrowed: the caller's argument) */
    PyObject *buf;    /* the Array's buffer (a new reference), or NULL */
    PyObject *shape;  /* the Array's shape tuple (a new reference), or NULL */
    int strided;      /* a view: read at st (elements), not C-contiguous */
    int64_t st[MAX_DIMS];
} Operand;

static void release(Operand *o)
{
    Py_CLEAR(o->buf);
    Py_CLEAR(o->shape);
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

static void from_ndarray(Operand *o, PyArrayObject *a, int dt)
{
    o->dt = dt;
    o->nd = PyArray_NDIM(a);
    o->size = 1;
    for (int i = 0; i < o->nd; i++) {
        o->dims[i] = PyArray_DIM(a, i);
        o->size *= o->dims[i];
    }
    o->data = PyArray_BYTES(a);
}

/* x as an operand: 0, or -1 when it is not one this path takes (nothing raised) */
static int operand(PyObject *x, Operand *o)
{
    o->where = -1;
    o->data = NULL;
    o->offset = 0;
    o->base = 0;
    o->strided = 0;
    o->array = o->buf = o->shape = NULL;
    int dt = float_index(x);
    if (dt >= 0) {
        if (PyArray_NDIM((PyArrayObject *)x) > MAX_DIMS)
            return -1;
        from_ndarray(o, (PyArrayObject *)x, dt);
        return 0;
    }
    if (!fp_array_type || (PyObject *)Py_TYPE(x) != fp_array_type)
        return -1;
    /* (a spilled Array's buffer is an ndarray on the host: not a Block, so never taken) */
    PyObject *b = fp_array_peek(x, SLOT_BACKEND);
    if (!b || (b != fp_cpu && b != fp_simd)) {
        PyErr_Clear();
        return -1;
    }
    o->array = x;
    o->where = b == fp_cpu ? ON_CPU : ON_SIMD;
    o->buf = fp_array_get(x, SLOT_BUF);
    o->shape = o->buf ? fp_array_get(x, SLOT_SHAPE) : NULL;
    if (!o->shape || !PyTuple_CheckExact(o->shape)) {
        PyErr_Clear();
        return -1;
    }
    if (o->where == ON_CPU) { /* an ndarray of the Array's own shape (accel/_array.py) */
        dt = float_index(o->buf);
        if (dt < 0)
            return -1;
        from_ndarray(o, (PyArrayObject *)o->buf, dt);
        return 0;
    }
    if (PyTuple_Size(o->shape) > MAX_DIMS)
        return -1;
    o->nd = (int)PyTuple_Size(o->shape);
    o->size = 1;
    for (int i = 0; i < o->nd; i++) {
        o->dims[i] = PyLong_AsSsize_t(PyTuple_GetItem(o->shape, i));
        o->size *= o->dims[i];
    }
    if (PyErr_Occurred()) {
        PyErr_Clear();
        return -1;
    }
    int64_t nbytes;
    if (!fp_block_offset(o->buf, &o->offset, &o->base, &nbytes))
        return -1;
    PyObject *dtype = fp_array_get(x, SLOT_DTYPE);
    o->dt = dtype == (PyObject *)fp_descr[0] ? 0 : dtype == (PyObject *)fp_descr[1] ? 1 : -1;
    Py_XDECREF(dtype);
    if (PyErr_Occurred())
        PyErr_Clear();
    return o->dt >= 0 && nbytes >= o->size * (o->dt ? 8 : 4) ? 0 : -1;
}

/* The int64 attribute `name` of x, or -1 with nothing raised */
static int64_t int_attr(PyObject *x, const char *name)
{
    PyObject *v = PyObject_GetAttrString(x, name);
    int64_t r = v ? PyLong_AsLongLong(v) : -1;
    Py_XDECREF(v);
    if (PyErr_Occurred()) {
        PyErr_Clear();
        return -1;
    }
    return r;
}

/* x as an operand, an Array that is a view (a slice, a transpose) included: then strided,
 * its data at its base's address plus its offset; 0, or -1 when not one this path takes */
static int strided_operand(PyObject *x, Operand *o)
{
    if (operand(x, o) == 0)
        return 0;
    if (!o->array || !o->buf || !o->shape || !fp_view_type ||
        (PyObject *)Py_TYPE(o->buf) != fp_view_type)
        return -1;
    PyObject *base = PyObject_GetAttrString(o->buf, "base");
    PyObject *strides = base ? PyObject_GetAttrString(o->buf, "strides") : NULL;
    int64_t offset = int_attr(o->buf, "offset");
    int rc = -1;
    PyObject *dtype = fp_array_get(o->array, SLOT_DTYPE);
    o->dt = dtype == (PyObject *)fp_descr[0] ? 0 : dtype == (PyObject *)fp_descr[1] ? 1 : -1;
    Py_XDECREF(dtype);
    Py_ssize_t nd = PyTuple_Size(o->shape);
    if (!strides || !PyTuple_CheckExact(strides) || PyTuple_Size(strides) != nd ||
        nd > MAX_DIMS || offset < 0 || o->dt < 0)
        goto done;
    o->nd = (int)nd;
    o->size = 1;
    for (int i = 0; i < o->nd; i++) {
        o->dims[i] = PyLong_AsSsize_t(PyTuple_GetItem(o->shape, i));
        o->st[i] = PyLong_AsLongLong(PyTuple_GetItem(strides, i));
        o->size *= o->dims[i];
    }
    if (PyErr_Occurred())
        goto done;
    int itemsize = o->dt ? 8 : 4;
    if (o->where == ON_CPU) {
        if (!PyArray_CheckExact(base))
            goto done;
        o->data = PyArray_BYTES((PyArrayObject *)base) + offset * itemsize;
    } else {
        int64_t nbytes;
        if (!fp_block_offset(base, &o->offset, &o->base, &nbytes))
            goto done;
        o->offset += offset * itemsize;
    }
    o->strided = 1;
    Py_DECREF(o->buf); /* its base instead: a simd result goes to that block's pool */
    o->buf = base;
    base = NULL;
    rc = 0;
done:
    PyErr_Clear();
    Py_XDECREF(base);
    Py_XDECREF(strides);
    return rc;
}

/* The selection of a call with numpy operands: its index, or -1 (Python decides) */
static int selection(PyObject *backend)
{
    if (backend) {
        PyObject *i = PyDict_GetItemWithError(fp_named, backend);
        if (!i) {
            PyErr_Clear();
            return -1;
        }
        return (int)PyLong_AsLong(i);
    }
    if (!fp_context_get)
        return -1;
    PyObject *frame = PyObject_CallNoArgs(fp_context_get);
    if (!frame) {
        PyErr_Clear();
        return -1;
    }
    int sel = fp_outer;
    if (frame != Py_None) {
        PyObject *index = PyTuple_Check(frame) ? PyTuple_GetItem(frame, 0) : NULL;
        sel = index ? (int)PyLong_AsLong(index) : -1;
        if (PyErr_Occurred()) {
            PyErr_Clear();
            sel = -1;
        }
    }
    Py_DECREF(frame);
    return sel;
}

/* Where the route of (selection, slot, dtype) sends this much work: ON_CPU, ON_SIMD or -1 */
static int route(int sel, int slot, int dt, double work)
{
    if (sel < 0 || sel >= fp_selections)
        return -1;
    const Routes *r = &fp_routes[sel][slot][dt];
    for (int i = 0; i < r->n; i++)
        if (work >= r->lo[i] && work < r->hi[i])
            return r->on[i];
    return -1;
}

/* the strict selection of a backend */
static int strict_selection(int where) { return fp_strict[where]; }

/* The shape tuple of a result: a recent one of the same shape (tuples are immutable), else a
 * new one, kept for next time */
#define SHAPES 8
#define SHAPE_DIMS 4 /* results of at most this many dimensions are kept */
static PyObject *shapes[SHAPES];
static int shape_nd[SHAPES];
static npy_intp shape_dims[SHAPES][SHAPE_DIMS];
static unsigned next_shape;

static PyObject *new_shape_tuple(int nd, const npy_intp *dims);

static PyObject *shape_tuple(int nd, const npy_intp *dims)
{
    if (nd > SHAPE_DIMS)
        return new_shape_tuple(nd, dims);
    for (int s = 0; s < SHAPES; s++) {
        if (!shapes[s] || shape_nd[s] != nd)
            continue;
        int same = 1;
        for (int i = 0; same && i < nd; i++)
            same = shape_dims[s][i] == dims[i];
        if (same) {
            Py_INCREF(shapes[s]);
            return shapes[s];
        }
    }
    PyObject *t = new_shape_tuple(nd, dims);
    if (t) {
        unsigned s = next_shape++ % SHAPES;
        Py_INCREF(t);
        FP_SET(shapes[s], t);
        shape_nd[s] = nd;
        for (int i = 0; i < nd; i++)
            shape_dims[s][i] = dims[i];
    }
    return t;
}

static PyObject *new_shape_tuple(int nd, const npy_intp *dims)
{
    PyObject *t = PyTuple_New(nd);
    for (int i = 0; t && i < nd; i++) {
        PyObject *d = PyLong_FromSsize_t(dims[i]);
        if (!d) {
            Py_DECREF(t);
            return NULL;
        }
        PyTuple_SetItem(t, i, d);
    }
    return t;
}

/* A new Array of the backend over buf (a new reference taken), its slots set here */
static PyObject *new_array(int where, PyObject *buf, PyObject *shape, int dt)
{
    static PyObject *type;
    static allocfunc alloc;
    if (type != fp_array_type) {
        alloc = (allocfunc)PyType_GetSlot((PyTypeObject *)fp_array_type, Py_tp_alloc);
        type = fp_array_type;
    }
    PyObject *a = alloc((PyTypeObject *)fp_array_type, 0);
    if (!a)
        return NULL;
    if (fp_array_set(a, SLOT_BACKEND, where == ON_CPU ? fp_cpu : fp_simd) < 0 ||
        fp_array_set(a, SLOT_BUF, buf) < 0 || fp_array_set(a, SLOT_SHAPE, shape) < 0 ||
        fp_array_set(a, SLOT_DTYPE, (PyObject *)fp_descr[dt]) < 0) {
        Py_DECREF(a);
        return NULL;
    }
    return a;
}

static PyObject *new_ndarray(int dt, int nd, const npy_intp *dims)
{
    Py_INCREF(fp_descr[dt]);
    return PyArray_NewFromDescr(&PyArray_Type, fp_descr[dt], nd, (npy_intp *)dims, NULL, NULL,
                                0, NULL);
}

/* -- the result ----------------------------------------------------------------------------- */

/* Where a call's result goes: a numpy array, an Array's ndarray (cpu) or block (simd), made
 * fresh or out= */
typedef struct {
    PyObject *object; /* what the call returns (a new reference) */
    PyObject *buf;    /* a fresh Array's buffer (a new reference), or NULL */
    char *data;       /* host data: numpy, or a cpu Array's */
    int64_t offset;   /* a simd Array's, in linear memory */
    int in_memory;    /* 1: the result lives in simd memory (offset) */
} Result;

static int same_dims(const Operand *o, int nd, const npy_intp *dims)
{
    if (o->nd != nd)
        return 0;
    for (int i = 0; i < nd; i++)
        if (o->dims[i] != dims[i])
            return 0;
    return 1;
}

/* whether [a, a + an) and [b, b + bn) meet: host addresses or offsets in linear memory */
static int overlaps(uintptr_t a, int64_t an, uintptr_t b, int64_t bn)
{
    return a < b + (uintptr_t)bn && b < a + (uintptr_t)an;
}

/* Whether out (for a call of operands living `where`) shares memory with any of the n
 * operands (NULL entries skipped): the kernels that take out= need it apart from their inputs */
static int out_overlaps(const Operand *o, int where, Operand *const *ops, int n, int64_t size)
{
    for (int i = 0; i < n; i++) {
        const Operand *p = ops[i];
        if (p && (where == ON_SIMD ? p->where == ON_SIMD &&
                                         overlaps((uintptr_t)o->offset, o->size * size,
                                                  (uintptr_t)p->offset, p->size * size)
                                   : p->where != ON_SIMD &&
                                         overlaps((uintptr_t)o->data, o->size * size,
                                                  (uintptr_t)p->data, p->size * size)))
            return 1;
    }
    return 0;
}

/* The BlockPool of the first simd operand (a simd result goes to its pool), or NULL */
static PyObject *simd_pool(Operand *const *ops, int n)
{
    for (int i = 0; i < n; i++)
        if (ops[i] && ops[i]->where == ON_SIMD)
            return fp_block_pool_of(ops[i]->buf);
    return NULL;
}

/* out= for a call of `where` (numpy operands: -1) with result (nd, dims) of dtype dt: the
 * operand in *o, 0; -1 when this path cannot write it */
static int out_operand(PyObject *out, int where, int dt, int nd, const npy_intp *dims,
                       Operand *o)
{
    if (operand(out, o) < 0 || o->where != where || o->dt != dt || !same_dims(o, nd, dims))
        return -1;
    if (where < 0 && !PyArray_ISWRITEABLE((PyArrayObject *)out))
        return -1;
    return 0;
}

/* A fresh result, or out, for a call whose operands live `where` */
static int make_result(Result *r, int where, int dt, int nd, const npy_intp *dims,
                       Operand *out, PyObject *out_object, PyObject *pool, PyObject *shape)
{
    memset(r, 0, sizeof *r);
    if (out_object) {
        Py_INCREF(out_object);
        r->object = out_object;
        r->data = out->data;
        r->offset = out->offset;
        r->in_memory = where == ON_SIMD;
        return 0;
    }
    int64_t size = 1;
    for (int i = 0; i < nd; i++)
        size *= dims[i];
    if (where != ON_SIMD) { /* a cpu Array's buffer may be one recycled (hostcache.c) */
        PyObject *arr = where == ON_CPU ? fp_host_buffer(dt, nd, dims) : new_ndarray(dt, nd, dims);
        if (!arr)
            goto fail;
        r->data = PyArray_BYTES((PyArrayObject *)arr);
        if (where < 0) {
            r->object = arr;
            return 0;
        }
        r->buf = arr;
    } else {
        r->buf = fp_block_take(pool, size * (dt ? 8 : 4));
        if (!r->buf)
            goto fail;
        int64_t nbytes;
        uintptr_t base;
        fp_block_offset(r->buf, &r->offset, &base, &nbytes);
        r->in_memory = 1;
    }
    PyObject *owned = shape ? (Py_INCREF(shape), shape) : shape_tuple(nd, dims);
    r->object = owned ? new_array(where, r->buf, owned, dt) : NULL;
    Py_XDECREF(owned);
    if (!r->object)
        goto fail;
    return 0;
fail:
    PyErr_Clear();
    Py_CLEAR(r->buf);
    return -1;
}

static void drop_result(Result *r)
{
    Py_CLEAR(r->object);
    Py_CLEAR(r->buf);
}

static PyObject *finish(Result *r)
{
    Py_CLEAR(r->buf);
    return r->object;
}

/* -- simd: numpy operands through the thread's scratch ------------------------------------ */

typedef struct {
    WasmThread *t;
    int64_t used;     /* bytes of the scratch block taken so far */
    int64_t up, down; /* bytes copied in and out */
} Scratch;

/* The operand's address in linear memory: an Array's own, or a copy of numpy data placed in
 * the scratch block; -1 when it does not fit */
static int64_t place(Scratch *s, const Operand *o)
{
    if (o->where == ON_SIMD)
        return o->offset;
    int64_t nbytes = o->size * (o->dt ? 8 : 4);
    int64_t at = s->used;
    if (at + nbytes > (int64_t)s->t->bytes)
        return -1;
    memcpy(s->t->base + s->t->offset + at, o->data, (size_t)nbytes);
    s->used = ALIGN(at + nbytes);
    s->up += nbytes;
    return (int64_t)s->t->offset + at;
}

/* room for nbytes in the scratch block: its address in linear memory, or -1 */
static int64_t reserve(Scratch *s, int64_t nbytes)
{
    int64_t at = s->used;
    if (at + nbytes > (int64_t)s->t->bytes)
        return -1;
    s->used = ALIGN(at + nbytes);
    return (int64_t)s->t->offset + at;
}

static int invoke(WasmThread *t, int export, const int64_t *args, int n, int64_t *result)
{
    return accel_wasm_invoke(&fp_wasm, t->ctx, t->func[export], args, n, result);
}

/* the binding, and every simd operand of this build (its memory) */
static WasmThread *simd_thread(Operand **ops, int n)
{
    WasmThread *t = fp_wasm_thread();
    if (!t)
        return NULL;
    for (int i = 0; i < n; i++)
        if (ops[i] && ops[i]->where == ON_SIMD && ops[i]->base != (uintptr_t)t->base)
            return NULL; /* made under the other module build: Python raises */
    return t;
}

/* A simd result computed at `at` in the scratch block: copied out where the result goes */
static void copy_out(Scratch *s, Result *r, int64_t at, int64_t nbytes)
{
    if (r->in_memory)
        return;
    memcpy(r->data, s->t->base + at, (size_t)nbytes);
    s->down += nbytes;
}

static void book_copies(const Scratch *s)
{
    if (s->up || s->down) {
        fp_moved_calls++;
        fp_moved_up += s->up;
        fp_moved_down += s->down;
    }
}

/* plan.h's kinds of split, as the module's plan export gives them */
enum { SPLIT_NONE, SPLIT_ITEMS, SPLIT_ROWS, SPLIT_COLS };

static PyObject *s_acquire, *s_release;

/* Runs `count` calls of export `ex` (EX_* plus the dtype), call i with the nargs arguments
 * args[i], each on a band instance of its own (where `scratch_at` >= 0, argument scratch_at
 * is set to that instance's scratch block), on the native pool with the GIL released and the
 * band instances' lock held (the simd workers' lock, which the Python route's bands take
 * too). 0 when they ran; 1 when they did not (nothing written): no band instances here, too
 * few, another caller has them, or a reset came meanwhile (they may be a dropped build's);
 * -1 when a band trapped. t: the calling thread's binding, which must still be current. */
static int on_bands(Bands *bd, WasmThread *t, int ex, int64_t (*args)[ACCEL_WASM_BAND_ARGS],
                    int nargs, int64_t count, int scratch_at)
{
    if (!bd || count < 1 || count > bd->n || nargs > ACCEL_WASM_BAND_ARGS)
        return 1;
    accel_wasm_band band[MAX_BANDS];
    for (int64_t i = 0; i < count; i++) {
        memcpy(band[i].args, args[i], (size_t)nargs * sizeof(int64_t));
        if (scratch_at >= 0)
            band[i].args[scratch_at] = bd->inst[i].scratch;
        band[i].ctx = bd->inst[i].ctx;
        band[i].func = (void *)bd->inst[i].func[ex];
        band[i].nargs = nargs;
        band[i].failed = 0;
    }
    PyObject *lock = bd->lock; /* (the lock this call took is the one it gives back) */
    Py_INCREF(lock);
    PyObject *got = PyObject_CallMethodObjArgs(lock, s_acquire, Py_False, NULL);
    int held = got == Py_True;
    Py_XDECREF(got);
    PyErr_Clear();
    if (!held) {
        Py_DECREF(lock);
        return 1;
    }
    int failed = 0;
    if (bd->gen != fp_wasm_gen || t->gen != fp_wasm_gen) {
        failed = 1;
    } else {
        /* read before the GIL goes (a reset may rebind meanwhile); the instances stay, held
         * by their build while this holds the lock, and by the binding kept here */
        wasm_bands_fn run = bd->run;
        accel_wasm_api api = fp_wasm;
        PyObject *keep = bd->binding;
        Py_INCREF(keep);
        Py_BEGIN_ALLOW_THREADS
        failed = run((uintptr_t)api.call, (uintptr_t)api.error_delete,
                     (uintptr_t)api.trap_delete, api.raw_size, band, count) ? -1 : 0;
        Py_END_ALLOW_THREADS
        Py_DECREF(keep);
    }
    PyObject *done = PyObject_CallMethodObjArgs(lock, s_release, NULL);
    Py_DECREF(lock);
    Py_XDECREF(done);
    PyErr_Clear();
    return failed;
}

/* How many parts elementwise work of `size` elements goes in on the band instances (1: one
 * call in this thread): from SIMD_SPREAD elements, or a quarter of that where the activation
 * costs more than a compare. */
static int64_t spread_parts(const Bands *bd, int64_t size, int act)
{
    int64_t least = act == ACT_NONE || act == ACT_RELU ? SIMD_SPREAD : SIMD_SPREAD / 4;
    if (!bd || size < least)
        return 1;
    return bd->n;
}

/* The extent of each of `parts` parts of `extent` (the last may be shorter), a multiple of
 * `unit` (whole vectors of a row) */
static int64_t part_step(int64_t extent, int64_t parts, int64_t unit)
{
    int64_t step = (extent + parts - 1) / parts;
    return (step + unit - 1) / unit * unit;
}

/* The `count` calls of export `ex` that make one op's work (call i with the nargs arguments
 * args[i]): on the band instances where there are several, else, or while the band instances
 * are another caller's and the work (`size` elements) is within one call's size, in turn on
 * this thread's instance. 0; 1 when the Python route takes the call (nothing written); -1 on
 * a trap. */
static int run_parts(Bands *bd, WasmThread *t, int ex, int64_t (*args)[ACCEL_WASM_BAND_ARGS],
                     int nargs, int64_t count, int64_t size)
{
    int rc = count > 1 ? on_bands(bd, t, ex, args, nargs, count, -1) : 1;
    if (rc != 1)
        return rc;
    if (count > 1 && size >= SIMD_ELEMENTS)
        return 1;
    for (int64_t i = 0; i < count; i++)
        if (invoke(t, ex, args[i], nargs, NULL) != 0)
            return -1;
    return 0;
}

/* -- the calls ----------------------------------------------------------------------------- */

typedef struct {
    PyObject *backend; /* backend= (NULL when None or absent) */
    PyObject *out;     /* out= (NULL when None or absent) */
    PyObject *bias;    /* linear's or a norm's bias (NULL: none) */
    PyObject *activation;
    PyObject *weight; /* a norm's weight= (NULL: none) */
    PyObject *eps;    /* a norm's eps= (NULL: its default) */
} Keywords;

/* the keywords of a call (names in kwnames, values after the positional arguments): 0, or -1
 * when one is not this path's to take */
static int keywords(const FastOp *op, PyObject *const *values, PyObject *kwnames, Keywords *k)
{
    memset(k, 0, sizeof *k);
    if (!kwnames)
        return 0;
    Py_ssize_t count = PyTuple_Size(kwnames);
    for (Py_ssize_t i = 0; i < count; i++) {
        PyObject *key = PyTuple_GetItem(kwnames, i), *value = values[i];
        /* keyword names are interned: the same object, else a string compare */
        if (key == s_backend || PyUnicode_Compare(key, s_backend) == 0)
            k->backend = value == Py_None ? NULL : value;
        else if (op->kind != KIND_DOT && (key == s_out || PyUnicode_Compare(key, s_out) == 0))
            k->out = value == Py_None ? NULL : value;
        else if ((op->kind == KIND_LINEAR || op->kind == KIND_NORM) &&
                 (key == s_bias || PyUnicode_Compare(key, s_bias) == 0))
            k->bias = value == Py_None ? NULL : value;
        else if (op->kind == KIND_NORM &&
                 (key == s_weight || PyUnicode_Compare(key, s_weight) == 0))
            k->weight = value == Py_None ? NULL : value;
        else if (op->kind == KIND_NORM && (key == s_eps || PyUnicode_Compare(key, s_eps) == 0))
            k->eps = value;
        else if (op->kind == KIND_LINEAR &&
                 (key == s_activation || PyUnicode_Compare(key, s_activation) == 0))
            k->activation = value;
        else
            return -1; /* an unknown keyword: Python raises the TypeError */
        if (PyErr_Occurred()) {
            PyErr_Clear();
            return -1;
        }
    }
    return 0;
}

/* Where a call of these operands runs: ON_CPU or ON_SIMD, or -1 (Python decides) */
static int where_to(const FastOp *op, const Keywords *k, Operand **ops, int n, int dt,
                    double work)
{
    int arrays = -1;
    for (int i = 0; i < n; i++) {
        if (!ops[i])
            continue;
        if (ops[i]->dt != dt)
            return -1; /* mixed dtypes: Python promotes */
        if (ops[i]->where >= 0) {
            if (arrays >= 0 && arrays != ops[i]->where)
                return -1; /* Arrays on two backends: Python raises */
            arrays = ops[i]->where;
        }
    }
    if (arrays >= 0) /* the data decides, strictly; backend= is Python's to check */
        return k->backend ? -1
                          : route(strict_selection(arrays), op->slot, dt, work) == arrays
                                ? arrays
                                : -1;
    return route(selection(k->backend), op->slot, dt, work);
}

static PyObject *map_core(FastOp *op, int kid, int act, Operand *x, const int *taken,
                          int nargs, double value, const Keywords *k);

static PyObject *run_unary(FastOp *op, PyObject *const *args, Py_ssize_t nargs, const Keywords *k)
{
    if (nargs != 1)
        return NULL;
    Operand x, o;
    PyObject *y = NULL;
    if (strided_operand(args[0], &x) < 0 || x.size == 0)
        goto done;
    if (x.strided) { /* a view: its copy and the activation in one map kernel */
        if (op->kind == KIND_ELEMENTWISE && !k->out) {
            int taken[2] = {1, 0};
            y = map_core(op, MAP_COPY, op->act, &x, taken, 1, 0.0, k);
        }
        goto done;
    }
    int64_t n = x.size, cols = x.nd ? x.dims[x.nd - 1] : 1;
    Operand *ops[1] = {&x};
    int on = where_to(op, k, ops, 1, x.dt, (double)n);
    if (on < 0)
        goto done;
    int have_out = k->out != NULL;
    memset(&o, 0, sizeof o);
    if (have_out) { /* written exactly in place, or with no overlap at all */
        if (out_operand(k->out, x.where, x.dt, x.nd, x.dims, &o) < 0)
            goto done_out;
        int64_t nbytes = n * (x.dt ? 8 : 4);
        if (x.where == ON_SIMD ? o.offset != x.offset &&
                                     overlaps((uintptr_t)o.offset, nbytes, (uintptr_t)x.offset,
                                              nbytes)
                               : o.data != x.data && overlaps((uintptr_t)o.data, nbytes,
                                                              (uintptr_t)x.data, nbytes))
            goto done_out;
    }
    PyObject *pool = x.where == ON_SIMD ? fp_block_pool_of(x.buf) : NULL;
    Result r;
    /* simd: large work in parts on the band instances (softmax by rows), else one call */
    int softmax = op->kind == KIND_SOFTMAX;
    Bands *bd = on == ON_SIMD && n >= SIMD_SPREAD / 4 ? fp_wasm_bands() : NULL;
    int64_t parts = spread_parts(bd, n, softmax ? ACT_TANH : op->act);
    if (softmax && parts > n / cols)
        parts = n / cols;
    if (on == ON_SIMD && parts <= 1 && n >= SIMD_ELEMENTS)
        goto done_out;
    double t0 = (++fp_tick & 7) == 0 ? fp_now() : 0;
    if (on == ON_CPU) {
        if (make_result(&r, x.where, x.dt, x.nd, x.dims, &o, k->out, pool, x.shape) < 0)
            goto done_out;
        /* the entry points read while the GIL is held: another thread may configure them */
        softmax_fn softmax = fp_softmax[x.dt];
        elementwise_fn elementwise = fp_elementwise[x.dt];
        if (op->kind == KIND_SOFTMAX) {
            if (n >= GIL_FREE_WORK) {
                Py_BEGIN_ALLOW_THREADS
                softmax(x.data, r.data, n / cols, cols);
                Py_END_ALLOW_THREADS
            } else {
                softmax(x.data, r.data, n / cols, cols);
            }
        } else if (n >= GIL_FREE_WORK) {
            Py_BEGIN_ALLOW_THREADS
            elementwise(op->act, x.data, r.data, n);
            Py_END_ALLOW_THREADS
        } else {
            elementwise(op->act, x.data, r.data, n);
        }
    } else {
        Operand *all[2] = {&x, have_out ? &o : NULL};
        WasmThread *t = simd_thread(all, 2);
        if (!t || make_result(&r, x.where, x.dt, x.nd, x.dims, &o, k->out, pool, x.shape) < 0)
            goto done_out;
        Scratch s = {t, 0, 0, 0};
        int64_t at_x = place(&s, &x);
        int64_t at_y = r.in_memory ? r.offset : at_x; /* numpy: in place in the scratch */
        int rc = -1;
        int64_t size = x.dt ? 8 : 4;
        if (at_x >= 0) { /* parts of whole rows (softmax) or of whole vectors (64 bytes) */
            int64_t extent = softmax ? n / cols : n, unit = softmax ? cols : 1;
            int64_t step = part_step(extent, parts, softmax ? 1 : 64 / size);
            int64_t args[MAX_BANDS][ACCEL_WASM_BAND_ARGS], count = 0;
            for (int64_t i0 = 0; i0 < extent; i0 += step, count++) {
                int64_t len = extent - i0 < step ? extent - i0 : step;
                int64_t *v = args[count];
                int64_t xi = at_x + i0 * unit * size, yi = at_y + i0 * unit * size;
                if (softmax) {
                    v[0] = xi, v[1] = yi, v[2] = len, v[3] = cols;
                } else {
                    v[0] = op->act, v[1] = xi, v[2] = yi, v[3] = len;
                }
            }
            rc = run_parts(bd, t, (softmax ? EX_SOFTMAX : EX_ELEMENTWISE) + x.dt, args, 4,
                           count, n);
        }
        if (rc != 0) {
            drop_result(&r);
            goto done_out;
        }
        copy_out(&s, &r, at_y, n * (x.dt ? 8 : 4));
        book_copies(&s);
    }
    fp_book(on, op->slot, x.dt, t0);
    y = finish(&r);
done_out:
    if (have_out)
        release(&o);
done:
    release(&x);
    return y;
}

/* -- the map ops: negative and the binary arithmetic, broadcast -------------------------- */

#define MAP_DIMS 8 /* accel_cpu.h's ACCEL_MAP_DIMS */

/* A Python int or float (not bool, not a numpy scalar): 1 and its value; 0 for anything
 * else; -1 for an int a double does not hold exactly (Python decides) */
static int python_number(PyObject *x, double *v)
{
    if (PyFloat_CheckExact(x)) {
        *v = PyFloat_AsDouble(x);
        return 1;
    }
    if (PyLong_CheckExact(x)) {
        int overflow;
        long long i = PyLong_AsLongLongAndOverflow(x, &overflow);
        if (overflow || i > (1LL << 53) || i < -(1LL << 53)) {
            PyErr_Clear();
            return -1;
        }
        *v = (double)i;
        return 1;
    }
    return 0;
}

/* act(kid(a[, b])) for operands x (taken[i]: an array operand, else the Python number
 * `value`), broadcast as numpy does, into a fresh C-contiguous result: map kernel `kid` of
 * maps.h, `act` an activation id or ACT_NONE. Dimensions that every operand walks as one are
 * merged before the kernel sees them. NULL when this path does not take the call. */
static PyObject *map_core(FastOp *op, int kid, int act, Operand *x, const int *taken,
                          int nargs, double value, const Keywords *k)
{
    int first = taken[0] ? 0 : 1; /* an array operand */
    int dt = x[first].dt;
    int nd = 0;
    for (int i = 0; i < nargs; i++)
        if (taken[i] && x[i].nd > nd)
            nd = x[i].nd;
    if (nd > MAP_DIMS)
        return NULL;
    /* the broadcast shape, and each operand's strides over it (0 where it repeats) */
    npy_intp dims[MAP_DIMS];
    int64_t st[2][MAP_DIMS];
    int64_t size = 1;
    for (int d = 0; d < nd; d++) {
        npy_intp n = 1;
        for (int i = 0; i < nargs; i++) {
            if (!taken[i] || d < nd - x[i].nd)
                continue;
            npy_intp m = x[i].dims[d - (nd - x[i].nd)];
            if (m != 1 && n != 1 && m != n)
                return NULL; /* Python raises */
            if (m != 1)
                n = m;
        }
        dims[d] = n;
        size *= n;
    }
    if (size == 0)
        return NULL;
    for (int i = 0; i < 2; i++) {
        int64_t step = 1;
        for (int d = nd - 1; d >= 0; d--) {
            int od = d - (nd - (i < nargs && taken[i] ? x[i].nd : 0));
            npy_intp m = i < nargs && taken[i] && od >= 0 ? x[i].dims[od] : 1;
            st[i][d] = m == 1 ? 0 : x[i].strided ? x[i].st[od] : step;
            step *= m;
        }
    }
    /* merged dimensions (size-1 ones dropped) */
    int64_t shape[MAP_DIMS], sa[MAP_DIMS] = {0}, sb[MAP_DIMS] = {0};
    int m = 0;
    for (int d = 0; d < nd; d++) {
        if (dims[d] == 1)
            continue;
        if (m && sa[m - 1] == st[0][d] * dims[d] && sb[m - 1] == st[1][d] * dims[d]) {
            shape[m - 1] *= dims[d];
            sa[m - 1] = st[0][d];
            sb[m - 1] = st[1][d];
            continue;
        }
        shape[m] = dims[d];
        sa[m] = st[0][d];
        sb[m] = st[1][d];
        m++;
    }
    if (m == 0) {
        shape[0] = 1;
        m = 1;
    }
    Operand *ops[2] = {taken[0] ? &x[0] : NULL, nargs == 2 && taken[1] ? &x[1] : NULL};
    int on = where_to(op, k, ops, 2, dt, (double)size);
    if (on < 0)
        return NULL;
    /* simd: large work in parts on the band instances, else one call */
    Bands *bd = on == ON_SIMD && size >= SIMD_SPREAD / 4 ? fp_wasm_bands() : NULL;
    int64_t parts = spread_parts(bd, size, act);
    if (on == ON_SIMD && parts <= 1 && size >= SIMD_ELEMENTS)
        return NULL;
    int where = -1;
    PyObject *pool = NULL, *shape_obj = NULL;
    for (int i = 0; i < nargs; i++) {
        if (!taken[i])
            continue;
        if (x[i].where >= 0)
            where = x[i].where;
        if (x[i].where == ON_SIMD)
            pool = fp_block_pool_of(x[i].buf);
        if (x[i].shape && same_dims(&x[i], nd, dims))
            shape_obj = x[i].shape;
    }
    Result r;
    Operand none;
    memset(&none, 0, sizeof none);
    double t0 = (++fp_tick & 7) == 0 ? fp_now() : 0;
    int itemsize = dt ? 8 : 4;
    int at = !taken[0] ? 1 : nargs == 2 && !taken[1] ? 2 : 0;
    if (on == ON_CPU) {
        if (make_result(&r, where, dt, nd, dims, &none, NULL, pool, shape_obj) < 0)
            return NULL;
        map_fn map = fp_map[dt]; /* read with the GIL held (see run_unary) */
        const void *pa = taken[0] ? x[0].data : NULL;
        const void *pb = nargs == 2 && taken[1] ? x[1].data : NULL;
        if (size >= GIL_FREE_WORK) {
            Py_BEGIN_ALLOW_THREADS
            map(kid, act, pa, sa, pb, sb, r.data, shape, m, value, at);
            Py_END_ALLOW_THREADS
        } else {
            map(kid, act, pa, sa, pb, sb, r.data, shape, m, value, at);
        }
    } else {
        WasmThread *t = simd_thread(ops, 2);
        if (!t || make_result(&r, where, dt, nd, dims, &none, NULL, pool, shape_obj) < 0)
            return NULL;
        Scratch s = {t, 0, 0, 0};
        int64_t rows = 1, bits;
        for (int d = 0; d < m - 1; d++)
            rows *= shape[d];
        /* in parts: of rows, which share one shape; of one row (one dimension), each part
         * with its own length */
        int64_t extent = m >= 2 ? rows : shape[0];
        int64_t step = part_step(extent, parts, m >= 2 ? 1 : 64 / itemsize);
        int64_t count = (extent + step - 1) / step, metas = m >= 2 ? 1 : count;
        int64_t at_meta = reserve(&s, 3 * m * 8 * metas);
        int64_t at_a = taken[0] ? place(&s, &x[0]) : 0;
        int64_t at_b = nargs == 2 && taken[1] ? place(&s, &x[1]) : 0;
        int64_t at_y = r.in_memory ? r.offset : reserve(&s, size * itemsize);
        int rc = -1;
        if (at_meta >= 0 && at_a >= 0 && at_b >= 0 && at_y >= 0) {
            memcpy(&bits, &value, sizeof bits);
            int64_t args[MAX_BANDS][ACCEL_WASM_BAND_ARGS];
            for (int64_t i = 0; i < count && i < MAX_BANDS; i++) {
                int64_t i0 = i * step, len = extent - i0 < step ? extent - i0 : step;
                int64_t *meta = (int64_t *)(void *)(t->base + at_meta + (m >= 2 ? 0 : i) * 24);
                for (int d = 0; d < m; d++) {
                    meta[d] = shape[d];
                    meta[m + d] = sa[d];
                    meta[2 * m + d] = sb[d];
                }
                int64_t *v = args[i];
                if (m >= 2) { /* rows i0 .. i0 + len */
                    int64_t part[11] = {kid, act, at_a, at_b, at_y, at_meta, m, i0, i0 + len,
                                        bits, at};
                    memcpy(v, part, sizeof part);
                } else { /* elements i0 .. i0 + len of the one dimension */
                    meta[0] = len;
                    int64_t part[11] = {kid, act, at_a + i0 * sa[0] * itemsize,
                                        at_b + i0 * sb[0] * itemsize, at_y + i0 * itemsize,
                                        at_meta + i * 24, 1, 0, 1, bits, at};
                    memcpy(v, part, sizeof part);
                }
            }
            rc = run_parts(bd, t, EX_MAP + dt, args, 11, count, size);
        }
        if (rc != 0) {
            drop_result(&r);
            return NULL;
        }
        copy_out(&s, &r, at_y, size * itemsize);
        book_copies(&s);
    }
    fp_book(on, op->slot, dt, t0);
    return finish(&r);
}

/* negative(x) and the binary ops: operands numpy arrays or Arrays of one backend (views
 * included) or one Python number, out= not given */
static PyObject *run_map(FastOp *op, PyObject *const *args, Py_ssize_t nargs, const Keywords *k)
{
    if ((nargs != 1 && nargs != 2) || k->out)
        return NULL;
    Operand x[2];
    int taken[2] = {0, 0}, held[2] = {0, 0}, numbers = 0;
    double value = 0;
    PyObject *y = NULL;
    for (int i = 0; i < nargs; i++) {
        int num = python_number(args[i], &value);
        if (num < 0 || (num && (numbers || nargs == 1)))
            goto done;
        if (num) {
            numbers++;
            continue;
        }
        held[i] = 1;
        if (strided_operand(args[i], &x[i]) < 0)
            goto done;
        taken[i] = 1;
    }
    y = map_core(op, op->act, ACT_NONE, x, taken, (int)nargs, value, k);
done:
    for (int i = 0; i < 2; i++)
        if (held[i])
            release(&x[i]);
    return y;
}

/* Whether a view is the matrix transpose (.mT) of C-contiguous (..., N, K) memory: the
 * kernels then read it in place as B transposed */
static int transposed_view(const Operand *o)
{
    if (!o->strided || o->nd < 2)
        return 0;
    int64_t want[MAX_DIMS];
    want[o->nd - 2] = 1;
    want[o->nd - 1] = o->dims[o->nd - 2];
    int64_t step = o->dims[o->nd - 2] * o->dims[o->nd - 1];
    for (int i = o->nd - 3; i >= 0; i--) {
        want[i] = step;
        step *= o->dims[i];
    }
    for (int i = 0; i < o->nd; i++)
        if (o->dims[i] != 1 && o->st[i] != want[i])
            return 0;
    return 1;
}

/* A cpu view made C-contiguous in an ndarray of its own (*tmp, which the caller releases:
 * a recycled buffer, hostcache.c), by the map kernel's copy: the product's operands are then
 * read as whole arrays. -1 when it cannot be (not on cpu, too many dimensions, no memory). */
static int contiguous_copy(Operand *o, PyObject **tmp)
{
    if (o->where != ON_CPU || o->nd < 1 || o->nd > MAP_DIMS)
        return -1;
    PyObject *arr = fp_host_buffer(o->dt, o->nd, o->dims);
    if (!arr)
        return -1;
    int64_t shape[MAP_DIMS], sa[MAP_DIMS], sb[MAP_DIMS] = {0};
    for (int i = 0; i < o->nd; i++) {
        shape[i] = o->dims[i];
        sa[i] = o->st[i];
    }
    void *p = PyArray_DATA((PyArrayObject *)arr);
    if (o->size > 0)
        fp_map[o->dt](MAP_COPY, ACT_NONE, o->data, sa, NULL, sb, p, shape, o->nd, 0.0, 0);
    o->data = p;
    o->strided = 0;
    *tmp = arr;
    return 0;
}

/* A simd product past SIMD_FLOPS: split as the module's plan export says (the split the
 * Python route's bands take, accel/backends/simd/_kernels.py), each band a call of the linear
 * export with the scratch of its band instance. argv: the linear export's arguments for the
 * whole product (scratch aside; bias per column, A and B with their batch strides). 0 when
 * the bands ran; else (-1) the Python route takes the call: no split, a split into more bands
 * than there are instances, packing past their scratch, or on_bands declined. */
static int run_bands(Bands *bd, WasmThread *t, int dt, const int64_t *argv)
{
    if (!bd || t->gen != fp_wasm_gen)
        return -1;
    int64_t batch = argv[5], m = argv[6], n = argv[7], kk = argv[8];
    int64_t plan = 0, pargs[6] = {batch, m, n, kk, bd->n, SIMD_FLOPS};
    if (invoke(t, EX_PLAN + dt, pargs, 6, &plan) != 0)
        return -1;
    int kind = (int)(plan & 0xFF);
    int64_t step = plan >> 8;
    if (kind == SPLIT_NONE || step <= 0)
        return -1;
    int64_t per = kind == SPLIT_ROWS ? (m + step - 1) / step
                : kind == SPLIT_COLS ? (n + step - 1) / step : 1;
    int64_t count = kind == SPLIT_ITEMS ? (batch + step - 1) / step : per * batch;
    if (count < 1 || count > bd->n)
        return -1;
    /* the first band is the largest: its packing must fit each instance's scratch */
    int64_t first[3] = {kind == SPLIT_ROWS ? step : m, kind == SPLIT_COLS ? step : n, kk};
    int64_t packing = 0;
    if (first[0] > m)
        first[0] = m;
    if (first[1] > n)
        first[1] = n;
    if (invoke(t, EX_SCRATCH + dt, first, 3, &packing) != 0)
        return -1;
    for (int64_t i = 0; i < count; i++)
        if (bd->inst[i].bytes < packing)
            return -1;
    int64_t args[MAX_BANDS][ACCEL_WASM_BAND_ARGS];
    int64_t size = dt ? 8 : 4, a_step = argv[9], b_step = argv[10];
    int64_t at_a = argv[0], at_b = argv[1], at_c = argv[2], at_bias = argv[3];
    for (int64_t i = 0; i < count; i++) {
        int64_t *v = args[i];
        memcpy(v, argv, 15 * sizeof *v);
        if (kind == SPLIT_ITEMS) {
            int64_t i0 = i * step;
            v[0] = at_a + i0 * a_step * size;
            v[1] = at_b + i0 * b_step * size;
            v[2] = at_c + i0 * m * n * size;
            v[5] = batch - i0 < step ? batch - i0 : step;
        } else {
            int64_t item = i / per, t0 = i % per * step;
            int64_t a0 = at_a + item * a_step * size, b0 = at_b + item * b_step * size;
            int64_t c0 = at_c + item * m * n * size;
            v[5] = 1;
            v[9] = v[10] = 0;
            if (kind == SPLIT_ROWS) {
                v[0] = a0 + t0 * kk * size;
                v[1] = b0;
                v[2] = c0 + t0 * n * size;
                v[6] = m - t0 < step ? m - t0 : step;
            } else {
                v[0] = a0;
                v[1] = b0 + t0 * size;
                v[2] = c0 + t0 * size;
                v[3] = at_bias ? at_bias + t0 * size : 0;
                v[7] = n - t0 < step ? n - t0 : step;
            }
        }
    }
    return on_bands(bd, t, EX_LINEAR + dt, args, 15, count, 11);
}

/* matmul(a, b) and linear(x, w, bias, activation=): x (..., M, K) or (K,) with w (K, N), or
 * a batch of products with the same batch axes; views of cpu Arrays as operands */
static PyObject *run_product(FastOp *op, PyObject *const *args, Py_ssize_t nargs,
                             const Keywords *k)
{
    int linear = op->kind == KIND_LINEAR;
    if (nargs != 2 && !(linear && nargs == 3))
        return NULL;
    PyObject *bias_obj = k->bias;
    if (nargs == 3) {
        if (k->bias)
            return NULL; /* given twice: Python raises */
        bias_obj = args[2];
        if (bias_obj == Py_None)
            bias_obj = NULL;
    }
    int act = -1;
    if (k->activation && k->activation != Py_None) {
        static PyObject *last_name; /* the name seen last, and its id: a pointer compare */
        static int last_id;
        if (k->activation == last_name) {
            act = last_id;
        } else {
            PyObject *id = act_ids ? PyDict_GetItemWithError(act_ids, k->activation) : NULL;
            if (!id) {
                PyErr_Clear();
                return NULL; /* an unknown name: Python raises the ValueError */
            }
            act = (int)PyLong_AsLong(id);
            Py_INCREF(k->activation);
            FP_SET(last_name, k->activation);
            last_id = act;
        }
    }
    Operand a, b, bias, o;
    int have_bias = bias_obj != NULL, have_out = k->out != NULL;
    PyObject *c = NULL;
    PyObject *tmp_a = NULL, *tmp_b = NULL; /* views of cpu Arrays, copied */
    int trans_b = 0;                  /* b is a .mT, read in place */
    memset(&b, 0, sizeof b);
    memset(&bias, 0, sizeof bias);
    memset(&o, 0, sizeof o);
    bias.where = o.where = -1;
    if (strided_operand(args[0], &a) < 0) {
        release(&a);
        return NULL;
    }
    if (strided_operand(args[1], &b) < 0 || (have_bias && operand(bias_obj, &bias) < 0))
        goto done;
    /* views of cpu Arrays: a transposed B is read in place, any other view copied first */
    trans_b = transposed_view(&b);
    if ((a.strided && contiguous_copy(&a, &tmp_a) < 0) ||
        (b.strided && !trans_b && contiguous_copy(&b, &tmp_b) < 0))
        goto done;
    /* shapes: a (..., M, K) (or (K,) for linear), b (K, N), bias (N,): a's leading axes are
     * more rows; or (matmul) a (..., M, K) and b (..., K, N) with the same batch axes: a batch
     * of products in one call */
    int64_t batch = 1, a_step = 0, b_step = 0;
    int batched = !linear && b.nd >= 3 && a.nd == b.nd && !have_bias;
    for (int i = 0; batched && i < a.nd - 2; i++)
        batched = a.dims[i] == b.dims[i];
    if ((b.nd != 2 && !batched) || (a.nd < 2 && !(linear && a.nd == 1)) ||
        (have_bias && bias.nd != 1))
        goto done;
    int64_t m = 1, kk = a.dims[a.nd - 1], n = b.dims[b.nd - 1];
    for (int i = 0; i < a.nd - 1; i++)
        m *= a.dims[i];
    if (batched) {
        for (int i = 0; i < a.nd - 2; i++)
            batch *= a.dims[i];
        m = a.dims[a.nd - 2];
        a_step = m * kk;
        b_step = kk * n;
    }
    if (b.dims[b.nd - 2] != kk || m <= 0 || n <= 0 || kk <= 0 || batch <= 0 ||
        (have_bias && bias.dims[0] != n))
        goto done;
    double work = 2.0 * (double)batch * (double)m * (double)n * (double)kk;
    Operand *ops[3] = {&a, &b, have_bias ? &bias : NULL};
    int on = where_to(op, k, ops, 3, a.dt, work);
    if (on < 0 || (on == ON_SIMD && (tmp_a || tmp_b || trans_b)))
        goto done;
    npy_intp shape[MAX_DIMS];
    int nd = a.nd;
    for (int i = 0; i < nd - 1; i++)
        shape[i] = a.dims[i];
    shape[nd - 1] = (npy_intp)n;
    int where = a.where >= 0 ? a.where : b.where >= 0 ? b.where : have_bias ? bias.where : -1;
    if (have_out) { /* sharing no memory with an input */
        if (out_operand(k->out, where, a.dt, nd, shape, &o) < 0)
            goto done;
        if (out_overlaps(&o, where, ops, 3, a.dt ? 8 : 4))
            goto done;
    }
    PyObject *pool = simd_pool(ops, 3);
    Result r;
    double t0 = (++fp_tick & 7) == 0 ? fp_now() : 0;
    if (on == ON_CPU) {
        if (make_result(&r, where, a.dt, nd, shape, &o, k->out, pool, NULL) < 0)
            goto done;
        int rc;
        linear_fn linear = fp_linear[a.dt]; /* read with the GIL held (see run_unary) */
        if (work >= GIL_FREE_WORK) {
            Py_BEGIN_ALLOW_THREADS
            rc = linear(a.data, b.data, r.data, have_bias ? bias.data : NULL, act, batch, m, n,
                        kk, a_step, b_step, 0, trans_b);
            Py_END_ALLOW_THREADS
        } else {
            rc = linear(a.data, b.data, r.data, have_bias ? bias.data : NULL, act, batch, m, n,
                        kk, a_step, b_step, 0, trans_b);
        }
        if (rc != 0) {
            drop_result(&r);
            goto done;
        }
    } else {
        Operand *all[4] = {&a, &b, have_bias ? &bias : NULL, have_out ? &o : NULL};
        /* a large product's band instances (bound before anything is placed in this thread's
         * scratch: binding runs Python) */
        Bands *bd = work >= SIMD_FLOPS ? fp_wasm_bands() : NULL;
        if (work >= SIMD_FLOPS && !bd)
            goto done;
        WasmThread *t = simd_thread(all, 4);
        if (!t || make_result(&r, where, a.dt, nd, shape, &o, k->out, pool, NULL) < 0)
            goto done;
        Scratch s = {t, 0, 0, 0};
        int64_t at_a = place(&s, &a), at_b = place(&s, &b);
        int64_t at_bias = have_bias ? place(&s, &bias) : 0;
        int64_t csize = batch * m * n * (a.dt ? 8 : 4);
        int64_t at_c = r.in_memory ? r.offset : reserve(&s, csize);
        int rc = at_a < 0 || at_b < 0 || at_bias < 0 || at_c < 0;
        int64_t argv[15] = {at_a, at_b, at_c, at_bias, act, batch, m, n, kk, a_step, b_step,
                            0, n, 0, 0};
        if (!rc && work >= SIMD_FLOPS) {
            rc = run_bands(bd, t, a.dt, argv) != 0;
        } else if (!rc) {
            int64_t packing = 0;
            int64_t dims3[3] = {m, n, kk};
            rc = invoke(t, EX_SCRATCH + a.dt, dims3, 3, &packing) != 0;
            argv[11] = rc ? -1 : reserve(&s, packing);
            rc = rc || argv[11] < 0 || invoke(t, EX_LINEAR + a.dt, argv, 15, NULL) != 0;
        }
        if (rc != 0) {
            drop_result(&r);
            goto done;
        }
        copy_out(&s, &r, at_c, csize);
        book_copies(&s);
    }
    fp_book(on, op->slot, a.dt, t0);
    c = finish(&r);
done:
    Py_XDECREF(tmp_a);
    Py_XDECREF(tmp_b);
    release(&a);
    release(&b);
    release(&bias);
    release(&o);
    return c;
}

static PyObject *run_dot(FastOp *op, PyObject *const *args, Py_ssize_t nargs, const Keywords *k)
{
    if (nargs != 2)
        return NULL;
    Operand a, b;
    PyObject *result = NULL;
    memset(&b, 0, sizeof b);
    if (operand(args[0], &a) < 0 || operand(args[1], &b) < 0)
        goto done;
    if (a.nd != 1 || b.nd != 1 || a.dims[0] != b.dims[0] || a.size == 0)
        goto done;
    int64_t n = a.size;
    Operand *ops[2] = {&a, &b};
    int on = where_to(op, k, ops, 2, a.dt, (double)n);
    if (on < 0 || (on == ON_SIMD && n > SIMD_DOT))
        goto done;
    double t0 = (++fp_tick & 7) == 0 ? fp_now() : 0;
    double value;
    if (on == ON_CPU) {
        dot_fn dot = fp_dot[a.dt]; /* read with the GIL held (see run_unary) */
        if (n >= GIL_FREE_WORK) {
            Py_BEGIN_ALLOW_THREADS
            value = dot(a.data, b.data, n);
            Py_END_ALLOW_THREADS
        } else {
            value = dot(a.data, b.data, n);
        }
    } else {
        WasmThread *t = simd_thread(ops, 2);
        if (!t)
            goto done;
        Scratch s = {t, 0, 0, 0};
        int64_t at_a = place(&s, &a), at_b = place(&s, &b), bits;
        int64_t argv[3] = {at_a, at_b, n};
        if (at_a < 0 || at_b < 0 || invoke(t, EX_DOT + a.dt, argv, 3, &bits) != 0)
            goto done;
        memcpy(&value, &bits, sizeof value);
        book_copies(&s);
    }
    float value32 = (float)value;
    result = PyArray_Scalar(a.dt ? (void *)&value : (void *)&value32, fp_descr[a.dt], NULL);
    if (!result) {
        PyErr_Clear();
        goto done;
    }
    fp_book(on, op->slot, a.dt, t0);
done:
    release(&a);
    release(&b);
    return result;
}

/* The Python function of the op, called as the call was made (its errors are the call's) */
static PyObject *fall_back(FastOp *op, PyObject *const *args, Py_ssize_t nargs,
                           PyObject *kwnames)
{
    PyObject *tuple = PyTuple_New(nargs), *kwargs = NULL;
    for (Py_ssize_t i = 0; tuple && i < nargs; i++) {
        Py_INCREF(args[i]);
        PyTuple_SetItem(tuple, i, args[i]);
    }
    Py_ssize_t count = kwnames ? PyTuple_Size(kwnames) : 0;
    if (tuple && count) {
        kwargs = PyDict_New();
        for (Py_ssize_t i = 0; kwargs && i < count; i++)
            if (PyDict_SetItem(kwargs, PyTuple_GetItem(kwnames, i), args[nargs + i]) < 0)
                Py_CLEAR(kwargs);
        if (!kwargs)
            Py_CLEAR(tuple);
    }
    PyObject *r = tuple ? PyObject_Call(op->fallback, tuple, kwargs) : NULL;
    Py_XDECREF(tuple);
    Py_XDECREF(kwargs);
    return r;
}

/* layer_norm(x, weight=None, bias=None, *, eps=) and rms_norm(x, weight=None, *, eps=) over
 * the last axis: x, weight and bias numpy arrays or Arrays of one backend, C-contiguous, of
 * one dtype, weight and bias (C,); eps a Python number >= 0; out= one sharing no memory with
 * them. simd: parts of rows on the band instances past a few thousand elements. */
static PyObject *run_norm(FastOp *op, PyObject *const *args, Py_ssize_t nargs, const Keywords *k)
{
    int layer = op->act == 0; /* the norm's kernel id: 0 layer_norm, 1 rms_norm */
    if (nargs < 1 || nargs > (layer ? 3 : 2))
        return NULL;
    PyObject *wobj = nargs > 1 ? args[1] : NULL, *bobj = nargs > 2 ? args[2] : NULL;
    if ((k->weight && wobj) || (k->bias && (bobj || !layer)))
        return NULL; /* given twice, or rms_norm's bias: Python raises */
    wobj = k->weight ? k->weight : wobj == Py_None ? NULL : wobj;
    bobj = k->bias ? k->bias : bobj == Py_None ? NULL : bobj;
    double eps = op->dflt;
    if (k->eps && (python_number(k->eps, &eps) != 1 || !(eps >= 0)))
        return NULL; /* not a plain number, or one Python refuses */
    Operand x, w, b, o;
    PyObject *y = NULL;
    memset(&w, 0, sizeof w);
    memset(&b, 0, sizeof b);
    memset(&o, 0, sizeof o);
    w.where = b.where = o.where = -1;
    if (operand(args[0], &x) < 0 || (wobj && operand(wobj, &w) < 0) ||
        (bobj && operand(bobj, &b) < 0))
        goto done;
    if (x.nd < 1 || x.size == 0)
        goto done;
    int64_t cols = x.dims[x.nd - 1], rows = x.size / cols;
    if ((wobj && (w.nd != 1 || w.dims[0] != cols || w.dt != x.dt)) ||
        (bobj && (b.nd != 1 || b.dims[0] != cols || b.dt != x.dt)))
        goto done;
    Operand *ops[3] = {&x, wobj ? &w : NULL, bobj ? &b : NULL};
    int on = where_to(op, k, ops, 3, x.dt, (double)x.size);
    if (on < 0)
        goto done;
    /* simd: large work in parts of rows on the band instances, else one call */
    Bands *bd = on == ON_SIMD && x.size >= SIMD_SPREAD / 4 ? fp_wasm_bands() : NULL;
    int64_t parts = spread_parts(bd, x.size, ACT_TANH); /* (three passes: a costly op) */
    if (parts > rows)
        parts = rows;
    if (on == ON_SIMD && parts <= 1 && x.size >= SIMD_ELEMENTS)
        goto done;
    int where = x.where >= 0 ? x.where : wobj && w.where >= 0 ? w.where : b.where;
    int64_t size = x.dt ? 8 : 4;
    if (k->out) { /* sharing no memory with an input */
        if (out_operand(k->out, where, x.dt, x.nd, x.dims, &o) < 0 ||
            out_overlaps(&o, where, ops, 3, size))
            goto done;
    }
    PyObject *pool = simd_pool(ops, 3);
    Result r;
    double t0 = (++fp_tick & 7) == 0 ? fp_now() : 0;
    if (on == ON_CPU) {
        if (make_result(&r, where, x.dt, x.nd, x.dims, &o, k->out, pool, x.shape) < 0)
            goto done;
        norm_fn norm = fp_norm[x.dt]; /* read with the GIL held (see run_unary) */
        const void *wd = wobj ? w.data : NULL, *bias_data = bobj ? b.data : NULL;
        if (x.size >= GIL_FREE_WORK) {
            Py_BEGIN_ALLOW_THREADS
            norm(op->act, x.data, r.data, rows, cols, wd, bias_data, eps);
            Py_END_ALLOW_THREADS
        } else {
            norm(op->act, x.data, r.data, rows, cols, wd, bias_data, eps);
        }
    } else {
        Operand *all[4] = {&x, wobj ? &w : NULL, bobj ? &b : NULL, k->out ? &o : NULL};
        WasmThread *t = simd_thread(all, 4);
        if (!t || make_result(&r, where, x.dt, x.nd, x.dims, &o, k->out, pool, x.shape) < 0)
            goto done;
        Scratch s = {t, 0, 0, 0};
        int64_t at_x = place(&s, &x);
        int64_t at_w = wobj ? place(&s, &w) : 0, at_b = bobj ? place(&s, &b) : 0;
        int64_t at_y = r.in_memory ? r.offset : reserve(&s, x.size * size);
        int64_t bits;
        memcpy(&bits, &eps, sizeof bits);
        int rc = -1;
        if (at_x >= 0 && at_w >= 0 && at_b >= 0 && at_y >= 0) { /* parts of whole rows */
            int64_t step = part_step(rows, parts, 1), count = 0;
            int64_t args[MAX_BANDS][ACCEL_WASM_BAND_ARGS];
            for (int64_t r0 = 0; r0 < rows; r0 += step, count++) {
                int64_t part[8] = {op->act, at_x + r0 * cols * size, at_y + r0 * cols * size,
                                   rows - r0 < step ? rows - r0 : step, cols, at_w, at_b, bits};
                memcpy(args[count], part, sizeof part);
            }
            rc = run_parts(bd, t, EX_NORM + x.dt, args, 8, count, x.size);
        }
        if (rc != 0) {
            drop_result(&r);
            goto done;
        }
        copy_out(&s, &r, at_y, x.size * size);
        book_copies(&s);
    }
    fp_book(on, op->slot, x.dt, t0);
    y = finish(&r);
done:
    release(&x);
    release(&w);
    release(&b);
    release(&o);
    return y;
}

static PyObject *dispatch(FastOp *op, PyObject *const *args, Py_ssize_t nargs,
                          PyObject *kwnames)
{
    Keywords k;
    PyObject *r = NULL;
    if (keywords(op, args + nargs, kwnames, &k) == 0) {
        switch (op->kind) {
        case KIND_ELEMENTWISE:
        case KIND_SOFTMAX:
            r = run_unary(op, args, nargs, &k);
            break;
        case KIND_MATMUL:
        case KIND_LINEAR:
            r = run_product(op, args, nargs, &k);
            break;
        case KIND_DOT:
            r = run_dot(op, args, nargs, &k);
            break;
        case KIND_MAP:
            r = run_map(op, args, nargs, &k);
            break;
        case KIND_NORM:
            r = run_norm(op, args, nargs, &k);
            break;
        }
    }
    if (r)
        return r;
    if (PyErr_Occurred()) /* a kernel could not allocate: Python runs it and says so */
        PyErr_Clear();
    return fall_back(op, args, nargs, kwnames);
}

/* -- the public functions ------------------------------------------------------------------
 * Each op is a builtin function of this module (METH_FASTCALL | METH_KEYWORDS: its arguments
 * arrive as an array, keywords with no dict made), which pickles by its name in `accel`. A
 * builtin function has no state of its own: each slot has its own C function, which finds its
 * op's state (a FastOp: the slot, the kind, the activation, the Python function). */

static FastOp *ops[MAX_SLOTS];
static PyMethodDef defs[MAX_SLOTS];

#define ENTRY(i)                                                                               \
    static PyObject *entry_##i(PyObject *module, PyObject *const *args, Py_ssize_t nargs,    \
                               PyObject *kwnames)                                              \
    {                                                                                          \
        (void)module;                                                                          \
        return dispatch(ops[i], args, nargs, kwnames);                                         \
    }
ENTRY(0) ENTRY(1) ENTRY(2) ENTRY(3) ENTRY(4) ENTRY(5) ENTRY(6) ENTRY(7)
ENTRY(8) ENTRY(9) ENTRY(10) ENTRY(11) ENTRY(12) ENTRY(13) ENTRY(14) ENTRY(15)
ENTRY(16) ENTRY(17) ENTRY(18) ENTRY(19) ENTRY(20) ENTRY(21) ENTRY(22) ENTRY(23)
ENTRY(24) ENTRY(25) ENTRY(26) ENTRY(27) ENTRY(28) ENTRY(29) ENTRY(30) ENTRY(31)
ENTRY(32) ENTRY(33) ENTRY(34) ENTRY(35) ENTRY(36) ENTRY(37) ENTRY(38) ENTRY(39)
ENTRY(40) ENTRY(41) ENTRY(42) ENTRY(43) ENTRY(44) ENTRY(45) ENTRY(46) ENTRY(47)
ENTRY(48) ENTRY(49) ENTRY(50) ENTRY(51) ENTRY(52) ENTRY(53) ENTRY(54) ENTRY(55)
ENTRY(56) ENTRY(57) ENTRY(58) ENTRY(59) ENTRY(60) ENTRY(61) ENTRY(62) ENTRY(63)
typedef PyObject *(*entry_fn)(PyObject *, PyObject *const *, Py_ssize_t, PyObject *);
static const entry_fn entries[MAX_SLOTS] = {
    entry_0, entry_1, entry_2, entry_3, entry_4, entry_5, entry_6, entry_7,
    entry_8, entry_9, entry_10, entry_11, entry_12, entry_13, entry_14, entry_15,
    entry_16, entry_17, entry_18, entry_19, entry_20, entry_21, entry_22, entry_23,
    entry_24, entry_25, entry_26, entry_27, entry_28, entry_29, entry_30, entry_31,
    entry_32, entry_33, entry_34, entry_35, entry_36, entry_37, entry_38, entry_39,
    entry_40, entry_41, entry_42, entry_43, entry_44, entry_45, entry_46, entry_47,
    entry_48, entry_49, entry_50, entry_51, entry_52, entry_53, entry_54, entry_55,
    entry_56, entry_57, entry_58, entry_59, entry_60, entry_61, entry_62, entry_63,
};

static int fastop_traverse(PyObject *self, visitproc visit, void *arg)
{
    Py_VISIT(((FastOp *)self)->fallback);
    Py_VISIT((PyObject *)Py_TYPE(self));
    return 0;
}

static void fastop_dealloc(PyObject *self)
{
    PyTypeObject *tp = Py_TYPE(self);
    PyObject_GC_UnTrack(self);
    Py_CLEAR(((FastOp *)self)->fallback);
    freefunc tp_free = (freefunc)PyType_GetSlot(tp, Py_tp_free);
    tp_free(self);
    Py_DECREF(tp);
}

static PyType_Slot fastop_slots[] = {
    {Py_tp_dealloc, fastop_dealloc},
    {Py_tp_traverse, fastop_traverse},
    {0, NULL},
};

PyType_Spec fp_fastop_spec = {
    "accel._fastpath.FastOp", sizeof(FastOp), 0, Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC,
    fastop_slots,
};

static PyObject *fastop_type;

static char *copy_text(PyObject *text)
{
    Py_ssize_t size;
    const char *utf8 = PyUnicode_AsUTF8AndSize(text, &size);
    char *copy = utf8 ? PyMem_Malloc((size_t)size + 1) : NULL;
    if (copy)
        memcpy(copy, utf8, (size_t)size + 1);
    else if (utf8)
        PyErr_NoMemory();
    return copy;
}

/* make(slot, kind, activation id, fallback, name, doc, module name) -> the public function:
 * a builtin function of the op's slot, named `name` in module `module name`, documented by
 * `doc` (which may start with a text signature) */
PyObject *fp_make(PyObject *module, PyObject *args)
{
    int slot, kind, act;
    double dflt = 0.0;
    PyObject *fallback, *name, *doc, *module_name;
    if (!PyArg_ParseTuple(args, "iiiOUUU|d", &slot, &kind, &act, &fallback, &name, &doc,
                          &module_name, &dflt))
        return NULL;
    if (slot < 0 || slot >= MAX_SLOTS || kind < KIND_ELEMENTWISE || kind > KIND_NORM) {
        PyErr_SetString(PyExc_ValueError, "slot or kind out of range");
        return NULL;
    }
    if (kind == KIND_ELEMENTWISE && act >= 0) { /* linear's activation= names map to ids */
        PyObject *id = PyLong_FromLong(act);
        int rc = id ? PyDict_SetItem(act_ids, name, id) : -1;
        Py_XDECREF(id);
        if (rc < 0)
            return NULL;
    }
    allocfunc tp_alloc = (allocfunc)PyType_GetSlot((PyTypeObject *)fastop_type, Py_tp_alloc);
    FastOp *op = (FastOp *)tp_alloc((PyTypeObject *)fastop_type, 0);
    if (!op)
        return NULL;
    op->slot = slot;
    op->kind = kind;
    op->act = act;
    op->dflt = dflt;
    Py_INCREF(fallback);
    op->fallback = fallback;
    char *ml_name = copy_text(name), *ml_doc = ml_name ? copy_text(doc) : NULL;
    if (!ml_doc) {
        PyMem_Free(ml_name);
        Py_DECREF(op);
        return NULL;
    }
    /* a slot made again (a reload) keeps its old strings: a function made before may still
     * point at them */
    FastOp *old = ops[slot];
    ops[slot] = op;
    Py_XDECREF((PyObject *)old);
    defs[slot].ml_name = ml_name;
    defs[slot].ml_meth = (PyCFunction)(void (*)(void))entries[slot];
    defs[slot].ml_flags = METH_FASTCALL | METH_KEYWORDS;
    defs[slot].ml_doc = ml_doc;
    return PyCFunction_NewEx(&defs[slot], module, module_name);
}

/* python_route(slot) -> the op's Python function (what the fast path falls back to) */
PyObject *fp_python_route(PyObject *module, PyObject *arg)
{
    (void)module;
    long slot = PyLong_AsLong(arg);
    if (slot == -1 && PyErr_Occurred())
        return NULL;
    if (slot < 0 || slot >= MAX_SLOTS || !ops[slot]) {
        PyErr_SetString(PyExc_ValueError, "no op in that slot");
        return NULL;
    }
    PyObject *f = ops[slot]->fallback;
    Py_INCREF(f);
    return f;
}

int fp_calls_init(PyObject *module)
{
    (void)module;
    s_backend = PyUnicode_InternFromString("backend");
    s_weight = PyUnicode_InternFromString("weight");
    s_eps = PyUnicode_InternFromString("eps");
    s_acquire = PyUnicode_InternFromString("acquire");
    s_release = PyUnicode_InternFromString("release");
    s_out = PyUnicode_InternFromString("out");
    s_bias = PyUnicode_InternFromString("bias");
    s_activation = PyUnicode_InternFromString("activation");
    act_ids = PyDict_New();
    fastop_type = PyType_FromSpec(&fp_fastop_spec);
    (void)fastop_type;
    return s_backend && s_out && s_bias && s_activation && act_ids && fastop_type ? 0 : -1;
}
