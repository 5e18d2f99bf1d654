/* kernels_type.h: every kernel of one dtype for one instruction set, written once with GCC/clang
 * vector extensions so that the compiler emits AVX-512, AVX2, SSE2 or NEON from the same text.
 *
 * Included by kernels_template.h with T (float|double), TS (f32|f64), UT (the unsigned integer
 * of T's width), IS_F32, and the register and cache blocking MR, NV, KC, MC, NC.
 *
 * matmul follows BLIS: B is packed into KC x NR panels that stay in L1, A into MC x KC blocks
 * that stay in L2, and an MR x NR register block of C accumulates with FMA. The exp-based
 * activations follow XNNPACK's approach: range reduction with a magic-number rounding that
 * needs no float-to-int conversion, a polynomial, and special values decided by bit tests.
 */

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
/* expm1(r) = r + r^2 (1/2 + r/6 + ...) on |r| <= ln2/2: Taylor to r^8, under 0.1 ulp */
static const T FN(expm1_q)[] = {1.0 / 2, 1.0 / 6, 1.0 / 24, 1.0 / 120, 1.0 / 720, 1.0 / 5040,
                                1.0 / 40320};
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
    memcpy(&v, p, sizeof v);
    return v;
}

static inline void FN(store)(T *p, VT v) { memcpy(p, &v, sizeof v); }

static inline VT FN(splat)(T s) { return (VT){0} + s; }

/* mask lanes (all ones or zero) pick a, the others b */
static inline VT FN(select)(VU mask, VT a, VT b)
{
    return (VT)(((VU)a & mask) | ((VU)b & ~mask));
}

static inline VU FN(is_nan)(VT x) { return (VU)(((VU)x & ~SIGN_BITS) > (VU)FN(splat)(INFINITY)); }

/* ------------------------------------------------------------------------------------------ */
/* activations                                                                                 */

static inline VT FN(relu_v)(VT x)
{
    /* x < 0 is false for NaN, so NaN passes through; -inf gives 0 */
    return (VT)((VU)x & ~(VU)(x < 0));
}

/* e^z = s (1 + p): s = 2^n with n = round(z / ln2) built from the magic sum's low bits,
 * p = expm1(r) with r = z - n ln2. z must lie in [ZMIN, 0], so n + bias stays in [0, bias]. */
static inline void FN(exp_parts)(VT z, VT *s, VT *p, VT *n)
{
    VT t = z * LOG2E + EXP_MAGIC;
    VT nf = t - EXP_MAGIC;
    VT r = z - nf * LN2_HI;
    r = r - nf * LN2_LO;
    VT q = FN(splat)(FN(expm1_q)[EXPM1_TERMS - 1]);
#pragma GCC unroll 16
    for (int i = EXPM1_TERMS - 2; i >= 0; i--)
        q = q * r + FN(expm1_q)[i];
    *p = r + (r * r) * q;
    *s = (VT)((VU)t << EXP_SHIFT);
    *n = nf;
}

static inline VT FN(sigmoid_v)(VT x)
{
    VT z = (VT)((VU)x | SIGN_BITS); /* -|x| */
    z = FN(select)((VU)(z < SIGMOID_ZMIN), FN(splat)(SIGMOID_ZMIN), z);
    VT s, p, n;
    FN(exp_parts)(z, &s, &p, &n);
    VT e = s + s * p; /* e^-|x| in [0, 1] */
    VU negative = (VU)(((VU)x & SIGN_BITS) != 0);
    VT num = FN(select)(negative, e, FN(splat)(1));
    VT y = num / (1 + e);
    return FN(select)(FN(is_nan)(x), x, y);
}

static inline VT FN(tanh_v)(VT x)
{
    VT ax = (VT)((VU)x & ~SIGN_BITS);
    VT z = ax * -2;
    z = FN(select)((VU)(z < TANH_ZMIN), FN(splat)(TANH_ZMIN), z);
    VT s, p, n;
    FN(exp_parts)(z, &s, &p, &n);
    /* tanh|x| = -expm1(z) / (2 + expm1(z)), z = -2|x|. Near 0, expm1 = s p + (s - 1) keeps
     * every bit; once e^z < 1/2 (n <= -2), (1 - e) / (1 + e) is more accurate. */
    VT e = s + s * p;
    VT em = s * p + (s - 1);
    VU far = (VU)(n < (T)-1.5);
    VT num = FN(select)(far, 1 - e, -em);
    VT den = FN(select)(far, 1 + e, 2 + em);
    VT y = num / den;
    /* the sign of x on |tanh x|: exactly odd, tanh(-x) == -tanh(x), and tanh(+-0) = +-0 */
    y = (VT)(((VU)y & ~SIGN_BITS) | ((VU)x & SIGN_BITS));
    return FN(select)(FN(is_nan)(x), x, y);
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
            memset(buf, 0, sizeof buf);                                                        \
            memcpy(buf, x + i, (size_t)m * sizeof(T));                                         \
            FN(store)(buf, FN(op##_v)(FN(load)(buf)));                                         \
            memcpy(y + i, buf, (size_t)m * sizeof(T));                                         \
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
            s[u] += FN(load)(a + i + u * VL) * FN(load)(b + i + u * VL);
    }
    for (; i + VL <= n; i += VL)
        s[0] += FN(load)(a + i) * FN(load)(b + i);
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
    for (int64_t p = 0; p < kc; p++) {
        VT b[NV];
#pragma GCC unroll 8
        for (int v = 0; v < NV; v++)
            b[v] = FN(load)(pb + v * VL);
#pragma GCC unroll 32
        for (int r = 0; r < MR; r++) {
            T a = pa[r];
#pragma GCC unroll 8
            for (int v = 0; v < NV; v++)
                acc[r][v] += a * b[v];
        }
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
            memcpy(pb, b + p * ldb + j0, (size_t)nr * sizeof(T));
            if (nr < NR)
                memset(pb + nr, 0, (size_t)(NR - nr) * sizeof(T));
            pb += NR;
        }
    }
}

static int64_t FN(round_up)(int64_t x, int64_t to) { return (x + to - 1) / to * to; }

static int FN(gemm)(int64_t m, int64_t n, int64_t k, const T *a, int64_t lda, const T *b,
                    int64_t ldb, T *c, int64_t ldc)
{
    if (m <= 0 || n <= 0)
        return 0;
    if (k <= 0) {
        for (int64_t i = 0; i < m; i++)
            memset(c + i * ldc, 0, (size_t)n * sizeof(T));
        return 0;
    }
    int64_t kcmax = k < KC ? k : KC;
    int64_t mcmax = FN(round_up)(m < MC ? m : MC, MR);
    int64_t ncmax = FN(round_up)(n < NC ? n : NC, NR);
    size_t abytes = (size_t)FN(round_up)(mcmax * kcmax * (int64_t)sizeof(T), 64);
    size_t bbytes = (size_t)FN(round_up)(ncmax * kcmax * (int64_t)sizeof(T), 64);
    T *pa = aligned_alloc(64, abytes);
    T *pb = aligned_alloc(64, bbytes);
    if (!pa || !pb) {
        free(pa);
        free(pb);
        return -1;
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
    free(pa);
    free(pb);
    return 0;
}

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
