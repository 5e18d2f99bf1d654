"""The dispatcher: picks the backend for a call and falls back when one fails.

auto and list mode walk their candidates (auto: the chain gpu, simd, cpu, ranked by the cost
model for the call's work) and skip a backend that is unavailable, not eligible for auto (a
software GPU), cannot run the dtype or declines the call. A backend is made (its library
loaded, its device opened) only when a call reaches it in that order: a call that the cost
model gives to cpu never starts the GPU. When the chosen backend fails at run time, the call
is retried on the next candidate, the fallback is counted and one AccelFallbackWarning is
issued per (backend, reason). One name is strict: it runs there or raises. Every decision is
logged at DEBUG on the "accel" logger.

Decisions are cached per (selection, op, dtype) and interval of work, and forgotten at every
notice of accel._notice; the first choice of each interval is also handed to the compiled
fast path (accel._fast), which then runs such calls itself.
"""

from __future__ import annotations

import bisect
import logging
import os
import sys
import threading
import time
import warnings
from collections.abc import Callable
from typing import TypeVar

import numpy as np

from . import _cost, _fast, _notice, _selection, _stats, backends
from ._errors import (
    AccelError,
    AccelFallbackWarning,
    BackendRuntimeError,
    BackendUnavailableError,
    UnsupportedOperationError,
)
from .backends._kernels import Kernels as _Kernels

R = TypeVar("R")
log = logging.getLogger("accel")

_warned: set[tuple[str, str]] = set()
_warned_lock = threading.Lock()
# (selection index, op, dtype) -> (bounds, rankings): rankings[i] holds for work < bounds[i]
_plans: dict[tuple[int, str, np.dtype], tuple[list[float], list[tuple[str, ...]]]] = {}
_ACCEL_DIR = os.path.dirname(os.path.abspath(__file__))


def _forget(kind: str) -> None:
    _plans.clear()
    _ready.clear()


_notice.subscribe(_forget)


def invalidate() -> None:
    """Forgets every cached decision, here and in the compiled fast path (a backend became
    usable or unusable)."""
    _notice.changed("backends")


def why_not(b: backends.Backend, dtype: np.dtype, for_auto: bool) -> str | None:
    """Why a backend cannot take calls of this dtype (None: it can)."""
    reason = b.unavailable_reason()
    if reason is not None:
        return f"unavailable: {reason}"
    if for_auto and not b.auto_eligible():
        return "not eligible for auto (software adapter)"
    if dtype not in b.dtypes():
        return f"does not run {dtype.name}"
    return None


def _known_unusable(name: str, dtype: np.dtype) -> bool:
    """True for a backend already made and unusable for auto: ranking leaves it out. A backend
    not made yet is ranked by its cost alone and made only if a call reaches it."""
    b = backends.loaded(name)
    return b is not None and why_not(b, dtype, for_auto=True) is not None


def _rankings(sel: _selection.Selection, op: str, dtype: np.dtype):
    key = (sel.index, op, dtype)
    plan = _plans.get(key)
    if plan is None:
        names = tuple(n for n in sel.names if not _known_unusable(n, dtype))
        if sel.text == "auto":
            segments = _cost.model().segments(names, op, dtype)
        else:  # a list is the user's order of preference
            segments = ((float("inf"), names),)
        plan = ([upper for upper, _ in segments], [order for _, order in segments])
        _plans[key] = plan
    return plan


def _user_stacklevel() -> int:
    """The stacklevel that points warnings.warn at the first frame outside accel."""
    frame = sys._getframe(1)
    level = 1
    while frame is not None and os.path.dirname(
        os.path.abspath(frame.f_code.co_filename)
    ).startswith(_ACCEL_DIR):
        frame = frame.f_back
        level += 1
    return level


def _warn_fallback(name: str, op: str, reason: str) -> None:
    key = (name, reason)
    with _warned_lock:
        if key in _warned:
            return
        _warned.add(key)
    warnings.warn(
        f"accel: backend {name!r} failed on {op} ({reason}); running on the next backend",
        AccelFallbackWarning,
        stacklevel=_user_stacklevel(),
    )


def _failed(b: backends.Backend, op: str, dtype: np.dtype, e: Exception, fallback: bool) -> str:
    """Books a backend's run-time failure; returns the reason."""
    reason = f"{type(e).__name__}: {e}"
    if fallback:
        _stats.add_fallback(op, b.name)
    log.debug("%s %s: %s failed (%s)", op, dtype.name, b.name, reason)
    if b.on_failure(e):  # the backend marked itself unusable
        invalidate()
    return reason


def strict_backend(name: str, op: str, dtype: np.dtype) -> backends.Backend:
    """The backend of a strict selection, or the error that says why it cannot run the call."""
    b = backends.get(name)
    reason = b.unavailable_reason()
    if reason is not None:
        raise BackendUnavailableError(f"backend {name!r} is unavailable: {reason}")
    if dtype not in b.dtypes():
        runs = ", ".join(sorted(d.name for d in b.dtypes()))
        raise UnsupportedOperationError(
            f"backend {name!r} cannot run {op} on {dtype.name} on this machine (it runs {runs})"
        )
    return b


def run_on(
    b: backends.Backend, op: str, call: Callable[[backends.Backend], R], count: bool = True
) -> R:
    """Runs call(b) on one backend, strictly: a failure raises (an AccelError as it is,
    anything else as BackendRuntimeError). count: book the call in stats() under op (a
    transfer books itself)."""
    t0 = time.perf_counter()
    try:
        result = call(b)
    except Exception as e:
        if b.on_failure(e):
            invalidate()
        if isinstance(e, AccelError | MemoryError):
            raise
        raise BackendRuntimeError(f"backend {b.name!r} failed on {op}: {e}") from e
    if count:
        _stats.add_call(op, b.name, time.perf_counter() - t0)
    return result


# (selection index, op, dtype) -> per interval of work, the backend object already found able
# to take the call (its first choice), or None until a call has checked it: a call in the
# common case then costs a dict lookup, not a walk over the ranking. Cleared with the plans.
_ready: dict[tuple[int, str, np.dtype], list] = {}
_registered = backends.loaded


def _takes_every_call(b: backends.Backend) -> bool:
    """The backend's kernels never decline (they keep the base class's `declines`)."""
    return type(b.kernels).declines is _Kernels.declines


def run(op: str, dtype: np.dtype, backend: str | None, work: float,
        call: Callable[[object], R], shape: tuple[int, ...] = ()) -> R:  # fmt: skip
    """Runs call(backend_object) on the backend the selection picks for (op, dtype) and this
    much work (flops for matmul, elements otherwise); on failure, the next in rank. shape:
    the operand's or result's, for a backend's kernels that decline by shape."""
    sel = _selection.current(backend)
    if backend is not None:
        _fast.name(backend, sel.index)
    key = (sel.index, op, dtype)
    ready = _ready.get(key)
    if ready is not None:
        bounds = ready[0]
        b = ready[1][bisect.bisect_right(bounds, work) if len(bounds) > 1 else 0]
        # (still the registered object: a test or register() may have replaced it)
        if b is not None and _registered(b.name) is b and not log.isEnabledFor(logging.DEBUG):
            rec, sample = _stats.begin(op, b.name)
            t0 = time.perf_counter() if sample else 0.0
            try:
                result = call(b)
            except Exception:  # the slow path books the failure and falls back (or raises)
                return _run(sel, op, dtype, work, call, backend, shape)
            _stats.end(rec, time.perf_counter() - t0 if sample else None)
            return result
    return _run(sel, op, dtype, work, call, backend, shape)


def _remember(sel: _selection.Selection, op: str, dtype: np.dtype, b: backends.Backend,
              bounds: list[float], index: int, text: str | None) -> None:  # fmt: skip
    """Keeps b as the first choice of its interval of work, here and in the compiled fast
    path (text: the backend= argument that named the selection, if one did)."""
    if not _takes_every_call(b):
        return
    _fast.allow(sel.index, text, op, dtype, b, bounds[index - 1] if index else 0.0,
                bounds[index])  # fmt: skip
    key = (sel.index, op, dtype)
    ready = _ready.get(key)
    if ready is None or ready[0] is not bounds:
        ready = _ready[key] = [bounds, [None] * len(bounds)]
    ready[1][index] = b


def _run(sel: _selection.Selection, op: str, dtype: np.dtype, work: float,
         call: Callable[[object], R], text: str | None, shape: tuple[int, ...]) -> R:  # fmt: skip
    if sel.strict:
        b = strict_backend(sel.names[0], op, dtype)
        declined = b.kernels.declines(op, dtype, shape)
        if declined is not None:
            raise UnsupportedOperationError(f"backend {b.name!r} cannot run this {op}: {declined}")
        if log.isEnabledFor(logging.DEBUG):
            log.debug("%s %s: strict selection runs %s", op, dtype.name, b.name)
        result = run_on(b, op, call)
        _remember(sel, op, dtype, b, [float("inf")], 0, text)
        return result
    bounds, rankings = _rankings(sel, op, dtype)
    index = bisect.bisect_right(bounds, work) if len(bounds) > 1 else 0
    ranked = rankings[index]
    errors: list[str] = []
    skipped: list[str] = []
    for name in ranked:
        b = backends.get(name)
        why = why_not(b, dtype, for_auto=True)
        if why is not None:
            invalidate()  # made just now and unusable: from now on it is ranked without it
        else:
            why = b.kernels.declines(op, dtype, shape)
        if why is not None:
            skipped.append(f"{name}: {why}")
            continue
        if log.isEnabledFor(logging.DEBUG):
            log.debug("%s %s: %s chose %s%s", op, dtype.name, sel.text, name,
                      f" (skipped {'; '.join(skipped)})" if skipped else "")  # fmt: skip
        t0 = time.perf_counter()
        try:
            result = call(b)
        except Exception as e:  # one backend failed: try the next
            reason = _failed(b, op, dtype, e, fallback=True)
            errors.append(f"{name}: {reason}")
            _warn_fallback(name, op, reason)
            continue
        _stats.add_call(op, name, time.perf_counter() - t0)
        if not skipped and not errors:
            _remember(sel, op, dtype, b, bounds, index, text)
        return result
    detail = "; ".join(skipped + errors) or "no backend in the selection"
    raise UnsupportedOperationError(
        f"no backend of selection {sel.text!r} could run {op} on {dtype.name}: {detail}"
    )


def available_backends() -> tuple[str, ...]:
    """The backends that can run on this machine, in chain order."""
    return tuple(n for n in _selection.BACKENDS if backends.get(n).unavailable_reason() is None)
