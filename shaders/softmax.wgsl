// softmax.wgsl: y = e / sum(e), e = exp(x - max(x)), over each row of `cols` elements (after a
// prelude, activations.wgsl and an elementwise_io part). `main`: one workgroup per row, rows
// on a two-dimensional grid: row = wid.y * num_workgroups.x + wid.x. `rows`: one invocation
// per row, for an adapter that runs on the CPU (its invocations are the lanes of one thread,
// and a workgroup's barriers cost more there than the loops they share), rows up to
// ROW_COLS_MAX (accel/backends/gpu/_kernels.py: its loops stay within the loop limiter).
//
// As numpy's stable formula gives it: -inf entries give 0; a row with a NaN, a +inf, or only
// -inf gives a row of NaN. Those cases are found on the bits, with the row's maximum. Each
// invocation sums its strided elements in order and a fixed tree adds the 256 partial sums: the
// same bits on every call (`rows` sums each row in order: the same bits on every call too).

struct Params {
    rows: u32,
    cols: u32,
    zero: u32,
}

@group(0) @binding(2) var<uniform> params: Params;

var<workgroup> red: array<T, 256>;
var<workgroup> bad: array<u32, 256>;

fn tree_max(lid: u32) {
    for (var stride = 128u; stride > 0u; stride = stride / 2u) {
        if (lid < stride) {
            red[lid] = max(red[lid], red[lid + stride]);
            bad[lid] = bad[lid] | bad[lid + stride];
        }
        workgroupBarrier();
    }
}

fn tree_sum(lid: u32) {
    for (var stride = 128u; stride > 0u; stride = stride / 2u) {
        if (lid < stride) {
            red[lid] = red[lid] + red[lid + stride];
        }
        workgroupBarrier();
    }
}

// e^(v - mx) for an entry v of a row whose maximum is mx (finite); -inf gives 0
fn exp_less_max(v: T, mx: T) -> T {
    if (bitcast<U>(v) == (INF_BITS | SIGN)) {
        return T(0.0);
    }
    // z = v - mx is rounded: its exact error lo (TwoSum) comes back as e (1 + lo), else a
    // difference of -37 would cost 37 ulps of float32. The opaque zero keeps a shader
    // compiler from simplifying TwoSum's algebra away (lavapipe's does).
    let z = bitcast<T>(bitcast<U>(v - mx) | U(params.zero));
    let bb = z - v;
    let lo = (v - (z - bb)) + (-mx - bb);
    let t = clamped_abs(bitcast<U>(z), SIGMOID_TMAX);  // -z >= 0
    let parts = exp_parts(-t, 0, params.zero);
    let e0 = fma(parts.x, parts.y, parts.x);
    return select(fma(e0, lo, e0), T(0.0), t >= SIGMOID_TMAX);
}

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
    let row = wid.y * nwg.x + wid.x;
    if (row >= params.rows) {
        return;
    }
    let cols = params.cols;
    let base = row * cols;
    // the maximum over the finite entries; bad: NaN or +inf seen (bit 1), a finite seen (bit 2)
    var m = T(0.0);  // replaced by the first finite entry
    var flags = 0u;
    for (var i = lid; i < cols; i += 256u) {
        let v = load_x(base + i);
        let u = bitcast<U>(v);
        if (is_nan(u) || u == INF_BITS) {
            flags = flags | 1u;
        } else if ((u & ~SIGN) != INF_BITS) {
            m = select(v, max(m, v), (flags & 2u) != 0u);
            flags = flags | 2u;
        }
    }
    red[lid] = m;
    bad[lid] = flags;
    // lanes that saw no finite entry must not win the max: give them the smallest finite
    if ((flags & 2u) == 0u) {
        red[lid] = -bitcast<T>(INF_BITS - U(1));
    }
    workgroupBarrier();
    tree_max(lid);
    let mx = red[0];
    let row_flags = workgroupUniformLoad(&bad[0]);  // uniform: every invocation returns or none
    // NaN or +inf anywhere, or no finite entry at all: a row of NaN (as numpy's formula gives)
    if ((row_flags & 1u) != 0u || (row_flags & 2u) == 0u) {
        let nan = bitcast<T>(INF_BITS | U(1));
        for (var i = lid; i < cols; i += 256u) {
            store_y(base + i, nan);
        }
        return;
    }
    var s = T(0.0);
    for (var i = lid; i < cols; i += 256u) {
        let v = load_x(base + i);
        let e = exp_less_max(v, mx);
        store_y(base + i, e);
        s = s + e;
    }
    red[lid] = s;
    workgroupBarrier();
    tree_sum(lid);
    let total = red[0];
    for (var i = lid; i < cols; i += 256u) {
        store_y(base + i, load_y(base + i) / total);
    }
}

@compute @workgroup_size(64)
fn rows(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
    let row = (wid.y * nwg.x + wid.x) * 64u + lid;
    if (row >= params.rows) {
        return;
    }
    let cols = params.cols;
    let base = row * cols;
    var mx = T(0.0);
    var flags = 0u;  // as main's
    for (var i = 0u; i < cols; i++) {
        let v = load_x(base + i);
        let u = bitcast<U>(v);
        if (is_nan(u) || u == INF_BITS) {
            flags = flags | 1u;
        } else if ((u & ~SIGN) != INF_BITS) {
            mx = select(v, max(mx, v), (flags & 2u) != 0u);
            flags = flags | 2u;
        }
    }
    if ((flags & 1u) != 0u || (flags & 2u) == 0u) {
        let nan = bitcast<T>(INF_BITS | U(1));
        for (var i = 0u; i < cols; i++) {
            store_y(base + i, nan);
        }
        return;
    }
    var s = T(0.0);
    for (var i = 0u; i < cols; i++) {
        let e = exp_less_max(load_x(base + i), mx);
        store_y(base + i, e);
        s = s + e;
    }
    for (var i = 0u; i < cols; i++) {
        store_y(base + i, load_y(base + i) / s);
    }
}
