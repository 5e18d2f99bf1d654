/* accel_simd.c: the `simd` backend's WebAssembly module: every op of the op table in float32
 * (f32x4) and float64 (f64x2) on WebAssembly SIMD128.
 *
 * A freestanding module: no WASI, no libc. It imports one shared memory (the threads
 * proposal's), so that every thread's instance works on the same linear memory: arrays the host
 * places there (accel.Array on simd) are visible to all of them. It exports `__heap_base` (the
 * host allocates above it), `__stack_pointer` (the host gives each instance a stack of its own
 * in the shared memory) and the kernels below.
 *
 * The kernels are the same text as the native backend's (c_ext/kernels_type.h): one
 * algorithm, one set of polynomial coefficients, checked through both backends. Here it is
 * instantiated for 16-byte vectors with register blocks sized for the 16 vector registers
 * that wasmtime's Cranelift allocates on x86-64 (LANE_SPLAT: A is loaded as vectors and
 * broadcast lane by lane). Built twice (build.py): plain SIMD128, where
 * a*b+c is a multiply and an add, and with relaxed SIMD, where it is `f32x4.relaxed_madd`,
 * which engines lower to a hardware FMA.
 */
#include <stdint.h>
#include <wasm_simd128.h>

#include "../c_ext/activations.h"
#include "../c_ext/maps.h"
#include "../c_ext/plan.h"

#define ACCEL_FREESTANDING 1
#define CAT_(a, b) a##b
#define CAT(a, b) CAT_(a, b)
#define VBYTES 16

#ifdef __wasm_relaxed_simd__
#define FMA_F32(a, b, c) wasm_f32x4_relaxed_madd((v128_t)(a), (v128_t)(b), (v128_t)(c))
#define FMA_F64(a, b, c) wasm_f64x2_relaxed_madd((v128_t)(a), (v128_t)(b), (v128_t)(c))
#endif

/* exported as `name`, defined as wasm_name beside the template's static name */
#ifndef NO_LANE_SPLAT
#define LANE_SPLAT 1
#endif

#define EXPORT(name) __attribute__((export_name(#name))) CAT(wasm_, name)

/* Register blocks (the fastest under wasmtime's Cranelift on x86-64, docs/performance.md):
 * relaxed (FMA): float32 8 rows x 1 vector, float64 6 rows x 1 vector, k unrolled twice;
 * plain: 4 rows x 2 vectors. Cranelift's FMA is not in place (vfmadd213: the result replaces
 * a multiplicand, and the loop moves it back into the accumulator's register), so the
 * relaxed kernel wants fewer accumulators and the unroll to halve those moves; float64's
 * broadcasts take one shuffle per two lanes, so fewer rows keep its block in registers. */
#ifndef SIMD_MR
#ifdef __wasm_relaxed_simd__
#define SIMD_MR 8
#define SIMD_NV 1
#define SIMD_K_UNROLL 2
#else
#define SIMD_MR 4
#define SIMD_NV 2
#define SIMD_K_UNROLL 1
#endif
#endif
#ifndef SIMD_MR_F64
#ifdef __wasm_relaxed_simd__
#define SIMD_MR_F64 6
#define SIMD_NV_F64 1
#define SIMD_K_UNROLL_F64 2
#else
#define SIMD_MR_F64 SIMD_MR
#define SIMD_NV_F64 SIMD_NV
#define SIMD_K_UNROLL_F64 SIMD_K_UNROLL
#endif
#endif

#define T float
#define TS f32
#define UT uint32_t
#define IS_F32 1
#define MR SIMD_MR
#define NV SIMD_NV
#define MICRO_K_UNROLL SIMD_K_UNROLL
#define KC 256
#define MC 72
#define NC 2048
#include "../c_ext/kernels_type.h"

#define T double
#define TS f64
#define UT uint64_t
#define IS_F32 0
#define MR SIMD_MR_F64
#define NV SIMD_NV_F64
#define MICRO_K_UNROLL SIMD_K_UNROLL_F64
#define KC 256
#define MC 72
#define NC 1024
#include "../c_ext/kernels_type.h"

/* The most rows that go to the matrix-vector kernel (plan.h's ROWS path; three rows per
 * pass over B): the module cannot prefetch the strips of B's columns its unpacked kernel
 * walks, and packing copies all of B (docs/performance.md has the figures). */
#define STREAM_ROWS_MAX 12
/* The L2 size plan.h's rules assume (a module cannot ask the machine; 1 MiB is common) */
#define PLAN_L2 1048576.0
/* Bands of columns: whole register blocks of every build */
#define COL_ALIGN 16

/* The module cannot prefetch: the unpacked path rereads only a B of up to 1/16 of an L2 (a
 * small per-item product, which packing would copy whole for a few rows), and past that
 * takes one pass over a B of at most one L2; the packed path packs A too. */
static accel_plan_params plan_params(double size)
{
    accel_plan_params p = {size, SIMD_MR, PLAN_L2, 0.0625, 1, 1, STREAM_ROWS_MAX, 1};
    return p;
}

/* Exports: pointers are offsets into linear memory, sizes are element counts; a float64
 * argument comes as its bits in an int64 (the host passes every argument as an integer). */

static double f64_of_bits(int64_t bits)
{
    double d;
    __builtin_memcpy(&d, &bits, sizeof d);
    return d;
}

#define EXPORTS(TS, T)                                                                         \
    /* bytes of scratch linear_TS needs for packing, 64-aligned */                             \
    int64_t EXPORT(gemm_scratch_##TS)(int32_t m, int32_t n, int32_t k)                         \
    {                                                                                          \
        int64_t abytes, bbytes;                                                                \
        gemm_buffer_bytes_##TS(m, n, k, 0, 0, &abytes, &bbytes);                               \
        return abytes + bbytes;                                                                \
    }                                                                                          \
    /* how the host splits a batch of products across `threads` (plan.h): the split's kind     \
     * in the low 8 bits, its step above them */                                               \
    int64_t EXPORT(plan_##TS)(int32_t batch, int32_t m, int32_t n, int32_t k, int32_t threads, \
                              int64_t min_flops)                                               \
    {                                                                                          \
        accel_plan_params p = plan_params(sizeof(T));                                          \
        int path = k > 0 ? accel_plan_path(m, n, k, &p) : ACCEL_PATH_PACKED;                   \
        accel_split s = accel_plan_split(batch, m, n, k, path, threads, (double)min_flops, batch, \
                                         COL_ALIGN, &p);                                       \
        return (int64_t)s.kind | s.step << 8;                                                  \
    }                                                                                          \
    /* c[i] (m x n) = act(a[i] (m x k) @ b[i] (k x n) + bias[i]) for i < batch, row-major; B   \
     * and C have ldb elements per row (n, or more for a band of columns); the batch strides   \
     * are in elements (0 broadcasts; C's is m * ldb); bias is 0 or n values per item; act an  \
     * ACT_ id. trans_b: b[i] is given transposed, (n x k) row-major, read in place. */        \
    void EXPORT(linear_##TS)(const T *a, const T *b, T *c, const T *bias, int32_t act,         \
                             int32_t batch, int32_t m, int32_t n, int32_t k, int32_t a_stride, \
                             int32_t b_stride, char *scratch, int32_t ldb, int32_t bias_stride, \
                             int32_t trans_b)                                                  \
    {                                                                                          \
        if (trans_b) {                                                                         \
            for (int32_t i = 0; i < batch; i++)                                                \
                gemm_nt_##TS(m, n, k, a + (int64_t)i * a_stride, k, b + (int64_t)i * b_stride, \
                             k, c + (int64_t)i * m * ldb, ldb,                                 \
                             bias ? bias + (int64_t)i * bias_stride : 0, act);                 \
            return;                                                                            \
        }                                                                                      \
        int64_t abytes, bbytes;                                                                \
        gemm_buffer_bytes_##TS(m, n, k, 0, 0, &abytes, &bbytes);                               \
        accel_plan_params p = plan_params(sizeof(T));                                          \
        int path = k > 0 ? accel_plan_path(m, n, k, &p) : ACCEL_PATH_PACKED;                   \
        if (path == ACCEL_PATH_COLUMN && ldb != 1) /* a band of one column: not contiguous */  \
            path = ACCEL_PATH_DIRECT;                                                          \
        for (int32_t i = 0; i < batch; i++) {                                                  \
            const T *ai = a + (int64_t)i * a_stride, *bi = b + (int64_t)i * b_stride;          \
            const T *bias_i = bias ? bias + (int64_t)i * bias_stride : 0;                      \
            T *ci = c + (int64_t)i * m * ldb;                                                  \
            if (path == ACCEL_PATH_ROWS) { /* a few rows times a matrix: B streamed */         \
                gemv_row_##TS(m, n, k, ai, k, bi, ldb, ci, ldb);                               \
                for (int32_t r = 0; r < m && (bias_i || act != ACT_NONE); r++)                 \
                    bias_act_row_##TS(ci + (int64_t)r * ldb, n, bias_i, act);                  \
            } else if (path == ACCEL_PATH_COLUMN) { /* a matrix times a column: dots */        \
                gemv_col_##TS(m, k, ai, k, bi, ci, 1);                                         \
                for (int32_t r = 0; r < m && (bias_i || act != ACT_NONE); r++)                 \
                    bias_act_row_##TS(ci + r, 1, bias_i, act);                                 \
            } else if (path == ACCEL_PATH_DIRECT) {                                            \
                gemm_direct_linear_##TS(m, n, k, ai, k, bi, ldb, ci, ldb, bias_i, act);        \
            } else {                                                                           \
                gemm_packed_##TS(m, n, k, ai, k, bi, ldb, ci, ldb, bias_i, act, 0, 0,          \
                                 (T *)scratch, (T *)(scratch + abytes));                       \
            }                                                                                  \
        }                                                                                      \
    }                                                                                          \
    double EXPORT(dot_##TS)(const T *a, const T *b, int32_t n) { return (double)dot_##TS(a, b, n); } \
    void EXPORT(elementwise_##TS)(int32_t act, const T *x, T *y, int32_t n)                    \
    {                                                                                          \
        elementwise_##TS(act, x, y, n);                                                        \
    }                                                                                          \
    void EXPORT(softmax_##TS)(const T *x, T *y, int32_t rows, int32_t cols)                    \
    {                                                                                          \
        if (rows > 0 && cols > 0)                                                              \
            softmax_rows_##TS(x, y, rows, cols);                                               \
    }                                                                                          \
    /* rows [r0, r1) of y = act(op(a, b)) (maps.h): meta holds ndim int64 each of y's shape,   \
     * a's strides and b's strides (elements); b 0 for a unary op; scalar_at 1 or 2: a or b is \
     * the one value `scalar` instead */                                                       \
    void EXPORT(map_##TS)(int32_t op, int32_t act, const T *a, const T *b, T *y,               \
                          const int64_t *meta, int32_t ndim, int32_t r0, int32_t r1,           \
                          int64_t scalar_bits, int32_t scalar_at)                              \
    {                                                                                          \
        static const int64_t zeros[8] = {0};                                                   \
        T value = (T)f64_of_bits(scalar_bits);                                                 \
        const int64_t *sa = meta + ndim, *sb = meta + 2 * ndim;                                \
        if (scalar_at == 1) {                                                                  \
            a = &value;                                                                        \
            sa = zeros;                                                                        \
        } else if (scalar_at == 2) {                                                           \
            b = &value;                                                                        \
            sb = zeros;                                                                        \
        }                                                                                      \
        if (ndim >= 1 && ndim <= 8)                                                            \
            map_##TS(op, act, a, sa, b, sb, y, meta, ndim, r0, r1);                            \
    }                                                                                          \
    void EXPORT(reduce_##TS)(int32_t op, const T *x, int32_t outer, int32_t n, int32_t inner,  \
                             T *y)                                                             \
    {                                                                                          \
        reduce_##TS(op, x, outer, n, inner, y);                                                \
    }                                                                                          \
    void EXPORT(norm_##TS)(int32_t kind, const T *x, T *y, int32_t rows, int32_t cols,         \
                           const T *w, const T *b, int64_t eps_bits)                           \
    {                                                                                          \
        if (rows > 0 && cols > 0)                                                              \
            norm_rows_##TS(kind, x, y, rows, cols, w, b, (T)f64_of_bits(eps_bits));            \
    }

EXPORTS(f32, float)
EXPORTS(f64, double)
