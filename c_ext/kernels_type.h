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
 * matmul follows BLIS: B is packed into panels that stay in L2 (KC x NR slivers of them
 * streamed past), A's MR-row slivers stay in L1 (read in place natively, packed for
 * WebAssembly), and an MR x NR register block of C accumulates with FMA; a few rows times a
 * large B stream it row by row instead (gemv_row). The exp-based activations follow
 * XNNPACK's approach: range reduction with a magic-number rounding that needs no
 * float-to-int conversion, a polynomial, and special values decided by bit tests.
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
#define SQRT_2PI 0x1.40c0000000000p+1f /* 12 significant bits */
#define SQRT_2PI_LO 0x1.931ff60000000p-11f /* sqrt(2 pi) - SQRT_2PI */
#define LN2_HI 0x1.62e400p-1f /* trailing zeros: n * LN2_HI is exact for |n| < 2^10 */
#define LN2_LO 0x1.7f7d1cp-20f
#define SIGMOID_ZMIN -88.0f /* below, e^z < smallest normal: the result may be 0 */
#define TANH_ZMIN -20.0f    /* below, tanh rounds to 1 */
#define SILU_ZMIN -104.0f   /* below, |x| e^x is below the smallest subnormal */
#define SILU_K 24
#define SILU_UNSCALE 0x1p-24f
#define GELU_SPLIT_MASK 0xfffff000u /* 12 significant bits: xh^2 is exact */
#else
#define SIGN_BITS 0x8000000000000000ull
#define EXP_SHIFT 52
#define EXP_MAGIC 6755399441056767.0 /* 0x1.8p52 + 1023 */
#define LOG2E 0x1.71547652b82fep+0
#define SQRT_2PI 0x1.40d9318000000p+1 /* 26 significant bits */
#define SQRT_2PI_LO 0x1.fd89c16595f29p-25
#define LN2_HI 0x1.62e42fee00000p-1
#define LN2_LO 0x1.a39ef35793c76p-33
#define SIGMOID_ZMIN -709.0
#define TANH_ZMIN -40.0
#define SILU_ZMIN -745.0 /* n + SILU_K + bias stays >= 1 */
#define SILU_K 64
#define SILU_UNSCALE 0x1p-64
#define GELU_SPLIT_MASK 0xfffffffff8000000ull /* 26 significant bits */
#endif
/* expm1's polynomial and gelu's fit (accel/_optable.py, generated) */
#include "coefficients.h"
#define EXPM1_TERMS ((int)(sizeof(FN(expm1_q)) / sizeof(T)))
#define GELU_PIECES ((int)(sizeof(FN(gelu_lo)) / sizeof(T)))

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
/* One scalar a * b + c rounded as the vector fma rounds it: natively the contracted
 * expression (an fma wherever the vectors have one); with an includer's own vector fma (the
 * relaxed madd of WebAssembly, which has no scalar fma) lane 0 of it, so that the scalar
 * edge columns of a product give the bits its vector columns would. */
#if (IS_F32 && defined(FMA_F32)) || (!IS_F32 && defined(FMA_F64))
static inline T FN(fma1)(T a, T b, T c)
{
    return FN(fma)(FN(splat)(a), FN(splat)(b), FN(splat)(c))[0];
}
#else
static inline T FN(fma1)(T a, T b, T c) { return a * b + c; }
#endif


#if IS_F32
static inline T FN(sqrt)(T x) { return __builtin_sqrtf(x); }
#else
static inline T FN(sqrt)(T x) { return __builtin_sqrt(x); }
#endif

/* ------------------------------------------------------------------------------------------ */
/* activations                                                                                 */

static inline VT FN(relu_v)(VT x)
{
    /* x < 0 is false for NaN, so NaN passes through; -inf gives 0 */
    return (VT)((VU)x & ~(VU)(x < 0));
}

/* e^z = s (1 + p) / 2^k: s = 2^(n + k) with n = round(z / ln2) built from the magic sum's low
 * bits, p = expm1(r) with r = z - n ln2. z must lie in [ZMIN, 0] for k = 0 (n + bias stays in
 * [0, bias]); a k > 0 moves the lower end down by k ln2 (silu needs e^z below the normal range). */
static inline void FN(exp_parts_scaled)(VT z, int k, VT *s, VT *p)
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
    *s = (VT)(((VU)t + (UT)k) << EXP_SHIFT);
}

static inline void FN(exp_parts)(VT z, VT *s, VT *p) { FN(exp_parts_scaled)(z, 0, s, p); }

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

static inline int FN(any)(VU m)
{
    UT r = 0;
    for (int l = 0; l < VL; l++)
        r |= m[l];
    return r != 0;
}

static inline VT FN(poly)(const T *c, int terms, VT v)
{
    VT q = FN(splat)(c[terms - 1]);
    for (int i = terms - 2; i >= 0; i--)
        q = FN(fma)(q, v, FN(splat)(c[i]));
    return q;
}

/* gelu(x) = x Phi(x), the exact form (erf-based, not the tanh approximation). Signed zeros and
 * NaN pass through x Phi; +inf gives +inf; -inf gives -0 (the limit: x * 0 would be NaN). */
static inline VT FN(gelu_v)(VT x)
{
    VT ax = (VT)((VU)x & ~(VU)FN(splat)(-(T)0));
    VT phi = FN(fma)(x, FN(poly)(FN(gelu_p), (int)(sizeof FN(gelu_p) / sizeof(T)), x * x),
                     FN(splat)((T)0.5));
    VT y = x * phi;
    VU tail = (VU)(ax > GELU_B); /* false for NaN: x Phi(x) stays NaN */
    if (FN(any)(tail)) {
        VT s = FN(select)((VU)(ax > GELU_SMAX), FN(splat)(GELU_SMAX), ax);
        VT h = FN(splat)(0);
        const T *c = FN(gelu_h);
        for (int i = 0; i < GELU_PIECES; c += FN(gelu_terms)[i], i++) {
            VU in = tail & (VU)(s >= FN(gelu_lo)[i]);
            if (i + 1 < GELU_PIECES)
                in &= (VU)(s < FN(gelu_lo)[i + 1]);
            if (!FN(any)(in))
                continue;
            VT q;
            if (FN(gelu_w)[i])
                q = FN(poly)(c, FN(gelu_terms)[i], 1 / (s * s)) / s;
            else
                q = FN(poly)(c, FN(gelu_terms)[i], s - FN(gelu_lo)[i]);
            h = FN(select)(in, q, h);
        }
        /* G = sqrt(2 pi) s + H with the constant and s in two parts each, so that the leading
         * product is exact with or without FMA: G then takes one rounding */
        VT sh = (VT)((VU)s & GELU_SPLIT_MASK);
        VT g = SQRT_2PI * sh + ((SQRT_2PI * (s - sh) + SQRT_2PI_LO * s) + h);
        /* exp(-x^2/2) with x = xh + xl, xh the leading half of x's bits: xh^2 / 2 is exact,
         * and e^(-x^2/2) = 2^n (1 + p) (1 + m), 2^n (1 + p) = e^(-xh^2/2) and 1 + m =
         * e^(-xl (x + xh) / 2), close to 1. No FMA is needed (the kernels' fma may be a
         * multiply and an add). x 2^n is exact, so x e^(-x^2/2) / G takes two roundings. */
        VT xh = (VT)((VU)x & GELU_SPLIT_MASK);
        VT zl = (x - xh) * (x + xh) * (T)-0.5;
        VT z = xh * xh * (T)-0.5;
        z = FN(select)((VU)(z < SIGMOID_ZMIN), FN(splat)(SIGMOID_ZMIN), z);
        VT es, ep;
        FN(exp_parts)(z, &es, &ep);
        VT m = FN(fma)(zl * zl, FN(poly)(FN(expm1_q), EXPM1_TERMS, zl), zl);
        VT pm = FN(fma)(ep, m, ep + m);
        VT xs = x * es;
        VT xt = FN(fma)(xs, pm, xs) / g; /* x Phi(-|x|) */
        xt = FN(select)((VU)(ax > GELU_SMAX), FN(splat)(0), xt);
        y = FN(select)(tail, FN(select)((VU)(x < 0), xt, x - xt), y);
    }
    return FN(select)((VU)(x == -(T)__builtin_inf()), FN(splat)(-(T)0), y);
}

/* silu(x) = x sigmoid(x) = x / (1 + e^-x). For x < 0 it is x e^x / (1 + e^x), which stays a
 * normal number well below where e^x is: e^x is computed scaled by 2^SILU_K (the exponent built
 * with the offset) and the quotient scaled back at the end, exactly unless it is subnormal.
 * -0 gives -0, +inf gives +inf, NaN stays NaN; -inf gives -0, the limit (x e^x would be NaN). */
static inline VT FN(silu_v)(VT x)
{
    VT z = (VT)((VU)x | SIGN_BITS); /* -|x| */
    VU below = (VU)(z < SILU_ZMIN);
    z = FN(select)(below, FN(splat)(SILU_ZMIN), z);
    VT s, p;
    FN(exp_parts_scaled)(z, SILU_K, &s, &p);
    VT e = FN(fma)(s, p, s); /* e^-|x| 2^K */
    VT den = 1 + e * SILU_UNSCALE;
    VT xs = x * s; /* exact: s is a power of two */
    VT neg = FN(fma)(xs, p, xs) / den * SILU_UNSCALE;
    VU negative = (VU)(((VU)x & SIGN_BITS) != 0);
    VT y = FN(select)(negative, FN(select)(below, FN(splat)(-(T)0), neg), x / den);
    return FN(select)((VU)(x == -(T)__builtin_inf()), FN(splat)(-(T)0), y);
}

/* softplus(x) = log(1 + e^x) = max(x, 0) + log1p(e^-|x|), with no overflow. log1p(t), t in
 * (0, 1], is 2 atanh(r) = 2 r (1 + r^2 q(r^2)), r = t / (2 + t) <= 1/3 (q: the op table's
 * softplus_q after its first term): the leading 2 r carries r's rounding, put back by one
 * correction step (2 + t's own rounding error is exact). Below ZMIN, e^-|x| is under the
 * smallest normal: the log1p part is 0 there (-inf gives 0; a large x gives x). NaN passes
 * through every step. */
#define SOFTPLUS_TERMS ((int)(sizeof(FN(softplus_q)) / sizeof(T)))
static inline VT FN(softplus_v)(VT x)
{
    VT z = (VT)((VU)x | SIGN_BITS); /* -|x| */
    VU below = (VU)(z < SIGMOID_ZMIN);
    z = FN(select)(below, FN(splat)(SIGMOID_ZMIN), z);
    VT s, p;
    FN(exp_parts)(z, &s, &p);
    VT t = FN(fma)(s, p, s); /* e^-|x| */
    VT den = 2 + t;
    VT den_lo = (2 - den) + t; /* 2 + t = den + den_lo exactly */
    VT r = t / den;
    VT r_lo = (FN(fma)(-r, den, t) - r * den_lo) / den; /* t / (2 + t) = r + r_lo */
    VT rr = r * r;
    VT two_r = r + r;
    VT l = FN(fma)(two_r, rr * FN(poly)(FN(softplus_q) + 1, SOFTPLUS_TERMS - 1, rr),
                   two_r + (r_lo + r_lo));
    l = FN(select)(below, FN(splat)(0), l);
    return FN(relu_v)(x) + l;
}

/* Sums and products exact in two parts (a value and its error): x's halves (GELU_SPLIT_MASK)
 * multiply exactly, so Dekker's product needs no fused multiply-add */
static inline void FN(two_prod)(VT a, VT b, VT *hi, VT *lo)
{
    VT p = a * b;
    VT ah = (VT)((VU)a & GELU_SPLIT_MASK), al = a - ah;
    VT bh = (VT)((VU)b & GELU_SPLIT_MASK), bl = b - bh;
    *hi = p;
    *lo = ((ah * bh - p) + ah * bl + al * bh) + al * bl;
}

static inline void FN(two_sum)(VT a, VT b, VT *hi, VT *lo)
{
    VT s = a + b;
    VT bb = s - a;
    *hi = s;
    *lo = (a - (s - bb)) + (b - bb);
}

/* gelu's tanh form: 0.5 x (1 + tanh z) = x sigmoid(2 z), z = sqrt(2/pi) (x + 0.044715 x^3).
 * For x < 0 the result x e^{2z} / (1 + e^{2z}) carries z's relative error times |2 z| (up to
 * a hundred), so 2 z = a x + b x^3 is formed in two parts (the op table's constants too) and
 * e^{2z} gets the low part as a factor; e^{2z} is built scaled by 2^SILU_K, as silu's, so
 * that it stays normal below the normal range. Past XMAX the result is x, or -0 (-inf
 * included); NaN passes through. */
static inline VT FN(gelu_tanh_v)(VT x)
{
    VT xmax = FN(splat)(GELU_TANH_XMAX);
    VT xc = FN(select)((VU)(x > xmax), xmax, FN(select)((VU)(x < -xmax), -xmax, x));
    VT uh, ul, ph, pl, wh, wl, zh, zl;
    FN(two_prod)(xc, xc, &uh, &ul);
    FN(two_prod)(FN(splat)(GELU_TANH_B_HI), uh, &ph, &pl);
    pl = pl + (GELU_TANH_B_HI * ul + GELU_TANH_B_LO * uh);
    FN(two_sum)(FN(splat)(GELU_TANH_A_HI), ph, &wh, &wl);
    wl = wl + (GELU_TANH_A_LO + pl);
    FN(two_prod)(xc, wh, &zh, &zl);
    zl = zl + xc * wl;
    VU negative = (VU)(zh < 0);
    VT th = (VT)((VU)zh | SIGN_BITS); /* -|2 z|, and its low part */
    VT tl = FN(select)(negative, zl, -zl);
    VU below = (VU)(th < SILU_ZMIN);
    th = FN(select)(below, FN(splat)(SILU_ZMIN), th);
    VT s, p;
    FN(exp_parts_scaled)(th, SILU_K, &s, &p);
    VT es = FN(fma)(s, FN(fma)(p, tl, p + tl), s); /* e^{-|2z|} 2^K */
    es = FN(select)(below, FN(splat)(0), es);
    VT den = 1 + es * SILU_UNSCALE;
    VT y = FN(select)(negative, x * es / den * SILU_UNSCALE, x / den);
    return FN(select)((VU)(x < -xmax), FN(splat)(-(T)0), y);
}

/* One activation by its id (ACT_* in accel_cpu.h, the op table's kernel ids); the identity for
 * ACT_NONE. The switch sits outside every loop that calls it, once per vector. */
static inline VT FN(activate)(VT v, int act)
{
    switch (act) {
#define CASE(ID, name)                                                                         \
    case ACT_##ID:                                                                             \
        return FN(name##_v)(v);
        ACCEL_ACTIVATIONS(CASE)
#undef CASE
    default:
        return v;
    }
}

/* y = f(x) over n elements; the tail goes through a padded vector so that every element
 * takes the same vector path (the same bits whatever the array's length). */
#define ELEMENTWISE_LOOP(op)                                                                   \
    static void FN(op##_loop)(const T *x, T *y, int64_t n)                                     \
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

#define LOOP(ID, name) ELEMENTWISE_LOOP(name)
ACCEL_ACTIVATIONS(LOOP)
#undef LOOP
#undef ELEMENTWISE_LOOP

/* The elementwise loops by activation id (ACT_*), and y = act(x) through them; y may be x
 * itself. Unknown ids do nothing. */
static void (*const FN(loops)[])(const T *, T *, int64_t) = {
#define ENTRY(ID, name) [ACT_##ID] = FN(name##_loop),
    ACCEL_ACTIVATIONS(ENTRY)
#undef ENTRY
};

static void FN(elementwise)(int act, const T *x, T *y, int64_t n)
{
    if (act >= 0 && act < (int)(sizeof FN(loops) / sizeof FN(loops)[0]))
        FN(loops)[act](x, y, n);
}

/* ------------------------------------------------------------------------------------------ */
/* softmax over rows of `cols` elements: y = e / sum(e), e = exp(x - max(x)), the stable form. */

/* The row's maximum; NaN when any element is NaN (a NaN row gives a NaN row). */
static T FN(row_max)(const T *x, int64_t cols)
{
    VT m = FN(splat)(-(T)__builtin_inf());
    VU nan = (VU){0};
    int64_t i = 0;
    for (; i + VL <= cols; i += VL) {
        VT v = FN(load)(x + i);
        nan |= (VU)(v != v);
        m = FN(select)((VU)(v > m), v, m);
    }
    T r = -(T)__builtin_inf();
    for (int l = 0; l < VL; l++) {
        if (nan[l])
            return (T)__builtin_nan("");
        r = m[l] > r ? m[l] : r;
    }
    for (; i < cols; i++) {
        if (x[i] != x[i])
            return (T)__builtin_nan("");
        r = x[i] > r ? x[i] : r;
    }
    return r;
}

/* e^(x - m) for x <= m (or NaN): 0 where x - m is below the dtype's range, x = -inf included.
 * x - m is rounded; its error (exact, by TwoSum) is put back as a factor 1 + lo: otherwise a
 * difference of -37 would cost 37 ulps of float32 in its exponential. */
static inline VT FN(exp_diff_v)(VT x, VT m)
{
    VT z = x - m;
    VT bb = z - x;
    VT lo = (x - (z - bb)) + (-m - bb);
    VU below = (VU)(z < SIGMOID_ZMIN);
    z = FN(select)(below, FN(splat)(SIGMOID_ZMIN), z);
    lo = FN(select)(below, FN(splat)(0), lo);
    VT s, p;
    FN(exp_parts)(z, &s, &p);
    VT e = FN(fma)(s, p, s);
    return FN(fma)(e, lo, e);
}

static void FN(softmax_rows)(const T *x, T *y, int64_t rows, int64_t cols)
{
    for (int64_t r = 0; r < rows; r++, x += cols, y += cols) {
        VT m = FN(splat)(FN(row_max)(x, cols));
        VT acc[4] = {FN(splat)(0), FN(splat)(0), FN(splat)(0), FN(splat)(0)};
        int64_t i = 0;
        for (; i + VL <= cols; i += VL) {
            VT e = FN(exp_diff_v)(FN(load)(x + i), m);
            FN(store)(y + i, e);
            acc[(i / VL) & 3] += e;
        }
        if (i < cols) { /* the tail through a padded vector: pad lanes give e^-inf = 0 */
            T buf[VL];
            for (int l = 0; l < VL; l++)
                buf[l] = i + l < cols ? x[i + l] : -(T)__builtin_inf();
            VT e = FN(exp_diff_v)(FN(load)(buf), m);
            FN(store)(buf, e);
            __builtin_memcpy(y + i, buf, (size_t)(cols - i) * sizeof(T));
            acc[(i / VL) & 3] += e;
        }
        VT t = (acc[0] + acc[1]) + (acc[2] + acc[3]);
        T sum = 0;
        for (int l = 0; l < VL; l++)
            sum += t[l];
        VT s = FN(splat)(sum);
        for (i = 0; i + VL <= cols; i += VL)
            FN(store)(y + i, FN(load)(y + i) / s);
        for (; i < cols; i++)
            y[i] = y[i] / sum;
    }
}

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
/* maps: y = op(a, b) elementwise over strided operands (binary ops with broadcasting, copies of
 * views), one row at a time: the row's strides are 1 (in place), 0 (broadcast) or anything
 * (gathered into a padded vector). The op ids are the op table's (maps.h, generated). */

static inline VT FN(copy_m)(VT a, VT b) { (void)b; return a; }
static inline VT FN(negative_m)(VT a, VT b) { (void)b; return (VT)((VU)a ^ SIGN_BITS); }
static inline VT FN(add_m)(VT a, VT b) { return a + b; }
static inline VT FN(subtract_m)(VT a, VT b) { return a - b; }
static inline VT FN(multiply_m)(VT a, VT b) { return a * b; }
static inline VT FN(divide_m)(VT a, VT b) { return a / b; }
/* numpy's: a where a >= b or a is NaN, else b (so a NaN on either side gives NaN) */
static inline VT FN(maximum_m)(VT a, VT b)
{
    return FN(select)((VU)(a >= b) | (VU)(a != a), a, b);
}
static inline VT FN(minimum_m)(VT a, VT b)
{
    return FN(select)((VU)(a <= b) | (VU)(a != a), a, b);
}

/* a vector of n <= VL elements of x at stride s (0: x[0] in every lane), zero-padded */
static inline VT FN(gather)(const T *x, int64_t s, int64_t n)
{
    if (s == 1 && n == VL)
        return FN(load)(x);
    if (s == 0)
        return FN(splat)(x[0]);
    T buf[VL];
    __builtin_memset(buf, 0, sizeof buf);
    for (int64_t l = 0; l < n; l++)
        buf[l] = x[l * s];
    return FN(load)(buf);
}

#define MAP_ROW(name)                                                                          \
    static void FN(name##_row)(const T *a, int64_t sa, const T *b, int64_t sb, T *y,        \
                               int64_t n)                                                      \
    {                                                                                          \
        int64_t i = 0;                                                                         \
        if (sa == 1 && (sb == 1 || sb == 0))                                                   \
            for (VT bv = FN(splat)(b ? b[0] : 0); i + VL <= n; i += VL)                        \
                FN(store)(y + i, FN(name##_m)(FN(load)(a + i), sb ? FN(load)(b + i) : bv));   \
        else if (sa == 0 && sb == 1)                                                           \
            for (VT av = FN(splat)(a[0]); i + VL <= n; i += VL)                                \
                FN(store)(y + i, FN(name##_m)(av, FN(load)(b + i)));                           \
        for (; i < n; i += VL) {                                                               \
            int64_t m = n - i < VL ? n - i : VL;                                               \
            T out[VL];                                                                         \
            FN(store)(out, FN(name##_m)(FN(gather)(a + i * sa, sa, m),                         \
                                        b ? FN(gather)(b + i * sb, sb, m) : FN(splat)(0)));    \
            __builtin_memcpy(y + i, out, (size_t)m * sizeof(T));                               \
        }                                                                                      \
    }
#define ROW(ID, name) MAP_ROW(name)
ACCEL_MAPS(ROW)
#undef ROW
#undef MAP_ROW

static void (*const FN(map_rows)[])(const T *, int64_t, const T *, int64_t, T *, int64_t) = {
#define ENTRY(ID, name) [MAP_##ID] = FN(name##_row),
    ACCEL_MAPS(ENTRY)
#undef ENTRY
};

/* rows [r0, r1) of y = act(op(a, b)): y C-contiguous of `ndim` dims `shape`, a and b at their
 * strides in elements over that shape (0 broadcasts; b NULL for a unary op), act an activation
 * id applied to each row once made (ACT_NONE: none) */
#ifndef ACCEL_MAP_DIMS
#define ACCEL_MAP_DIMS 8 /* accel_cpu.h's, for an includer without it (the module) */
#endif
static void FN(map)(int op, int act, const T *a, const int64_t *sa, const T *b,
                    const int64_t *sb, T *y, const int64_t *shape, int ndim, int64_t r0,
                    int64_t r1)
{
    if (op < 0 || op >= (int)(sizeof FN(map_rows) / sizeof FN(map_rows)[0]) || ndim < 1)
        return;
    int64_t n = shape[ndim - 1];
    int64_t made = r0; /* rows before this one have had their activation */
    /* row r0's index over the outer dimensions and its offsets in a and b; each next row's
     * follow by a carry (no division per row) */
    int64_t idx[ACCEL_MAP_DIMS] = {0}, oa = 0, ob = 0, rest = r0;
    if (ndim > ACCEL_MAP_DIMS)
        return;
    for (int d = ndim - 2; d >= 0; d--) {
        idx[d] = rest % shape[d];
        rest /= shape[d];
        oa += idx[d] * sa[d];
        ob += idx[d] * (b ? sb[d] : 0);
    }
    for (int64_t r = r0; r < r1; r++) {
        FN(map_rows)[op](a + oa, sa[ndim - 1], b ? b + ob : NULL, b ? sb[ndim - 1] : 0,
                         y + r * n, n);
        for (int d = ndim - 2; d >= 0; d--) {
            oa += sa[d];
            ob += b ? sb[d] : 0;
            if (++idx[d] < shape[d])
                break;
            oa -= shape[d] * sa[d];
            ob -= b ? shape[d] * sb[d] : 0;
            idx[d] = 0;
        }
        /* the activation over the rows made since the last, once they hold a few thousand
         * values (still in L1): short rows pay its loop's start once, not per row */
        if (act != ACT_NONE && ((r + 1 - made) * n >= 2048 || r + 1 == r1)) {
            FN(elementwise)(act, y + made * n, y + made * n, (r + 1 - made) * n);
            made = r + 1;
        }
    }
}

/* ------------------------------------------------------------------------------------------ */
/* reductions over one axis of a C-contiguous (outer, n, inner) block, into (outer, inner), in
 * an order that depends on n and inner alone: the same bits on every run and thread count.
 * A row (inner 1) is summed in VL x 4 lanes, combined in a fixed order; columns (inner > 1)
 * one row of n after the other, the inner elements in vectors. max propagates NaN. */

static T FN(row_sum)(const T *x, int64_t n)
{
    VT s[4] = {FN(splat)(0), FN(splat)(0), FN(splat)(0), FN(splat)(0)};
    int64_t i = 0;
    for (; i + 4 * VL <= n; i += 4 * VL)
        for (int u = 0; u < 4; u++)
            s[u] = s[u] + FN(load)(x + i + u * VL);
    for (; i + VL <= n; i += VL)
        s[0] = s[0] + FN(load)(x + i);
    VT t = (s[0] + s[1]) + (s[2] + s[3]);
    T r = 0;
    for (int l = 0; l < VL; l++)
        r += t[l];
    for (; i < n; i++)
        r += x[i];
    return r;
}

static T FN(row_reduce_max)(const T *x, int64_t n) { return FN(row_max)(x, n); }

static void FN(reduce)(int op, const T *x, int64_t outer, int64_t n, int64_t inner, T *y)
{
    for (int64_t o = 0; o < outer; o++) {
        const T *xo = x + o * n * inner;
        T *yo = y + o * inner;
        if (inner == 1) {
            T r = op == REDUCE_MAX ? FN(row_reduce_max)(xo, n) : FN(row_sum)(xo, n);
            yo[0] = op == REDUCE_MEAN ? r / (T)n : r;
            continue;
        }
        for (int64_t j = 0; j < inner; j += VL) {
            int64_t m = inner - j < VL ? inner - j : VL;
            VT acc = op == REDUCE_MAX ? FN(splat)(-(T)__builtin_inf()) : FN(splat)(0);
            VU nan = (VU){0};
            for (int64_t i = 0; i < n; i++) {
                VT v = FN(gather)(xo + i * inner + j, 1, m);
                if (op == REDUCE_MAX) {
                    nan |= (VU)(v != v);
                    acc = FN(select)((VU)(v > acc), v, acc);
                } else {
                    acc = acc + v;
                }
            }
            if (op == REDUCE_MAX)
                acc = FN(select)(nan, FN(splat)((T)__builtin_nan("")), acc);
            if (op == REDUCE_MEAN)
                acc = acc / (T)n;
            T out[VL];
            FN(store)(out, acc);
            __builtin_memcpy(yo + j, out, (size_t)m * sizeof(T));
        }
    }
}

/* ------------------------------------------------------------------------------------------ */
/* norms over rows of `cols` values: layer_norm y = (x - mean) / sqrt(var + eps) * w + b with
 * the biased variance of the row, two passes (never E[x^2] - E[x]^2); rms_norm y = x /
 * sqrt(mean(x^2) + eps) * w. w and b hold cols values or are NULL (1 and 0). */

static void FN(norm_rows)(int kind, const T *x, T *y, int64_t rows, int64_t cols, const T *w,
                          const T *b, T eps)
{
    for (int64_t r = 0; r < rows; r++) {
        const T *xr = x + r * cols;
        T *yr = y + r * cols;
        T mean = kind == NORM_LAYER ? FN(row_sum)(xr, cols) / (T)cols : 0;
        /* the sum of squares of (x - mean), in the row_sum's order */
        VT s[4] = {FN(splat)(0), FN(splat)(0), FN(splat)(0), FN(splat)(0)};
        VT mv = FN(splat)(mean);
        int64_t i = 0;
        for (; i + 4 * VL <= cols; i += 4 * VL)
            for (int u = 0; u < 4; u++) {
                VT d = FN(load)(xr + i + u * VL) - mv;
                s[u] = FN(fma)(d, d, s[u]);
            }
        for (; i + VL <= cols; i += VL) {
            VT d = FN(load)(xr + i) - mv;
            s[0] = FN(fma)(d, d, s[0]);
        }
        VT t = (s[0] + s[1]) + (s[2] + s[3]);
        T ss = 0;
        for (int l = 0; l < VL; l++)
            ss += t[l];
        for (; i < cols; i++)
            ss = FN(fma1)(xr[i] - mean, xr[i] - mean, ss);
        T inv = 1 / FN(sqrt)(ss / (T)cols + eps);
        VT iv = FN(splat)(inv);
        for (int64_t j = 0; j < cols; j += VL) {
            int64_t m = cols - j < VL ? cols - j : VL;
            VT v = (FN(gather)(xr + j, 1, m) - mv) * iv;
            if (w)
                v = v * FN(gather)(w + j, 1, m);
            if (b)
                v = v + FN(gather)(b + j, 1, m);
            T out[VL];
            FN(store)(out, v);
            __builtin_memcpy(yr + j, out, (size_t)m * sizeof(T));
        }
    }
}

/* ------------------------------------------------------------------------------------------ */
/* matmul                                                                                      */

/* the epilogue of every path (defined below): y = act(y + bias) over a row of C */
static void FN(bias_act_row)(T *y, int64_t n, const T *bias, int act);

/* A's sliver in the micro-kernel: packed (k-major, MR values per k: pack_a), or MR rows of A
 * read where they are (row stride lda). The native kernels read full slivers in place and
 * pack only the last, partial one: packing A costs a few percent of a square product, and a
 * sliver's MR rows (MR x KC) stay in L1 across the k loop either way.
 * WebAssembly's LANE_SPLAT kernel loads A as vectors and needs it packed. */
#ifdef LANE_SPLAT
#define PACK_ALL_A 1
#else
#define PACK_ALL_A 0
#endif

/* C[0:mr, 0:nr] (+)= A sliver (kc x MR: element (r, p) at pa[r * ars + p * ap]) times packed B
 * sliver (kc x NR). `first` is set for the first KC block, which starts from zero, so C needs
 * no zeroing; the later blocks start from C, so that each element is one fma chain over all
 * of k, in order (the same bits as the unpacked and matrix-vector paths). ars and ap are
 * constants where it is inlined: (1, MR) for a packed sliver, (lda, 1) for rows in place. */
static inline __attribute__((always_inline)) void FN(micro_body)(int64_t kc, const T *restrict pa,
                                                                 int64_t ars, int64_t ap,
                                                                 const T *restrict pb,
                                                                 T *restrict c, int64_t ldc,
                                                                 int first, int64_t mr,
                                                                 int64_t nr)
{
    VT acc[MR][NV];
    int whole = mr == MR && nr == NR;
    T tmp[MR * NR];
    if (first) {
#pragma GCC unroll 32
        for (int r = 0; r < MR; r++)
#pragma GCC unroll 8
            for (int v = 0; v < NV; v++)
                acc[r][v] = FN(splat)(0);
    } else if (whole) {
#pragma GCC unroll 32
        for (int r = 0; r < MR; r++)
#pragma GCC unroll 8
            for (int v = 0; v < NV; v++)
                acc[r][v] = FN(load)(c + r * ldc + v * VL);
    } else {
        for (int r = 0; r < MR; r++)
            for (int64_t j = 0; j < NR; j++)
                tmp[r * NR + j] = r < mr && j < nr ? c[r * ldc + j] : (T)0;
        for (int r = 0; r < MR; r++)
            for (int v = 0; v < NV; v++)
                acc[r][v] = FN(load)(tmp + r * NR + v * VL);
    }
#ifdef MICRO_K_UNROLL
#pragma GCC unroll MICRO_K_UNROLL
#endif
    for (int64_t p = 0; p < kc; p++) {
        VT b[NV];
#ifndef ACCEL_FREESTANDING
        /* B's sliver comes from L2 (KC x NR is larger than L1): its lines 8 k ahead, to L1 */
#pragma GCC unroll 8
        for (int v = 0; v < NR; v += 64 / (int)sizeof(T))
            __builtin_prefetch(pb + 8 * NR + v, 0, 3);
#endif
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
            VT a = FN(splat)(pa[r * ars]);
#pragma GCC unroll 8
            for (int v = 0; v < NV; v++)
                acc[r][v] = FN(fma)(a, b[v], acc[r][v]);
        }
#endif
        pa += ap;
        pb += NR;
    }
    if (whole) {
#pragma GCC unroll 32
        for (int r = 0; r < MR; r++)
#pragma GCC unroll 8
            for (int v = 0; v < NV; v++)
                FN(store)(c + r * ldc + v * VL, acc[r][v]);
        return;
    }
    for (int r = 0; r < MR; r++)
        for (int v = 0; v < NV; v++)
            FN(store)(tmp + r * NR + v * VL, acc[r][v]);
    for (int64_t r = 0; r < mr; r++)
        for (int64_t j = 0; j < nr; j++)
            c[r * ldc + j] = tmp[r * NR + j];
}

/* the micro-kernel on a packed A sliver (pack_a) */
static void FN(micro)(int64_t kc, const T *restrict pa, const T *restrict pb, T *restrict c,
                      int64_t ldc, int first, int64_t mr, int64_t nr)
{
    FN(micro_body)(kc, pa, 1, MR, pb, c, ldc, first, mr, nr);
}

#if !PACK_ALL_A
/* the micro-kernel on MR whole rows of A in place (row stride lda) */
static void FN(micro_rows)(int64_t kc, const T *restrict a, int64_t lda, const T *restrict pb,
                           T *restrict c, int64_t ldc, int first, int64_t nr)
{
    FN(micro_body)(kc, a, lda, 1, pb, c, ldc, first, MR, nr);
}
#endif

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

/* B[0:kc, 0:nc] into NR-column slivers, each stored k-major: sliver[p * NR + j]. B is read
 * row by row (each row's nc values in order, which the hardware prefetches), not sliver by
 * sliver (NR values from each of kc rows, a page apart in a large B). */
static void FN(pack_b)(int64_t kc, int64_t nc, const T *b, int64_t ldb, T *restrict pb)
{
    for (int64_t p = 0; p < kc; p++) {
        const T *row = b + p * ldb;
        for (int64_t j0 = 0; j0 < nc; j0 += NR) {
            int64_t nr = nc - j0 < NR ? nc - j0 : NR;
            T *dst = pb + j0 * kc + p * NR;
            __builtin_memcpy(dst, row + j0, (size_t)nr * sizeof(T));
            if (nr < NR)
                __builtin_memset(dst + nr, 0, (size_t)(NR - nr) * sizeof(T));
        }
    }
}

/* y[0:n] = act(y + bias) (bias n values, or NULL: act(y)): the epilogue of every matmul path,
 * on a row still in L1. The bias is added first, then the activation's elementwise loop runs
 * on the row; both take the tail through a padded vector, so every element takes the same
 * vector path (the same bits whatever n). */
static void FN(bias_act_row)(T *y, int64_t n, const T *bias, int act)
{
    if (bias) {
        int64_t j = 0;
        for (; j + VL <= n; j += VL)
            FN(store)(y + j, FN(load)(y + j) + FN(load)(bias + j));
        if (j < n) {
            T buf[VL], bb[VL];
            __builtin_memset(buf, 0, sizeof buf);
            __builtin_memset(bb, 0, sizeof bb);
            __builtin_memcpy(buf, y + j, (size_t)(n - j) * sizeof(T));
            __builtin_memcpy(bb, bias + j, (size_t)(n - j) * sizeof(T));
            FN(store)(buf, FN(load)(buf) + FN(load)(bb));
            __builtin_memcpy(y + j, buf, (size_t)(n - j) * sizeof(T));
        }
    }
    if (act != ACT_NONE)
        FN(elementwise)(act, y, y, n);
}

static int64_t FN(round_up)(int64_t x, int64_t to) { return (x + to - 1) / to * to; }

/* The width of B's packed panels (a multiple of NR, at most NC): `panel` columns, or NC where
 * it is 0 or less. */
static int64_t FN(panel_width)(int64_t panel)
{
    if (panel <= 0 || panel > NC)
        return NC;
    return panel < NR ? NR : panel / NR * NR;
}

/* How deep in k one block of the packed product goes (at most KC): `depth`, or KC where it
 * is 0 or less. */
static int64_t FN(block_depth)(int64_t depth)
{
    if (depth <= 0 || depth > KC)
        return KC;
    return depth < 64 ? 64 : depth;
}

/* The packing buffers gemm_packed needs for an m x n x k product with k blocks `depth` deep
 * (block_depth) and panels `panel` columns wide (panel_width), in bytes (64-aligned). */
static void FN(gemm_buffer_bytes)(int64_t m, int64_t n, int64_t k, int64_t depth,
                                  int64_t panel, int64_t *abytes, int64_t *bbytes)
{
    int64_t kcb = FN(block_depth)(depth);
    int64_t kcmax = k < kcb ? k : kcb;
    int64_t ncb = FN(panel_width)(panel);
    /* native kernels pack only A's last partial sliver */
    int64_t mcmax = PACK_ALL_A ? FN(round_up)(m < MC ? m : MC, MR) : MR;
    int64_t ncmax = FN(round_up)(n < ncb ? n : ncb, NR);
    *abytes = FN(round_up)(mcmax * kcmax * (int64_t)sizeof(T), 64);
    *bbytes = FN(round_up)(ncmax * kcmax * (int64_t)sizeof(T), 64);
}

/* Rows r0..r1 of one panel of the product: C[:, 0:nc] (+)= A[:, 0:kc] @ B-panel, with the
 * panel packed in pb (nc columns, kc deep; pack_b) and A's blocks packed here into pa (MC x
 * KC; natively only a partial last sliver, MR x KC, and whole slivers read in place). a
 * points at A's column pc, c at C's column jc, bias (or NULL) at bias[jc]. first: the
 * panel's k starts at 0 (C is written, not continued); last: it ends at k (the epilogue runs
 * on each tile just stored). Threads may run disjoint row ranges of one panel at once. */
static void FN(panel_rows)(int64_t r0, int64_t r1, int64_t nc, int64_t kc, const T *a,
                           int64_t lda, const T *pb, T *c, int64_t ldc, const T *bias, int act,
                           int first, int last, T *pa)
{
    for (int64_t ic = r0; ic < r1; ic += MC) {
        int64_t mc = r1 - ic < MC ? r1 - ic : MC;
        int64_t whole = PACK_ALL_A ? 0 : mc / MR * MR; /* rows read in place */
        if (whole < mc)
            FN(pack_a)(mc - whole, kc, a + (ic + whole) * lda, lda, pa);
        for (int64_t jr = 0; jr < nc; jr += NR) {
            int64_t nr = nc - jr < NR ? nc - jr : NR;
            for (int64_t ir = 0; ir < mc; ir += MR) {
                int64_t mr = mc - ir < MR ? mc - ir : MR;
#ifndef ACCEL_FREESTANDING
                if (!first && ir + MR < mc) /* the next block's C, loaded at its start */
                    for (int r = 0; r < MR; r++)
                        for (int v = 0; v < NR; v += 64 / (int)sizeof(T))
                            __builtin_prefetch(c + (ic + ir + MR + r) * ldc + jr + v);
#endif
#if !PACK_ALL_A
                if (ir < whole)
                    FN(micro_rows)(kc, a + (ic + ir) * lda, lda, pb + jr * kc,
                                   c + (ic + ir) * ldc + jr, ldc, first, nr);
                else
#endif
                    FN(micro)(kc, pa + (ir - whole) * kc, pb + jr * kc, c + (ic + ir) * ldc + jr,
                              ldc, first, mr, nr);
            }
        }
        /* the epilogue on the mc rows of the panel just stored (still in L2): rows of nc
         * values, long enough for the activation's vector loop (a sliver is NR wide: 4
         * values in the module) */
        if (last && (bias || act != ACT_NONE))
            for (int64_t r = 0; r < mc; r++)
                FN(bias_act_row)(c + (ic + r) * ldc, nc, bias, act);
    }
}

/* C = act(A @ B + bias) on an m x n block; bias (n values) may be NULL, act ACT_NONE. k goes
 * in blocks `depth` deep (block_depth), B is packed in panels `panel` columns wide
 * (panel_width); the buffers from gemm_buffer_bytes with the same two. */
static void FN(gemm_packed)(int64_t m, int64_t n, int64_t k, const T *a, int64_t lda,
                            const T *b, int64_t ldb, T *c, int64_t ldc, const T *bias, int act,
                            int64_t depth, int64_t panel, T *pa, T *pb)
{
    int64_t kcb = FN(block_depth)(depth);
    int64_t ncb = FN(panel_width)(panel);
    if (m <= 0 || n <= 0)
        return;
    if (k <= 0) { /* an empty sum: act(0 + bias) */
        for (int64_t i = 0; i < m; i++) {
            __builtin_memset(c + i * ldc, 0, (size_t)n * sizeof(T));
            if (bias || act != ACT_NONE)
                FN(bias_act_row)(c + i * ldc, n, bias, act);
        }
        return;
    }
    for (int64_t jc = 0; jc < n; jc += ncb) {
        int64_t nc = n - jc < ncb ? n - jc : ncb;
        for (int64_t pc = 0; pc < k; pc += kcb) {
            int64_t kc = k - pc < kcb ? k - pc : kcb;
            FN(pack_b)(kc, nc, b + pc * ldb + jc, ldb, pb);
            FN(panel_rows)(0, m, nc, kc, a + pc, lda, pb, c + jc, ldc, bias ? bias + jc : NULL,
                           act, pc == 0, pc + kc >= k, pa);
        }
    }
}

/* A few rows times a matrix: Y[0:m, 0:n] = X[0:m, 0:k] @ B[0:k, 0:n] for m <= GEMV_ROWS_MAX,
 * with B (row stride ldb) streamed once, row by row, unpacked, and Y (m rows of n values, row
 * stride ldy) kept in cache: Y[r, :] += X[r, p] B[p, :] for p in order, so each output is one
 * fma chain over k, as in the gemm. A layer with a batch of 1 to 3 is this: the matrix is read
 * once for all rows (once per three rows for more), where the unpacked kernel reads it once
 * per row. Four rows are one block of the unpacked kernel, which holds their sums in
 * registers over all of k: faster. */
#define GEMV_ROWS_MAX 3

/* Y[0:nx, 0:n] (+)= X[0:nx, p0:p0+q] @ B[p0:p0+q, 0:n] for nx rows and q rows of B (constants
 * where inlined): q streams in flight, each row of Y loaded and stored once per q fmas, each
 * output's chain in p order */
static inline __attribute__((always_inline)) void FN(gemv_block)(const int nx, const int q,
                                                                 int64_t n, int64_t full,
                                                                 const T *x, int64_t ldx,
                                                                 const T *b, int64_t ldb, T *y,
                                                                 int64_t ldy)
{
    VT xv[GEMV_ROWS_MAX][8];
#pragma GCC unroll 3
    for (int r = 0; r < nx; r++)
#pragma GCC unroll 8
        for (int t = 0; t < q; t++)
            xv[r][t] = FN(splat)(x[r * ldx + t]);
    for (int64_t j = 0; j < full; j += VL) {
        VT bv[8];
#pragma GCC unroll 8
        for (int t = 0; t < q; t++)
            bv[t] = FN(load)(b + t * ldb + j);
#pragma GCC unroll 3
        for (int r = 0; r < nx; r++) {
            VT acc = FN(load)(y + r * ldy + j);
#pragma GCC unroll 8
            for (int t = 0; t < q; t++)
                acc = FN(fma)(xv[r][t], bv[t], acc);
            FN(store)(y + r * ldy + j, acc);
        }
    }
    for (int64_t j = full; j < n; j++) /* the last columns, scalar, in the same order */
        for (int r = 0; r < nx; r++) {
            T acc = y[r * ldy + j];
            for (int t = 0; t < q; t++)
                acc = FN(fma1)(x[r * ldx + t], b[t * ldb + j], acc);
            y[r * ldy + j] = acc;
        }
}

/* all of k for nx rows (a constant where inlined): q rows of B at a time, then one */
static inline __attribute__((always_inline)) void FN(gemv_rows)(const int nx, const int q,
                                                                int64_t n, int64_t k,
                                                                const T *x, int64_t ldx,
                                                                const T *b, int64_t ldb, T *y,
                                                                int64_t ldy)
{
    int64_t full = n / VL * VL, p = 0;
    for (; p + q <= k; p += q)
        FN(gemv_block)(nx, q, n, full, x + p, ldx, b + p * ldb, ldb, y, ldy);
    for (; p < k; p++)
        FN(gemv_block)(nx, 1, n, full, x + p, ldx, b + p * ldb, ldb, y, ldy);
}

/* One row times a B of nv whole vectors per row (nv <= 8, a constant where inlined): the
 * row's results held in registers while B streams past in order, each element's fma chain
 * over k in order (the same bits as gemv_block's) */
static inline __attribute__((always_inline)) void FN(gemv_row_held)(const int nv, int64_t k,
                                                                    const T *x, const T *b,
                                                                    int64_t ldb, T *y)
{
    VT acc[8];
#pragma GCC unroll 8
    for (int j = 0; j < nv; j++)
        acc[j] = FN(splat)(0);
    for (int64_t p = 0; p < k; p++) {
        VT xv = FN(splat)(x[p]);
        const T *row = b + p * ldb;
#pragma GCC unroll 8
        for (int j = 0; j < nv; j++)
            acc[j] = FN(fma)(xv, FN(load)(row + j * VL), acc[j]);
    }
#pragma GCC unroll 8
    for (int j = 0; j < nv; j++)
        FN(store)(y + j * VL, acc[j]);
}

static void FN(gemv_row)(int64_t m, int64_t n, int64_t k, const T *x, int64_t ldx,
                         const T *b, int64_t ldb, T *y, int64_t ldy)
{
    if (m == 1 && n < VL && ldb == n) {
        /* a row times a B narrower than a vector (a layer's few outputs): each vector load
         * takes one row of B and the start of the next (lanes past n are discarded); the last
         * rows, whose load would pass B's end, through a padded copy */
        VT acc = FN(splat)(0);
        int64_t p = 0, safe = k - (VL + n - 1) / n;
        for (; p < safe; p++)
            acc = FN(fma)(FN(splat)(x[p]), FN(load)(b + p * ldb), acc);
        for (; p < k; p++)
            acc = FN(fma)(FN(splat)(x[p]), FN(gather)(b + p * ldb, 1, n), acc);
        T out[VL];
        FN(store)(out, acc);
        __builtin_memcpy(y, out, (size_t)n * sizeof(T));
        return;
    }
    if (m == 1 && n <= 64 * VL && (n % VL == 0 || ldb == n)) {
        /* a row of an agent's layer: B read once, in order (by bands of up to 8 vectors of
         * columns), the results in registers; the columns past the last whole vector (B's
         * rows one after the other) by the narrow rows' loads: each takes the row's last
         * columns and the next row's first (lanes past n discarded), the last row through a
         * padded copy */
        int64_t full = n / VL * VL, tail = n - full;
        if (tail) {
            VT acc = FN(splat)(0);
            int64_t p = 0;
            for (; p < k - 1; p++)
                acc = FN(fma)(FN(splat)(x[p]), FN(load)(b + p * ldb + full), acc);
            for (; p < k; p++)
                acc = FN(fma)(FN(splat)(x[p]), FN(gather)(b + p * ldb + full, 1, tail), acc);
            T out[VL];
            FN(store)(out, acc);
            __builtin_memcpy(y + full, out, (size_t)tail * sizeof(T));
        }
        for (int64_t j0 = 0; j0 < full; j0 += 8 * VL) {
            const T *bj = b + j0;
            T *yj = y + j0;
            switch ((full - j0) / VL < 8 ? (full - j0) / VL : 8) {
            case 1: FN(gemv_row_held)(1, k, x, bj, ldb, yj); break;
            case 2: FN(gemv_row_held)(2, k, x, bj, ldb, yj); break;
            case 3: FN(gemv_row_held)(3, k, x, bj, ldb, yj); break;
            case 4: FN(gemv_row_held)(4, k, x, bj, ldb, yj); break;
            case 5: FN(gemv_row_held)(5, k, x, bj, ldb, yj); break;
            case 6: FN(gemv_row_held)(6, k, x, bj, ldb, yj); break;
            case 7: FN(gemv_row_held)(7, k, x, bj, ldb, yj); break;
            default: FN(gemv_row_held)(8, k, x, bj, ldb, yj); break;
            }
        }
        return;
    }
    for (int64_t r = 0; r < m; r++)
        for (int64_t j = 0; j < n; j++)
            y[r * ldy + j] = 0;
    /* a pass over B per three rows of X. One row: eight rows of B at a time (with four, y
     * goes through L1 twice as often); two or three: four rows of B, their broadcasts held in
     * registers */
    for (int64_t r = 0; r < m; r += GEMV_ROWS_MAX) {
        const T *xr = x + r * ldx;
        T *yr = y + r * ldy;
        switch (m - r) {
        case 1:
            FN(gemv_rows)(1, 8, n, k, xr, ldx, b, ldb, yr, ldy);
            break;
        case 2:
            FN(gemv_rows)(2, 4, n, k, xr, ldx, b, ldb, yr, ldy);
            break;
        default: /* GEMV_ROWS_MAX */
            FN(gemv_rows)(3, 4, n, k, xr, ldx, b, ldb, yr, ldy);
        }
    }
}

/* The last, partial vector of columns j0.. of B for k rows, zero-padded: row p at pad + p * VL */
static void FN(direct_pad)(int64_t tail, int64_t k, const T *b, int64_t ldb, T *pad)
{
    for (int64_t p = 0; p < k; p++) {
        const T *src = b + p * ldb;
        T *dst = pad + p * VL;
        for (int64_t t = 0; t < tail; t++)
            dst[t] = src[t];
        for (int64_t t = tail; t < VL; t++)
            dst[t] = (T)0;
    }
}

#ifndef DIRECT_PANEL
#define DIRECT_PANEL (256.0 * 1024.0) /* bytes of B per panel: within any L2 beside A's rows */
#define DIRECT_PF 8                   /* rows of B prefetched ahead where B is larger */
#endif

/* One block of gemm_direct: mr rows by nvc vectors of columns (both constants where it is
 * inlined, so that the accumulators stay in registers); `pad`, when not NULL, holds the last
 * vector's columns zero-padded (w of them are C's), read instead of B (the same fma per
 * element as a whole block). */
static inline __attribute__((always_inline)) void FN(direct_block)(const int mr, const int nvc,
                                                                   int64_t w, int64_t k,
                                                                   const T *a, int64_t lda,
                                                                   const T *b, int64_t ldb,
                                                                   const T *pad, T *c,
                                                                   int64_t ldc)
{
    VT acc[MR][NV];
#pragma GCC unroll 32
    for (int r = 0; r < mr; r++)
#pragma GCC unroll 8
        for (int v = 0; v < nvc; v++)
            acc[r][v] = FN(splat)(0);
    /* B's rows lie ldb apart: past a page, the hardware prefetchers do not follow them, and a
     * B that comes from memory is read at its latency; fetch DIRECT_PF rows ahead */
    const int far = (double)ldb * sizeof(T) * (double)k > DIRECT_PANEL;
    int64_t p = 0;
#ifdef LANE_SPLAT
    /* VL steps of k at once where B's rows of them fit in registers beside the block: each
     * row's VL values of A are one vector load, broadcast lane by lane (a shuffle, where a
     * scalar load and a broadcast cost three instructions on Cranelift); each accumulator
     * still takes its k in order */
    if (mr * nvc + VL * nvc + 2 <= 16)
        for (; p + VL <= k; p += VL) {
            VT bq[VL][NV];
#pragma GCC unroll 16
            for (int l = 0; l < VL; l++)
#pragma GCC unroll 8
                for (int v = 0; v < nvc; v++)
                    bq[l][v] = pad && v == nvc - 1 ? FN(load)(pad + (p + l) * VL)
                                                   : FN(load)(b + (p + l) * ldb + v * VL);
#pragma GCC unroll 32
            for (int r = 0; r < mr; r++) {
                VT arow = FN(load)(a + r * lda + p);
#pragma GCC unroll 16
                for (int l = 0; l < VL; l++) {
                    VT av = FN(splat)(arow[l]);
#pragma GCC unroll 8
                    for (int v = 0; v < nvc; v++)
                        acc[r][v] = FN(fma)(av, bq[l][v], acc[r][v]);
                }
            }
        }
#endif
    for (; p < k; p++) {
        const T *bp = b + p * ldb;
        if (far && p + DIRECT_PF < k)
#pragma GCC unroll 8
            for (int v = 0; v < nvc; v++)
                __builtin_prefetch(bp + DIRECT_PF * ldb + v * VL);
        VT bv[NV];
#pragma GCC unroll 8
        for (int v = 0; v < nvc; v++)
            bv[v] = pad && v == nvc - 1 ? FN(load)(pad + p * VL) : FN(load)(bp + v * VL);
#pragma GCC unroll 32
        for (int r = 0; r < mr; r++) {
            VT av = FN(splat)(a[r * lda + p]);
#pragma GCC unroll 8
            for (int v = 0; v < nvc; v++)
                acc[r][v] = FN(fma)(av, bv[v], acc[r][v]);
        }
    }
    const int whole = pad ? nvc - 1 : nvc; /* vectors stored as they are */
    T last[MR][VL];
#pragma GCC unroll 32
    for (int r = 0; r < mr; r++) {
#pragma GCC unroll 8
        for (int v = 0; v < whole; v++)
            FN(store)(c + r * ldc + v * VL, acc[r][v]);
        if (pad)
            FN(store)(last[r], acc[r][nvc - 1]);
    }
    if (pad) { /* (after every register is stored: this loop may become calls of memcpy) */
        int64_t tail = w - (int64_t)whole * VL;
        for (int r = 0; r < mr; r++)
            for (int64_t j = 0; j < tail; j++)
                c[r * ldc + whole * VL + j] = last[r][j];
    }
}

_Static_assert(GEMV_ROWS_MAX == 3, "gemv_row instantiates 1 to 3 rows");
_Static_assert(NV >= 1 && NV <= 4, "direct_rows instantiates blocks of 1 to 4 vectors");

/* The blocks of mr rows (a constant) across all n columns; pad: the last partial vector */
static inline __attribute__((always_inline)) void FN(direct_rows)(const int mr, int64_t n,
                                                                  int64_t k, const T *a,
                                                                  int64_t lda, const T *b,
                                                                  int64_t ldb, const T *pad,
                                                                  T *c, int64_t ldc)
{
    int64_t j0 = 0;
    for (; j0 + NR <= n; j0 += NR)
        FN(direct_block)(mr, NV, NR, k, a, lda, b + j0, ldb, NULL, c + j0, ldc);
    if (j0 == n)
        return;
    int64_t w = n - j0;
    int nv = (int)((w + VL - 1) / VL);
    const T *p = w % VL ? pad : NULL;
    if (nv == 1)
        FN(direct_block)(mr, 1, w, k, a, lda, b + j0, ldb, p, c + j0, ldc);
    else if (NV >= 2 && nv == 2)
        FN(direct_block)(mr, NV >= 2 ? 2 : 1, w, k, a, lda, b + j0, ldb, p, c + j0, ldc);
    else if (NV >= 3 && nv == 3)
        FN(direct_block)(mr, NV >= 3 ? 3 : 1, w, k, a, lda, b + j0, ldb, p, c + j0, ldc);
    else
        FN(direct_block)(mr, NV >= 4 ? 4 : 1, w, k, a, lda, b + j0, ldb, p, c + j0, ldc);
}

__attribute__((noinline)) static void FN(direct_rows_4)(int64_t n, int64_t k, const T *a,
                                                        int64_t lda, const T *b, int64_t ldb,
                                                        const T *pad, T *c, int64_t ldc)
{
    FN(direct_rows)(MR < 4 ? MR : 4, n, k, a, lda, b, ldb, pad, c, ldc);
}

__attribute__((noinline)) static void FN(direct_rows_1)(int64_t n, int64_t k, const T *a,
                                                        int64_t lda, const T *b, int64_t ldb,
                                                        const T *pad, T *c, int64_t ldc)
{
    FN(direct_rows)(1, n, k, a, lda, b, ldb, pad, c, ldc);
}

/* Small products without packing: MR x NR register blocks read A (row stride lda, broadcast
 * per k) and B (row stride ldb, NV vectors per k) where they are; the rows past the last MR
 * go in blocks of 4, then 1; the columns past the last whole vector come from a zero-padded
 * copy made once. Each element is one fma chain over k in order, as everywhere: the same bits
 * as the packed path. For products whose packing would cost more than it saves (they fit in
 * L1 and L2 as they are); k is split where the padded copy would pass DIRECT_K rows (the
 * partial sums go through C, which continues the same chains). */
#define DIRECT_K 256
static void FN(gemm_direct)(int64_t m, int64_t n, int64_t k, const T *a, int64_t lda,
                            const T *b, int64_t ldb, T *c, int64_t ldc)
{
    T pad[DIRECT_K * VL];
    int64_t j_tail = n / VL * VL;
    if (k > DIRECT_K && j_tail < n) {
        /* columns up to j_tail whole; the rest DIRECT_K rows of k at a time, C carrying the
         * sums */
        if (j_tail > 0)
            FN(gemm_direct)(m, j_tail, k, a, lda, b, ldb, c, ldc);
        int64_t w = n - j_tail;
        for (int64_t i = 0; i < m; i++)
            for (int64_t j = 0; j < w; j++)
                c[i * ldc + j_tail + j] = (T)0;
        for (int64_t p0 = 0; p0 < k; p0 += DIRECT_K) {
            int64_t kc = k - p0 < DIRECT_K ? k - p0 : DIRECT_K;
            FN(direct_pad)(w, kc, b + p0 * ldb + j_tail, ldb, pad);
            for (int64_t i = 0; i < m; i++) {
                T row[VL];
                for (int64_t j = 0; j < VL; j++)
                    row[j] = j < w ? c[i * ldc + j_tail + j] : (T)0;
                VT acc = FN(load)(row);
                for (int64_t p = 0; p < kc; p++)
                    acc = FN(fma)(FN(splat)(a[i * lda + p0 + p]), FN(load)(pad + p * VL), acc);
                FN(store)(row, acc);
                for (int64_t j = 0; j < w; j++)
                    c[i * ldc + j_tail + j] = row[j];
            }
        }
        return;
    }
    const T *last = 0; /* the partial last vector's padded copy, if there is one */
    if (j_tail < n) {
        FN(direct_pad)(n - j_tail, k, b + j_tail, ldb, pad);
        last = pad;
    }
    /* Panels of B's columns, each at most DIRECT_PANEL bytes, every row block over one panel
     * before the next: a B past the L2 is then read from memory once, not once per MR rows. */
    int64_t panel = (int64_t)(DIRECT_PANEL / ((double)k * sizeof(T))) / NR * NR;
    panel = panel < NR ? NR : panel;
    /* The rows past the blocks of MR and of 4 (one to three) go singly; where B spans more than
     * a panel, a single row would walk down each panel's strip of columns, k rows pages apart,
     * for its few fmas: the matrix-vector kernel instead streams B once for all of them, row
     * after row */
    const int four = MR < 4 ? MR : 4;
    int64_t singles = m % MR % four;
    int stream = singles > 0 && (double)n * (double)k * sizeof(T) > DIRECT_PANEL;
    int64_t blocked = stream ? m - singles : m;
    for (int64_t j0 = 0; j0 < n; j0 += panel) {
        int64_t w = n - j0 < panel ? n - j0 : panel;
        const T *bj = b + j0;
        T *cj = c + j0;
        int64_t i0 = 0;
        for (; i0 + MR <= m; i0 += MR)
            FN(direct_rows)(MR, w, k, a + i0 * lda, lda, bj, ldb, last, cj + i0 * ldc, ldc);
        for (; i0 + four <= m; i0 += four)
            FN(direct_rows_4)(w, k, a + i0 * lda, lda, bj, ldb, last, cj + i0 * ldc, ldc);
        for (; i0 < blocked; i0++)
            FN(direct_rows_1)(w, k, a + i0 * lda, lda, bj, ldb, last, cj + i0 * ldc, ldc);
    }
    if (stream)
        FN(gemv_row)(singles, n, k, a + blocked * lda, lda, b, ldb, c + blocked * ldc, ldc);
}

/* gemm_direct with gemm's contract: C = act(A B + bias), the epilogue on each row after (the
 * native driver's tasks call this or gemm; the wasm module's linear export calls it too) */
static int FN(gemm_direct_linear)(int64_t m, int64_t n, int64_t k, const T *a, int64_t lda,
                                  const T *b, int64_t ldb, T *c, int64_t ldc, const T *bias,
                                  int act)
{
    FN(gemm_direct)(m, n, k, a, lda, b, ldb, c, ldc);
    if (bias || act != ACT_NONE)
        for (int64_t i = 0; i < m; i++)
            FN(bias_act_row)(c + i * ldc, n, bias, act);
    return 0;
}

/* A matrix times one column: y[i] = A[i, 0:k] . x for i < m (row stride lda): each a dot. */
static void FN(gemv_col)(int64_t m, int64_t k, const T *a, int64_t lda, const T *x, T *y,
                         int64_t ldy)
{
    for (int64_t i = 0; i < m; i++)
        y[i * ldy] = FN(dot)(a + i * lda, x, k);
}

/* C = act(A Bt^T + bias) with Bt (n x k) row-major: a matrix times a transposed one read in
 * place (q @ k.mT). Each element of C is the same chain of fused multiply-adds over k in
 * order as every other path's (the same bits as the product with B made contiguous): VL
 * columns at a time, a block of NT_KB values of k of their rows of Bt transposed into a
 * buffer in L1, then NT_MR rows of A at a time stream past it, their partial sums kept in C
 * between blocks of k (stored and reloaded unchanged). The epilogue runs on each finished row. */
#define NT_KB 256
#define NT_MR 4
static void FN(gemm_nt)(int64_t m, int64_t n, int64_t k, const T *a, int64_t lda, const T *bt,
                        int64_t ldb, T *c, int64_t ldc, const T *bias, int act)
{
    T buf[NT_KB * VL] __attribute__((aligned(64)));
    for (int64_t j0 = 0; j0 < n; j0 += VL) {
        int64_t nj = n - j0 < VL ? n - j0 : VL;
        for (int64_t k0 = 0; k0 < k || k0 == 0; k0 += NT_KB) {
            int64_t kb = k - k0 < NT_KB ? k - k0 : NT_KB;
            for (int64_t l = 0; l < VL; l++) {
                const T *row = bt + (j0 + (l < nj ? l : 0)) * ldb + k0;
                for (int64_t p = 0; p < kb; p++)
                    buf[p * VL + l] = l < nj ? row[p] : 0;
            }
            for (int64_t i = 0; i < m; i += NT_MR) {
                int64_t mi = m - i < NT_MR ? m - i : NT_MR;
                const T *ar[NT_MR];
                VT acc[NT_MR];
                for (int r = 0; r < NT_MR; r++) {
                    ar[r] = a + (i + (r < mi ? r : 0)) * lda + k0;
                    acc[r] = k0 ? FN(gather)(c + (i + (r < mi ? r : 0)) * ldc + j0, 1, nj)
                                : FN(splat)(0);
                }
                for (int64_t p = 0; p < kb; p++) {
                    VT bv = FN(load)(buf + p * VL);
                    for (int r = 0; r < NT_MR; r++)
                        acc[r] = FN(fma)(FN(splat)(ar[r][p]), bv, acc[r]);
                }
                for (int64_t r = 0; r < mi; r++) {
                    T out[VL];
                    FN(store)(out, acc[r]);
                    __builtin_memcpy(c + (i + r) * ldc + j0, out, (size_t)nj * sizeof(T));
                }
            }
        }
    }
    if (bias || act != ACT_NONE)
        for (int64_t i = 0; i < m; i++)
            FN(bias_act_row)(c + i * ldc, n, bias, act);
}
#undef NT_KB
#undef NT_MR

#ifndef ACCEL_FREESTANDING
static int FN(gemm)(int64_t m, int64_t n, int64_t k, const T *a, int64_t lda, const T *b,
                    int64_t ldb, T *c, int64_t ldc, const T *bias, int act)
{
    if (m <= 0 || n <= 0 || k <= 0) {
        FN(gemm_packed)(m, n, k, a, lda, b, ldb, c, ldc, bias, act, 0, 0, 0, 0);
        return 0;
    }
    /* Blocking from the cache sizes the system reports. A sliver of A (MR x depth) fills a
     * part of the L1 (half by default), where it stays over its k loop while B's sliver
     * streams past from L2; B's panel (depth x panel) a part of the L2 (half), where every row
     * block of A reads it (the best of the grid of depths and widths measured, or `accel
     * calibrate`'s choice: driver.c). KC caps the depth. */
    int64_t depth = FN(block_depth)(
        (int64_t)(accel_l1_bytes() * accel_get_block_l1() / (MR * sizeof(T))));
    int64_t kcmax = k < depth ? k : depth;
    int64_t panel = (int64_t)(accel_l2_bytes() * accel_get_block_l2() /
                              ((double)kcmax * sizeof(T)));
    int64_t abytes, bbytes;
    FN(gemm_buffer_bytes)(m, n, k, depth, panel, &abytes, &bbytes);
    T *pa = aligned_alloc(64, (size_t)abytes);
    T *pb = aligned_alloc(64, (size_t)bbytes);
    if (pa && pb)
        FN(gemm_packed)(m, n, k, a, lda, b, ldb, c, ldc, bias, act, depth, panel, pa, pb);
    free(pa);
    free(pb);
    return pa && pb ? 0 : -1;
}
#endif

#undef FN
#undef MICRO_K_UNROLL
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
#undef SILU_ZMIN
#undef SILU_K
#undef SILU_UNSCALE
#undef EXPM1_TERMS
#undef SQRT_2PI
#undef SQRT_2PI_LO
#undef GELU_B
#undef GELU_SMAX
#undef GELU_SPLIT_MASK
#undef GELU_PIECES
#undef SOFTPLUS_TERMS
#undef GELU_TANH_A_HI
#undef GELU_TANH_A_LO
#undef GELU_TANH_B_HI
#undef GELU_TANH_B_LO
#undef GELU_TANH_XMAX
#undef PACK_ALL_A
#undef GEMV_ROWS_MAX
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
