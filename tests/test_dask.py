"""accel.dask on a real distributed.LocalCluster of worker processes: matmul over chunk layouts
(mismatched K chunks included), dot, linear with bias and activation, the elementwise ops and
softmax, backend= reaching the workers, bit-identical repeats, errors raised while the graph
is built, and a worker killed in the middle of a matmul."""

from __future__ import annotations

import os
import signal
import time

import numpy as np
import pytest

import accel
from accel._optable import ACTIVATIONS
from accel.testing import reference

da = pytest.importorskip("dask.array")
distributed = pytest.importorskip("distributed")
ad = pytest.importorskip("accel.dask")


@pytest.fixture(scope="module")
def client():
    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                       dashboard_address=None)  # fmt: skip
    with distributed.Client(cluster) as c:
        yield c
    cluster.close()


def rand(shape, dtype=np.float32, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype(dtype)


@pytest.mark.parametrize("chunks_a,chunks_b", [
    ((100, 70), (70, 60)),  # aligned K chunks
    ((100, 70), (50, 60)),  # mismatched K chunks: aligned, not refused
    ((300, 200), (200, 150)),  # one block each
    ((17, 33), (41, 29)),  # ragged everywhere
])  # fmt: skip
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_matmul_chunk_layouts(client, chunks_a, chunks_b, dtype):
    a, b = rand((300, 200), dtype, 1), rand((200, 150), dtype, 2)
    c = ad.matmul(da.from_array(a, chunks=chunks_a), da.from_array(b, chunks=chunks_b))
    assert isinstance(c, da.Array) and c.dtype == dtype and c.shape == (300, 150)
    result = c.compute()
    reference.check_matmul(a, b, result, "cpu")


def test_matmul_promotes_vectors_batches_and_numpy_operands(client):
    a, b = rand((2, 3, 40, 64), seed=3), rand((64, 30), seed=4)
    c = ad.matmul(da.from_array(a, chunks=(1, 2, 20, 32)), b)  # numpy b is wrapped
    reference.check_matmul(a, b, c.compute(), "cpu")
    v = rand(64, seed=5)
    assert ad.matmul(v, b).compute().shape == (30,)
    assert ad.matmul(da.from_array(b.T, chunks=10), v).compute().shape == (30,)
    assert ad.matmul(rand((3, 4), np.float32), rand((4, 2), np.float64)).dtype == np.float64


def test_the_same_chunking_gives_the_same_bits(client):
    a, b = rand((256, 512), seed=6), rand((512, 128), seed=7)
    c = ad.matmul(da.from_array(a, chunks=(64, 100)), da.from_array(b, chunks=(128, 64)))
    first = c.compute()
    for _ in range(3):
        assert np.array_equal(c.compute(), first)
    again = ad.matmul(da.from_array(a, chunks=(64, 100)), da.from_array(b, chunks=(128, 64)))
    assert np.array_equal(again.compute(), first)


def test_dot(client):
    x, y = rand(100_000, np.float64, 8), rand(100_000, np.float64, 9)
    r = ad.dot(da.from_array(x, chunks=7_000), da.from_array(y, chunks=11_000))
    assert r.shape == () and r.dtype == np.float64
    value = r.compute()
    reference.check_dot(x, y, np.float64(value), "cpu")
    assert r.compute() == value
    assert ad.dot(np.zeros(0, np.float32), np.zeros(0, np.float32)).compute() == 0


@pytest.mark.parametrize("activation", [None, *ACTIVATIONS])
def test_linear_with_bias_and_activation(client, activation):
    x, w, bias = rand((200, 96), seed=10), rand((96, 80), seed=11), rand(80, seed=12)
    for kchunk in (96, 40):  # one K block (the fused kernel) and several (the K sum, then both)
        y = ad.linear(da.from_array(x, chunks=(50, kchunk)), da.from_array(w, chunks=(kchunk, 30)),
                      bias, activation=activation)  # fmt: skip
        reference.check_linear(x, w, bias, activation, y.compute(), "cpu")
    y3 = ad.linear(da.from_array(rand((2, 5, 96), seed=13), chunks=(1, 5, 48)), w, bias,
                   activation=activation)  # fmt: skip
    assert y3.shape == (2, 5, 80)
    reference.check_linear(rand((2, 5, 96), seed=13), w, bias, activation, y3.compute(), "cpu")


@pytest.mark.parametrize("op", [*(n for n, o in ACTIVATIONS.items() if o.public), "softmax"])
def test_elementwise_ops_and_softmax(client, op):
    x = rand((120, 90), seed=14) * 4
    y = getattr(ad, op)(da.from_array(x, chunks=(50, 40))).compute()
    reference.check_activation(op, x, y, "cpu")
    np.testing.assert_array_equal(y, getattr(accel, op)(x, backend="cpu"))


def test_backend_reaches_the_workers(client):
    client.run(accel.reset_stats)
    a = rand((200, 200), seed=15)
    ad.matmul(da.from_array(a, chunks=100), a, backend="simd").compute()
    ad.tanh(da.from_array(a, chunks=100), backend="cpu").compute()
    per_worker = client.run(accel.stats)
    ran = {key for stats in per_worker.values() for key, rec in stats.items()
           if key[0] in ("matmul", "tanh") and rec["calls"]}  # fmt: skip
    assert ran == {("matmul", "simd"), ("tanh", "cpu")}
    with pytest.raises(ValueError, match="valid"):
        ad.relu(a, backend="tpu").compute()


def test_errors_are_raised_while_the_graph_is_built():
    a = da.from_array(rand((10, 4)), chunks=5)
    with pytest.raises(ValueError, match="core dimension"):
        ad.matmul(a, a)
    with pytest.raises(ValueError):
        ad.matmul(da.from_array(np.float32(1.0)), a)
    with pytest.raises(TypeError, match="float32 and float64"):
        ad.relu(da.arange(5))
    with pytest.raises(ValueError, match="activation"):
        ad.linear(a, rand((4, 3)), activation="swish2")
    with pytest.raises(ValueError, match="bias"):
        ad.linear(a, rand((4, 3)), rand(4))
    with pytest.raises(ValueError, match="not aligned"):
        ad.dot(rand(3), rand(4))


def test_a_worker_killed_in_the_middle_of_a_matmul(client):
    a, b = rand((1536, 1536), seed=16), rand((1536, 1536), seed=17)
    c = ad.matmul(da.from_array(a, chunks=256), da.from_array(b, chunks=256))
    expected = c.compute()
    future = client.compute(c)
    pids = client.run(os.getpid)
    deadline = time.time() + 60
    while not any(client.processing().values()) and time.time() < deadline:
        time.sleep(0.01)
    victim = next(iter(pids.values()))
    os.kill(victim, signal.SIGKILL)  # a worker process dies with tasks in hand
    result = future.result(timeout=240)
    assert np.array_equal(result, expected)  # rescheduled by Dask, the same bits
