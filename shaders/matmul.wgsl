// matmul.wgsl: batched C[z] = act(A[z or 0] @ B[z or 0] + bias), row-major: matmul, and linear
// with its epilogue. One source for a family of tiled kernels: the backend prepends the
// variant's constants (TM x TN output tile per workgroup, RM rows x RQ vec4 columns per
// invocation, K step TK, WX x WY invocations = TN / (4 RQ) x TM / RM, and DB: 1 for register
// double-buffering of the next K step's loads), a prelude (T),
// activations.wgsl with its ACT, and an I/O part: matmul_io_scalar.wgsl (bounds checks on
// every scalar), matmul_io_vec4.wgsl (vec4 loads and stores where K and N are multiples of 4)
// or matmul_io_aligned.wgsl (no bounds checks at all: M, N, K multiples of the tile).
//
// Each K step stages a TM x TK block of A (k-major, vec4s of 4 rows) and a TK x TN block of B
// (vec4s of 4 columns) in workgroup memory; each invocation keeps an RM x 4 RQ block of C in
// registers. Loads from global memory are bounds-checked (zero outside) unless aligned. Every
// element of C sums its K products in order, one fma each: the same bits for every variant,
// tile and K split (tests check that).
//
// One dispatch covers K in [k_begin, k_end). Later chunks start from the C the previous one
// stored (flags bit 0) and continue the same fma chain, so splitting K changes no bit: the
// backend splits where an adapter limits one invocation's loop iterations (llvmpipe: 65,535).
// The bias and the activation (flags bit 1; bias if bit 2) apply after the last chunk, to the
// tile in registers.
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
    flags: u32,
    zero: u32,
    bias_batch: u32,  // the bias's batch stride in elements (0: one bias for all)
    pad1: u32,
    pad2: u32,
    pad3: u32,
}

@group(0) @binding(3) var<uniform> params: Params;

const NT: u32 = WX * WY;  // invocations per workgroup
const AQ: u32 = max(TM / 4u, 1u);  // vec4s of rows in a k-row of the A tile (one-row tiles: 1)
const BQ: u32 = TN / 4u;  // vec4s of columns in a k-row of the B tile

const AL: u32 = (TM * TK / 4u + NT - 1u) / NT;  // A quads each invocation stages per K step
const BL: u32 = (TK * BQ + NT - 1u) / NT;  // B vec4s each invocation stages per K step

var<workgroup> a_tile: array<vec4<T>, TK * AQ>;  // [k][row / 4]
var<workgroup> b_tile: array<vec4<T>, TK * BQ>;  // [k][col / 4]

// The double-buffered staging (DB = 1): an invocation's share of one K step's A block (quads
// of 4 consecutive k of one row) and B block (vec4s of 4 consecutive columns), fetched into
// registers, then put into the workgroup tiles. k_end bounds K as the scalar loads do.
fn fetch_a(dst: ptr<function, array<vec4<T>, AL>>, a_base: u32, row0: u32, k0: u32, li: u32,
           m: u32, k: u32) {
    for (var i = 0u; i < AL; i++) {
        let q = li + i * NT;
        if (q < TM * TK / 4u) {
            let r = q / (TK / 4u);
            let kq = (q % (TK / 4u)) * 4u;
            (*dst)[i] = load_a(a_base, row0 + r, k0 + kq, m, params.k_end, k);
        }
    }
}

fn fetch_b(dst: ptr<function, array<vec4<T>, BL>>, b_base: u32, col0: u32, k0: u32, li: u32,
           n: u32) {
    for (var i = 0u; i < BL; i++) {
        let q = li + i * NT;
        if (q < TK * BQ) {
            let kk = q / BQ;
            let cq = (q % BQ) * 4u;
            (*dst)[i] = load_b(b_base, k0 + kk, col0 + cq, params.k_end, n, n);
        }
    }
}

fn put_a(src: ptr<function, array<vec4<T>, AL>>, li: u32) {
    for (var i = 0u; i < AL; i++) {
        let q = li + i * NT;
        if (q < TM * TK / 4u) {
            let r = q / (TK / 4u);
            let kq = (q % (TK / 4u)) * 4u;
            for (var e = 0u; e < 4u; e++) {
                a_tile[(kq + e) * AQ + r / 4u][r % 4u] = (*src)[i][e];
            }
        }
    }
}

fn put_b(src: ptr<function, array<vec4<T>, BL>>, li: u32) {
    for (var i = 0u; i < BL; i++) {
        let q = li + i * NT;
        if (q < TK * BQ) {
            b_tile[(q / BQ) * BQ + q % BQ] = (*src)[i];
        }
    }
}

// Where an invocation works: its batch item's operands (element offsets), its workgroup's
// tile (row0, col0) and its first row (its rows: my_row + r; its columns: the vec4s
// lid.x + j * WX of the tile).
struct Block {
    a_base: u32,
    b_base: u32,
    c_base: u32,
    bias_base: u32,
    row0: u32,
    col0: u32,
    my_row: u32,
}

// An invocation's block of C: RM rows x RQ vec4s of columns, in registers.
alias Acc = array<array<vec4<T>, RQ>, RM>;

// The block's starting values: zero, or (flags bit 0) the C a previous K chunk stored.
fn start_acc(acc: ptr<function, Acc>, at: Block, lx: u32, m: u32, n: u32) {
    let accumulate = (params.flags & 1u) != 0u;
    for (var r = 0u; r < RM; r++) {
        for (var j = 0u; j < RQ; j++) {
            (*acc)[r][j] = vec4<T>(T(0.0));
            if (accumulate && at.my_row + r < m) {
                let col = at.col0 + (lx + j * WX) * 4u;
                (*acc)[r][j] = load_c(at.c_base, at.my_row + r, col, n);
            }
        }
    }
}

// Stores the block, after the bias and the activation once K is done (flags bits 1 and 2).
// relu and the identity apply here; the other activations (much longer code) in a second pass
// over the stored block: inside these loops they stop the shader compiler from unrolling them
// (llvmpipe), and a loop that is not unrolled indexes acc at run time, which keeps acc in memory
// instead of registers for the whole kernel (3x slower there). The same values: the same bits.
const INLINE_ACT: bool = ACT <= 0;

fn store_acc(acc: ptr<function, Acc>, at: Block, lx: u32, m: u32, n: u32) {
    let epilogue = (params.flags & 2u) != 0u;
    let with_bias = (params.flags & 4u) != 0u;
    for (var j = 0u; j < RQ; j++) {
        let col = at.col0 + (lx + j * WX) * 4u;
        var bias_v = vec4<T>(T(0.0));
        if (epilogue && with_bias) {
            bias_v = load_bias(at.bias_base, col, n);
        }
        for (var r = 0u; r < RM; r++) {
            if (at.my_row + r < m) {
                var v = (*acc)[r][j];
                if (epilogue) {
                    if (with_bias) {
                        v = v + bias_v;
                    }
                    if (INLINE_ACT) {
                        v = activate4(v, params.zero);
                    }
                }
                store_c(at.c_base, at.my_row + r, col, n, v);
            }
        }
    }
    if (epilogue && !INLINE_ACT) {
        for (var j = 0u; j < RQ; j++) {
            let col = at.col0 + (lx + j * WX) * 4u;
            for (var r = 0u; r < RM && at.my_row + r < m; r++) {
                let v = load_c(at.c_base, at.my_row + r, col, n);
                store_c(at.c_base, at.my_row + r, col, n, activate4(v, params.zero));
            }
        }
    }
}

// The invocation's Block, with its register block started (start_acc)
fn begin(wid: vec3<u32>, lid: vec3<u32>, acc: ptr<function, Acc>) -> Block {
    let item = wid.z + params.batch_offset;
    let row0 = (wid.y + params.row_tile0) * TM;
    let at = Block(item * params.a_batch, item * params.b_batch, item * params.m * params.n,
                   item * params.bias_batch, row0, (wid.x + params.col_tile0) * TN, row0 + lid.y * RM);
    start_acc(acc, at, lid.x, params.m, params.n);
    return at;
}

@compute @workgroup_size(WX, WY)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>,
        @builtin(local_invocation_index) li: u32) {
    let m = params.m;
    let n = params.n;
    let k = params.k;
    var acc: Acc;
    let at = begin(wid, lid, &acc);

    // DB = 1: register double-buffering. The next K step's A and B values are fetched from
    // global memory into registers while this step computes from workgroup memory, so the
    // loads' latency hides behind the fmas (one barrier pair per step, as without). The same
    // values reach the same fmas in the same order: the same bits.
    var a_next: array<vec4<T>, AL>;
    var b_next: array<vec4<T>, BL>;
    if (DB == 1u && params.k_begin < params.k_end) {
        fetch_a(&a_next, at.a_base, at.row0, params.k_begin, li, m, k);
        fetch_b(&b_next, at.b_base, at.col0, params.k_begin, li, n);
    }
    for (var k0 = params.k_begin; k0 < params.k_end; k0 += TK) {
        if (DB == 1u) {
            put_a(&a_next, li);
            put_b(&b_next, li);
        } else {
            // A block: TM rows x TK k, as vec4s of 4 consecutive k of one row
            for (var q = li; q < TM * TK / 4u; q += NT) {
                let r = q / (TK / 4u);
                let kq = (q % (TK / 4u)) * 4u;
                let quad = load_a(at.a_base, at.row0 + r, k0 + kq, m, params.k_end, k);
                for (var e = 0u; e < 4u; e++) {
                    a_tile[(kq + e) * AQ + r / 4u][r % 4u] = quad[e];
                }
            }
            // B block: TK k x TN columns, as vec4s of 4 consecutive columns
            for (var q = li; q < TK * BQ; q += NT) {
                let kk = q / BQ;
                let cq = (q % BQ) * 4u;
                b_tile[kk * BQ + cq / 4u] = load_b(at.b_base, k0 + kk, at.col0 + cq, params.k_end,
                                                   n, n);
            }
        }
        workgroupBarrier();
        if (DB == 1u && k0 + TK < params.k_end) {
            fetch_a(&a_next, at.a_base, at.row0, k0 + TK, li, m, k);
            fetch_b(&b_next, at.b_base, at.col0, k0 + TK, li, n);
        }
        for (var kk = 0u; kk < TK; kk++) {
            var bv: array<vec4<T>, RQ>;
            for (var j = 0u; j < RQ; j++) {
                bv[j] = b_tile[kk * BQ + lid.x + j * WX];
            }
            for (var r4 = 0u; r4 < RM / 4u; r4++) {
                let av = a_tile[kk * AQ + lid.y * (RM / 4u) + r4];
                for (var j = 0u; j < RQ; j++) {
                    acc[r4 * 4u][j] = fma(vec4<T>(av.x), bv[j], acc[r4 * 4u][j]);
                    acc[r4 * 4u + 1u][j] = fma(vec4<T>(av.y), bv[j], acc[r4 * 4u + 1u][j]);
                    acc[r4 * 4u + 2u][j] = fma(vec4<T>(av.z), bv[j], acc[r4 * 4u + 2u][j]);
                    acc[r4 * 4u + 3u][j] = fma(vec4<T>(av.w), bv[j], acc[r4 * 4u + 3u][j]);
                }
            }
        }
        workgroupBarrier();
    }

    store_acc(&acc, at, lid.x, m, n);
}

// The direct form (variants with no staging, TK = 4): each invocation reads its operands from
// global memory, with no workgroup memory and no barriers: per 4 k, a quad of each of its RM
// rows of A and 4 x RQ vec4s of B. On adapters that run invocations as SIMD lanes of a CPU
// (llvmpipe), barriers and workgroup memory cost more than the loads they save, and small
// products have more workgroups to spread over the cores. The same fmas in the same order as
// main: the same bits.
//
// Its entry point main_direct comes from a part: matmul_direct_plain.wgsl, or
// matmul_direct_subgroup.wgsl (adapters with subgroups), where `share` says that the
// workgroup's invocations, which all have the same rows (WY = 1), are one subgroup at lanes
// 0 .. WX - 1: invocation x then loads the quad of row x (RM <= WX) and the others take it by
// share_quad, one load instead of RM per invocation.
fn direct(wid: vec3<u32>, lid: vec3<u32>, share: bool) {
    let m = params.m;
    let n = params.n;
    let k = params.k;
    var acc: Acc;
    let at = begin(wid, lid, &acc);
    for (var k0 = params.k_begin; k0 < params.k_end; k0 += 4u) {
        var bv: array<array<vec4<T>, RQ>, 4>;
        for (var e = 0u; e < 4u; e++) {
            for (var j = 0u; j < RQ; j++) {
                let col = at.col0 + (lid.x + j * WX) * 4u;
                bv[e][j] = load_b(at.b_base, k0 + e, col, params.k_end, n, n);
            }
        }
        var av: array<vec4<T>, RM>;
        if (share) {
            let mine = load_a(at.a_base, at.my_row + lid.x, k0, m, params.k_end, k);
            for (var r = 0u; r < RM; r++) {
                av[r] = share_quad(mine, r);
            }
        } else {
            for (var r = 0u; r < RM; r++) {
                av[r] = load_a(at.a_base, at.my_row + r, k0, m, params.k_end, k);
            }
        }
        for (var r = 0u; r < RM; r++) {
            for (var j = 0u; j < RQ; j++) {
                acc[r][j] = fma(vec4<T>(av[r].x), bv[0][j], acc[r][j]);
                acc[r][j] = fma(vec4<T>(av[r].y), bv[1][j], acc[r][j]);
                acc[r][j] = fma(vec4<T>(av[r].z), bv[2][j], acc[r][j]);
                acc[r][j] = fma(vec4<T>(av[r].w), bv[3][j], acc[r][j]);
            }
        }
    }
    store_acc(&acc, at, lid.x, m, n);
}
