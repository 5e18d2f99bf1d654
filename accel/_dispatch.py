"""The dispatcher: picks the backend for a call and falls back when one fails.

auto and list mode walk their candidates (auto: the chain gpu, simd, cpu) and skip a backend
that is unavailable, not eligible for auto (a software GPU), or cannot run the dtype. When
the chosen backend fails at run time, the call is retried on the next candidate, the
fallback is counted and one AccelFallbackWarning is issued per (backend, reason). One name is
strict: it runs there or raises. Every decision is logged at DEBUG on the "accel" logger.
"""

from __future__ import annotations

import logging
import math
import threading
import time
import warnings
from collections.abc import Callable
from typing import TypeVar

import numpy as np

from . import _cost, _selection, _stats, backends
from ._errors import (
    AccelError,
    AccelFallbackWarning,
    BackendRuntimeError,
    BackendUnavailableError,
    UnsupportedOperationError,
)

R = TypeVar("R")
log = logging.getLogger("accel")

_warned: set[tuple[str, str]] = set()
_warned_lock = threading.Lock()
# (selection text, op, dtype) -> candidates; cleared whenever a backend's state changes
_plans: dict[tuple[str, str, np.dtype], tuple] = {}


def invalidate() -> None:
    """Forgets the cached candidate lists (a backend became usable or unusable)."""
    _plans.clear()


def _why_not(backend, dtype: np.dtype, for_auto: bool) -> str | None:
    reason = backend.unavailable_reason()
    if reason is not None:
        return f"unavailable: {reason}"
    if for_auto and not backend.auto_eligible():
        return "not eligible for auto (software adapter)"
    if dtype not in backend.dtypes():
        return f"does not run {dtype.name}"
    return None


def _plan(sel: _selection.Selection, op: str, dtype: np.dtype) -> tuple:
    """(segments, why others were skipped, error to raise instead) for a selection, op and
    dtype, cached until a backend's state changes. segments: ((upper work, backends in rank
    order), ...). Auto ranks by the cost model; a list keeps its own order; strict has one."""
    key = (sel.text, op, dtype)
    plan = _plans.get(key)
    if plan is not None:
        return plan
    if sel.strict:
        name = sel.names[0]
        b = backends.get(name)
        reason = b.unavailable_reason()
        error: AccelError | None = None
        if reason is not None:
            error = BackendUnavailableError(f"backend {name!r} is unavailable: {reason}")
        elif dtype not in b.dtypes():
            runs = ", ".join(sorted(d.name for d in b.dtypes()))
            error = UnsupportedOperationError(
                f"backend {name!r} cannot run {op} on {dtype.name} on this machine (it runs {runs})"
            )
        plan = (((math.inf, (b,) if error is None else ()),), "", error)
    else:
        usable, skipped = {}, []
        for name in sel.names:
            b = backends.get(name)
            why = _why_not(b, dtype, for_auto=True)
            if why is None:
                usable[name] = b
            else:
                skipped.append(f"{name}: {why}")
        if sel.text == "auto":
            ranked = _cost.model().segments(tuple(usable), op, dtype)
        else:
            ranked = ((math.inf, tuple(usable)),)
        segments = tuple((upper, tuple(usable[n] for n in order)) for upper, order in ranked)
        plan = (segments, "; ".join(skipped), None)
    _plans[key] = plan
    return plan


def _warn_fallback(name: str, op: str, reason: str) -> None:
    key = (name, reason)
    with _warned_lock:
        if key in _warned:
            return
        _warned.add(key)
    warnings.warn(
        f"accel: backend {name!r} failed on {op} ({reason}); running on the next backend",
        AccelFallbackWarning,
        stacklevel=4,
    )


def _failed(b, op: str, dtype: np.dtype, e: Exception, fallback: bool) -> str:
    """Books a backend's run-time failure; returns the reason."""
    reason = f"{type(e).__name__}: {e}"
    if fallback:
        _stats.add_fallback(op, b.name)
    log.debug("%s %s: %s failed (%s)", op, dtype.name, b.name, reason)
    on_failure = getattr(b, "on_failure", None)
    if on_failure is not None and on_failure(e):  # the backend marked itself unusable
        invalidate()
    return reason


def run(
    op: str, dtype: np.dtype, backend: str | None, work: float, call: Callable[[object], R]
) -> R:
    """Runs call(backend_object) on the backend the selection picks for (op, dtype) and this
    much work (flops for matmul, elements otherwise); on failure, the next in rank."""
    sel = _selection.current(backend)
    segments, skipped, error = _plan(sel, op, dtype)
    if error is not None:
        raise error
    ranked = segments[0][1]
    if len(segments) > 1:
        for upper, ranked in segments:  # noqa: B007 - the loop finds the interval
            if work < upper:
                break
    errors: list[str] = []
    for b in ranked:
        if log.isEnabledFor(logging.DEBUG):
            how = "strict selection runs" if sel.strict else f"{sel.text} chose"
            log.debug("%s %s: %s %s%s", op, dtype.name, how, b.name,
                      f" (skipped {skipped})" if skipped else "")  # fmt: skip
        t0 = time.perf_counter()
        try:
            result = call(b)
        except Exception as e:  # one backend failed: strict raises, auto tries the next
            if sel.strict:
                _failed(b, op, dtype, e, fallback=False)
                if isinstance(e, AccelError | MemoryError):
                    raise
                raise BackendRuntimeError(f"backend {b.name!r} failed on {op}: {e}") from e
            reason = _failed(b, op, dtype, e, fallback=True)
            errors.append(f"{b.name}: {reason}")
            _warn_fallback(b.name, op, reason)
            continue
        _stats.add_call(op, b.name, time.perf_counter() - t0)
        return result
    detail = "; ".join(x for x in (skipped, *errors) if x)
    raise UnsupportedOperationError(
        f"no backend of selection {sel.text!r} could run {op} on {dtype.name}: {detail}"
    )


def available_backends() -> tuple[str, ...]:
    """The backends that can run on this machine, in chain order."""
    return tuple(n for n in _selection.BACKENDS if backends.get(n).unavailable_reason() is None)
