"""`accel.Array`: data kept on one backend, and `accel.asarray`, which puts it there.

An Array is a C-contiguous block of one backend's memory (a GPU buffer, a block of the simd
module's linear memory, an ndarray on cpu) with a shape and a dtype. Ops whose inputs are
Arrays run on that backend, strictly, and return Arrays there (`accel._ops`); data moves only
when asked: `.numpy()`, `np.asarray(arr)`, `.to(backend)`. The memory goes back to the backend
when the Array is collected. An Array too large for its backend's memory (a GPU binding, the
4 GiB of a WebAssembly memory) is kept in host memory instead (`spilled`): ops on it still run
on that backend, streaming it through as they would a numpy array.
"""

from __future__ import annotations

import atexit
import math
from typing import Any

import numpy as np

from . import _dispatch, _selection, backends
from ._errors import AccelError

_F32 = np.dtype(np.float32)
_F64 = np.dtype(np.float64)
_FLOATS = (_F32, _F64)
_host_placed: dict[str, backends.Backend] = {}  # name -> host-memory backend placed to


class Array:
    """An n-dimensional float32 or float64 array on one backend. Make one with
    `accel.asarray(x, backend=...)`; read it back with `.numpy()` or `np.asarray(arr)`."""

    __slots__ = ("__weakref__", "_backend", "_buf", "_owns", "_spilled", "dtype", "shape")
    # numpy's ufuncs and operators defer to Array (a @ b with a numpy operand comes here)
    __array_ufunc__ = None

    def __init__(self, backend: backends.Backend, buf: Any, shape: tuple[int, ...],
                 dtype: np.dtype, spilled: bool = False) -> None:  # fmt: skip
        self._owns = False
        self._backend = backend
        self._buf = buf
        self._spilled = spilled
        self.shape = tuple(int(s) for s in shape)
        self.dtype = np.dtype(dtype)
        self._owns = not spilled and not backend.host_memory

    def __del__(self) -> None:
        # The memory returns to the backend when the Array goes (a __del__, not a
        # weakref.finalize: that cost ~3 us per Array, a fifth of a small resident call); not
        # once the interpreter exits (the backend may be gone already)
        try:
            if self._owns and not _Exiting.started:
                self._owns = False
                self._backend.release(self._buf)
        except Exception:  # a lost device, or a module torn down at exit
            pass

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
        """True when the data is too large for the backend's memory and is kept on the host."""
        return self._spilled

    def __len__(self) -> int:
        if not self.shape:
            raise TypeError("len() of a 0-d Array")
        return self.shape[0]

    def __repr__(self) -> str:
        where = f"{self.backend}, host memory" if self._spilled else self.backend
        return f"accel.Array(shape={self.shape}, dtype={self.dtype.name}, backend={where})"

    # -- moving it -----------------------------------------------------------------------------
    def numpy(self) -> np.ndarray:
        """A new numpy array with a copy of the data."""
        return self._read(copy=True)

    def __array__(self, dtype: Any = None, copy: bool | None = None) -> np.ndarray:
        if copy is False and not self._backend.host_memory and not self._spilled:
            raise ValueError(f"an Array on {self.backend!r} cannot be read without a copy")
        arr = self._read(copy=bool(copy))
        return arr if dtype is None else arr.astype(dtype, copy=False)

    def _read(self, copy: bool) -> np.ndarray:
        if self._spilled or self._backend.host_memory:
            arr = self._buf.reshape(self.shape)
            return arr.copy() if copy else arr
        out = np.empty(self.shape, self.dtype)
        if self.size:
            b = self._backend
            _dispatch.run_on(b, "download", lambda b: b.download(self._buf, out), count=False)
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

    # -- operators -------------------------------------------------------------------------------
    def __matmul__(self, other: Any) -> Array:
        from ._ops import matmul

        return matmul(self, other)

    def __rmatmul__(self, other: Any) -> Array:
        from ._ops import matmul

        return matmul(other, self)


def _unpickle(data: np.ndarray, backend: str) -> Array:
    return asarray(data, backend=backend)


class _Exiting:
    """Set when the interpreter starts to exit (atexit runs before module teardown)."""

    started = False


def _at_exit() -> None:
    _Exiting.started = True


atexit.register(_at_exit)


def wrap(backend: backends.Backend, buf: Any, shape: tuple[int, ...], dtype: np.dtype) -> Array:
    return Array(backend, buf, shape, dtype)


_new_array = object.__new__


def host_result(backend: backends.Backend, arr: np.ndarray) -> Array:
    """A C-contiguous float ndarray as an Array of a host-memory backend (sharing it), with
    none of __init__'s normalising: placed numpy data and the compiled fast path's results."""
    a = _new_array(Array)
    a._backend = backend
    a._buf = arr
    a._owns = False
    a._spilled = False
    a.shape = arr.shape
    a.dtype = arr.dtype
    return a


def _default_backend(dtype: np.dtype) -> backends.Backend:
    """Where auto would run large work of this dtype."""
    from . import _cost

    names = tuple(n for n in _selection.BACKENDS)
    for _upper, order in _cost.model().segments(names, "matmul", dtype)[-1:]:
        for name in order:
            b = backends.get(name)
            if _dispatch.why_not(b, dtype, for_auto=True) is None:
                return b
    raise AccelError(f"no backend of this machine runs {dtype.name}; see `accel probe`")


def place(x: np.ndarray, b: backends.Backend) -> Array:
    """A C-contiguous, native float ndarray as an Array on backend b (uploaded, counted)."""
    if b.host_memory:
        _host_placed[b.name] = b
        return host_result(b, x)
    if x.nbytes > resident_limit(b, x.dtype):
        return Array(b, x.copy(), x.shape, x.dtype, spilled=True)
    flat = x.reshape(-1)
    if x.size == 0:
        return Array(b, b.empty(0, x.dtype), x.shape, x.dtype)
    buf = _dispatch.run_on(b, "upload", lambda b: b.upload(flat), count=False)
    return Array(b, buf, x.shape, x.dtype)


def resident_limit(b: backends.Backend, dtype: np.dtype) -> int:
    """The largest Array, in bytes, the backend keeps in its own memory."""
    return b.max_elements(dtype) * dtype.itemsize


def asarray(x: Any, *, backend: str | None = None, dtype: Any = None) -> Array:
    """x (anything np.asarray takes, or an Array) as an Array on a backend: `backend=None`
    places it where auto would run large work. dtype: float32 or float64 (default: x's; other
    dtypes raise TypeError). The data is copied, except on cpu, where a C-contiguous array of
    the right dtype may be shared."""
    if backend is not None and dtype is None and type(x) is np.ndarray:
        # the common case on a host-memory backend already placed to: shared, as place() does
        b = _host_placed.get(backend)
        if (b is not None and x.dtype in _FLOATS and x.dtype.isnative and x.flags.c_contiguous
                and x.flags.aligned and backends.loaded(backend) is b):  # fmt: skip
            return host_result(b, x)
    from ._ops import float_array

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
