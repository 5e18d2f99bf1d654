"""Shared by the benchmark scripts: timing with accel.bench and a plain table."""

from __future__ import annotations

import os
import sys

import numpy as np

from accel import bench


def warn_openblas() -> None:
    message = bench.openblas_warning()
    if message:
        print(f"warning: {message}", file=sys.stderr)


def seconds(call, repeat: int = 7, budget_s: float = 0.5) -> float:
    """Median seconds per call (after a warm-up; at least `repeat` calls)."""
    return float(np.median(bench.time_calls(call, repeat, budget_s)))


def percentiles_us(call, budget_s: float = 0.5) -> tuple[float, float, float]:
    t = bench.time_calls(call, 50, budget_s) * 1e6
    p50, p95, p99 = np.percentile(t, [50, 95, 99])
    return float(p50), float(p95), float(p99)


def print_table(rows: list[tuple], head: tuple) -> None:
    rows = [tuple(str(c) for c in r) for r in [head, *rows]]
    widths = [max(len(r[i]) for r in rows) for i in range(len(head))]
    for r in rows:
        print("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)))


def machine() -> str:
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    coretype = os.environ.get("OPENBLAS_CORETYPE")
    return f"{cpus} CPUs, numpy {np.__version__}, OPENBLAS_CORETYPE={coretype}"
