"""accel's ops on Dask arrays: each block runs through accel on the worker that holds it.

    import accel.dask as ad
    c = ad.matmul(a, b)                      # lazy dask arrays in, a lazy dask array out
    y = ad.linear(x, w, bias, activation="gelu", backend="simd")
    c.compute()                              # on a distributed.Client's cluster, or locally

Install with `pip install "accel-chain[dask]"`; `import accel` never imports dask. numpy
operands are wrapped as single-chunk dask arrays. Each block runs with that worker's own
selection (auto picks that machine's best backend, its GPU included) or with the call's
`backend=`, which travels with the task. Workers keep accel's state between tasks (loaded
backends, the compiled simd module, GPU pipelines); `client.run(accel.stats)` shows what ran
on each.

matmul and linear contract over K blocks inside one task per output block, adding the
partial products in K order: the same chunking gives the same bits on any cluster. Operands
whose K chunks differ are aligned by rechunking, not refused. linear's bias and activation
are applied once, after the K sum (fused into the kernel when K is one block). dot sums its
per-block partial products in block order. The semantics of the numpy-level functions hold:
dtypes, promotion and shapes are checked while the graph is built (TypeError, ValueError).
"""

from __future__ import annotations

import functools
import math
from typing import Any

import numpy as np

try:
    import dask.array as da
except ImportError as e:  # pragma: no cover - the extra is not installed
    raise ImportError(
        "accel.dask needs Dask: pip install 'accel-chain[dask]' (dask[array] and distributed)"
    ) from e

import accel

from ._array import float_array
from ._ops import PUBLIC_FORMS, _matmul_shapes
from ._optable import OPS, activation_id

_F32 = np.dtype(np.float32)
_F64 = np.dtype(np.float64)


def _as_dask(x: Any, what: str) -> da.Array:
    """x as a dask array of float32 or float64 (numpy's own dtype); TypeError otherwise."""
    if isinstance(x, accel.Array):
        x = x.numpy()
    arr = x if isinstance(x, da.Array) else da.asarray(float_array(x, what))
    dt = arr.dtype
    if dt.kind == "f" and dt.itemsize in (4, 8) and dt.names is None:
        canonical = _F32 if dt.itemsize == 4 else _F64
        return arr if dt == canonical and dt.isnative else arr.astype(canonical)
    raise TypeError(
        f"accel supports float32 and float64 arrays; {what} has dtype {dt} "
        "(convert it with .astype(np.float32) or .astype(np.float64))"
    )


def _result_dtype(*dtypes: np.dtype) -> np.dtype:
    return _F64 if any(d == _F64 for d in dtypes) else _F32


# -- what runs on the workers (module level: tasks pickle them by reference) ------------------


def _unary_block(block: np.ndarray, op: str, backend: str | None) -> np.ndarray:
    if block.size == 0:
        return np.empty(block.shape, block.dtype)
    return getattr(accel, op)(block, backend=backend)


def _k_sum(a_blocks: list, b_blocks: list, dtype: np.dtype, backend: str | None) -> np.ndarray:
    """sum over k of a[k] @ b[k], in k order."""
    total = None
    for a, b in zip(a_blocks, b_blocks, strict=True):
        part = accel.matmul(a.astype(dtype, copy=False), b.astype(dtype, copy=False),
                            backend=backend)  # fmt: skip
        total = part if total is None else np.add(total, part, out=total)
    return total


def _matmul_block(a_blocks: list, b_blocks: list, dtype: np.dtype,
                  backend: str | None) -> np.ndarray:  # fmt: skip
    return _k_sum(a_blocks, b_blocks, dtype, backend)


def _linear_block(x_blocks: list, w_blocks: list, bias: np.ndarray | None, activation: str | None,
                  dtype: np.dtype, backend: str | None) -> np.ndarray:  # fmt: skip
    if len(x_blocks) == 1:  # one K block: the fused kernel
        return accel.linear(x_blocks[0].astype(dtype, copy=False),
                            w_blocks[0].astype(dtype, copy=False),
                            None if bias is None else bias.astype(dtype, copy=False),
                            activation=activation, backend=backend)  # fmt: skip
    z = _k_sum(x_blocks, w_blocks, dtype, backend)
    if bias is not None:
        z += bias.astype(dtype, copy=False)
    if activation is not None:
        PUBLIC_FORMS[activation](z, backend=backend, out=z)  # (gelu_tanh: gelu's form)
    return z


def _dot_block(a: np.ndarray, b: np.ndarray, dtype: np.dtype, backend: str | None) -> np.ndarray:
    return np.array([accel.dot(a.astype(dtype, copy=False), b.astype(dtype, copy=False),
                               backend=backend)], dtype=dtype)  # fmt: skip


def _sum_in_order(parts: np.ndarray, dtype: np.dtype) -> np.ndarray:
    return np.array(math.fsum(float(p) for p in parts), dtype=dtype)


# -- the graph builders --------------------------------------------------------------------------


def _make_unary(name: str):
    op = OPS[name]

    def unary(x: Any, *, backend: str | None = None) -> da.Array:
        arr = _as_dask(x, "x")
        if op.family == "softmax" and arr.ndim >= 1 and arr.numblocks[-1] > 1:
            arr = arr.rechunk({arr.ndim - 1: -1})  # each row in one block
        return arr.map_blocks(_unary_block, name, backend, dtype=arr.dtype)

    unary.__name__ = unary.__qualname__ = name
    where = "over the last axis (rows are kept whole)" if op.family == "softmax" else (
        "elementwise")  # fmt: skip
    unary.__doc__ = f"accel.{name} on a dask array, {where}, block by block: {op.doc}"
    return unary


# one wrapper per elementwise op and softmax of the op table
_UNARY = {name: _make_unary(name) for name, op in OPS.items()
          if op.family in ("elementwise", "softmax") and op.public}  # fmt: skip
globals().update(_UNARY)


def matmul(a: Any, b: Any, *, backend: str | None = None) -> da.Array:
    """numpy.matmul's semantics on dask arrays (1-D operands promoted, batches broadcast);
    each output block sums its K partial products in K order on the worker."""
    a_, b_ = _as_dask(a, "a"), _as_dask(b, "b")
    shape, batch, _m, _k, _n = _matmul_shapes(a_.shape, b_.shape)  # ValueError now
    dtype = _result_dtype(a_.dtype, b_.dtype)
    a2 = a_[None, :] if a_.ndim == 1 else a_
    b2 = b_[:, None] if b_.ndim == 1 else b_
    nb = len(batch)
    idx = "abcdefghij"[:nb]
    a_idx = idx[nb - (a2.ndim - 2) :] + "ik"
    b_idx = idx[nb - (b2.ndim - 2) :] + "kj"
    block = functools.partial(_matmul_block, dtype=dtype, backend=backend)
    out = da.blockwise(block, idx + "ij", a2, a_idx, b2, b_idx, dtype=dtype, concatenate=False,
                       meta=np.empty((0,) * (nb + 2), dtype))  # fmt: skip
    if a_.ndim == 1:
        out = out[..., 0, :]
    if b_.ndim == 1:
        out = out[..., 0]
    assert out.shape == shape, (out.shape, shape)
    return out


def linear(x: Any, w: Any, bias: Any = None, *, activation: str | None = None,
           backend: str | None = None) -> da.Array:  # fmt: skip
    """activation(x @ w + bias) on dask arrays: x (..., K) or (K,), w (K, N), bias (N,). Each
    output block sums its K partial products in order; the bias and the activation are
    applied once, after the K sum."""
    activation_id(activation)  # ValueError for a bad name, now
    x_, w_ = _as_dask(x, "x"), _as_dask(w, "w")
    if w_.ndim != 2:
        raise ValueError(f"linear: w must be 2-D (K, N); it has shape {w_.shape}")
    if x_.ndim == 0:
        raise ValueError("linear: x must have at least one dimension (..., K)")
    if x_.shape[-1] != w_.shape[0]:
        raise ValueError(
            f"linear: x has {x_.shape[-1]} features (last axis of {x_.shape}) but w expects "
            f"{w_.shape[0]} (w has shape {w_.shape})"
        )
    bias_ = None
    if bias is not None:
        bias_ = np.asarray(bias.numpy() if isinstance(bias, accel.Array) else bias)
        bias_ = float_array(bias_, "bias")
        if bias_.shape != (w_.shape[1],):
            raise ValueError(
                f"linear: bias must have shape ({w_.shape[1]},) to match w {w_.shape}; it has "
                f"shape {bias_.shape}"
            )
    dtype = _result_dtype(x_.dtype, w_.dtype, *(() if bias_ is None else (bias_.dtype,)))
    lead = x_.shape[:-1]
    x2 = x_.reshape((math.prod(lead), x_.shape[-1])) if x_.ndim != 2 else x_
    meta = np.empty((0, 0), dtype)
    if bias_ is None:
        block = functools.partial(_linear_block, bias=None, activation=activation, dtype=dtype,
                                  backend=backend)  # fmt: skip
        out = da.blockwise(block, "ij", x2, "ik", w_, "kj", dtype=dtype, concatenate=False,
                           meta=meta)  # fmt: skip
    else:  # the bias in the output's column blocks: block (i, j) gets bias block j
        bias_arr = da.from_array(bias_, chunks=(w_.chunks[1],))
        block = functools.partial(_linear_block_bias, activation=activation, dtype=dtype,
                                  backend=backend)  # fmt: skip
        out = da.blockwise(block, "ij", x2, "ik", w_, "kj", bias_arr, "j", dtype=dtype,
                           concatenate=False, meta=meta)  # fmt: skip
    return out.reshape((*lead, w_.shape[1])) if x_.ndim != 2 else out


def _linear_block_bias(x_blocks: list, w_blocks: list, bias: np.ndarray, activation: str | None,
                       dtype: np.dtype, backend: str | None) -> np.ndarray:  # fmt: skip
    return _linear_block(x_blocks, w_blocks, bias, activation, dtype, backend)


def dot(a: Any, b: Any, *, backend: str | None = None) -> da.Array:
    """The inner product of two 1-D dask arrays of one length, as a 0-d dask array: each
    block's product on its worker, the partial sums added in block order."""
    a_, b_ = _as_dask(a, "a"), _as_dask(b, "b")
    if a_.ndim != 1 or b_.ndim != 1:
        raise ValueError(f"dot takes two 1-D arrays; got shapes {a_.shape} and {b_.shape}")
    if a_.shape != b_.shape:
        raise ValueError(f"dot: shapes {a_.shape} and {b_.shape} not aligned (lengths differ)")
    dtype = _result_dtype(a_.dtype, b_.dtype)
    if a_.shape[0] == 0:
        return da.zeros((), dtype=dtype)
    a_, b_ = da.unify_chunks(a_, "i", b_, "i")[1]
    block = functools.partial(_dot_block, dtype=dtype, backend=backend)
    parts = da.map_blocks(block, a_, b_, dtype=dtype, chunks=((1,) * a_.numblocks[0],))
    total = functools.partial(_sum_in_order, dtype=dtype)
    return parts.rechunk(-1).map_blocks(total, dtype=dtype, chunks=(), drop_axis=0)


__all__ = ["dot", "linear", "matmul", *_UNARY]
