"""Fake backends for tests: host memory, available, float32 and float64, eligible for auto,
with correct kernels computed by numpy in long double. Subclass FakeKernels to spoil or fail
them, and give it to FakeBackend."""

from __future__ import annotations

import numpy as np

from .._optable import ACT_NONE, ACTIVATION_BY_ID, OPS
from ..backends._base import Backend
from ..backends._host import HostRoute
from ..backends._kernels import Kernels
from ..backends._memory import HostMemory

_DTYPES = frozenset((np.dtype(np.float32), np.dtype(np.float64)))


class FakeKernels(Kernels):
    @staticmethod
    def _typed(buf, dtype, n):
        return buf.reshape(-1)[:n]

    def linear(self, a, b, c, bias, act, batch, m, n, k, a_batch, b_batch, dtype):
        wide = np.longdouble
        av = self._typed(a, dtype, a.size).astype(wide)
        bv = self._typed(b, dtype, b.size).astype(wide)
        cv = self._typed(c, dtype, batch * m * n).reshape(batch, m, n)
        for i in range(batch):
            ai = av[i * a_batch : i * a_batch + m * k].reshape(m, k)
            bi = bv[i * b_batch : i * b_batch + k * n].reshape(k, n)
            z = ai @ bi
            if bias is not None:
                z = z + self._typed(bias, dtype, n).astype(wide)
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
