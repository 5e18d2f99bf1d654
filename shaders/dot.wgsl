// dot.wgsl: the inner product as a two-stage reduction (after a prelude that defines T).
//
// `partial`: workgroup w sums elements [w * chunk, (w + 1) * chunk) with 256 strided fma
// chains and a tree in workgroup memory, into partials[w]. `total`: one workgroup adds the
// partials the same way into result[0]. The number of workgroups and the chunk depend on n
// alone, and every sum runs in a fixed order: the same bits on every call.

struct Params {
    n: u32,
    chunk: u32,
    groups: u32,
}

@group(0) @binding(0) var<storage, read> a: array<T>;
@group(0) @binding(1) var<storage, read> b: array<T>;
@group(0) @binding(2) var<storage, read_write> partials: array<T>;
@group(0) @binding(3) var<uniform> params: Params;
@group(0) @binding(4) var<storage, read_write> result: array<T>;

var<workgroup> sums: array<T, 256>;

fn tree(lid: u32) {
    for (var stride = 128u; stride > 0u; stride = stride / 2u) {
        if (lid < stride) {
            sums[lid] = sums[lid] + sums[lid + stride];
        }
        workgroupBarrier();
    }
}

@compute @workgroup_size(256)
fn partial(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let start = wid.x * params.chunk;
    let end = min(start + params.chunk, params.n);
    var s = T(0.0);
    for (var i = start + lid; i < end; i += 256u) {
        s = fma(a[i], b[i], s);
    }
    sums[lid] = s;
    workgroupBarrier();
    tree(lid);
    if (lid == 0u) {
        partials[wid.x] = sums[0];
    }
}

@compute @workgroup_size(256)
fn total(@builtin(local_invocation_index) lid: u32) {
    var s = T(0.0);
    for (var i = lid; i < params.groups; i += 256u) {
        s = s + partials[i];
    }
    sums[lid] = s;
    workgroupBarrier();
    tree(lid);
    if (lid == 0u) {
        result[0] = sums[0];
    }
}
