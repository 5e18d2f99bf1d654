// matmul_io_bt.wgsl: matmul_io_scalar.wgsl with B given as its transpose, (N, K) row-major per
// batch item, read in place (q @ k.mT): load_b gathers four columns' elements of one k.
//
// No loops and no branches in the loads: each element is read unconditionally and selected
// away outside the matrix (WGSL bounds every storage read, so an index past the buffer reads
// some element of it or zero, never outside). Branches and loops here, inlined into the K
// loop, stop shader compilers from unrolling the loops that index the register block
// (llvmpipe then keeps it in memory: 5x slower).
@group(0) @binding(0) var<storage, read> a: array<T>;
@group(0) @binding(1) var<storage, read> b: array<T>;
@group(0) @binding(2) var<storage, read_write> c: array<T>;
@group(0) @binding(4) var<storage, read> bias: array<T>;

// v where its column col + i < limit (and inside), else zero
fn keep(v: vec4<T>, col: u32, limit: u32, inside: bool) -> vec4<T> {
    let lanes = vec4<bool>(col < limit, col + 1u < limit, col + 2u < limit, col + 3u < limit);
    return select(vec4<T>(T(0.0)), v, lanes & vec4<bool>(inside));
}

// x[row, col .. col + 3] of a matrix with `stride` elements per row at base, zero where
// row >= rows or col >= limit
fn load_a(base: u32, row: u32, col: u32, rows: u32, limit: u32, stride: u32) -> vec4<T> {
    let at = base + row * stride + col;
    return keep(vec4<T>(a[at], a[at + 1u], a[at + 2u], a[at + 3u]), col, limit, row < rows);
}

// B[row, col .. col + 3] of a B stored transposed: element (r, c) at base + c * K + r
fn load_b(base: u32, row: u32, col: u32, rows: u32, limit: u32, stride: u32) -> vec4<T> {
    let k = params.k;
    let at = base + col * k + row;
    return keep(vec4<T>(b[at], b[at + k], b[at + 2u * k], b[at + 3u * k]), col, limit,
                row < rows);
}

fn load_c(base: u32, row: u32, col: u32, cols: u32) -> vec4<T> {
    let at = base + row * cols + col;
    return keep(vec4<T>(c[at], c[at + 1u], c[at + 2u], c[at + 3u]), col, cols, true);
}

// bias[base + col .. base + col + 3] (base: the batch item's bias, for a stack of layers)
fn load_bias(base: u32, col: u32, cols: u32) -> vec4<T> {
    let at = base + col;
    return keep(vec4<T>(bias[at], bias[at + 1u], bias[at + 2u], bias[at + 3u]), col, cols,
                true);
}

// stores stay conditional: a store past the buffer may land anywhere in it
fn store_c(base: u32, row: u32, col: u32, cols: u32, v: vec4<T>) {
    let at = base + row * cols + col;
    if (col < cols) {
        c[at] = v.x;
    }
    if (col + 1u < cols) {
        c[at + 1u] = v.y;
    }
    if (col + 2u < cols) {
        c[at + 2u] = v.z;
    }
    if (col + 3u < cols) {
        c[at + 3u] = v.w;
    }
}
