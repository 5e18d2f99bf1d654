"""The public ops. Everything a backend should not have to think about is done here, once:
converting inputs, checking dtypes, shapes and `out=`, matmul's 1-D promotion and batch
broadcasting, and splitting work that is larger than a backend takes in one call.

Backends then see C-contiguous arrays of one dtype, with no empty dimension.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from . import _dispatch

_F32 = np.dtype(np.float32)
_F64 = np.dtype(np.float64)

# The elementwise ops: adding one is a kernel per backend and a line here.
ELEMENTWISE_OPS = {
    "relu": "max(x, 0); NaN stays NaN.",
    "sigmoid": "1 / (1 + exp(-x)), in [0, 1]; +-inf give 1 and 0.",
    "tanh": "The hyperbolic tangent; exactly odd, +-inf give +-1.",
}


def _float_array(x: object, what: str) -> np.ndarray:
    """x as an ndarray of float32 or float64 in native byte order, else TypeError."""
    arr = x if type(x) is np.ndarray else np.asarray(x)
    dt = arr.dtype
    if dt is _F32 or dt is _F64:
        return arr
    if dt.kind == "f" and dt.itemsize in (4, 8):  # a non-native byte order or a dtype copy
        return arr.astype(dt.newbyteorder("="))
    raise TypeError(
        f"accel supports float32 and float64 arrays; {what} has dtype {dt.name} "
        "(convert it with .astype(np.float32) or .astype(np.float64))"
    )


def _check_out(out: object, shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
    if not isinstance(out, np.ndarray):
        raise ValueError(f"out must be a numpy.ndarray, not {type(out).__name__}")
    if out.shape != shape or out.dtype != dtype:
        raise ValueError(
            f"out has shape {out.shape} and dtype {out.dtype.name}; "
            f"the result has shape {shape} and dtype {dtype.name}"
        )
    if not out.flags.writeable:
        raise ValueError("out is read-only")
    return out


def _writable_target(out: np.ndarray, *inputs: np.ndarray) -> np.ndarray | None:
    """out itself when a kernel may write it directly (C-contiguous, not overlapping an input
    except as that very array), else None: the result then goes through a temporary."""
    if not out.flags.c_contiguous:
        return None
    for x in inputs:
        if np.may_share_memory(out, x) and not (
            x.ctypes.data == out.ctypes.data and x.strides == out.strides
        ):
            return None
    return out


# ---------------------------------------------------------------------------------------------
# elementwise


def _elementwise(op: str, x: object, backend: str | None, out: np.ndarray | None) -> np.ndarray:
    if type(x) is not np.ndarray or (x.dtype is not _F32 and x.dtype is not _F64):
        x = _float_array(x, "x")
    dtype = x.dtype
    if out is None:
        if x.size == 0:
            return np.empty(x.shape, dtype)
        src = x if x.flags.c_contiguous else np.ascontiguousarray(x)
        result = np.empty(x.shape, dtype)
        _dispatch.run(op, dtype, backend, x.size, lambda b: _split_elementwise(b, op, src, result))
        return result
    _check_out(out, x.shape, dtype)
    if x.size == 0:
        return out
    src = x if x.flags.c_contiguous else np.ascontiguousarray(x)
    target = _writable_target(out, x)  # out itself, or a temporary when it is strided
    if target is None:
        target = np.empty(x.shape, dtype)
    _dispatch.run(op, dtype, backend, x.size, lambda b: _split_elementwise(b, op, src, target))
    if target is not out:
        out[...] = target
    return out


# Every backend takes at least this many elements in one call (the GPU's smallest allowed
# binding is 128 MiB): below it, no need to ask.
_SURELY_FITS = 1 << 20


def _split_elementwise(backend, op: str, x: np.ndarray, y: np.ndarray) -> None:
    """y = op(x) for C-contiguous x and y of one shape, in pieces the backend takes."""
    if x.size <= _SURELY_FITS:
        backend.elementwise(op, x, y)
        return
    step = max(1, backend.max_elements(x.dtype) // 2)
    if x.size <= step:
        backend.elementwise(op, x, y)
        return
    flat_x, flat_y = x.reshape(-1), y.reshape(-1)
    for i in range(0, x.size, step):
        backend.elementwise(op, flat_x[i : i + step], flat_y[i : i + step])


def _make_elementwise(op: str, doc: str) -> Callable[..., np.ndarray]:
    def activation(x, *, backend: str | None = None, out: np.ndarray | None = None) -> np.ndarray:
        return _elementwise(op, x, backend, out)

    activation.__name__ = activation.__qualname__ = op
    activation.__doc__ = (
        f"{doc}\n\nElementwise on any shape (0-d and empty included); the result has x's shape "
        "and dtype (float32 or float64). `out=` takes a writeable array of that shape and "
        "dtype, x itself included. `backend=` overrides the selection for this call."
    )
    return activation


relu = _make_elementwise("relu", ELEMENTWISE_OPS["relu"])
sigmoid = _make_elementwise("sigmoid", ELEMENTWISE_OPS["sigmoid"])
tanh = _make_elementwise("tanh", ELEMENTWISE_OPS["tanh"])


# ---------------------------------------------------------------------------------------------
# dot


def dot(a: object, b: object, *, backend: str | None = None) -> np.floating:
    """Inner product of two 1-D arrays of equal length, as a numpy scalar of the result dtype
    (float64 when either input is float64); empty vectors give 0."""
    a = _float_array(a, "a")
    b = _float_array(b, "b")
    if a.ndim != 1 or b.ndim != 1:
        raise ValueError(f"dot takes two 1-D arrays; got shapes {a.shape} and {b.shape}")
    if a.shape != b.shape:
        raise ValueError(f"dot: shapes {a.shape} and {b.shape} not aligned (lengths differ)")
    dtype = a.dtype if a.dtype is b.dtype else _F64
    if a.size == 0:
        return dtype.type(0)
    a = np.ascontiguousarray(a, dtype)
    b = np.ascontiguousarray(b, dtype)
    result = _dispatch.run("dot", dtype, backend, a.size, lambda be: _split_dot(be, a, b))
    return dtype.type(result)


def _split_dot(backend, a: np.ndarray, b: np.ndarray) -> float:
    step = max(1, backend.max_elements(a.dtype) // 2)
    if a.size <= step:
        return backend.dot(a, b)
    # partial sums in a fixed order: the same bits whatever runs them
    return math.fsum(backend.dot(a[i : i + step], b[i : i + step]) for i in range(0, a.size, step))


# ---------------------------------------------------------------------------------------------
# matmul


def matmul(
    a: object, b: object, *, backend: str | None = None, out: np.ndarray | None = None
) -> np.ndarray:
    """Matrix product with numpy.matmul's semantics: 1-D operands are promoted to matrices and
    the added axis removed, batch dimensions broadcast, float32 with float64 gives float64.
    `out=` takes a writeable array of exactly the result's shape and dtype."""
    a = _float_array(a, "a")
    b = _float_array(b, "b")
    if a.ndim == 0 or b.ndim == 0:
        which = 0 if a.ndim == 0 else 1
        raise ValueError(
            f"matmul: input operand {which} does not have enough dimensions "
            "(a 0-d array is a scalar: use multiplication)"
        )
    dtype = a.dtype if a.dtype is b.dtype else _F64
    a2 = a[np.newaxis, :] if a.ndim == 1 else a
    b2 = b[:, np.newaxis] if b.ndim == 1 else b
    m, k = a2.shape[-2:]
    kb, n = b2.shape[-2:]
    if k != kb:
        raise ValueError(
            f"matmul: mismatch in the core dimension: a has shape {a.shape} and b has shape "
            f"{b.shape} ({k} != {kb})"
        )
    try:
        batch = np.broadcast_shapes(a2.shape[:-2], b2.shape[:-2])
    except ValueError:
        raise ValueError(
            f"matmul: batch dimensions of shapes {a.shape} and {b.shape} do not broadcast"
        ) from None
    shape = batch + (() if a.ndim == 1 else (m,)) + (() if b.ndim == 1 else (n,))
    if out is not None:
        _check_out(out, shape, dtype)
    result = out if out is not None else np.empty(shape, dtype)
    if result.size == 0:
        return result
    if k == 0:
        result[...] = 0
        return result

    count = math.prod(batch)
    a3 = _batched(a2, batch, count, dtype)
    b3 = _batched(b2, batch, count, dtype)
    # the kernel writes result directly unless out= is strided or overlaps an input
    target = result if out is None else _writable_target(out, a, b)
    c3 = np.empty((count, m, n), dtype) if target is None else target.reshape(count, m, n)
    flops = 2.0 * count * m * n * k
    _dispatch.run("matmul", dtype, backend, flops, lambda be: _split_matmul(be, a3, b3, c3))
    if target is None:
        result[...] = c3.reshape(shape)
    return result


def _batched(x: np.ndarray, batch: tuple[int, ...], count: int, dtype: np.dtype) -> np.ndarray:
    """x (..., R, C) as a C-contiguous (count or 1, R, C) array of dtype."""
    rows, cols = x.shape[-2:]
    if math.prod(x.shape[:-2]) == 1:
        return np.ascontiguousarray(x, dtype).reshape(1, rows, cols)
    if x.shape[:-2] != batch:  # partly broadcast: materialise the repeats
        x = np.broadcast_to(x, (*batch, rows, cols))
    return np.ascontiguousarray(x, dtype).reshape(count, rows, cols)


def _split_matmul(backend, a: np.ndarray, b: np.ndarray, c: np.ndarray) -> None:
    """Runs c = a @ b in pieces that fit the backend's max_elements."""
    limit = backend.max_elements(c.dtype)
    if a.size + b.size + c.size <= limit:
        backend.matmul(a, b, c)
        return
    count, m, k = c.shape[0], a.shape[1], a.shape[2]
    n = b.shape[2]
    if count > 1:  # one item at a time
        for i in range(count):
            _split_matmul(
                backend,
                a[i : i + 1] if a.shape[0] > 1 else a,
                b[i : i + 1] if b.shape[0] > 1 else b,
                c[i : i + 1],
            )
        return
    if 2 * k + 1 > limit:  # even a row times a column is too large: split K, add in order
        step = max(1, (limit - 1) // 2)
        part = np.empty_like(c)
        for p0 in range(0, k, step):
            ap = np.ascontiguousarray(a[:, :, p0 : p0 + step])
            bp = np.ascontiguousarray(b[:, p0 : p0 + step, :])
            _split_matmul(backend, ap, bp, c if p0 == 0 else part)
            if p0:
                c += part
        return
    nb = n if k * n <= limit // 2 else max(1, (limit // 2) // k)
    mb = max(1, (limit - k * nb) // (k + nb))
    for j0 in range(0, n, nb):
        bj = np.ascontiguousarray(b[:, :, j0 : j0 + nb])
        for i0 in range(0, m, mb):
            ai = a[:, i0 : i0 + mb, :]
            ci = np.empty((1, ai.shape[1], bj.shape[2]), c.dtype)
            backend.matmul(ai, bj, ci)
            c[:, i0 : i0 + mb, j0 : j0 + nb] = ci
