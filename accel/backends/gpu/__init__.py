"""The `gpu` backend: WGSL compute shaders (shaders/) through wgpu-py: Vulkan, Metal, D3D12.

Its roles, one file each: the device, its lock and the recording of work (_device.py), memory
(_memory.py: pooled buffers and leases on them), programs (_programs.py: shader modules,
pipelines, bind groups) and kernels (_kernels.py). This file holds the backend's state:

- Adapter: the high-performance one, or the first whose name contains ACCEL_GPU_ADAPTER. An
  adapter of type CPU (llvmpipe, lavapipe, SwiftShader, WARP) is a software renderer: strict
  `backend="gpu"` runs on it (that is how CI tests the shaders), auto never chooses it.
- The device is requested with the adapter's largest buffer and binding limits, and float64
  where the adapter has shader-f64 (and shader-int64, for the bit tests).
- Errors: device loss and out-of-memory become AccelErrors; only a lost device marks the
  backend unusable (until accel.probe() probes it again); a validation error is a bug, raised.
- Fork: a GPU driver does not survive fork (Mesa's lavapipe hangs in the child's first submit,
  even on a new instance); in a child forked after this process started the GPU, the backend
  is unavailable with that reason, and auto uses the others.

wgpu objects are not shared between threads here: one lock serialises the backend's GPU work.
"""

from __future__ import annotations

import os
import threading
from importlib import metadata

import numpy as np
import wgpu

from ... import _calibration, _notice
from .._base import Backend
from .._host import HostRoute
from ._device import Device
from ._kernels import MATMUL_VARIANTS, GpuKernels
from ._memory import GpuMemory
from ._programs import Programs

_F32 = np.dtype(np.float32)
_F64 = np.dtype(np.float64)
_SOFTWARE_NAMES = ("llvmpipe", "lavapipe", "swiftshader", "warp", "software")

# Each limit the backend needs, requested at the adapter's maximum.
_LIMITS = (
    "max-buffer-size",
    "max-storage-buffer-binding-size",
    "max-compute-workgroup-storage-size",
    "max-compute-invocations-per-workgroup",
    "max-compute-workgroups-per-dimension",
)


def _is_software(info: dict) -> bool:
    kind = str(info.get("adapter_type", "")).lower()
    text = f"{info.get('device', '')} {info.get('description', '')}".lower()
    return kind == "cpu" or any(word in text for word in _SOFTWARE_NAMES)


def _adapter_name(adapter) -> str:
    info = adapter.info
    return f"{info.get('device', '?')} ({info.get('backend_type', '?')}, {info.get('vendor', '?')})"


class GpuBackend(Backend):
    name = "gpu"

    def __init__(self, limits: dict[str, int] | None = None) -> None:
        """limits: device limits to request instead of the adapter's largest (tests use this
        to get a device whose binding limit is not a power of two, as many drivers report)."""
        self._reason: str | None = None
        self.adapter = None
        try:
            self.adapter = self._choose_adapter()
        except Exception as e:  # no driver, no adapter: unavailable, with why
            self._reason = f"no usable GPU adapter ({' '.join(str(e).split())}); {self._fix()}"
            return
        if self.adapter is None:
            self._reason = f"no GPU adapter was found; {self._fix()}"
            return
        info = dict(self.adapter.info)
        self.info = info
        self.software = _is_software(info)
        features = set(self.adapter.features)
        self.f64 = "shader-f64" in features and "shader-int64" in features
        self.subgroups = "subgroup" in features  # the matmul variants marked SG need it
        wanted = [f for f in ("shader-f64", "shader-int64") if self.f64]
        wanted += ["subgroup"] if self.subgroups else []
        wanted_limits = {k: self.adapter.limits[k] for k in _LIMITS if k in self.adapter.limits}
        wanted_limits.update(limits or {})
        device = self.adapter.request_device_sync(
            required_features=wanted, required_limits=wanted_limits
        )
        self.device = Device(device)
        self.limits = dict(device.limits)
        self.adapter_key = f"{info.get('device', '')} | {info.get('description', '')}"
        self._dtypes = frozenset((_F32, _F64) if self.f64 else (_F32,))
        self.memory = GpuMemory(self.name, self.device, self.limits)
        self.programs = Programs(device, self.device.arena)
        self.kernels = GpuKernels(
            self.device,
            self.memory,
            self.programs,
            self.software,
            self.subgroups,
            int(self.limits["max-compute-workgroup-storage-size"]),
        )
        self.host = HostRoute(self.memory, self.kernels)
        self.calibration_changed()

    @staticmethod
    def _fix() -> str:
        return (
            "install the GPU's Vulkan, Metal or D3D12 driver (on Debian or Ubuntu without a GPU, "
            "`apt install mesa-vulkan-drivers` gives a software adapter for strict "
            'backend="gpu"), or use backend "simd" or "cpu"'
        )

    def _choose_adapter(self):
        wanted = os.environ.get("ACCEL_GPU_ADAPTER", "").strip().lower()
        if wanted:
            found = list(wgpu.gpu.enumerate_adapters_sync())
            for adapter in found:
                info = adapter.info
                names = (info.get(key, "") for key in ("device", "vendor", "description"))
                if wanted in " ".join(names).lower():
                    return adapter
            listing = "; ".join(_adapter_name(a) for a in found) or "none"
            raise RuntimeError(
                f"no adapter's name contains ACCEL_GPU_ADAPTER={wanted!r}; the adapters found "
                f"are: {listing}. Set it to part of one of these names, or unset it"
            )
        return wgpu.gpu.request_adapter_sync(power_preference="high-performance")

    # -- state -----------------------------------------------------------------------------------
    def unavailable_reason(self) -> str | None:
        if self._reason is not None:
            return self._reason
        if self.device.forked is not None:
            return self.device.forked
        if self.device.failed is not None:
            return f"the GPU failed ({self.device.failed}); accel.probe() probes it again"
        return None

    def on_failure(self, error: Exception) -> bool:
        """After a run-time failure: a lost device marks the backend unusable (True: the
        dispatcher forgets its plans); out of memory and validation errors do not."""
        text = str(error).lower()
        if "lost" in text or "destroyed" in text or "invalid device" in text:
            self.device.failed = " ".join(str(error).split())
            return True
        return False

    def needs_reprobe(self) -> bool:
        return self._reason is None and self.device.failed is not None

    def after_fork(self) -> None:
        if self._reason is None:
            self.device.forked = (
                "this process was forked after its parent started the GPU, and GPU drivers do "
                "not survive fork(); use multiprocessing's 'spawn' or 'forkserver' start "
                "method for children that need the GPU (simd and cpu work here)"
            )
            self.device.lock = threading.RLock()

    def dtypes(self) -> frozenset[np.dtype]:
        return self._dtypes if self._reason is None else frozenset()

    def auto_eligible(self) -> bool:
        return not self.software

    def details(self) -> dict:
        if self.adapter is None:
            return {}
        info = self.info
        features = set(self.adapter.features)
        return {
            "wgpu": metadata.version("wgpu"),
            "name": info.get("device", ""),
            "vendor": info.get("vendor", ""),
            "backend": info.get("backend_type", ""),
            "type": info.get("adapter_type", ""),
            "driver": " ".join(str(info.get("description", "")).split()),
            "software": self.software,
            "matmul_variant": dict(
                zip(("name", "why"), self.kernels.matmul_variant(4096, 4096), strict=True)
            ),
            "limits": {k: self.limits.get(k) for k in _LIMITS},
            "features": {
                "shader-f16": "shader-f16" in features,
                "shader-f64": "shader-f64" in features,
                "subgroups": "subgroup" in features or "subgroups" in features,
                "timestamp-query": "timestamp-query" in features,
            },
        }

    # -- variants: the tests run each, `accel calibrate` chooses one per adapter ------------
    def calibration_changed(self) -> None:
        if self._reason is not None:
            return
        kernels = self.kernels
        kernels.calibrated_variant, kernels.variant_source = None, (
            "default (no calibration for this adapter)")  # fmt: skip
        doc = _calibration.document() or {}
        for rec in doc.get("gpu_matmul", []):
            try:
                if rec["adapter"] != self.adapter_key:
                    continue
                large = str(rec["variant"])
                small = str(rec.get("small_variant", large))
            except (KeyError, TypeError):
                continue
            if large in MATMUL_VARIANTS and small in MATMUL_VARIANTS:
                kernels.calibrated_variant = (large, small)
                kernels.variant_source = (
                    f"calibrated for this adapter ({_calibration.source()})")  # fmt: skip

    def variants(self) -> tuple[str, ...]:
        if self._reason is not None:
            return ()
        return tuple(name for name, v in MATMUL_VARIANTS.items()
                     if self.subgroups or not v.get("SG"))  # fmt: skip

    def variant(self) -> str | None:
        return self.kernels.forced_variant

    def use_variant(self, name: str | None) -> None:
        """Forces one matmul variant (None: back to the calibrated or default choice)."""
        if name is not None and name not in self.variants():
            raise ValueError(f"unknown gpu matmul variant {name!r}, or one this adapter cannot "
                             f"run; choose from {list(self.variants())}")  # fmt: skip
        self.kernels.forced_variant = name
        _notice.changed("variant")

    def matmul_variant(self, m: int, n: int) -> tuple[str, str]:
        return self.kernels.matmul_variant(m, n)


def create() -> Backend:
    return GpuBackend()
