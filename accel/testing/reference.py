"""References and the tolerance policy (docs/contract.md), as functions that raise
AssertionError. The reference functions and ulp bounds come from the op table.

The reference is numpy at higher precision than the result: float64 for float32 results,
and numpy's long double for float64 results where the platform has one (x86-64 Linux: 64-bit
mantissa). A float64 reference for a float64 result would carry as much rounding error as
the result itself, and the checks would measure the reference, not the backend.

| op                          | bound                                                          |
|-----------------------------|----------------------------------------------------------------|
| relu                        | exact                                                          |
| sigmoid, tanh, gelu, silu   | |y - ref| <= N ulp(ref) or <= tiny; N = 4 on cpu, simd; 8 on gpu |
| softmax                     | |y - ref| <= N ulp(ref) + (n + 4) eps ref, n the row length     |
| matmul, dot                 | |C - ref| <= g_K (|A| @ |B|) + K tiny, g_K = K u / (1 - K u)    |
| linear                      | z within the matmul bound with K + 1 terms, then               |
|                             | |y - f(ref z)| <= max|f'| bound(z) + N ulp(f(ref z)) or <= tiny |
| add, subtract, multiply,    | exact (the IEEE result in the dtype; on gpu with subnormals     |
| maximum, minimum            | flushed, inputs and result)                                    |
| divide                      | N ulp (1 on cpu, simd; 3 on gpu)                               |
| sum                         | |s - ref| <= g_n sum|x| + n tiny                               |
| mean                        | the sum's bound / n + 1 ulp(ref); max: exact                   |
| layer_norm, rms_norm        | 4 (n + 4) u |w| (|mean| + max|x|) / sigma + 4 ulp(ref) + tiny |
"""

from __future__ import annotations

import numpy as np

from .._optable import ACTIVATIONS, OPS

_LONG = np.longdouble if np.finfo(np.longdouble).nmant > 52 else np.float64


def ulp_bound(op: str, backend: str) -> int:
    """N of the op on the backend (a variant such as cpu-avx2 has its backend's bound)."""
    return OPS[op].ulp.get(backend.split("-")[0], 0)


def unit_roundoff(dtype: np.dtype) -> float:
    return 2.0 ** -(np.finfo(dtype).nmant + 1)


def wide(x: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """x in the reference precision for results of dtype."""
    return np.asarray(x, dtype=np.float64 if np.dtype(dtype) == np.float32 else _LONG)


def reference(op: str, x: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """The reference of an activation or softmax, in the wide type."""
    w = wide(x, dtype)
    with np.errstate(over="ignore", invalid="ignore"):
        if op == "softmax" and w.ndim == 0:
            return OPS[op].reference(w.reshape(1)).reshape(())
        return OPS[op].reference(w)


def ulp(ref: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """The spacing of dtype at |ref| (ref rounded to dtype), in float64."""
    with np.errstate(over="ignore", invalid="ignore"):
        r = np.abs(np.asarray(ref).astype(dtype))
    return np.spacing(r).astype(np.float64)


def _errors_against(ref: np.ndarray, y: np.ndarray, allowance: np.ndarray | float) -> np.ndarray:
    """|y - ref| in ulps of ref beyond `allowance` (absolute, subtracted first): 0 where
    within tiny; inf where a NaN or an infinity is wrong."""
    dtype = y.dtype
    tiny = float(np.finfo(dtype).tiny)
    with np.errstate(invalid="ignore", over="ignore"):
        diff = np.abs(wide(y, dtype) - ref).astype(np.float64)
        excess = np.maximum(diff - allowance, 0.0)
        err = np.where(diff <= tiny, 0.0, excess / ulp(ref, dtype))
    nan_ref = np.isnan(ref)
    err = np.where(nan_ref, np.where(np.isnan(y), 0.0, np.inf), err)
    err = np.where(~nan_ref & np.isnan(y), np.inf, err)
    inf_ref = np.isinf(ref)  # an infinity must be matched exactly (inf - inf is NaN)
    return np.where(inf_ref, np.where(wide(y, dtype) == ref, 0.0, np.inf), err)


def activation_errors(op: str, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Each element's error in ulps of the reference (0 where within tiny, inf where a NaN or
    an infinity is wrong). For softmax, in ulps beyond the (n + 4) eps ref allowance."""
    dtype = y.dtype
    ref = reference(op, x, dtype)
    allowance: np.ndarray | float = 0.0
    if op == "softmax":
        n = x.shape[-1] if x.ndim else 1
        with np.errstate(invalid="ignore"):
            allowance = np.nan_to_num((n + 4) * np.finfo(dtype).eps * np.abs(ref).astype(
                np.float64), nan=0.0)  # fmt: skip
    return _errors_against(ref, y, allowance)


def check_activation(op: str, x: np.ndarray, y: np.ndarray, backend: str) -> float:
    """Asserts the contract for one activation (or softmax) result; returns the worst error
    in ulps."""
    x = np.asarray(x)
    assert isinstance(y, np.ndarray), f"{op}: returned {type(y).__name__}, not an ndarray"
    assert y.shape == x.shape, f"{op}: shape {y.shape} != input shape {x.shape}"
    assert y.dtype == x.dtype, f"{op}: dtype {y.dtype} != input dtype {x.dtype}"
    if x.size == 0:
        return 0.0
    err = activation_errors(op, x, y)
    bound = ulp_bound(op, backend)
    worst = int(np.argmax(err))
    assert err.flat[worst] <= bound, (
        f"{op} on {backend} ({y.dtype}): x={x.flat[worst]!r} gives {y.flat[worst]!r}, "
        f"{err.flat[worst]:.2f} ulp from the reference {reference(op, x, y.dtype).flat[worst]!r}"
        f" (bound {bound})"
    )
    finite = ~np.isnan(x)
    if op == "sigmoid":
        assert np.all((y[finite] >= 0) & (y[finite] <= 1)), "sigmoid left [0, 1]"
    if op == "tanh":
        assert np.all(np.abs(y[finite]) <= 1), "tanh left [-1, 1]"
    if op in ("gelu", "silu"):  # the signed zeros of x f(x): -0 in, -0 out
        neg_zero = (x == 0) & np.signbit(x)
        assert np.all(np.signbit(y[neg_zero])), f"{op}(-0) lost its sign"
    return float(err.flat[worst])


def matmul_reference(
    a: np.ndarray, b: np.ndarray, dtype: np.dtype
) -> tuple[np.ndarray, np.ndarray]:
    """(reference product, |A| @ |B|), both in the wide type."""
    wa, wb = wide(a, dtype), wide(b, dtype)
    with np.errstate(over="ignore", invalid="ignore"):
        return np.matmul(wa, wb), np.matmul(np.abs(wa), np.abs(wb))


def _bound(mag: np.ndarray, terms: int, dtype: np.dtype) -> np.ndarray:
    u = unit_roundoff(dtype)
    gamma = terms * u / (1 - terms * u)
    return (gamma * mag + terms * float(np.finfo(dtype).tiny)).astype(np.float64)


def _ratio(ref: np.ndarray, bound: np.ndarray, c: np.ndarray) -> np.ndarray:
    """|C - ref| / bound elementwise (<= 1 passes); inf where a NaN or infinity is wrong."""
    dtype = c.dtype
    with np.errstate(invalid="ignore", over="ignore"):
        diff = np.abs(wide(c, dtype) - ref).astype(np.float64)
        ratio = np.where(diff == 0, 0.0, diff / bound)
    finite_ref = np.isfinite(ref)
    # where the reference is NaN the result must be NaN; where it is +-inf, the same infinity
    special_ok = np.where(np.isnan(ref), np.isnan(c), c.astype(np.float64) == ref)
    return np.where(
        finite_ref, np.where(np.isnan(c), np.inf, ratio), np.where(special_ok, 0.0, np.inf)
    )


def matmul_errors(a: np.ndarray, b: np.ndarray, c: np.ndarray) -> np.ndarray:
    """|C - ref| / bound elementwise (<= 1 passes); inf where a NaN or infinity is wrong."""
    k = np.asarray(a).shape[-1]
    ref, mag = matmul_reference(a, b, c.dtype)
    return _ratio(ref, _bound(mag, k, c.dtype), np.asarray(c))


def check_matmul(a: np.ndarray, b: np.ndarray, c: np.ndarray, backend: str) -> float:
    """Asserts the matmul bound; returns the worst error as a fraction of it."""
    expected = np.matmul(np.zeros(np.shape(a), np.float32), np.zeros(np.shape(b), np.float32))
    c = np.asarray(c)
    assert c.shape == np.shape(expected), f"matmul shape {c.shape} != numpy's {np.shape(expected)}"
    if c.size == 0:
        return 0.0
    ratio = matmul_errors(a, b, c)
    worst = int(np.argmax(ratio))
    ref, _ = matmul_reference(a, b, c.dtype)
    where = tuple(int(i) for i in np.unravel_index(worst, c.shape))
    assert ratio.flat[worst] <= 1, (
        f"matmul on {backend} ({c.dtype}, K={np.shape(a)[-1]}): element {where} is "
        f"{c.flat[worst]!r}, reference {np.asarray(ref).flat[worst]!r}: "
        f"{ratio.flat[worst]:.3g} x the bound"
    )
    return float(ratio.flat[worst])


def check_dot(a: np.ndarray, b: np.ndarray, r: np.floating, backend: str) -> float:
    """Asserts the dot bound (matmul's with M = N = 1); returns the error as a fraction of it."""
    c = np.asarray(r).reshape(1, 1)
    return check_matmul(np.reshape(a, (1, -1)), np.reshape(b, (-1, 1)), c, backend)


def check_linear(x: np.ndarray, w: np.ndarray, bias: np.ndarray | None, activation: str | None,
                 y: np.ndarray, backend: str) -> float:  # fmt: skip
    """Asserts linear's bound: the pre-activation z = x @ w + bias within the matmul bound of
    K + 1 terms, carried through the activation by its largest slope, plus the activation's
    own N ulp. w may be a stack (..., K, N) with bias (N,) or w.shape[:-2] + (N,). Returns
    the worst error (as a fraction of the bound)."""
    y = np.asarray(y)
    dtype = y.dtype
    k = np.shape(w)[-2]
    if np.ndim(w) == 2:
        expected = (*np.shape(x)[:-1], np.shape(w)[1])
    else:
        expected = np.matmul(np.zeros(np.shape(x)), np.zeros(np.shape(w))).shape
    assert y.shape == expected, f"linear shape {y.shape} != {expected}"
    if y.size == 0:
        return 0.0
    wx, ww = wide(x, dtype), wide(w, dtype)
    with np.errstate(over="ignore", invalid="ignore"):
        z = np.matmul(wx, ww)
        mag = np.matmul(np.abs(wx), np.abs(ww))
        if bias is not None:
            wb = wide(bias, dtype)
            if wb.ndim > 1:  # one bias per layer of the stack: over the rows of each
                wb = wb.reshape(*wb.shape[:-1], 1, wb.shape[-1])
            z = z + wb
            mag = mag + np.abs(wb)
    zbound = _bound(mag, k + 1, dtype)
    if activation is None:
        ratio = _ratio(z, zbound, y)
        worst = int(np.argmax(ratio))
        assert ratio.flat[worst] <= 1, (
            f"linear on {backend} ({dtype}, K={k}): element {worst} is {y.flat[worst]!r}, "
            f"reference {z.flat[worst]!r}: {ratio.flat[worst]:.3g} x the bound"
        )
        return float(ratio.flat[worst])
    op = ACTIVATIONS[activation]
    ref = reference(activation, z, dtype)
    carried = op.max_slope * zbound
    err = _errors_against(ref, y, np.where(np.isfinite(carried), carried, 0.0))
    bound = ulp_bound(activation, backend)
    worst = int(np.argmax(err))
    assert err.flat[worst] <= bound, (
        f"linear with {activation} on {backend} ({dtype}, K={k}): element {worst} is "
        f"{y.flat[worst]!r}, reference {np.asarray(ref).flat[worst]!r}: {err.flat[worst]:.2f} "
        f"ulp beyond the carried pre-activation error (bound {bound})"
    )
    return float(err.flat[worst])


# -- the ops for whole networks -----------------------------------------------------------------


def _flushed(x: np.ndarray) -> np.ndarray:
    """x with its subnormal values made zero (as a GPU may read or write them)."""
    tiny = np.finfo(x.dtype).tiny
    return np.where(np.abs(x) < tiny, np.zeros_like(x), x)


def _quotient(operands: list, dtype: np.dtype) -> np.ndarray:
    w = [wide(x, dtype) if isinstance(x, np.ndarray) else x for x in operands]
    with np.errstate(all="ignore"):
        return np.asarray(w[0] / w[1])


def _quotient_errors(ref: np.ndarray, y: np.ndarray) -> np.ndarray:
    """ulps of y from a wide quotient; past the dtype's range, the infinity exactly."""
    err = _errors_against(np.broadcast_to(ref, y.shape), y, 0.0)
    with np.errstate(over="ignore"):
        rounded = np.broadcast_to(ref, y.shape).astype(y.dtype)
    over = np.isinf(rounded) & np.isfinite(np.broadcast_to(ref, y.shape))
    return np.where(over, np.where(y == rounded, 0.0, np.inf), err)


def check_binary(op: str, x1: object, x2: object, y: np.ndarray, backend: str) -> float:
    """Asserts the bound of a binary op of the op table against numpy in the result's dtype
    (Python numbers take it, as numpy 2 gives them): add, subtract, multiply, maximum and
    minimum exact (on gpu also the result with subnormals flushed), divide within N ulp of a
    wide reference. Returns the worst error in ulps."""
    y = np.asarray(y)
    dtype = y.dtype
    operands = [x if isinstance(x, int | float) and not isinstance(x, np.generic)
                else np.asarray(x, dtype) for x in (x1, x2)]  # fmt: skip
    fn = OPS[op].numpy
    with np.errstate(all="ignore"):
        exact = np.asarray(fn(*operands), dtype)
    assert y.shape == exact.shape, f"{op}: shape {y.shape} != numpy's {exact.shape}"
    if y.size == 0:
        return 0.0
    if op == "divide":
        ref = _quotient(operands, dtype)
        err = _quotient_errors(ref, y)
        if backend.startswith("gpu"):  # or with subnormals flushed
            flushed = [_flushed(x) if isinstance(x, np.ndarray) else x for x in operands]
            err = np.fmin(err, _quotient_errors(_quotient(flushed, dtype), y))
        bound = ulp_bound(op, backend)
        worst = int(np.argmax(err))
        assert err.flat[worst] <= bound, (
            f"divide on {backend} ({dtype}): element {worst} is {y.flat[worst]!r}, reference "
            f"{np.asarray(ref).flat[worst]!r}: {err.flat[worst]:.2f} ulp (bound {bound})"
        )
        return float(err.flat[worst])
    same = (y == exact) | (np.isnan(y) & np.isnan(exact))
    if op in ("add", "subtract", "multiply"):  # the sign of a zero is part of the result
        # (a NaN's sign is not: IEEE leaves it unspecified, and which operand's NaN comes out
        # differs between numpy's loops and ours)
        same &= np.isnan(exact) | (np.signbit(y) == np.signbit(exact))
    if backend.startswith("gpu"):
        fl = [_flushed(x) if isinstance(x, np.ndarray) else x for x in operands]
        with np.errstate(all="ignore"):
            other = _flushed(np.asarray(fn(*fl), dtype))
        tiny = np.finfo(dtype).tiny
        same |= (y == other) | (np.isnan(y) & np.isnan(other))
        same |= (np.abs(exact) < tiny) & (np.abs(y) < tiny)
    bad = np.flatnonzero(~same)
    assert bad.size == 0, (
        f"{op} on {backend} ({dtype}): element {int(bad[0])} is {y.flat[bad[0]]!r}, numpy "
        f"gives {exact.flat[bad[0]]!r} ({bad.size} elements differ)"
    )
    return 0.0


def check_reduction(op: str, x: np.ndarray, axis: object, keepdims: bool, y: object,
                    backend: str) -> float:  # fmt: skip
    """Asserts sum's bound (g_n sum|x| + n tiny), mean's (that / n + 1 ulp) or max exact, NaN
    where numpy gives NaN. Returns the worst error as a fraction of the bound."""
    y = np.asarray(y)
    dtype = y.dtype
    x = np.asarray(x)
    assert dtype == x.dtype, f"{op}: dtype {dtype} != input dtype {x.dtype}"
    wx = wide(x, dtype)
    ax = axis if axis is None or isinstance(axis, int) else tuple(axis)
    with np.errstate(all="ignore"):
        if op == "max":
            ref = np.max(x, axis=ax, keepdims=keepdims)
            assert y.shape == np.shape(ref), f"max: shape {y.shape} != numpy's {np.shape(ref)}"
            same = (y == ref) | (np.isnan(y) & np.isnan(ref))
            assert np.all(same), f"max on {backend}: {y!r} != numpy's {ref!r}"
            return 0.0
        total = np.sum(wx, axis=ax, keepdims=keepdims)
        mag = np.sum(np.abs(wx), axis=ax, keepdims=keepdims)
    n = x.size // max(1, np.asarray(total).size) if x.size else 0
    assert y.shape == np.shape(total), f"{op}: shape {y.shape} != numpy's {np.shape(total)}"
    if y.size == 0:
        return 0.0
    if n == 0:  # over nothing: 0 for the sum, NaN for the mean
        empty = np.zeros(y.shape) if op == "sum" else np.full(y.shape, np.nan)
        assert np.array_equal(y, empty, equal_nan=True), f"{op} over nothing gave {y!r}"
        return 0.0
    bound = _bound(np.asarray(mag, np.float64), max(n, 1), dtype)
    ref = total
    if op == "mean":
        with np.errstate(all="ignore"):
            ref = total / n
        bound = bound / n + ulp(ref, dtype)
    ratio = _ratio(np.asarray(ref), np.asarray(bound), y)
    worst = int(np.argmax(ratio))
    assert ratio.flat[worst] <= 1, (
        f"{op} on {backend} ({dtype}, n={n}): element {worst} is {y.flat[worst]!r}, reference "
        f"{np.asarray(ref).flat[worst]!r}: {ratio.flat[worst]:.3g} x the bound"
    )
    return float(ratio.flat[worst])


def check_norm(op: str, x: np.ndarray, weight: np.ndarray | None, bias: np.ndarray | None,
               eps: float, y: object, backend: str) -> float:  # fmt: skip
    """Asserts the norms' bound: 4 (n + 4) u |w| (|mean| + max|x|) / sigma + 4 ulp(ref) + tiny
    per element, sigma = sqrt(var + eps) of the row. Returns the worst fraction of it."""
    y = np.asarray(y)
    dtype = y.dtype
    x = np.asarray(x)
    assert y.shape == x.shape, f"{op}: shape {y.shape} != input shape {x.shape}"
    if y.size == 0:
        return 0.0
    wx = wide(x, dtype)
    n = x.shape[-1]
    with np.errstate(all="ignore"):
        mean = wx.mean(-1, keepdims=True) if op == "layer_norm" else np.zeros_like(wx[..., :1])
        var = ((wx - mean) ** 2).mean(-1, keepdims=True)
        sigma = np.sqrt(var + wide(np.asarray(eps), dtype))
        ref = (wx - mean) / sigma
        wmag = 1.0
        if weight is not None:
            ref = ref * wide(weight, dtype)
            wmag = np.abs(wide(weight, dtype))
        if bias is not None:
            ref = ref + wide(bias, dtype)
        big = np.abs(mean) + np.max(np.abs(wx), axis=-1, keepdims=True)
        allowance = (4 * (n + 4) * unit_roundoff(dtype) * wmag * big / sigma).astype(np.float64)
    allowance = np.nan_to_num(allowance, nan=0.0, posinf=0.0)
    err = _errors_against(ref, y, allowance)
    # A row of finite values whose variance is exactly 0 with eps = 0 has the bound's
    # sigma = 0: no bound at all (0 / 0 in exact arithmetic; a kernel's mean, rounded, leaves
    # x - mean a rounding error, which the division scales to about 1). Any result passes.
    undefined = (sigma == 0) & np.isfinite(wx).all(axis=-1, keepdims=True)
    err = np.where(np.broadcast_to(undefined, err.shape), 0.0, err)
    worst = int(np.argmax(err))
    assert err.flat[worst] <= 4, (
        f"{op} on {backend} ({dtype}, n={n}): element {worst} is {y.flat[worst]!r}, reference "
        f"{np.asarray(ref).flat[worst]!r}: {err.flat[worst]:.2f} ulp beyond the allowance"
    )
    return float(err.flat[worst]) / 4
