// prelude_f32.wgsl: the element type and its bit-level constants for float32 kernels.
// The gpu backend prepends one prelude to each kernel family, so that every family is written
// once over T. Special values are decided on the bits (U), never by float comparisons: WGSL
// lets compilers assume that there is no NaN or infinity.
alias T = f32;
alias U = u32;
const SIGN: U = 0x80000000u;
const INF_BITS: U = 0x7f800000u;
const SIGMOID_TMAX: T = 88.0;   // past it, e^-|x| is below the smallest normal
const TANH_TMAX: T = 10.0;      // past it, tanh rounds to 1
const LN2_HI: T = 0.693145751953125;
const LN2_LO: T = 1.428606765330187e-06;
const LOG2E: T = 1.4426950408889634;

// expm1(r) = r + r^2 q(r) on |r| <= ln2/2; q fitted for least maximum relative error
fn expm1_q(r: T) -> T {
    var q = T(0x1.6c69f2p-10);
    q = fma(q, r, T(0x1.120b1cp-7));
    q = fma(q, r, T(0x1.5555bap-5));
    q = fma(q, r, T(0x1.5554dep-3));
    return fma(q, r, T(0.5));
}

// GELU: see c_ext/kernels_type.h and c_ext/tools/fit_gelu.py (the same algorithm and fits).
// Phi = 1/2 + x P(x^2) for |x| <= GELU_B; else Phi(-s) = exp(-s^2/2) / G(s), G = sqrt(2 pi) s + H,
// H in pieces: GELU_TERMS[i] coefficients in s - GELU_LO[i], or (GELU_W[i] = 1) s H in 1/s^2.
const GELU_B: T = 0.5;
const GELU_SMAX: T = 14.0;
const GELU_SPLIT: U = 0xfffff000u;  // the leading half of the bits: xh * xh is exact
const SQRT_2PI_HI: T = T(0x1.40cp+1);  // sqrt(2 pi) with few bits, and the rest
const SQRT_2PI_LO: T = T(0x1.931ff6p-11);
const GELU_PIECES_N: u32 = 3u;
const GELU_P_LEN: u32 = 6u;
const GELU_H_LEN: u32 = 22u;
const GELU_P = array<T, 6>(
    0x1.9884540000000p-2, -0x1.1058380000000p-4, 0x1.46d0400000000p-7, -0x1.373f000000000p-10,
    0x1.e394c80000000p-14, -0x1.2c62e60000000p-17);
const GELU_LO = array<T, 3>(0.5, 2.0, 4.5);
const GELU_TERMS = array<u32, 3>(8u, 8u, 6u);
const GELU_W = array<u32, 3>(0u, 0u, 1u);
const GELU_H = array<T, 22>(
    0x1.9b60aa0000000p+0, -0x1.58910a0000000p-1, 0x1.a1657c0000000p-3, -0x1.611b680000000p-5,
    0x1.2d26e80000000p-8, 0x1.54b3140000000p-11, -0x1.7816260000000p-12, 0x1.9be27c0000000p-15,
    0x1.defb820000000p-1, -0x1.2554760000000p-2, 0x1.30b4a60000000p-4, -0x1.0ddc0e0000000p-6,
    0x1.8f6d7a0000000p-9, -0x1.d257440000000p-12, 0x1.7a25c00000000p-15, -0x1.3837860000000p-19,
    0x1.40d90c0000000p+1, -0x1.40bc940000000p+2, 0x1.8d10860000000p+4, -0x1.4fd4f40000000p+7,
    0x1.0e1bfe0000000p+10, -0x1.f2d8440000000p+11);
// silu: e^-|x| is built scaled by 2^SILU_K so that x e^x stays exact below the normal range
const SILU_TMAX: T = 104.0;
const SILU_K: i32 = 24;
