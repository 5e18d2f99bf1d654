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
#define SIMD_ELEMENTS (1 << 16)       /* elementwise and softmax elements on simd's fast path */
#define SIMD_FLOPS (1 << 19)          /* products on simd's fast path */
#define SIMD_DOT (1 << 18)            /* one part of simd's dot (its Python route's _DOT_PART) */
#define ALIGN(x) (((x) + 63) & ~(int64_t)63)

typedef struct {
    PyObject_HEAD
    int slot, kind, act;
    PyObject *fallback;
} FastOp;

static PyObject *s_backend, *s_out, *s_bias, *s_activation, *act_ids;

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
    for (int i = 0; i < o->nd; i++)
        o->dims[i] = PyArray_DIM(a, i);
    o->size = (int64_t)PyArray_SIZE(a);
    o->data = PyArray_BYTES(a);
}

/* x as an operand: 0, or -1 when it is not one this path takes (nothing raised) */
static int operand(PyObject *x, Operand *o)
{
    memset(o, 0, sizeof *o);
    o->where = -1;
    int dt = float_index(x);
    if (dt >= 0) {
        if (PyArray_NDIM((PyArrayObject *)x) > MAX_DIMS)
            return -1;
        from_ndarray(o, (PyArrayObject *)x, dt);
        return 0;
    }
    if (!fp_array_type || (PyObject *)Py_TYPE(x) != fp_array_type)
        return -1;
    PyObject *b = PyObject_GetAttr(x, s_backend_attr);
    PyObject *spilled = b ? PyObject_GetAttr(x, s_spilled) : NULL;
    o->buf = spilled ? PyObject_GetAttr(x, s_buf) : NULL;
    o->shape = o->buf ? PyObject_GetAttr(x, s_shape) : NULL;
    int ok = o->shape && spilled == Py_False && PyTuple_Check(o->shape) &&
             PyTuple_Size(o->shape) <= MAX_DIMS && b && (b == fp_cpu || b == fp_simd);
    o->array = x;
    o->where = b == fp_cpu ? ON_CPU : ON_SIMD;
    Py_XDECREF(b);
    Py_XDECREF(spilled);
    if (PyErr_Occurred())
        PyErr_Clear();
    if (!ok)
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
    if (o->where == ON_CPU) { /* an ndarray of the Array's shape */
        dt = float_index(o->buf);
        PyArrayObject *a = (PyArrayObject *)o->buf;
        if (dt < 0 || PyArray_NDIM(a) != o->nd)
            return -1;
        for (int i = 0; i < o->nd; i++)
            if (PyArray_DIM(a, i) != o->dims[i])
                return -1;
        o->dt = dt;
        o->data = PyArray_BYTES(a);
        return 0;
    }
    int64_t nbytes;
    if (!fp_block_offset(o->buf, &o->offset, &o->base, &nbytes))
        return -1;
    PyObject *dtype = PyObject_GetAttr(x, s_dtype);
    o->dt = dtype == (PyObject *)fp_descr[0] ? 0 : dtype == (PyObject *)fp_descr[1] ? 1 : -1;
    Py_XDECREF(dtype);
    if (PyErr_Occurred())
        PyErr_Clear();
    return o->dt >= 0 && nbytes >= o->size * (o->dt ? 8 : 4) ? 0 : -1;
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

static PyObject *shape_tuple(int nd, const npy_intp *dims)
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
    allocfunc alloc = (allocfunc)PyType_GetSlot((PyTypeObject *)fp_array_type, Py_tp_alloc);
    PyObject *a = alloc((PyTypeObject *)fp_array_type, 0);
    if (!a)
        return NULL;
    if (PyObject_SetAttr(a, s_backend_attr, where == ON_CPU ? fp_cpu : fp_simd) < 0 ||
        PyObject_SetAttr(a, s_buf, buf) < 0 || PyObject_SetAttr(a, s_spilled, Py_False) < 0 ||
        PyObject_SetAttr(a, s_shape, shape) < 0 ||
        PyObject_SetAttr(a, s_dtype, (PyObject *)fp_descr[dt]) < 0) {
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
    if (where != ON_SIMD) {
        PyObject *arr = new_ndarray(dt, nd, dims);
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

/* -- the calls ----------------------------------------------------------------------------- */

typedef struct {
    PyObject *backend; /* backend= (NULL when None or absent) */
    PyObject *out;     /* out= (NULL when None or absent) */
    PyObject *bias;    /* linear's bias (NULL: none) */
    PyObject *activation;
} Keywords;

/* the keywords of a call: 0, or -1 when one is not this path's to take */
static int keywords(const FastOp *op, PyObject *kwargs, Keywords *k)
{
    memset(k, 0, sizeof *k);
    if (!kwargs)
        return 0;
    PyObject *key, *value;
    Py_ssize_t pos = 0;
    while (PyDict_Next(kwargs, &pos, &key, &value)) {
        if (PyUnicode_Compare(key, s_backend) == 0)
            k->backend = value == Py_None ? NULL : value;
        else if (PyUnicode_Compare(key, s_out) == 0 && op->kind != KIND_DOT)
            k->out = value == Py_None ? NULL : value;
        else if (op->kind == KIND_LINEAR && PyUnicode_Compare(key, s_bias) == 0)
            k->bias = value == Py_None ? NULL : value;
        else if (op->kind == KIND_LINEAR && PyUnicode_Compare(key, s_activation) == 0)
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

static PyObject *run_unary(FastOp *op, PyObject *args, const Keywords *k)
{
    if (PyTuple_Size(args) != 1)
        return NULL;
    Operand x, o;
    PyObject *y = NULL;
    if (operand(PyTuple_GetItem(args, 0), &x) < 0 || x.size == 0)
        goto done;
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
    if (on == ON_SIMD && n >= SIMD_ELEMENTS)
        goto done_out;
    double t0 = (++fp_tick & 7) == 0 ? fp_now() : 0;
    if (on == ON_CPU) {
        if (make_result(&r, x.where, x.dt, x.nd, x.dims, &o, k->out, pool, x.shape) < 0)
            goto done_out;
        if (op->kind == KIND_SOFTMAX) {
            if (n >= GIL_FREE_WORK) {
                Py_BEGIN_ALLOW_THREADS
                fp_softmax[x.dt](x.data, r.data, n / cols, cols);
                Py_END_ALLOW_THREADS
            } else {
                fp_softmax[x.dt](x.data, r.data, n / cols, cols);
            }
        } else if (n >= GIL_FREE_WORK) {
            Py_BEGIN_ALLOW_THREADS
            fp_elementwise[x.dt](op->act, x.data, r.data, n);
            Py_END_ALLOW_THREADS
        } else {
            fp_elementwise[x.dt](op->act, x.data, r.data, n);
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
        if (at_x >= 0) {
            int64_t a[4] = {op->act, at_x, at_y, n};
            rc = op->kind == KIND_SOFTMAX
                     ? invoke(t, EX_SOFTMAX + x.dt, (int64_t[]){at_x, at_y, n / cols, cols}, 4,
                              NULL)
                     : invoke(t, EX_ELEMENTWISE + x.dt, a, 4, NULL);
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

/* matmul(a, b) with 2-D operands, and linear(x, w, bias, activation=): x (M, K) or (K,) */
static PyObject *run_product(FastOp *op, PyObject *args, const Keywords *k)
{
    Py_ssize_t nargs = PyTuple_Size(args);
    int linear = op->kind == KIND_LINEAR;
    if (nargs != 2 && !(linear && nargs == 3))
        return NULL;
    PyObject *bias_obj = k->bias;
    if (nargs == 3) {
        if (k->bias)
            return NULL; /* given twice: Python raises */
        bias_obj = PyTuple_GetItem(args, 2);
        if (bias_obj == Py_None)
            bias_obj = NULL;
    }
    int act = -1;
    if (k->activation && k->activation != Py_None) {
        PyObject *id = act_ids ? PyDict_GetItemWithError(act_ids, k->activation) : NULL;
        if (!id) {
            PyErr_Clear();
            return NULL; /* an unknown name: Python raises the ValueError */
        }
        act = (int)PyLong_AsLong(id);
    }
    Operand a, b, bias, o;
    int have_bias = bias_obj != NULL, have_out = k->out != NULL;
    PyObject *c = NULL;
    memset(&bias, 0, sizeof bias);
    memset(&o, 0, sizeof o);
    bias.where = o.where = -1;
    if (operand(PyTuple_GetItem(args, 0), &a) < 0) {
        release(&a);
        return NULL;
    }
    if (operand(PyTuple_GetItem(args, 1), &b) < 0 || (have_bias && operand(bias_obj, &bias) < 0))
        goto done;
    /* shapes: a (M, K) (or (K,) for linear), b (K, N), bias (N,) */
    if (b.nd != 2 || (a.nd != 2 && !(linear && a.nd == 1)) || (have_bias && bias.nd != 1))
        goto done;
    int64_t m = a.nd == 2 ? a.dims[0] : 1, kk = a.dims[a.nd - 1], n = b.dims[1];
    if (b.dims[0] != kk || m <= 0 || n <= 0 || kk <= 0 || (have_bias && bias.dims[0] != n))
        goto done;
    double work = 2.0 * (double)m * (double)n * (double)kk;
    Operand *ops[3] = {&a, &b, have_bias ? &bias : NULL};
    int on = where_to(op, k, ops, 3, a.dt, work);
    if (on < 0 || (on == ON_SIMD && work >= SIMD_FLOPS))
        goto done;
    npy_intp dims[2] = {(npy_intp)m, (npy_intp)n};
    int nd = a.nd;
    npy_intp *shape = nd == 2 ? dims : dims + 1;
    int where = a.where >= 0 ? a.where : b.where >= 0 ? b.where : have_bias ? bias.where : -1;
    if (have_out) { /* sharing no memory with an input */
        if (out_operand(k->out, where, a.dt, nd, shape, &o) < 0)
            goto done;
        int64_t size = a.dt ? 8 : 4;
        for (int i = 0; i < 3; i++) {
            const Operand *p = ops[i];
            if (!p)
                continue;
            if (where == ON_SIMD ? p->where == ON_SIMD &&
                                       overlaps((uintptr_t)o.offset, o.size * size,
                                                (uintptr_t)p->offset, p->size * size)
                                 : p->where != ON_SIMD &&
                                       overlaps((uintptr_t)o.data, o.size * size,
                                                (uintptr_t)p->data, p->size * size))
                goto done;
        }
    }
    PyObject *pool = NULL;
    for (int i = 0; i < 3 && !pool; i++)
        if (ops[i] && ops[i]->where == ON_SIMD)
            pool = fp_block_pool_of(ops[i]->buf);
    Result r;
    double t0 = (++fp_tick & 7) == 0 ? fp_now() : 0;
    if (on == ON_CPU) {
        if (make_result(&r, where, a.dt, nd, shape, &o, k->out, pool, NULL) < 0)
            goto done;
        int rc;
        if (work >= GIL_FREE_WORK) {
            Py_BEGIN_ALLOW_THREADS
            rc = fp_linear[a.dt](a.data, b.data, r.data, have_bias ? bias.data : NULL, act, 1,
                                 m, n, kk, 0, 0);
            Py_END_ALLOW_THREADS
        } else {
            rc = fp_linear[a.dt](a.data, b.data, r.data, have_bias ? bias.data : NULL, act, 1,
                                 m, n, kk, 0, 0);
        }
        if (rc != 0) {
            drop_result(&r);
            goto done;
        }
    } else {
        Operand *all[4] = {&a, &b, have_bias ? &bias : NULL, have_out ? &o : NULL};
        WasmThread *t = simd_thread(all, 4);
        if (!t || make_result(&r, where, a.dt, nd, shape, &o, k->out, pool, NULL) < 0)
            goto done;
        Scratch s = {t, 0, 0, 0};
        int64_t at_a = place(&s, &a), at_b = place(&s, &b);
        int64_t at_bias = have_bias ? place(&s, &bias) : 0;
        int64_t csize = m * n * (a.dt ? 8 : 4);
        int64_t at_c = r.in_memory ? r.offset : reserve(&s, csize);
        int64_t packing = 0;
        int64_t dims3[3] = {m, n, kk};
        int rc = at_a < 0 || at_b < 0 || at_bias < 0 || at_c < 0 ||
                 invoke(t, EX_SCRATCH + a.dt, dims3, 3, &packing) != 0;
        int64_t at_scratch = rc ? -1 : reserve(&s, packing);
        if (!rc && at_scratch >= 0) {
            int64_t argv[13] = {at_a, at_b, at_c, at_bias, act, 1, m, n, kk, 0, 0, at_scratch,
                                n};
            rc = invoke(t, EX_LINEAR + a.dt, argv, 13, NULL);
        } else {
            rc = -1;
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
    release(&a);
    release(&b);
    release(&bias);
    release(&o);
    return c;
}

static PyObject *run_dot(FastOp *op, PyObject *args, const Keywords *k)
{
    if (PyTuple_Size(args) != 2)
        return NULL;
    Operand a, b;
    PyObject *result = NULL;
    memset(&b, 0, sizeof b);
    if (operand(PyTuple_GetItem(args, 0), &a) < 0 || operand(PyTuple_GetItem(args, 1), &b) < 0)
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
        if (n >= GIL_FREE_WORK) {
            Py_BEGIN_ALLOW_THREADS
            value = fp_dot[a.dt](a.data, b.data, n);
            Py_END_ALLOW_THREADS
        } else {
            value = fp_dot[a.dt](a.data, b.data, n);
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

static PyObject *fastop_call(PyObject *self, PyObject *args, PyObject *kwargs)
{
    FastOp *op = (FastOp *)self;
    Keywords k;
    PyObject *r = NULL;
    if (keywords(op, kwargs, &k) == 0) {
        switch (op->kind) {
        case KIND_ELEMENTWISE:
        case KIND_SOFTMAX:
            r = run_unary(op, args, &k);
            break;
        case KIND_MATMUL:
        case KIND_LINEAR:
            r = run_product(op, args, &k);
            break;
        case KIND_DOT:
            r = run_dot(op, args, &k);
            break;
        }
    }
    if (r)
        return r;
    if (PyErr_Occurred()) /* a kernel could not allocate: Python runs it and says so */
        PyErr_Clear();
    return PyObject_Call(op->fallback, args, kwargs);
}

/* -- the type ------------------------------------------------------------------------------ */

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

static PyObject *fallback_attr(PyObject *self, void *name)
{
    return PyObject_GetAttrString(((FastOp *)self)->fallback, (const char *)name);
}

static PyObject *fastop_get_fallback(PyObject *self, void *closure)
{
    (void)closure;
    PyObject *f = ((FastOp *)self)->fallback;
    Py_INCREF(f);
    return f;
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
    {"__module__", fallback_attr, NULL, NULL, "__module__"},
    {"__doc__", fallback_attr, NULL, NULL, "__doc__"},
    {"__name__", fallback_attr, NULL, NULL, "__name__"},
    {"__qualname__", fallback_attr, NULL, NULL, "__qualname__"},
    {"__wrapped__", fastop_get_fallback, NULL, NULL, NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PyType_Slot fastop_slots[] = {
    {Py_tp_call, fastop_call},
    {Py_tp_dealloc, fastop_dealloc},
    {Py_tp_traverse, fastop_traverse},
    {Py_tp_getset, fastop_getset},
    {Py_tp_methods, fastop_methods},
    {0, NULL},
};

PyType_Spec fp_fastop_spec = {
    "accel._fastpath.FastOp", sizeof(FastOp), 0, Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC,
    fastop_slots,
};

static PyObject *fastop_type;

/* make(slot, kind, activation id, fallback) -> a FastOp */
PyObject *fp_make(PyObject *module, PyObject *args)
{
    (void)module;
    int slot, kind, act;
    PyObject *fallback;
    if (!PyArg_ParseTuple(args, "iiiO", &slot, &kind, &act, &fallback))
        return NULL;
    if (slot < 0 || slot >= MAX_SLOTS || kind < KIND_ELEMENTWISE || kind > KIND_LINEAR) {
        PyErr_SetString(PyExc_ValueError, "slot or kind out of range");
        return NULL;
    }
    if (kind == KIND_ELEMENTWISE && act >= 0) { /* linear's activation= names map to ids */
        PyObject *name = PyObject_GetAttrString(fallback, "__name__");
        PyObject *id = name ? PyLong_FromLong(act) : NULL;
        int rc = id ? PyDict_SetItem(act_ids, name, id) : -1;
        Py_XDECREF(name);
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
    Py_INCREF(fallback);
    op->fallback = fallback;
    return (PyObject *)op;
}

int fp_calls_init(PyObject *module)
{
    (void)module;
    s_backend = PyUnicode_InternFromString("backend");
    s_out = PyUnicode_InternFromString("out");
    s_bias = PyUnicode_InternFromString("bias");
    s_activation = PyUnicode_InternFromString("activation");
    act_ids = PyDict_New();
    fastop_type = PyType_FromSpec(&fp_fastop_spec);
    return s_backend && s_out && s_bias && s_activation && act_ids && fastop_type ? 0 : -1;
}
