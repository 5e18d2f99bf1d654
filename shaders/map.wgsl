// map.wgsl: y[y_off + i] = activate(op(a, b)) for i < n over a shape of up to 8 dimensions
// (after a prelude and activations.wgsl with its ACT; OP: the op table's map kernel id): the
// copy of a view, negative, and the binary ops broadcast. a and b are read at an offset and
// strides in elements over the shape (0 broadcasts, negative walks back); scalar_at 1 or 2:
// that operand is the value `scalar` instead (a Python float), and its binding is unused.
//
// Special values on the bits (WGSL may assume there are no NaNs): maximum and minimum give NaN
// where either operand is NaN, as numpy's. The grid is two-dimensional: element
// i = (wid.y * num_workgroups.x + wid.x) * 256 + local index.

struct Params {
    n: u32,
    ndim: u32,
    a_off: u32,
    b_off: u32,
    y_off: u32,
    scalar_at: u32,
    scalar_lo: u32,
    scalar_hi: u32,
    zero: u32,
    pad1: u32,
    pad2: u32,
    pad3: u32,
    shape: array<vec4<u32>, 2>,
    a_strides: array<vec4<u32>, 2>,  // i32 bits
    b_strides: array<vec4<u32>, 2>,
}

@group(0) @binding(0) var<storage, read> a: array<T>;
@group(0) @binding(1) var<storage, read> b: array<T>;
@group(0) @binding(2) var<storage, read_write> y: array<T>;
@group(0) @binding(3) var<uniform> params: Params;

fn apply(x: T, z: T) -> T {
    let ux = bitcast<U>(x);
    let uz = bitcast<U>(z);
    switch OP {
        case 0u: { return x; }
        case 1u: { return bitcast<T>(ux ^ SIGN); }
        case 2u: { return x + z; }
        case 3u: { return x - z; }
        case 4u: { return x * z; }
        case 5u: { return x / z; }
        case 6u: { return select(z, x, is_nan(ux) || (!is_nan(uz) && x >= z)); }
        case 7u: { return select(z, x, is_nan(ux) || (!is_nan(uz) && x <= z)); }
        default: { return x; }
    }
}

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
    let i = (wid.y * nwg.x + wid.x) * 256u + lid;
    if (i >= params.n) {
        return;
    }
    var rest = i;
    var oa = i32(params.a_off);
    var ob = i32(params.b_off);
    if (params.ndim == 1u) {  // (most calls, once their dimensions are merged): no division
        oa += i32(i) * bitcast<i32>(params.a_strides[0][0]);
        ob += i32(i) * bitcast<i32>(params.b_strides[0][0]);
    }
    for (var d = select(i32(params.ndim) - 1, -1, params.ndim == 1u); d >= 0; d--) {
        let q = u32(d) / 4u;
        let l = u32(d) % 4u;
        let extent = params.shape[q][l];
        let index = i32(rest % extent);
        rest = rest / extent;
        oa += index * bitcast<i32>(params.a_strides[q][l]);
        ob += index * bitcast<i32>(params.b_strides[q][l]);
    }
    let s = from_bits(params.scalar_lo, params.scalar_hi);
    let x = select(a[u32(oa)], s, params.scalar_at == 1u);
    let z = select(b[u32(ob)], s, params.scalar_at == 2u);
    y[params.y_off + i] = activate(apply(x, z), params.zero);
}
