"""The compiled entry points for small calls (c_ext/fastpath.c), and what keeps them honest.

The public relu, sigmoid, tanh, gelu, silu, matmul, dot and linear are FastOp objects when the
extension was built (Python 3.11 or later, with a C compiler): a call that is the common case
(exact ndarrays, C-contiguous, aligned, native float32/float64, no out=, backend None or "cpu")
and that the dispatcher has already resolved to the cpu backend for its op, dtype and size
runs the C kernel directly; every other call is the Python function, unchanged.

What the fast path may take is set here from the dispatcher's own decisions (`allow`, called
when a call has run on cpu as the first choice of its selection) and withdrawn whenever
anything that decides changes (`reset`: set_backend, a backend replaced or failing, a
calibration; `frames`: any use_backend block open in any thread). Its calls are counted in C
and merged into accel.stats().
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

try:
    from . import _fastpath
except ImportError:  # not built (Python 3.10, no compiler): every call takes the Python path
    _fastpath = None

SLOT_MATMUL, SLOT_DOT, SLOT_LINEAR = 5, 6, 7
_SLOTS: dict[str, int] = {}  # op name -> slot, as wrap() registers them
_configured = False


def wrap(name: str, slot: int, fallback: Callable[..., Any]) -> Callable[..., Any]:
    """The public entry point of an op: a FastOp over `fallback`, or `fallback` itself."""
    _SLOTS[name] = slot
    if _fastpath is None:
        return fallback
    return _fastpath.make(slot, fallback)


def _configure(cpu: Any) -> bool:
    global _configured
    if not _configured:
        addresses = cpu.kernel_addresses()
        if addresses is None:
            return False
        from ._optable import ACTIVATIONS

        act_ids = {name: op.act_id for name, op in ACTIVATIONS.items()}
        dtypes = (np.dtype(np.float32), np.dtype(np.float64))
        _fastpath.configure(addresses, np.ndarray, np.empty_like, np.empty, np.float32,
                            np.float64, *dtypes, act_ids)  # fmt: skip
        _configured = True
    return True


def allow(op: str, dtype: np.dtype, b: Any, strict: bool, upper: float) -> None:
    """Lets the fast path take (op, dtype) calls of work below `upper` on backend b: the
    dispatcher's first choice for them (strict: with backend="cpu")."""
    slot = _SLOTS.get(op)
    if _fastpath is None or slot is None or b.name != "cpu" or not _configure(b):
        return
    _fastpath.set_bound(slot, 0 if dtype == np.float32 else 1, strict,
                        math.inf if math.isinf(upper) else float(upper))  # fmt: skip


def reset() -> None:
    if _fastpath is not None:
        _fastpath.reset()


def frames(delta: int) -> None:
    if _fastpath is not None:
        _fastpath.frames(delta)


def take_stats() -> list[tuple[str, str, int, list[float]]]:
    """(op, backend, calls, seconds of the timed ones) since the last take."""
    if _fastpath is None:
        return []
    names = {slot: name for name, slot in _SLOTS.items()}
    return [
        (names[slot], "cpu", calls, times) for slot, _dt, calls, times in _fastpath.take_stats()
    ]
