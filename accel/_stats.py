"""Per (op, backend) counters: calls, fallbacks and recent latencies, for `accel.stats()`."""

from __future__ import annotations

import itertools
import threading
from collections import deque

import numpy as np

_WINDOW = 4096  # latencies kept per (op, backend) for the percentiles


class _Record:
    """calls is an itertools.count: next() on it is atomic under the GIL, so counting needs
    no lock on the hot path (a lock would cost as much as a small kernel)."""

    __slots__ = ("_calls", "fallbacks", "latencies")

    def __init__(self) -> None:
        self._calls = itertools.count()
        self.fallbacks = 0
        self.latencies: deque[float] = deque(maxlen=_WINDOW)

    @property
    def calls(self) -> int:
        return int(repr(self._calls)[len("count(") : -1])  # the next value = calls so far


_records: dict[tuple[str, str], _Record] = {}
_lock = threading.Lock()


def _record(op: str, backend: str) -> _Record:
    rec = _records.get((op, backend))
    if rec is None:
        rec = _records.setdefault((op, backend), _Record())
    return rec


def add_call(op: str, backend: str, seconds: float) -> None:
    rec = _records.get((op, backend)) or _record(op, backend)
    next(rec._calls)
    rec.latencies.append(seconds)


def add_fallback(op: str, backend: str) -> None:
    rec = _record(op, backend)
    with _lock:
        rec.fallbacks += 1


def stats() -> dict[tuple[str, str], dict[str, float | int | None]]:
    """{(op, backend): {"calls", "fallbacks", "p50_us", "p95_us", "p99_us"}}.

    calls counts the calls the backend completed; fallbacks the calls it failed and passed
    on to the next backend. Latencies are over the last few thousand calls, in microseconds.
    """
    out: dict[tuple[str, str], dict[str, float | int | None]] = {}
    for key, rec in list(_records.items()):
        lat = np.fromiter(list(rec.latencies), dtype=np.float64) * 1e6
        p50, p95, p99 = np.percentile(lat, [50, 95, 99]) if lat.size else (None, None, None)
        out[key] = {
            "calls": rec.calls,
            "fallbacks": rec.fallbacks,
            "p50_us": None if p50 is None else float(p50),
            "p95_us": None if p95 is None else float(p95),
            "p99_us": None if p99 is None else float(p99),
        }
    return out


def reset_stats() -> None:
    with _lock:
        _records.clear()
