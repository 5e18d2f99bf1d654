"""The semantics of docs/contract.md that every backend shares: errors, dtypes, promotion, shapes,
empty and 0-d inputs, strided/Fortran/read-only inputs left unchanged, out=, threads, size."""

from __future__ import annotations

import threading

import numpy as np
import pytest

import accel
from accel.testing import reference

ACTIVATIONS = [accel.relu, accel.sigmoid, accel.tanh]
DTYPES = [np.float32, np.float64]


def runs(backend, dtype) -> bool:
    from accel import backends

    return np.dtype(dtype) in backends.get(backend).dtypes()


def rand(shape, dtype, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype(dtype)


# -- dtypes ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "bad", [np.int32, np.int64, np.bool_, np.float16, np.complex64, np.complex128, object]
)
def test_unsupported_dtypes_raise_type_error(backend, bad):
    x = np.ones(4, dtype=bad)
    f = np.ones(4, dtype=np.float32)
    for call in (
        lambda: accel.relu(x, backend=backend),
        lambda: accel.sigmoid(x, backend=backend),
        lambda: accel.tanh(x, backend=backend),
        lambda: accel.dot(x, f, backend=backend),
        lambda: accel.dot(f, x, backend=backend),
        lambda: accel.matmul(x.reshape(2, 2), f.reshape(2, 2), backend=backend),
    ):
        with pytest.raises(TypeError, match="float32 and float64"):
            call()


def test_python_lists_of_floats_are_float64(backend):
    assert accel.relu([1.0, -2.0], backend=backend).dtype == np.float64
    assert accel.matmul([[1.0, 2.0]], [[3.0], [4.0]], backend=backend).tolist() == [[11.0]]
    with pytest.raises(TypeError):
        accel.relu([1, 2], backend=backend)  # ints: numpy gives int64


def test_mixed_dtypes_promote_to_float64(backend):
    if not runs(backend, np.float64):
        pytest.skip("float64 not run by this backend here")
    a32, a64 = rand((3, 4), np.float32), rand((4, 2), np.float64)
    assert accel.matmul(a32, a64, backend=backend).dtype == np.float64
    assert accel.matmul(a64.T, a32.T, backend=backend).dtype == np.float64
    r = accel.dot(a32[0], a64[:, 0], backend=backend)
    assert type(r) is np.float64


@pytest.mark.parametrize("dtype", DTYPES)
def test_result_dtypes_and_types(backend, dtype):
    if not runs(backend, dtype):
        pytest.skip(f"{np.dtype(dtype).name} not run by this backend here")
    x = rand(5, dtype)
    for f in ACTIVATIONS:
        assert f(x, backend=backend).dtype == dtype
    assert type(accel.dot(x, x, backend=backend)) is np.dtype(dtype).type
    assert accel.matmul(x[:, None], x[None, :], backend=backend).dtype == dtype


def test_non_native_byte_order_is_accepted(backend):
    x = rand(7, np.float32).astype(">f4")
    y = accel.relu(x, backend=backend)
    np.testing.assert_array_equal(y, np.maximum(x.astype(np.float32), 0))


# -- matmul shapes -----------------------------------------------------------------------------

MATMUL_SHAPES = [
    ((3,), (3,)),
    ((3,), (3, 4)),
    ((2, 3), (3,)),
    ((2, 3), (3, 4)),
    ((5, 2, 3), (3, 4)),
    ((2, 3), (5, 3, 4)),
    ((5, 2, 3), (5, 3, 4)),
    ((2, 1, 2, 3), (1, 4, 3, 5)),
    ((3,), (2, 3, 4)),
    ((2, 2, 3), (3,)),
    ((1, 1), (1, 1)),
    ((6, 8), (8, 12)),  # K and N multiples of 4: the gpu's vec4 loads
    ((3, 5, 4), (4, 8)),
    ((0, 3), (3, 4)),
    ((2, 3), (3, 0)),
    ((2, 0), (0, 4)),
    ((0,), (0,)),
    ((3, 0, 2), (2, 5)),
    ((0, 2, 3), (3, 4)),
]


@pytest.mark.parametrize("sa,sb", MATMUL_SHAPES)
@pytest.mark.parametrize("dtype", DTYPES)
def test_matmul_shapes_match_numpy(backend, sa, sb, dtype):
    if not runs(backend, dtype):
        pytest.skip("dtype not run here")
    a, b = rand(sa, dtype, 1), rand(sb, dtype, 2)
    c = accel.matmul(a, b, backend=backend)
    expected = np.matmul(a, b)
    assert c.shape == expected.shape
    assert c.dtype == expected.dtype
    reference.check_matmul(a, b, c, backend)
    if 0 in sa[-1:]:  # K = 0 gives zeros
        assert np.all(c == 0)


@pytest.mark.parametrize(
    "sa,sb",
    [
        ((), (3,)),
        ((3,), ()),
        ((2, 3), (4, 5)),
        ((3,), (4,)),
        ((2, 2, 3), (3, 3, 4)),
        ((2, 3), (2,)),
    ],
)
def test_matmul_bad_shapes_raise_value_error(backend, sa, sb):
    a, b = np.ones(sa, np.float32), np.ones(sb, np.float32)
    with pytest.raises(ValueError):
        np.matmul(a, b)  # numpy agrees these are errors
    with pytest.raises(ValueError):
        accel.matmul(a, b, backend=backend)


@pytest.mark.parametrize("sa,sb", [((2,), (3,)), ((2, 3), (3, 4, 5)), ((), ()), ((3, 3), (2, 3))])
def test_dot_bad_shapes_raise_value_error(backend, sa, sb):
    with pytest.raises(ValueError):
        accel.dot(np.ones(sa, np.float32), np.ones(sb, np.float32), backend=backend)


def test_dot_of_empty_vectors_is_zero(backend):
    r = accel.dot(np.ones(0, np.float32), np.ones(0, np.float32), backend=backend)
    assert r == 0 and type(r) is np.float32


# -- activations: shapes -----------------------------------------------------------------------


@pytest.mark.parametrize("shape", [(), (0,), (1,), (7,), (3, 0, 2), (4, 5, 6), (1, 1, 1, 33)])
@pytest.mark.parametrize("f", ACTIVATIONS)
def test_activation_shapes(backend, shape, f):
    x = rand(shape, np.float32) * 5
    y = f(x, backend=backend)
    assert y.shape == x.shape and y.dtype == x.dtype and isinstance(y, np.ndarray)
    reference.check_activation(f.__name__, x, y, backend)


def test_activation_of_python_scalar_is_0d(backend):
    y = accel.tanh(0.5, backend=backend)
    assert y.shape == () and y.dtype == np.float64


# -- inputs of any layout are read correctly and never modified ---------------------------------


def layouts(dtype):
    base = rand((12, 10), dtype, 3)
    ro = base.copy()
    ro.flags.writeable = False
    return {
        "c": base.copy(),
        "fortran": np.asfortranarray(base),
        "transposed": base.copy().T,
        "strided": rand((24, 30), dtype, 4)[::2, ::3],
        "negative-strides": base.copy()[::-1, ::-1],
        "read-only": ro,
    }


@pytest.mark.parametrize("layout", list(layouts(np.float32)))
def test_any_layout_gives_the_same_result_and_is_left_unchanged(backend, layout):
    x = layouts(np.float32)[layout]
    before = x.copy()
    contiguous = np.ascontiguousarray(x)
    for f in ACTIVATIONS:
        np.testing.assert_array_equal(f(x, backend=backend), f(contiguous, backend=backend))
    np.testing.assert_array_equal(
        accel.matmul(x, x.T, backend=backend),
        accel.matmul(contiguous, contiguous.T.copy(), backend=backend),
    )
    col = x[:, 0]
    assert accel.dot(col, col, backend=backend) == accel.dot(
        col.copy(), col.copy(), backend=backend
    )
    np.testing.assert_array_equal(x, before)
    assert x.flags.writeable == (layout != "read-only")


# -- out= --------------------------------------------------------------------------------------


@pytest.mark.parametrize("f", ACTIVATIONS)
def test_activation_out(backend, f):
    x = rand((4, 5), np.float32)
    out = np.empty((4, 5), np.float32)
    y = f(x, out=out, backend=backend)
    assert y is out
    np.testing.assert_array_equal(out, f(x, backend=backend))


@pytest.mark.parametrize("f", ACTIVATIONS)
def test_activation_in_place(backend, f):
    x = rand((33, 3), np.float32)
    expected = f(x, backend=backend)
    y = f(x, out=x, backend=backend)
    assert y is x
    np.testing.assert_array_equal(x, expected)


def test_out_strided_and_fortran(backend):
    x = rand((6, 8), np.float32)
    big = np.zeros((12, 16), np.float32)
    out = big[::2, ::2]
    accel.relu(x, out=out, backend=backend)
    np.testing.assert_array_equal(out, np.maximum(x, 0))
    assert np.all(big[1::2] == 0) and np.all(big[:, 1::2] == 0)
    a, b = rand((6, 5), np.float32), rand((5, 8), np.float32)
    fo = np.empty((6, 8), np.float32, order="F")
    assert accel.matmul(a, b, out=fo, backend=backend) is fo
    np.testing.assert_array_equal(fo, accel.matmul(a, b, backend=backend))


def test_matmul_out_overlapping_an_input(backend):
    a = rand((8, 8), np.float32)
    b = rand((8, 8), np.float32)
    expected = accel.matmul(a, b, backend=backend)
    accel.matmul(a, b, out=a, backend=backend)
    np.testing.assert_array_equal(a, expected)


def test_matmul_out_with_batch_and_vectors(backend):
    a, b = rand((3, 4, 5), np.float32), rand((5,), np.float32)
    out = np.full((3, 4), np.nan, np.float32)
    assert accel.matmul(a, b, out=out, backend=backend) is out
    np.testing.assert_array_equal(out, accel.matmul(a, b, backend=backend))


@pytest.mark.parametrize(
    "out",
    [
        np.empty((4, 4), np.float64),  # wrong dtype
        np.empty((4, 5), np.float32),  # wrong shape
        np.empty(16, np.float32),  # wrong shape, same size
        [[0.0] * 4] * 4,  # not an ndarray
    ],
)
def test_bad_out_raises_value_error(backend, out):
    x = rand((4, 4), np.float32)
    with pytest.raises(ValueError):
        accel.relu(x, out=out, backend=backend)
    with pytest.raises(ValueError):
        accel.matmul(x, x, out=out, backend=backend)


def test_read_only_out_raises_value_error(backend):
    x = rand(4, np.float32)
    out = np.empty(4, np.float32)
    out.flags.writeable = False
    with pytest.raises(ValueError, match="read-only"):
        accel.tanh(x, out=out, backend=backend)


# -- threads and determinism -------------------------------------------------------------------


def test_eight_threads_at_once_give_the_bits_of_one(backend):
    rng = np.random.default_rng(5)
    a = rng.standard_normal((300, 200)).astype(np.float32)
    b = rng.standard_normal((200, 260)).astype(np.float32)
    x = rng.standard_normal(300_000).astype(np.float32)

    def compute():
        return {
            "matmul": accel.matmul(a, b, backend=backend),
            "dot": accel.dot(x, x, backend=backend),
            "tanh": accel.tanh(x, backend=backend),
            "sigmoid": accel.sigmoid(x, backend=backend),
            "relu": accel.relu(x, backend=backend),
        }

    expected = compute()
    failures: list[str] = []
    barrier = threading.Barrier(8)

    def worker():
        barrier.wait()
        for _ in range(3):
            got = compute()
            for k, v in got.items():
                if not np.array_equal(v, expected[k]):
                    failures.append(k)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not failures, f"results differed between threads: {sorted(set(failures))}"


@pytest.mark.slow
def test_a_256_mib_array(backend):
    x = np.empty(64 * 1024 * 1024, np.float32)  # 256 MiB
    x[:] = 1.5
    x[::1024] = -2.0
    y = accel.relu(x, backend=backend)
    assert y[0] == 0 and y[1] == 1.5 and y[-1] == 1.5
    assert np.count_nonzero(y == 0) == x.size // 1024
    del y
    r = accel.dot(x[: 16 * 1024 * 1024], x[: 16 * 1024 * 1024], backend=backend)
    assert r > 0
