"""The `cpu` backend: native C kernels compiled at install time, called through cffi.

The extension picks the widest instruction set the CPU has when it loads (AVX-512, AVX2+FMA,
or the platform's baseline); `ACCEL_CPU_ISA` forces a lower one and `ACCEL_NUM_THREADS` caps
the native thread pool. cffi releases the GIL around every call.
"""

from __future__ import annotations

import os
import platform
import sysconfig

import numpy as np

from ._base import thread_count

_F32 = np.dtype(np.float32)
_F64 = np.dtype(np.float64)
_DTYPES = frozenset((_F32, _F64))
_SUFFIX = {_F32: "f32", _F64: "f64"}
_CTYPE = {_F32: "float[]", _F64: "double[]"}


class CpuBackend:
    name = "cpu"

    def __init__(self) -> None:
        self._reason: str | None = None
        try:
            from .. import _cpu_native  # built by c_ext/build_cpu.py at install
        except ImportError as e:
            self._reason = (
                f"the native extension accel._cpu_native is not built ({e}); install accel "
                "with pip on a machine with a C compiler (gcc or clang): "
                "`pip install --force-reinstall --no-binary accel accel`"
            )
            return
        self._ffi = _cpu_native.ffi
        self._lib = _cpu_native.lib
        self.isas = tuple(
            self._ffi.string(self._lib.accel_isa_name(i)).decode()
            for i in range(self._lib.accel_isa_count())
        )
        forced = os.environ.get("ACCEL_CPU_ISA", "").strip().lower()
        if forced:
            try:
                self.select_isa(forced)
            except ValueError as e:
                self._reason = f"ACCEL_CPU_ISA={forced!r}: {e}; unset it or name a supported one"
                return
        self._lib.accel_set_num_threads(thread_count())
        lib = self._lib
        # (op, dtype) -> C function: adding an op is one C entry point and one name here
        self._elementwise = {
            (op, dt): getattr(lib, f"accel_{op}_{sfx}")
            for op in ("relu", "sigmoid", "tanh")
            for dt, sfx in _SUFFIX.items()
        }
        self._matmul = {dt: getattr(lib, f"accel_matmul_{sfx}") for dt, sfx in _SUFFIX.items()}
        self._dot = {dt: getattr(lib, f"accel_dot_{sfx}") for dt, sfx in _SUFFIX.items()}

    # -- protocol --------------------------------------------------------------------------
    def unavailable_reason(self) -> str | None:
        return self._reason

    def dtypes(self) -> frozenset[np.dtype]:
        return _DTYPES

    def auto_eligible(self) -> bool:
        return True

    def max_elements(self, dtype: np.dtype) -> int:
        return 1 << 62  # host memory is the only limit

    def details(self) -> dict:
        if self._reason is not None:
            return {}
        return {
            "isa": self.isa(),
            "isas_supported": self.supported_isas(),
            "threads": int(self._lib.accel_get_num_threads()),
            "compiler": sysconfig.get_config_var("CC") or "unknown",
            "machine": platform.machine(),
        }

    def matmul(self, a: np.ndarray, b: np.ndarray, out: np.ndarray) -> None:
        batch, m, k = out.shape[0], a.shape[1], a.shape[2]
        n = b.shape[2]
        a_stride = m * k if a.shape[0] > 1 else 0
        b_stride = k * n if b.shape[0] > 1 else 0
        ct = _CTYPE[out.dtype]
        fb = self._ffi.from_buffer
        rc = self._matmul[out.dtype](
            fb(ct, a), fb(ct, b), fb(ct, out, require_writable=True),
            batch, m, n, k, a_stride, b_stride,
        )  # fmt: skip
        if rc != 0:
            raise MemoryError("accel cpu matmul: could not allocate its packing buffers")

    def dot(self, a: np.ndarray, b: np.ndarray) -> float:
        ct = _CTYPE[a.dtype]
        return self._dot[a.dtype](
            self._ffi.from_buffer(ct, a), self._ffi.from_buffer(ct, b), a.size
        )

    def elementwise(self, op: str, x: np.ndarray, out: np.ndarray) -> None:
        ct = _CTYPE[x.dtype]
        fb = self._ffi.from_buffer
        self._elementwise[op, x.dtype](fb(ct, x), fb(ct, out, require_writable=True), x.size)

    # -- instruction sets ------------------------------------------------------------------
    def isa(self) -> str:
        return self.isas[self._lib.accel_isa_current()]

    def supported_isas(self) -> list[str]:
        return [n for i, n in enumerate(self.isas) if self._lib.accel_isa_supported(i)]

    def select_isa(self, name: str) -> None:
        """Uses the kernels of one instruction set, process-wide (tests and ACCEL_CPU_ISA)."""
        if name not in self.isas:
            raise ValueError(f"unknown instruction set {name!r}; this build has {self.isas}")
        if self._lib.accel_isa_select(self.isas.index(name)) != 0:
            raise ValueError(f"this CPU cannot run {name!r}; it can run {self.supported_isas()}")


def create() -> CpuBackend:
    return CpuBackend()
