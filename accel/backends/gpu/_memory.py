"""The gpu backend's memory: buffers from a pool of size classes (powers of two, capped at the
adapter's limits), bound with their exact sizes, and read back through pooled staging buffers
mapped and copied straight into the destination array.

A `Lease` is what Arrays and calls hold: when it goes, its buffer goes back to the pool. A
lease may go in any thread at any time (garbage collection), so it only appends its buffer to
a queue; the next piece of GPU work takes the queue under the device's lock, and a buffer
that recorded work may still use waits for the submit before it is reused.
"""

from __future__ import annotations

import collections

import numpy as np
import wgpu

from .._memory import Memory
from ._device import Device

POOL_BYTES = 256 << 20  # buffers (storage and staging) kept for reuse, at most
_MIN_CLASS = 256
STORAGE = wgpu.BufferUsage.STORAGE | wgpu.BufferUsage.COPY_DST | wgpu.BufferUsage.COPY_SRC
_STAGING = wgpu.BufferUsage.MAP_READ | wgpu.BufferUsage.COPY_DST


def round4(n: int) -> int:
    return (n + 3) // 4 * 4


class Buf:
    """A pooled GPU buffer and the bytes of it in use."""

    __slots__ = ("buffer", "nbytes", "serial", "size")
    _serials = 0

    def __init__(self, buffer, size: int) -> None:
        Buf._serials += 1
        self.serial = Buf._serials
        self.buffer = buffer
        self.size = size
        self.nbytes = 0


class Lease:
    """A buffer in use (by an Array, or by a call): the buffer goes back when the lease goes."""

    __slots__ = ("_returned", "buf")

    def __init__(self, buf: Buf, returned: collections.deque) -> None:
        self.buf = buf
        self._returned = returned

    def __del__(self) -> None:
        self._returned.append(self.buf)  # atomic; taken under the device's lock later


class GpuMemory(Memory):
    def __init__(self, backend_name: str, device: Device, limits: dict) -> None:
        super().__init__(backend_name)
        self.device = device
        self.max_buffer = int(limits["max-buffer-size"])
        self.binding_bytes = (
            min(int(limits["max-storage-buffer-binding-size"]), self.max_buffer) // 16 * 16
        )
        self._pool: dict[int, list[Buf]] = {}
        self._staging: dict[int, list[Buf]] = {}
        self.pooled_bytes = 0
        self._quarantine: list[tuple[Buf, bool]] = []  # given back while work is pending
        self._returned: collections.deque[Buf] = collections.deque()  # from dead leases
        device.before.append(self._take_returned)
        device.submitted.append(self._release_quarantine)
        device.abandoned.append(self._destroy_quarantine)

    # -- the pool ----------------------------------------------------------------------------
    def _size_class(self, nbytes: int) -> int:
        size = max(_MIN_CLASS, 1 << (max(nbytes, 1) - 1).bit_length())
        return min(size, self.max_buffer // 4 * 4)

    def new_buffer(self, size: int, usage=STORAGE) -> Buf:
        return Buf(self.device.device.create_buffer(size=size, usage=usage), size)

    def take(self, nbytes: int, staging: bool = False) -> Buf:
        if nbytes > self.max_buffer:
            raise MemoryError(
                f"{nbytes} bytes exceed this adapter's largest buffer ({self.max_buffer} bytes)"
            )
        size = self._size_class(nbytes)
        pool = self._staging if staging else self._pool
        free = pool.get(size)
        if free:
            buf = free.pop()
            self.pooled_bytes -= size
        else:
            buf = self.new_buffer(size, _STAGING if staging else STORAGE)
        buf.nbytes = nbytes
        return buf

    def _to_pool(self, buf: Buf, staging: bool = False) -> None:
        if self.pooled_bytes + buf.size > POOL_BYTES:
            buf.buffer.destroy()  # beyond the budget: the memory goes back to the driver
            return
        (self._staging if staging else self._pool).setdefault(buf.size, []).append(buf)
        self.pooled_bytes += buf.size

    def give_back(self, buf: Buf, staging: bool = False) -> None:
        """Under the lock: a buffer no call uses any more."""
        if self.device.pending():  # pending work may use it: after the submit
            self._quarantine.append((buf, staging))
        else:
            self._to_pool(buf, staging)

    def _take_returned(self) -> None:
        returned = self._returned
        while returned:
            self.give_back(returned.popleft())

    def _release_quarantine(self) -> None:
        quarantined, self._quarantine = self._quarantine, []
        for buf, staging in quarantined:
            self._to_pool(buf, staging)

    def _destroy_quarantine(self) -> None:
        for buf, _staging in self._quarantine:
            buf.buffer.destroy()
        self._quarantine = []

    def lease(self, nbytes: int) -> Lease:
        """Under the lock: a leased buffer of at least nbytes."""
        return Lease(self.take(max(4, nbytes)), self._returned)

    # -- the memory role -----------------------------------------------------------------------
    def alloc(self, n: int, dtype: np.dtype) -> Lease:
        return self.device.run(lambda: self.lease(n * np.dtype(dtype).itemsize))

    def _upload(self, x: np.ndarray) -> Lease:
        def work() -> Lease:
            lease = self.lease(x.nbytes)
            if x.nbytes:
                self.device.queue.write_buffer(lease.buf.buffer, 0, x)
            return lease

        return self.device.run(work)

    def _download(self, buf: Lease, out: np.ndarray) -> None:
        if out.nbytes:
            self.device.run(lambda: self.read(buf.buf, out))

    def read(self, buf: Buf, out: np.ndarray) -> None:
        """Under the lock: submits what is pending and copies buf into out."""
        size = round4(out.nbytes)
        staging = self.take(size, staging=True)
        self.device.copy(buf.buffer, staging.buffer, size)
        self.device.submit()
        staging.buffer.map_sync(wgpu.MapMode.READ, 0, size)
        try:
            mapped = staging.buffer.read_mapped(0, size, copy=False)
            np.copyto(out.reshape(-1), np.frombuffer(mapped, out.dtype, out.size))
            del mapped
        finally:
            staging.buffer.unmap()
            self._to_pool(staging, staging=True)

    def copy(self, src: Lease, dst: Lease, n: int, dtype: np.dtype) -> None:
        self.device.run(lambda: self.device.copy(src.buf.buffer, dst.buf.buffer,
                                                 round4(n * dtype.itemsize)))  # fmt: skip

    def max_elements(self, dtype: np.dtype) -> int:
        return self.binding_bytes // dtype.itemsize

    def flush(self) -> None:
        self.device.run(self.device.submit)
