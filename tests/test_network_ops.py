"""The ops between the matmuls (DESIGN "Ops for whole networks"), each written once and run on
every backend and kernel variant: numpy in and numpy out, Arrays in and Arrays out, views,
broadcasting, dtypes, out= and aliasing, NaN, errors. The Hypothesis properties
(accel.testing.properties) check the bounds over random data; these check the rules."""

from __future__ import annotations

import threading

import numpy as np
import pytest

import accel
from accel.testing import reference


def rand(shape, dtype=np.float32, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype(dtype)


def base(backend: str) -> str:
    return backend.split("-")[0]


def arr(x, backend):
    return accel.asarray(x, backend=base(backend))


def calls(op: str, backend: str) -> int:
    return accel.stats().get((op, base(backend)), {}).get("calls", 0)


BINARY = {"add": np.add, "subtract": np.subtract, "multiply": np.multiply,
          "divide": np.divide, "maximum": np.maximum, "minimum": np.minimum}  # fmt: skip
SHAPES = [((5, 4), (4,)), ((3, 1, 4), (2, 1)), ((), (3,)), ((2, 0, 3), (3,)),
          ((1,), (6, 1)), ((130, 70), (130, 1))]  # fmt: skip


# -- elementwise arithmetic ----------------------------------------------------------------------


@pytest.mark.parametrize("op", list(BINARY))
@pytest.mark.parametrize("shapes", SHAPES)
def test_binary_ops_broadcast_as_numpy(backend, op, shapes):
    x1, x2 = rand(shapes[0], seed=1), rand(shapes[1], seed=2)
    want = BINARY[op](x1, x2)
    fn = getattr(accel, op)
    got = fn(x1, x2, backend=backend)
    reference.check_binary(op, x1, x2, np.asarray(got), backend)
    a1, a2 = arr(x1, backend), arr(x2, backend)
    for left, right in ((a1, a2), (a1, x2), (x1, a2)):
        r = fn(left, right)
        assert isinstance(r, accel.Array) and r.backend == base(backend)
        assert r.shape == want.shape and r.dtype == want.dtype
        np.testing.assert_array_equal(r.numpy(), np.asarray(got))


@pytest.mark.parametrize("op", list(BINARY))
def test_nans_of_either_sign_give_nan(backend, op):
    """NaN in, NaN out, whichever operand's NaN and whatever its sign (IEEE leaves a NaN's sign
    unspecified: the checks compare the signs of numbers and zeros, not of NaNs)."""
    nan = np.array([np.nan, -np.nan, np.nan, 1.0], np.float32)
    other = np.array([-np.nan, np.nan, 2.0, -np.nan], np.float32)
    for x1, x2 in ((nan, other), (float("nan"), other), (nan, float("-nan"))):
        got = np.asarray(getattr(accel, op)(x1, x2, backend=backend))
        assert np.isnan(got).all(), got
        reference.check_binary(op, x1, x2, got, backend)


def test_python_floats_take_the_array_dtype(backend):
    x = rand((3, 4))
    for y in (accel.multiply(x, 0.1, backend=backend), accel.subtract(1, x, backend=backend),
              arr(x, backend) * 0.1, 2.5 - arr(x, backend)):  # fmt: skip
        assert y.dtype == np.float32
    np.testing.assert_array_equal(accel.multiply(x, 0.1, backend=backend), x * 0.1)
    np.testing.assert_array_equal((1.0 / arr(x, backend)).numpy(), 1.0 / x)
    # a numpy float64 scalar and float64 arrays promote, as numpy 2 does
    assert accel.add(x, np.float64(1), backend=backend).dtype == np.float64
    if np.dtype(np.float64) in accel.backends.get(base(backend)).dtypes():
        y64 = accel.add(x, rand(4, np.float64), backend=backend)
        assert y64.dtype == np.float64
        r = arr(x, backend) + arr(rand(4, np.float64), backend)
        assert r.dtype == np.float64 and r.backend == base(backend)
        np.testing.assert_array_equal(r.numpy(), y64)


def test_special_values_and_signed_zeros(backend):
    x = np.array([np.nan, 1.0, -0.0, 0.0, np.inf, -np.inf, 3.0], np.float32)
    y = np.array([2.0, np.nan, 0.0, -0.0, np.inf, np.inf, -0.0], np.float32)
    for op, fn in BINARY.items():
        with np.errstate(all="ignore"):
            want = fn(x, y)
        got = getattr(accel, op)(x, y, backend=backend)
        np.testing.assert_array_equal(np.isnan(got), np.isnan(want), err_msg=op)
        if op in ("add", "subtract", "multiply", "divide"):
            signs = np.signbit(got[~np.isnan(got)]), np.signbit(want[~np.isnan(want)])
            np.testing.assert_array_equal(*signs, err_msg=op)
    neg = accel.negative(x, backend=backend)
    assert np.all(np.signbit(neg) != np.signbit(x))
    assert np.array_equal(accel.negative(arr(x, backend)).numpy(), neg, equal_nan=True)


def test_views_of_more_dimensions_than_a_map_kernel_takes(backend):
    """A permuted view of 10 dimensions whose strides cannot merge is copied, negated and
    added in calls over its leading dimensions (each written at its own offset of the
    result): numpy's values, on numpy data and on Arrays."""
    x = rand((2,) * 10, seed=5)
    order = (9, 0, 8, 1, 7, 2, 6, 3, 5, 4)
    view = np.transpose(x, order)
    a = accel.permute_dims(arr(x, backend), order)
    np.testing.assert_array_equal(accel.asarray(a, copy=True).numpy(), view)
    np.testing.assert_array_equal((-a).numpy(), -view)
    np.testing.assert_array_equal((a + 1.5).numpy(), view + np.float32(1.5))
    np.testing.assert_array_equal(accel.add(view, view[::-1], backend=backend),
                                  view + view[::-1])  # fmt: skip


def test_out_may_be_an_input(backend):
    x1, x2 = rand((6, 5), seed=3), rand((5,), seed=4)
    want = x1 * x2
    a = x1.copy()
    assert accel.multiply(a, x2, out=a, backend=backend) is a
    np.testing.assert_array_equal(a, want)
    b1, b2 = arr(x1, backend), arr(x2, backend)
    assert accel.multiply(b1, b2, out=b1) is b1
    np.testing.assert_array_equal(b1.numpy(), want)
    b1 += 1.0
    np.testing.assert_array_equal(b1.numpy(), want + np.float32(1))
    b1 -= b2
    b1 *= 2.0
    b1 /= b2
    np.testing.assert_array_equal(b1.numpy(), ((want + np.float32(1)) - x2) * 2 / x2)
    with pytest.raises(ValueError, match="view"):
        view = b1[1:]
        view += 1.0
    with pytest.raises(ValueError):
        accel.add(b1, b2, out=b1[::2])
    with pytest.raises(ValueError, match="shape"):
        accel.add(x1, x2, out=np.empty((5,), np.float32), backend=backend)


def test_errors(backend):
    with pytest.raises(ValueError, match="broadcast"):
        accel.add(rand((3, 4)), rand((3,)), backend=backend)
    with pytest.raises(TypeError, match="float32 and float64"):
        accel.add(np.arange(3), rand(3), backend=backend)
    with pytest.raises(ValueError, match="broadcast"):
        arr(rand((2, 3)), backend) + arr(rand((4,)), backend)


def test_numpy_ufuncs_run_as_accel_ops(backend):
    x = rand((4, 6), seed=5)
    a = arr(x, backend)
    cases = ((np.add(a, 1.0), x + 1), (np.tanh(a), accel.tanh(x, backend=backend)),
             (x * a, x * x), (np.negative(a), -x), (np.maximum(a, 0.0), np.maximum(x, 0)),
             (a.T @ x, accel.matmul(x.T, x, backend=backend)))  # fmt: skip
    for result, want in cases:
        assert isinstance(result, accel.Array) and result.backend == base(backend)
        np.testing.assert_array_equal(result.numpy(), want)
    with pytest.raises(TypeError, match="add, divide"):
        np.exp(a)
    with pytest.raises(TypeError, match=r"accel\.sum"):
        np.add.reduce(a)
    out = np.empty_like(x)
    np.multiply(a, 2.0, out=out)
    np.testing.assert_array_equal(out, x * 2)


# -- reductions ------------------------------------------------------------------------------


@pytest.mark.parametrize("axis", [None, 0, -1, (0, 2), (1,), ()])
@pytest.mark.parametrize("keepdims", [False, True])
def test_reductions_follow_numpy(backend, axis, keepdims):
    x = rand((5, 7, 3), seed=6) * 10
    for op in ("sum", "mean", "max"):
        fn = getattr(accel, op)
        y = fn(x, axis=axis, keepdims=keepdims, backend=backend)
        reference.check_reduction(op, x, axis, keepdims, y, backend)
        r = fn(arr(x, backend), axis=axis, keepdims=keepdims)
        assert isinstance(r, accel.Array) and r.backend == base(backend)
        np.testing.assert_array_equal(r.numpy(), np.asarray(y))
        # the same bits on every run
        np.testing.assert_array_equal(np.asarray(fn(x, axis=axis, keepdims=keepdims,
                                                    backend=backend)), np.asarray(y))  # fmt: skip
    assert np.ndim(accel.sum(x, backend=backend)) == 0
    assert isinstance(accel.sum(x, backend=backend), np.float32)


def test_reductions_propagate_nan_and_handle_empty(backend):
    x = rand((4, 300), seed=7)
    x[2, 150] = np.nan
    for op in ("sum", "mean", "max"):
        y = getattr(accel, op)(x, axis=1, backend=backend)
        assert np.isnan(y[2]) and not np.isnan(y[[0, 1, 3]]).any(), op
    assert accel.sum(np.zeros((0, 3), np.float32), axis=0, backend=backend).tolist() == [0] * 3
    with pytest.warns(RuntimeWarning):
        assert np.isnan(accel.mean(np.zeros((0,), np.float32), backend=backend))
    with pytest.raises(ValueError, match="zero-size"):
        accel.max(np.zeros((0, 3), np.float32), axis=0, backend=backend)
    assert accel.max(np.zeros((0, 3), np.float32), axis=1, backend=backend).shape == (0,)
    with pytest.raises(np.exceptions.AxisError if hasattr(np, "exceptions") else ValueError):
        accel.sum(x, axis=2, backend=backend)
    with pytest.raises(ValueError, match="duplicate"):
        accel.sum(x, axis=(1, -1), backend=backend)


def test_reductions_of_views(backend):
    x = rand((6, 8, 5), seed=8)
    a = arr(x, backend)
    v = a[1:, ::-2].mT
    for op in ("sum", "mean", "max"):
        got = getattr(accel, op)(v, axis=(0, 2))
        want = getattr(accel, op)(np.ascontiguousarray(x[1:, ::-2].swapaxes(-1, -2)), axis=(0, 2),
                                  backend=backend)  # fmt: skip
        reference.check_reduction(op, x[1:, ::-2].swapaxes(-1, -2), (0, 2), False, got.numpy(),
                                  backend)  # fmt: skip
        assert got.shape == np.shape(want)


def _signs(shape, seed):
    """+-1 values: every sum of them is exact in both dtypes (a dropped element shows)."""
    return np.random.default_rng(seed).choice([-1.0, 1.0], size=shape)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_long_reductions_count_every_element(backend, dtype):
    """Columns of 70,000 (a software GPU's loops stop after 65,535 iterations: the reduction
    goes in parts, each continuing the one before); a NaN in the first part still wins max."""
    if np.dtype(dtype) not in accel.backends.get(base(backend)).dtypes():
        pytest.skip(f"{backend} has no {np.dtype(dtype).name}")
    x = _signs((70_000, 3), 50).astype(dtype)
    want = x.astype(np.float64).sum(axis=0)
    np.testing.assert_array_equal(accel.sum(x, axis=0, backend=backend), want)
    np.testing.assert_array_equal(accel.mean(x, axis=0, backend=backend),
                                  (want / 70_000).astype(dtype))  # fmt: skip
    np.testing.assert_array_equal(accel.sum(arr(x, backend), axis=0).numpy(), want)
    x[5, 1] = np.nan
    got = accel.max(x, axis=0, backend=backend)
    assert got[0] == 1 and np.isnan(got[1]) and got[2] == 1


@pytest.mark.slow
def test_a_reduction_of_nine_million_counts_every_element(backend):
    x = _signs(9_000_000, 51).astype(np.float32)
    assert float(accel.sum(x, backend=backend)) == float(x.astype(np.float64).sum())


# -- norms and softmax -------------------------------------------------------------------------


@pytest.mark.parametrize("shape", [(7,), (5, 33), (2, 3, 600), (0, 4)])
def test_norms(backend, shape):
    x = rand(shape, seed=9) * 3 + 100  # a large mean: a one-pass variance would fail
    c = shape[-1]
    w, b = rand(c, seed=10), rand(c, seed=11)
    for args, kwargs in (((), {}), ((w,), {}), ((w, b), {"eps": 1e-3})):
        y = accel.layer_norm(x, *args, backend=backend, **kwargs)
        reference.check_norm("layer_norm", x, *(list(args) + [None] * (2 - len(args))),
                             kwargs.get("eps", 1e-5), y, backend)  # fmt: skip
        r = accel.layer_norm(arr(x, backend), *(arr(p, backend) for p in args), **kwargs)
        np.testing.assert_array_equal(r.numpy(), y)
    y = accel.rms_norm(x, w, eps=1e-6, backend=backend)
    reference.check_norm("rms_norm", x, w, None, 1e-6, y, backend)
    np.testing.assert_array_equal(accel.rms_norm(arr(x, backend), arr(w, backend)).numpy(), y)
    out = np.empty_like(x)
    assert accel.rms_norm(x, w, backend=backend, out=out) is out
    np.testing.assert_array_equal(out, y)


def test_norm_errors(backend):
    with pytest.raises(ValueError, match=r"\(5,\)"):
        accel.layer_norm(rand((3, 5)), rand(4), backend=backend)
    with pytest.raises(ValueError, match="dimension"):
        accel.rms_norm(rand(()), backend=backend)
    with pytest.raises(TypeError):
        accel.layer_norm(rand((3, 5)), eps=1e-5, bias=None, weight=None, backend=backend, axis=0)


@pytest.mark.parametrize("axis", [0, 1, -2, 2])
def test_softmax_over_any_axis(backend, axis):
    x = rand((4, 5, 6), seed=12) * 3
    y = accel.softmax(x, axis=axis, backend=backend)
    moved = np.moveaxis(x, axis, -1)
    want = accel.softmax(np.ascontiguousarray(moved), backend=backend)
    np.testing.assert_array_equal(np.moveaxis(y, axis, -1), want)
    r = accel.softmax(arr(x, backend), axis=axis)
    np.testing.assert_array_equal(r.numpy(), y)
    out = arr(np.zeros_like(x), backend)
    accel.softmax(arr(x, backend), axis=axis, out=out)
    np.testing.assert_array_equal(out.numpy(), y)
    with pytest.raises(np.exceptions.AxisError if hasattr(np, "exceptions") else ValueError):
        accel.softmax(x, axis=3, backend=backend)


def test_gelu_tanh_form(backend):
    x = np.concatenate([rand(2000, seed=13) * 6, [np.inf, -np.inf, np.nan, 0.0, -0.0, 40, -40]])
    x = x.astype(np.float32)
    y = accel.gelu(x, approximate="tanh", backend=backend)
    reference.check_activation("gelu_tanh", x, y, backend)
    np.testing.assert_array_equal(accel.gelu(arr(x, backend), approximate="tanh").numpy(), y)
    assert not np.array_equal(y, accel.gelu(x, backend=backend))  # not the erf form
    with pytest.raises(ValueError, match="approximate"):
        accel.gelu(x, approximate="fast", backend=backend)
    a, w, b = rand((9, 30), seed=14), rand((30, 12), seed=15) / 5, rand(12, seed=16)
    z = accel.linear(a, w, b, activation="gelu_tanh", backend=backend)
    reference.check_linear(a, w, b, "gelu_tanh", z, backend)


# -- views and shapes --------------------------------------------------------------------------


KEYS = [0, -1, slice(1, None, 2), (slice(None, None, -1), 2), (Ellipsis, 1), (None, 1),
        (1, None, slice(None, -1)), (slice(3, 1), 0), ()]  # fmt: skip


@pytest.mark.parametrize("key", KEYS, ids=str)
def test_basic_indexing_stays_on_the_backend(backend, key):
    x = rand((5, 4, 3), seed=17)
    a = arr(x, backend)
    accel.reset_stats()
    v = a[key]
    assert isinstance(v, accel.Array) and v.backend == base(backend)
    assert v.shape == x[key].shape and v.dtype == x.dtype
    moved = {k: s for k, s in accel.stats().items() if k[0] in ("upload", "download")}
    assert not moved  # a view moves nothing
    np.testing.assert_array_equal(v.numpy(), x[key])
    np.testing.assert_array_equal(np.asarray(v), x[key])
    np.testing.assert_array_equal(accel.tanh(v).numpy(), accel.tanh(np.ascontiguousarray(x[key]),
                                                                     backend=backend))  # fmt: skip
    np.testing.assert_array_equal((v * 2.0).numpy(), x[key] * np.float32(2))


def test_indexing_errors(backend):
    a = arr(rand((3, 4)), backend)
    with pytest.raises(IndexError):
        a[3]
    with pytest.raises(IndexError):
        a[0, 0, 0]
    with pytest.raises(TypeError, match="basic indexing"):
        a[[0, 1]]
    with pytest.raises(TypeError, match="basic indexing"):
        a[a > 0 if False else np.array([True, False, True])]
    with pytest.raises(IndexError, match="ellipsis"):
        a[..., ...]


def test_reshape_permute_transpose(backend):
    x = rand((2, 3, 4), seed=18)
    a = arr(x, backend)
    np.testing.assert_array_equal(a.reshape(6, 4).numpy(), x.reshape(6, 4))
    np.testing.assert_array_equal(a.reshape((-1,)).numpy(), x.reshape(-1))
    np.testing.assert_array_equal(accel.reshape(a, (4, -1)).numpy(), x.reshape(4, -1))
    np.testing.assert_array_equal(accel.permute_dims(a, (2, 0, 1)).numpy(), x.transpose(2, 0, 1))
    np.testing.assert_array_equal(accel.matrix_transpose(a).numpy(), x.swapaxes(-1, -2))
    np.testing.assert_array_equal(a.mT.reshape(-1).numpy(), x.swapaxes(-1, -2).reshape(-1))
    np.testing.assert_array_equal(a[0].T.numpy(), x[0].T)
    with pytest.raises(ValueError, match="2-D"):
        _ = a.T
    with pytest.raises(ValueError):
        a.reshape(5, -1)
    with pytest.raises(ValueError, match="copy"):
        accel.reshape(a.mT, (-1,), copy=False)
    c = accel.reshape(a, (24,), copy=True)
    assert not c.is_view
    # numpy in, numpy out (numpy's own views)
    assert isinstance(accel.reshape(x, (6, 4)), np.ndarray)
    np.testing.assert_array_equal(accel.permute_dims(x, (1, 0, 2)), x.transpose(1, 0, 2))
    with pytest.raises(ValueError):
        accel.matrix_transpose(rand(3))


@pytest.mark.parametrize("axis", [0, 1, -1, None])
def test_concat(backend, axis):
    parts = [rand((2, 3, 4), seed=19), rand((2, 3, 4), seed=20)]
    if axis == 1:
        parts[1] = rand((2, 5, 4), seed=21)
    want = np.concatenate(parts, axis=axis)
    np.testing.assert_array_equal(accel.concat(parts, axis=axis, backend=backend), want)
    joined = accel.concat([arr(parts[0], backend), parts[1]], axis=axis)
    assert isinstance(joined, accel.Array) and joined.backend == base(backend)
    np.testing.assert_array_equal(joined.numpy(), want)
    with pytest.raises(ValueError):
        accel.concat([parts[0], rand((2, 3))], backend=backend)
    with pytest.raises(TypeError):
        accel.concat(parts[0], backend=backend)


def test_a_transposed_operand_is_read_in_place(backend):
    q, k = rand((2, 3, 16, 8), seed=22), rand((2, 3, 16, 8), seed=23)
    aq, ak = arr(q, backend), arr(k, backend)
    want = accel.matmul(q, np.ascontiguousarray(k.swapaxes(-1, -2)), backend=backend)
    accel.reset_stats()
    got = aq @ ak.mT
    assert calls("copy", backend) == 0  # no transposed copy made
    np.testing.assert_array_equal(got.numpy(), want)  # the same bits as a contiguous b
    np.testing.assert_array_equal(accel.matmul(q, k.swapaxes(-1, -2), backend=backend), want)
    w = rand((8, 5), seed=24)
    np.testing.assert_array_equal(accel.linear(aq, arr(w.T.copy(), backend).T).numpy(),
                                  accel.linear(q, w, backend=backend))  # fmt: skip


def test_products_of_permuted_views_give_the_bits_of_their_copies(backend):
    """Attention's heads: q and k are permuted views of one layer's output (neither contiguous
    nor a plain transpose), v likewise; the products read them as their copies would be read."""
    x = rand((2, 16, 24), seed=40)
    ax = arr(x, backend)

    def heads(t):
        return accel.permute_dims(t.reshape(2, 16, 3, 8), (0, 2, 1, 3))

    q, k = heads(ax), heads(ax * 0.5)
    qc, kc = accel.asarray(q, copy=True), accel.asarray(k, copy=True)
    want = (qc @ accel.asarray(kc.mT, copy=True)).numpy()
    np.testing.assert_array_equal((q @ k.mT).numpy(), want)
    np.testing.assert_array_equal((q @ kc.mT).numpy(), want)
    np.testing.assert_array_equal((qc @ k.mT).numpy(), want)
    reference.check_matmul(qc.numpy(), np.swapaxes(kc.numpy(), -1, -2), want, backend)
    att = accel.softmax(q @ k.mT)
    o = att @ heads(ax)  # v: a permuted view as B
    np.testing.assert_array_equal(o.numpy(), (att @ accel.asarray(heads(ax), copy=True)).numpy())
    # out= the very memory a view reads: the product reads the inputs before it writes
    base = arr(rand((16, 16), seed=41), backend)
    expected = (accel.asarray(base.mT, copy=True) @ base).numpy()
    accel.matmul(base.mT, base, out=base)
    np.testing.assert_array_equal(base.numpy(), expected)


# -- linear with a stack of layers -------------------------------------------------------------


@pytest.mark.parametrize("x_shape,w_shape,b_shape", [
    ((10, 4, 6), (10, 6, 5), (10, 5)),   # one layer per agent
    ((10, 6), (10, 6, 5), (5,)),         # one input row per agent (matmul's 1-D? no: batch)
    ((3, 10, 4, 6), (10, 6, 5), (10, 5)),  # more batch axes than w
    ((10, 1, 6), (10, 6, 5), None),
    ((2, 1, 4, 6), (1, 3, 6, 5), (1, 3, 5)),  # both broadcast
])  # fmt: skip
def test_linear_with_stacked_weights(backend, x_shape, w_shape, b_shape):
    x, w = rand(x_shape, seed=25), rand(w_shape, seed=26) / 3
    bias = None if b_shape is None else rand(b_shape, seed=27)
    y = accel.linear(x, w, bias, activation="tanh", backend=backend)
    reference.check_linear(x, w, bias, "tanh", y, backend)
    accel.reset_stats()
    r = accel.linear(arr(x, backend), arr(w, backend),
                     None if bias is None else arr(bias, backend), activation="tanh")  # fmt: skip
    assert calls("linear", backend) == 1  # every agent in one launch
    np.testing.assert_array_equal(r.numpy(), y)


def test_linear_stacked_errors(backend):
    with pytest.raises(ValueError, match="bias"):
        accel.linear(rand((4, 2, 6)), rand((4, 6, 5)), rand((3, 5)), backend=backend)
    with pytest.raises(ValueError, match="features"):
        accel.linear(rand((4, 2, 7)), rand((4, 6, 5)), backend=backend)
    with pytest.raises(ValueError, match="broadcast"):
        accel.linear(rand((3, 2, 6)), rand((4, 6, 5)), backend=backend)


# -- asarray(copy=) ------------------------------------------------------------------------------


def test_asarray_copy(backend):
    b = base(backend)
    x = rand((3, 4), seed=28)
    a = accel.asarray(x, backend=b)
    assert accel.asarray(a, backend=b) is a
    c = accel.asarray(a, backend=b, copy=True)
    assert c is not a
    c += 1.0
    np.testing.assert_array_equal(a.numpy(), x)
    if b == "cpu":
        shared = accel.asarray(x, backend=b, copy=False)
        assert np.shares_memory(np.asarray(shared), x)
        assert not np.shares_memory(np.asarray(accel.asarray(x, backend=b, copy=True)), x)
    else:
        with pytest.raises(ValueError, match="copy"):
            accel.asarray(x, backend=b, copy=False)
    with pytest.raises(ValueError, match="copy"):
        accel.asarray(x.T, backend=b, copy=False)
    with pytest.raises(ValueError, match="copy"):
        accel.asarray(a, dtype=np.float64, copy=False)


def test_threads_share_arrays(backend):
    x, y = rand((64, 48), seed=29), rand((48,), seed=30)
    a, b = arr(x, backend), arr(y, backend)
    want = ((a * b + 1.0) - a.mean(axis=0)).numpy()
    errors = []

    def work():
        try:
            for _ in range(20):
                got = ((a * b + 1.0) - a.mean(axis=0)).numpy()
                np.testing.assert_array_equal(got, want)
        except Exception as e:  # pragma: no cover - reported below
            errors.append(e)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors[0]


# -- gpu: elementwise chains recorded and run as one kernel --------------------------------------


def test_gpu_chains_run_as_one_kernel(need, monkeypatch):
    gpu = need("gpu")
    x, y, z = rand((50, 40), seed=31), rand((50, 40), seed=32), rand((40,), seed=33)
    a, b, c = (accel.asarray(v, backend="gpu") for v in (x, y, z))
    runs = {"fused": 0, "map": 0}
    for name in runs:
        original = getattr(gpu.kernels, name)

        def counted(*args, _name=name, _original=original, **kwargs):
            runs[_name] += 1
            return _original(*args, **kwargs)

        monkeypatch.setattr(gpu.kernels, name, counted)
    r = accel.sigmoid(a) * b + (1.0 - c) * accel.tanh(a)  # LSTM-like: 4 leaves, 2 numbers
    got = r.numpy()
    assert runs == {"fused": 1, "map": 0}, runs
    # each op rounded as its own: the same bits as the ops one at a time, stored between
    step = (accel.sigmoid(x, backend="gpu") * y) + ((1.0 - z) * accel.tanh(x, backend="gpu"))
    np.testing.assert_array_equal(got, step)


def test_gpu_recorded_work_reads_its_operands_as_they_were(need):
    need("gpu")
    x, y = rand((8, 8), seed=34), rand((8, 8), seed=35)
    a, b = accel.asarray(x, backend="gpu"), accel.asarray(y, backend="gpu")
    r = a * b + 1.0
    a += 5.0  # written after r was recorded: r still sees the old a
    accel.multiply(b, 0.0, out=b)
    np.testing.assert_array_equal(r.numpy(), x * y + np.float32(1))
    np.testing.assert_array_equal(a.numpy(), x + np.float32(5))
    views = (a[::2] + a[1::2]).numpy()  # views of recorded work
    np.testing.assert_array_equal(views, (x + np.float32(5))[::2] + (x + np.float32(5))[1::2])
