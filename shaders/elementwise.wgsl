// elementwise.wgsl: relu, sigmoid and tanh, y[i] = f(x[i]) (after a prelude that defines T).
//
// The same algorithm as the native kernels (c_ext/kernels_type.h): e^z = 2^n (1 + expm1(r))
// with n = round(z / ln2), r = z - n ln2 in two parts. Every special value is decided on the
// bits: |x| is clamped by comparing bit patterns (which orders non-negative floats, infinity
// included), and a NaN input is passed through at the end.
//
// The grid is two-dimensional (65535 workgroups per dimension at most): element
// i = (wid.y * num_workgroups.x + wid.x) * 256 + local index.

struct Params {
    n: u32,
    zero: u32,  // always 0: see exp_parts
}

@group(0) @binding(0) var<storage, read> x: array<T>;
@group(0) @binding(1) var<storage, read_write> y: array<T>;
@group(0) @binding(2) var<uniform> params: Params;

fn index(wid: vec3<u32>, nwg: vec3<u32>, lid: u32) -> u32 {
    return (wid.y * nwg.x + wid.x) * 256u + lid;
}

fn is_nan(u: U) -> bool {
    return (u & ~SIGN) > INF_BITS;
}

// |x| clamped to tmax, on the bits: finite for any input but NaN
fn clamped_abs(u: U, tmax: T) -> T {
    return bitcast<T>(min(u & ~SIGN, bitcast<U>(tmax)));
}

// e^z = s (1 + p) for z in [-TMAX, 0]: returns (s, p)
fn exp_parts(z: T) -> vec2<T> {
    let n = round(z * LOG2E);
    // r = z - n ln2 in two steps, the first exact. A shader compiler may merge the steps into
    // z - n (LN2_HI + LN2_LO), which loses up to 80 ulps at n ~ 100 (seen on llvmpipe): OR-ing
    // a zero it cannot see through (a uniform) keeps them apart.
    let r1 = bitcast<T>(bitcast<U>(fma(n, -LN2_HI, z)) | U(params.zero));
    let r = fma(n, -LN2_LO, r1);
    let p = fma(r * r, expm1_q(r), r);
    let s = ldexp(T(1.0), i32(n));
    return vec2<T>(s, p);
}

@compute @workgroup_size(256)
fn relu(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
    let i = index(wid, nwg, lid);
    if (i >= params.n) { return; }
    let u = bitcast<U>(x[i]);
    // negative (sign bit set) and not NaN gives 0; NaN and +inf pass through
    let zero = (u & SIGN) != U(0) && !is_nan(u);
    y[i] = select(x[i], T(0.0), zero);
}

@compute @workgroup_size(256)
fn sigmoid(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
           @builtin(local_invocation_index) lid: u32) {
    let i = index(wid, nwg, lid);
    if (i >= params.n) { return; }
    let v = x[i];
    let u = bitcast<U>(v);
    let t = clamped_abs(u, SIGMOID_TMAX);
    let parts = exp_parts(-t);
    // e^-|x| in [0, 1]; exactly 0 at the clamp (there it is below the smallest normal), so
    // that sigmoid(-inf) is 0 whether or not the device keeps subnormals
    let e = select(fma(parts.x, parts.y, parts.x), T(0.0), t >= SIGMOID_TMAX);
    let negative = (u & SIGN) != U(0);
    let out = select(T(1.0), e, negative) / (T(1.0) + e);
    y[i] = select(out, v, is_nan(u));
}

@compute @workgroup_size(256)
fn tanh_(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
         @builtin(local_invocation_index) lid: u32) {
    let i = index(wid, nwg, lid);
    if (i >= params.n) { return; }
    let v = x[i];
    let u = bitcast<U>(v);
    let t = clamped_abs(u, TANH_TMAX);
    let parts = exp_parts(T(-2.0) * t);
    // tanh t = -expm1(z) / (2 + expm1(z)), z = -2t, with expm1 = s p + (s - 1): every bit
    // kept near 0
    let em = fma(parts.x, parts.y, parts.x - T(1.0));
    let mag = bitcast<U>(-em / (T(2.0) + em)) & ~SIGN;
    // the sign of x on |tanh x|: exactly odd, and +-0 stay +-0
    let out = bitcast<T>(mag | (u & SIGN));
    y[i] = select(out, v, is_nan(u));
}
