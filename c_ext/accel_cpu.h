/* accel_cpu.h: the C API of the native `cpu` backend, as Python sees it through cffi.
 *
 * Lines that start with '#' are dropped before the text is given to cffi's cdef(), so
 * this file (with activations.h) stays the single declaration of the interface. All sizes are
 * int64_t so that arrays beyond 2^31 elements work. Every function may be called from many
 * threads at once; results do not depend on how many threads ran them. Pointers need only the
 * alignment of their element type (the Python layer copies misaligned arrays).
 */
#ifndef ACCEL_CPU_H
#define ACCEL_CPU_H
#include <stddef.h>
#include <stdint.h>
#include "activations.h"

/* Batched C[b] = act(A[b] @ B[b] + bias[b]), all row-major and contiguous per matrix: a linear
 * layer (per agent, with a stack of weights), and matmul with bias NULL and act ACT_NONE.
 * a_batch_stride, b_batch_stride and bias_batch_stride are in elements, 0 broadcasts one
 * matrix (or bias) over the batch. bias holds n values per item or is NULL; the bias and the
 * activation are applied to each tile of C while it is in registers. trans_b: B[b] is given
 * as its transpose, (n x k) row-major, and read in place. Returns 0, or -1 when the packing
 * buffers could not be allocated. */
int accel_linear_f32(const float *a, const float *b, float *c, const float *bias, int act,
                     int64_t batch, int64_t m, int64_t n, int64_t k, int64_t a_batch_stride,
                     int64_t b_batch_stride, int64_t bias_batch_stride, int trans_b);
int accel_linear_f64(const double *a, const double *b, double *c, const double *bias, int act,
                     int64_t batch, int64_t m, int64_t n, int64_t k, int64_t a_batch_stride,
                     int64_t b_batch_stride, int64_t bias_batch_stride, int trans_b);

double accel_dot_f32(const float *a, const float *b, int64_t n);
double accel_dot_f64(const double *a, const double *b, int64_t n);

/* Elementwise y = act(x) for an activation id; y may be x itself (in place). */
void accel_elementwise_f32(int act, const float *x, float *y, int64_t n);
void accel_elementwise_f64(int act, const double *x, double *y, int64_t n);

/* softmax over each of `rows` rows of `cols` elements; y may be x itself. */
void accel_softmax_f32(const float *x, float *y, int64_t rows, int64_t cols);
void accel_softmax_f64(const double *x, double *y, int64_t rows, int64_t cols);

/* y = act(op(a, b)) over y's `ndim` (at most ACCEL_MAP_DIMS) dims `shape` (C-contiguous), a
 * and b read at their strides in elements over that shape (0 broadcasts a dimension, negative
 * strides walk backwards; b NULL for a unary op such as the copy of a view); op a MAP_ id
 * (maps.h), act an activation id or ACT_NONE. scalar_at 1 or 2: a or b is instead the one
 * value `scalar`, rounded to the dtype (a Python float), everywhere. */
#define ACCEL_MAP_DIMS 8
void accel_map_f32(int op, int act, const float *a, const int64_t *a_strides, const float *b,
                   const int64_t *b_strides, float *y, const int64_t *shape, int ndim,
                   double scalar, int scalar_at);
void accel_map_f64(int op, int act, const double *a, const int64_t *a_strides, const double *b,
                   const int64_t *b_strides, double *y, const int64_t *shape, int ndim,
                   double scalar, int scalar_at);

/* y (outer x inner) = op over the middle axis of x (outer x n x inner, C-contiguous): a
 * REDUCE_ id (maps.h), in an order that depends on n and inner alone. */
void accel_reduce_f32(int op, const float *x, int64_t outer, int64_t n, int64_t inner, float *y);
void accel_reduce_f64(int op, const double *x, int64_t outer, int64_t n, int64_t inner,
                      double *y);

/* layer_norm or rms_norm (a NORM_ id) over each of `rows` rows of `cols` values; weight and
 * bias hold cols values or are NULL. */
void accel_norm_f32(int kind, const float *x, float *y, int64_t rows, int64_t cols,
                    const float *weight, const float *bias, double eps);
void accel_norm_f64(int kind, const double *x, double *y, int64_t rows, int64_t cols,
                    const double *weight, const double *bias, double eps);

/* Instruction sets, best first; the names the probe reports and ACCEL_CPU_ISA takes. */
int accel_isa_count(void);
const char *accel_isa_name(int index);
int accel_isa_supported(int index);   /* 1 when this CPU and OS can run it */
int accel_isa_current(void);          /* index in use */
int accel_isa_select(int index);      /* 0 on success, -1 when unsupported here */

/* How many L2 caches B may fill and still go unpacked (read once per register block of rows;
 * driver.c says why it depends on the machine); `accel calibrate` chooses it. A negative
 * value sets the default. */
void accel_set_direct_reread(double l2s);
double accel_get_direct_reread(void);

/* The parts of the L1 (an A sliver) and of the L2 (a B panel) the packed matmul's blocks fill
 * (driver.c); `accel calibrate` chooses them. Negative values set the defaults (one half),
 * others are clamped to [1/4, 1]. */
void accel_set_block_parts(double l1, double l2);
double accel_get_block_l1(void);
double accel_get_block_l2(void);

/* The per-core L1 data and L2 cache sizes in bytes the system reports (32 KiB and 1 MiB where
 * it says nothing), from which the packed matmul sizes its blocks and the unpacked path's
 * bound is taken. */
double accel_l1_bytes(void);
double accel_l2_bytes(void);

/* Threads of the persistent pool, the caller included. */
void accel_set_num_threads(int n);
int accel_get_num_threads(void);

/* Runs fn(ctx, i) for i < ntasks on the pool (internal.h says how); exported so that the simd
 * backend's bands run on the same threads (accel_wasm_bands below). */
void accel_parallel_for(void (*fn)(void *ctx, int64_t task), void *ctx, int64_t ntasks);

/* One call of a WebAssembly export: the store context and function of wasmtime's C API, and
 * its integer arguments. */
#define ACCEL_WASM_BAND_ARGS 16
typedef struct {
    void *ctx;
    void *func;
    int nargs;
    int failed;
    int64_t args[16];
} accel_wasm_band;

/* Runs the n calls on the pool, one task each, through wasmtime_func_call_unchecked (call)
 * with its error and trap destructors, given by address: the simd backend's bands. Returns
 * how many trapped or failed. */
int accel_wasm_bands(uintptr_t call, uintptr_t error_delete, uintptr_t trap_delete,
                     size_t raw_size, accel_wasm_band *bands, int64_t n);

#endif
