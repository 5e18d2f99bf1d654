"""The dispatcher: picks the backend for a call and falls back when one fails.

auto and list mode walk their candidates (auto: the chain gpu, simd, cpu) and skip a backend
that is unavailable, not eligible for auto (a software GPU), or cannot run the dtype. When
the chosen backend fails at run time, the call is retried on the next candidate, the
fallback is counted and one AccelFallbackWarning is issued per (backend, reason). One name is
strict: it runs there or raises. Every decision is logged at DEBUG on the "accel" logger.
"""

from __future__ import annotations

import logging
import threading
import time
import warnings
from collections.abc import Callable
from typing import TypeVar

import numpy as np

from . import _selection, _stats, backends
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


def _candidates(sel: _selection.Selection, op: str, dtype: np.dtype) -> tuple:
    key = (sel.text, op, dtype)
    plan = _plans.get(key)
    if plan is None:
        usable, skipped = [], []
        for name in sel.names:
            b = backends.get(name)
            why = _why_not(b, dtype, for_auto=True)
            if why is None:
                usable.append(b)
            else:
                skipped.append(f"{name}: {why}")
        plan = (tuple(usable), "; ".join(skipped))
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


def run(op: str, dtype: np.dtype, backend: str | None, call: Callable[[object], R]) -> R:
    """Runs call(backend_object) on the backend the selection picks for (op, dtype)."""
    sel = _selection.current(backend)
    if sel.strict:
        return _run_strict(sel.names[0], op, dtype, call)
    usable, skipped = _candidates(sel, op, dtype)
    errors = []
    for b in usable:
        if log.isEnabledFor(logging.DEBUG):
            log.debug("%s %s: %s chose %s%s", op, dtype.name, sel.text, b.name,
                      f" (skipped {skipped})" if skipped else "")  # fmt: skip
        t0 = time.perf_counter()
        try:
            result = call(b)
        except Exception as e:  # any failure of one backend: try the next
            reason = f"{type(e).__name__}: {e}"
            errors.append(f"{b.name}: {reason}")
            _stats.add_fallback(op, b.name)
            log.debug("%s %s: %s failed (%s), falling back", op, dtype.name, b.name, reason)
            on_failure = getattr(b, "on_failure", None)
            if on_failure is not None and on_failure(e):
                invalidate()
            _warn_fallback(b.name, op, reason)
            continue
        _stats.add_call(op, b.name, time.perf_counter() - t0)
        return result
    detail = "; ".join(x for x in (skipped, *errors) if x)
    raise UnsupportedOperationError(
        f"no backend of selection {sel.text!r} could run {op} on {dtype.name}: {detail}"
    )


def _run_strict(name: str, op: str, dtype: np.dtype, call: Callable[[object], R]) -> R:
    b = backends.get(name)
    reason = b.unavailable_reason()
    if reason is not None:
        raise BackendUnavailableError(f"backend {name!r} is unavailable: {reason}")
    if dtype not in b.dtypes():
        raise UnsupportedOperationError(
            f"backend {name!r} cannot run {op} on {dtype.name} on this machine "
            f"(it runs {', '.join(sorted(d.name for d in b.dtypes()))})"
        )
    if log.isEnabledFor(logging.DEBUG):
        log.debug("%s %s: strict selection runs %s", op, dtype.name, name)
    t0 = time.perf_counter()
    try:
        result = call(b)
    except AccelError:
        raise
    except MemoryError:
        raise
    except Exception as e:
        on_failure = getattr(b, "on_failure", None)
        if on_failure is not None and on_failure(e):
            invalidate()
        raise BackendRuntimeError(f"backend {name!r} failed on {op}: {e}") from e
    _stats.add_call(op, name, time.perf_counter() - t0)
    return result


def available_backends() -> tuple[str, ...]:
    """The backends that can run on this machine, in chain order."""
    return tuple(n for n in _selection.BACKENDS if backends.get(n).unavailable_reason() is None)
