"""Regression tests of the defects outside testing found ("Nothing wrong comes back"): each
test failed on the code before the fix. Parametrized over the backends where they apply."""

from __future__ import annotations

import os
import pickle
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
import warnings

import numpy as np
import pytest

import accel
from accel import _dispatch, backends
from accel.testing import reference
from accel.testing.fakes import FakeBackend, FakeKernels


def rand(shape, dtype=np.float32, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype(dtype)


def runs(backend, dtype) -> bool:
    return np.dtype(dtype) in backends.get(backend.split("-")[0]).dtypes()


def run_child(code: str, timeout: int = 120, **env) -> subprocess.CompletedProcess:
    child_env = {k: v for k, v in os.environ.items() if k != "ACCEL_BACKEND"}
    child_env.update(env)
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], env=child_env,
                          capture_output=True, text=True, timeout=timeout,
                          cwd=tempfile.gettempdir())  # fmt: skip


# -- 1. out= aliasing an input -----------------------------------------------------------------


@pytest.mark.parametrize("n", [8, 300, 600])
@pytest.mark.parametrize("which", ["a", "b", "both"])
def test_matmul_out_aliasing_an_input_is_right(backend, n, which):
    a, b = rand((n, n), seed=1), rand((n, n), seed=2)
    expected = accel.matmul(a, b, backend=backend)
    if which == "a":
        accel.matmul(a, b, out=a, backend=backend)
        got = a
    elif which == "b":
        accel.matmul(a, b, out=b, backend=backend)
        got = b
    else:
        expected = accel.matmul(a, a, backend=backend)
        accel.matmul(a, a, out=a, backend=backend)
        got = a
    np.testing.assert_array_equal(got, expected)


def test_matrix_vector_out_aliasing_the_vector(backend):
    if not runs(backend, np.float64):
        pytest.skip("float64 not run here")
    a, v = rand((500, 500), np.float64, 3), rand(500, np.float64, 4)
    expected = accel.matmul(a, v, backend=backend)
    accel.matmul(a, v, out=v, backend=backend)
    np.testing.assert_array_equal(v, expected)


def test_out_overlapping_an_input_partly(backend):
    big = rand((40, 30), seed=5)
    a = big[:20]
    out = big[10:30]  # overlaps a's last 10 rows
    expected = accel.matmul(a.copy(), rand((30, 30), seed=6)[:, :30], backend=backend)
    accel.matmul(a, rand((30, 30), seed=6), out=out, backend=backend)
    np.testing.assert_array_equal(out, expected)


class WritesThenFails(FakeKernels):
    """Writes garbage into its output (an input, when out= aliases one) and then fails."""

    def elementwise(self, act, x, y, n, dtype):
        y.reshape(-1)[: n // 2] = 12345.0
        raise RuntimeError("device lost")

    def linear(self, a, b, c, bias, act, batch, m, n, k, a_batch, b_batch, dtype):
        c.reshape(-1)[:] = 12345.0
        raise RuntimeError("device lost")


def test_a_backend_failing_part_way_overwrites_no_input(monkeypatch, chain_costs):
    monkeypatch.setitem(backends._instances, "gpu", FakeBackend("gpu", WritesThenFails()))
    monkeypatch.setattr(_dispatch, "_warned", set())
    _dispatch.invalidate()
    x = rand(1000, seed=7)
    expected = np.maximum(x, 0)
    a, b = rand((50, 50), seed=8), rand((50, 50), seed=9)
    expected_ab = np.matmul(a.astype(np.float64), b).astype(np.float32)
    with pytest.warns(accel.AccelFallbackWarning):
        accel.relu(x, out=x)
    np.testing.assert_array_equal(x, expected)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        accel.matmul(a, b, out=a)
    np.testing.assert_allclose(a, expected_ab, rtol=1e-5, atol=1e-5)
    _dispatch.invalidate()


# -- 2. float32 arrays whose dtype object is not numpy's own ------------------------------------


def odd_float32s():
    x = rand((6, 6), seed=10)
    return {
        "unpickled": pickle.loads(pickle.dumps(x)),
        "big-endian": x.astype(">f4"),
        "metadata": x.astype(np.dtype(np.float32, metadata={"unit": "m"})),
    }


@pytest.mark.parametrize("kind", ["unpickled", "big-endian", "metadata"])
def test_odd_float32_dtypes_are_float32(backend, kind):
    x = odd_float32s()[kind]
    plain = np.ascontiguousarray(x, np.float32)
    c = accel.matmul(x, x, backend=backend)
    assert c.dtype == np.float32
    np.testing.assert_array_equal(c, accel.matmul(plain, plain, backend=backend))
    assert type(accel.dot(x[0], x[1], backend=backend)) is np.float32
    out = np.empty((6, 6), np.float32)
    assert accel.matmul(x, x, out=out, backend=backend) is out
    np.testing.assert_array_equal(out, c)
    y = x.copy()
    accel.relu(y, out=y, backend=backend)  # a big-endian out, in place
    np.testing.assert_array_equal(y, np.maximum(plain, 0))
    assert accel.linear(x, x, x[0], backend=backend).dtype == np.float32


# -- 3. gpu matmul with K past llvmpipe's loop limit -------------------------------------------


@pytest.mark.parametrize("k", [58_256, 70_001])
def test_gpu_matmul_sums_every_product_past_the_loop_limit(need, k):
    gpu = need("gpu")
    for dtype in sorted(gpu.dtypes(), key=lambda d: d.itemsize):
        c = accel.matmul(np.ones((1, k), dtype), np.ones((k, 1), dtype), backend="gpu")
        assert c[0, 0] == k, f"{dtype}: {c[0, 0]} != {k}"
        rng = np.random.default_rng(k)
        a, b = rng.standard_normal((3, k)).astype(dtype), rng.standard_normal((k, 5)).astype(dtype)
        reference.check_matmul(a, b, accel.matmul(a, b, backend="gpu"), "gpu")


def test_gpu_k_chunks_give_the_bits_of_one_pass(need, monkeypatch):
    gpu = need("gpu")
    rng = np.random.default_rng(11)
    a, b = rng.standard_normal((70, 300)).astype(np.float32), rng.standard_normal((300, 60))
    b = b.astype(np.float32)
    whole = accel.matmul(a, b, backend="gpu")
    monkeypatch.setattr(gpu.kernels, "k_chunk", 32)
    np.testing.assert_array_equal(accel.matmul(a, b, backend="gpu"), whole)
    bias = rng.standard_normal(60).astype(np.float32)
    fused = accel.linear(a, b, bias, activation="gelu", backend="gpu")
    monkeypatch.setattr(gpu.kernels, "k_chunk", 1 << 30)
    np.testing.assert_array_equal(accel.linear(a, b, bias, activation="gelu", backend="gpu"), fused)


# -- 4. 1-D @ 1-D is a numpy scalar --------------------------------------------------------------


def test_vector_times_vector_is_a_numpy_scalar(backend):
    r = accel.matmul(rand(5, seed=1), rand(5, seed=2), backend=backend)
    expected = np.matmul(rand(5, seed=1), rand(5, seed=2))
    assert type(r) is type(expected) is np.float32
    assert np.ndim(r) == 0


# -- 5. simd at interpreter exit ---------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("name", ["simd", "cpu", "gpu"])
def test_exit_while_a_daemon_thread_calls_does_not_crash(need, name):
    need(name)
    code = f"""
        import atexit, threading, numpy as np, accel
        x = np.ones(100_000, np.float32)
        a = np.ones((64, 64), np.float32)
        def spin():
            while True:
                accel.tanh(x, backend={name!r}); accel.matmul(a, a, backend={name!r})
        for _ in range(2):
            threading.Thread(target=spin, daemon=True).start()
        atexit.register(lambda: print(float(accel.tanh(x, backend={name!r})[0])))
        accel.relu(x, backend={name!r})
        print("main done")
    """
    for _ in range(3):
        r = run_child(code)
        assert r.returncode == 0, r.stderr[-2000:]
        assert "main done" in r.stdout and "0.76" in r.stdout


# -- 6. fork ---------------------------------------------------------------------------------


@pytest.mark.skipif(not hasattr(os, "fork"), reason="no fork on this platform")
def test_a_forked_child_uses_simd_and_cpu_and_never_hangs_on_gpu(need):
    need("simd")
    code = """
        import multiprocessing as mp, numpy as np, accel
        x = np.linspace(-3, 3, 200_000).astype(np.float32)
        a = np.ones((256, 256), np.float32)
        parent = {b: accel.tanh(x, backend=b) for b in accel.available_backends()}
        pm = accel.matmul(a, a, backend="simd")

        def child(q):
            out = {}
            for b in ("simd", "cpu"):
                out[b] = bool(np.array_equal(accel.tanh(x, backend=b), parent[b]))
            out["matmul"] = bool(np.array_equal(accel.matmul(a, a, backend="simd"), pm))
            out["auto"] = bool(np.isfinite(accel.tanh(x)).all())
            try:
                accel.relu(x, backend="gpu")
                out["gpu"] = "ran"
            except accel.AccelError as e:
                out["gpu"] = type(e).__name__
            q.put(out)

        ctx = mp.get_context("fork")
        q = ctx.Queue()
        p = ctx.Process(target=child, args=(q,))
        p.start()
        print(q.get(timeout=60))
        p.join(30)
        with ctx.Pool(2) as pool:
            print(pool.map(np.sum, [accel.relu(x[:10], backend="simd")] * 4))
    """
    r = run_child(code, timeout=120)
    assert r.returncode == 0, r.stderr[-3000:]
    first = r.stdout.splitlines()[0]
    assert "'simd': True" in first and "'cpu': True" in first and "'matmul': True" in first
    assert "'auto': True" in first
    assert "'gpu': 'ran'" in first or "'gpu': 'BackendUnavailableError'" in first


# -- 7. the simd module cache is verified before it is executed --------------------------------


def test_a_tampered_module_cache_is_never_executed(need, tmp_path):
    need("simd")
    code = """
        import numpy as np
        from accel import backends
        b = backends.get("simd")
        import accel
        x = np.linspace(-2, 2, 64).astype(np.float32)
        ok = np.array_equal(accel.tanh(x, backend="simd"), accel.tanh(x, backend="cpu"))
        print(b.build.compiled.load_source, ok)
    """
    env = {"XDG_CACHE_HOME": str(tmp_path)}
    assert run_child(code, **env).stdout.split() == ["compiled", "True"]
    assert run_child(code, **env).stdout.split() == ["cache", "True"]
    cwasm = next((tmp_path / "accel").glob("*relaxed*.cwasm"), None) or next(
        (tmp_path / "accel").glob("*.cwasm"))  # fmt: skip
    data = bytearray(cwasm.read_bytes())
    for i in range(len(data) // 3, len(data) // 3 + 64):
        data[i] ^= 0xFF
    cwasm.write_bytes(bytes(data))
    r = run_child(code, **env)
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["compiled", "True"]  # the tampered file was refused
    os.chmod(cwasm, 0o666)  # writable by others: refused even when its digest matches
    r2 = run_child(code, **env)
    assert r2.stdout.split()[1] == "True"
    os.chmod(cwasm, 0o600)
    assert run_child(code, **env).stdout.split() == ["cache", "True"]


# -- 8. GPU size classes and a binding limit that is not a power of two -------------------------


@pytest.mark.slow
def test_gpu_device_with_a_binding_limit_not_a_power_of_two(need, monkeypatch):
    need("gpu")
    from accel.backends.gpu import GpuBackend

    limit = 100 << 20
    odd = GpuBackend(limits={"max-storage-buffer-binding-size": limit,
                             "max-buffer-size": limit + (28 << 20)})  # fmt: skip
    assert odd.memory.binding_bytes == limit
    monkeypatch.setitem(backends._instances, "gpu", odd)
    _dispatch.invalidate()
    a, b = rand((5000, 10), seed=1), rand((10, 5000), seed=2)
    c = accel.matmul(a, b, backend="gpu")  # 95 MiB of result: a size class past the limit
    reference.check_matmul(a, b, c, "gpu")
    assert odd.unavailable_reason() is None
    x = rand(30_000_000, seed=3)  # 114 MiB: split by the binding limit
    np.testing.assert_array_equal(accel.relu(x, backend="gpu"), np.maximum(x, 0))
    arr = accel.asarray(rand((3000, 3000), seed=4), backend="gpu")
    np.testing.assert_array_equal(accel.relu(arr).numpy(), np.maximum(arr.numpy(), 0))
    _dispatch.invalidate()


def test_a_validation_error_does_not_switch_the_gpu_off(need, monkeypatch):
    gpu = need("gpu")
    import wgpu

    real = gpu.kernels._dispatch

    def broken(*args, **kwargs):
        raise wgpu.GPUValidationError("Validation Error: a bug in a kernel")

    monkeypatch.setattr(gpu.kernels, "_dispatch", broken)
    with pytest.raises(accel.AccelError, match="Validation"):
        accel.relu(np.ones(4, np.float32), backend="gpu")
    monkeypatch.setattr(gpu.kernels, "_dispatch", real)
    assert gpu.unavailable_reason() is None
    np.testing.assert_array_equal(accel.relu(-np.ones(4, np.float32), backend="gpu"), 0)


# -- 9. one use_backend object shared by threads -------------------------------------------------


def test_one_use_backend_object_in_many_threads():
    ctx = accel.use_backend("cpu")
    errors, seen = [], set()
    barrier = threading.Barrier(16)

    def worker():
        barrier.wait()
        for _ in range(500):
            try:
                with ctx:
                    seen.add(accel.get_backend())
                    with ctx:
                        pass
            except Exception as e:
                errors.append(repr(e))
        seen.add(("after", accel.get_backend()))

    threads = [threading.Thread(target=worker) for _ in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors[:3]
    assert seen == {"cpu", ("after", accel.get_backend())}


# -- 10. the fallback warning points at the user's line ------------------------------------------


def test_fallback_warning_points_at_the_callers_line(monkeypatch, chain_costs):
    class Failing(FakeKernels):
        def elementwise(self, *args):
            raise RuntimeError("device lost for the warning test")

    monkeypatch.setitem(backends._instances, "gpu", FakeBackend("gpu", Failing()))
    monkeypatch.setattr(_dispatch, "_warned", set())
    _dispatch.invalidate()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        accel.sigmoid(np.ones(3, np.float32))
    mine = [w for w in caught if issubclass(w.category, accel.AccelFallbackWarning)]
    assert mine and mine[0].filename == __file__
    _dispatch.invalidate()


# -- 11. unaligned buffers ---------------------------------------------------------------------


def test_unaligned_inputs_and_outputs(backend):
    raw = bytearray(4 * 4000 + 1)
    x = np.frombuffer(raw, np.float32, count=4000, offset=1)
    assert not x.flags.aligned
    x[...] = rand(4000, seed=12)  # fails on a read-only buffer; bytearray is writable
    aligned = x.copy()
    np.testing.assert_array_equal(accel.tanh(x, backend=backend),
                                  accel.tanh(aligned, backend=backend))  # fmt: skip
    m = x[:3600].reshape(60, 60)
    m2 = aligned[:3600].reshape(60, 60)
    np.testing.assert_array_equal(
        accel.matmul(m, m, backend=backend), accel.matmul(m2, m2, backend=backend)
    )
    assert accel.dot(x, x, backend=backend) == accel.dot(aligned, aligned, backend=backend)
    out_raw = bytearray(4 * 4000 + 3)
    out = np.frombuffer(out_raw, np.float32, count=4000, offset=3)
    accel.relu(x, out=out, backend=backend)
    np.testing.assert_array_equal(out, np.maximum(aligned, 0))


# -- 12. memory given back after large calls -----------------------------------------------------


def _rss() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_simd_gives_memory_back_after_a_large_call(need):
    simd = need("simd")
    a = rand((2500, 2500), seed=13)
    accel.matmul(a, a, backend="simd")  # ~75 MiB of operands through the module's memory
    kept = simd.heap.in_use() - simd.heap.cached_bytes()
    assert kept < 16 << 20, f"{kept} bytes still in use after the call"
    resident_free = simd.heap.resident_free
    assert resident_free <= 64 << 20
    before = _rss()
    accel.matmul(a, a, backend="simd")
    assert _rss() - before < 64 << 20


def test_gpu_staging_stays_within_the_budget(need):
    gpu = need("gpu")
    from accel.backends.gpu import _memory

    x = rand(20_000_000, seed=14)
    accel.relu(x, backend="gpu")
    assert gpu.memory.pooled_bytes <= _memory.POOL_BYTES


# -- 13. batched matmul runs inside the simd module ---------------------------------------------


def test_many_small_products_on_simd(need):
    need("simd")
    a, b = rand((200_000, 2, 2), seed=15), rand((200_000, 2, 2), seed=16)
    c = accel.matmul(a, b, backend="simd")
    reference.check_matmul(a, b, c, "simd")


# -- 14. the command line and the environment ----------------------------------------------------


@pytest.mark.parametrize("args", [["bench", "--sizes", "abc"], ["bench", "--sizes", "-5"],
                                  ["bench", "--backends", "nope"],
                                  ["selftest", "--backends", "nope"]])  # fmt: skip
def test_bad_command_lines_exit_2_with_a_message(args):
    r = run_child(f"import sys; from accel.cli import main; sys.exit(main({args!r}))", timeout=60)
    assert r.returncode == 2, r.stdout + r.stderr
    assert "error:" in r.stderr and "Traceback" not in r.stderr


@pytest.mark.parametrize("value", ["abc", "0", "-3"])
def test_bad_thread_count_is_reported(value):
    code = """
        import warnings, numpy as np, accel
        with warnings.catch_warnings(record=True) as w:
            warnings.simplefilter("always")
            accel.relu(np.ones(3), backend="cpu")
        print([str(x.message) for x in w])
        print(accel.probe()["environment"]["problems"])
    """
    r = run_child(code, ACCEL_NUM_THREADS=value)
    assert r.returncode == 0, r.stderr
    assert "ACCEL_NUM_THREADS" in r.stdout.splitlines()[0]
    assert "ACCEL_NUM_THREADS" in r.stdout.splitlines()[1]


def test_gpu_adapter_that_is_not_there_lists_the_adapters(need):
    need("gpu")
    code = "from accel import backends; print(backends.get('gpu').unavailable_reason())"
    r = run_child(code, ACCEL_GPU_ADAPTER="nvidia-geforce-9999")
    assert "the adapters found are:" in r.stdout and "are: none" not in r.stdout
    assert "install the GPU" not in r.stdout.split("adapters found")[0]


# -- 15. races and degenerate sizes found by ThreadSanitizer and a read of the C -------------
# (tools/tsan/run.sh runs a threaded stress under ThreadSanitizer; these are its regressions)


def test_simd_products_beside_selection_changes_and_fast_calls(need):
    """One thread's large simd products run as bands on the native pool while another changes
    the process selection and makes simd fast-path calls: the bands never read what the other
    thread configures (each band job carries its own wasmtime entry points)."""
    need("simd")
    a = rand((512, 512), seed=30)
    want = accel.matmul(a, a, backend="simd")
    x = rand(64, seed=31)
    stop, errors = threading.Event(), []

    def products():
        while not stop.is_set():
            if not np.array_equal(accel.matmul(a, a, backend="simd"), want):
                errors.append("matmul")

    def selections():
        while not stop.is_set():
            accel.set_backend("auto")
            if not np.array_equal(accel.relu(x, backend="simd"), np.maximum(x, 0)):
                errors.append("relu")
            accel.set_backend(None)

    _run_beside(stop, [products, selections])
    assert not errors, errors[:3]


def _run_beside(stop: threading.Event, loops: list, seconds: float = 1.5) -> None:
    """Runs each loop in a thread of its own for `seconds`, then stops and joins them."""
    threads = [threading.Thread(target=loop) for loop in loops]
    for t in threads:
        t.start()
    time.sleep(seconds)
    stop.set()
    for t in threads:
        t.join()
    accel.set_backend(None)


def test_resident_simd_bands_from_threads_beside_resets(need):
    """Large products on simd Arrays run as bands from the compiled fast path (the band
    instances taken under the workers' lock) in two threads while a third keeps resetting the
    fast path (each set_backend is a notice: every binding is made again): every result has
    the bits of one call."""
    need("simd")
    need("cpu")
    a = accel.asarray(rand((64, 256), seed=33), backend="simd")
    w = accel.asarray(rand((256, 256), seed=34), backend="simd")
    want = accel.linear(a, w, activation="tanh").numpy()
    stop, errors = threading.Event(), []

    def products():
        while not stop.is_set():
            if not np.array_equal(accel.linear(a, w, activation="tanh").numpy(), want):
                errors.append("linear")

    def resets():
        while not stop.is_set():
            accel.set_backend("auto")
            accel.set_backend(None)

    _run_beside(stop, [products, products, resets])
    assert not errors, errors[:3]


def _fast_simd_calls() -> int:
    """simd calls the compiled fast path ran since the last look."""
    from accel import _fast

    records, _moved = _fast.take_stats()
    return sum(calls for _op, b, calls, _t in records if b == "simd")


def _switch_while_binding(simd, monkeypatch, binder: str) -> list[str]:
    """Makes the simd build's `binder` (a method the fast path calls to bind instances) switch
    the build between the question and the answer, once; the list says when it has."""
    from accel.backends.simd import Build

    original = getattr(Build, binder)
    switched: list[str] = []

    def bind(self):
        got = original(self)
        if not switched:
            switched.append(simd.variants()[1])
            simd.use_variant(simd.variants()[1])
        return got

    monkeypatch.setattr(Build, binder, bind)
    simd.use_variant(simd.variant())  # a build whose fast-path binders are the patched ones
    return switched


def test_a_binding_made_while_the_simd_build_switches_is_never_used(need, monkeypatch):
    """The compiled fast path asks the simd backend for this thread's instance; if the build is
    switched while it asks (the binder runs Python, which may switch threads), the answer
    names an instance of the old build: the fast path must not call it."""
    simd = need("simd")
    if simd.native() is None or len(simd.variants()) < 2:
        pytest.skip("no compiled fast path, or one simd build here")
    before = simd.variant()
    switched = _switch_while_binding(simd, monkeypatch, "binding")
    try:
        x = rand(16, seed=32)
        np.testing.assert_array_equal(accel.relu(x, backend="simd"), np.maximum(x, 0))
        _fast_simd_calls()
        # the fast path asks for a binding, the build switches meanwhile: the Python route
        np.testing.assert_array_equal(accel.relu(x, backend="simd"), np.maximum(x, 0))
        assert switched and _fast_simd_calls() == 0
        for _ in range(3):  # then a binding to the new build
            np.testing.assert_array_equal(accel.relu(x, backend="simd"), np.maximum(x, 0))
        assert _fast_simd_calls() >= 1
    finally:
        monkeypatch.undo()
        simd.use_variant(before)


def test_band_instances_bound_while_the_simd_build_switches_are_never_used(need, monkeypatch):
    """The fast path asks the simd backend for its band instances on its first large product;
    if the build switches while it asks, the answer is the old build's: the call takes the
    Python route, and the next one binds the new build's instances."""
    simd = need("simd")
    need("cpu")
    if simd.native() is None or len(simd.variants()) < 2 or simd.threads < 2:
        pytest.skip("no compiled fast path, one simd build, or one thread here")
    before = simd.variant()
    switched = _switch_while_binding(simd, monkeypatch, "fast_bands")
    try:
        x, w = rand((16, 64), seed=35), rand((64, 256), seed=36)
        want = x.astype(np.float64) @ w.astype(np.float64)
        accel.relu(x, backend="simd")  # this thread's binding first
        accel.matmul(x, w, backend="simd")  # (the dispatcher's decision: the Python route)
        _fast_simd_calls()
        got = accel.matmul(x, w, backend="simd")
        assert switched and _fast_simd_calls() == 0
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)
        for _ in range(3):
            np.testing.assert_allclose(accel.matmul(x, w, backend="simd"), want, rtol=1e-4,
                                       atol=1e-4)  # fmt: skip
        assert _fast_simd_calls() >= 1
    finally:
        monkeypatch.undo()
        simd.use_variant(before)


def test_the_c_entry_points_take_degenerate_sizes(need):
    """linear with M = 1, N = 0 (or M = 0, N = 1) and K > 0, and softmax with no columns,
    called on the C entry points directly (the public API never sends them): no division by
    zero, nothing written."""
    need("cpu")
    code = """
        import numpy as np
        from accel import backends
        cpu = backends.get("cpu")
        ffi, lib = cpu._ffi, cpu._lib
        a = np.ones(8, np.float32)
        b = np.ones(8, np.float32)
        c = np.full(8, 7.0, np.float32)
        fp = lambda x: ffi.from_buffer("float[]", x)
        for m, n in ((1, 0), (0, 1), (0, 0)):
            plain = (-1, 1, m, n, 5, 0, 0, 0, 0)
            batched = (2, 3, m, n, 5, 5, 5, 0, 1)  # (transposed B)
            assert lib.accel_linear_f32(fp(a), fp(b), fp(c), ffi.NULL, *plain) == 0
            assert lib.accel_linear_f32(fp(a), fp(b), fp(c), ffi.NULL, *batched) == 0
        lib.accel_softmax_f32(fp(a), fp(c), 3, 0)
        lib.accel_softmax_f32(fp(a), fp(c), 0, 3)
        assert (c == 7).all()
        print("ok")
    """
    r = run_child(code)
    assert r.returncode == 0 and r.stdout.strip() == "ok", r.stdout + r.stderr


# -- 16. a garbage collection inside the simd heap's lock ----------------------------------------


def test_a_collection_inside_the_simd_heaps_lock_does_not_deadlock(need):
    """A block whose Array sits in a reference cycle is given back by the garbage collector,
    which may run at any allocation: also one the heap makes while it holds its own lock. The
    collection is forced there (a lock that collects once taken); the child must finish, and
    the block must be free again afterwards."""
    need("simd")
    code = """
        import gc
        import numpy as np
        import accel
        from accel import backends

        heap = backends.get("simd").heap

        class CollectingLock:
            def __init__(self, lock):
                self.lock = lock
            def acquire(self, *args, **kwargs):
                got = self.lock.acquire(*args, **kwargs)
                if got:
                    gc.collect()
                return got
            def release(self):
                self.lock.release()
            def __enter__(self):
                self.acquire()
            def __exit__(self, *exc):
                self.release()

        gc.disable()
        before = heap.in_use()
        big = accel.asarray(np.ones(8 << 20, np.float32), backend="simd")  # beyond the pool's cache
        cycle = [big]
        cycle.append(cycle)
        del big, cycle
        heap.lock = CollectingLock(heap.lock)
        heap.release(heap.alloc(4096))
        assert heap.in_use() == before, (heap.in_use(), before)
        print("ok")
    """
    r = run_child(code, timeout=60)
    assert r.returncode == 0 and r.stdout.strip() == "ok", r.stdout + r.stderr
