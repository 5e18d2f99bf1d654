/* fastpath.h: what the files of accel's compiled fast path (the extension accel._fastpath)
 * share. accel/_fast.py is its Python side and says what it is for:
 *
 * - module.c: the module, and the state the Python layers set: the routes (the dispatcher's
 *   decisions, per selection, op slot, dtype and interval of work), the backends' entry
 *   points, the Array type, the counters;
 * - calls.c: FastOp, the public ops' entry points, which run a call whose route is known;
 * - blocks.c: BlockPool and Block, the simd backend's blocks of linear memory, made and freed
 *   without Python;
 * - hostcache.c: the cpu backend's result buffers, recycled once no one holds them.
 *
 * Everything here runs with the GIL held (a kernel that runs long releases it around the
 * kernel only, with what it needs of the state read into locals before), so the state needs
 * no lock: it is written and read only under the GIL, and the pool workers of the cpu
 * backend never read it. Built with Python's limited API (3.10): one wheel
 * serves every Python.
 */
#ifndef ACCEL_FASTPATH_H
#define ACCEL_FASTPATH_H

#define PY_SSIZE_T_CLEAN
#ifndef Py_LIMITED_API
#define Py_LIMITED_API 0x030A0000
#endif
#include <Python.h>
#define NPY_NO_DEPRECATED_API NPY_1_7_API_VERSION
#define NPY_TARGET_VERSION NPY_1_24_API_VERSION /* accel-chain's oldest numpy */
#define PY_ARRAY_UNIQUE_SYMBOL accel_fastpath_ARRAY_API
#ifndef ACCEL_FASTPATH_MODULE
#define NO_IMPORT_ARRAY
#endif
#include <numpy/arrayobject.h>
#include <stdint.h>

#include "../accel_cpu.h"
#include "../activations.h"
#include "../maps.h"
#include "../wasm_call.h"

/* slot = value, the old value released (Py_XSETREF is not in the limited API) */
#define FP_SET(slot, value)                                                                    \
    do {                                                                                       \
        PyObject *old_ = (PyObject *)(slot);                                                   \
        (slot) = (value);                                                                      \
        Py_XDECREF(old_);                                                                      \
    } while (0)

#define MAX_SELECTIONS 16 /* accel._selection.ALL */
#define MAX_SLOTS 64      /* public ops */
#define SEGMENTS 4        /* intervals of work per route */
#define RING 4096         /* latencies kept per (backend, slot, dtype) */

/* what a slot runs (accel/_fast.py's KINDS) */
enum { KIND_ELEMENTWISE, KIND_SOFTMAX, KIND_MATMUL, KIND_DOT, KIND_LINEAR, KIND_MAP, KIND_NORM };
/* where (accel/_fast.py's BACKEND_IDS) */
enum { ON_CPU = 0, ON_SIMD = 1, BACKENDS_N = 2 };

typedef struct {
    int n;
    double lo[SEGMENTS], hi[SEGMENTS];
    signed char on[SEGMENTS];
} Routes;

/* the routes: [selection][slot][dtype] */
extern Routes fp_routes[MAX_SELECTIONS][MAX_SLOTS][2];
extern int fp_outer;             /* the selection outside every use_backend block; -1: Python */
extern int fp_selections;        /* how many selections there are */
extern int fp_strict[BACKENDS_N];  /* the strict selection of each backend */
extern PyObject *fp_context_get; /* the bound ContextVar.get of accel._selection's frames */
extern PyObject *fp_named;       /* {backend= text: selection index} */

/* the cpu backend: its object and its C entry points (accel_cpu.h), [dtype] */
typedef void (*elementwise_fn)(int, const void *, void *, int64_t);
typedef int (*linear_fn)(const void *, const void *, void *, const void *, int, int64_t,
                         int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int);
typedef double (*dot_fn)(const void *, const void *, int64_t);
typedef void (*softmax_fn)(const void *, void *, int64_t, int64_t);
typedef void (*map_fn)(int, int, const void *, const int64_t *, const void *, const int64_t *,
                       void *, const int64_t *, int, double, int);
typedef void (*norm_fn)(int, const void *, void *, int64_t, int64_t, const void *, const void *,
                        double);
extern PyObject *fp_cpu;
extern elementwise_fn fp_elementwise[2];
extern linear_fn fp_linear[2];
extern dot_fn fp_dot[2];
extern softmax_fn fp_softmax[2];
extern map_fn fp_map[2];
extern norm_fn fp_norm[2];

/* the simd backend: its object, wasmtime's entry, and the binder of a thread's instance */
enum {
    EX_ELEMENTWISE = 0,
    EX_LINEAR = 2,
    EX_SOFTMAX = 4,
    EX_DOT = 6,
    EX_SCRATCH = 8,
    EX_MAP = 10,
    EX_PLAN = 12,
    EX_NORM = 14,
    EXPORTS = 16
};
extern PyObject *fp_simd;
extern accel_wasm_api fp_wasm;
extern PyObject *fp_binder;
extern long fp_wasm_gen; /* bumped at every reset: every thread's binding is made again */

typedef struct {
    long gen;
    void *ctx;
    const void *func[EXPORTS]; /* the exports of accel._fast's WasmEntries.EXPORTS order */
    char *base;                /* the shared memory, in this process */
    uint32_t offset;           /* this thread's scratch block, in the module's addresses */
    size_t bytes;
} WasmThread;
WasmThread *fp_wasm_thread(void); /* this thread's binding, or NULL */

/* The instances a large product's bands run on, one per thread of the simd backend, and the
 * native pool's runner (accel_wasm_bands); in use only while `lock` (the simd workers' lock,
 * which the Python route's bands take too) is held. */
#define MAX_BANDS 64
typedef int (*wasm_bands_fn)(uintptr_t, uintptr_t, uintptr_t, size_t, accel_wasm_band *,
                             int64_t);
typedef struct {
    void *ctx;
    const void *func[EXPORTS]; /* as a thread's binding */
    int64_t scratch;           /* its packing scratch block: offset and bytes */
    int64_t bytes;
} BandInstance;
typedef struct {
    long gen;
    PyObject *binding; /* the band binder's answer: it keeps the instances alive */
    PyObject *lock;
    wasm_bands_fn run;
    int n; /* 0: none here (one thread, or no native pool) */
    BandInstance inst[MAX_BANDS];
} Bands;
Bands *fp_wasm_bands(void); /* the band binding (made again after every reset), or NULL */

/* Arrays: the type, and its slots (accel/_array.py's Array). Each slot is read and written
 * at its offset in the object where module.c found them (configure_arrays), else through
 * attribute access. */
enum { SLOT_BACKEND, SLOT_BUF, SLOT_SHAPE, SLOT_DTYPE, ARRAY_SLOTS };
extern PyObject *fp_array_type;
extern PyObject *fp_view_type; /* accel._array.View: a view's buffer (base, offset, strides) */
extern Py_ssize_t fp_slot_offsets[ARRAY_SLOTS]; /* -1: through attribute access */
PyObject *fp_array_getattr(PyObject *array, int slot);
int fp_array_setattr(PyObject *array, int slot, PyObject *value);

/* An Array's slot: a new reference, or NULL (an error set) */
static inline PyObject *fp_array_get(PyObject *array, int slot)
{
    Py_ssize_t off = fp_slot_offsets[slot];
    if (off < 0)
        return fp_array_getattr(array, slot);
    PyObject *v = *(PyObject **)((char *)array + off);
    if (!v)
        return fp_array_getattr(array, slot); /* unset: the AttributeError */
    Py_INCREF(v);
    return v;
}

/* An Array's slot, borrowed (NULL: unset, or read by attribute and not there) */
static inline PyObject *fp_array_peek(PyObject *array, int slot)
{
    Py_ssize_t off = fp_slot_offsets[slot];
    if (off >= 0)
        return *(PyObject **)((char *)array + off);
    PyObject *v = fp_array_getattr(array, slot);
    Py_XDECREF(v); /* the Array keeps it */
    return v;
}

/* Sets a slot of a fresh Array: 0, or -1 (an error set) */
static inline int fp_array_set(PyObject *array, int slot, PyObject *value)
{
    Py_ssize_t off = fp_slot_offsets[slot];
    if (off < 0)
        return fp_array_setattr(array, slot, value);
    PyObject **at = (PyObject **)((char *)array + off);
    PyObject *old = *at;
    Py_INCREF(value);
    *at = value;
    Py_XDECREF(old);
    return 0;
}
extern PyArray_Descr *fp_descr[2]; /* float32, float64 */

/* counters */
void fp_book(int on, int slot, int dt, double t0);
double fp_now(void);
extern unsigned fp_tick;
extern long long fp_moved_calls, fp_moved_up, fp_moved_down; /* simd copies of numpy data */

/* calls.c */
extern PyType_Spec fp_fastop_spec;
PyObject *fp_make(PyObject *module, PyObject *args);
PyObject *fp_python_route(PyObject *module, PyObject *arg);
int fp_calls_init(PyObject *module);

/* hostcache.c: a cpu result Array's buffer (a new reference), or NULL (an error set) */
PyObject *fp_host_buffer(int dt, int nd, const npy_intp *dims);
void fp_host_cache_clear(void);

/* blocks.c */
extern PyObject *fp_block_type;
int fp_blocks_init(PyObject *module);
/* A new block of at least nbytes from the pool (a new reference), or NULL (nothing raised:
 * no pool cache could give it without Python's heap, or that failed) */
PyObject *fp_block_take(PyObject *pool, int64_t nbytes);
/* a Block's offset and its pool's memory base; 0 when x is not a Block */
int fp_block_offset(PyObject *x, int64_t *offset, uintptr_t *base, int64_t *nbytes);
PyObject *fp_block_pool_of(PyObject *block);
void fp_blocks_closing(void);

#endif
