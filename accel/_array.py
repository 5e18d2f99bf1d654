"""`accel.Array`: data kept on one backend, and `accel.asarray`, which puts it there.

An Array is a buffer of one backend (an ndarray of the Array's shape on cpu, a block of the
simd module's linear memory, a leased GPU buffer) with a shape and a dtype, or a `View` of
one: a slice, a transpose or a reshape that reads its base's buffer in place at an offset and
strides (in elements). The buffer owns the memory: it goes back to the backend when the last
Array, view or call holding it goes. Ops whose inputs are Arrays run on that backend,
strictly, and return Arrays there (accel._ops); data moves only when asked: `.numpy()`,
`np.asarray(arr)`, `.to(backend)`. An Array too large for its backend's memory (a GPU
binding, the 4 GiB of a WebAssembly memory) is kept in host memory instead (`spilled`): ops on
it still run on that backend, streaming it through as they would a numpy array.

The compiled fast path makes and reads Arrays too (accel._fast.configure_arrays): their slots
are the contract between the two. It takes only Arrays whose buffer is the backend's own
(a View is not), so a view always takes the Python route.
"""

from __future__ import annotations

import functools
import math
import threading
import weakref
from typing import Any

import numpy as np

from . import _cost, _dispatch, _fast, _selection, backends
from ._errors import AccelError
from ._optable import ACT_NONE, OPS
from .backends._kernels import MAP_DIMS, Strided

_F32 = np.dtype(np.float32)
_F64 = np.dtype(np.float64)
_FLOATS = (_F32, _F64)


class View:
    """Part of a buffer read in place: `base` (a buffer the backend owns, flat), the element
    where the view starts in it, and its strides in elements over the Array's shape."""

    __slots__ = ("base", "offset", "strides")

    def __init__(self, base: Any, offset: int, strides: tuple[int, ...]) -> None:
        self.base = base
        self.offset = offset
        self.strides = strides


class Pending:
    """The buffer of an Array whose elementwise work is recorded but not yet run (gpu): an
    expression over at most a few operands (`leaves`, Strided over `shape`), run as one fused
    kernel when something needs the data (`real`), so that a chain of elementwise ops costs
    one dispatch. tree: ("leaf", i) | ("num", i, value) | ("map", kernel id, children) |
    ("act", activation id, child)."""

    __slots__ = ("__weakref__", "backend", "buf", "dtype", "leaves", "shape", "tree")

    def __init__(self, backend: Any, tree: tuple, leaves: list[Strided],
                 shape: tuple[int, ...], dtype: np.dtype) -> None:  # fmt: skip
        self.backend, self.tree, self.leaves = backend, tree, leaves
        self.shape, self.dtype, self.buf = shape, dtype, None
        _pending.add(self)

    def force(self) -> Any:
        """The buffer, the fused kernel run into it first if it has not run yet."""
        with _pending_lock:
            if self.buf is None:
                b, shape, dtype = self.backend, self.shape, self.dtype
                out = b.memory.alloc(math.prod(shape), dtype)
                if math.prod(shape):
                    # dimensions that every operand walks as one, merged
                    merged = _collapse(shape, c_strides(shape), *(s.strides for s in self.leaves))
                    leaves = [Strided(s.buf, s.offset, st)
                              for s, st in zip(self.leaves, merged[2:], strict=True)]  # fmt: skip
                    _dispatch.run_on(b, "fused", lambda be: be.kernels.fused(
                        self.tree, leaves, out, merged[0], dtype), count=False)  # fmt: skip
                self.buf = out
                self.leaves = []  # what it read may go now
                _pending.discard(self)
            return self.buf


_pending: weakref.WeakSet[Pending] = weakref.WeakSet()
_pending_lock = threading.RLock()


def real(x: Array) -> Any:
    """x's buffer with any recorded elementwise work run into it (Pending), else as it is."""
    buf = x._buf
    if isinstance(buf, Pending):
        buf = buf.force()
        x._buf = buf
    return buf


def before_write(buf: Any) -> None:
    """A kernel is about to write buf: the recorded work that reads it runs first."""
    with _pending_lock:
        readers = [p for p in list(_pending) if any(leaf.buf is buf for leaf in p.leaves)]
    for p in readers:
        p.force()


@functools.lru_cache(maxsize=1024)
def c_strides(shape: tuple[int, ...]) -> tuple[int, ...]:
    """The strides in elements of a C-contiguous array of this shape (shapes repeat: kept)."""
    strides, step = [], 1
    for n in reversed(shape):
        strides.append(step)
        step *= max(n, 1)
    return tuple(reversed(strides))


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
        host = (spilled or backend.memory.host) and not isinstance(buf, View)
        self._buf = buf.reshape(self.shape) if host else buf
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

    @property
    def is_view(self) -> bool:
        """True when the Array reads another Array's buffer at an offset and strides (a slice
        or a transpose); such an Array cannot be an op's out=."""
        return isinstance(self._buf, View)

    def in_host_memory(self) -> bool:
        """Whether the buffer is an ndarray in the host's memory (cpu, or spilled)."""
        if isinstance(self._buf, Pending):
            return False
        buf = self._buf.base if isinstance(self._buf, View) else self._buf
        return self._backend.memory.host or isinstance(buf, np.ndarray)

    def host_view(self) -> np.ndarray:
        """The data as an ndarray of the Array's shape, without a copy (host memory only)."""
        buf = self._buf
        if isinstance(buf, View):
            size = self.dtype.itemsize
            return np.ndarray(self.shape, self.dtype, buffer=buf.base.reshape(-1),
                              offset=buf.offset * size,
                              strides=tuple(s * size for s in buf.strides))  # fmt: skip
        return buf.reshape(self.shape)

    def _read(self, copy: bool) -> np.ndarray:
        real(self)
        if self.in_host_memory():
            arr = self.host_view()
            return arr.copy() if copy or self.is_view else arr
        out = np.empty(self.shape, self.dtype)
        if self.size:
            buf = own_buffer(self)
            memory = self._backend.memory
            _dispatch.run_on(self._backend, "download", lambda b: memory.download(buf, out),
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
    a._buf = buf.reshape(shape) if backend.memory.host and not isinstance(buf, View) else buf
    a.shape = shape
    a.dtype = dtype
    return a


_fast.configure_arrays(Array, wrap, View)


def strided(x: Array) -> Strided:
    """x's data where it lies: its buffer (a view's base), offset and strides in elements."""
    buf = real(x)
    if isinstance(buf, View):
        return Strided(buf.base, buf.offset, buf.strides)
    return Strided(buf, 0, c_strides(x.shape))


def broadcast_strides(shape: tuple[int, ...], strides: tuple[int, ...],
                      to: tuple[int, ...]) -> tuple[int, ...]:  # fmt: skip
    """An operand's strides over the shape it is broadcast to: 0 where it repeats."""
    lead = len(to) - len(shape)
    pairs = zip(shape, to[lead:], strides, strict=True)
    return (0,) * lead + tuple(0 if n == 1 and m != 1 else s for n, m, s in pairs)


def base_buffer(x: Array) -> Any:
    """The buffer that owns x's memory (a view's base)."""
    buf = real(x)
    return buf.base if isinstance(buf, View) else buf


def _collapse(shape: tuple[int, ...], *strides: tuple[int, ...]) -> tuple[tuple[int, ...], ...]:
    """shape and strides with the dimensions of size 1 dropped and each pair of neighbours
    that every operand walks as one (stride[d] == stride[d+1] * shape[d+1]) merged: the same
    elements in the same order, in as few dimensions as can be."""
    dims = [(n, [s[d] for s in strides]) for d, n in enumerate(shape) if n != 1]
    merged: list[tuple[int, list[int]]] = []
    for n, ss in dims:
        if merged:
            pn, ps = merged[-1]
            if all(p == q * n for p, q in zip(ps, ss, strict=True)):
                merged[-1] = (pn * n, ss)
                continue
        merged.append((n, ss))
    if not merged:
        merged = [(1, [0] * len(strides))]
    return (tuple(n for n, _ in merged), *(tuple(ss[i] for _, ss in merged)
                                            for i in range(len(strides))))  # fmt: skip


def run_map(b: backends.Backend, op: int, act: int, operands: tuple[Any, ...], y: Any,
            y_offset: int, shape: tuple[int, ...], dtype: np.dtype) -> None:  # fmt: skip
    """y[y_offset:] = act(op(*operands)) over shape on backend b: each operand a Strided
    (strides over shape), a float, or None; dimensions merged where they can be, and a shape
    of more than MAP_DIMS dimensions run as several calls over its leading ones."""
    strided_ops = [o for o in operands if isinstance(o, Strided)]
    merged = _collapse(shape, c_strides(shape), *(o.strides for o in strided_ops))
    shape, rest = merged[0], list(merged[2:])
    ops = []
    for o in operands:
        ops.append(Strided(o.buf, o.offset, rest.pop(0)) if isinstance(o, Strided) else o)
    extra = len(shape) - MAP_DIMS
    if extra <= 0:
        b.kernels.map(op, act, ops[0], ops[1] if len(ops) > 1 else None, y, shape, dtype,
                      y_offset)  # fmt: skip
        return
    lead, inner = shape[:extra], shape[extra:]
    per = math.prod(inner)
    for i, index in enumerate(np.ndindex(*lead)):
        moved = [Strided(o.buf, o.offset + sum(j * s for j, s in zip(index, o.strides[:extra],
                                                                      strict=True)),
                         o.strides[extra:]) if isinstance(o, Strided) else o
                 for o in ops]  # fmt: skip
        b.kernels.map(op, act, moved[0], moved[1] if len(moved) > 1 else None, y, inner, dtype,
                      y_offset + i * per)  # fmt: skip


_COPY = OPS["copy"].kernel_id


def own_buffer(x: Array) -> Any:
    """x's data as a C-contiguous buffer of its backend: its own, or a view's copied there (an
    op on the backend, not a transfer)."""
    buf = real(x)
    if not isinstance(buf, View):
        return buf
    copy = _fast.builtin("copy")
    if copy is not None and x.size:  # (the compiled fast path takes it on cpu and simd)
        return real(copy(x))
    b = x._backend
    out = b.memory.alloc(x.size, x.dtype)
    if x.size:
        view = Strided(buf.base, buf.offset, buf.strides)
        _dispatch.run_on(b, "copy", lambda be: run_map(be, _COPY, ACT_NONE, (view,), out, 0,
                                                       x.shape, x.dtype))  # fmt: skip
    return out


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


def asarray(x: Any, *, backend: str | None = None, dtype: Any = None,
            copy: bool | None = None) -> Array:
    """x (anything np.asarray takes, or an Array) as an Array on a backend: `backend=None`
    places it where auto would run large work. dtype: float32 or float64 (default: x's; other
    dtypes raise TypeError). copy, as the Array API's: True always copies; False never does
    (ValueError where it must: another backend or dtype, or numpy data for a backend with
    memory of its own); None copies only where it must (on cpu, a C-contiguous ndarray of
    the right dtype is then shared)."""
    if dtype is not None:
        float_array(np.empty(0, dtype), "dtype")  # TypeError for a non-float dtype
    if isinstance(x, Array):
        same_dtype = dtype is None or np.dtype(dtype) == x.dtype
        if backend is not None and not _selection.parse(backend).strict:
            raise ValueError(f"asarray takes one backend name, not {backend!r}")
        here = backend is None or _selection.parse(backend).names[0] == x.backend
        if here and same_dtype:
            if copy:
                return _copy_array(x)
            return x
        if copy is False:
            raise ValueError(
                "asarray(copy=False): the Array is on another backend or of another dtype; "
                "a copy is needed"
            )
        data = x.numpy() if same_dtype else x.numpy().astype(dtype)
        return asarray(data, backend=backend or x.backend)
    arr = float_array(x if dtype is None else np.asarray(x, dtype=dtype), "x")
    if backend is None:
        b = _default_backend(arr.dtype)
    else:
        sel = _selection.parse(backend)
        if not sel.strict:
            raise ValueError(f"asarray takes one backend name, not {backend!r}")
        b = _dispatch.strict_backend(sel.names[0], "asarray", arr.dtype)
    shared = (isinstance(x, np.ndarray) and np.may_share_memory(arr, x)
              and arr.flags.c_contiguous and arr.flags.aligned)  # fmt: skip
    if copy is False and not (b.memory.host and shared):
        raise ValueError(
            f"asarray(copy=False): placing this data on {b.name!r} needs a copy (a backend with "
            "memory of its own, or data that is not a C-contiguous array of the dtype)"
        )
    if copy or not (arr.flags.c_contiguous and arr.flags.aligned):
        arr = arr.copy(order="C")  # (np.ascontiguousarray would make a 0-d array 1-d)
    return place(arr, b)


def _copy_array(x: Array) -> Array:
    """A new Array owning a copy of x's data, on its backend."""
    b = x._backend
    if x.in_host_memory() and not b.memory.host:  # spilled: kept on the host
        return Array(b, x.host_view().copy(), x.shape, x.dtype, spilled=True)
    out = b.memory.alloc(x.size, x.dtype)
    if x.size:
        view = strided(x)
        _dispatch.run_on(b, "copy", lambda be: run_map(be, _COPY, ACT_NONE, (view,), out, 0,
                                                       x.shape, x.dtype))  # fmt: skip
    return wrap(b, out, x.shape, x.dtype)
