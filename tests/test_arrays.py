"""accel.Array and accel.asarray, one rule of the contract ("Arrays that stay on a backend") at
a time, on every backend; and `linear` on Arrays. A resident network uploads only its input and
downloads only its output."""

from __future__ import annotations

import gc
import itertools
import threading

import numpy as np
import pytest

import accel
from accel import backends
from accel._ops import PUBLIC_FORMS
from accel._optable import ACTIVATIONS
from accel.testing import reference


def rand(shape, dtype=np.float32, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype(dtype)


def base(backend: str) -> str:
    return backend.split("-")[0]


def transfers() -> dict:
    return {k: v for k, v in accel.stats().items() if k[0] in ("upload", "download")}


# -- placing and reading back ----------------------------------------------------------------


@pytest.mark.parametrize("shape", [(), (0,), (7,), (3, 0, 2), (40, 33)])
def test_asarray_and_back(backend, shape):
    x = rand(shape, seed=1)
    arr = accel.asarray(x, backend=base(backend))
    assert isinstance(arr, accel.Array)
    assert arr.backend == base(backend)
    assert (arr.shape, arr.dtype, arr.ndim, arr.size, arr.nbytes) == (
        x.shape, x.dtype, x.ndim, x.size, x.nbytes)  # fmt: skip
    np.testing.assert_array_equal(arr.numpy(), x)
    np.testing.assert_array_equal(np.asarray(arr), x)
    assert arr.numpy() is not arr.numpy()  # a copy each time
    assert base(backend) in repr(arr)


def test_asarray_dtypes(backend):
    b = base(backend)
    assert accel.asarray([1.0, 2.0], backend=b).dtype == np.float64 or b == "gpu"
    assert accel.asarray(rand(3), backend=b, dtype=np.float32).dtype == np.float32
    with pytest.raises(TypeError, match="float32 and float64"):
        accel.asarray(np.arange(3), backend=b)
    with pytest.raises(TypeError):
        accel.asarray(rand(3), backend=b, dtype=np.int32)
    x = rand(4).astype(">f4")
    np.testing.assert_array_equal(accel.asarray(x, backend=b).numpy(), x.astype(np.float32))


def test_asarray_without_backend_goes_where_auto_runs_large_work():
    arr = accel.asarray(rand((4, 4)))
    assert arr.backend in accel.available_backends()
    gpu = backends.get("gpu")
    if gpu.unavailable_reason() is None and not gpu.auto_eligible():
        assert arr.backend != "gpu"  # never a software adapter


def test_to_moves_between_backends(backend):
    x = rand((5, 6), seed=2)
    arr = accel.asarray(x, backend=base(backend))
    assert arr.to(base(backend)) is arr
    for other in accel.available_backends():
        moved = arr.to(other)
        assert moved.backend == other
        np.testing.assert_array_equal(moved.numpy(), x)
    with pytest.raises(ValueError):
        arr.to("simd,cpu")


# -- compute follows the data ----------------------------------------------------------------


def test_ops_on_arrays_run_there_and_return_arrays(backend):
    b = base(backend)
    x, w = rand((30, 20), seed=3), rand((20, 10), seed=4)
    ax, aw = accel.asarray(x, backend=b), accel.asarray(w, backend=b)
    accel.reset_stats()
    for name in ACTIVATIONS:
        y = PUBLIC_FORMS[name](ax)
        assert isinstance(y, accel.Array) and y.backend == b
        np.testing.assert_array_equal(y.numpy(), PUBLIC_FORMS[name](x, backend=backend))
    s = accel.softmax(ax)
    np.testing.assert_array_equal(s.numpy(), accel.softmax(x, backend=backend))
    c = accel.matmul(ax, aw)
    assert isinstance(c, accel.Array) and c.backend == b
    np.testing.assert_array_equal(c.numpy(), accel.matmul(x, w, backend=backend))
    np.testing.assert_array_equal((ax @ aw).numpy(), c.numpy())
    d = accel.dot(accel.asarray(x[0], backend=b), accel.asarray(x[1], backend=b))
    assert type(d) is np.float32
    assert d == accel.dot(x[0], x[1], backend=backend)
    calls = {k[1] for k in accel.stats() if k[0] not in ("upload", "download", "copy")}
    assert calls == {b}


def test_numpy_operands_are_uploaded_for_the_call(backend):
    b = base(backend)
    x, w = rand((8, 6), seed=5), rand((6, 4), seed=6)
    aw = accel.asarray(w, backend=b)
    accel.reset_stats()
    c = accel.matmul(x, aw)
    assert isinstance(c, accel.Array) and c.backend == b
    np.testing.assert_array_equal(c.numpy(), accel.matmul(x, w, backend=backend))
    np.testing.assert_array_equal((x @ aw).numpy(), c.numpy())  # numpy's @ defers to Array
    if b != "cpu":
        assert accel.stats()[("upload", b)]["calls"] >= 1


def test_arrays_on_two_backends_or_a_contradicting_backend_raise(need):
    names = accel.available_backends()
    if len(names) < 2:
        pytest.skip("one backend here")
    a = accel.asarray(rand((3, 3)), backend=names[0])
    b = accel.asarray(rand((3, 3)), backend=names[1])
    with pytest.raises(ValueError, match=r"\.to\("):
        accel.matmul(a, b)
    with pytest.raises(ValueError, match=r"\.to\("):
        accel.relu(a, backend=names[1])
    with pytest.raises(ValueError, match=r"\.to\("):
        accel.relu(a, out=b)
    assert accel.relu(a, backend=names[0]).backend == names[0]  # the same backend is fine
    assert accel.relu(a, backend="auto").backend == names[0]


def test_out_may_be_an_array(backend):
    b = base(backend)
    x = rand((6, 7), seed=7)
    ax = accel.asarray(x, backend=b)
    out = accel.asarray(np.zeros((6, 7), np.float32), backend=b)
    assert accel.tanh(ax, out=out) is out
    np.testing.assert_array_equal(out.numpy(), accel.tanh(x, backend=backend))
    assert accel.relu(ax, out=ax) is ax  # in place
    np.testing.assert_array_equal(ax.numpy(), np.maximum(x, 0))
    sq = accel.asarray(rand((7, 7), seed=8), backend=b)
    expected = accel.matmul(sq.numpy(), sq.numpy(), backend=backend)
    assert accel.matmul(sq, sq, out=sq) is sq  # out aliasing both inputs
    np.testing.assert_array_equal(sq.numpy(), expected)
    with pytest.raises(ValueError):
        accel.tanh(ax, out=accel.asarray(np.zeros((7, 6), np.float32), backend=b))
    host_out = np.empty((6, 7), np.float32)
    assert accel.sigmoid(ax, out=host_out) is host_out


def test_matmul_shapes_on_arrays(backend):
    b = base(backend)
    cases = [((3,), (3,)), ((3,), (3, 4)), ((2, 3), (3,)), ((5, 2, 3), (3, 4)),
             ((2, 3), (5, 3, 4)), ((2, 1, 2, 3), (1, 4, 3, 5)), ((0, 3), (3, 4)),
             ((2, 0), (0, 4))]  # fmt: skip
    for sa, sb in cases:
        a, w = rand(sa, seed=9), rand(sb, seed=10)
        got = accel.matmul(accel.asarray(a, backend=b), accel.asarray(w, backend=b))
        expected = accel.matmul(a, w, backend=backend)
        if np.ndim(expected) == 0:
            assert type(got) is np.float32 and got == expected
        else:
            np.testing.assert_array_equal(got.numpy(), expected)


def test_resident_failures_raise_and_never_fall_back(backend, monkeypatch):
    b = backends.get(base(backend))
    arr = accel.asarray(rand(16), backend=base(backend))

    def broken(*args, **kwargs):
        raise RuntimeError("the device fell over")

    monkeypatch.setattr(b.kernels, "elementwise", broken)
    if getattr(b.kernels, "fuses_maps", False):  # (recorded, run when the result is read)
        monkeypatch.setattr(b.kernels, "fused", broken)
    from accel import _dispatch

    _dispatch.invalidate()  # a changed backend: nothing it decided before may be reused
    accel.reset_stats()
    with pytest.raises(accel.BackendRuntimeError, match="fell over"):
        accel.relu(arr).numpy()
    assert accel.stats().get(("relu", "cpu"), {}).get("calls", 0) == 0 or base(backend) == "cpu"


def test_memory_returns_when_an_array_is_collected(need):
    simd = need("simd")
    before = simd.heap.in_use()
    arr = accel.asarray(rand(1_000_000), backend="simd")
    assert simd.heap.in_use() >= before + 4_000_000
    del arr
    gc.collect()
    assert simd.heap.in_use() <= before


def test_threads_sharing_arrays_agree_bitwise_with_one_thread(backend):
    b = base(backend)
    x, w = rand((64, 128), seed=11), rand((128, 96), seed=12)
    ax, aw = accel.asarray(x, backend=b), accel.asarray(w, backend=b)
    bias = accel.asarray(rand(96, seed=13), backend=b)

    def compute():
        h = accel.linear(ax, aw, bias, activation="gelu")
        return accel.softmax(accel.tanh(h)).numpy()

    expected = compute()
    failures = []
    barrier = threading.Barrier(8)

    def worker():
        barrier.wait()
        for _ in range(5):
            if not np.array_equal(compute(), expected):
                failures.append(1)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not failures


@pytest.mark.slow
def test_large_arrays_are_split_or_kept_on_the_host(need):
    gpu = need("gpu")
    n = gpu.memory.max_elements(np.dtype(np.float32)) + 1000  # past one binding
    x = np.ones(n, np.float32)
    x[::7] = -1
    arr = accel.asarray(x, backend="gpu")
    assert arr.spilled
    y = accel.relu(arr)
    assert y.backend == "gpu"
    np.testing.assert_array_equal(y.numpy(), np.maximum(x, 0))


# -- linear -------------------------------------------------------------------------------------


@pytest.mark.parametrize("activation", [None, *ACTIVATIONS])
@pytest.mark.parametrize("with_bias", [True, False])
def test_linear_against_the_reference(backend, activation, with_bias):
    for dtype in sorted(backends.get(base(backend)).dtypes(), key=lambda d: d.itemsize):
        for shape in [(37,), (5, 37), (2, 3, 37), (130, 37)]:
            x, w = rand(shape, dtype, 14), rand((37, 29), dtype, 15)
            bias = rand(29, dtype, 16) if with_bias else None
            y = accel.linear(x, w, bias, activation=activation, backend=backend)
            assert y.shape == (*shape[:-1], 29) and y.dtype == dtype
            reference.check_linear(x, w, bias, activation, y, backend)
            ya = accel.linear(accel.asarray(x, backend=base(backend)),
                              accel.asarray(w, backend=base(backend)),
                              None if bias is None else accel.asarray(bias, backend=base(backend)),
                              activation=activation)  # fmt: skip
            np.testing.assert_array_equal(ya.numpy(), y)


def test_linear_errors():
    x, w = rand((4, 5)), rand((5, 3))
    with pytest.raises(ValueError, match="activation"):
        accel.linear(x, w, activation="swish2")
    with pytest.raises(ValueError, match="bias"):
        accel.linear(x, w, rand(4))
    with pytest.raises(ValueError, match="features"):
        accel.linear(rand((4, 6)), w)
    with pytest.raises(ValueError, match=r"\(K, N\)"):
        accel.linear(x, rand(5))
    with pytest.raises(ValueError):
        accel.linear(rand(()), w)
    with pytest.raises(TypeError):
        accel.linear(x.astype(np.int32), w)


def test_linear_out_and_empty(backend):
    x, w, bias = rand((6, 5), seed=17), rand((5, 3), seed=18), rand(3, seed=19)
    out = np.empty((6, 3), np.float32)
    assert accel.linear(x, w, bias, activation="relu", out=out, backend=backend) is out
    np.testing.assert_array_equal(out, accel.linear(x, w, bias, activation="relu",
                                                    backend=backend))  # fmt: skip
    assert accel.linear(rand((0, 5)), w, bias, backend=backend).shape == (0, 3)
    y = accel.linear(rand((2, 0)), rand((0, 3)), bias, activation="tanh", backend=backend)
    np.testing.assert_allclose(y, np.tanh(np.broadcast_to(bias, (2, 3))), rtol=1e-6)
    assert accel.linear(x, w, bias, backend=backend).dtype == np.float32
    if np.dtype(np.float64) in backends.get(base(backend)).dtypes():
        assert accel.linear(x, w.astype(np.float64), bias, backend=backend).dtype == np.float64


# -- a resident network moves only its input and its output -------------------------------------


def test_a_resident_network_uploads_its_input_and_downloads_its_output(backend):
    b = base(backend)
    rng = np.random.default_rng(20)
    widths = (64, 256, 256, 10)
    layers = [(accel.asarray((rng.standard_normal((i, o)) / np.sqrt(i)).astype(np.float32),
                             backend=b),
               accel.asarray(rng.standard_normal(o).astype(np.float32), backend=b))
              for i, o in itertools.pairwise(widths)]  # fmt: skip
    x = rng.standard_normal((64, 64)).astype(np.float32)
    accel.reset_stats()
    h = accel.asarray(x, backend=b)
    for i, (w, bias) in enumerate(layers):
        h = accel.linear(h, w, bias, activation=None if i == len(layers) - 1 else "tanh")
    probs = accel.softmax(h).numpy()
    np.testing.assert_allclose(probs.sum(axis=1), 1, rtol=1e-5)
    moved = transfers()
    if b == "cpu":
        assert moved == {}
    else:
        assert moved[("upload", b)] == {"calls": 1, "bytes": x.nbytes}
        assert moved[("download", b)] == {"calls": 1, "bytes": probs.nbytes}


def test_arrays_pickle_and_copy_as_their_data_on_their_backend(backend):
    import copy
    import pickle

    b = base(backend)
    x = rand((5, 4), seed=21)
    arr = accel.asarray(x, backend=b)
    for clone in (pickle.loads(pickle.dumps(arr)), copy.deepcopy(arr), copy.copy(arr)):
        assert isinstance(clone, accel.Array) and clone.backend == b
        np.testing.assert_array_equal(clone.numpy(), x)
