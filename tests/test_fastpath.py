"""The compiled entry points for small calls (c_ext/fastpath/): the fast path and the Python
path give the same bits, for numpy data and Arrays; the fast path follows the selection
(backend=, use_backend in this thread or none, set_backend, a replaced backend) and counts its
calls in stats(); a selection costs it nothing (calls inside use_backend blocks, in threads
beside them, with backend="auto", still run in C); the public functions still raise, pickle
and document themselves as functions do."""

from __future__ import annotations

import pickle

import numpy as np
import pytest

import accel
from accel import _dispatch, _fast, backends
from accel._ops import PUBLIC_FORMS, PYTHON
from accel._optable import ACTIVATIONS
from accel.testing.fakes import FakeBackend, FakeKernels

pytestmark = pytest.mark.skipif(_fast._fastpath is None, reason="the fast path is not built")

OPS = list(ACTIVATIONS)


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
    fn = PUBLIC_FORMS[op]
    for n in (1, 7, 16, 1000):
        x = (rng.standard_normal(n) * 20).astype(dtype)
        x[:3] = [np.nan, -np.inf, -0.0][: min(3, n)] if n >= 3 else x[:3]
        fast = warm(lambda x=x: fn(x, backend="cpu"))
        slow = PYTHON[fn.__name__](x, backend="cpu")
        assert fast.dtype == dtype and fast.shape == x.shape
        np.testing.assert_array_equal(fast, slow)
        assert np.array_equal(np.signbit(fast), np.signbit(slow))
    a, b = rng.standard_normal((9, 13)).astype(dtype), rng.standard_normal((13, 5)).astype(dtype)
    np.testing.assert_array_equal(warm(lambda: accel.matmul(a, b)), PYTHON["matmul"](a, b))
    v = rng.standard_normal(100).astype(dtype)
    assert warm(lambda: accel.dot(v, v)) == PYTHON["dot"](v, v)
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

    class Recording(FakeKernels):
        ran = 0

        def elementwise(self, act, x, y, n, dtype):
            Recording.ran += 1
            super().elementwise(act, x, y, n, dtype)

    warm(lambda: accel.relu(x, backend="cpu"))
    warm(lambda: accel.relu(x))
    backends.register("simd", FakeBackend("simd", Recording()))
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

    class Broken(FakeKernels):
        def elementwise(self, act, x, y, n, dtype):
            raise RuntimeError("the replacement ran")

    backends.register("cpu", FakeBackend("cpu", Broken()))
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


# -- simd: the activations through wasmtime's C API on the calling thread's instance ---------

simd_only = pytest.mark.skipif(
    backends.get("simd").native() is None, reason="simd has no fast entry here"
)


def fast_calls(backend: str) -> int:
    """Calls the compiled path ran on `backend` since the last look (and forgets them)."""
    records, _moved = _fast.take_stats()
    return sum(calls for _op, b, calls, _t in records if b == backend)


@simd_only
@pytest.mark.parametrize("variant", backends.get("simd").variants())
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("op", OPS)
def test_simd_fast_and_python_paths_give_the_same_bits(op, dtype, variant):
    simd = backends.get("simd")
    before = simd.variant()
    simd.use_variant(variant)
    try:
        rng = np.random.default_rng(2)
        fn = PUBLIC_FORMS[op]
        # numpy data fits the thread's scratch block; past one call's size the fast path
        # runs parts on the band instances (where there are: two threads and the native pool)
        accel.relu(np.ones(4), backend="cpu")
        parts = simd.threads > 1 and simd.workers.native_bands() is not None
        fits = (256 << 10) // np.dtype(dtype).itemsize
        one_call = (1 << 16) - 1
        for n in (1, 5, 16, 1000, 9000, 40000, one_call, one_call + 1, fits, fits + 1):
            x = (rng.standard_normal(n) * 20).astype(dtype)
            x[:3] = [np.nan, -np.inf, -0.0][: min(3, n)] if n >= 3 else x[:3]
            fn(x, backend="simd")
            fast_calls("simd")
            fast = fn(x, backend="simd")
            taken = n <= fits and (n <= one_call or parts)
            assert fast_calls("simd") == (1 if taken else 0), n
            slow = PYTHON[fn.__name__](x, backend="simd")
            assert fast.dtype == dtype and fast.shape == x.shape
            np.testing.assert_array_equal(fast, slow)
            assert np.array_equal(np.signbit(fast), np.signbit(slow))
        x2 = rng.standard_normal((3, 7)).astype(dtype)
        np.testing.assert_array_equal(
            fn(x2, backend="simd"), PYTHON[fn.__name__](x2, backend="simd")
        )
    finally:
        simd.use_variant(before)


@simd_only
def test_simd_fast_path_counts_calls_and_copies():
    x = np.ones(16, np.float32)
    accel.relu(x, backend="simd")
    accel.reset_stats()
    for _ in range(50):
        accel.relu(x, backend="simd")
    st = accel.stats()
    assert st[("relu", "simd")]["calls"] == 50
    assert st[("upload", "simd")] == {"calls": 50, "bytes": 50 * 64}
    assert st[("download", "simd")] == {"calls": 50, "bytes": 50 * 64}


@simd_only
def test_simd_fast_path_under_set_backend_and_in_threads():
    import threading

    rng = np.random.default_rng(3)
    xs = [rng.standard_normal(200).astype(np.float32) for _ in range(8)]
    want = [PYTHON["tanh"](x, backend="simd") for x in xs]
    accel.set_backend("simd")
    accel.tanh(xs[0])
    fast_calls("simd")
    accel.tanh(xs[0])
    assert fast_calls("simd") == 1
    errors = []

    def work(i):
        for _ in range(300):
            if not np.array_equal(accel.tanh(xs[i]), want[i]):
                errors.append(i)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert fast_calls("simd") > 8 * 250  # each thread bound its own instance


@simd_only
def test_simd_fast_path_falls_back_when_wasmtime_py_moves(monkeypatch):
    from accel.backends import simd as simd_module

    def moved(store, func, args):  # the C entry's wrapper with another signature
        raise AssertionError("never called")

    simd = backends.get("simd")
    monkeypatch.setattr(simd_module._runtime.ffi, "wasmtime_func_call_unchecked", moved)
    simd.use_variant(simd.variant())  # a build made now reads the bindings again
    try:
        assert simd.native() is None
        x = np.linspace(-3, 3, 16, dtype=np.float32)
        fast_calls("simd")
        for _ in range(3):
            np.testing.assert_array_equal(accel.relu(x, backend="simd"), np.maximum(x, 0))
        assert fast_calls("simd") == 0
    finally:
        monkeypatch.undo()
        simd.use_variant(simd.variant())


@simd_only
def test_simd_fast_path_in_a_forked_child():
    import multiprocessing

    x = np.linspace(-3, 3, 16, dtype=np.float32)
    accel.relu(x, backend="simd")
    accel.relu(x, backend="simd")
    ctx = multiprocessing.get_context("fork")
    with ctx.Pool(1) as pool:
        got, fast = pool.apply(_child_relu, (x,))
    np.testing.assert_array_equal(got, np.maximum(x, 0))
    assert fast >= 2  # the child bound its own instance


def _child_relu(x):
    fast_calls("simd")
    for _ in range(3):
        y = accel.relu(x, backend="simd")
    return y, fast_calls("simd")


def test_out_arguments_take_the_fast_path_with_the_same_results():
    rng = np.random.default_rng(4)
    x = rng.standard_normal(300).astype(np.float32)
    a, b = rng.standard_normal((20, 30)), rng.standard_normal((30, 10))
    bias = rng.standard_normal(10)
    cases = [
        (accel.tanh, (x,), np.empty_like(x)),
        (accel.matmul, (a, b), np.empty((20, 10))),
        (accel.linear, (a, b, bias), np.empty((20, 10))),
    ]
    for fn, args, out in cases:
        want = PYTHON[fn.__name__](*args, backend="cpu")
        fn(*args, out=out, backend="cpu")
        _fast.take_stats()
        assert fn(*args, out=out, backend="cpu") is out
        assert fast_calls("cpu") == 1
        np.testing.assert_array_equal(out, want)
    y = x.copy()
    assert accel.relu(y, out=y, backend="cpu") is y  # exactly in place
    np.testing.assert_array_equal(y, np.maximum(x, 0))


def test_out_arguments_the_fast_path_declines_still_work():
    rng = np.random.default_rng(5)
    a = rng.standard_normal((16, 16)).astype(np.float32)
    b = rng.standard_normal((16, 16)).astype(np.float32)
    want = accel.matmul(a, b)
    accel.matmul(a, b, backend="cpu")
    _fast.take_stats()
    for out in (a, b):  # aliasing an input: the Python path (a copy, then the result)
        x, y = a.copy(), b.copy()
        target = x if out is a else y
        assert accel.matmul(x, y, out=target, backend="cpu") is target
        np.testing.assert_array_equal(target, want)
    v = np.arange(-8, 8, dtype=np.float32)
    accel.relu(v[1:], out=v[:-1], backend="cpu")  # partial overlap
    np.testing.assert_array_equal(v[:-1], np.maximum(np.arange(-7, 8, dtype=np.float32), 0))
    assert fast_calls("cpu") == 0
    frozen = np.empty((16, 16), np.float32)
    frozen.flags.writeable = False
    with pytest.raises(ValueError):
        accel.matmul(a, b, out=frozen, backend="cpu")
    with pytest.raises(ValueError):
        accel.matmul(a, b, out=np.empty((16, 15), np.float32), backend="cpu")
    with pytest.raises((TypeError, ValueError)):
        accel.matmul(a, b, out=np.empty((16, 16), np.float64), backend="cpu")


def test_cpu_arrays_take_the_fast_path_and_stay_arrays():
    rng = np.random.default_rng(6)
    x, w = rng.standard_normal((5, 8)), rng.standard_normal((8, 3))
    bias = rng.standard_normal(3)
    X, W, B = (accel.asarray(v, backend="cpu") for v in (x, w, bias))
    for call in (
        lambda: accel.linear(X, W, B, activation="tanh"),
        lambda: accel.matmul(X, W),
        lambda: accel.matmul(X, w),  # mixed: the numpy operand joins the Array's backend
        lambda: accel.relu(X),
    ):
        call()
        _fast.take_stats()
        fast = call()
        assert fast_calls("cpu") == 1
        assert isinstance(fast, accel.Array) and fast.backend == "cpu"
    want = PYTHON["linear"](X, W, B, activation="tanh")
    np.testing.assert_array_equal(accel.linear(X, W, B, activation="tanh").numpy(), want.numpy())
    assert type(accel.dot(accel.asarray(x[0], backend="cpu"), x[0])) is np.float64
    with pytest.raises(ValueError, match=r"\.to\("):
        accel.matmul(X, W, backend="simd")  # contradicts where the data is
    out = accel.asarray(np.empty((5, 3)), backend="cpu")
    accel.matmul(X, W, out=out)
    _fast.take_stats()
    assert accel.matmul(X, W, out=out) is out  # out= an Array of theirs: in C too
    assert fast_calls("cpu") == 1
    np.testing.assert_array_equal(out.numpy(), accel.matmul(x, w))


ARRAY_CALLS = {
    "linear": lambda X, W, B: accel.linear(X, W, B, activation="tanh"),
    "matmul": lambda X, W, B: accel.matmul(X, W),
    "tanh": lambda X, W, B: accel.tanh(X),
    "softmax": lambda X, W, B: accel.softmax(X),
    "dot": lambda X, W, B: accel.dot(X[0] if not isinstance(X, accel.Array) else X, B),
}


@simd_only
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name", ["linear", "matmul", "tanh", "softmax"])
@pytest.mark.parametrize("where", ["cpu", "simd"])
def test_arrays_take_the_fast_path_with_the_python_paths_bits(where, name, dtype):
    rng = np.random.default_rng(7)
    x, w, bias = (rng.standard_normal(s).astype(dtype) for s in ((6, 8), (8, 5), (5,)))
    X, W, B = (accel.asarray(v, backend=where) for v in (x, w, bias))
    call = ARRAY_CALLS[name]
    call(X, W, B)
    _fast.take_stats()
    fast = call(X, W, B)
    assert fast_calls(where) == 1
    assert isinstance(fast, accel.Array) and fast.backend == where and fast.dtype == dtype
    fn = PUBLIC_FORMS[name]
    if name == "linear":
        slow = PYTHON[fn.__name__](X, W, B, activation="tanh")
    elif name == "matmul":
        slow = PYTHON[fn.__name__](X, W)
    else:
        slow = PYTHON[fn.__name__](X)
    assert fast.shape == slow.shape
    np.testing.assert_array_equal(fast.numpy(), slow.numpy())
    numpy_route = call(x, w, bias) if name in ("linear", "matmul") else fn(x, backend=where)
    np.testing.assert_array_equal(fast.numpy(), numpy_route)


@simd_only
@pytest.mark.parametrize("where", ["cpu", "simd"])
def test_out_arrays_take_the_fast_path(where):
    x = np.linspace(-2, 2, 16, dtype=np.float32)
    X = accel.asarray(x.copy(), backend=where)  # (on cpu an Array may share x's memory)
    out = accel.asarray(np.empty(16, np.float32), backend=where)
    accel.relu(X, out=out)
    _fast.take_stats()
    assert accel.relu(X, out=out) is out
    assert fast_calls(where) == 1
    np.testing.assert_array_equal(out.numpy(), np.maximum(x, 0))
    assert accel.tanh(X, out=X) is X  # exactly in place
    np.testing.assert_array_equal(X.numpy(), accel.tanh(x, backend=where))


@simd_only
def test_simd_arrays_made_under_the_other_build_still_raise():
    simd = backends.get("simd")
    if len(simd.variants()) < 2:
        pytest.skip("one simd build here")
    before = simd.variant()
    X = accel.asarray(np.ones(16, np.float32), backend="simd")
    accel.relu(X)
    accel.relu(X)
    simd.use_variant(simd.variants()[1])
    try:
        with pytest.raises(accel.BackendRuntimeError, match="other simd module build"):
            accel.relu(X)
    finally:
        simd.use_variant(before)


def test_gpu_arrays_keep_the_python_path(need):
    need("gpu")
    x = np.linspace(-2, 2, 12).reshape(3, 4).astype(np.float32)
    G = accel.asarray(x, backend="gpu")
    accel.relu(G)
    _fast.take_stats()
    r = accel.relu(G)
    assert isinstance(r, accel.Array) and r.backend == "gpu"
    np.testing.assert_array_equal(r.numpy(), np.maximum(x, 0))
    assert fast_calls("cpu") == 0 and fast_calls("simd") == 0


# -- a selection costs nothing -----------------------------------------------------------------


def test_calls_inside_use_backend_blocks_run_in_c():
    x = np.ones(16, np.float32)
    w = np.ones((16, 4), np.float32)
    for sel, where in (("cpu", "cpu"), ("simd,cpu", "simd"), ("auto", None)):
        with accel.use_backend(sel):
            warm(lambda: accel.relu(x))
            warm(lambda: accel.linear(x, w, activation="tanh"))
            _fast.take_stats()
            accel.relu(x)
            accel.linear(x, w, activation="tanh")
            records, _ = _fast.take_stats()
            ran = {b for _op, b, _c, _t in records}
            assert sum(c for *_x, c, _t in records) == 2, sel
            if where is not None and where != "simd":
                assert ran == {where}


def auto_choice(call) -> str:
    """The backend whose compiled path ran one call (auto's choice for it: cpu by default, and
    whatever `accel calibrate` measured fastest on this machine)."""
    _fast.take_stats()
    call()
    records, _moved = _fast.take_stats()
    ran = {b for _op, b, calls, _t in records if calls}
    assert len(ran) == 1, ran
    return ran.pop()


def test_calls_in_another_thread_beside_a_block_run_in_c():
    import threading

    x = np.ones(16, np.float32)
    warm(lambda: accel.relu(x))
    where = auto_choice(lambda: accel.relu(x))
    inside, leave = threading.Event(), threading.Event()

    def block():  # the other thread chooses another backend than auto's
        with accel.use_backend("cpu" if where == "simd" else "simd"):
            inside.set()
            leave.wait(10)

    t = threading.Thread(target=block)
    t.start()
    try:
        inside.wait(10)
        _fast.take_stats()
        for _ in range(20):
            accel.relu(x)
        assert fast_calls(where) == 20  # this thread's selection is still auto's
    finally:
        leave.set()
        t.join()


def test_backend_auto_given_explicitly_runs_in_c():
    x = np.ones(16, np.float32)
    warm(lambda: accel.relu(x))
    warm(lambda: accel.relu(x, backend="auto"))
    where = auto_choice(lambda: accel.relu(x))
    for _ in range(5):
        accel.relu(x, backend="auto")
    assert fast_calls(where) == 5


def _banded_cases(dtype):
    """Products past the fast path's one-call size, each split another way (plan.h): bands of
    rows, of columns (with a bias per column), whole items of a batch, and a batch of three
    whose bands outnumber the band instances of two threads (the Python route takes it)."""
    rng = np.random.default_rng(11)
    for x_shape, w_shape in (((300, 200), (200, 120)), ((64, 256), (256, 256)),
                             ((16, 64), (64, 256)), ((8, 24, 64), (8, 64, 96)),
                             ((3, 64, 256), (3, 256, 256))):  # fmt: skip
        x = rng.standard_normal(x_shape).astype(dtype)
        w = rng.standard_normal(w_shape).astype(dtype)
        yield x, w, rng.standard_normal(w_shape[-1]).astype(dtype)


@simd_only
@pytest.mark.parametrize("variant", backends.get("simd").variants())
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_large_simd_products_run_as_bands_from_c_with_one_calls_bits(dtype, variant, monkeypatch):
    """A simd product past one call's size runs as bands on the native pool from C (resident
    operands, or numpy ones that fit the thread's scratch): the bits of the Python route's
    bands and of the whole product in one call, the call counted as a fast one; where the
    band instances are busy (another caller holds the workers' lock) the Python route takes
    it, with the same bits."""
    simd = backends.get("simd")
    before = simd.variant()
    simd.use_variant(variant)
    try:
        accel.relu(np.ones(4), backend="cpu")  # the cpu backend's native pool runs the bands
        banded = simd.threads > 1 and simd.workers.native_bands() is not None
        for x, w, bias in _banded_cases(dtype):
            X, W, B = (accel.asarray(v, backend="simd") for v in (x, w, bias))
            two_d = w.ndim == 2

            def call(X=X, W=W, B=B, two_d=two_d):
                return accel.linear(X, W, B, activation="tanh") if two_d else accel.matmul(X, W)

            call()
            _fast.take_stats()
            fast = call().numpy()
            items = x.shape[0] if x.ndim == 3 else 1
            assert fast_calls("simd") == (1 if banded and items != 3 else 0), x.shape
            route = PYTHON["linear"] if two_d else PYTHON["matmul"]
            slow = (route(X, W, B, activation="tanh") if two_d else route(X, W)).numpy()
            monkeypatch.setattr(simd.workers, "threads", 1)
            one = (route(X, W, B, activation="tanh") if two_d else route(X, W)).numpy()
            monkeypatch.undo()
            np.testing.assert_array_equal(fast, slow)
            np.testing.assert_array_equal(fast, one)
            with simd.workers.busy:  # the band instances are another caller's
                _fast.take_stats()
                np.testing.assert_array_equal(call().numpy(), one)
                assert fast_calls("simd") == 0
            if x.size + w.size + x.shape[-2] * w.shape[-1] <= (200 << 10) // x.itemsize:
                _fast.take_stats()  # numpy operands placed in the thread's scratch
                got = (accel.linear(x, w, bias, activation="tanh", backend="simd") if two_d
                       else accel.matmul(x, w, backend="simd"))  # fmt: skip
                np.testing.assert_array_equal(got, one)
                assert fast_calls("simd") == (1 if banded and items != 3 else 0)
            out = accel.asarray(np.zeros(fast.shape, dtype), backend="simd")
            if two_d:
                assert accel.linear(X, W, B, activation="tanh", out=out) is out
            else:
                assert accel.matmul(X, W, out=out) is out
            np.testing.assert_array_equal(out.numpy(), one)
    finally:
        simd.use_variant(before)


def _spread_cases(dtype):
    """Elementwise work past the size the fast path spreads over the band instances: (name,
    the call on the fast path's function, the same on another function, arguments)."""
    rng = np.random.default_rng(13)

    def rand(*shape):
        x = (rng.standard_normal(shape) * 4).astype(dtype)
        x.reshape(-1)[:3] = [np.nan, -np.inf, -0.0]
        return x

    g = accel.asarray(rand(3000, 1, 128), backend="simd")
    gx = accel.asarray(rand(3000, 5, 128), backend="simd")
    long = accel.asarray(rand(200_003), backend="simd")
    rows = accel.asarray(rand(301, 129), backend="simd")
    x, y, z = rand(24_001), rand(10_001), rand(10_001)  # (within the scratch block)
    yield "tanh", lambda f: f(long)  # one dimension, parts of whole vectors, a ragged tail
    yield "relu", lambda f: f(long)
    yield "softmax", lambda f: f(rows)  # by rows
    yield "sigmoid", lambda f: f(g[..., :32])  # a view: copied and activated, by rows
    yield "add", lambda f: f(gx[:, 3:4], g)  # a view and an Array: rows
    yield "add", lambda f: f(long, 1.5)  # a number: one dimension
    yield "subtract", lambda f: f(2.0, long)
    yield "multiply", lambda f: f(long[:-1:2], long[1::2])  # strided, one dimension
    yield "tanh", lambda f: f(x, backend="simd")  # numpy data through the thread's scratch
    yield "maximum", lambda f: f(y, z, backend="simd")
    # in parts, or (the band instances busy) the parts in turn in this thread
    yield "add", lambda f: f(long[:40_001], 2.5)
    yield "multiply", lambda f: f(rows, rows)


@simd_only
@pytest.mark.parametrize("variant", backends.get("simd").variants())
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_large_simd_elementwise_work_runs_in_parts_with_one_calls_bits(dtype, variant,
                                                                     monkeypatch):  # fmt: skip
    """Elementwise work, softmax and the map ops past a few tens of thousands of elements run
    in parts on the band instances from C (by rows, or by whole vectors of one dimension):
    the bits of one call in one thread, signs of zero and NaN included."""
    simd = backends.get("simd")
    before = simd.variant()
    simd.use_variant(variant)
    try:
        accel.relu(np.ones(4), backend="cpu")
        parts = simd.threads > 1 and simd.workers.native_bands() is not None
        for name, call in _spread_cases(dtype):
            fast_fn, python_fn = getattr(accel, name), PYTHON[name]
            call(fast_fn)
            _fast.take_stats()
            fast = call(fast_fn)
            taken = fast_calls("simd")
            if parts:
                assert taken == 1, name
            monkeypatch.setattr(simd.workers, "threads", 1)
            one = call(python_fn)
            monkeypatch.undo()
            with simd.workers.busy:  # the band instances another caller's: in this thread
                busy = call(fast_fn)
            fast, one, busy = (v.numpy() if isinstance(v, accel.Array) else v
                               for v in (fast, one, busy))  # fmt: skip
            np.testing.assert_array_equal(busy, one)
            assert fast.shape == one.shape and fast.dtype == one.dtype == dtype
            np.testing.assert_array_equal(fast, one)
            assert np.array_equal(np.signbit(fast), np.signbit(one)), name
    finally:
        simd.use_variant(before)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("where", ["cpu", "simd"])
@pytest.mark.parametrize("name", ["layer_norm", "rms_norm"])
def test_norms_take_the_fast_path_with_the_python_paths_bits(name, where, dtype):
    """layer_norm and rms_norm on numpy data or Arrays, weight and bias positional or by
    keyword, eps given or not, out= an Array or an array: run in C with the Python route's
    bits; what the fast path does not take still works, and errors still raise."""
    if where == "simd" and backends.get("simd").native() is None:
        pytest.skip("simd has no fast entry here")
    rng = np.random.default_rng(9)
    x = (rng.standard_normal((5, 7, 33)) * 3).astype(dtype)
    x[1, 2, :] = 4.0  # a constant row
    x[2, 3, 5] = np.nan
    w, b = (rng.standard_normal(33).astype(dtype) for _ in range(2))
    fn, slow = getattr(accel, name), PYTHON[name]
    X, W, B = (accel.asarray(v, backend=where) for v in (x, w, b))
    calls = [lambda f: f(X), lambda f: f(X, W), lambda f: f(X, weight=W, eps=1e-3)]
    if name == "layer_norm":
        calls += [lambda f: f(X, W, B), lambda f: f(X, bias=B, eps=0.5),
                  lambda f: f(X, W, B, eps=0)]
    for call in calls:
        call(fn)
        _fast.take_stats()
        got = call(fn)
        assert fast_calls(where) == 1
        assert isinstance(got, accel.Array) and got.backend == where
        np.testing.assert_array_equal(got.numpy(), call(slow).numpy())
    numpy_in = fn(x, w, backend=where)
    np.testing.assert_array_equal(numpy_in, slow(x, w, backend=where))
    out = accel.asarray(np.zeros_like(x), backend=where)
    assert fn(X, W, out=out) is out
    np.testing.assert_array_equal(out.numpy(), slow(X, W).numpy())
    # past one call's size: parts of rows (simd), or the band instances busy
    big = (rng.standard_normal((300, 257)) * 2).astype(dtype)
    BIG = accel.asarray(big, backend=where)
    W2 = accel.asarray(rng.standard_normal(257).astype(dtype), backend=where)
    fn(BIG, W2)
    _fast.take_stats()
    got = fn(BIG, W2).numpy()
    assert fast_calls(where) == 1 or (where == "simd" and backends.get("simd").threads == 1)
    want = slow(BIG, W2).numpy()
    np.testing.assert_array_equal(got, want)
    if where == "simd":
        with backends.get("simd").workers.busy:
            np.testing.assert_array_equal(fn(BIG, W2).numpy(), want)
            small = accel.asarray(big[:40], backend=where)  # parts, in this thread
            np.testing.assert_array_equal(fn(small, W2).numpy(), slow(small, W2).numpy())
    with pytest.raises(ValueError):
        fn(X, accel.asarray(np.ones(32, dtype), backend=where))
    with pytest.raises(ValueError):
        fn(X, W, eps=-1.0)
    if name == "rms_norm":
        with pytest.raises(TypeError):
            fn(X, W, bias=B)
    with pytest.raises(TypeError):
        fn(X, W, weight=W)
