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
