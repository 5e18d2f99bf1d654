"""The simd backend's host route for elementwise work: numpy data copied through each thread's
scratch block, computed in place and copied out, a cache-sized piece at a time, with no
allocation (the other ops take the shared route of backends/_host.py)."""

from __future__ import annotations

import numpy as np

from ... import _stats
from .._host import HostRoute
from ._kernels import PARALLEL_ELEMENTS, SUFFIX

PIECE = 1 << 17  # elements moved through a thread's scratch at a time


class SimdHost(HostRoute):
    def __init__(self, memory, kernels, build) -> None:
        super().__init__(memory, kernels)
        self._build = build

    def stream_elements(self, dtype: np.dtype) -> int:
        return PIECE

    def elementwise(self, act: int, x: np.ndarray, y: np.ndarray) -> None:
        n, dtype = x.size, x.dtype
        fx, fy = x.reshape(-1), y.reshape(-1)
        name = f"elementwise_{SUFFIX[dtype]}"
        build = self._build
        heap = build.heap
        if n < PARALLEL_ELEMENTS:  # small: one piece, in this thread, no pool
            inst = build.instance()
            nbytes = x.nbytes
            at = inst.reserve(nbytes)
            view = heap.bytes_view[at : at + nbytes].view(dtype)
            view[...] = fx
            inst.calls[name](act, at, at, n)
            fy[...] = view
            _stats.add_transfers(self.memory.backend_name, nbytes, nbytes)
            return

        def run(i0: int, i1: int) -> None:
            inst = build.instance()
            piece = min(PIECE, i1 - i0)
            at = inst.reserve(piece * dtype.itemsize)
            kernel = inst.calls[name]
            view = heap.view(at, piece, dtype)
            # in, compute in place, out: a piece at a time, so that the data stays in cache
            for j in range(i0, i1, piece):
                m = min(piece, i1 - j)
                view[:m] = fx[j : j + m]
                kernel(act, at, at, m)
                fy[j : j + m] = view[:m]
            inst.trim()

        w = self.kernels.workers
        w.parallel([lambda p=p: run(*p) for p in w.parts(n, True)])
        _stats.add_transfers(self.memory.backend_name, x.nbytes, y.nbytes)
