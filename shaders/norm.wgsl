// norm.wgsl: layer_norm (KIND 0: (x - mean) / sqrt(var + eps) * w + b, the biased variance in
// two passes) or rms_norm (KIND 1: x / sqrt(mean(x^2) + eps) * w) over each row of `cols`
// (after a prelude, activations.wgsl and elementwise_io_xy.wgsl). `main`: one workgroup per
// row; each invocation adds its strided elements in order and a fixed tree adds the 256
// partial sums, the same bits on every call. `rows`: one invocation per row, each sum in
// order, for an adapter that runs on the CPU (as softmax.wgsl's). flags bit 0: a weight, bit
// 1: a bias.

struct Params {
    rows: u32,
    cols: u32,
    flags: u32,
    eps_lo: u32,
    eps_hi: u32,
    zero: u32,
    pad1: u32,
    pad2: u32,
}

@group(0) @binding(2) var<uniform> params: Params;
@group(0) @binding(3) var<storage, read> weight: array<T>;
@group(0) @binding(4) var<storage, read> bias: array<T>;

var<workgroup> red: array<T, 256>;

fn tree_sum(lid: u32) -> T {
    workgroupBarrier();
    for (var stride = 128u; stride > 0u; stride = stride / 2u) {
        if (lid < stride) {
            red[lid] = red[lid] + red[lid + stride];
        }
        workgroupBarrier();
    }
    let total = red[0];
    workgroupBarrier();
    return total;
}

// The sums one invocation takes of a row at `base`: its elements first, first + step, ...
// in order (main's invocations stride by 256 and a tree adds their sums; rows' take all)
fn part_sum(base: u32, first: u32, step: u32) -> T {
    var s = T(0.0);
    for (var i = first; i < params.cols; i += step) {
        s = s + load_x(base + i);
    }
    return s;
}

fn part_squares(base: u32, first: u32, step: u32, mean: T) -> T {
    var ss = T(0.0);
    for (var i = first; i < params.cols; i += step) {
        let d = load_x(base + i) - mean;
        ss = fma(d, d, ss);
    }
    return ss;
}

// y = ((x - mean) * inv) (times the weight, plus the bias where there are) over the same
// elements, with inv = 1 / sqrt(squares / cols + eps)
fn part_store(base: u32, first: u32, step: u32, mean: T, squares: T) {
    let cols = params.cols;
    let inv = T(1.0) / sqrt(squares / T(cols) + from_bits(params.eps_lo, params.eps_hi));
    for (var i = first; i < cols; i += step) {
        var v = (load_x(base + i) - mean) * inv;
        if ((params.flags & 1u) != 0u) {
            v = v * weight[i];
        }
        if ((params.flags & 2u) != 0u) {
            v = v + bias[i];
        }
        store_y(base + i, v);
    }
}

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
    let row = wid.y * nwg.x + wid.x;
    if (row >= params.rows) {
        return;
    }
    let base = row * params.cols;
    var mean = T(0.0);
    if (KIND == 0u) {
        red[lid] = part_sum(base, lid, 256u);
        mean = tree_sum(lid) / T(params.cols);
    }
    red[lid] = part_squares(base, lid, 256u, mean);
    part_store(base, lid, 256u, mean, tree_sum(lid));
}

@compute @workgroup_size(64)
fn rows(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
    let row = (wid.y * nwg.x + wid.x) * 64u + lid;
    if (row >= params.rows) {
        return;
    }
    let base = row * params.cols;
    var mean = T(0.0);
    if (KIND == 0u) {
        mean = part_sum(base, 0u, 1u) / T(params.cols);
    }
    part_store(base, 0u, 1u, mean, part_squares(base, 0u, 1u, mean));
}
