// matmul_direct_plain.wgsl: the direct matmul's entry point where subgroups are not used: each
// invocation loads every quad of A it needs.

fn share_quad(v: vec4<T>, lane: u32) -> vec4<T> {
    return v;  // never called: `share` is false
}

@compute @workgroup_size(WX, WY)
fn main_direct(@builtin(workgroup_id) wid: vec3<u32>,
               @builtin(local_invocation_id) lid: vec3<u32>) {
    direct(wid, lid, false);
}
