"""Per (op, backend) counters for `accel.stats()`: calls, fallbacks and recent latencies of each
op, and the calls and bytes of the transfers (`upload`, `download`) of each backend."""

from __future__ import annotations

import itertools
import threading
from collections import deque

import numpy as np

_WINDOW = 4096  # latencies kept per (op, backend) for the percentiles
TRANSFERS = ("upload", "download")


_SAMPLE = 8  # the latency of one call in this many is measured (two clock reads)


class _Record:
    """calls is an itertools.count: next() on it is atomic under the GIL, so counting needs no
    lock on the hot path (a lock would cost as much as a small kernel). Latencies are sampled:
    one call in _SAMPLE is timed, which keeps the percentiles and drops two clock reads from
    the other calls."""

    __slots__ = ("_bytes", "_calls", "extra", "fallbacks", "latencies", "tick")

    def __init__(self) -> None:
        self._calls = itertools.count()
        self.extra = 0  # calls counted in bulk, under the lock (transfers; the fast path)
        self._bytes = 0
        self.fallbacks = 0
        self.tick = 0
        self.latencies: deque[float] = deque(maxlen=_WINDOW)

    @property
    def calls(self) -> int:
        return int(repr(self._calls)[len("count(") : -1]) + self.extra  # next value = calls


_records: dict[tuple[str, str], _Record] = {}
_lock = threading.Lock()


def _record(op: str, backend: str) -> _Record:
    rec = _records.get((op, backend))
    if rec is None:
        with _lock:
            rec = _records.setdefault((op, backend), _Record())
    return rec


def begin(op: str, backend: str) -> tuple[_Record, bool]:
    """(the record, whether to time this call): the hot path's half of add_call."""
    rec = _records.get((op, backend)) or _record(op, backend)
    tick = rec.tick = (rec.tick + 1) % _SAMPLE  # a race only moves which call is sampled
    return rec, tick == 0


def end(rec: _Record, seconds: float | None) -> None:
    next(rec._calls)
    if seconds is not None:
        rec.latencies.append(seconds)


def add_call(op: str, backend: str, seconds: float) -> None:
    rec = _records.get((op, backend)) or _record(op, backend)
    next(rec._calls)
    rec.latencies.append(seconds)


def add_fallback(op: str, backend: str) -> None:
    rec = _record(op, backend)
    with _lock:
        rec.fallbacks += 1


def add_transfer(kind: str, backend: str, nbytes: int) -> None:
    """One upload or download of nbytes to or from a backend's memory."""
    rec = _records.get((kind, backend)) or _record(kind, backend)
    with _lock:
        next(rec._calls)
        rec._bytes += nbytes


def add_transfers(backend: str, up: int, down: int, calls: int = 1) -> None:
    """`calls` uploads of `up` bytes in all and as many downloads of `down` bytes, under one
    lock (more than one: what the compiled fast path counted)."""
    ups = _records.get(("upload", backend)) or _record("upload", backend)
    downs = _records.get(("download", backend)) or _record("download", backend)
    with _lock:
        ups.extra += calls
        ups._bytes += up
        downs.extra += calls
        downs._bytes += down


def stats() -> dict[tuple[str, str], dict[str, float | int | None]]:
    """{(op, backend): record}. For an op: "calls" (completed on that backend), "fallbacks"
    (failed there and passed on to the next backend) and "p50_us", "p95_us", "p99_us" (latency
    over the last few thousand timed calls (one in
    eight), microseconds). For ("upload" or "download", backend):
    "calls" and "bytes" moved into or out of that backend's memory."""
    _merge_sources()
    out: dict[tuple[str, str], dict[str, float | int | None]] = {}
    for key, rec in list(_records.items()):
        if key[0] in TRANSFERS:
            out[key] = {"calls": rec.calls, "bytes": rec._bytes}
            continue
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


# Counters kept elsewhere (the compiled fast path counts its calls in C), as functions that
# return and forget what they counted: ([(op, backend, calls, [seconds of the timed ones])],
# {backend: (calls that moved data, bytes uploaded, bytes downloaded)}). Registered by their
# owners.
_sources: list = []


def add_source(take) -> None:
    """Merges what take() returns into stats() from now on (see _sources)."""
    _sources.append(take)


def _merge_sources() -> None:
    for take in list(_sources):
        records, moved = take()
        for op, backend, calls, times in records:
            rec = _record(op, backend)
            with _lock:
                rec.extra += calls
                rec.latencies.extend(times)
        for backend, (calls, up, down) in moved.items():
            if calls:
                add_transfers(backend, up, down, calls)


def reset_stats() -> None:
    for take in list(_sources):
        take()
    with _lock:
        _records.clear()
