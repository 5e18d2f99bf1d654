"""References and the tolerance policy of DESIGN.md, as functions that raise AssertionError.

The reference is numpy at higher precision than the result: float64 for float32 results,
and numpy's long double for float64 results where the platform has one (x86-64 Linux: 64-bit
mantissa). A float64 reference for a float64 result would carry as much rounding error as
the result itself, and the checks would measure the reference, not the backend.

| op            | bound                                                                    |
|---------------|--------------------------------------------------------------------------|
| relu          | exact                                                                    |
| sigmoid, tanh | |y - ref| <= N ulp(ref) or <= tiny; N = 4 on cpu and simd, 8 on gpu       |
| matmul, dot   | |C - ref| <= g_K (|A| @ |B|) + K tiny, g_K = K u / (1 - K u)              |
"""

from __future__ import annotations

import numpy as np

ULP_BOUND = {"cpu": 4, "simd": 4, "gpu": 8}

_LONG = np.longdouble if np.finfo(np.longdouble).nmant > 52 else np.float64


def unit_roundoff(dtype: np.dtype) -> float:
    return 2.0 ** -(np.finfo(dtype).nmant + 1)


def wide(x: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """x in the reference precision for results of dtype."""
    return np.asarray(x, dtype=np.float64 if np.dtype(dtype) == np.float32 else _LONG)


def reference(op: str, x: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """The activation's reference, in the wide type."""
    w = wide(x, dtype)
    with np.errstate(over="ignore", invalid="ignore"):
        if op == "relu":
            return np.where(np.isnan(w), w, np.maximum(w, 0))
        if op == "sigmoid":
            return 1 / (1 + np.exp(-w))
        if op == "tanh":
            return np.tanh(w)
    raise ValueError(f"no reference for {op!r}")


def ulp(ref: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """The spacing of dtype at |ref| (ref rounded to dtype), in float64."""
    with np.errstate(over="ignore"):
        r = np.abs(np.asarray(ref).astype(dtype))
    return np.spacing(r).astype(np.float64)


def activation_errors(op: str, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Each element's error in ulps of the reference (0 where within tiny, inf where a NaN or
    an infinity is wrong). NaN inputs must give NaN."""
    dtype = y.dtype
    ref = reference(op, x, dtype)
    tiny = float(np.finfo(dtype).tiny)
    with np.errstate(invalid="ignore", over="ignore"):
        diff = np.abs(wide(y, dtype) - ref).astype(np.float64)
        err = np.where(diff <= tiny, 0.0, diff / ulp(ref, dtype))
    nan_ref = np.isnan(ref)
    err = np.where(nan_ref, np.where(np.isnan(y), 0.0, np.inf), err)
    err = np.where(~nan_ref & np.isnan(y), np.inf, err)
    inf_ref = np.isinf(ref)  # an infinity must be matched exactly (inf - inf is NaN)
    return np.where(inf_ref, np.where(wide(y, dtype) == ref, 0.0, np.inf), err)


def check_activation(op: str, x: np.ndarray, y: np.ndarray, backend: str) -> float:
    """Asserts the DESIGN.md contract for one activation result; returns the worst ulp error."""
    x = np.asarray(x)
    assert y.shape == x.shape, f"{op}: shape {y.shape} != input shape {x.shape}"
    assert y.dtype == x.dtype, f"{op}: dtype {y.dtype} != input dtype {x.dtype}"
    if x.size == 0:
        return 0.0
    err = activation_errors(op, x, y)
    bound = 0 if op == "relu" else ULP_BOUND[backend]
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
    return float(err.flat[worst])


def matmul_reference(
    a: np.ndarray, b: np.ndarray, dtype: np.dtype
) -> tuple[np.ndarray, np.ndarray]:
    """(reference product, |A| @ |B|), both in the wide type."""
    wa, wb = wide(a, dtype), wide(b, dtype)
    with np.errstate(over="ignore", invalid="ignore"):
        return np.matmul(wa, wb), np.matmul(np.abs(wa), np.abs(wb))


def matmul_errors(a: np.ndarray, b: np.ndarray, c: np.ndarray) -> np.ndarray:
    """|C - ref| / bound elementwise (<= 1 passes); inf where a NaN or infinity is wrong."""
    dtype = c.dtype
    k = np.asarray(a).shape[-1]
    ref, mag = matmul_reference(a, b, dtype)
    u = unit_roundoff(dtype)
    gamma = k * u / (1 - k * u)
    tiny = float(np.finfo(dtype).tiny)
    bound = (gamma * mag + k * tiny).astype(np.float64)
    with np.errstate(invalid="ignore", over="ignore"):
        diff = np.abs(wide(c, dtype) - ref).astype(np.float64)
        ratio = np.where(diff == 0, 0.0, diff / bound)
    finite_ref = np.isfinite(ref)
    # where the reference is NaN the result must be NaN; where it is +-inf, the same infinity
    special_ok = np.where(np.isnan(ref), np.isnan(c), c.astype(np.float64) == ref)
    ratio = np.where(
        finite_ref, np.where(np.isnan(c), np.inf, ratio), np.where(special_ok, 0.0, np.inf)
    )
    return ratio


def check_matmul(a: np.ndarray, b: np.ndarray, c: np.ndarray, backend: str) -> float:
    """Asserts the matmul bound of DESIGN.md; returns the worst error as a fraction of it."""
    expected = np.matmul(np.zeros(np.shape(a), np.float32), np.zeros(np.shape(b), np.float32)).shape
    assert c.shape == expected, f"matmul shape {c.shape} != numpy's {expected}"
    if c.size == 0:
        return 0.0
    ratio = matmul_errors(a, b, c)
    worst = int(np.argmax(ratio))
    ref, _ = matmul_reference(a, b, c.dtype)
    where = tuple(int(i) for i in np.unravel_index(worst, c.shape))
    assert ratio.flat[worst] <= 1, (
        f"matmul on {backend} ({c.dtype}, K={np.shape(a)[-1]}): element {where} is "
        f"{c.flat[worst]!r}, reference {ref.flat[worst]!r}: {ratio.flat[worst]:.3g} x the bound"
    )
    return float(ratio.flat[worst])


def check_dot(a: np.ndarray, b: np.ndarray, r: np.floating, backend: str) -> float:
    """Asserts the dot bound (matmul's with M = N = 1); returns the error as a fraction of it."""
    c = np.asarray(r).reshape(1, 1)
    return check_matmul(np.reshape(a, (1, -1)), np.reshape(b, (-1, 1)), c, backend)
