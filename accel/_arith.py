"""The map ops: negative and the binary arithmetic (add, subtract, multiply, divide, maximum,
minimum) over operands broadcast as numpy does, each one kernel call per backend that reads
its operands in place at their strides (a broadcast operand at stride 0, a view at its own),
and writes a C-contiguous result.

An operand is an Array, anything np.asarray takes, or a Python number, which takes the dtype
of the array operands (numpy 2's rule: `x32 * 0.5` is float32) and reaches the kernel as a
value, not as data: a constant in a network moves nothing.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

from . import _dispatch, _optable, backends
from ._array import (
    Array,
    Pending,
    broadcast_strides,
    float_array,
    place,
    run_map,
    strided,
    wrap,
)
from ._calls import (
    array_backend,
    check_out,
    contiguous,
    host_copy,
    kernel_writable,
    result_dtype,
    result_to,
    run_resident,
    spilled,
)
from .backends._kernels import MAP_DIMS, Strided, tree_numbers

_ACT_NONE = _optable.ACT_NONE


def python_number(x: object) -> bool:
    """A Python int or float (bool included), not a numpy scalar: numpy 2 gives it the
    dtype of the array it meets."""
    return isinstance(x, int | float) and not isinstance(x, np.generic)


def _numpy_strided(x: np.ndarray, shape: tuple[int, ...]) -> Strided | None:
    """A host ndarray read in place over shape, or None where its strides are not whole
    elements."""
    size = x.dtype.itemsize
    if any(s % size for s in x.strides):
        return None
    return Strided(x, 0, broadcast_strides(x.shape, tuple(s // size for s in x.strides), shape))


def _operands(args: tuple[object, ...]) -> list[Any]:
    """Each argument as an Array, a float ndarray or a float (a Python number)."""
    vals: list[Any] = []
    for i, x in enumerate(args):
        if isinstance(x, Array):
            vals.append(x)
        elif python_number(x):
            vals.append(float(x))
        else:
            vals.append(float_array(x, f"x{i + 1}" if len(args) > 1 else "x"))
    if all(isinstance(v, float) for v in vals):  # numbers only: as numpy, float64
        vals = [np.asarray(v, np.float64) for v in vals]
    return vals


def map_call(op: _optable.Op, args: tuple[object, ...], backend: str | None, out: Any,
             act: int = _ACT_NONE) -> Any:  # fmt: skip
    """act(op(*args)) broadcast, on the backend of the Arrays among args or the selection's."""
    b_arr = array_backend((*args, out), backend)
    vals = _operands(args)
    arrays = [v for v in vals if not isinstance(v, float)]
    dtype = result_dtype(*(a.dtype for a in arrays))
    try:
        shape = np.broadcast_shapes(*(a.shape for a in arrays))
    except ValueError:
        shapes = " ".join(str(a.shape) for a in arrays)
        raise ValueError(
            f"{op.name}: operands could not be broadcast together with shapes {shapes}"
        ) from None
    if out is not None:
        check_out(out, shape, dtype)
    if b_arr is not None:
        if spilled(*args, out) or any(a.dtype != dtype for a in arrays if isinstance(a, Array)):
            # data kept on the host, or an Array of another dtype: through the host, there
            host = map_call(op, tuple(host_copy(a) for a in args), b_arr.name, None, act)
            return result_to(b_arr, np.asarray(host), out)
        return _resident(op, b_arr, vals, shape, dtype, out, act)
    return _numpy(op, vals, shape, dtype, backend, out, act)


MAX_LEAVES = 4  # operands of one fused kernel (and Python numbers)
MAX_NODES = 16


def _nodes(tree: tuple) -> int:
    if tree[0] in ("leaf", "num"):
        return 1
    if tree[0] == "act":
        return 1 + _nodes(tree[2])
    return 1 + sum(_nodes(c) for c in tree[2])


def _shifted(tree: tuple, leaf: int, num: int) -> tuple:
    """tree with its leaf and number indices moved up by leaf and num."""
    if tree[0] == "leaf":
        return ("leaf", tree[1] + leaf)
    if tree[0] == "num":
        return ("num", tree[1] + num, tree[2])
    if tree[0] == "act":
        return ("act", tree[1], _shifted(tree[2], leaf, num))
    return ("map", tree[1], tuple(_shifted(c, leaf, num) for c in tree[2]))


def record(b: backends.Backend, kid: int, act: int, vals: list[Any], shape: tuple[int, ...],
           dtype: np.dtype) -> Pending | None:  # fmt: skip
    """act(kid(*vals)) recorded, not run, on a backend that fuses elementwise chains (gpu):
    operands that are themselves recorded work of the same shape are taken in, so that the
    chain runs as one kernel when its result is needed. None where it would not fit one
    kernel (then the op runs now)."""
    if len(shape) > MAP_DIMS or not math.prod(shape):
        return None
    inline = [isinstance(v, Array) and isinstance(v._buf, Pending) and v._buf.buf is None
              and v.dtype == dtype and v.shape == v._buf.shape for v in vals]  # fmt: skip
    need = sum(len(v._buf.leaves) if take else 0 if isinstance(v, float) else 1
               for v, take in zip(vals, inline, strict=True))  # fmt: skip
    if need > MAX_LEAVES:
        inline = [False] * len(vals)
    leaves: list[Strided] = []
    children: list[tuple] = []
    numbers = 0
    for v, take in zip(vals, inline, strict=True):
        if take:  # its operands, broadcast as the Array is to this shape
            p = v._buf
            tree = _shifted(p.tree, len(leaves), numbers)
            leaves += [Strided(leaf.buf, leaf.offset, broadcast_strides(v.shape, leaf.strides,
                                                                        shape))
                       for leaf in p.leaves]  # fmt: skip
            numbers += len(tree_numbers(p.tree))
            children.append(tree)
        elif isinstance(v, float):
            children.append(("num", numbers, v))
            numbers += 1
        else:
            arr = v if isinstance(v, Array) else place(contiguous(v, dtype), b)
            s = strided(arr)
            leaves.append(Strided(s.buf, s.offset, broadcast_strides(arr.shape, s.strides, shape)))
            children.append(("leaf", len(leaves) - 1))
    tree: tuple = ("map", kid, tuple(children))
    if act != _ACT_NONE:
        tree = ("act", act, tree)
    if len(leaves) > MAX_LEAVES or numbers > MAX_LEAVES or _nodes(tree) > MAX_NODES:
        return None
    return Pending(b, tree, leaves, shape, dtype)


def recorded(op: _optable.Op, b: backends.Backend, kid: int, act: int, vals: list[Any],
             shape: tuple[int, ...], dtype: np.dtype) -> Array | None:  # fmt: skip
    """op's result as an Array of recorded work (record), booked as the op's call, on a backend
    that fuses elementwise chains; None where it does not or the work would not fit (then the
    op runs now)."""
    if not getattr(b.kernels, "fuses_maps", False):
        return None
    pending = record(b, kid, act, vals, shape, dtype)
    if pending is None:
        return None
    return _dispatch.run(op.name, dtype, b.name, math.prod(shape),
                         lambda be: wrap(be, pending, shape, dtype), shape)  # fmt: skip


def _resident(op: _optable.Op, b: backends.Backend, vals: list[Any], shape: tuple[int, ...],
              dtype: np.dtype, out: Any, act: int) -> Any:  # fmt: skip
    if out is None:
        result = recorded(op, b, op.kernel_id, act, vals, shape, dtype)
        if result is not None:
            return result

    def kernel(be: backends.Backend, y: Any) -> None:
        ops: list[Any] = []
        for v in vals:
            if isinstance(v, float):
                ops.append(v)
            elif isinstance(v, Array):
                s = strided(v)
                ops.append(Strided(s.buf, s.offset, broadcast_strides(v.shape, s.strides, shape)))
            else:  # a numpy operand of an Array call: uploaded as it is, broadcast there
                arr = contiguous(v, dtype)
                held = place(arr, be)
                s = strided(held)
                ops.append(Strided(s.buf, 0, broadcast_strides(arr.shape, s.strides, shape)))
        run_map(be, op.kernel_id, act, tuple(ops), y, 0, shape, dtype)

    inputs = tuple(v for v in vals if isinstance(v, Array))
    result = run_resident(b, op.name, shape, dtype, out, inputs, math.prod(shape), kernel)
    return result


def _numpy(op: _optable.Op, vals: list[Any], shape: tuple[int, ...], dtype: np.dtype,
           backend: str | None, out: Any, act: int) -> Any:  # fmt: skip
    vals = [v if isinstance(v, float) else v if v.dtype == dtype else v.astype(dtype)
            for v in vals]  # fmt: skip
    n = math.prod(shape)
    overlap = out is not None and any(
        isinstance(v, np.ndarray) and np.may_share_memory(out, v) for v in vals
    )
    direct = out is not None and kernel_writable(out) and not overlap
    result = out if direct else np.empty(shape, dtype)
    if n:
        _dispatch.run(op.name, dtype, backend, n,
                      lambda b: _host_map(b, op.kernel_id, act, vals, result, shape, dtype),
                      shape)  # fmt: skip
    if out is not None:
        if result is not out:
            out[...] = result
        return out
    return result[()] if result.ndim == 0 else result


def _host_map(b: backends.Backend, kid: int, act: int, vals: list[Any], result: np.ndarray,
              shape: tuple[int, ...], dtype: np.dtype) -> None:  # fmt: skip
    """result (C-contiguous) = act(op(*vals)) on backend b, numpy in and out: read in place
    on a host backend; elsewhere each operand uploaded as it is (not broadcast), in pieces
    along the first long axis where the whole would not fit the backend's memory."""
    mem = b.memory
    arrays = [v for v in vals if isinstance(v, np.ndarray)]
    need = result.size + sum(a.size for a in arrays)
    long_axes = [d for d, n in enumerate(shape) if n > 1]
    if not mem.host and need > mem.max_elements(dtype) and long_axes:
        d = long_axes[0]  # the axes before it are 1: each piece of result is contiguous
        step = max(1, shape[d] * mem.max_elements(dtype) // (2 * need))
        for i0 in range(0, shape[d], step):
            piece = [v if isinstance(v, float) else _slice_along(v, shape, d, i0, step)
                     for v in vals]  # fmt: skip
            sub = result[(slice(None),) * d + (slice(i0, i0 + step),)]
            _host_map(b, kid, act, piece, sub, sub.shape, dtype)
        return
    if mem.host:
        ops = [v if isinstance(v, float) else _numpy_strided(v, shape) or
               _numpy_strided(np.ascontiguousarray(v), shape) for v in vals]  # fmt: skip
        run_map(b, kid, act, tuple(ops), result, 0, shape, dtype)
        return
    ops = []
    for v in vals:
        if isinstance(v, float):
            ops.append(v)
            continue
        arr = contiguous(v, dtype)
        buf = mem.upload(arr.reshape(-1))
        ops.append(Strided(buf, 0, broadcast_strides(arr.shape, _c_strides(arr), shape)))
    y = mem.alloc(result.size, dtype)
    run_map(b, kid, act, tuple(ops), y, 0, shape, dtype)
    mem.download(y, result.reshape(-1))


def _c_strides(arr: np.ndarray) -> tuple[int, ...]:
    return tuple(s // arr.dtype.itemsize for s in arr.strides)


def _slice_along(v: np.ndarray, shape: tuple[int, ...], d: int, i0: int, step: int) -> np.ndarray:
    """The part of operand v that meets result[..., i0:i0+step (axis d), ...]."""
    axis = d - (len(shape) - v.ndim)
    if axis < 0 or v.shape[axis] == 1:
        return v
    return v[(slice(None),) * axis + (slice(i0, i0 + step),)]


def _make_binary(op: _optable.Op) -> Callable[..., Any]:
    def binary(x1: Any, x2: Any, *, backend: str | None = None, out: Any = None) -> Any:
        return map_call(op, (x1, x2), backend, out)

    binary.__doc__ = (
        f"{op.doc}\n\nx1 and x2 are numpy arrays (anything np.asarray takes), accel.Arrays or "
        "Python numbers (which take the other operand's dtype, as in numpy 2); float32 with "
        "float64 gives float64. Arrays run on their backend and give an Array there. `out=` "
        "takes a writeable array of the result's shape and dtype, which may be an input."
    )
    return binary


def _make_map(op: _optable.Op) -> Callable[..., Any]:
    def unary(x: Any, *, backend: str | None = None, out: Any = None) -> Any:
        return map_call(op, (x,), backend, out)

    unary.__doc__ = (
        f"{op.doc}\n\nElementwise on x of any shape; the result has x's shape and dtype. "
        "Arrays run on their backend and give an Array there; `out=` as for the other ops."
    )
    return unary


MAKERS = {"binary": _make_binary, "map": _make_map}
