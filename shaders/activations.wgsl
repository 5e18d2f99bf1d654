// activations.wgsl: the activations as functions of one element, written once: elementwise.wgsl
// applies one to every element and matmul.wgsl to each output tile (linear's epilogue). The
// same algorithms and coefficients as the native kernels (c_ext/kernels_type.h), after a
// prelude that defines T, U and the constants, and the part generated from the op table
// (accel/_codegen.py: the coefficient tables, expm1_q, and `activate`, which calls
// <name>_f(v, zero) for the activation whose id is ACT, the constant the kernel defines;
// ACT_NONE = -1 is the identity).
//
// Every special value is decided on the bits (U), never by float comparisons: WGSL lets
// compilers assume that there is no NaN or infinity. `zero` is a uniform 0 that each kernel
// passes in (see exp_parts).

fn is_nan(u: U) -> bool {
    return (u & ~SIGN) > INF_BITS;
}

// |x| clamped to tmax, on the bits: finite for any input but NaN
fn clamped_abs(u: U, tmax: T) -> T {
    return bitcast<T>(min(u & ~SIGN, bitcast<U>(tmax)));
}

// e^z = s (1 + p) 2^-k for z <= 0: returns (s, p), s = 2^(n + k)
fn exp_parts(z: T, k: i32, zero: u32) -> vec2<T> {
    let n = round(z * LOG2E);
    // r = z - n ln2 in two steps, the first exact. A shader compiler may merge the steps into
    // z - n (LN2_HI + LN2_LO), which loses up to 80 ulps at n ~ 100 (seen on llvmpipe): OR-ing
    // a zero it cannot see through (a uniform) keeps them apart.
    let r1 = bitcast<T>(bitcast<U>(fma(n, -LN2_HI, z)) | U(zero));
    let r = fma(n, -LN2_LO, r1);
    let p = fma(r * r, expm1_q(r), r);
    let s = ldexp(T(1.0), i32(n) + k);
    return vec2<T>(s, p);
}

fn relu_f(v: T, zero: u32) -> T {
    let u = bitcast<U>(v);
    // negative (sign bit set) and not NaN gives 0; NaN and +inf pass through
    return select(v, T(0.0), (u & SIGN) != U(0) && !is_nan(u));
}

fn sigmoid_f(v: T, zero: u32) -> T {
    let u = bitcast<U>(v);
    let t = clamped_abs(u, SIGMOID_TMAX);
    let parts = exp_parts(-t, 0, zero);
    // e^-|x| in [0, 1]; exactly 0 at the clamp (there it is below the smallest normal), so
    // that sigmoid(-inf) is 0 whether or not the device keeps subnormals
    let e = select(fma(parts.x, parts.y, parts.x), T(0.0), t >= SIGMOID_TMAX);
    let out = select(T(1.0), e, (u & SIGN) != U(0)) / (T(1.0) + e);
    return select(out, v, is_nan(u));
}

fn tanh_f(v: T, zero: u32) -> T {
    let u = bitcast<U>(v);
    let t = clamped_abs(u, TANH_TMAX);
    let parts = exp_parts(T(-2.0) * t, 0, zero);
    // tanh t = -expm1(z) / (2 + expm1(z)), z = -2t, with expm1 = s p + (s - 1): every bit
    // kept near 0
    let em = fma(parts.x, parts.y, parts.x - T(1.0));
    let mag = bitcast<U>(-em / (T(2.0) + em)) & ~SIGN;
    // the sign of x on |tanh x|: exactly odd, and +-0 stay +-0
    return select(bitcast<T>(mag | (u & SIGN)), v, is_nan(u));
}

// silu(x) = x / (1 + e^-x). For x < 0, x e^x / (1 + e^x) with e^x scaled by 2^SILU_K: it stays
// a normal number below where e^x is. -inf and large negative x give -0; +inf gives +inf.
fn silu_f(v: T, zero: u32) -> T {
    let u = bitcast<U>(v);
    if (is_nan(u)) {
        return v;
    }
    let t = clamped_abs(u, SILU_TMAX);
    let below = (u & ~SIGN) >= bitcast<U>(SILU_TMAX);
    let parts = exp_parts(-t, SILU_K, zero);
    let unscale = ldexp(T(1.0), -SILU_K);
    let den = T(1.0) + fma(parts.x, parts.y, parts.x) * unscale;
    if ((u & SIGN) != U(0)) {
        if (below) {
            return bitcast<T>(SIGN);
        }
        let xs = v * parts.x;  // exact: a power of two
        return fma(xs, parts.y, xs) / den * unscale;
    }
    return select(v / den, v, below);
}

// softplus(x) = max(x, 0) + log1p(e^-|x|): log1p(t) = 2 r (1 + r^2 q(r^2)), r = t / (2 + t),
// with r's rounding put back (c_ext/kernels_type.h says how); q is the op table's SOFTPLUS_Q
// after its first term. The log1p part is 0 where e^-|x| is below the smallest normal.
var<private> softplus_q: array<T, SOFTPLUS_Q_LEN> = SOFTPLUS_Q;

fn softplus_f(v: T, zero: u32) -> T {
    let u = bitcast<U>(v);
    if (is_nan(u)) {
        return v;
    }
    let a = clamped_abs(u, SIGMOID_TMAX);
    let parts = exp_parts(-a, 0, zero);
    let t = fma(parts.x, parts.y, parts.x);
    let den = T(2.0) + t;
    let den_lo = (T(2.0) - den) + t;
    let r = t / den;
    let r_lo = (fma(-r, den, t) - r * den_lo) / den;
    let rr = r * r;
    var q = softplus_q[SOFTPLUS_Q_LEN - 1u];
    for (var i = i32(SOFTPLUS_Q_LEN) - 2; i >= 1; i--) {
        q = fma(q, rr, softplus_q[u32(i)]);
    }
    let l = fma(r + r, rr * q, (r + r) + (r_lo + r_lo));
    return relu_f(v, zero) + select(l, T(0.0), a >= SIGMOID_TMAX);
}

var<private> gelu_p: array<T, GELU_P_LEN> = GELU_P;
var<private> gelu_h: array<T, GELU_H_LEN> = GELU_H;
var<private> gelu_lo: array<T, GELU_LO_LEN> = GELU_LO;
var<private> gelu_terms: array<u32, GELU_LO_LEN> = GELU_TERMS;
var<private> gelu_w: array<u32, GELU_LO_LEN> = GELU_W;

fn gelu_horner(first: u32, terms: u32, v: T) -> T {
    var q = gelu_h[first + terms - 1u];
    for (var i = i32(terms) - 2; i >= 0; i--) {
        q = fma(q, v, gelu_h[first + u32(i)]);
    }
    return q;
}

// gelu(x) = x Phi(x), the exact (erf) form. -inf gives -0, +inf gives +inf, -0 gives -0.
fn gelu_f(v: T, zero: u32) -> T {
    let u = bitcast<U>(v);
    if (is_nan(u)) {
        return v;
    }
    let negative = (u & SIGN) != U(0);
    if ((u & ~SIGN) <= bitcast<U>(GELU_B)) {
        var q = gelu_p[GELU_P_LEN - 1u];
        for (var i = i32(GELU_P_LEN) - 2; i >= 0; i--) {
            q = fma(q, v * v, gelu_p[u32(i)]);
        }
        return v * fma(v, q, T(0.5));
    }
    if ((u & ~SIGN) > bitcast<U>(GELU_SMAX)) {
        return select(v, bitcast<T>(SIGN), negative);  // x, or -0 (the tail is below tiny)
    }
    let s = bitcast<T>(u & ~SIGN);
    var piece = 0u;
    var first = 0u;
    while (piece + 1u < GELU_LO_LEN && s >= gelu_lo[piece + 1u]) {
        first += gelu_terms[piece];
        piece++;
    }
    var h: T;
    if (gelu_w[piece] == 1u) {
        h = gelu_horner(first, gelu_terms[piece], T(1.0) / (s * s)) / s;
    } else {
        h = gelu_horner(first, gelu_terms[piece], s - gelu_lo[piece]);
    }
    // G = sqrt(2 pi) s + H, the constant and s in two parts each: one rounding
    let sh = bitcast<T>(bitcast<U>(s) & GELU_SPLIT);
    let g = SQRT_2PI_HI * sh + ((SQRT_2PI_HI * (s - sh) + SQRT_2PI_LO * s) + h);
    // e^(-x^2/2) = e^(-xh^2/2) e^(-xl (x + xh)/2), xh^2 exact
    let xh = bitcast<T>(u & GELU_SPLIT);
    let zl = (v - xh) * (v + xh) * T(-0.5);
    let parts = exp_parts(xh * xh * T(-0.5), 0, zero);
    let m = fma(zl * zl, expm1_q(zl), zl);
    let pm = fma(parts.y, m, parts.y + m);
    let xs = v * parts.x;
    let xt = fma(xs, pm, xs) / g;  // x Phi(-|x|)
    return select(v - xt, xt, negative);
}

// Products and sums exact in two parts (a value and its error): the halves of a split
// (GELU_SPLIT) multiply exactly, so Dekker's product needs no fused multiply-add. `zero` keeps
// a compiler from folding the error terms away.
fn split_hi(v: T) -> T {
    return bitcast<T>(bitcast<U>(v) & GELU_SPLIT);
}

fn two_prod(a: T, b: T, zero: u32) -> vec2<T> {
    let p = a * b;
    let ah = split_hi(a);
    let al = a - ah;
    let bh = split_hi(b);
    let bl = b - bh;
    let e = ((bitcast<T>(bitcast<U>(ah * bh - p) | U(zero)) + ah * bl) + al * bh) + al * bl;
    return vec2<T>(p, e);
}

fn two_sum(a: T, b: T, zero: u32) -> vec2<T> {
    let s = a + b;
    let bb = bitcast<T>(bitcast<U>(s - a) | U(zero));
    return vec2<T>(s, (a - (s - bb)) + (b - bb));
}

// gelu's tanh form, 0.5 x (1 + tanh z) = x sigmoid(2 z), z = sqrt(2/pi) (x + 0.044715 x^3), as
// c_ext/kernels_type.h computes it: 2 z = a x + b x^3 in two parts (its relative error is
// carried |2 z| times into e^{2z}), e^{-|2z|} scaled by 2^SILU_K. Past XMAX: x, or -0.
fn gelu_tanh_f(v: T, zero: u32) -> T {
    let u = bitcast<U>(v);
    if (is_nan(u)) {
        return v;
    }
    let negx = (u & SIGN) != U(0);
    if ((u & ~SIGN) > bitcast<U>(GELU_TANH_XMAX)) {
        return select(v, bitcast<T>(SIGN), negx);
    }
    let xx = two_prod(v, v, zero);
    let pp = two_prod(GELU_TANH_B_HI, xx.x, zero);
    let pl = pp.y + (GELU_TANH_B_HI * xx.y + GELU_TANH_B_LO * xx.x);
    let ww = two_sum(GELU_TANH_A_HI, pp.x, zero);
    let wl = ww.y + (GELU_TANH_A_LO + pl);
    let zz = two_prod(v, ww.x, zero);
    let zl = zz.y + v * wl;
    let zu = bitcast<U>(zz.x);
    let negative = (zu & SIGN) != U(0);
    let tl = select(-zl, zl, negative);  // -|2 z| = -|zz.x| + tl
    let t = clamped_abs(zu, SILU_TMAX);
    let below = (zu & ~SIGN) >= bitcast<U>(SILU_TMAX);
    let parts = exp_parts(-t, SILU_K, zero);
    let es = select(fma(parts.x, fma(parts.y, tl, parts.y + tl), parts.x), T(0.0), below);
    let unscale = ldexp(T(1.0), -SILU_K);
    let den = T(1.0) + es * unscale;
    if (negative) {
        return v * es / den * unscale;
    }
    return v / den;
}

fn activate4(v: vec4<T>, zero: u32) -> vec4<T> {
    return vec4<T>(activate(v.x, zero), activate(v.y, zero), activate(v.z, zero),
                   activate(v.w, zero));
}
