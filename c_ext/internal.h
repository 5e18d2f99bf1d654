/* internal.h: what the C files of the `cpu` backend share and Python never sees: the table of
 * kernels one instruction set provides, and the thread pool.
 */
#ifndef ACCEL_INTERNAL_H
#define ACCEL_INTERNAL_H
#include <stdint.h>

#include "accel_cpu.h" /* accel_l1_bytes, accel_l2_bytes */
#include "activations.h"
#include "maps.h"

/* One instruction set's serial kernels. The driver (driver.c) splits work into tasks and calls
 * these on each piece; a kernel never starts threads itself. gemm works on a sub-block of
 * row-major matrices with leading dimensions lda/ldb/ldc, C = act(A B + bias) (bias NULL or n
 * values, act ACT_NONE or an activation id), and returns -1 when it cannot allocate its
 * packing buffers. */
typedef struct {
    const char *name;
    int mr_f32, mr_f64; /* the register block's rows (MR), per dtype */
    int (*gemm_f32)(int64_t m, int64_t n, int64_t k, const float *a, int64_t lda,
                    const float *b, int64_t ldb, float *c, int64_t ldc, const float *bias,
                    int act);
    int (*gemm_f64)(int64_t m, int64_t n, int64_t k, const double *a, int64_t lda,
                    const double *b, int64_t ldb, double *c, int64_t ldc, const double *bias,
                    int act);
    float (*dot_f32)(const float *a, const float *b, int64_t n);
    double (*dot_f64)(const double *a, const double *b, int64_t n);
    void (*elementwise_f32)(int act, const float *x, float *y, int64_t n);
    void (*elementwise_f64)(int act, const double *x, double *y, int64_t n);
    void (*softmax_f32)(const float *x, float *y, int64_t rows, int64_t cols);
    void (*softmax_f64)(const double *x, double *y, int64_t rows, int64_t cols);
    /* Y[0:m, 0:n] = X[0:m, 0:k] @ B[0:k, 0:n] for m = 1 to 3 (row strides ldx, ldb, ldy),
     * streaming B once */
    void (*gemv_row_f32)(int64_t m, int64_t n, int64_t k, const float *x, int64_t ldx,
                         const float *b, int64_t ldb, float *y, int64_t ldy);
    void (*gemv_row_f64)(int64_t m, int64_t n, int64_t k, const double *x, int64_t ldx,
                         const double *b, int64_t ldb, double *y, int64_t ldy);
    /* gemm's contract, unpacked (A and B read where they are; kernels_type.h's gemm_direct) */
    int (*gemm_direct_f32)(int64_t m, int64_t n, int64_t k, const float *a, int64_t lda,
                           const float *b, int64_t ldb, float *c, int64_t ldc,
                           const float *bias, int act);
    int (*gemm_direct_f64)(int64_t m, int64_t n, int64_t k, const double *a, int64_t lda,
                           const double *b, int64_t ldb, double *c, int64_t ldc,
                           const double *bias, int act);
    /* y[i * ldy] = A[i, 0:k] . x for i < m */
    void (*gemv_col_f32)(int64_t m, int64_t k, const float *a, int64_t lda, const float *x,
                         float *y, int64_t ldy);
    void (*gemv_col_f64)(int64_t m, int64_t k, const double *a, int64_t lda, const double *x,
                         double *y, int64_t ldy);
    /* maps.h's ops: rows [r0, r1) of y = op(a, b) over strided operands (kernels_type.h) */
    void (*map_f32)(int op, int act, const float *a, const int64_t *sa, const float *b,
                    const int64_t *sb, float *y, const int64_t *shape, int ndim, int64_t r0,
                    int64_t r1);
    void (*map_f64)(int op, int act, const double *a, const int64_t *sa, const double *b,
                    const int64_t *sb, double *y, const int64_t *shape, int ndim, int64_t r0,
                    int64_t r1);
    /* C = act(A Bt^T + bias), Bt (n x k) row-major: a transposed operand read in place */
    void (*gemm_nt_f32)(int64_t m, int64_t n, int64_t k, const float *a, int64_t lda,
                        const float *bt, int64_t ldb, float *c, int64_t ldc, const float *bias,
                        int act);
    void (*gemm_nt_f64)(int64_t m, int64_t n, int64_t k, const double *a, int64_t lda,
                        const double *bt, int64_t ldb, double *c, int64_t ldc,
                        const double *bias, int act);
    void (*reduce_f32)(int op, const float *x, int64_t outer, int64_t n, int64_t inner, float *y);
    void (*reduce_f64)(int op, const double *x, int64_t outer, int64_t n, int64_t inner,
                       double *y);
    void (*norm_f32)(int kind, const float *x, float *y, int64_t rows, int64_t cols,
                     const float *w, const float *b, float eps);
    void (*norm_f64)(int kind, const double *x, double *y, int64_t rows, int64_t cols,
                     const double *w, const double *b, double eps);
    /* y[0:n] = act(y + bias), bias n values or NULL */
    void (*bias_act_f32)(float *y, int64_t n, const float *bias, int act);
    void (*bias_act_f64)(double *y, int64_t n, const double *bias, int act);
} accel_kernels;

#if defined(__x86_64__) || defined(_M_X64)
extern const accel_kernels accel_kernels_avx512;
extern const accel_kernels accel_kernels_avx2;
#endif
extern const accel_kernels accel_kernels_baseline;

/* Runs fn(ctx, 0) .. fn(ctx, ntasks - 1) on the pool. Tasks must write disjoint outputs.
 * When the pool is busy with another caller's job, the caller runs every task itself, so
 * many Python threads never start more native threads than the machine has cores. */
typedef void (*accel_task_fn)(void *ctx, int64_t task);
void accel_parallel_for(accel_task_fn fn, void *ctx, int64_t ntasks);

#endif
