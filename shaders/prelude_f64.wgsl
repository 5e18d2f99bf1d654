// prelude_f64.wgsl: the element type and its bit-level constants for float64 kernels (needs
// the adapter's shader-f64 and shader-int64 features). See prelude_f32.wgsl.
alias T = f64;
alias U = u64;
const SIGN: U = 0x8000000000000000lu;
const INF_BITS: U = 0x7ff0000000000000lu;
const SIGMOID_TMAX: T = 709.0;
const TANH_TMAX: T = 20.0;
const LN2_HI: T = 6.93147180369123816490e-01;
const LN2_LO: T = 1.90821492927058770002e-10;
const LOG2E: T = 1.4426950408889634074;

// expm1(r) = r + r^2 q(r) on |r| <= ln2/2: Taylor to r^13, below 2^-56 relative
fn expm1_q(r: T) -> T {
    var q = T(1.0 / 6227020800.0);
    q = fma(q, r, T(1.0 / 479001600.0));
    q = fma(q, r, T(1.0 / 39916800.0));
    q = fma(q, r, T(1.0 / 3628800.0));
    q = fma(q, r, T(1.0 / 362880.0));
    q = fma(q, r, T(1.0 / 40320.0));
    q = fma(q, r, T(1.0 / 5040.0));
    q = fma(q, r, T(1.0 / 720.0));
    q = fma(q, r, T(1.0 / 120.0));
    q = fma(q, r, T(1.0 / 24.0));
    q = fma(q, r, T(1.0 / 6.0));
    return fma(q, r, T(0.5));
}

// GELU: see c_ext/kernels_type.h and c_ext/tools/fit_gelu.py (the same algorithm and fits).
// Phi = 1/2 + x P(x^2) for |x| <= GELU_B; else Phi(-s) = exp(-s^2/2) / G(s), G = sqrt(2 pi) s + H,
// H in pieces: GELU_TERMS[i] coefficients in s - GELU_LO[i], or (GELU_W[i] = 1) s H in 1/s^2.
const GELU_B: T = 0.5;
const GELU_SMAX: T = 38.5;
const GELU_SPLIT: U = 0xfffffffff8000000lu;  // the leading half of the bits: xh * xh is exact
const SQRT_2PI_HI: T = T(0x1.40d9318p+1);  // sqrt(2 pi) with few bits, and the rest
const SQRT_2PI_LO: T = T(0x1.fd89c16595f29p-25);
const GELU_PIECES_N: u32 = 6u;
const GELU_P_LEN: u32 = 11u;
const GELU_H_LEN: u32 = 87u;
const GELU_P = array<T, 11>(
    0x1.9884533d43651p-2, -0x1.1058377e2cee0p-4, 0x1.46d04297691dap-7, -0x1.37403f6ba10ffp-10,
    0x1.e42b0d5216d85p-14, -0x1.3ce8fac14997dp-17, 0x1.658a2168ffef1p-21, -0x1.622263857dad1p-25,
    0x1.3876b55bdf047p-29, -0x1.f0493aad91859p-34, 0x1.53ac0e18c73a2p-38);
const GELU_LO = array<T, 6>(0.5, 1.5, 3.0, 5.0, 8.0, 11.0);
const GELU_TERMS = array<u32, 6>(16u, 16u, 15u, 16u, 14u, 10u);
const GELU_W = array<u32, 6>(0u, 0u, 0u, 0u, 0u, 1u);
const GELU_H = array<T, 87>(
    0x1.9b60a8f996746p+0, -0x1.5890e919d61e7p-1, 0x1.a15ea4936318dp-3, -0x1.608bcc5cc3380p-5,
    0x1.217bf9b0e9202p-8, 0x1.d94fdef388141p-11, -0x1.242946ae956a2p-11, 0x1.083e7b8b9137bp-13,
    -0x1.418622a2d8120p-18, -0x1.ddf3c420f00adp-18, 0x1.7881a6e467244p-19, -0x1.019d403add9efp-21,
    -0x1.70f87c53a4234p-26, 0x1.2e3498f25e107p-25, -0x1.35e7d44f8cd88p-27, 0x1.f979cf77050aap-31,
    0x1.197f6c99aae2cp+0, -0x1.7fdab3bc38addp-2, 0x1.aaddda8c1160bp-4, -0x1.83fbc4fcc9a1bp-6,
    0x1.126693209b759p-8, -0x1.e4a80a2e249fap-12, -0x1.74766bad16f82p-16, 0x1.d3b3a5c6a56adp-16,
    -0x1.18610c48d6108p-17, 0x1.953c543001dcap-20, -0x1.dfd8dcb0b7caap-24, -0x1.2597c6d2ecfdfp-25,
    0x1.1901cdba5c149p-26, -0x1.fba438d94a735p-29, 0x1.0d72e32d3cd99p-31, -0x1.0dbcd8b23f6f5p-35,
    0x1.6b53b7d17cc81p-1, -0x1.6a388a0eaf2aep-3, 0x1.431d35a9af251p-5, -0x1.03267cbca4068p-7,
    0x1.73c588d624734p-10, -0x1.d3673a56277edp-13, 0x1.e789bcf2d1579p-16, -0x1.5d31c9c680b17p-19,
    -0x1.2701a33816233p-25, 0x1.6921d8be08473p-24, -0x1.9a752bde01e83p-26, 0x1.3988a14edf4d0p-28,
    -0x1.5d015ef682113p-31, 0x1.0375407492866p-34, -0x1.8169e9338ea6ap-39, 0x1.deb74d5bbb375p-2,
    -0x1.4fb2fd6d33f87p-4, 0x1.bc9955e31a001p-7, -0x1.1699b66795c76p-9, 0x1.4a5bb17c03732p-12,
    -0x1.71a554eb5fce6p-15, 0x1.83df69ba1aed9p-18, -0x1.790f2350ed7ecp-21, 0x1.4b789b4033e09p-24,
    -0x1.f39dc7380a73fp-28, 0x1.1597aa53924a5p-31, -0x1.2bd80777afeaep-37, -0x1.288d152af8699p-38,
    0x1.9de5faec5a36bp-41, -0x1.158470b05e5dap-44, 0x1.472f6fb35b2e8p-49, 0x1.3786b0d2236e5p-2,
    -0x1.2626c497c9ed4p-5, 0x1.0e62b0ae60486p-8, -0x1.e4309886f087bp-12, 0x1.a659cc31cd48ap-15,
    -0x1.66cda2c76cecbp-18, 0x1.289fe6edbfee2p-21, -0x1.dc80c40784d52p-25, 0x1.729a041385a93p-28,
    -0x1.14845e85fe62bp-31, 0x1.81159a846539cp-35, -0x1.d293a15b00bd4p-39, 0x1.a7a5ab2f50485p-43,
    -0x1.9c8208e51e4cbp-48, 0x1.40d931ff626ffp+1, -0x1.40d931ff5f1f5p+2, 0x1.910f7e79b205cp+4,
    -0x1.72fb1f51f04cep+7, 0x1.ba6ad0d97a699p+10, -0x1.3f9d60b2504fcp+14, 0x1.0d6a1d656bd49p+18,
    -0x1.fa47b59676ab9p+21, 0x1.d24a44f3485aep+25, -0x1.215999100bb0bp+29);
// silu: e^-|x| is built scaled by 2^SILU_K so that x e^x stays exact below the normal range
const SILU_TMAX: T = 745.0;
const SILU_K: i32 = 64;
