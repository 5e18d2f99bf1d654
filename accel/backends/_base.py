"""The state role of a backend, and what ties its roles together.

A backend is a `Backend` object (this file: whether it can run here and if not why, phrased as
a fix; the dtypes it runs; whether auto may choose it; what the probe reports; its kernel
variants; what to do after a failure or a fork) that holds one object per other role, each in
a file of its own:

- `memory` (_memory.py): its buffers and the copies to and from the host;
- `kernels` (_kernels.py): each op on its buffers, and what it declines;
- `host` (_host.py): the numpy route, numpy arrays in and out, built from the two above;
- `native()` (_native.py): what the compiled fast path needs to call its kernels directly.

Everything else (conversion, dtype promotion, matmul's 1-D promotion and batch broadcasting,
`out=` and aliasing, Arrays) is done once for all backends in accel._ops and accel._array.
Public methods are final where they wrap a hook (threadpoolctl's pattern).
"""

from __future__ import annotations

import os
import warnings
from abc import ABC, abstractmethod
from typing import ClassVar

import numpy as np

from .._errors import BackendUnavailableError
from ._host import HostRoute
from ._kernels import Kernels
from ._memory import Memory
from ._native import CpuEntries, WasmEntries


def available_cpus() -> int:
    """The CPUs this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not on Linux
        return os.cpu_count() or 1


_thread_warning_given = False


def thread_count() -> int:
    """Threads a backend may use: ACCEL_NUM_THREADS (a positive integer), capped by the CPUs
    available. Anything else in it is reported once with a warning and ignored."""
    global _thread_warning_given
    text = os.environ.get("ACCEL_NUM_THREADS", "").strip()
    cpus = available_cpus()
    if not text:
        return cpus
    if text.isdigit() and int(text) > 0:
        return min(int(text), cpus)
    if not _thread_warning_given:
        _thread_warning_given = True
        warnings.warn(
            f"ACCEL_NUM_THREADS={text!r} is not a positive integer; using all {cpus} CPUs "
            "(set it to a number such as 1 or 4, or unset it)",
            RuntimeWarning,
            stacklevel=2,
        )
    return cpus


def thread_setting() -> dict:
    """ACCEL_NUM_THREADS as the probe reports it: the text and whether it is valid."""
    text = os.environ.get("ACCEL_NUM_THREADS", "").strip()
    return {"ACCEL_NUM_THREADS": text or None,
            "valid": not text or (text.isdigit() and int(text) > 0)}  # fmt: skip


class Backend(ABC):
    """The base of the three backends (and of the fakes in tests)."""

    name: ClassVar[str]
    memory: Memory
    kernels: Kernels
    host: HostRoute

    @abstractmethod
    def unavailable_reason(self) -> str | None:
        """None when the backend can run here, else why not, phrased as how to fix it."""

    @abstractmethod
    def dtypes(self) -> frozenset[np.dtype]:
        """The dtypes this backend runs on this machine."""

    def auto_eligible(self) -> bool:
        """Whether auto and list selection may choose it (a software GPU may not)."""
        return True

    def details(self) -> dict:
        """What the probe reports about this backend (instruction set, adapter, versions)."""
        return {}

    def probe_timings(self) -> dict:
        """Timings the probe measures now (the simd module's compile and load)."""
        return {}

    def on_failure(self, error: Exception) -> bool:
        """Called after a run-time failure; True when the backend marked itself unusable (the
        dispatcher then forgets what it planned)."""
        return False

    def needs_reprobe(self) -> bool:
        """True when the backend marked itself unusable and `accel.probe()` should make a new
        one (a GPU whose device was lost)."""
        return False

    def variants(self) -> tuple[str, ...]:
        """The kernel variants this machine can run, the one in force first; tests run all."""
        return ()

    def variant(self) -> str | None:
        return None

    def use_variant(self, name: str) -> None:
        """Runs the kernels of one variant, process-wide (tests, and the env variables)."""
        raise ValueError(f"backend {self.name!r} has no variant {name!r}")

    def native(self) -> CpuEntries | WasmEntries | None:
        """What the compiled fast path needs to run this backend's kernels itself (None:
        every call takes the Python route)."""
        return None

    def calibration_changed(self) -> None:  # noqa: B027 - a hook with nothing to do by default
        """A new calibration was written: re-read what this backend takes from it."""

    def after_fork(self) -> None:  # noqa: B027 - a hook with nothing to do by default
        """In a forked child: re-create what fork broke (threads, device handles)."""


class Unusable(Memory, Kernels):
    """The memory and kernels of a backend that cannot start: every use raises why."""

    def __init__(self, name: str, reason: str) -> None:
        Memory.__init__(self, name)
        self._reason = reason

    def _unusable(self, *args: object) -> None:
        raise BackendUnavailableError(f"backend {self.backend_name!r} is unavailable: "
                                      f"{self._reason}")  # fmt: skip

    _upload = _download = alloc = _unusable  # type: ignore[assignment]
    linear = dot = elementwise = softmax = _unusable  # type: ignore[assignment]
    map = reduce = norm = _unusable  # type: ignore[assignment]
