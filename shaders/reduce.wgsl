// reduce.wgsl: y (outer, inner) = op over the middle axis of x (outer, n, inner), C-contiguous
// (after a prelude, activations.wgsl and elementwise_io_xy.wgsl; OP: the op table's reduction
// kernel id: sum, mean, max). The same order on every call: the same bits.
//
// main_rows (inner = 1): one workgroup per output, each invocation adds its strided elements
// in order and a fixed tree adds the 256 partial results. main_cols (inner > 1): one
// invocation per output, its n elements in order. max gives NaN where any element is NaN
// (found on the bits).
//
// A dispatch takes the part [r0, r1) of the reduced axis: llvmpipe ends an invocation's loops
// after 65535 iterations in all (gallivm's loop limiter), so a longer reduction is several
// dispatches, each continuing from the result the one before stored in y (not yet finished:
// the mean's division and max's NaN come with the last part, `last`).

struct Params {
    outer: u32,
    n: u32,
    inner: u32,
    zero: u32,
    r0: u32,
    r1: u32,
    last: u32,
    pad: u32,
}

@group(0) @binding(2) var<uniform> params: Params;

var<workgroup> red: array<T, 256>;
var<workgroup> bad: array<u32, 256>;

fn lowest() -> T {
    return bitcast<T>(INF_BITS | SIGN);
}

// acc combined with v; a NaN in v sets nan
fn combine(acc: T, v: T, nan: ptr<function, bool>) -> T {
    if (OP == 2u) {
        if (is_nan(bitcast<U>(v))) {
            *nan = true;
            return acc;
        }
        return select(acc, v, v > acc);
    }
    return acc + v;
}

fn finish(acc: T, nan: bool) -> T {
    if (OP == 2u && nan) {
        return bitcast<T>(INF_BITS | (INF_BITS >> 1u));  // a quiet NaN
    }
    if (OP == 1u && params.last == 1u) {
        return acc / T(params.n);
    }
    return acc;
}

// where this part starts: nothing yet, or the result of the parts before it
fn start(at: u32) -> T {
    if (params.r0 > 0u) {
        return load_y(at);
    }
    return select(T(0.0), lowest(), OP == 2u);
}

@compute @workgroup_size(256)
fn main_rows(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
             @builtin(local_invocation_index) lid: u32) {
    let row = wid.y * nwg.x + wid.x;
    if (row >= params.outer) {
        return;  // (the whole workgroup: the barriers below are uniform)
    }
    let n = params.n;
    let base = row * n;
    var acc = select(T(0.0), lowest(), OP == 2u);
    var nan = false;
    for (var i = params.r0 + lid; i < params.r1; i += 256u) {
        acc = combine(acc, load_x(base + i), &nan);
    }
    red[lid] = acc;
    bad[lid] = select(0u, 1u, nan);
    workgroupBarrier();
    for (var stride = 128u; stride > 0u; stride = stride / 2u) {
        if (lid < stride) {
            var flag = bad[lid + stride] != 0u;
            let merged = combine(red[lid], red[lid + stride], &flag);
            red[lid] = merged;
            bad[lid] = bad[lid] | select(0u, 1u, flag);
        }
        workgroupBarrier();
    }
    if (lid == 0u) {
        var flag = bad[0] != 0u;
        var total = red[0];
        if (params.r0 > 0u) {  // after the parts before: their result, then this part's
            total = combine(start(row), red[0], &flag);
        }
        store_y(row, finish(total, flag));
    }
}

@compute @workgroup_size(256)
fn main_cols(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
             @builtin(local_invocation_index) lid: u32) {
    let i = (wid.y * nwg.x + wid.x) * 256u + lid;
    let inner = params.inner;
    if (i >= params.outer * inner) {
        return;
    }
    let o = i / inner;
    let j = i % inner;
    let base = o * params.n * inner + j;
    var acc = start(i);
    var nan = false;
    for (var r = params.r0; r < params.r1; r++) {
        acc = combine(acc, load_x(base + r * inner), &nan);
    }
    store_y(i, finish(acc, nan));
}
