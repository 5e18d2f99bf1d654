"""The simd backend's own internals: the committed WebAssembly modules are exactly what their
C source builds, they import nothing, and the compiled module is cached on disk."""

from __future__ import annotations

import pathlib
import subprocess
import sys
import tempfile

import numpy as np
import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent
REQUIRE = __import__("os").environ.get("ACCEL_TEST_REQUIRE", "")


@pytest.fixture
def simd(need):
    return need("simd")


@pytest.mark.slow
def test_committed_modules_are_what_the_source_builds():
    """Rebuilds with the pinned zig and compares bytes: the binary can never drift from its
    source. CI installs the toolchain, so that this runs there."""
    try:
        import ziglang  # noqa: F401
    except ImportError:
        if "simd" in REQUIRE:
            pytest.fail("ziglang (the pinned wasm toolchain) is needed: pip install '.[test]'")
        pytest.skip("ziglang not installed: pip install '.[test]'")
    r = subprocess.run(
        [sys.executable, str(ROOT / "simd_wasm" / "build.py"), "--check"],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert r.returncode == 0, r.stdout + r.stderr


def test_module_is_small_freestanding_and_exports_its_memory(simd):
    import wasmtime

    for name in simd.VARIANTS.values():
        data = (ROOT / "simd_wasm" / name).read_bytes()
        # small (it is loaded, and compiled on a cache miss, by every process that uses simd):
        # about 70 KiB with the unpacked small-product blocks, which need one body per row
        # count and vector count, 120-130 KiB with the ops of whole networks (a row loop
        # per map op and dtype, reductions, norms, the transposed product), and 130-145 KiB
        # with those blocks' second body (A loaded as vectors, broadcast lane by lane)
        assert len(data) < 160 * 1024
        module = (
            wasmtime.Module(simd.engine, data)
            if name != "accel_simd_relaxed.wasm" or (simd.relaxed_simd)
            else None
        )
        if module is None:
            continue
        imports = [(i.module, i.name) for i in module.imports]
        assert imports == [("env", "memory")]  # the shared memory, and nothing else
        exports = {e.name for e in module.exports}
        for op in ("linear", "gemm_scratch", "dot", "elementwise", "softmax"):
            assert {f"{op}_f32", f"{op}_f64"} <= exports
        assert {"__stack_pointer", "__heap_base"} <= exports


def test_compiled_module_is_cached_on_disk(simd):
    code = ("from accel import backends; b = backends.get('simd').build.compiled;"
            "print(b.load_source, b.load_ms)")  # fmt: skip
    with tempfile.TemporaryDirectory() as cache:
        env = dict(__import__("os").environ, XDG_CACHE_HOME=cache)
        runs = [
            subprocess.run(
                [sys.executable, "-c", code],
                capture_output=True,
                text=True,
                env=env,
                cwd=cache,
                timeout=120,
            )
            for _ in range(2)
        ]
    assert runs[0].returncode == 0, runs[0].stderr
    first, second = (r.stdout.split() for r in runs)
    assert first[0] == "compiled" and second[0] == "cache"
    assert float(second[1]) < float(first[1])


def test_load_times_are_reported(simd):
    times = simd.probe_timings()
    assert times["cached_load_ms"] < times["load_ms"]
    assert simd.details()["module_bytes"] > 0


def test_the_public_call_path_gives_the_same_bits(simd):
    """The fallback for a wasmtime-py whose internals moved: Func.__call__."""
    import numpy as np

    import accel

    x = np.linspace(-5, 5, 1001, dtype=np.float32)
    fast = accel.tanh(x, backend="simd")
    d = accel.dot(x, x, backend="simd")
    calls = simd.build.instance().calls
    assert calls["elementwise_f32"].path == "unchecked"
    for call in calls.values():
        call.path = "checked"
    try:
        np.testing.assert_array_equal(accel.tanh(x, backend="simd"), fast)
        assert accel.dot(x, x, backend="simd") == d
    finally:
        for call in calls.values():
            call.path = "unchecked"


def test_the_shared_memory_fallback_engages_when_wasmtime_moves(simd, monkeypatch):
    """The patched SharedMemory (a private method of wasmtime-py) is used only if the public
    class fails; if neither can be imported by a module, simd says so and auto goes on."""
    from accel.backends import simd as simd_module

    def public_fails(cls):
        raise TypeError("incompatible types (as wasmtime-py 50 raises)")

    monkeypatch.setattr(simd_module._runtime.PublicSharedMemory, "_as_extern", public_fails)
    assert (
        simd_module._runtime.shared_memory_class(simd.engine)
        is simd_module._runtime._PatchedSharedMemory
    )
    monkeypatch.setattr(simd_module._runtime._PatchedSharedMemory, "_as_extern", public_fails)
    assert simd_module._runtime.shared_memory_class(simd.engine) is None
    broken = simd_module.SimdBackend()
    reason = broken.unavailable_reason()
    assert reason is not None and "shared memory" in reason


def test_remembered_scratch_sizes_are_the_build_in_force(simd):
    """The packing scratch a product needs differs between the builds (their register blocks
    differ): after a switch, every remembered size is the new module's own."""
    import accel

    before = simd.variant()
    rng = np.random.default_rng(0)
    a, b = rng.random((5, 300), np.float32), rng.random((300, 700), np.float32)
    try:
        for variant in simd.variants() * 2:
            simd.use_variant(variant)
            accel.matmul(a, b, backend="simd")
            inst = simd.build.instance()
            for (sfx, m, n, k), nbytes in simd.build._scratch_sizes.items():
                assert nbytes == int(inst.calls[f"gemm_scratch_{sfx}"](m, n, k))
    finally:
        simd.use_variant(before)


def _band_cases():
    rng = np.random.default_rng(5)
    for dtype in (np.float32, np.float64):
        # rows (m >= n), columns (n > m), a batch of column bands; each past the parallel size
        for *lead, m, k, n in ((300, 200, 120), (64, 256, 256), (3, 20, 128, 400)):
            a = rng.standard_normal((*lead, m, k)).astype(dtype)
            w = rng.standard_normal((k, n)).astype(dtype)
            bias = rng.standard_normal(n).astype(dtype)
            yield a, w, bias


def test_bands_on_the_native_pool_give_the_bits_of_one_thread(simd, monkeypatch):
    """Large products run as bands on the cpu backend's native pool (each band on an instance
    of its own), or on the Python pool where there is none: every way gives the bits of the
    whole product run in one call."""
    import accel

    if simd.threads < 2:
        pytest.skip("one thread: no bands")
    accel.relu(np.ones(4), backend="cpu")  # the cpu backend is made: its pool runs bands
    if simd.workers.native_bands() is None and "cpu" in REQUIRE:
        pytest.fail("the native band runner is missing where the cpu backend is required")
    for a, w, bias in _band_cases():
        native = accel.linear(a, w, bias, activation="tanh", backend="simd")
        monkeypatch.setattr(simd.workers, "native_bands", lambda: None)
        python_pool = accel.linear(a, w, bias, activation="tanh", backend="simd")
        monkeypatch.setattr(simd.workers, "threads", 1)
        one = accel.linear(a, w, bias, activation="tanh", backend="simd")
        monkeypatch.undo()
        assert np.array_equal(native, one) and np.array_equal(python_pool, one)


def test_bands_from_many_threads_and_in_a_forked_child(simd):
    """Callers that find the band instances busy run on their own threads' instances; a forked
    child makes its own band instances for its own pool."""
    import concurrent.futures
    import os

    import accel

    cases = list(_band_cases())
    expected = [accel.linear(a, w, bias, backend="simd") for a, w, bias in cases]

    def check(_):
        return all(np.array_equal(accel.linear(a, w, bias, backend="simd"), e)
                   for (a, w, bias), e in zip(cases, expected, strict=True))  # fmt: skip

    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        assert all(pool.map(check, range(8)))
    if not hasattr(os, "fork"):
        return
    pid = os.fork()
    if pid == 0:  # the child: exit status 0 only if every band result is right
        os._exit(0 if check(0) else 1)
    _, status = os.waitpid(pid, 0)
    assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0
