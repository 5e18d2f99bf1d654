// elementwise_io_inplace.wgsl: elementwise and softmax in place: x is y.
@group(0) @binding(1) var<storage, read_write> y: array<T>;

fn load_x(i: u32) -> T {
    return y[i];
}

fn store_y(i: u32, v: T) {
    y[i] = v;
}

fn load_y(i: u32) -> T {
    return y[i];
}
