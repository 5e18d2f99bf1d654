"""Selection and the dispatcher: precedence, the three selection forms, fallback with one
warning per (backend, reason), strict mode that raises, stats, and DEBUG logging. A fake
backend stands in for one that fails at run time."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import subprocess
import sys
import tempfile
import threading
import warnings

import numpy as np
import pytest

import accel
from accel import _calibration, _cost, _dispatch, _selection, backends
from accel.testing.fakes import FakeBackend, FakeKernels


class FailingKernels(FakeKernels):
    def __init__(self, owner: FailingBackend) -> None:
        self.owner = owner

    def _fail(self, *args):
        self.owner.calls += 1
        raise self.owner.error

    linear = dot = elementwise = softmax = _fail  # type: ignore[assignment]


class FailingBackend(FakeBackend):
    """Available, runs float32 and float64, and fails every call."""

    def __init__(self, name: str, error: Exception | None = None) -> None:
        super().__init__(name, self.make_kernels())
        self.error = error or RuntimeError("device lost")
        self.calls = 0

    def make_kernels(self) -> FakeKernels:
        return FailingKernels(self)


class UnavailableBackend(FailingBackend):
    def unavailable_reason(self):
        return "it is switched off in this test; switch it on"


@pytest.fixture
def fake(monkeypatch):
    """Installs fakes in place of gpu and simd; cpu stays real."""
    installed = {}

    def install(name, backend):
        monkeypatch.setitem(backends._instances, name, backend)
        installed[name] = backend
        _dispatch.invalidate()
        return backend

    monkeypatch.setattr(_dispatch, "_warned", set())
    yield install
    _dispatch.invalidate()


@pytest.fixture(autouse=True)
def clean_selection():
    accel.set_backend(None)
    accel.reset_stats()
    yield
    accel.set_backend(None)


def x32():
    return np.linspace(-2, 2, 9, dtype=np.float32)


# -- parsing -----------------------------------------------------------------------------------


def test_backends_constant_is_the_chain():
    assert accel.BACKENDS == ("gpu", "simd", "cpu")
    assert set(accel.available_backends()) <= set(accel.BACKENDS)
    assert list(accel.available_backends()) == [
        n for n in accel.BACKENDS if n in accel.available_backends()
    ]


@pytest.mark.parametrize("bad", ["tpu", "cpu,tpu", "", "gpu,,cpu", "CPU;SIMD"])
def test_unknown_names_raise_value_error_listing_the_valid_ones(bad):
    with pytest.raises(ValueError, match="'gpu', 'simd', 'cpu'"):
        accel.set_backend(bad)
    with pytest.raises(ValueError, match="valid"):
        accel.relu(x32(), backend=bad)
    with pytest.raises(ValueError):
        accel.use_backend(bad)


def test_selection_forms_are_normalised():
    assert _selection.parse(" Auto ").text == "auto"
    assert _selection.parse("simd , cpu").names == ("simd", "cpu")
    assert _selection.parse("cpu").strict
    assert not _selection.parse("cpu,simd").strict
    assert not _selection.parse("auto").strict


# -- precedence --------------------------------------------------------------------------------


def test_precedence_argument_context_process():
    assert accel.get_backend() in ("auto", os.environ.get("ACCEL_BACKEND", "auto"))
    accel.set_backend("simd,cpu")
    assert accel.get_backend() == "simd,cpu"
    with accel.use_backend("cpu"):
        assert accel.get_backend() == "cpu"
        with accel.use_backend("gpu,cpu"):
            assert accel.get_backend() == "gpu,cpu"
        assert accel.get_backend() == "cpu"
        assert _selection.current("simd").text == "simd"  # backend= wins over all
    assert accel.get_backend() == "simd,cpu"
    accel.set_backend(None)
    assert accel.get_backend() == os.environ.get("ACCEL_BACKEND", "auto")


def test_use_backend_as_decorator_and_in_tasks():
    @accel.use_backend("cpu")
    def inner():
        return accel.get_backend()

    @accel.use_backend("simd")
    async def coro():
        await asyncio.sleep(0)
        return accel.get_backend()

    before = accel.get_backend()
    assert inner() == "cpu"
    assert asyncio.run(coro()) == "simd"
    assert accel.get_backend() == before


def test_use_backend_is_thread_local():
    seen = {}
    ready = threading.Event()
    release = threading.Event()

    def other():
        ready.wait()
        seen["other"] = accel.get_backend()
        release.set()

    t = threading.Thread(target=other)
    t.start()
    with accel.use_backend("cpu"):
        ready.set()
        release.wait()
        seen["mine"] = accel.get_backend()
    t.join()
    assert seen == {"other": "auto", "mine": "cpu"}


def run_child(code: str, **env) -> subprocess.CompletedProcess:
    child_env = {k: v for k, v in os.environ.items() if k != "ACCEL_BACKEND"}
    child_env.update(env)
    # run outside the repository, so that the child imports the installed accel
    return subprocess.run([sys.executable, "-c", code], env=child_env, capture_output=True,
                          text=True, timeout=120, cwd=tempfile.gettempdir())  # fmt: skip


def test_environment_variable_in_a_subprocess():
    code = (
        "import accel, json, numpy as np\n"
        "accel.relu(np.ones(3, np.float32))\n"
        "first = accel.get_backend()\n"
        "with accel.use_backend('cpu'): ctx = accel.get_backend()\n"
        "accel.set_backend('auto'); proc = accel.get_backend()\n"
        "print(json.dumps([first, ctx, proc, sorted(k[1] for k in accel.stats())]))\n"
    )
    r = run_child(code, ACCEL_BACKEND="cpu")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout) == ["cpu", "cpu", "auto", ["cpu"]]


def test_bad_environment_variable_raises_at_first_call():
    r = run_child("import accel, numpy as np; accel.relu(np.ones(3))", ACCEL_BACKEND="warp9")
    assert r.returncode != 0
    assert "ACCEL_BACKEND" in r.stderr and "ValueError" in r.stderr


def test_import_is_light():
    r = run_child(
        "import sys, accel, numpy as np; accel.relu(np.ones(3), backend='cpu');"
        "print(sorted(m for m in ('wgpu', 'wasmtime') if m in sys.modules))"
    )
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "[]"


# -- fallback and strict mode ------------------------------------------------------------------


def test_auto_falls_back_and_warns_once(fake, chain_costs):
    gpu = fake("gpu", FailingBackend("gpu"))
    fake("simd", UnavailableBackend("simd"))
    with pytest.warns(accel.AccelFallbackWarning, match="gpu.*device lost"):
        y = accel.relu(x32())
    np.testing.assert_array_equal(y, np.maximum(x32(), 0))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a second warning for the same reason would raise
        accel.relu(x32())
        accel.relu(x32())
    assert gpu.calls == 3
    s = accel.stats()
    assert s[("relu", "gpu")]["fallbacks"] == 3
    assert s[("relu", "gpu")]["calls"] == 0
    assert s[("relu", "cpu")]["calls"] == 3


def test_a_new_reason_warns_again(fake, chain_costs):
    gpu = fake("gpu", FailingBackend("gpu"))
    fake("simd", UnavailableBackend("simd"))
    with pytest.warns(accel.AccelFallbackWarning):
        accel.tanh(x32())
    gpu.error = MemoryError("out of device memory")
    with pytest.warns(accel.AccelFallbackWarning, match="out of device memory"):
        accel.tanh(x32())


def test_list_mode_falls_back_in_its_order(fake):
    fake("gpu", UnavailableBackend("gpu"))
    fake("simd", FailingBackend("simd"))
    with pytest.warns(accel.AccelFallbackWarning, match="simd"):
        c = accel.matmul(np.eye(3), np.eye(3), backend="simd,cpu")
    np.testing.assert_array_equal(c, np.eye(3))
    with pytest.raises(accel.AccelError, match=r"simd.*device lost"):
        accel.matmul(np.eye(3), np.eye(3), backend="simd")  # strict: no fallback
    with pytest.raises(accel.UnsupportedOperationError, match="device lost"):
        accel.dot(np.ones(3), np.ones(3), backend="gpu,simd")  # the list has no cpu


def test_strict_mode_raises_and_never_falls_back(fake):
    gpu = fake("gpu", FailingBackend("gpu"))
    fake("simd", UnavailableBackend("simd"))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(accel.AccelError, match="device lost"):
            accel.relu(x32(), backend="gpu")
        with pytest.raises(accel.BackendUnavailableError, match="switch it on"):
            accel.relu(x32(), backend="simd")
    assert gpu.calls == 1
    assert accel.stats().get(("relu", "cpu")) is None


def test_strict_mode_of_a_dtype_the_backend_lacks(fake):
    class Float32Only(FailingBackend):
        def dtypes(self):
            return frozenset((np.dtype(np.float32),))

    fake("gpu", Float32Only("gpu"))
    with pytest.raises(accel.UnsupportedOperationError, match="float64"):
        accel.relu(np.ones(3), backend="gpu")


def test_auto_skips_a_backend_that_lacks_the_dtype(fake, chain_costs):
    class Float32Only(FailingBackend):
        def dtypes(self):
            return frozenset((np.dtype(np.float32),))

    fake("gpu", Float32Only("gpu"))
    fake("simd", UnavailableBackend("simd"))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert accel.relu(np.ones(3)).dtype == np.float64


def test_auto_never_chooses_a_backend_not_eligible_for_auto(fake, chain_costs):
    class Software(FailingBackend):
        def auto_eligible(self):
            return False

    gpu = fake("gpu", Software("gpu"))
    fake("simd", UnavailableBackend("simd"))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        accel.relu(x32())
    assert gpu.calls == 0
    with pytest.raises(accel.AccelError):
        accel.relu(x32(), backend="gpu")  # strict accepts it
    assert gpu.calls == 1


def test_decisions_are_logged_at_debug(fake, chain_costs, caplog):
    fake("gpu", FailingBackend("gpu"))
    fake("simd", UnavailableBackend("simd"))
    with caplog.at_level(logging.DEBUG, logger="accel"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        accel.sigmoid(x32())
        accel.sigmoid(x32(), backend="cpu")
    text = caplog.text
    assert "chose gpu" in text and "failed" in text and "chose cpu" in text
    assert "strict selection runs cpu" in text


# -- stats -------------------------------------------------------------------------------------


def test_stats_count_calls_and_latency_percentiles():
    for _ in range(20):
        accel.relu(x32(), backend="cpu")
    accel.matmul(np.eye(2), np.eye(2), backend="cpu")
    s = accel.stats()
    rec = s[("relu", "cpu")]
    assert rec["calls"] == 20 and rec["fallbacks"] == 0
    assert 0 < rec["p50_us"] <= rec["p95_us"] <= rec["p99_us"]
    assert s[("matmul", "cpu")]["calls"] == 1
    accel.reset_stats()
    assert accel.stats() == {}


def test_stats_count_every_call_from_threads():
    def work():
        for _ in range(200):
            accel.relu(x32(), backend="cpu")

    threads = [threading.Thread(target=work) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert accel.stats()[("relu", "cpu")]["calls"] == 1600


# -- auto ranks by the cost model --------------------------------------------------------------


class RecordingKernels(FailingKernels):
    def elementwise(self, act, x, y, n, dtype):
        self.owner.ran += 1
        backends.get("cpu").kernels.elementwise(act, x, y, n, dtype)


class Recording(FailingBackend):
    """Available and correct (delegates to cpu), and records that it ran."""

    def __init__(self, name):
        super().__init__(name)
        self.ran = 0

    def make_kernels(self) -> FakeKernels:
        return RecordingKernels(self)


def test_auto_takes_the_cheapest_backend_for_the_size(fake, monkeypatch):
    gpu = fake("gpu", Recording("gpu"))
    simd = fake("simd", Recording("simd"))
    # gpu: big overhead, cheap per element; simd: the reverse; cpu: never cheapest
    lines = {"gpu": (100.0, 0.001), "simd": (1.0, 0.1), "cpu": (1000.0, 1.0)}
    monkeypatch.setattr(
        _cost.model(), "cost", lambda b, op, dtype, work: lines[b][0] + lines[b][1] * work
    )
    _dispatch.invalidate()
    accel.relu(np.ones(10, np.float32))  # 2 vs 100: simd
    assert (simd.ran, gpu.ran) == (1, 0)
    accel.relu(np.ones(5000, np.float32))  # 501 vs 105: gpu
    assert (simd.ran, gpu.ran) == (1, 1)
    s = accel.stats()
    assert s[("relu", "simd")]["calls"] == 1 and s[("relu", "gpu")]["calls"] == 1
    # a list keeps its own order whatever the costs
    accel.relu(np.ones(5000, np.float32), backend="simd,gpu")
    assert (simd.ran, gpu.ran) == (2, 1)


def test_segments_split_the_work_axis_where_costs_cross():
    model = _cost.CostModel()
    model.params = {
        ("gpu", "relu", "float32"): (100.0, 0.001),
        ("simd", "relu", "float32"): (1.0, 0.1),
        ("cpu", "relu", "float32"): (1000.0, 1.0),
    }
    segments = model.segments(("gpu", "simd", "cpu"), "relu", np.dtype(np.float32))
    assert segments[0][1][0] == "simd" and segments[-1][1][0] == "gpu"
    crossing = segments[0][0]
    assert 990 < crossing < 1010  # 1 + 0.1 w = 100 + 0.001 w at w = 1000
    assert segments[-1][0] == float("inf")


def test_calibration_for_another_machine_is_ignored(tmp_path, monkeypatch):
    bad = tmp_path / "calibration.json"
    bad.write_text(json.dumps({"fingerprint": {"machine": "elsewhere"}, "params": []}))
    monkeypatch.setattr(_calibration, "path", lambda: bad)
    _calibration.reload()
    try:
        model = _cost.CostModel()
        assert model.source.startswith("built-in defaults") and "another machine" in model.source
    finally:
        monkeypatch.undo()
        _calibration.reload()
