"""The host route of a backend: ops on numpy arrays in and out, built from its memory and
kernel roles: upload, run, download, in pieces that fit `max_elements`, with every
intermediate buffer given back as it goes. A backend may subclass it for a faster route of
its own (cpu's buffers are the ndarrays themselves; simd streams elementwise work through
each thread's scratch block).

Arrays reach the methods C-contiguous, aligned, native and of one dtype, with no empty
dimension (accel._ops sees to it).
"""

from __future__ import annotations

import math

import numpy as np

from .._errors import UnsupportedOperationError
from .._optable import ACT_NONE
from ._kernels import Kernels
from ._memory import Memory


class HostRoute:
    def __init__(self, memory: Memory, kernels: Kernels) -> None:
        self.memory = memory
        self.kernels = kernels

    def stream_elements(self, dtype: np.dtype) -> int:
        """Elements per piece when elementwise work streams through the backend's memory."""
        return max(1, self.memory.max_elements(dtype) // 2)

    def elementwise(self, act: int, x: np.ndarray, y: np.ndarray) -> None:
        """y = act(x) for C-contiguous ndarrays of one shape and dtype (y may be x)."""
        n, dtype, mem = x.size, x.dtype, self.memory
        if mem.host:
            self.kernels.elementwise(act, x, y, n, dtype)
            return
        fx, fy = x.reshape(-1), y.reshape(-1)
        step = self.stream_elements(dtype)
        for i in range(0, n, step):
            piece = fx[i : i + step]
            buf = mem.upload(piece)
            self.kernels.elementwise(act, buf, buf, piece.size, dtype)
            mem.download(buf, fy[i : i + step])

    def softmax(self, x: np.ndarray, y: np.ndarray, rows: int, cols: int) -> None:
        """softmax over rows of C-contiguous ndarrays (y may be x), in bands of rows."""
        dtype, mem = x.dtype, self.memory
        if mem.host:
            self.kernels.softmax(x, y, rows, cols, dtype)
            return
        if cols > self.stream_elements(dtype):
            raise UnsupportedOperationError(
                f"a softmax row of {cols} elements does not fit backend {mem.backend_name!r}"
            )
        fx, fy = x.reshape(rows, cols), y.reshape(rows, cols)
        band = max(1, self.stream_elements(dtype) // cols)
        for r in range(0, rows, band):
            piece = np.ascontiguousarray(fx[r : r + band])
            buf = mem.upload(piece)
            self.kernels.softmax(buf, buf, piece.shape[0], cols, dtype)
            mem.download(buf, fy[r : r + band])

    def dot(self, a: np.ndarray, b: np.ndarray) -> float:
        """The inner product of contiguous 1-D ndarrays; parts summed in a fixed order."""
        n, dtype = a.size, a.dtype
        step = max(1, self.memory.max_elements(dtype) // 2)
        if n <= step:
            return self._one_dot(a, b)
        return math.fsum(self._one_dot(a[i : i + step], b[i : i + step]) for i in range(0, n, step))

    def _one_dot(self, a: np.ndarray, b: np.ndarray) -> float:
        mem = self.memory
        if mem.host:
            return self.kernels.dot(a, b, a.size, a.dtype)
        return self.kernels.dot(mem.upload(a), mem.upload(b), a.size, a.dtype)

    def linear(self, a: np.ndarray, b: np.ndarray, c: np.ndarray, bias: np.ndarray | None,
               act: int, trans_b: bool = False) -> None:  # fmt: skip
        """c = act(a @ b + bias) for C-contiguous a (Ba, M, K), b (Bb, K, N), c (B, M, N) with
        Ba, Bb in (1, B), bias (N,) or (B, N) (one per item), in pieces that fit
        max_elements. trans_b: b is (Bb, N, K), the transpose of each item, read in place."""
        if bias is not None and bias.ndim == 2 and bias.shape[0] == 1:
            bias = bias[0]
        limit = self.memory.max_elements(c.dtype)
        extra = 0 if bias is None else bias.size
        if a.size + b.size + c.size + extra <= limit:
            self._one_linear(a, b, c, bias, act, trans_b)
            return
        if trans_b:  # in pieces: the plain form
            b, trans_b = np.ascontiguousarray(np.swapaxes(b, -1, -2)), False
        count, m, k = c.shape[0], a.shape[1], a.shape[2]
        n = b.shape[2]
        if count > 1:  # one item at a time
            for i in range(count):
                ai = a[i : i + 1] if a.shape[0] > 1 else a
                bi = b[i : i + 1] if b.shape[0] > 1 else b
                biasi = bias[i] if bias is not None and bias.ndim == 2 else bias
                self.linear(ai, bi, c[i : i + 1], biasi, act)
            return
        if 2 * k + 1 + n > limit:
            # even a row times a column is too large: split K, add the parts in order, then the
            # bias and the activation once (on this backend), after the whole sum
            step = max(1, (limit - 1) // 2)
            part = np.empty_like(c)
            for p0 in range(0, k, step):
                ap = np.ascontiguousarray(a[:, :, p0 : p0 + step])
                bp = np.ascontiguousarray(b[:, p0 : p0 + step, :])
                self.linear(ap, bp, c if p0 == 0 else part, None, ACT_NONE)
                if p0:
                    c += part
            if bias is not None:
                c += bias
            if act != ACT_NONE:
                self.elementwise(act, c, c)
            return
        budget = limit - extra
        nb = n if k * n <= budget // 2 else max(1, (budget // 2) // k)
        mb = max(1, (budget - k * nb) // (k + nb))
        for j0 in range(0, n, nb):
            bj = np.ascontiguousarray(b[:, :, j0 : j0 + nb])
            biasj = None if bias is None else np.ascontiguousarray(bias[j0 : j0 + nb])
            for i0 in range(0, m, mb):
                ai = np.ascontiguousarray(a[:, i0 : i0 + mb, :])
                ci = np.empty((1, ai.shape[1], bj.shape[2]), c.dtype)
                self._one_linear(ai, bj, ci, biasj, act)
                c[:, i0 : i0 + mb, j0 : j0 + nb] = ci

    def _one_linear(self, a: np.ndarray, b: np.ndarray, c: np.ndarray,
                    bias: np.ndarray | None, act: int, trans_b: bool = False) -> None:  # fmt: skip
        count, m, k = c.shape[0], a.shape[1], a.shape[2]
        n = c.shape[2]
        a_batch = m * k if a.shape[0] > 1 else 0
        b_batch = k * n if b.shape[0] > 1 else 0
        extra = {}
        if bias is not None and bias.ndim == 2:
            extra["bias_batch"] = n
        if trans_b:
            extra["trans_b"] = True
        mem, kern = self.memory, self.kernels
        if mem.host:
            kern.linear(a, b, c, bias, act, count, m, n, k, a_batch, b_batch, c.dtype, **extra)
            return
        ba, bb = mem.upload(a), mem.upload(b)
        bbias = None if bias is None else mem.upload(bias)
        bc = mem.alloc(c.size, c.dtype)
        kern.linear(ba, bb, bc, bbias, act, count, m, n, k, a_batch, b_batch, c.dtype, **extra)
        mem.download(bc, c)
