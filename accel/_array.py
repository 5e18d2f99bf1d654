"""`accel.Array`: data kept on one backend, and `accel.asarray`, which puts it there.

An Array is a C-contiguous buffer of one backend (an ndarray of the Array's shape on cpu, a
block of the simd module's linear memory, a leased GPU buffer) with a shape and a dtype. The
buffer owns the memory: it goes back to the backend when the last Array (or call) holding it
goes. Ops whose inputs are Arrays run on that backend, strictly, and return Arrays there
(accel._ops); data moves only when asked: `.numpy()`, `np.asarray(arr)`, `.to(backend)`. An
Array too large for its backend's memory (a GPU binding, the 4 GiB of a WebAssembly memory)
is kept in host memory instead (`spilled`): ops on it still run on that backend, streaming it
through as they would a numpy array.

The compiled fast path makes and reads Arrays too (accel._fast.configure_arrays): their slots
are the contract between the two.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from . import _cost, _dispatch, _fast, _selection, backends
from ._errors import AccelError

_F32 = np.dtype(np.float32)
_F64 = np.dtype(np.float64)
_FLOATS = (_F32, _F64)


class Array:
    """An n-dimensional float32 or float64 array on one backend. Make one with
    `accel.asarray(x, backend=...)`; read it back with `.numpy()` or `np.asarray(arr)`."""

    __slots__ = ("__weakref__", "_backend", "_buf", "dtype", "shape")
    # numpy's ufuncs and operators defer to Array (a @ b with a numpy operand comes here)
    __array_ufunc__ = None

    def __init__(self, backend: backends.Backend, buf: Any, shape: tuple[int, ...],
                 dtype: np.dtype, spilled: bool = False) -> None:  # fmt: skip
        self._backend = backend
        self.shape = tuple(int(s) for s in shape)
        # a buffer in host memory is an ndarray of the Array's own shape (the fast path reads
        # the shape from it)
        self._buf = buf.reshape(self.shape) if spilled or backend.memory.host else buf
        self.dtype = np.dtype(dtype)

    # -- what it is ----------------------------------------------------------------------------
    @property
    def backend(self) -> str:
        """The name of the backend whose memory holds the data."""
        return self._backend.name

    @property
    def ndim(self) -> int:
        return len(self.shape)

    @property
    def size(self) -> int:
        return math.prod(self.shape)

    @property
    def nbytes(self) -> int:
        return self.size * self.dtype.itemsize

    @property
    def spilled(self) -> bool:
        """True when the data is too large for the backend's memory and is kept on the host
        (its buffer is then an ndarray, where the backend's own would be another kind)."""
        return not self._backend.memory.host and isinstance(self._buf, np.ndarray)

    def __len__(self) -> int:
        if not self.shape:
            raise TypeError("len() of a 0-d Array")
        return self.shape[0]

    def __repr__(self) -> str:
        where = f"{self.backend}, host memory" if self.spilled else self.backend
        return f"accel.Array(shape={self.shape}, dtype={self.dtype.name}, backend={where})"

    # -- moving it -----------------------------------------------------------------------------
    def numpy(self) -> np.ndarray:
        """A new numpy array with a copy of the data."""
        return self._read(copy=True)

    def __array__(self, dtype: Any = None, copy: bool | None = None) -> np.ndarray:
        if copy is False and not self.in_host_memory():
            raise ValueError(f"an Array on {self.backend!r} cannot be read without a copy")
        arr = self._read(copy=bool(copy))
        return arr if dtype is None else arr.astype(dtype, copy=False)

    def in_host_memory(self) -> bool:
        """Whether the buffer is an ndarray in the host's memory (cpu, or spilled)."""
        return self._backend.memory.host or isinstance(self._buf, np.ndarray)

    def host_view(self) -> np.ndarray:
        """The data as an ndarray of the Array's shape, without a copy (host memory only)."""
        return self._buf.reshape(self.shape)

    def _read(self, copy: bool) -> np.ndarray:
        if self.in_host_memory():
            arr = self.host_view()
            return arr.copy() if copy else arr
        out = np.empty(self.shape, self.dtype)
        if self.size:
            memory = self._backend.memory
            _dispatch.run_on(self._backend, "download", lambda b: memory.download(self._buf, out),
                             count=False)  # fmt: skip
        return out

    def to(self, backend: str) -> Array:
        """This data on another backend (self if it is there already)."""
        sel = _selection.parse(backend)
        if not sel.strict:
            raise ValueError(f"Array.to() takes one backend name, not {backend!r}")
        if sel.names[0] == self.backend:
            return self
        return asarray(self.numpy(), backend=sel.names[0])

    def __reduce__(self):
        """Pickled as its data and its backend's name: unpickling places the data on that
        backend of the receiving process (multiprocessing, Dask, copy.deepcopy)."""
        return (_unpickle, (self.numpy(), self.backend))


def _unpickle(data: np.ndarray, backend: str) -> Array:
    return asarray(data, backend=backend)


_new = object.__new__


def wrap(backend: backends.Backend, buf: Any, shape: tuple[int, ...], dtype: np.dtype) -> Array:
    """An Array over a buffer of the backend (an ndarray of any shape on a host-memory
    backend: it is reshaped to `shape`), with none of __init__'s normalising."""
    a = _new(Array)
    a._backend = backend
    a._buf = buf.reshape(shape) if backend.memory.host else buf
    a.shape = shape
    a.dtype = dtype
    return a


_fast.configure_arrays(Array, wrap)


def _default_backend(dtype: np.dtype) -> backends.Backend:
    """Where auto would run large work of this dtype."""
    names = tuple(n for n in _selection.BACKENDS)
    for _upper, order in _cost.model().segments(names, "matmul", dtype)[-1:]:
        for name in order:
            b = backends.get(name)
            if _dispatch.why_not(b, dtype, for_auto=True) is None:
                return b
    raise AccelError(f"no backend of this machine runs {dtype.name}; see `accel probe`")


def place(x: np.ndarray, b: backends.Backend) -> Array:
    """A C-contiguous, native float ndarray as an Array on backend b (uploaded, counted)."""
    if b.memory.host:
        return wrap(b, x, x.shape, x.dtype)
    if x.nbytes > resident_limit(b, x.dtype):
        return Array(b, x.copy(), x.shape, x.dtype, spilled=True)
    flat = x.reshape(-1)
    if x.size == 0:
        return Array(b, b.memory.alloc(0, x.dtype), x.shape, x.dtype)
    buf = _dispatch.run_on(b, "upload", lambda b: b.memory.upload(flat), count=False)
    return Array(b, buf, x.shape, x.dtype)


def resident_limit(b: backends.Backend, dtype: np.dtype) -> int:
    """The largest Array, in bytes, the backend keeps in its own memory."""
    return b.memory.max_elements(dtype) * dtype.itemsize


def float_array(x: object, what: str) -> np.ndarray:
    """x as an ndarray of float32 or float64 (numpy's own dtype objects), in native byte order
    and aligned for its element type; TypeError for any other dtype. An unpickled float32, a
    big-endian one or one with dtype metadata is a float32 like any other."""
    arr = x if type(x) is np.ndarray else np.asarray(x)
    dt = arr.dtype
    if dt is _F32 or dt is _F64:
        return arr if arr.flags.aligned else arr.copy()
    if dt.kind == "f" and dt.itemsize in (4, 8) and dt.names is None and dt.subdtype is None:
        canonical = _F32 if dt.itemsize == 4 else _F64
        return arr.astype(canonical)  # a byte swap, or a copy under numpy's own dtype object
    raise TypeError(
        f"accel supports float32 and float64 arrays; {what} has dtype {dt} "
        "(convert it with .astype(np.float32) or .astype(np.float64))"
    )


def asarray(x: Any, *, backend: str | None = None, dtype: Any = None) -> Array:
    """x (anything np.asarray takes, or an Array) as an Array on a backend: `backend=None`
    places it where auto would run large work. dtype: float32 or float64 (default: x's; other
    dtypes raise TypeError). The data is copied, except on cpu, where a C-contiguous array of
    the right dtype may be shared."""
    if isinstance(x, Array):
        if dtype is not None and np.dtype(dtype) != x.dtype:
            x = x.numpy()
        elif backend is None or _selection.parse(backend).names[0] == x.backend:
            if backend is not None and not _selection.parse(backend).strict:
                raise ValueError(f"asarray takes one backend name, not {backend!r}")
            return x
        else:
            return x.to(backend)
    arr = float_array(x if dtype is None else np.asarray(x, dtype=dtype), "x")
    if dtype is not None:
        float_array(np.empty(0, dtype), "dtype")  # TypeError for a non-float dtype
    if backend is None:
        b = _default_backend(arr.dtype)
    else:
        sel = _selection.parse(backend)
        if not sel.strict:
            raise ValueError(f"asarray takes one backend name, not {backend!r}")
        b = _dispatch.strict_backend(sel.names[0], "asarray", arr.dtype)
    if not (arr.flags.c_contiguous and arr.flags.aligned):
        arr = arr.copy(order="C")  # (np.ascontiguousarray would make a 0-d array 1-d)
    return place(arr, b)
