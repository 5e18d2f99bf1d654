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

// GELU: see c_ext/kernels_type.h and c_ext/tools/fit_gelu.py; its tables and bounds are
// generated from the op table (accel/_codegen.py).
const GELU_SPLIT: U = 0xfffff000u;  // the leading half of the bits: xh * xh is exact
const SQRT_2PI_HI: T = T(0x1.40cp+1);  // sqrt(2 pi) with few bits, and the rest
const SQRT_2PI_LO: T = T(0x1.931ff6p-11);
// silu: e^-|x| is built scaled by 2^SILU_K so that x e^x stays exact below the normal range
const SILU_TMAX: T = 104.0;
const SILU_K: i32 = 24;

// a value of T from the bits of its float64 (the uniforms carry scalars as two u32)
fn from_bits(lo: u32, hi: u32) -> T {
    return bitcast<T>(lo);
}
