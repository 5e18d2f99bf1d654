// matmul_io_scalar.wgsl: matmul's bindings and its loads and stores of four consecutive
// elements, one scalar at a time with a bounds check each: any M, N, K.
@group(0) @binding(0) var<storage, read> a: array<T>;
@group(0) @binding(1) var<storage, read> b: array<T>;
@group(0) @binding(2) var<storage, read_write> c: array<T>;
@group(0) @binding(4) var<storage, read> bias: array<T>;

// x[row, col .. col + 3] of a matrix with `stride` elements per row at base, zero where
// row >= rows or col >= limit
fn load_a(base: u32, row: u32, col: u32, rows: u32, limit: u32, stride: u32) -> vec4<T> {
    var v = vec4<T>(T(0.0));
    if (row < rows) {
        for (var q = 0u; q < 4u; q++) {
            if (col + q < limit) {
                v[q] = a[base + row * stride + col + q];
            }
        }
    }
    return v;
}

fn load_b(base: u32, row: u32, col: u32, rows: u32, limit: u32, stride: u32) -> vec4<T> {
    var v = vec4<T>(T(0.0));
    if (row < rows) {
        for (var q = 0u; q < 4u; q++) {
            if (col + q < limit) {
                v[q] = b[base + row * stride + col + q];
            }
        }
    }
    return v;
}

fn load_c(base: u32, row: u32, col: u32, cols: u32) -> vec4<T> {
    var v = vec4<T>(T(0.0));
    for (var q = 0u; q < 4u; q++) {
        if (col + q < cols) {
            v[q] = c[base + row * cols + col + q];
        }
    }
    return v;
}

fn load_bias(col: u32, cols: u32) -> vec4<T> {
    var v = vec4<T>(T(0.0));
    for (var q = 0u; q < 4u; q++) {
        if (col + q < cols) {
            v[q] = bias[col + q];
        }
    }
    return v;
}

fn store_c(base: u32, row: u32, col: u32, cols: u32, v: vec4<T>) {
    for (var q = 0u; q < 4u; q++) {
        if (col + q < cols) {
            c[base + row * cols + col + q] = v[q];
        }
    }
}
