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
    own N ulp. Returns the worst error (as a fraction of the bound)."""
    y = np.asarray(y)
    dtype = y.dtype
    k = np.shape(w)[0]
    expected = (*np.shape(x)[:-1], np.shape(w)[1])
    assert y.shape == expected, f"linear shape {y.shape} != {expected}"
    if y.size == 0:
        return 0.0
    wx, ww = wide(x, dtype), wide(w, dtype)
    with np.errstate(over="ignore", invalid="ignore"):
        z = wx @ ww
        mag = np.abs(wx) @ np.abs(ww)
        if bias is not None:
            z = z + wide(bias, dtype)
            mag = mag + np.abs(wide(bias, dtype))
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
