"""The reductions (sum, mean, max over axes) and the norms (layer_norm, rms_norm over the last
axis), numpy arrays or Arrays in.

A reduction runs as one kernel over a C-contiguous (outer, n, inner) block: where the axes to
reduce are neighbours in x's layout, x is that block as it lies; otherwise (or for a view) x
is first copied on its backend with its kept axes first and the reduced ones last. The kernel
adds in an order that depends on n and inner alone: the same bits on every run, thread count
and process.
"""

from __future__ import annotations

import math
import operator
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np

from . import _dispatch, _optable, backends
from ._array import Array, float_array, own_buffer, place, run_map, strided
from ._calls import (
    array_backend,
    buffer,
    check_out,
    contiguous,
    host_copy,
    kernel_writable,
    result_dtype,
    result_to,
    run_resident,
    spilled,
)
from ._errors import UnsupportedOperationError
from .backends._kernels import Strided

_AxisError = getattr(np, "exceptions", np).AxisError
_COPY = _optable.OPS["copy"].kernel_id
_ACT_NONE = _optable.ACT_NONE
_MEAN = _optable.OPS["mean"].kernel_id
_MAX = _optable.OPS["max"].kernel_id
_SUM = _optable.OPS["sum"].kernel_id
_LAYER = _optable.OPS["layer_norm"].kernel_id


def normalize_axes(axis: Any, ndim: int) -> tuple[int, ...]:
    """axis (None, an int or a sequence of ints) as sorted non-negative axes; numpy's
    AxisError out of range, ValueError for a repeat."""
    if axis is None:
        return tuple(range(ndim))
    items = (axis,) if not isinstance(axis, tuple | list) else tuple(axis)
    axes = []
    for a in items:
        a = operator.index(a)
        if not -ndim <= a < ndim:
            raise _AxisError(a, ndim)
        axes.append(a % ndim if ndim else a)
    if len(set(axes)) != len(axes):
        raise ValueError("duplicate value in 'axis'")
    return tuple(sorted(axes))


def _layout(shape: tuple[int, ...], axes: tuple[int, ...]) -> tuple[int, int, int] | None:
    """(outer, n, inner) where the reduced axes are neighbours in a C-contiguous x; None
    where they are not."""
    if axes and axes[-1] - axes[0] + 1 != len(axes):
        return None
    first = axes[0] if axes else len(shape)
    last = axes[-1] + 1 if axes else len(shape)
    return (math.prod(shape[:first]), math.prod(shape[first:last]), math.prod(shape[last:]))


def _make_reduction(op: _optable.Op) -> Callable[..., Any]:
    def reduction(x: Any, *, axis: Any = None, keepdims: bool = False,
                  backend: str | None = None) -> Any:  # fmt: skip
        b_arr = array_backend((x,), backend)
        xa = x if isinstance(x, Array) else float_array(x, "x")
        dtype, shape = xa.dtype, xa.shape
        axes = normalize_axes(axis, len(shape))
        kept = tuple(d for d in range(len(shape)) if d not in axes)
        out_shape = (tuple(1 if d in axes else shape[d] for d in range(len(shape))) if keepdims
                     else tuple(shape[d] for d in kept))  # fmt: skip
        n = math.prod(shape[d] for d in axes)
        size = math.prod(out_shape)
        if n == 0 or size == 0:
            return _empty(op, out_shape, dtype, size, n, b_arr)
        layout = _layout(shape, axes)
        if b_arr is not None and spilled(x):  # data kept on the host: through it, there
            host = reduction(host_copy(x), axis=axis, keepdims=keepdims, backend=b_arr.name)
            return place(np.ascontiguousarray(host), b_arr)
        if b_arr is not None:
            return _reduce_resident(op, b_arr, xa, axes, kept, layout, out_shape, n, size)
        if layout is None:  # the kept axes first: a C-contiguous (outer, n, 1) block
            xa = np.transpose(xa, kept + axes)
            layout = (size, n, 1)
        xc = contiguous(xa, dtype)
        result = np.empty(out_shape, dtype)
        outer, n_, inner = layout
        _dispatch.run(op.name, dtype, backend, xc.size,
                      lambda b: _host_reduce(b, op.kernel_id, xc, result, outer, n_, inner),
                      shape)  # fmt: skip
        return result[()] if result.ndim == 0 else result

    reduction.__doc__ = (
        f"{op.doc}\n\naxis: None (all), an int or a tuple of ints; keepdims keeps the reduced "
        "axes with length 1. The sum adds in a fixed order (the same bits on every run and "
        "thread count); NaN propagates. numpy in gives numpy out (a numpy scalar for a 0-d "
        "result); an Array gives an Array on its backend."
    )
    return reduction


def _empty(op: _optable.Op, out_shape: tuple[int, ...], dtype: np.dtype, size: int, n: int,
           b: backends.Backend | None) -> Any:  # fmt: skip
    """A reduction over nothing, or to nothing: numpy's answers (max over an empty axis
    raises, even to an empty result)."""
    if op.kernel_id == _MAX and n == 0:
        raise ValueError(
            "zero-size array to reduction operation max which has no identity"
        )
    fill = 0.0
    if op.kernel_id == _MEAN and size:
        warnings.warn("Mean of empty slice", RuntimeWarning, stacklevel=3)
        fill = np.nan
    result = np.full(out_shape, fill, dtype)
    if b is not None:
        return place(result, b)
    return result[()] if result.ndim == 0 else result


def _host_reduce(b: backends.Backend, kid: int, x: np.ndarray, result: np.ndarray, outer: int,
                 n: int, inner: int) -> None:  # fmt: skip
    mem, dtype = b.memory, x.dtype
    if mem.host:
        b.kernels.reduce(kid, x, result, outer, n, inner, dtype)
        return
    limit = mem.max_elements(dtype)
    if 2 * n * inner > limit and 8 * inner > limit:  # many outputs per row: bands of them
        width = max(1, limit // 16)
        rows = x.reshape(outer, n, inner)
        for j0 in range(0, inner, width):
            piece = np.ascontiguousarray(rows[:, :, j0 : j0 + width])
            part = np.empty((outer, piece.shape[2]), dtype)
            _host_reduce(b, kid, piece, part, outer, n, piece.shape[2])
            result.reshape(outer, inner)[:, j0 : j0 + width] = part
        return
    if 2 * n * inner > limit:  # one output reads more than fits: parts of n, then their
        # results reduced in order (a sum of sums; a mean as a sum, divided once)
        step = max(1, limit // (4 * inner))
        parts = -(-n // step)
        partial = np.empty((parts, outer, inner), dtype)
        kid_part = _MAX if kid == _MAX else _SUM
        for i, p0 in enumerate(range(0, n, step)):
            piece = np.ascontiguousarray(x.reshape(outer, n, inner)[:, p0 : p0 + step])
            _host_reduce(b, kid_part, piece, partial[i], outer, piece.shape[1], inner)
        ordered = np.ascontiguousarray(partial.transpose(1, 0, 2))
        _host_reduce(b, kid_part, ordered, result, outer, parts, inner)
        if kid == _MEAN:  # (one division per output, on the host)
            result[...] = result / dtype.type(n)
        return
    # in bands of whole outputs where the whole would not fit the backend's memory
    per = n * inner + inner
    band = max(1, limit // per)
    xs, ys = x.reshape(outer, n * inner), result.reshape(outer, inner)
    for o0 in range(0, outer, band):
        piece = np.ascontiguousarray(xs[o0 : o0 + band])
        rows = piece.shape[0]
        y = mem.alloc(rows * inner, dtype)
        b.kernels.reduce(kid, mem.upload(piece.reshape(-1)), y, rows, n, inner, dtype)
        mem.download(y, ys[o0 : o0 + band].reshape(-1))


def _unfit(b: backends.Backend, n: int) -> Exception:
    return UnsupportedOperationError(
        f"a row of {n} elements is more than a quarter of what backend {b.name!r} holds at "
        "once; run it on cpu"
    )


def _reduce_resident(op: _optable.Op, b: backends.Backend, x: Array, axes: tuple[int, ...],
                     kept: tuple[int, ...], layout: tuple[int, int, int] | None,
                     out_shape: tuple[int, ...], n: int, size: int) -> Any:  # fmt: skip
    dtype = x.dtype

    def kernel(be: backends.Backend, y: Any) -> None:
        lay = layout
        if lay is None or x.is_view:  # copied with the kept axes first, the reduced last
            order = kept + axes if lay is None else tuple(range(x.ndim))
            s = strided(x)
            src = Strided(s.buf, s.offset, tuple(s.strides[d] for d in order))
            held = be.memory.alloc(x.size, dtype)
            run_map(be, _COPY, _ACT_NONE, (src,), held, 0,
                    tuple(x.shape[d] for d in order), dtype)  # fmt: skip
            lay = (size, n, 1) if lay is None else lay
        else:
            held = own_buffer(x)
        be.kernels.reduce(op.kernel_id, held, y, *lay, dtype)

    return run_resident(b, op.name, out_shape, dtype, None, (x,), x.size, kernel)


# ---------------------------------------------------------------------------------------------
# norms


def _make_norm(op: _optable.Op) -> Callable[..., Any]:
    eps_default = float(op.defaults["eps"])
    if op.kernel_id == _LAYER:

        def layer_norm(x: Any, weight: Any = None, bias: Any = None, *, eps: float = eps_default,
                       backend: str | None = None, out: Any = None) -> Any:  # fmt: skip
            return norm_call(op, x, weight, bias, eps, backend, out)

        fn = layer_norm
    else:

        def rms_norm(x: Any, weight: Any = None, *, eps: float = eps_default,
                     backend: str | None = None, out: Any = None) -> Any:  # fmt: skip
            return norm_call(op, x, weight, None, eps, backend, out)

        fn = rms_norm
    fn.__doc__ = (
        f"{op.doc}\n\nOver the last axis of x (..., C); weight and bias are None or of shape "
        "(C,). The sums run in a fixed order (the same bits on every run). numpy in gives numpy "
        "out; an Array gives an Array on its backend; `out=` as for the other ops."
    )
    return fn


def norm_call(op: _optable.Op, x: Any, weight: Any, bias: Any, eps: float,
              backend: str | None, out: Any) -> Any:  # fmt: skip
    b_arr = array_backend((x, weight, bias, out), backend)
    xa = x if isinstance(x, Array) else float_array(x, "x")
    if xa.ndim == 0:
        raise ValueError(f"{op.name}: x must have at least one dimension (..., C)")
    cols = xa.shape[-1]
    params = []
    for what, p in (("weight", weight), ("bias", bias)):
        if p is None:
            params.append(None)
            continue
        pa = p if isinstance(p, Array) else float_array(p, what)
        if pa.shape != (cols,):
            raise ValueError(
                f"{op.name}: {what} must have shape ({cols},) to match x {xa.shape}; it has "
                f"shape {pa.shape}"
            )
        params.append(pa)
    eps = float(eps)
    if not eps >= 0:
        raise ValueError(f"{op.name}: eps must be a number >= 0, not {eps!r}")
    dtype = result_dtype(xa.dtype, *(p.dtype for p in params if p is not None))
    shape = xa.shape
    if out is not None:
        check_out(out, shape, dtype)
    rows = math.prod(shape[:-1])
    w, bb = params
    if b_arr is not None:
        arrays = [a for a in (xa, w, bb) if isinstance(a, Array)]
        if spilled(x, weight, bias, out) or any(a.dtype != dtype for a in arrays):
            host = norm_call(op, host_copy(x), host_copy(weight), host_copy(bias), eps,
                             b_arr.name, None)  # fmt: skip
            return result_to(b_arr, np.asarray(host), out)

        def kernel(be: backends.Backend, y: Any) -> None:
            be.kernels.norm(op.kernel_id, buffer(be, xa, dtype), y, rows, cols,
                            None if w is None else buffer(be, w, dtype),
                            None if bb is None else buffer(be, bb, dtype), eps, dtype)  # fmt: skip

        return run_resident(b_arr, op.name, shape, dtype, out, (xa, w, bb), xa.size, kernel)
    xc = contiguous(xa, dtype)
    wc = None if w is None else contiguous(w, dtype)
    bc = None if bb is None else contiguous(bb, dtype)
    overlap = out is not None and np.may_share_memory(out, xa)
    target = out if out is not None and kernel_writable(out) and not overlap else np.empty(
        shape, dtype)  # fmt: skip
    if xa.size:
        _dispatch.run(op.name, dtype, backend, xa.size,
                      lambda b: _host_norm(b, op.kernel_id, xc, target, rows, cols, wc, bc, eps),
                      shape)  # fmt: skip
    if out is not None and target is not out:
        out[...] = target
    return out if out is not None else target


def _host_norm(b: backends.Backend, kid: int, x: np.ndarray, y: np.ndarray, rows: int,
               cols: int, w: np.ndarray | None, bias: np.ndarray | None,
               eps: float) -> None:  # fmt: skip
    mem, dtype = b.memory, x.dtype
    if mem.host:
        b.kernels.norm(kid, x, y, rows, cols, w, bias, eps, dtype)
        return
    limit = mem.max_elements(dtype) - 2 * cols
    if 2 * cols > limit:
        raise _unfit(b, cols)
    band = max(1, limit // (2 * cols))
    wb = None if w is None else mem.upload(w)
    bb = None if bias is None else mem.upload(bias)
    xs, ys = x.reshape(rows, cols), y.reshape(rows, cols)
    for r0 in range(0, rows, band):
        piece = np.ascontiguousarray(xs[r0 : r0 + band])
        buf = mem.upload(piece.reshape(-1))
        b.kernels.norm(kid, buf, buf, piece.shape[0], cols, wb, bb, eps, dtype)
        mem.download(buf, ys[r0 : r0 + band].reshape(-1))


MAKERS = {"reduction": _make_reduction, "norm": _make_norm}
