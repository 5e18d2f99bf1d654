/* kernels_type.h: every kernel of one dtype for one instruction set, written once with GCC/clang
 * vector extensions so that the compiler emits AVX-512, AVX2, SSE2 or NEON from the same text.
 *
 * Included with T (float|double), TS (f32|f64), UT (the unsigned integer of T's width), IS_F32,
 * VBYTES, and the register and cache blocking MR, NV, KC, MC, NC: by kernels_template.h for
 * the native `cpu` backend, and by simd_wasm/accel_simd.c for the WebAssembly module, which
 * is why it calls no libc (only compiler builtins). An includer may define FMA_F32/FMA_F64 to
 * a fused multiply-add of its own (WebAssembly's relaxed madd); by default a * b + c, which
 * the compiler fuses where the target has FMA (-ffp-contract=fast). ACCEL_FREESTANDING leaves
 * out the allocating gemm wrapper. It #undefs all of these parameters at its end.
 *
 * matmul follows BLIS: B is packed into KC x NR panels that stay in L1, A into MC x KC blocks
 * that stay in L2, and an MR x NR register block of C accumulates with FMA. The exp-based
 * activations follow XNNPACK's approach: range reduction with a magic-number rounding that
 * needs no float-to-int conversion, a polynomial, and special values decided by bit tests.
 */

#include <stddef.h>
#include <stdint.h>

#define FN(name) CAT(name, CAT(_, TS))
#define VL ((int)(VBYTES / sizeof(T)))
#define NR (NV * VL)
#define VT FN(vec)
#define VU FN(uvec)

typedef T VT __attribute__((vector_size(VBYTES)));
typedef UT VU __attribute__((vector_size(VBYTES)));

#if IS_F32
#define SIGN_BITS 0x80000000u
#define EXP_SHIFT 23
#define EXP_MAGIC 12583039.0f /* 0x1.8p23 + 127: rounds to an integer and holds n + bias */
#define LOG2E 0x1.715476p+0f
#define LN2_HI 0x1.62e400p-1f /* trailing zeros: n * LN2_HI is exact for |n| < 2^10 */
#define LN2_LO 0x1.7f7d1cp-20f
#define SIGMOID_ZMIN -88.0f /* below, e^z < smallest normal: the result may be 0 */
#define TANH_ZMIN -20.0f    /* below, tanh rounds to 1 */
/* expm1(r) = r + r^2 q(r) on |r| <= ln2/2; q of degree 4 fitted for least maximum relative
 * error (Lawson's iteration on Chebyshev nodes): 3e-9 before rounding, far below float32's */
static const T FN(expm1_q)[] = {0x1p-1f, 0x1.5554dep-3f, 0x1.5555bap-5f, 0x1.120b1cp-7f,
                                0x1.6c69f2p-10f};
#else
#define SIGN_BITS 0x8000000000000000ull
#define EXP_SHIFT 52
#define EXP_MAGIC 6755399441056767.0 /* 0x1.8p52 + 1023 */
#define LOG2E 0x1.71547652b82fep+0
#define LN2_HI 0x1.62e42fee00000p-1
#define LN2_LO 0x1.a39ef35793c76p-33
#define SIGMOID_ZMIN -709.0
#define TANH_ZMIN -40.0
/* Taylor to r^13: the truncation error is below 2^-56 relative on |r| <= ln2/2 */
static const T FN(expm1_q)[] = {1.0 / 2,          1.0 / 6,           1.0 / 24,
                                1.0 / 120,        1.0 / 720,         1.0 / 5040,
                                1.0 / 40320,      1.0 / 362880,      1.0 / 3628800,
                                1.0 / 39916800,   1.0 / 479001600,   1.0 / 6227020800};
#endif
#define EXPM1_TERMS ((int)(sizeof(FN(expm1_q)) / sizeof(T)))

static inline VT FN(load)(const T *p)
{
    VT v;
    __builtin_memcpy(&v, p, sizeof v);
    return v;
}

static inline void FN(store)(T *p, VT v) { __builtin_memcpy(p, &v, sizeof v); }

/* s - 0 is exactly s for every s (-0 included), so compilers fold it away and keep a plain
 * broadcast; 0 + s is not (0 + -0 = +0), and would cost an add before every broadcast. */
static inline VT FN(splat)(T s) { return s - (VT){0}; }

/* mask lanes (all ones or zero) pick a, the others b */
static inline VT FN(select)(VU mask, VT a, VT b)
{
    return (VT)(((VU)a & mask) | ((VU)b & ~mask));
}

#if IS_F32 && defined(FMA_F32)
static inline VT FN(fma)(VT a, VT b, VT c) { return (VT)FMA_F32(a, b, c); }
#elif !IS_F32 && defined(FMA_F64)
static inline VT FN(fma)(VT a, VT b, VT c) { return (VT)FMA_F64(a, b, c); }
#else
static inline VT FN(fma)(VT a, VT b, VT c) { return a * b + c; }
#endif


/* ------------------------------------------------------------------------------------------ */
/* activations                                                                                 */

static inline VT FN(relu_v)(VT x)
{
    /* x < 0 is false for NaN, so NaN passes through; -inf gives 0 */
    return (VT)((VU)x & ~(VU)(x < 0));
}

/* e^z = s (1 + p): s = 2^n with n = round(z / ln2) built from the magic sum's low bits,
 * p = expm1(r) with r = z - n ln2. z must lie in [ZMIN, 0], so n + bias stays in [0, bias]. */
static inline void FN(exp_parts)(VT z, VT *s, VT *p)
{
    VT t = FN(fma)(z, FN(splat)(LOG2E), FN(splat)(EXP_MAGIC));
    VT nf = t - EXP_MAGIC;
    VT r = FN(fma)(nf, FN(splat)(-LN2_HI), z);
    r = FN(fma)(nf, FN(splat)(-LN2_LO), r);
    VT q = FN(splat)(FN(expm1_q)[EXPM1_TERMS - 1]);
#pragma GCC unroll 16
    for (int i = EXPM1_TERMS - 2; i >= 0; i--)
        q = FN(fma)(q, r, FN(splat)(FN(expm1_q)[i]));
    *p = FN(fma)(r * r, q, r);
    *s = (VT)((VU)t << EXP_SHIFT);
}

static inline VT FN(sigmoid_v)(VT x)
{
    VT z = (VT)((VU)x | SIGN_BITS); /* -|x| */
    z = FN(select)((VU)(z < SIGMOID_ZMIN), FN(splat)(SIGMOID_ZMIN), z);
    VT s, p;
    FN(exp_parts)(z, &s, &p);
    VT e = FN(fma)(s, p, s); /* e^-|x| in [0, 1] */
    VU negative = (VU)(((VU)x & SIGN_BITS) != 0);
    VT num = FN(select)(negative, e, FN(splat)(1));
    /* NaN needs no test: -|NaN| passes the clamp and every step keeps it NaN */
    return num / (1 + e);
}

static inline VT FN(tanh_v)(VT x)
{
    VT ax = (VT)((VU)x & ~SIGN_BITS);
    VT z = ax * -2;
    z = FN(select)((VU)(z < TANH_ZMIN), FN(splat)(TANH_ZMIN), z);
    VT s, p;
    FN(exp_parts)(z, &s, &p);
    /* tanh|x| = -expm1(z) / (2 + expm1(z)), z = -2|x|, with expm1 = s p + (s - 1), which
     * keeps every bit near 0 (2.5 ulp at worst over all float32, measured) */
    VT em = FN(fma)(s, p, s - 1);
    VT y = -em / (2 + em);
    /* the sign of x on |tanh x|: exactly odd, tanh(-x) == -tanh(x), and tanh(+-0) = +-0 */
    /* NaN needs no test: -2|NaN| passes the clamp and every step keeps it NaN */
    return (VT)(((VU)y & ~SIGN_BITS) | ((VU)x & SIGN_BITS));
}

/* y = f(x) over n elements; the tail goes through a padded vector so that every element
 * takes the same vector path (the same bits whatever the array's length). */
#define ELEMENTWISE_LOOP(op)                                                                   \
    static void FN(op)(const T *x, T *y, int64_t n)                                            \
    {                                                                                          \
        int64_t i = 0;                                                                         \
        for (; i + 2 * VL <= n; i += 2 * VL) {                                                 \
            VT a = FN(op##_v)(FN(load)(x + i));                                                \
            VT b = FN(op##_v)(FN(load)(x + i + VL));                                           \
            FN(store)(y + i, a);                                                               \
            FN(store)(y + i + VL, b);                                                          \
        }                                                                                      \
        for (; i < n; i += VL) {                                                               \
            int64_t m = n - i < VL ? n - i : VL;                                               \
            T buf[VL];                                                                         \
            __builtin_memset(buf, 0, sizeof buf);                                              \
            __builtin_memcpy(buf, x + i, (size_t)m * sizeof(T));                               \
            FN(store)(buf, FN(op##_v)(FN(load)(buf)));                                         \
            __builtin_memcpy(y + i, buf, (size_t)m * sizeof(T));                               \
        }                                                                                      \
    }

ELEMENTWISE_LOOP(relu)
ELEMENTWISE_LOOP(sigmoid)
ELEMENTWISE_LOOP(tanh)
#undef ELEMENTWISE_LOOP

/* ------------------------------------------------------------------------------------------ */
/* dot: eight independent accumulators hide the FMA latency                                    */

static T FN(dot)(const T *a, const T *b, int64_t n)
{
    VT s[8];
#pragma GCC unroll 8
    for (int u = 0; u < 8; u++)
        s[u] = FN(splat)(0);
    int64_t i = 0;
    for (; i + 8 * VL <= n; i += 8 * VL) {
#pragma GCC unroll 8
        for (int u = 0; u < 8; u++)
            s[u] = FN(fma)(FN(load)(a + i + u * VL), FN(load)(b + i + u * VL), s[u]);
    }
    for (; i + VL <= n; i += VL)
        s[0] = FN(fma)(FN(load)(a + i), FN(load)(b + i), s[0]);
    VT t = ((s[0] + s[1]) + (s[2] + s[3])) + ((s[4] + s[5]) + (s[6] + s[7]));
    T r = 0;
    for (int l = 0; l < VL; l++)
        r += t[l];
    for (; i < n; i++)
        r += a[i] * b[i];
    return r;
}

/* ------------------------------------------------------------------------------------------ */
/* matmul                                                                                      */

/* C[0:mr, 0:nr] (+)= packed A sliver (kc x MR) times packed B sliver (kc x NR). `first` is set
 * for the first KC block, which stores instead of adding, so C needs no zeroing. */
static inline void FN(micro)(int64_t kc, const T *restrict pa, const T *restrict pb,
                             T *restrict c, int64_t ldc, int first, int64_t mr, int64_t nr)
{
    VT acc[MR][NV];
#pragma GCC unroll 32
    for (int r = 0; r < MR; r++)
#pragma GCC unroll 8
        for (int v = 0; v < NV; v++)
            acc[r][v] = FN(splat)(0);
#ifdef MICRO_K_UNROLL
#pragma GCC unroll MICRO_K_UNROLL
#endif
    for (int64_t p = 0; p < kc; p++) {
        VT b[NV];
#pragma GCC unroll 8
        for (int v = 0; v < NV; v++)
            b[v] = FN(load)(pb + v * VL);
#ifdef LANE_SPLAT
        /* MR is a multiple of VL: load the sliver's MR values of this k as vectors and
         * broadcast lane by lane (a shuffle), cheaper than a scalar load and a broadcast
         * each where the target cannot broadcast from memory (WebAssembly on Cranelift) */
#pragma GCC unroll 8
        for (int r0 = 0; r0 < MR; r0 += VL) {
            VT av = FN(load)(pa + r0);
#pragma GCC unroll 16
            for (int l = 0; l < VL; l++) {
                VT a = FN(splat)(av[l]);
#pragma GCC unroll 8
                for (int v = 0; v < NV; v++)
                    acc[r0 + l][v] = FN(fma)(a, b[v], acc[r0 + l][v]);
            }
        }
#else
#pragma GCC unroll 32
        for (int r = 0; r < MR; r++) {
            VT a = FN(splat)(pa[r]);
#pragma GCC unroll 8
            for (int v = 0; v < NV; v++)
                acc[r][v] = FN(fma)(a, b[v], acc[r][v]);
        }
#endif
        pa += MR;
        pb += NR;
    }
    if (mr == MR && nr == NR) {
#pragma GCC unroll 32
        for (int r = 0; r < MR; r++)
#pragma GCC unroll 8
            for (int v = 0; v < NV; v++) {
                T *cp = c + r * ldc + v * VL;
                FN(store)(cp, first ? acc[r][v] : FN(load)(cp) + acc[r][v]);
            }
        return;
    }
    T tmp[MR * NR];
    for (int r = 0; r < MR; r++)
        for (int v = 0; v < NV; v++)
            FN(store)(tmp + r * NR + v * VL, acc[r][v]);
    for (int64_t r = 0; r < mr; r++)
        for (int64_t j = 0; j < nr; j++)
            c[r * ldc + j] = first ? tmp[r * NR + j] : c[r * ldc + j] + tmp[r * NR + j];
}

/* A[0:mc, 0:kc] into MR-row slivers, each stored k-major: sliver[p * MR + r]. */
static void FN(pack_a)(int64_t mc, int64_t kc, const T *a, int64_t lda, T *restrict pa)
{
    for (int64_t i0 = 0; i0 < mc; i0 += MR) {
        int64_t mr = mc - i0 < MR ? mc - i0 : MR;
        for (int64_t r = 0; r < MR; r++) {
            if (r < mr) {
                const T *src = a + (i0 + r) * lda;
                for (int64_t p = 0; p < kc; p++)
                    pa[p * MR + r] = src[p];
            } else {
                for (int64_t p = 0; p < kc; p++)
                    pa[p * MR + r] = 0;
            }
        }
        pa += MR * kc;
    }
}

/* B[0:kc, 0:nc] into NR-column slivers, each stored k-major: sliver[p * NR + j]. */
static void FN(pack_b)(int64_t kc, int64_t nc, const T *b, int64_t ldb, T *restrict pb)
{
    for (int64_t j0 = 0; j0 < nc; j0 += NR) {
        int64_t nr = nc - j0 < NR ? nc - j0 : NR;
        for (int64_t p = 0; p < kc; p++) {
            __builtin_memcpy(pb, b + p * ldb + j0, (size_t)nr * sizeof(T));
            if (nr < NR)
                __builtin_memset(pb + nr, 0, (size_t)(NR - nr) * sizeof(T));
            pb += NR;
        }
    }
}

static int64_t FN(round_up)(int64_t x, int64_t to) { return (x + to - 1) / to * to; }

/* The packing buffers gemm_packed needs for an m x n x k product, in bytes (64-aligned). */
static void FN(gemm_buffer_bytes)(int64_t m, int64_t n, int64_t k, int64_t *abytes,
                                  int64_t *bbytes)
{
    int64_t kcmax = k < KC ? k : KC;
    int64_t mcmax = FN(round_up)(m < MC ? m : MC, MR);
    int64_t ncmax = FN(round_up)(n < NC ? n : NC, NR);
    *abytes = FN(round_up)(mcmax * kcmax * (int64_t)sizeof(T), 64);
    *bbytes = FN(round_up)(ncmax * kcmax * (int64_t)sizeof(T), 64);
}

static void FN(gemm_packed)(int64_t m, int64_t n, int64_t k, const T *a, int64_t lda,
                            const T *b, int64_t ldb, T *c, int64_t ldc, T *pa, T *pb)
{
    if (m <= 0 || n <= 0)
        return;
    if (k <= 0) {
        for (int64_t i = 0; i < m; i++)
            __builtin_memset(c + i * ldc, 0, (size_t)n * sizeof(T));
        return;
    }
    for (int64_t jc = 0; jc < n; jc += NC) {
        int64_t nc = n - jc < NC ? n - jc : NC;
        for (int64_t pc = 0; pc < k; pc += KC) {
            int64_t kc = k - pc < KC ? k - pc : KC;
            FN(pack_b)(kc, nc, b + pc * ldb + jc, ldb, pb);
            for (int64_t ic = 0; ic < m; ic += MC) {
                int64_t mc = m - ic < MC ? m - ic : MC;
                FN(pack_a)(mc, kc, a + ic * lda + pc, lda, pa);
                for (int64_t jr = 0; jr < nc; jr += NR) {
                    int64_t nr = nc - jr < NR ? nc - jr : NR;
                    for (int64_t ir = 0; ir < mc; ir += MR) {
                        int64_t mr = mc - ir < MR ? mc - ir : MR;
                        FN(micro)(kc, pa + ir * kc, pb + jr * kc, c + (ic + ir) * ldc + jc + jr,
                                  ldc, pc == 0, mr, nr);
                    }
                }
            }
        }
    }
}

#ifndef ACCEL_FREESTANDING
static int FN(gemm)(int64_t m, int64_t n, int64_t k, const T *a, int64_t lda, const T *b,
                    int64_t ldb, T *c, int64_t ldc)
{
    if (m <= 0 || n <= 0 || k <= 0) {
        FN(gemm_packed)(m, n, k, a, lda, b, ldb, c, ldc, 0, 0);
        return 0;
    }
    int64_t abytes, bbytes;
    FN(gemm_buffer_bytes)(m, n, k, &abytes, &bbytes);
    T *pa = aligned_alloc(64, (size_t)abytes);
    T *pb = aligned_alloc(64, (size_t)bbytes);
    if (pa && pb)
        FN(gemm_packed)(m, n, k, a, lda, b, ldb, c, ldc, pa, pb);
    free(pa);
    free(pb);
    return pa && pb ? 0 : -1;
}
#endif

#undef FN
#undef VL
#undef NR
#undef VT
#undef VU
#undef SIGN_BITS
#undef EXP_SHIFT
#undef EXP_MAGIC
#undef LOG2E
#undef LN2_HI
#undef LN2_LO
#undef SIGMOID_ZMIN
#undef TANH_ZMIN
#undef EXPM1_TERMS
/* the includer's parameters too, so that it can instantiate the next dtype */
#undef T
#undef TS
#undef UT
#undef IS_F32
#undef MR
#undef NV
#undef KC
#undef MC
#undef NC
