// matmul_direct_subgroup.wgsl: the direct matmul's entry point with subgroup operations, only
// on adapters with the feature (the backend requests it; naga takes subgroup functions without
// WGSL's `enable subgroups;`, which it rejects as not yet implemented). Each invocation loads
// one quad of A per K step and takes the other rows' quads from its neighbours
// (subgroupShuffle).
//
// That needs the workgroup's WX invocations to be one subgroup, at lanes equal to their local
// index. Vulkan and the other APIs do not promise that mapping, and subgroups can be smaller
// than a workgroup, so the kernel checks it: the subgroup holds the whole workgroup (its
// active lanes number WX) and every lane is its local index. Otherwise it loads as the plain
// kernel does: the same values reach the same fmas either way, so the bits are the same.
// Naga takes subgroup_invocation_id only for one-dimensional workgroups: SG variants have
// WY = 1 (TM = RM), so all of a workgroup's invocations have the same rows.

fn share_quad(v: vec4<T>, lane: u32) -> vec4<T> {
    return subgroupShuffle(v, lane);
}

@compute @workgroup_size(WX, WY)
fn main_direct(@builtin(workgroup_id) wid: vec3<u32>,
               @builtin(local_invocation_id) lid: vec3<u32>,
               @builtin(local_invocation_index) li: u32,
               @builtin(subgroup_invocation_id) lane: u32,
               @builtin(subgroup_size) lanes: u32) {
    let whole = subgroupAdd(1u) == WX * WY;
    let mapped = subgroupAll(lane == li);
    direct(wid, lid, RM <= WX && whole && mapped);
}
