"""The cpu backend's kernels: its C entry points (c_ext/accel_cpu.h) on ndarrays, through
cffi, which releases the GIL around every call."""

from __future__ import annotations

import numpy as np

from .._kernels import Kernels, Strided

_F32 = np.dtype(np.float32)
_F64 = np.dtype(np.float64)
_SUFFIX = {_F32: "f32", _F64: "f64"}
_CTYPE = {_F32: "float[]", _F64: "double[]"}
_PTR = {_F32: "float *", _F64: "double *"}


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
        self._map = {dt: getattr(lib, f"accel_map_{sfx}") for dt, sfx in _SUFFIX.items()}
        self._reduce = {dt: getattr(lib, f"accel_reduce_{sfx}") for dt, sfx in _SUFFIX.items()}
        self._norm = {dt: getattr(lib, f"accel_norm_{sfx}") for dt, sfx in _SUFFIX.items()}

    def linear(self, a, b, c, bias, act, batch, m, n, k, a_batch, b_batch, dtype,
               bias_batch=0, trans_b=False) -> None:  # fmt: skip
        ct = _CTYPE[dtype]
        fb = self._ffi.from_buffer
        rc = self._linear[dtype](
            fb(ct, a), fb(ct, b), fb(ct, c, require_writable=True),
            self._ffi.NULL if bias is None else fb(ct, bias), act,
            batch, m, n, k, a_batch, b_batch, bias_batch, 1 if trans_b else 0,
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

    def _at(self, x: Strided, dtype):
        """A pointer to a strided operand's first element (x.buf any ndarray)."""
        address = x.buf.__array_interface__["data"][0] + x.offset * dtype.itemsize
        return self._ffi.cast(_PTR[dtype], address)

    def map(self, op, act, a, b, y, shape, dtype, y_offset=0) -> None:
        ffi, ndim = self._ffi, len(shape)
        zeros = (0,) * ndim
        scalar, at = 0.0, 0
        if not isinstance(a, Strided):
            scalar, at, a = float(a), 1, None
        elif b is not None and not isinstance(b, Strided):
            scalar, at, b = float(b), 2, None
        keep = (a, b)  # the operands' buffers stay alive through the call
        self._map[dtype](
            op, act, ffi.NULL if a is None else self._at(a, dtype),
            ffi.new("int64_t[]", zeros if a is None else a.strides),
            ffi.NULL if b is None else self._at(b, dtype),
            ffi.new("int64_t[]", zeros if b is None else b.strides),
            ffi.from_buffer(_CTYPE[dtype], y.reshape(-1)[y_offset:], require_writable=True),
            ffi.new("int64_t[]", shape), ndim, scalar, at,
        )  # fmt: skip
        del keep

    def reduce(self, op, x, y, outer, n, inner, dtype) -> None:
        ct = _CTYPE[dtype]
        fb = self._ffi.from_buffer
        self._reduce[dtype](op, fb(ct, x), outer, n, inner, fb(ct, y, require_writable=True))

    def norm(self, kind, x, y, rows, cols, weight, bias, eps, dtype) -> None:
        ct = _CTYPE[dtype]
        fb, null = self._ffi.from_buffer, self._ffi.NULL
        self._norm[dtype](kind, fb(ct, x), fb(ct, y, require_writable=True), rows, cols,
                          null if weight is None else fb(ct, weight),
                          null if bias is None else fb(ct, bias), float(eps))  # fmt: skip


class _NoKernels(Kernels):
    """The kernels of a cpu backend whose extension was not built: never called (the backend
    is unavailable, so the dispatcher never gets here)."""

    def _missing(self, *args: object) -> None:
        raise RuntimeError("the cpu backend's extension was not built")

    linear = dot = elementwise = softmax = _missing  # type: ignore[assignment]
    map = reduce = norm = _missing  # type: ignore[assignment]
