"""The simd backend's kernels: the module's exports on blocks of its shared memory, each call
on the calling thread's instance, large work split across threads.

A product is split as the module's own `plan_*` export says (c_ext/plan.h, the native
driver's rules with the module's parameters). Its bands run on the cpu backend's native
thread pool where there is one (each band on an instance of its own, through wasmtime's C
API, with the GIL released): handing work to Python threads costs about 90 us per call on two
cores, as much as a 64 x 256 x 256 product. Elsewhere they run on a Python thread pool
(ctypes releases the GIL during a call).
"""

from __future__ import annotations

import math
import struct
import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from ..._errors import BackendRuntimeError
from .._kernels import Kernels, Strided
from ._heap import Block
from ._instances import Instance

SUFFIX = {np.dtype(np.float32): "f32", np.dtype(np.float64): "f64"}
# Work below these sizes runs in the calling thread: a thread hand-off costs more. On the cpu
# backend's native pool bands pay from about 0.5 MFLOP, on Python threads from about 4.
PARALLEL_FLOPS = 1 << 22
NATIVE_PARALLEL_FLOPS = 1 << 19
PARALLEL_ELEMENTS = 1 << 16
_SCRATCH_ARG = 11  # where the linear export takes its scratch offset
_DOT_PART = 1 << 18  # dot is summed in parts of this size (a function of n alone)
_BITS = struct.Struct("<d")


def _f64_bits(value: float) -> int:
    """A float64 as the int64 of its bits: how the module's exports take one."""
    return int.from_bytes(_BITS.pack(value), "little", signed=True)
# plan.h's kinds of split
_NONE, _ITEMS, _ROWS, _COLS = range(4)


class Workers:
    """The threads a simd call may use: a Python pool (made on first use), one caller at a
    time, and the native pool's bands through the cpu backend."""

    def __init__(self, threads: int, native_bands) -> None:
        self.threads = threads
        self.native_bands = native_bands  # () -> cpu backend (with wasm_bands), or None
        self.pool: ThreadPoolExecutor | None = None
        self.busy = threading.Lock()

    def after_fork(self) -> None:
        self.pool = None
        self.busy = threading.Lock()

    def native(self):
        """The cpu backend whose native pool runs bands, or None (one thread, or no pool)."""
        return self.native_bands() if self.threads > 1 else None

    def parallel_flops(self) -> float:
        """The work from which a product is split: a native pool's hand-off pays sooner."""
        return NATIVE_PARALLEL_FLOPS if self.native() is not None else PARALLEL_FLOPS

    def parallel(self, tasks: list):
        """Runs the callables, the first in this thread and the rest on the pool; serially when
        the pool is busy with another caller (no oversubscription)."""
        if len(tasks) == 1 or self.threads == 1 or not self.busy.acquire(blocking=False):
            return [t() for t in tasks]
        try:
            if self.pool is None:
                self.pool = ThreadPoolExecutor(self.threads - 1, thread_name_prefix="accel-simd")
            futures = []
            for t in tasks[1:]:
                try:
                    futures.append(self.pool.submit(t))
                except RuntimeError:  # the interpreter is exiting: no new threads
                    futures.append(None)
            first = tasks[0]()
            return [first, *(t() if f is None else f.result()
                             for t, f in zip(tasks[1:], futures, strict=True))]  # fmt: skip
        finally:
            self.busy.release()

    def parts(self, n: int, parallel: bool) -> list[tuple[int, int]]:
        parts = self.threads if parallel else 1
        step = -(-n // parts)
        return [(i, min(i + step, n)) for i in range(0, n, step)]


class SimdKernels(Kernels):
    """The kernels of one module build (each build has its own: a call that has its kernels
    runs on that build to its end, whatever another thread switches meanwhile)."""

    def __init__(self, build, workers: Workers) -> None:
        self._build = build
        self.workers = workers

    def _check(self, *blocks: Block | None) -> None:
        heap = self._build.heap
        for block in blocks:
            if block is not None and block.heap is not heap:
                raise BackendRuntimeError(
                    "this Array was made under the other simd module build (see "
                    "SimdBackend.use_variant); make it again with accel.asarray"
                )

    def _instance(self) -> Instance:
        return self._build.instance()

    def elementwise(self, act, x, y, n, dtype) -> None:
        self._check(x, y)
        name, size = f"elementwise_{SUFFIX[dtype]}", dtype.itemsize

        parts = self.workers.parts(n, n >= PARALLEL_ELEMENTS)
        self._spread(name, [(act, x.offset + i0 * size, y.offset + i0 * size, i1 - i0)
                            for i0, i1 in parts])  # fmt: skip

    def softmax(self, x, y, rows, cols, dtype) -> None:
        self._check(x, y)
        name, row = f"softmax_{SUFFIX[dtype]}", cols * dtype.itemsize

        parts = self.workers.parts(rows, rows > 1 and rows * cols >= PARALLEL_ELEMENTS)
        self._spread(name, [(x.offset + r0 * row, y.offset + r0 * row, r1 - r0, cols)
                            for r0, r1 in parts])  # fmt: skip

    def dot(self, a, b, n, dtype) -> float:
        self._check(a, b)
        parts = max(1, math.ceil(n / _DOT_PART))  # depends on n only: the same bits always
        step = -(-n // parts)
        name, size = f"dot_{SUFFIX[dtype]}", dtype.itemsize

        def run(i0: int) -> float:
            m = min(step, n - i0)
            return self._instance().calls[name](a.offset + i0 * size, b.offset + i0 * size, m)

        return math.fsum(self.workers.parallel([lambda i0=i0: run(i0)
                                                for i0 in range(0, n, step)]))  # fmt: skip

    def map(self, op, act, a, b, y, shape, dtype, y_offset=0) -> None:
        operands = [o for o in (a, b) if isinstance(o, Strided)]
        self._check(y, *(o.buf for o in operands))
        ndim, size = len(shape), dtype.itemsize
        scalar, at = 0.0, 0
        if not isinstance(a, Strided):
            scalar, at = float(a), 1
        elif b is not None and not isinstance(b, Strided):
            scalar, at = float(b), 2
        meta = np.array([*shape, *(a.strides if isinstance(a, Strided) else (0,) * ndim),
                         *(b.strides if isinstance(b, Strided) else (0,) * ndim)], np.int64)
        a_at = a.buf.offset + a.offset * size if isinstance(a, Strided) else 0
        b_at = b.buf.offset + b.offset * size if isinstance(b, Strided) else 0
        y_at = y.offset + y_offset * size
        name, bits = f"map_{SUFFIX[dtype]}", _f64_bits(scalar)
        rows = math.prod(shape[:-1])
        # the shape and strides in this thread's scratch block, read by every part
        at_meta = self._instance().reserve(meta.nbytes)
        self._build.heap.view(at_meta, ndim * 3, meta.dtype)[...] = meta
        parts = self.workers.parts(rows, rows > 1 and math.prod(shape) >= PARALLEL_ELEMENTS)
        self._spread(name, [(op, act, a_at, b_at, y_at, at_meta, ndim, r0, r1, bits, at)
                            for r0, r1 in parts])  # fmt: skip

    def reduce(self, op, x, y, outer, n, inner, dtype) -> None:
        self._check(x, y)
        name, size = f"reduce_{SUFFIX[dtype]}", dtype.itemsize

        parts = self.workers.parts(outer, outer > 1 and outer * n * inner >= PARALLEL_ELEMENTS)
        self._spread(name, [(op, x.offset + o0 * n * inner * size, o1 - o0, n, inner,
                             y.offset + o0 * inner * size) for o0, o1 in parts])  # fmt: skip

    def norm(self, kind, x, y, rows, cols, weight, bias, eps, dtype) -> None:
        self._check(x, y, weight, bias)
        name, row = f"norm_{SUFFIX[dtype]}", cols * dtype.itemsize
        w_at = 0 if weight is None else weight.offset
        b_at = 0 if bias is None else bias.offset
        bits = _f64_bits(eps)

        parts = self.workers.parts(rows, rows > 1 and rows * cols >= PARALLEL_ELEMENTS)
        self._spread(name, [(kind, x.offset + r0 * row, y.offset + r0 * row, r1 - r0, cols,
                             w_at, b_at, bits) for r0, r1 in parts])  # fmt: skip

    def linear(self, a, b, c, bias, act, batch, m, n, k, a_batch, b_batch, dtype,
               bias_batch=0, trans_b=False) -> None:  # fmt: skip
        self._check(a, b, c, bias)
        sfx, size = SUFFIX[dtype], dtype.itemsize
        bias_at = 0 if bias is None else bias.offset
        w = self.workers
        build = self._build
        inst = build.instance()
        if trans_b:  # its own kernel: bands of whole items, or of rows of one
            self._linear_nt(a, b, c, bias_at, act, batch, m, n, k, a_batch, b_batch,
                            bias_batch, sfx, size)  # fmt: skip
            return
        least = w.parallel_flops()
        plan = 0
        if w.threads > 1 and 2.0 * m * n * k * batch >= least:
            plan = int(inst.calls[f"plan_{sfx}"](batch, m, n, k, w.threads, least))
        kind, step = plan & 0xFF, plan >> 8
        # each band: (m, n, k of one product of it, the export's arguments, None for scratch)
        if kind == _ROWS:
            bands = [(min(step, m - r0), n, k,
                      (a.offset + (i * a_batch + r0 * k) * size, b.offset + i * b_batch * size,
                       c.offset + (i * m * n + r0 * n) * size,
                       bias_at + i * bias_batch * size if bias is not None else 0, act, 1,
                       min(step, m - r0), n, k, 0, 0, None, n, 0, 0))
                     for i in range(batch) for r0 in range(0, m, step)]  # fmt: skip
        elif kind == _COLS:
            bands = [(m, min(step, n - j0), k,
                      (a.offset + i * a_batch * size, b.offset + (i * b_batch + j0) * size,
                       c.offset + (i * m * n + j0) * size,
                       bias_at + (i * bias_batch + j0) * size if bias is not None else 0, act,
                       1, m, min(step, n - j0), k, 0, 0, None, n, 0, 0))
                     for i in range(batch) for j0 in range(0, n, step)]  # fmt: skip
        else:  # whole items, `step` of them per band (all of them without a split)
            step = step if kind == _ITEMS else batch
            bands = [(m, n, k, (a.offset + i0 * a_batch * size, b.offset + i0 * b_batch * size,
                                c.offset + i0 * m * n * size,
                                bias_at + i0 * bias_batch * size if bias is not None else 0, act,
                                min(step, batch - i0), m, n, k, a_batch, b_batch, None, n,
                                bias_batch, 0))
                     for i0 in range(0, batch, step)]  # fmt: skip
        if len(bands) == 1:
            _, _, _, args = bands[0]
            scratch = inst.reserve(build.scratch_bytes(inst, sfx, m, n, k))
            inst.calls[f"linear_{sfx}"](*args[:_SCRATCH_ARG], scratch, *args[_SCRATCH_ARG + 1 :])
            inst.trim()
            return
        self._bands(sfx, bands)

    def _linear_nt(self, a, b, c, bias_at, act, batch, m, n, k, a_batch, b_batch, bias_batch,
                   sfx, size) -> None:  # fmt: skip
        """c = act(a @ b^T + bias) with b (N, K) per item, read in place: bands of whole items
        (or of rows of a single product)."""
        big = 2.0 * batch * m * n * k >= self.workers.parallel_flops()
        name = f"linear_{sfx}"
        if batch > 1 or m == 1:
            parts = self.workers.parts(batch, big and batch > 1)
            calls = [(a.offset + i0 * a_batch * size, b.offset + i0 * b_batch * size,
                      c.offset + i0 * m * n * size,
                      bias_at + i0 * bias_batch * size if bias_at else 0, act, i1 - i0, m, n, k,
                      a_batch, b_batch, 0, n, bias_batch, 1) for i0, i1 in parts]  # fmt: skip
        else:
            calls = [(a.offset + r0 * k * size, b.offset, c.offset + r0 * n * size, bias_at, act,
                      1, r1 - r0, n, k, 0, 0, 0, n, 0, 1)
                     for r0, r1 in self.workers.parts(m, big)]  # fmt: skip
        self._spread(name, calls)

    def _on_band_instances(self, name: str, count: int, args_of) -> bool:
        """Runs `count` calls of export `name` on the native pool, each on a band instance of
        its own (args_of(i, instance) gives the i-th call's arguments), with the GIL released;
        False where there is no native pool or another caller has the band instances (they
        are one caller's at a time: the workers' lock)."""
        w, build = self.workers, self._build
        entries = build.entries
        native = w.native()
        if native is None or entries is None or not w.busy.acquire(blocking=False):
            return False
        try:
            instances = build.band_instances(count)
            tasks = [(inst.calls[name].context_address, inst.calls[name].func_address,
                      args_of(i, inst)) for i, inst in enumerate(instances)]  # fmt: skip
            if native.wasm_bands(entries.call, entries.error_delete, entries.trap_delete,
                                 entries.raw_size, tasks):  # fmt: skip
                raise BackendRuntimeError(f"the simd module trapped in {name}")
            for inst in instances:
                inst.trim()
            return True
        finally:
            w.busy.release()

    def _spread(self, name: str, calls: list[tuple[int, ...]]) -> None:
        """Calls of export `name`, one per part of the work (each its arguments): one in this
        thread; several on the native pool's band instances, or on the Python pool (each on
        its thread's instance) where those are not to be had."""
        if len(calls) == 1:
            self._instance().calls[name](*calls[0])
        elif not self._on_band_instances(name, len(calls), lambda i, _inst: calls[i]):
            self.workers.parallel([lambda args=args: self._instance().calls[name](*args)
                                   for args in calls])  # fmt: skip

    def _bands(self, sfx: str, bands: list[tuple[int, int, int, tuple]]) -> None:
        """Runs the bands of one call, each a call of the linear export with packing scratch
        of its own: on the band instances (see _on_band_instances), else on the Python pool,
        each band on its thread's instance."""
        build = self._build

        def args_of(i: int, inst) -> tuple:
            bm, bn, bk, args = bands[i]
            scratch = inst.reserve(build.scratch_bytes(inst, sfx, bm, bn, bk))
            return (*args[:_SCRATCH_ARG], scratch, *args[_SCRATCH_ARG + 1 :])

        if self._on_band_instances(f"linear_{sfx}", len(bands), args_of):
            return

        def one(bm: int, bn: int, bk: int, args: tuple) -> None:
            inst = self._instance()
            scratch = inst.reserve(build.scratch_bytes(inst, sfx, bm, bn, bk))
            inst.calls[f"linear_{sfx}"](*args[:_SCRATCH_ARG], scratch, *args[_SCRATCH_ARG + 1 :])
            inst.trim()

        self.workers.parallel([lambda band=band: one(*band) for band in bands])
