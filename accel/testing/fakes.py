"""Fake backends for tests: host memory, available, float32 and float64, eligible for auto,
with correct kernels computed by numpy in long double. Subclass FakeKernels to spoil or fail
them, and give it to FakeBackend."""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import as_strided

from .._optable import ACT_NONE, ACTIVATION_BY_ID, OPS
from ..backends._base import Backend
from ..backends._host import HostRoute
from ..backends._kernels import Kernels, Strided
from ..backends._memory import HostMemory

_DTYPES = frozenset((np.dtype(np.float32), np.dtype(np.float64)))


class FakeKernels(Kernels):
    @staticmethod
    def _typed(buf, dtype, n):
        return buf.reshape(-1)[:n]

    def linear(self, a, b, c, bias, act, batch, m, n, k, a_batch, b_batch, dtype,
               bias_batch=0, trans_b=False):  # fmt: skip
        wide = np.longdouble
        av = self._typed(a, dtype, a.size).astype(wide)
        bv = self._typed(b, dtype, b.size).astype(wide)
        cv = self._typed(c, dtype, batch * m * n).reshape(batch, m, n)
        for i in range(batch):
            ai = av[i * a_batch : i * a_batch + m * k].reshape(m, k)
            bi = bv[i * b_batch : i * b_batch + k * n]
            bi = bi.reshape(n, k).T if trans_b else bi.reshape(k, n)
            z = ai @ bi
            if bias is not None:
                flat = bias.reshape(-1)
                z = z + flat[i * bias_batch : i * bias_batch + n].astype(wide)
            if act != ACT_NONE:
                z = OPS[ACTIVATION_BY_ID[act]].reference(z)
            cv[i] = self.spoil_matmul(z).astype(dtype)

    def spoil_matmul(self, z):
        return z

    def dot(self, a, b, n, dtype):
        wa = self._typed(a, dtype, n).astype(np.longdouble)
        return float(np.dot(wa, self._typed(b, dtype, n).astype(np.longdouble)))

    def elementwise(self, act, x, y, n, dtype):
        w = self._typed(x, dtype, n).astype(np.longdouble)
        self._typed(y, dtype, n)[...] = OPS[ACTIVATION_BY_ID[act]].reference(w).astype(dtype)

    def softmax(self, x, y, rows, cols, dtype):
        w = self._typed(x, dtype, rows * cols).reshape(rows, cols).astype(np.longdouble)
        out = OPS["softmax"].reference(w).astype(dtype)
        self._typed(y, dtype, rows * cols)[...] = out.reshape(-1)


    @staticmethod
    def operand(o, shape, dtype):
        """A map operand as an ndarray over shape (a float as itself)."""
        if not isinstance(o, Strided):
            return o if o is None else dtype.type(o)
        flat = o.buf.reshape(-1)
        size = dtype.itemsize
        return as_strided(flat[o.offset :], shape, tuple(s * size for s in o.strides))

    def map(self, op, act, a, b, y, shape, dtype, y_offset=0):
        x1, x2 = self.operand(a, shape, dtype), self.operand(b, shape, dtype)
        name = _MAP_NAMES[op]
        with np.errstate(all="ignore"):
            r = np.asarray(x1 if name == "copy" else OPS[name].numpy(x1) if x2 is None
                           else OPS[name].numpy(x1, x2), dtype)  # fmt: skip
        r = np.broadcast_to(r, shape)
        if act != ACT_NONE:
            r = OPS[ACTIVATION_BY_ID[act]].reference(r.astype(np.longdouble)).astype(dtype)
        n = int(np.prod(shape))
        y.reshape(-1)[y_offset : y_offset + n] = self.spoil_map(name, r.reshape(-1), x1, x2)

    def spoil_map(self, name, r, x1, x2):
        return r

    def reduce(self, op, x, y, outer, n, inner, dtype):
        v = self._typed(x, dtype, outer * n * inner).reshape(outer, n, inner)
        name = _REDUCE_NAMES[op]
        w = v.astype(np.longdouble)
        r = {"sum": np.sum, "mean": np.mean, "max": np.max}[name](w, axis=1)
        self._typed(y, dtype, outer * inner)[...] = self.spoil_reduce(name, r, w).astype(
            dtype).reshape(-1)  # fmt: skip

    def spoil_reduce(self, name, r, w):
        return r

    def norm(self, kind, x, y, rows, cols, weight, bias, eps, dtype):
        w = self._typed(x, dtype, rows * cols).reshape(rows, cols).astype(np.longdouble)
        layer = kind == OPS["layer_norm"].kernel_id
        mean = w.mean(-1, keepdims=True) if layer else 0
        var = self.variance(w, mean, layer)
        r = (w - mean) / np.sqrt(var + np.longdouble(eps))
        if weight is not None:
            r = r * self._typed(weight, dtype, cols).astype(np.longdouble)
        if bias is not None:
            r = r + self._typed(bias, dtype, cols).astype(np.longdouble)
        self._typed(y, dtype, rows * cols)[...] = r.astype(dtype).reshape(-1)

    def variance(self, w, mean, layer):
        return ((w - mean) ** 2).mean(-1, keepdims=True)


_MAP_NAMES = {op.kernel_id: name for name, op in OPS.items() if op.family in ("map", "binary")}
_REDUCE_NAMES = {op.kernel_id: name for name, op in OPS.items() if op.family == "reduction"}


class FakeBackend(Backend):
    def __init__(self, name: str, kernels: Kernels | None = None) -> None:
        self.name = name  # type: ignore[misc]
        self.memory = HostMemory(name)
        self.kernels = kernels if kernels is not None else FakeKernels()
        self.host = HostRoute(self.memory, self.kernels)

    def unavailable_reason(self) -> str | None:
        return None

    def dtypes(self) -> frozenset[np.dtype]:
        return _DTYPES
