"""The shape ops: reshape, permute_dims, matrix_transpose, concat, and basic indexing, with the
Array methods over them (.reshape, .T, .mT, arr[...]).

On an Array, reshape, permute_dims, matrix_transpose and indexing make a view where they can
(an Array over its base's buffer at an offset and strides: no data moves, no kernel runs) and
otherwise a copy on the same backend; nothing crosses to the host. Ops read views in place
where their kernels take strides (the map ops, matmul's transposed B) and copy them on the
backend first elsewhere. numpy arrays in give numpy's own views.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from . import _dispatch, _optable, backends
from ._array import (
    Array,
    View,
    broadcast_strides,
    c_strides,
    float_array,
    own_buffer,
    place,
    run_map,
    strided,
    wrap,
)
from ._calls import array_backend, result_dtype
from .backends._kernels import Strided

_COPY = _optable.OPS["copy"].kernel_id
_AxisError = getattr(np, "exceptions", np).AxisError
_ACT_NONE = _optable.ACT_NONE


def _reshaped(shape: tuple[int, ...], target: tuple[int, ...]) -> tuple[int, ...]:
    """target with its -1 (at most one) inferred: numpy's rules and errors for a reshape of an
    array of `shape`."""
    size = math.prod(shape)
    unknown = [i for i, n in enumerate(target) if n < 0]
    known = math.prod(n for n in target if n >= 0)
    if len(unknown) > 1 or any(n < -1 for n in target):
        raise ValueError("can only specify one unknown dimension" if len(unknown) > 1 else
                         f"negative dimensions not allowed: {target}")  # fmt: skip
    if unknown and known and size % known == 0:
        return tuple(size // known if n < 0 else n for n in target)
    if not unknown and known == size:
        return target
    raise ValueError(f"cannot reshape array of size {size} into shape {target}")


def view_of(x: Array, shape: tuple[int, ...], offset: int, strides: tuple[int, ...],
            s: Strided | None = None) -> Array:  # fmt: skip
    """An Array over x's data at (offset, strides) of its base: x itself where that is x.
    s: strided(x), where the caller has it."""
    s = strided(x) if s is None else s
    if offset == s.offset and shape == x.shape and strides == s.strides:
        return x
    if not x.is_view and offset == 0 and shape == x.shape and strides == c_strides(shape):
        return x
    return wrap(x._backend, View(s.buf, offset, tuple(strides)), tuple(shape), x.dtype)


def _contiguous_view(x: Array) -> bool:
    """Whether x's elements lie in order, one after the other (size-1 axes aside)."""
    s = strided(x)
    return all(st == c or n == 1 for n, st, c in zip(x.shape, s.strides, c_strides(x.shape),
                                                        strict=True))  # fmt: skip


def _copy(x: Array) -> Array:
    """A new Array that owns a copy of x's data, on x's backend."""
    b = x._backend
    if x.is_view and x.size:  # a view's copy: the compiled path's copy where it takes it
        return wrap(b, own_buffer(x), x.shape, x.dtype)
    out = b.memory.alloc(x.size, x.dtype)
    if x.size:
        src = strided(x)
        _dispatch.run_on(b, "copy", lambda be: run_map(be, _COPY, _ACT_NONE, (src,), out, 0,
                                                       x.shape, x.dtype))  # fmt: skip
    return wrap(b, out, x.shape, x.dtype)


def broadcast_copy(x: Array, shape: tuple[int, ...]) -> Array:
    """A new Array of `shape` holding x broadcast to it (numpy's rules), on x's backend."""
    b = x._backend
    out = b.memory.alloc(math.prod(shape), x.dtype)
    s = strided(x)
    src = Strided(s.buf, s.offset, broadcast_strides(x.shape, s.strides, shape))
    if math.prod(shape):
        _dispatch.run_on(b, "copy", lambda be: run_map(be, _COPY, _ACT_NONE, (src,), out, 0,
                                                       shape, x.dtype))  # fmt: skip
    return wrap(b, out, shape, x.dtype)


# ---------------------------------------------------------------------------------------------
# reshape, permute_dims, matrix_transpose


def _new_shape(shape: Any) -> tuple[int, ...]:
    if isinstance(shape, int | np.integer):
        return (operator.index(shape),)
    return tuple(operator.index(n) for n in shape)


def reshape(x: Any, shape: Any, *, copy: bool | None = None) -> Any:
    """x with a new shape of the same size (one axis may be -1: inferred). On an Array: a view
    where its data lies in order, else a copy on its backend (copy=True always copies,
    copy=False raises ValueError where a copy is needed). numpy in gives numpy's reshape."""
    target = _new_shape(shape)
    if not isinstance(x, Array):
        arr = float_array(x, "x")
        if copy is False and not arr.flags.c_contiguous and arr.size > 1:
            raise ValueError("reshape: this array cannot be reshaped without a copy")
        out = np.reshape(arr, target)
        return out.copy() if copy else out
    new = _reshaped(x.shape, target)
    if copy:
        x = _copy(x)
    elif x.is_view and not _contiguous_view(x):
        if copy is False:
            raise ValueError("reshape: this view's data is not in order: it needs a copy")
        x = _copy(x)
    if not x.is_view:  # (an Array that owns its buffer is in order)
        return wrap(x._backend, x._buf, new, x.dtype)
    s = strided(x)
    return view_of(x, new, s.offset, c_strides(new), s)


def permute_dims(x: Any, axes: Sequence[int]) -> Any:
    """x with its axes in the order `axes` (a permutation of range(x.ndim)): a view."""
    if not isinstance(x, Array):
        return np.transpose(float_array(x, "x"), tuple(axes))
    ndim = x.ndim
    order = tuple(operator.index(a) for a in axes)
    if len(order) != ndim:
        raise ValueError("axes don't match array")
    for a in order:
        if not -ndim <= a < ndim:
            raise _AxisError(a, ndim)
    order = tuple(a % ndim for a in order)
    if len(set(order)) != ndim:
        raise ValueError("repeated axis in transpose")
    shape = tuple(x.shape[a] for a in order)
    s = strided(x)
    return view_of(x, shape, s.offset, tuple(s.strides[a] for a in order), s)


def matrix_transpose(x: Any) -> Any:
    """x with its last two axes swapped (x.mT): a view. x needs two dimensions or more."""
    ndim = x.ndim if isinstance(x, Array) else np.ndim(x)
    if ndim < 2:
        raise ValueError(f"matrix_transpose needs an array of 2 or more dimensions; x has {ndim}")
    axes = (*range(ndim - 2), ndim - 1, ndim - 2)
    return permute_dims(x, axes)


# ---------------------------------------------------------------------------------------------
# indexing


def _index(k: Any) -> int | None:
    """An int index (Python or numpy integer; not a bool), or None for anything else."""
    if isinstance(k, bool | np.bool_) or not isinstance(k, int | np.integer):
        return None
    return int(k)


def getitem(x: Array, key: Any) -> Array:
    """x[key] for basic indexing (ints, slices with steps, Ellipsis, None), numpy's rules and
    errors: a view on x's backend (a 0-d Array for an element)."""
    items = key if isinstance(key, tuple) else (key,)
    real = 0
    ellipses = 0
    for k in items:
        if k is Ellipsis:
            ellipses += 1
        elif k is not None:
            if not isinstance(k, slice) and _index(k) is None:
                raise TypeError(
                    "accel.Array takes basic indexing only (ints, slices with steps, ..., None), "
                    f"not {type(k).__name__}; for other indexing, use numpy on arr.numpy()"
                )
            real += 1
    if ellipses > 1:
        raise IndexError("an index can only have a single ellipsis ('...')")
    if real > x.ndim:
        raise IndexError(
            f"too many indices for array: array is {x.ndim}-dimensional, but {real} were indexed"
        )
    s = strided(x)
    offset, shape, strides, d = s.offset, [], [], 0
    rest = x.ndim - real
    for k in (*items, *(() if ellipses else (Ellipsis,))):
        if k is None:
            shape.append(1)
            strides.append(0)
        elif k is Ellipsis:
            shape.extend(x.shape[d : d + rest])
            strides.extend(s.strides[d : d + rest])
            d += rest
        elif isinstance(k, slice):
            n, step = x.shape[d], s.strides[d]
            start, stop, by = k.indices(n)
            length = len(range(start, stop, by))
            if length:
                offset += start * step
            shape.append(length)
            strides.append(step * by)
            d += 1
        else:
            i, n = _index(k), x.shape[d]
            if not -n <= i < n:
                raise IndexError(f"index {i} is out of bounds for axis {d} with size {n}")
            offset += (i % n) * s.strides[d]
            d += 1
    return wrap(x._backend, View(s.buf, offset, tuple(strides)), tuple(shape), x.dtype)


# ---------------------------------------------------------------------------------------------
# concat


def concat(arrays: Sequence[Any], *, axis: int | None = 0, backend: str | None = None) -> Any:
    """The arrays joined along an existing axis (axis=None: each flattened first). Arrays give
    an Array on their backend (numpy operands uploaded for it); numpy arrays give numpy, the
    copies made by the selection's backend."""
    if isinstance(arrays, Array | np.ndarray) or not isinstance(arrays, Sequence):
        raise TypeError("concat takes a sequence (list or tuple) of arrays")
    if not arrays:
        raise ValueError("concat needs at least one array")
    b_arr = array_backend(tuple(arrays), backend)
    vals = [a if isinstance(a, Array) else float_array(a, f"arrays[{i}]")
            for i, a in enumerate(arrays)]  # fmt: skip
    if axis is None:
        vals = [reshape(v, (-1,)) for v in vals]
        axis = 0
    ndim = vals[0].ndim
    if ndim == 0:
        raise ValueError("concat: zero-dimensional arrays cannot be concatenated")
    for v in vals:
        if v.ndim != ndim:
            raise ValueError(
                "concat: all the arrays must have the same number of dimensions; got "
                + ", ".join(str(u.ndim) for u in vals)
            )
    ax = operator.index(axis)
    if not -ndim <= ax < ndim:
        raise getattr(np, "exceptions", np).AxisError(ax, ndim)
    ax %= ndim
    first = vals[0].shape
    for v in vals[1:]:
        if v.shape[:ax] != first[:ax] or v.shape[ax + 1 :] != first[ax + 1 :]:
            raise ValueError(
                f"concat: the shapes {first} and {v.shape} differ outside axis {ax}"
            )
    dtype = result_dtype(*(v.dtype for v in vals))
    shape = (*first[:ax], sum(v.shape[ax] for v in vals), *first[ax + 1 :])
    n = math.prod(shape)
    if b_arr is not None:
        if any(isinstance(v, Array) and (v.dtype != dtype or v.spilled) for v in vals):
            host = concat([v.numpy() if isinstance(v, Array) else v for v in vals], axis=ax,
                          backend=b_arr.name)  # fmt: skip
            return place(host, b_arr)
        return _dispatch.run(
            "concat", dtype, b_arr.name, n, lambda b: _concat_on(b, vals, ax, shape, dtype), shape
        )
    result = np.empty(shape, dtype)
    if n:

        def call(b: backends.Backend) -> None:
            placed = [place(np.ascontiguousarray(v, dtype), b) for v in vals]
            made = _concat_on(b, placed, ax, shape, dtype)
            result[...] = made.numpy()

        _dispatch.run("concat", dtype, backend, n, call, shape)
    return result


def _concat_on(b: backends.Backend, vals: list[Any], ax: int, shape: tuple[int, ...],
               dtype: np.dtype) -> Array:  # fmt: skip
    """The join on backend b: each part copied into its slab of a result laid out with the
    axis first (where each part's slab is contiguous), then that put back in order."""
    n = math.prod(shape)
    out = b.memory.alloc(n, dtype)
    moved_shape = (shape[ax], *shape[:ax], *shape[ax + 1 :])
    per = math.prod(moved_shape[1:])
    at = 0
    for v in vals:
        if not isinstance(v, Array):
            v = place(np.ascontiguousarray(v, dtype), b)
        part = (v.shape[ax], *v.shape[:ax], *v.shape[ax + 1 :])
        if math.prod(part):
            s = strided(v)
            order = (ax, *range(ax), *range(ax + 1, v.ndim))
            src = Strided(s.buf, s.offset, tuple(s.strides[d] for d in order))
            run_map(b, _COPY, _ACT_NONE, (src,), out, at * per, part, dtype)
        at += v.shape[ax]
    joined = wrap(b, out, moved_shape, dtype)
    if ax == 0:
        return joined
    back = permute_dims(joined, (*range(1, ax + 1), 0, *range(ax + 1, len(shape))))
    return wrap(b, own_buffer(back), shape, dtype)


# ---------------------------------------------------------------------------------------------
# the public functions and the Array methods


def _array_reshape(self: Array, *shape: Any, copy: bool | None = None) -> Array:
    """The Array with a new shape (arr.reshape(2, 3) or arr.reshape((2, 3)))."""
    target = shape[0] if len(shape) == 1 else shape
    return reshape(self, target, copy=copy)


def _transpose(self: Array) -> Array:
    if self.ndim != 2:
        raise ValueError(
            f"Array.T is for 2-D Arrays (this one has {self.ndim} dimensions): use .mT or "
            "accel.permute_dims"
        )
    return matrix_transpose(self)


def install() -> None:
    """The Array methods over these ops."""
    Array.reshape = _array_reshape  # type: ignore[attr-defined]
    Array.T = property(_transpose, doc="The transpose of a 2-D Array (a view).")  # type: ignore[attr-defined]
    Array.mT = property(matrix_transpose, doc="The last two axes swapped (a view).")  # type: ignore[attr-defined]
    Array.__getitem__ = getitem  # type: ignore[attr-defined]


FUNCTIONS: dict[str, Callable[..., Any]] = {
    "reshape": reshape,
    "permute_dims": permute_dims,
    "matrix_transpose": matrix_transpose,
    "concat": concat,
}
MAKERS = {"shape": lambda op: FUNCTIONS[op.name]}
