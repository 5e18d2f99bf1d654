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


// GELU: see c_ext/kernels_type.h and c_ext/tools/fit_gelu.py; its tables and bounds are
// generated from the op table (accel/_codegen.py).
const GELU_SPLIT: U = 0xfffffffff8000000lu;  // the leading half of the bits: xh * xh is exact
const SQRT_2PI_HI: T = T(0x1.40d9318p+1);  // sqrt(2 pi) with few bits, and the rest
const SQRT_2PI_LO: T = T(0x1.fd89c16595f29p-25);
// silu: e^-|x| is built scaled by 2^SILU_K so that x e^x stays exact below the normal range
const SILU_TMAX: T = 745.0;
const SILU_K: i32 = 64;

// a value of T from its bits, low and high halves (the uniforms carry scalars as two u32)
fn from_bits(lo: u32, hi: u32) -> T {
    return bitcast<T>((U(hi) << 32u) | U(lo));
}
