"""The special values of docs/contract.md, tested by their bits (NaN is checked with isnan, never by
comparison), on every backend and dtype."""

from __future__ import annotations

import numpy as np
import pytest

import accel
from accel import backends
from accel._ops import PUBLIC_FORMS
from accel.testing import reference

DTYPES = [np.float32, np.float64]


def dtype_or_skip(backend, dtype):
    if np.dtype(dtype) not in backends.get(backend).dtypes():
        pytest.skip(f"{np.dtype(dtype).name} not run by {backend} here")
    return np.dtype(dtype)


def specials(dtype):
    f = np.finfo(dtype)
    return np.array(
        [np.nan, -np.nan, np.inf, -np.inf, 0.0, -0.0, f.max, -f.max, f.tiny, -f.tiny,
         f.smallest_subnormal, -f.smallest_subnormal, 1.0, -1.0, 1e-30, 20.0, -20.0, 90.0,
         -90.0, 710.0, -710.0, 1e30, -1e30],
        dtype=dtype,
    )  # fmt: skip


@pytest.mark.parametrize("dtype", DTYPES)
def test_relu_specials(backend, dtype):
    dtype = dtype_or_skip(backend, dtype)
    x = specials(dtype)
    y = accel.relu(x, backend=backend)
    assert np.isnan(y[0]) and np.isnan(y[1])
    assert y[2] == np.inf and y[3] == 0
    assert np.all(y[x <= 0] == 0)
    pos = x > 0
    np.testing.assert_array_equal(y[pos], x[pos])


@pytest.mark.parametrize("dtype", DTYPES)
def test_sigmoid_specials(backend, dtype):
    dtype = dtype_or_skip(backend, dtype)
    x = specials(dtype)
    y = accel.sigmoid(x, backend=backend)
    assert np.isnan(y[0]) and np.isnan(y[1])
    assert y[2] == 1 and y[3] == 0
    assert not np.any(np.isnan(y[2:]))
    assert np.all((y[2:] >= 0) & (y[2:] <= 1))
    assert y[6] == 1 and y[7] == 0  # largest finite
    assert y[4] == 0.5 and y[5] == 0.5
    reference.check_activation("sigmoid", x, y, backend)


@pytest.mark.parametrize("dtype", DTYPES)
def test_tanh_specials(backend, dtype):
    dtype = dtype_or_skip(backend, dtype)
    x = specials(dtype)
    y = accel.tanh(x, backend=backend)
    assert np.isnan(y[0]) and np.isnan(y[1])
    assert y[2] == 1 and y[3] == -1
    assert y[6] == 1 and y[7] == -1
    assert not np.any(np.isnan(y[2:]))
    assert y[4] == 0 and y[5] == 0
    assert not np.signbit(y[4]) and np.signbit(y[5])
    reference.check_activation("tanh", x, y, backend)


@pytest.mark.parametrize("dtype", DTYPES)
def test_tanh_is_exactly_odd(backend, dtype):
    dtype = dtype_or_skip(backend, dtype)
    rng = np.random.default_rng(11)
    x = (rng.standard_normal(20_000) * 10.0 ** rng.uniform(-8, 2, 20_000)).astype(dtype)
    y_pos = accel.tanh(x, backend=backend)
    y_neg = accel.tanh(-x, backend=backend)
    np.testing.assert_array_equal(y_neg, -y_pos)
    assert np.array_equal(np.signbit(y_neg), ~np.signbit(y_pos))


@pytest.mark.parametrize("dtype", DTYPES)
def test_matmul_and_dot_propagate_nan_and_inf(backend, dtype):
    dtype = dtype_or_skip(backend, dtype)
    a = np.ones((3, 4), dtype)
    b = np.ones((4, 5), dtype)
    a[0, 1] = np.nan
    a[1, 2] = np.inf
    b[2, 3] = 0.0  # inf * 0 is NaN in the reference
    c = accel.matmul(a, b, backend=backend)
    with np.errstate(invalid="ignore"):
        ref = np.matmul(a.astype(np.float64), b.astype(np.float64))
    assert np.array_equal(np.isnan(c), np.isnan(ref))
    fin = ~np.isnan(ref)
    np.testing.assert_array_equal(c[fin], ref[fin].astype(dtype))
    x = np.ones(100, dtype)
    x[37] = np.nan
    assert np.isnan(accel.dot(x, x, backend=backend))
    x[37] = np.inf
    assert accel.dot(x, x, backend=backend) == np.inf
    y = np.ones(100, dtype)
    y[37] = 0
    assert np.isnan(accel.dot(x, y, backend=backend))


@pytest.mark.parametrize("op", ["gelu", "silu"])
@pytest.mark.parametrize("dtype", DTYPES)
def test_gelu_and_silu_specials(backend, op, dtype):
    dtype = dtype_or_skip(backend, dtype)
    x = specials(dtype)
    y = PUBLIC_FORMS[op](x, backend=backend)
    assert np.isnan(y[0]) and np.isnan(y[1])
    assert y[2] == np.inf  # +inf
    assert y[3] == 0 and np.signbit(y[3])  # -inf gives -0, the limit (x * 0 would be NaN)
    assert not np.any(np.isnan(y[2:]))
    assert y[4] == 0 and not np.signbit(y[4])  # +0
    assert y[5] == 0 and np.signbit(y[5])  # -0 keeps its sign
    assert y[6] == x[6]  # the largest finite: x
    assert y[7] == 0  # minus the largest finite: (-)0
    tiny = np.finfo(dtype).tiny  # below it, y = x / 2 may round (or flush) to zero
    assert np.all(y[x >= tiny] > 0) and np.all(np.signbit(y[(x < 0) & (x > -1)]))
    reference.check_activation(op, x, y, backend)


@pytest.mark.parametrize("dtype", DTYPES)
def test_softplus_specials(backend, dtype):
    dtype = dtype_or_skip(backend, dtype)
    x = specials(dtype)
    y = accel.softplus(x, backend=backend)
    assert np.isnan(y[0]) and np.isnan(y[1])
    assert y[2] == np.inf and y[3] == 0  # +inf, and -inf gives 0
    assert not np.any(np.isnan(y[2:])) and np.all(y[2:] >= 0)
    assert y[6] == x[6] and y[7] == 0  # the largest finite: x (no overflow); its negative: 0
    assert y[4] == y[5] == np.log(dtype.type(2))  # ln 2 at +-0
    # x itself where e^-x is below half an ulp of x
    big = x[(x > 0) & np.isfinite(x)]
    with np.errstate(over="ignore", under="ignore"):
        above = big[np.exp(-big.astype(np.float64)) < np.spacing(big).astype(np.float64) / 2]
    np.testing.assert_array_equal(accel.softplus(above, backend=backend), above)
    reference.check_activation("softplus", x, y, backend)


@pytest.mark.parametrize("dtype", DTYPES)
def test_softmax_specials(backend, dtype):
    dtype = dtype_or_skip(backend, dtype)
    inf, nan = np.inf, np.nan
    rows = np.array([
        [1.0, 2.0, -inf, 3.0],  # -inf gives 0, the rest as without it
        [-inf, -inf, -inf, -inf],  # no finite entry: NaN (as numpy's formula)
        [1.0, nan, 2.0, 3.0],  # a NaN: a row of NaN
        [1.0, inf, 2.0, 3.0],  # +inf: a row of NaN (inf - inf)
        [np.finfo(dtype).max, 0.0, -np.finfo(dtype).max, 5.0],  # no overflow
        [-1e30, -1e30, -1e30, -1e30],  # equal: uniform
    ], dtype=dtype)  # fmt: skip
    y = accel.softmax(rows, backend=backend)
    assert y[0, 2] == 0
    without = accel.softmax(rows[0, [0, 1, 3]], backend=backend)
    np.testing.assert_allclose(y[0, [0, 1, 3]], without, rtol=1e-6)
    assert np.all(np.isnan(y[1])) and np.all(np.isnan(y[2])) and np.all(np.isnan(y[3]))
    assert y[4, 0] == 1 and np.all(y[4, 1:] == 0)
    np.testing.assert_allclose(y[5], 0.25, rtol=1e-6)
    with np.errstate(invalid="ignore", over="ignore"):
        e = np.exp(rows.astype(np.float64) - rows.max(axis=1, keepdims=True))
        ref = e / e.sum(axis=1, keepdims=True)
    assert np.array_equal(np.isnan(y), np.isnan(ref))
    reference.check_activation("softmax", rows, y, backend)
    assert accel.softmax(np.float32(3.0) if dtype == np.float32 else 3.0, backend=backend) == 1
