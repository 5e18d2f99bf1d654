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

/* Batched C[b] = act(A[b] @ B[b] + bias), all row-major and contiguous per matrix: a linear
 * layer, and matmul with bias NULL and act ACT_NONE. a_batch_stride and b_batch_stride are in
 * elements, 0 broadcasts one matrix over the batch. bias holds n values or is NULL; the bias and
 * the activation are applied to each tile of C while it is in registers. Returns 0, or -1 when
 * the packing buffers could not be allocated. */
int accel_linear_f32(const float *a, const float *b, float *c, const float *bias, int act,
                     int64_t batch, int64_t m, int64_t n, int64_t k, int64_t a_batch_stride,
                     int64_t b_batch_stride);
int accel_linear_f64(const double *a, const double *b, double *c, const double *bias, int act,
                     int64_t batch, int64_t m, int64_t n, int64_t k, int64_t a_batch_stride,
                     int64_t b_batch_stride);

double accel_dot_f32(const float *a, const float *b, int64_t n);
double accel_dot_f64(const double *a, const double *b, int64_t n);

/* Elementwise y = act(x) for an activation id; y may be x itself (in place). */
void accel_elementwise_f32(int act, const float *x, float *y, int64_t n);
void accel_elementwise_f64(int act, const double *x, double *y, int64_t n);

/* softmax over each of `rows` rows of `cols` elements; y may be x itself. */
void accel_softmax_f32(const float *x, float *y, int64_t rows, int64_t cols);
void accel_softmax_f64(const double *x, double *y, int64_t rows, int64_t cols);

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
