"""The gpu backend's own internals. Faults: a lost device becomes an AccelError; in auto mode
the call falls back with a warning and the backend stays unusable until it is probed again
(the device is destroyed for real, not mocked). matmul's vec4 and scalar I/O give the same
bits."""

from __future__ import annotations

import os
import warnings

import numpy as np
import pytest

import accel
from accel import _dispatch, backends


@pytest.fixture
def gpu(need):
    yield need("gpu")
    backends.reset("gpu")  # the next test gets a fresh device
    _dispatch.invalidate()


def test_device_loss_in_auto_falls_back_and_marks_the_gpu_unusable(gpu, monkeypatch, chain_costs):
    monkeypatch.setattr(gpu, "auto_eligible", lambda: True)  # as a hardware GPU would be
    monkeypatch.setattr(_dispatch, "_warned", set())
    _dispatch.invalidate()
    x = np.linspace(-3, 3, 101, dtype=np.float32)
    np.testing.assert_array_equal(accel.relu(x), np.maximum(x, 0))  # ran on the gpu
    assert accel.stats()[("relu", "gpu")]["calls"] >= 1
    gpu.device.device.destroy()
    with pytest.warns(accel.AccelFallbackWarning, match="gpu"):
        y = accel.relu(x)
    np.testing.assert_array_equal(y, np.maximum(x, 0))
    reason = gpu.unavailable_reason()
    assert reason is not None and "probe" in reason
    assert "gpu" not in accel.available_backends()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no second attempt, so no second warning
        accel.relu(x)
    with pytest.raises(accel.BackendUnavailableError, match="GPU failed"):
        accel.relu(x, backend="gpu")
    doc = accel.probe()  # probes it again: a new device
    record = next(b for b in doc["backends"] if b["name"] == "gpu")
    assert record["available"] and record["smoke"]["ok"]
    assert backends.get("gpu") is not gpu
    np.testing.assert_array_equal(accel.relu(x, backend="gpu"), np.maximum(x, 0))


def test_device_loss_in_strict_mode_raises_an_accel_error(gpu):
    gpu.device.device.destroy()
    with pytest.raises(accel.AccelError, match="GPU"):
        accel.matmul(np.eye(3, dtype=np.float32), np.eye(3, dtype=np.float32), backend="gpu")


def test_software_adapter_is_never_chosen_by_auto(gpu):
    if not gpu.software:
        pytest.skip("a hardware adapter")
    assert not gpu.auto_eligible()
    x = np.ones(5, np.float32)
    accel.reset_stats()
    accel.relu(x)
    assert ("relu", "gpu") not in accel.stats()


def test_ci_runs_the_gpu_tests_on_the_software_adapter(gpu):
    """CI sets ACCEL_TEST_GPU_SOFTWARE=1 on a machine without a GPU: the gpu tests must have
    run on the software Vulkan adapter, not skipped and not on something else."""
    if os.environ.get("ACCEL_TEST_GPU_SOFTWARE") != "1":
        pytest.skip("ACCEL_TEST_GPU_SOFTWARE is not set")
    details = gpu.details()
    assert details["software"] is True
    assert details["backend"] == "Vulkan"
    assert "llvmpipe" in details["name"] or "lavapipe" in details["name"]


def test_the_device_run_has_a_real_gpu(gpu):
    """benchmarks/gpu_device.sh sets ACCEL_TEST_GPU_HARDWARE=1 on a machine with a GPU: the gpu
    tests must have run on that hardware, not on a software adapter the loader found first."""
    if os.environ.get("ACCEL_TEST_GPU_HARDWARE") != "1":
        pytest.skip("ACCEL_TEST_GPU_HARDWARE is not set")
    details = gpu.details()
    assert details["software"] is False, details
    assert details["type"] in ("DiscreteGPU", "IntegratedGPU"), details


def test_matmul_vec4_and_scalar_io_give_the_same_bits(gpu):
    rng = np.random.default_rng(3)
    for dtype in sorted(gpu.dtypes(), key=lambda d: d.itemsize):
        a = rng.standard_normal((2, 70, 36)).astype(dtype)
        b = rng.standard_normal((36, 68)).astype(dtype)
        quads = accel.matmul(a, b, backend="gpu")
        gpu.kernels.vector_io = False
        try:
            scalars = accel.matmul(a, b, backend="gpu")
        finally:
            gpu.kernels.vector_io = True
        np.testing.assert_array_equal(quads, scalars)
