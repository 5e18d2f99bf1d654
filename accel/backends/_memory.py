"""The memory role of a backend (an allocator, as tinygrad's): buffers of its own, and the
copies between them and the host.

A buffer owns its memory: it goes back to the backend when the last reference to it goes (an
ndarray on cpu, a lease on a block of the simd module's memory or on a pooled GPU buffer), so
that Arrays, views of them and a call's temporaries need no explicit release. The public
methods are final: each transfer is counted in `accel.stats()` and then done by the backend's
hook.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, ClassVar, final

import numpy as np

from .. import _stats

Buffer = Any  # a backend's own buffer: an ndarray (cpu), a block of linear memory, a GPU buffer


class Memory(ABC):
    #: True where buffers are host ndarrays (cpu): upload and download move nothing.
    host: ClassVar[bool] = False

    def __init__(self, backend_name: str) -> None:
        self.backend_name = backend_name

    @final
    def upload(self, x: np.ndarray) -> Buffer:
        """A buffer of this backend holding a copy of C-contiguous x (x itself on the host)."""
        buf = self._upload(x)
        if not self.host:
            _stats.add_transfer("upload", self.backend_name, x.nbytes)
        return buf

    @final
    def download(self, buf: Buffer, out: np.ndarray) -> None:
        """Copies the buffer into the C-contiguous ndarray out (of its size and dtype)."""
        self._download(buf, out)
        if not self.host:
            _stats.add_transfer("download", self.backend_name, out.nbytes)

    @abstractmethod
    def alloc(self, n: int, dtype: np.dtype) -> Buffer:
        """An uninitialised buffer of n elements (MemoryError when none can be had)."""

    @abstractmethod
    def _upload(self, x: np.ndarray) -> Buffer: ...

    @abstractmethod
    def _download(self, buf: Buffer, out: np.ndarray) -> None: ...

    def copy(self, src: Buffer, dst: Buffer, n: int, dtype: np.dtype) -> None:
        """dst[:n] = src[:n] within this backend's memory."""
        if not self.host:
            raise NotImplementedError(f"backend {self.backend_name!r} copies no buffers")
        dst.reshape(-1)[:n] = src.reshape(-1)[:n]

    def max_elements(self, dtype: np.dtype) -> int:
        """The most elements one kernel call may touch in all its buffers together; the host
        route splits larger work."""
        return 1 << 62

    def flush(self) -> None:  # noqa: B027 - a hook with nothing to do by default
        """Submits work recorded but not yet started (the gpu records chains of ops)."""


class HostMemory(Memory):
    """Buffers that are C-contiguous ndarrays in the host's memory (cpu, and test fakes)."""

    host = True

    def alloc(self, n: int, dtype: np.dtype) -> np.ndarray:
        return np.empty(n, dtype)

    def _upload(self, x: np.ndarray) -> np.ndarray:
        return x

    def _download(self, buf: np.ndarray, out: np.ndarray) -> None:
        if buf is not out:
            out.reshape(-1)[...] = buf.reshape(-1)
