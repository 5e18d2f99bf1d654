/* blocks.c: the simd backend's blocks of linear memory, made and freed without Python.
 *
 * A BlockPool sits over one Python heap (accel/backends/simd/_heap.py: alloc(nbytes) ->
 * offset, release(offset)) as tinygrad's LRU allocator cache sits over its allocator: a Block
 * of up to 1 MiB takes a whole size class (a power of two from 64 bytes), and when the last
 * reference to it goes its block joins its class's cache, from which the next Block of that
 * class is taken. Only a miss calls the heap. The cache holds at most 64 blocks per class and
 * 16 MiB in all; beyond, and for larger blocks, the block goes back to the heap. `flush()`
 * gives every cached block back (the heap is out of room, or the module build changed).
 * Once the interpreter exits, nothing is given back: the memory goes with the process.
 */
#include "fastpath.h"

#include <structmember.h>

#define CLASSES 15      /* 64 B .. 1 MiB */
#define PER_CLASS 64
#define CACHE_BYTES (16 << 20)

typedef struct {
    PyObject_HEAD
    PyObject *heap;
    uintptr_t base; /* the memory's address in this process (heap.base_ptr) */
    int64_t cached[CLASSES][PER_CLASS];
    int count[CLASSES];
    int64_t cached_bytes;
} BlockPool;

typedef struct {
    PyObject_HEAD
    BlockPool *pool;
    long long offset;
    long long nbytes; /* as asked for */
    int klass;        /* its size class, or -1: given back to the heap directly */
} Block;

PyObject *fp_block_type;
static PyObject *pool_type;
static int closing;
static PyObject *s_alloc, *s_release, *s_base_ptr;

void fp_blocks_closing(void) { closing = 1; }

static int class_of(int64_t nbytes)
{
    int c = 0;
    while (c < CLASSES && ((int64_t)64 << c) < nbytes)
        c++;
    return c < CLASSES ? c : -1;
}

/* heap.release(offset), any error swallowed (a heap torn down at exit) */
static void release_offset(PyObject *heap, int64_t offset)
{
    PyObject *off = PyLong_FromLongLong(offset);
    PyObject *r = off ? PyObject_CallMethodObjArgs(heap, s_release, off, NULL) : NULL;
    Py_XDECREF(off);
    Py_XDECREF(r);
    if (PyErr_Occurred())
        PyErr_Clear();
}

/* -- Block ------------------------------------------------------------------------------- */

static void block_dealloc(PyObject *self)
{
    Block *b = (Block *)self;
    BlockPool *p = b->pool;
    if (p && !closing) {
        PyObject *type, *value, *tb;
        PyErr_Fetch(&type, &value, &tb); /* a dealloc may run while an error is set */
        int c = b->klass;
        if (c >= 0 && p->count[c] < PER_CLASS &&
            p->cached_bytes + ((int64_t)64 << c) <= CACHE_BYTES) {
            p->cached[c][p->count[c]++] = b->offset;
            p->cached_bytes += (int64_t)64 << c;
        } else {
            release_offset(p->heap, b->offset);
        }
        PyErr_Restore(type, value, tb);
    }
    Py_XDECREF((PyObject *)p);
    PyTypeObject *tp = Py_TYPE(self);
    freefunc tp_free = (freefunc)PyType_GetSlot(tp, Py_tp_free);
    tp_free(self);
    Py_DECREF(tp);
}

static PyObject *block_heap(PyObject *self, void *closure)
{
    (void)closure;
    PyObject *heap = ((Block *)self)->pool->heap;
    Py_INCREF(heap);
    return heap;
}

static PyMemberDef block_members[] = {
    {"offset", T_LONGLONG, offsetof(Block, offset), READONLY, "byte offset in linear memory"},
    {"nbytes", T_LONGLONG, offsetof(Block, nbytes), READONLY, "bytes asked for"},
    {NULL, 0, 0, 0, NULL},
};

static PyGetSetDef block_getset[] = {
    {"heap", block_heap, NULL, "the heap it belongs to", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PyType_Slot block_slots[] = {
    {Py_tp_dealloc, block_dealloc},
    {Py_tp_members, block_members},
    {Py_tp_getset, block_getset},
    {Py_tp_doc, "A lease on a block of the simd module's linear memory (see BlockPool)."},
    {0, NULL},
};

static PyType_Spec block_spec = {
    "accel._fastpath.Block", sizeof(Block), 0, Py_TPFLAGS_DEFAULT, block_slots,
};

/* -- BlockPool ---------------------------------------------------------------------------- */

static PyObject *new_block(BlockPool *p, int64_t offset, int64_t nbytes, int klass)
{
    allocfunc tp_alloc = (allocfunc)PyType_GetSlot((PyTypeObject *)fp_block_type, Py_tp_alloc);
    Block *b = (Block *)tp_alloc((PyTypeObject *)fp_block_type, 0);
    if (!b)
        return NULL;
    Py_INCREF((PyObject *)p);
    b->pool = p;
    b->offset = offset;
    b->nbytes = nbytes;
    b->klass = klass;
    return (PyObject *)b;
}

static void flush(BlockPool *p)
{
    for (int c = 0; c < CLASSES; c++)
        while (p->count[c] > 0)
            release_offset(p->heap, p->cached[c][--p->count[c]]);
    p->cached_bytes = 0;
}

/* heap.alloc(size) -> offset; -1 with an exception set */
static int64_t heap_alloc(BlockPool *p, int64_t size)
{
    PyObject *n = PyLong_FromLongLong(size);
    PyObject *r = n ? PyObject_CallMethodObjArgs(p->heap, s_alloc, n, NULL) : NULL;
    Py_XDECREF(n);
    if (!r && PyErr_ExceptionMatches(PyExc_MemoryError) && p->cached_bytes) {
        PyErr_Clear(); /* room may be in the cache: give it back and try once more */
        flush(p);
        n = PyLong_FromLongLong(size);
        r = n ? PyObject_CallMethodObjArgs(p->heap, s_alloc, n, NULL) : NULL;
        Py_XDECREF(n);
    }
    if (!r)
        return -1;
    int64_t off = PyLong_AsLongLong(r);
    Py_DECREF(r);
    return off;
}

static PyObject *take(BlockPool *p, int64_t nbytes)
{
    if (nbytes < 0) {
        PyErr_SetString(PyExc_ValueError, "a block of negative size");
        return NULL;
    }
    int c = class_of(nbytes);
    if (c >= 0 && p->count[c] > 0) {
        p->cached_bytes -= (int64_t)64 << c;
        return new_block(p, p->cached[c][--p->count[c]], nbytes, c);
    }
    int64_t off = heap_alloc(p, c >= 0 ? (int64_t)64 << c : nbytes);
    if (off < 0)
        return NULL;
    PyObject *b = new_block(p, off, nbytes, c);
    if (!b)
        release_offset(p->heap, off);
    return b;
}

PyObject *fp_block_take(PyObject *pool, int64_t nbytes)
{
    PyObject *b = take((BlockPool *)pool, nbytes);
    if (!b)
        PyErr_Clear();
    return b;
}

int fp_block_offset(PyObject *x, int64_t *offset, uintptr_t *base, int64_t *nbytes)
{
    if ((PyObject *)Py_TYPE(x) != fp_block_type)
        return 0;
    Block *b = (Block *)x;
    *offset = b->offset;
    *base = b->pool->base;
    *nbytes = b->nbytes;
    return 1;
}

PyObject *fp_block_pool_of(PyObject *block) { return (PyObject *)((Block *)block)->pool; }

static PyObject *pool_new(PyTypeObject *type, PyObject *args, PyObject *kwargs)
{
    PyObject *heap;
    if (kwargs && PyDict_Size(kwargs)) {
        PyErr_SetString(PyExc_TypeError, "BlockPool(heap) takes no keywords");
        return NULL;
    }
    if (!PyArg_ParseTuple(args, "O", &heap))
        return NULL;
    PyObject *base = PyObject_GetAttr(heap, s_base_ptr);
    if (!base)
        return NULL;
    unsigned long long address = PyLong_AsUnsignedLongLong(base);
    Py_DECREF(base);
    if (PyErr_Occurred())
        return NULL;
    allocfunc tp_alloc = (allocfunc)PyType_GetSlot(type, Py_tp_alloc);
    BlockPool *p = (BlockPool *)tp_alloc(type, 0);
    if (!p)
        return NULL;
    Py_INCREF(heap);
    p->heap = heap;
    p->base = (uintptr_t)address;
    return (PyObject *)p;
}

static void pool_dealloc(PyObject *self)
{
    BlockPool *p = (BlockPool *)self;
    if (!closing)
        flush(p);
    Py_XDECREF(p->heap);
    PyTypeObject *tp = Py_TYPE(self);
    freefunc tp_free = (freefunc)PyType_GetSlot(tp, Py_tp_free);
    tp_free(self);
    Py_DECREF(tp);
}

static PyObject *pool_take(PyObject *self, PyObject *arg)
{
    long long nbytes = PyLong_AsLongLong(arg);
    if (nbytes == -1 && PyErr_Occurred())
        return NULL;
    return take((BlockPool *)self, nbytes);
}

static PyObject *pool_flush(PyObject *self, PyObject *noargs)
{
    (void)noargs;
    flush((BlockPool *)self);
    Py_RETURN_NONE;
}

static PyObject *pool_cached_bytes(PyObject *self, PyObject *noargs)
{
    (void)noargs;
    return PyLong_FromLongLong(((BlockPool *)self)->cached_bytes);
}

static PyMethodDef pool_methods[] = {
    {"take", pool_take, METH_O, "take(nbytes) -> a Block of at least nbytes"},
    {"flush", pool_flush, METH_NOARGS, "gives every cached block back to the heap"},
    {"cached_bytes", pool_cached_bytes, METH_NOARGS, "bytes of cached blocks"},
    {NULL, NULL, 0, NULL},
};

static PyType_Slot pool_slots[] = {
    {Py_tp_new, pool_new},
    {Py_tp_dealloc, pool_dealloc},
    {Py_tp_methods, pool_methods},
    {Py_tp_doc, "BlockPool(heap): Blocks of the heap, recently freed ones cached per size class."},
    {0, NULL},
};

static PyType_Spec pool_spec = {
    "accel._fastpath.BlockPool", sizeof(BlockPool), 0, Py_TPFLAGS_DEFAULT, pool_slots,
};

int fp_blocks_init(PyObject *module)
{
    s_alloc = PyUnicode_InternFromString("alloc");
    s_release = PyUnicode_InternFromString("release");
    s_base_ptr = PyUnicode_InternFromString("base_ptr");
    fp_block_type = PyType_FromSpec(&block_spec);
    pool_type = PyType_FromSpec(&pool_spec);
    if (!s_alloc || !s_release || !s_base_ptr || !fp_block_type || !pool_type)
        return -1;
    Py_INCREF(fp_block_type);
    Py_INCREF(pool_type);
    if (PyModule_AddObject(module, "Block", fp_block_type) < 0 ||
        PyModule_AddObject(module, "BlockPool", pool_type) < 0)
        return -1;
    return 0;
}
