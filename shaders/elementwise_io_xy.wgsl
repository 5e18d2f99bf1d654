// elementwise_io_xy.wgsl: elementwise and softmax reading x and writing another buffer y.
@group(0) @binding(0) var<storage, read> x: array<T>;
@group(0) @binding(1) var<storage, read_write> y: array<T>;

fn load_x(i: u32) -> T {
    return x[i];
}

fn store_y(i: u32, v: T) {
    y[i] = v;
}

fn load_y(i: u32) -> T {
    return y[i];
}
