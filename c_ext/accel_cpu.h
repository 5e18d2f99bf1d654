/* accel_cpu.h: the C API of the native `cpu` backend, as Python sees it through cffi.
 *
 * Lines that start with '#' are dropped before the text is given to cffi's cdef(), so
 * this file stays the single declaration of the interface. All sizes are int64_t so that
 * arrays beyond 2^31 elements work. Every function may be called from many threads at
 * once; results do not depend on how many threads ran them.
 */
#ifndef ACCEL_CPU_H
#define ACCEL_CPU_H
#include <stdint.h>

/* Batched C[b] = A[b] @ B[b], all row-major and contiguous per matrix. a_batch_stride and
 * b_batch_stride are in elements, 0 broadcasts one matrix over the batch. Returns 0, or -1
 * when the packing buffers could not be allocated. */
int accel_matmul_f32(const float *a, const float *b, float *c, int64_t batch, int64_t m,
                     int64_t n, int64_t k, int64_t a_batch_stride, int64_t b_batch_stride);
int accel_matmul_f64(const double *a, const double *b, double *c, int64_t batch, int64_t m,
                     int64_t n, int64_t k, int64_t a_batch_stride, int64_t b_batch_stride);

double accel_dot_f32(const float *a, const float *b, int64_t n);
double accel_dot_f64(const double *a, const double *b, int64_t n);

/* Elementwise y = op(x); y may be x itself (in place). */
void accel_relu_f32(const float *x, float *y, int64_t n);
void accel_relu_f64(const double *x, double *y, int64_t n);
void accel_sigmoid_f32(const float *x, float *y, int64_t n);
void accel_sigmoid_f64(const double *x, double *y, int64_t n);
void accel_tanh_f32(const float *x, float *y, int64_t n);
void accel_tanh_f64(const double *x, double *y, int64_t n);

/* Instruction sets, best first; the names the probe reports and ACCEL_CPU_ISA takes. */
int accel_isa_count(void);
const char *accel_isa_name(int index);
int accel_isa_supported(int index);   /* 1 when this CPU and OS can run it */
int accel_isa_current(void);          /* index in use */
int accel_isa_select(int index);      /* 0 on success, -1 when unsupported here */

/* Threads of the persistent pool, the caller included. */
void accel_set_num_threads(int n);
int accel_get_num_threads(void);

#endif
