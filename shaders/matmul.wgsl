// matmul.wgsl: batched C[z] = act(A[z or 0] @ B[z or 0] + bias), row-major: matmul, and linear
// with its epilogue. The backend prepends a prelude (T), activations.wgsl with its ACT, and one
// of matmul_io_scalar.wgsl / matmul_io_vec4.wgsl (the bindings, load_a, load_b, load_c,
// load_bias, store_c): vec4 loads and stores where K and N are multiples of 4.
//
// Each workgroup computes a 64 x 64 tile of C; each of its 16 x 16 invocations a 4 x 4 register
// block. K advances 16 at a time through workgroup memory, where A is stored k-major as vec4s
// of 4 rows and B as vec4s of 4 columns, so the inner loop reads vectors. Loads from global
// memory are bounds-checked (zero outside), so any M, N, K is correct. Every element of C sums
// its K products in order, one fma each: the same bits whatever the tiling.
//
// One dispatch covers K in [k_begin, k_end). Later chunks start from the C the previous one
// stored (flags bit 0) and continue the same fma chain, so splitting K changes no bit: the
// backend splits where an adapter limits one invocation's loop iterations (llvmpipe: 65,535).
// The bias and the activation (flags bit 1) apply after the last chunk, to the tile in
// registers.
//
// The batch is the grid's z and the tiles its x and y, each plus an offset when there are more
// than 65535 per dispatch; a_batch and b_batch are the operands' batch strides in elements, 0 to
// broadcast one matrix.

struct Params {
    m: u32,
    n: u32,
    k: u32,
    a_batch: u32,
    b_batch: u32,
    batch_offset: u32,
    row_tile0: u32,
    col_tile0: u32,
    k_begin: u32,
    k_end: u32,
    flags: u32,  // bit 0: add to C; bit 1: the epilogue (bias if bit 2, activation)
    zero: u32,
}

@group(0) @binding(3) var<uniform> params: Params;

const TM: u32 = 64u;
const TN: u32 = 64u;
const TK: u32 = 16u;

var<workgroup> a_tile: array<vec4<T>, 256>;  // [k][row / 4]: TK x TM / 4
var<workgroup> b_tile: array<vec4<T>, 256>;  // [k][col / 4]: TK x TN / 4

@compute @workgroup_size(16, 16)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>,
        @builtin(local_invocation_index) li: u32) {
    let m = params.m;
    let n = params.n;
    let k = params.k;
    let item = wid.z + params.batch_offset;
    let a_base = item * params.a_batch;
    let b_base = item * params.b_batch;
    let c_base = item * m * n;
    let row0 = (wid.y + params.row_tile0) * TM;
    let col0 = (wid.x + params.col_tile0) * TN;
    let my_col = col0 + lid.x * 4u;

    var acc: array<vec4<T>, 4>;
    let accumulate = (params.flags & 1u) != 0u;
    for (var i = 0u; i < 4u; i++) {
        let gr = row0 + lid.y * 4u + i;
        acc[i] = vec4<T>(T(0.0));
        if (accumulate && gr < m) {
            acc[i] = load_c(c_base, gr, my_col, n);
        }
    }

    for (var k0 = params.k_begin; k0 < params.k_end; k0 += TK) {
        // A tile: 64 rows x 16 k; invocation li loads row li / 4, k columns (li % 4) * 4 .. + 4
        {
            let r = li / 4u;
            let kq = (li % 4u) * 4u;
            let quad = load_a(a_base, row0 + r, k0 + kq, m, params.k_end, k);
            for (var q = 0u; q < 4u; q++) {
                a_tile[(kq + q) * 16u + r / 4u][r % 4u] = quad[q];
            }
        }
        // B tile: 16 k x 64 columns; invocation li loads k li / 16, columns (li % 16) * 4 .. + 4
        {
            let kk = li / 16u;
            let cq = (li % 16u) * 4u;
            b_tile[kk * 16u + cq / 4u] = load_b(b_base, k0 + kk, col0 + cq, params.k_end, n, n);
        }
        workgroupBarrier();
        for (var kk = 0u; kk < TK; kk++) {
            let av = a_tile[kk * 16u + lid.y];
            let bv = b_tile[kk * 16u + lid.x];
            acc[0] = fma(vec4<T>(av.x), bv, acc[0]);
            acc[1] = fma(vec4<T>(av.y), bv, acc[1]);
            acc[2] = fma(vec4<T>(av.z), bv, acc[2]);
            acc[3] = fma(vec4<T>(av.w), bv, acc[3]);
        }
        workgroupBarrier();
    }

    let epilogue = (params.flags & 2u) != 0u;
    let with_bias = (params.flags & 4u) != 0u;
    var bias_v = vec4<T>(T(0.0));
    if (epilogue && with_bias) {
        bias_v = load_bias(my_col, n);
    }
    for (var i = 0u; i < 4u; i++) {
        let gr = row0 + lid.y * 4u + i;
        if (gr < m) {
            var v = acc[i];
            if (epilogue) {
                if (with_bias) {
                    v = v + bias_v;
                }
                v = activate4(v, params.zero);
            }
            store_c(c_base, gr, my_col, n, v);
        }
    }
}
