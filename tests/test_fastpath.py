"""The compiled entry points for small calls (c_ext/fastpath.c): the fast path and the Python
path give the same bits; the fast path follows the selection (use_backend, set_backend, a
replaced backend) and counts its calls in stats(); the public functions still raise, pickle
and document themselves as functions do."""

from __future__ import annotations

import pickle

import numpy as np
import pytest

import accel
from accel import _dispatch, _fast, backends
from accel.testing.fakes import FakeBackend

pytestmark = pytest.mark.skipif(_fast._fastpath is None, reason="the fast path is not built")

OPS = ["relu", "sigmoid", "tanh", "gelu", "silu"]


@pytest.fixture(autouse=True)
def fresh():
    accel.set_backend(None)
    _dispatch.invalidate()
    accel.reset_stats()
    yield
    accel.set_backend(None)
    _dispatch.invalidate()


def warm(call):
    """The first call resolves the selection in Python; the next may take the fast path."""
    call()
    return call()


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("op", OPS)
def test_fast_and_python_paths_give_the_same_bits(op, dtype):
    rng = np.random.default_rng(1)
    fn = getattr(accel, op)
    for n in (1, 7, 16, 1000):
        x = (rng.standard_normal(n) * 20).astype(dtype)
        x[:3] = [np.nan, -np.inf, -0.0][: min(3, n)] if n >= 3 else x[:3]
        fast = warm(lambda x=x: fn(x, backend="cpu"))
        slow = fn.__wrapped__(x, backend="cpu")
        assert fast.dtype == dtype and fast.shape == x.shape
        np.testing.assert_array_equal(fast, slow)
        assert np.array_equal(np.signbit(fast), np.signbit(slow))
    a, b = rng.standard_normal((9, 13)).astype(dtype), rng.standard_normal((13, 5)).astype(dtype)
    np.testing.assert_array_equal(warm(lambda: accel.matmul(a, b)), accel.matmul.__wrapped__(a, b))
    v = rng.standard_normal(100).astype(dtype)
    assert warm(lambda: accel.dot(v, v)) == accel.dot.__wrapped__(v, v)
    assert type(accel.dot(v, v)) is np.dtype(dtype).type


def test_the_fast_path_counts_its_calls():
    x = np.ones(16, np.float32)
    for _ in range(100):
        accel.relu(x, backend="cpu")
    rec = accel.stats()[("relu", "cpu")]
    assert rec["calls"] == 100 and rec["p50_us"] is not None
    accel.reset_stats()
    accel.relu(x, backend="cpu")
    assert accel.stats()[("relu", "cpu")]["calls"] == 1


def test_use_backend_and_set_backend_are_followed(monkeypatch):
    x = np.ones(16, np.float32)

    class Recording(FakeBackend):
        ran = 0

        def host_elementwise(self, act, x, y):
            Recording.ran += 1
            super().host_elementwise(act, x, y)

    warm(lambda: accel.relu(x, backend="cpu"))
    warm(lambda: accel.relu(x))
    monkeypatch.setitem(backends._instances, "simd", Recording("simd"))
    with accel.use_backend("simd"):
        accel.relu(x)
    assert Recording.ran == 1  # not the fast path, although it was ready for auto
    accel.set_backend("simd")
    accel.relu(x)
    assert Recording.ran == 2
    accel.set_backend(None)
    backends.register("simd", None)


def test_a_replaced_cpu_backend_is_used(monkeypatch):
    x = np.ones(16, np.float32)
    warm(lambda: accel.relu(x, backend="cpu"))

    class Broken(FakeBackend):
        def host_elementwise(self, act, x, y):
            raise RuntimeError("the replacement ran")

    backends.register("cpu", Broken("cpu"))
    try:
        with pytest.raises(accel.AccelError, match="the replacement ran"):
            accel.relu(x, backend="cpu")
    finally:
        backends.register("cpu", None)


def test_errors_and_uncommon_calls_still_go_through_python():
    x = np.ones(16, np.float32)
    warm(lambda: accel.relu(x, backend="cpu"))
    with pytest.raises(TypeError):
        accel.relu(x, backend="cpu", nonsense=1)
    with pytest.raises(TypeError):
        accel.relu(np.ones(3, np.int32), backend="cpu")
    with pytest.raises(ValueError):
        accel.relu(x, backend="tpu")
    out = np.empty(16, np.float32)
    assert accel.relu(x, out=out, backend="cpu") is out
    big = np.ones(16, ">f4")
    assert accel.relu(big, backend="cpu").dtype == np.float32
    with pytest.raises(ValueError):
        accel.matmul(np.ones((2, 3), np.float32), np.ones((2, 3), np.float32))


def test_public_functions_pickle_and_document_themselves():
    assert pickle.loads(pickle.dumps(accel.relu)) is accel.relu
    assert accel.relu.__name__ == "relu" and "max(x, 0)" in accel.relu.__doc__
    import inspect

    assert "backend" in str(inspect.signature(accel.relu))
