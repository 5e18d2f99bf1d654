"""The protocol every backend implements, kept small on purpose.

A backend says whether it can run here (and if not, why, phrased as a fix), which dtypes it
runs, and implements kernels on C-contiguous arrays. Everything else (conversion, dtype
promotion, matmul's 1-D promotion and batch broadcasting, `out=`, splitting work that is too
large) is done once for all backends in `accel._ops`.
"""

from __future__ import annotations

import os
from typing import Protocol

import numpy as np


def available_cpus() -> int:
    """The CPUs this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not on Linux
        return os.cpu_count() or 1


def thread_count() -> int:
    """Threads a backend may use: ACCEL_NUM_THREADS, capped by the CPUs available."""
    text = os.environ.get("ACCEL_NUM_THREADS", "").strip()
    cpus = available_cpus()
    return max(1, min(int(text), cpus)) if text.isdigit() and int(text) > 0 else cpus


Elementwise = str  # an op name of accel._ops.ELEMENTWISE_OPS


class Backend(Protocol):
    name: str

    def unavailable_reason(self) -> str | None:
        """None when the backend can run here, else why not, phrased as how to fix it."""

    def dtypes(self) -> frozenset[np.dtype]:
        """The dtypes this backend runs on this machine."""

    def auto_eligible(self) -> bool:
        """Whether auto and list selection may choose it (a software GPU may not)."""

    def max_elements(self, dtype: np.dtype) -> int:
        """The most elements one kernel call may touch in all its arrays together; the shared
        layer splits larger work."""

    def details(self) -> dict:
        """What the probe reports about this backend (instruction set, adapter, versions)."""

    def matmul(self, a: np.ndarray, b: np.ndarray, out: np.ndarray) -> None:
        """out[i] = a[i or 0] @ b[i or 0]: a (Ba, M, K), b (Bb, K, N), out (B, M, N), with Ba and
        Bb each 1 or B; all C-contiguous, one dtype, M, N, K >= 1."""

    def dot(self, a: np.ndarray, b: np.ndarray) -> float:
        """The inner product of two contiguous 1-D arrays of one dtype, n >= 1."""

    def elementwise(self, op: Elementwise, x: np.ndarray, out: np.ndarray) -> None:
        """out = op(x) for C-contiguous arrays of one shape (any, x.size >= 1); out may be x
        itself."""
