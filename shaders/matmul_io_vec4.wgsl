// matmul_io_vec4.wgsl: matmul's bindings as arrays of vec4, one load or store per four
// elements. Only for K and N multiples of 4: every row then starts on a vec4 and a quad is
// either wholly inside the matrix or wholly outside (K chunks start at multiples of 16).
@group(0) @binding(0) var<storage, read> a: array<vec4<T>>;
@group(0) @binding(1) var<storage, read> b: array<vec4<T>>;
@group(0) @binding(2) var<storage, read_write> c: array<vec4<T>>;
@group(0) @binding(4) var<storage, read> bias: array<vec4<T>>;

fn load_a(base: u32, row: u32, col: u32, rows: u32, limit: u32, stride: u32) -> vec4<T> {
    if (row < rows && col < limit) {
        return a[(base + row * stride + col) / 4u];
    }
    return vec4<T>(T(0.0));
}

fn load_b(base: u32, row: u32, col: u32, rows: u32, limit: u32, stride: u32) -> vec4<T> {
    if (row < rows && col < limit) {
        return b[(base + row * stride + col) / 4u];
    }
    return vec4<T>(T(0.0));
}

fn load_c(base: u32, row: u32, col: u32, cols: u32) -> vec4<T> {
    if (col < cols) {
        return c[(base + row * cols + col) / 4u];
    }
    return vec4<T>(T(0.0));
}

fn load_bias(base: u32, col: u32, cols: u32) -> vec4<T> {
    if (col < cols) {
        return bias[(base + col) / 4u];
    }
    return vec4<T>(T(0.0));
}

fn store_c(base: u32, row: u32, col: u32, cols: u32, v: vec4<T>) {
    if (col < cols) {
        c[(base + row * cols + col) / 4u] = v;
    }
}
