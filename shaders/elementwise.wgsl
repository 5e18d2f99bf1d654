// elementwise.wgsl: y[i] = activate(x[i]) (after a prelude, activations.wgsl with its ACT, and
// one of elementwise_io_xy.wgsl / elementwise_io_inplace.wgsl, which define load_x and store_y:
// a buffer cannot be bound both read-only and writable in one dispatch, so in place has its own
// bindings).
//
// The grid is two-dimensional (65535 workgroups per dimension at most): element
// i = (wid.y * num_workgroups.x + wid.x) * 256 + local index.

struct Params {
    n: u32,
    zero: u32,  // always 0: see exp_parts
}

@group(0) @binding(2) var<uniform> params: Params;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
    let i = (wid.y * nwg.x + wid.x) * 256u + lid;
    if (i >= params.n) {
        return;
    }
    store_y(i, activate(load_x(i), params.zero));
}
