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
