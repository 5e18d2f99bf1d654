"""The simd backend's memory role: a first-fit allocator over the module's shared linear
memory, and the blocks of it that hold buffers and Arrays.

The module imports one *shared* linear memory (the threads proposal's), created with a 4 GiB
maximum, which every thread's instance works on: a block of it is visible to all of them.
WebAssembly memory never shrinks: free blocks beyond a budget have their pages handed back to
the operating system (madvise) while their addresses stay reserved.

A `Block` owns its bytes: they go back to the heap when the last reference to the block goes.
Where the compiled helpers are built, blocks are made and given back in C through a cache of
recently freed blocks per size class (accel._fastpath.BlockPool, tinygrad's LRU allocator
cache): a small Array then costs no Python to make or to free.
"""

from __future__ import annotations

import bisect
import collections
import contextlib
import ctypes
import sys
import threading

import numpy as np
import wasmtime

from .._memory import Memory
from ._runtime import Exit

PAGE = 65536
MAX_PAGES = 65535  # the module's maximum (its linker takes a u32 byte count)
ALIGN = 64
_KEEP_FREE = 64 << 20  # free memory kept resident for reuse; beyond it, pages go back to the OS
_RETURN_FROM = 1 << 20  # free blocks at least this large are candidates to give back


def round_up(x: int, to: int) -> int:
    return (x + to - 1) // to * to


_madvise = None
if sys.platform.startswith("linux"):
    try:
        _libc = ctypes.CDLL(None, use_errno=True)
        _madvise = _libc.madvise
        _madvise.argtypes = (ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int)
        _madvise.restype = ctypes.c_int
    except (OSError, AttributeError):
        _madvise = None
_MADV_DONTNEED = 4


class Block:
    """A lease on a block of the heap (the Python form; accel._fastpath.Block is the compiled
    one, with the same attributes)."""

    __slots__ = ("heap", "nbytes", "offset")

    def __init__(self, heap: Heap, offset: int, nbytes: int) -> None:
        self.heap = heap
        self.offset = offset
        self.nbytes = nbytes

    def __del__(self) -> None:
        if not Exit.started:  # at exit the memory goes with the process
            with contextlib.suppress(Exception):  # a heap torn down at exit
                self.heap.release(self.offset)


class Heap:
    """First-fit allocator over the shared linear memory, above the module's data. Blocks are
    64-byte aligned; free neighbours merge. The memory grows (never shrinks) when nothing fits;
    free blocks beyond the budget have their pages returned to the operating system."""

    def __init__(self, memory: wasmtime.SharedMemory, start: int) -> None:
        self.memory = memory
        self.base_ptr = ctypes.cast(memory.data_ptr(), ctypes.c_void_p).value or 0
        self.start = round_up(start, ALIGN)
        self.end = memory.data_len()
        self.free: list[list[int]] = []  # sorted [offset, size]
        if self.end > self.start:
            self.free.append([self.start, self.end - self.start])
        self.used: dict[int, int] = {}
        self.lock = threading.Lock()
        # Offsets given back and not yet merged into `free`: a block is given back from its
        # finalizer, which a garbage collection may run at any allocation, in the very thread
        # that holds the lock (blocking on it there would never return).
        self._returned: collections.deque[int] = collections.deque()
        self.resident_free = 0  # bytes of free blocks whose pages are still resident
        self.pool = None  # accel._fastpath.BlockPool over this heap, where it is built
        self._map()

    def _map(self) -> None:
        """A uint8 view of the whole memory (a shared memory never moves; it only grows)."""
        raw = (ctypes.c_uint8 * self.end).from_address(self.base_ptr)
        self.bytes_view = np.frombuffer(raw, dtype=np.uint8)

    def view(self, offset: int, n: int, dtype: np.dtype) -> np.ndarray:
        return self.bytes_view[offset : offset + n * dtype.itemsize].view(dtype)

    def alloc(self, nbytes: int) -> int:
        size = round_up(max(nbytes, 1), ALIGN)
        with self.lock:
            self._take_returned()
            for i, (off, sz) in enumerate(self.free):
                if sz >= size:
                    if sz == size:
                        del self.free[i]
                    else:
                        self.free[i] = [off + size, sz - size]
                    self.used[off] = size
                    self.resident_free = max(0, self.resident_free - size)
                    return off
            self._grow(size)
            return self.alloc_locked(size)

    def alloc_locked(self, size: int) -> int:
        off, sz = self.free[-1]
        if sz == size:
            self.free.pop()
        else:
            self.free[-1] = [off + size, sz - size]
        self.used[off] = size
        return off

    def _grow(self, size: int) -> None:
        """Grows the memory so that the last free block (or a new one) holds size bytes."""
        tail = self.free[-1][1] if self.free and sum(self.free[-1]) == self.end else 0
        need = size - tail
        pages_now = self.end // PAGE
        pages = max(-(-need // PAGE), pages_now // 4, 16)  # headroom: grow rarely
        if pages_now + pages > MAX_PAGES:
            pages = -(-need // PAGE)
        if pages_now + pages > MAX_PAGES:
            raise MemoryError(
                f"{size} bytes do not fit in the simd module's 4 GiB memory "
                f"({self.end - self.start - sum(s for _, s in self.free)} bytes in use)"
            )
        try:
            self.memory.grow(pages)
        except wasmtime.WasmtimeError as e:
            raise MemoryError(f"could not grow the simd module's memory: {e}") from e
        new_end = self.memory.data_len()
        if tail:
            self.free[-1][1] += new_end - self.end
        else:
            begin = max(self.end, self.start)
            self.free.append([begin, new_end - begin])
        self.end = new_end
        self._map()

    def release(self, off: int) -> None:
        """Gives a block back. Safe from a finalizer: the offset is queued, and merged now only
        if the lock is free (otherwise by whoever holds it, or by the next call that takes it)."""
        self._returned.append(off)  # atomic
        if self.lock.acquire(blocking=False):
            try:
                self._take_returned()
            finally:
                self.lock.release()

    def _take_returned(self) -> None:
        """Merges the queued offsets into the free list; the caller holds the lock. A block
        given back while this runs (a collection inside it) is queued and taken by this loop."""
        returned = self._returned
        while returned:
            self._free_locked(returned.popleft())

    def _free_locked(self, off: int) -> None:
        size = self.used.pop(off, None)
        if size is None:  # not a block of this heap (one torn down at exit): nothing to free
            return
        i = bisect.bisect_left(self.free, [off, 0])
        self.free.insert(i, [off, size])
        if i + 1 < len(self.free) and off + size == self.free[i + 1][0]:
            self.free[i][1] += self.free.pop(i + 1)[1]
        if i > 0 and sum(self.free[i - 1]) == off:
            self.free[i - 1][1] += self.free.pop(i)[1]
            i -= 1
        self.resident_free += size
        if self.resident_free > _KEEP_FREE and _madvise is not None:
            self._return_pages()

    def _return_pages(self) -> None:
        """Gives the pages of large free blocks back to the OS (they read as zeros after)."""
        for off, size in self.free:
            lo = round_up(off, 4096)
            hi = (off + size) // 4096 * 4096
            if hi - lo >= _RETURN_FROM:
                _madvise(self.base_ptr + lo, hi - lo, _MADV_DONTNEED)
        self.resident_free = 0

    def in_use(self) -> int:
        with self.lock:
            self._take_returned()
            return sum(self.used.values())

    def block(self, nbytes: int) -> Block:
        """A new block of at least nbytes (its `nbytes` says nbytes)."""
        pool = self.pool
        if pool is not None:
            return pool.take(nbytes)
        return Block(self, self.alloc(nbytes), nbytes)

    def cached_bytes(self) -> int:
        """Bytes of freed blocks the pool keeps for reuse (in use, for the heap)."""
        return 0 if self.pool is None else self.pool.cached_bytes()


class SimdMemory(Memory):
    """Buffers are blocks of one module build's heap (each build has its memory role)."""

    def __init__(self, backend_name: str, heap: Heap) -> None:
        super().__init__(backend_name)
        self.heap = heap

    def alloc(self, n: int, dtype: np.dtype) -> Block:
        return self.heap.block(n * np.dtype(dtype).itemsize)

    def _upload(self, x: np.ndarray) -> Block:
        heap = self.heap
        block = heap.block(x.nbytes)
        if x.size:
            heap.view(block.offset, x.size, x.dtype)[...] = x.reshape(-1)
        return block

    def _download(self, buf: Block, out: np.ndarray) -> None:
        if out.size:
            out.reshape(-1)[...] = buf.heap.view(buf.offset, out.size, out.dtype)

    def copy(self, src: Block, dst: Block, n: int, dtype: np.dtype) -> None:
        src.heap.view(dst.offset, n, dtype)[...] = src.heap.view(src.offset, n, dtype)

    def max_elements(self, dtype: np.dtype) -> int:
        # all arrays of one call live in one 4 GiB memory; keep 64 MiB for stacks and scratch
        return (MAX_PAGES * PAGE - (64 << 20)) // dtype.itemsize
