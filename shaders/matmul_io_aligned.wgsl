// matmul_io_aligned.wgsl: matmul's bindings as arrays of vec4 with no bounds checks: only for
// M, N and K multiples of the variant's tile (and K chunks of whole K steps), where every load
// and store is inside the matrices.
@group(0) @binding(0) var<storage, read> a: array<vec4<T>>;
@group(0) @binding(1) var<storage, read> b: array<vec4<T>>;
@group(0) @binding(2) var<storage, read_write> c: array<vec4<T>>;
@group(0) @binding(4) var<storage, read> bias: array<vec4<T>>;

fn load_a(base: u32, row: u32, col: u32, rows: u32, limit: u32, stride: u32) -> vec4<T> {
    return a[(base + row * stride + col) / 4u];
}

fn load_b(base: u32, row: u32, col: u32, rows: u32, limit: u32, stride: u32) -> vec4<T> {
    return b[(base + row * stride + col) / 4u];
}

fn load_c(base: u32, row: u32, col: u32, cols: u32) -> vec4<T> {
    return c[(base + row * cols + col) / 4u];
}

fn load_bias(base: u32, col: u32, cols: u32) -> vec4<T> {
    return bias[(base + col) / 4u];
}

fn store_c(base: u32, row: u32, col: u32, cols: u32, v: vec4<T>) {
    c[(base + row * cols + col) / 4u] = v;
}
