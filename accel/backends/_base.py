"""The protocol every backend implements: one abstract base class with declared hooks.

A backend has three roles, each a few methods:

- state: whether it can run here (and if not, why, phrased as a fix), the dtypes it runs,
  whether auto may choose it, what the probe reports, its kernel variants (instruction sets,
  module builds) and what to do after a failure or a fork;
- memory: `upload` a C-contiguous ndarray into a buffer of its own, `empty`, `download` a buffer
  into an ndarray, `release` it. For a backend whose memory is the host's (cpu) these are the
  identity and nothing is counted; for the others each transfer is counted in `accel.stats()`;
- kernels: run an op on its own buffers (`linear`, `dot`, `elementwise`, `softmax`). A backend
  may decline a call (dtype, size, a fused form) through `declines`, which is not a failure:
  the dispatcher then asks the next one, as scipy.fft's backends return NotImplemented.

Everything else (conversion, dtype promotion, matmul's 1-D promotion and batch broadcasting,
`out=` and aliasing, splitting work too large for one kernel call, Arrays) is done once for all
backends in `accel._ops` and `accel._array`. The public methods of the memory role are final:
they count the transfer and call the backend's hook.
"""

from __future__ import annotations

import os
import warnings
from abc import ABC, abstractmethod
from typing import Any, ClassVar, final

import numpy as np

from .. import _stats

Buffer = Any  # a backend's own buffer: an ndarray (cpu), a block of linear memory, a GPU buffer


def available_cpus() -> int:
    """The CPUs this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not on Linux
        return os.cpu_count() or 1


_thread_warning_given = False


def thread_count() -> int:
    """Threads a backend may use: ACCEL_NUM_THREADS (a positive integer), capped by the CPUs
    available. Anything else in it is reported once with a warning and ignored."""
    global _thread_warning_given
    text = os.environ.get("ACCEL_NUM_THREADS", "").strip()
    cpus = available_cpus()
    if not text:
        return cpus
    if text.isdigit() and int(text) > 0:
        return min(int(text), cpus)
    if not _thread_warning_given:
        _thread_warning_given = True
        warnings.warn(
            f"ACCEL_NUM_THREADS={text!r} is not a positive integer; using all {cpus} CPUs "
            "(set it to a number such as 1 or 4, or unset it)",
            RuntimeWarning,
            stacklevel=2,
        )
    return cpus


def thread_setting() -> dict:
    """ACCEL_NUM_THREADS as the probe reports it: the text and whether it is valid."""
    text = os.environ.get("ACCEL_NUM_THREADS", "").strip()
    return {"ACCEL_NUM_THREADS": text or None,
            "valid": not text or (text.isdigit() and int(text) > 0)}  # fmt: skip


class Backend(ABC):
    """The base of the three backends (and of the fakes in tests)."""

    name: ClassVar[str]
    #: True where buffers are host ndarrays (cpu): upload and download move nothing.
    host_memory: ClassVar[bool] = False
    #: False where an elementwise or softmax kernel, once started on host memory, cannot fail
    #: part-way: it may then write its input in place even when auto could fall back.
    may_fail_part_way: ClassVar[bool] = True

    # -- state -------------------------------------------------------------------------------
    @abstractmethod
    def unavailable_reason(self) -> str | None:
        """None when the backend can run here, else why not, phrased as how to fix it."""

    @abstractmethod
    def dtypes(self) -> frozenset[np.dtype]:
        """The dtypes this backend runs on this machine."""

    def auto_eligible(self) -> bool:
        """Whether auto and list selection may choose it (a software GPU may not)."""
        return True

    def details(self) -> dict:
        """What the probe reports about this backend (instruction set, adapter, versions)."""
        return {}

    def probe_timings(self) -> dict:
        """Timings the probe measures now (the simd module's compile and load)."""
        return {}

    def max_elements(self, dtype: np.dtype) -> int:
        """The most elements one kernel call on host data may touch in all its arrays together;
        the shared layer splits larger work."""
        return 1 << 62

    def declines(self, op: str, dtype: np.dtype, work: float) -> str | None:
        """Why this backend passes on a call it could run (None: it takes it). Declining is not
        a failure: the next backend is asked, and nothing is counted or warned."""
        return None

    def on_failure(self, error: Exception) -> bool:
        """Called after a run-time failure; True when the backend marked itself unusable (the
        dispatcher then forgets what it planned)."""
        return False

    def needs_reprobe(self) -> bool:
        """True when the backend marked itself unusable and `accel.probe()` should make a new
        one (a GPU whose device was lost)."""
        return False

    def variants(self) -> tuple[str, ...]:
        """The kernel variants this machine can run, the one in force first; tests run all."""
        return ()

    def variant(self) -> str | None:
        return None

    def use_variant(self, name: str) -> None:
        """Runs the kernels of one variant, process-wide (tests, and the env variables)."""
        raise ValueError(f"backend {self.name!r} has no variant {name!r}")

    def kernel_addresses(self) -> tuple[int, ...] | None:
        """The addresses of the C entry points the compiled fast path calls (elementwise,
        linear, dot; float32 then float64), for a backend whose kernels are native C."""
        return None

    def pool_address(self) -> int | None:
        """The address of a native thread pool's parallel-for (accel_parallel_for's C
        signature), which other backends may run their bands on (None: it has none)."""
        return None

    def fast_entry(self) -> tuple[int, int, int, int] | None:
        """For a backend whose kernels run in a WebAssembly module: the addresses of wasmtime's
        wasmtime_func_call_unchecked, wasmtime_error_delete and wasm_trap_delete, and the size
        of a raw value, for the compiled fast path's elementwise calls (None: it has none)."""
        return None

    def fast_binding(self) -> tuple[int, int, int, int, int, int] | None:
        """The calling thread's binding for the fast path (see fast_entry): its instance's
        context, the elementwise exports (float32, float64), the memory's address, and the
        offset and size of a scratch block that only the fast path of this thread uses."""
        return None

    def calibration_changed(self) -> None:  # noqa: B027 - a hook with nothing to do by default
        """`accel calibrate` wrote a new calibration: re-read what this backend takes from it."""

    def after_fork(self) -> None:  # noqa: B027 - a hook with nothing to do by default
        """In a forked child: re-create what fork broke (threads, device handles)."""

    # -- memory ------------------------------------------------------------------------------
    @final
    def upload(self, x: np.ndarray) -> Buffer:
        """A buffer of this backend holding a copy of C-contiguous x (x itself on the host)."""
        buf = self._upload(x)
        if not self.host_memory:
            _stats.add_transfer("upload", self.name, x.nbytes)
        return buf

    @final
    def download(self, buf: Buffer, out: np.ndarray) -> None:
        """Copies the buffer into the C-contiguous ndarray out (of its size and dtype)."""
        self._download(buf, out)
        if not self.host_memory:
            _stats.add_transfer("download", self.name, out.nbytes)

    @abstractmethod
    def _upload(self, x: np.ndarray) -> Buffer: ...

    @abstractmethod
    def _download(self, buf: Buffer, out: np.ndarray) -> None: ...

    @abstractmethod
    def empty(self, n: int, dtype: np.dtype) -> Buffer:
        """An uninitialised buffer of n elements (MemoryError when none can be had)."""

    @abstractmethod
    def release(self, buf: Buffer) -> None:
        """Gives the buffer back (the backend may keep it for reuse, within a budget)."""

    def copy(self, src: Buffer, dst: Buffer, n: int, dtype: np.dtype) -> None:
        """dst[:n] = src[:n] within this backend's memory."""
        if not self.host_memory:
            raise NotImplementedError(f"backend {self.name!r} does not copy between buffers")
        dst.reshape(-1)[:n] = src.reshape(-1)[:n]

    def flush(self) -> None:  # noqa: B027 - a hook with nothing to do by default
        """Submits work recorded but not yet started (the gpu records chains of ops)."""

    # -- kernels, on this backend's buffers: C-contiguous, one dtype, sizes in elements --------
    @abstractmethod
    def linear(self, a: Buffer, b: Buffer, c: Buffer, bias: Buffer | None, act: int,
               batch: int, m: int, n: int, k: int, a_batch: int, b_batch: int,
               dtype: np.dtype) -> None:  # fmt: skip
        """c[i] = act(a[i or 0] @ b[i or 0] + bias) for i < batch: a (M, K), b (K, N) and c
        (M, N) row-major, a_batch / b_batch the operands' batch strides in elements (0
        broadcasts), bias N values or None, act an activation id or ACT_NONE. M, N, K >= 1."""

    @abstractmethod
    def dot(self, a: Buffer, b: Buffer, n: int, dtype: np.dtype) -> float:
        """The inner product of n >= 1 elements, summed in an order that depends on n alone."""

    @abstractmethod
    def elementwise(self, act: int, x: Buffer, y: Buffer, n: int, dtype: np.dtype) -> None:
        """y = act(x) over n >= 1 elements; y may be x itself."""

    @abstractmethod
    def softmax(self, x: Buffer, y: Buffer, rows: int, cols: int, dtype: np.dtype) -> None:
        """softmax of each of `rows` rows of `cols` >= 1 elements; y may be x itself."""

    # -- the numpy path: host arrays in, host arrays out ----------------------------------------
    # Built from the two roles above: upload, run, download, in pieces that fit max_elements.
    # A backend may override one for a faster route of its own (simd streams elementwise work
    # through its memory in cache-sized pieces, one per thread).

    def stream_elements(self, dtype: np.dtype) -> int:
        """Elements per piece when elementwise work streams through this backend's memory."""
        return max(1, self.max_elements(dtype) // 2)

    def host_elementwise(self, act: int, x: np.ndarray, y: np.ndarray) -> None:
        """y = act(x) for C-contiguous ndarrays of one shape and dtype (y may be x)."""
        n, dtype = x.size, x.dtype
        if self.host_memory:
            self.elementwise(act, x, y, n, dtype)
            return
        fx, fy = x.reshape(-1), y.reshape(-1)
        step = self.stream_elements(dtype)
        for i in range(0, n, step):
            piece = fx[i : i + step]
            buf = self.upload(piece)
            try:
                self.elementwise(act, buf, buf, piece.size, dtype)
                self.download(buf, fy[i : i + step])
            finally:
                self.release(buf)

    def host_softmax(self, x: np.ndarray, y: np.ndarray, rows: int, cols: int) -> None:
        """softmax over rows of C-contiguous ndarrays (y may be x), in bands of rows."""
        dtype = x.dtype
        if self.host_memory:
            self.softmax(x, y, rows, cols, dtype)
            return
        fx, fy = x.reshape(rows, cols), y.reshape(rows, cols)
        band = max(1, self.stream_elements(dtype) // cols)
        if cols > self.stream_elements(dtype):
            from .._errors import UnsupportedOperationError

            raise UnsupportedOperationError(
                f"a softmax row of {cols} elements does not fit backend {self.name!r}"
            )
        for r in range(0, rows, band):
            piece = np.ascontiguousarray(fx[r : r + band])
            buf = self.upload(piece)
            try:
                self.softmax(buf, buf, piece.shape[0], cols, dtype)
                self.download(buf, fy[r : r + band])
            finally:
                self.release(buf)

    def host_dot(self, a: np.ndarray, b: np.ndarray) -> float:
        """The inner product of contiguous 1-D ndarrays; parts summed in a fixed order."""
        import math

        n, dtype = a.size, a.dtype
        step = max(1, self.max_elements(dtype) // 2)
        if n <= step:
            return self._one_dot(a, b)
        return math.fsum(self._one_dot(a[i : i + step], b[i : i + step]) for i in range(0, n, step))

    def _one_dot(self, a: np.ndarray, b: np.ndarray) -> float:
        if self.host_memory:
            return self.dot(a, b, a.size, a.dtype)
        ba = self.upload(a)
        try:
            bb = self.upload(b)
            try:
                return self.dot(ba, bb, a.size, a.dtype)
            finally:
                self.release(bb)
        finally:
            self.release(ba)

    def host_linear(self, a: np.ndarray, b: np.ndarray, c: np.ndarray,
                    bias: np.ndarray | None, act: int) -> None:  # fmt: skip
        """c = act(a @ b + bias) for C-contiguous a (Ba, M, K), b (Bb, K, N), c (B, M, N) with
        Ba, Bb in (1, B), in pieces that fit max_elements."""
        limit = self.max_elements(c.dtype)
        extra = 0 if bias is None else bias.size
        if a.size + b.size + c.size + extra <= limit:
            self._one_linear(a, b, c, bias, act)
            return
        count, m, k = c.shape[0], a.shape[1], a.shape[2]
        n = b.shape[2]
        if count > 1:  # one item at a time
            for i in range(count):
                ai = a[i : i + 1] if a.shape[0] > 1 else a
                bi = b[i : i + 1] if b.shape[0] > 1 else b
                self.host_linear(ai, bi, c[i : i + 1], bias, act)
            return
        if 2 * k + 1 + extra > limit:
            # even a row times a column is too large: split K, add the parts in order, then the
            # bias and the activation once (on this backend), after the whole sum
            step = max(1, (limit - 1) // 2)
            part = np.empty_like(c)
            for p0 in range(0, k, step):
                ap = np.ascontiguousarray(a[:, :, p0 : p0 + step])
                bp = np.ascontiguousarray(b[:, p0 : p0 + step, :])
                self.host_linear(ap, bp, c if p0 == 0 else part, None, -1)
                if p0:
                    c += part
            if bias is not None:
                c += bias
            if act != -1:
                self.host_elementwise(act, c, c)
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
                    bias: np.ndarray | None, act: int) -> None:  # fmt: skip
        count, m, k = c.shape[0], a.shape[1], a.shape[2]
        n = b.shape[2]
        a_batch = m * k if a.shape[0] > 1 else 0
        b_batch = k * n if b.shape[0] > 1 else 0
        if self.host_memory:
            self.linear(a, b, c, bias, act, count, m, n, k, a_batch, b_batch, c.dtype)
            return
        held = []
        try:
            ba = self.upload(a)
            held.append(ba)
            bb = self.upload(b)
            held.append(bb)
            bbias = None
            if bias is not None:
                bbias = self.upload(bias)
                held.append(bbias)
            bc = self.empty(c.size, c.dtype)
            held.append(bc)
            self.linear(ba, bb, bc, bbias, act, count, m, n, k, a_batch, b_batch, c.dtype)
            self.download(bc, c)
        finally:
            for buf in held:
                self.release(buf)
