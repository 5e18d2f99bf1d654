// fused.wgsl: a chain of elementwise ops on Arrays as one kernel (the gpu records map ops and
// activations and runs their expression when its result is needed: accel/_array.py's
// Pending). The backend prepends the prelude, the generated tables, activations.wgsl and the
// chain's map ops as functions, and fills in the positions and loads of its operands (at most
// four, read at an offset and strides in elements over the shape: 0 broadcasts; a scalar per
// operand, since a vector indexed in a loop costs a software adapter a trip through memory
// per lane) and the expression.
// Numbers (Python floats) come as the bits of their value in the dtype.

struct Params {
    n: u32,
    ndim: u32,
    y_off: u32,
    zero: u32,
    offsets: vec4<u32>,
    numbers: array<vec4<u32>, 2>,   // (low, high) bits of up to four numbers
    shape: array<vec4<u32>, 2>,
    strides: array<vec4<u32>, 8>,   // operand j's: strides[2 j], strides[2 j + 1] (i32 bits)
}

@group(0) @binding(0) var<storage, read> l0: array<T>;
@group(0) @binding(1) var<storage, read> l1: array<T>;
@group(0) @binding(2) var<storage, read> l2: array<T>;
@group(0) @binding(3) var<storage, read> l3: array<T>;
@group(0) @binding(4) var<storage, read_write> y: array<T>;
@group(0) @binding(5) var<uniform> params: Params;

// v as it is, through a value the compiler cannot see (params.zero): an op's result is
// rounded as that op's, never contracted with the next into a fused multiply-add
fn kept(v: T) -> T {
    return bitcast<T>(bitcast<U>(v) | U(params.zero));
}

fn number(j: u32) -> T {
    let q = params.numbers[j / 2u];
    return select(from_bits(q.x, q.y), from_bits(q.z, q.w), j % 2u == 1u);
}

fn stride(j: u32, d: u32) -> i32 {
    return bitcast<i32>(params.strides[2u * j + d / 4u][d % 4u]);
}

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
    let i = (wid.y * nwg.x + wid.x) * 256u + lid;
    if (i >= params.n) {
        return;
    }
/*INDEX*/
/*LOADS*/
    y[params.y_off + i] = /*VALUE*/;
}
