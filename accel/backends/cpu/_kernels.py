"""The cpu backend's kernels: its C entry points (c_ext/accel_cpu.h) on ndarrays, through
cffi, which releases the GIL around every call."""

from __future__ import annotations

import numpy as np

from .._kernels import Kernels

_F32 = np.dtype(np.float32)
_F64 = np.dtype(np.float64)
_SUFFIX = {_F32: "f32", _F64: "f64"}
_CTYPE = {_F32: "float[]", _F64: "double[]"}


class CpuKernels(Kernels):
    """The C entry points (accel_cpu.h) on ndarrays, through cffi (which releases the GIL)."""

    may_fail_part_way = False  # the C elementwise kernels allocate nothing and cannot fail

    def __init__(self, ffi, lib) -> None:
        self._ffi = ffi
        self._lib = lib
        # dtype -> C function: adding an activation needs no line here (it has an id)
        self._linear = {dt: getattr(lib, f"accel_linear_{sfx}") for dt, sfx in _SUFFIX.items()}
        self._dot = {dt: getattr(lib, f"accel_dot_{sfx}") for dt, sfx in _SUFFIX.items()}
        self._elementwise = {
            dt: getattr(lib, f"accel_elementwise_{sfx}") for dt, sfx in _SUFFIX.items()
        }
        self._softmax = {dt: getattr(lib, f"accel_softmax_{sfx}") for dt, sfx in _SUFFIX.items()}

    def linear(self, a, b, c, bias, act, batch, m, n, k, a_batch, b_batch, dtype) -> None:
        ct = _CTYPE[dtype]
        fb = self._ffi.from_buffer
        rc = self._linear[dtype](
            fb(ct, a), fb(ct, b), fb(ct, c, require_writable=True),
            self._ffi.NULL if bias is None else fb(ct, bias), act,
            batch, m, n, k, a_batch, b_batch,
        )  # fmt: skip
        if rc != 0:
            raise MemoryError("accel cpu matmul: could not allocate its packing buffers")

    def dot(self, a, b, n, dtype) -> float:
        ct = _CTYPE[dtype]
        return self._dot[dtype](self._ffi.from_buffer(ct, a), self._ffi.from_buffer(ct, b), n)

    def elementwise(self, act, x, y, n, dtype) -> None:
        ct = _CTYPE[dtype]
        fb = self._ffi.from_buffer
        self._elementwise[dtype](act, fb(ct, x), fb(ct, y, require_writable=True), n)

    def softmax(self, x, y, rows, cols, dtype) -> None:
        ct = _CTYPE[dtype]
        fb = self._ffi.from_buffer
        self._softmax[dtype](fb(ct, x), fb(ct, y, require_writable=True), rows, cols)


class _NoKernels(Kernels):
    """The kernels of a cpu backend whose extension was not built: never called (the backend
    is unavailable, so the dispatcher never gets here)."""

    def _missing(self, *args: object) -> None:
        raise RuntimeError("the cpu backend's extension was not built")

    linear = dot = elementwise = softmax = _missing  # type: ignore[assignment]
