"""The backend registry: it owns the backend names, and makes each backend object on first use
(wgpu and wasmtime load only when their backend is first asked for, so `import accel` stays
light). `register()` installs another object under a name (tests install fakes this way).

After a fork, the child re-creates what fork breaks: each backend's `after_fork` hook runs
in the child before anything else uses it. Every change of the registry is announced as a
"backends" notice (accel._notice); a new calibration reaches each backend made so far through
its `calibration_changed` hook.
"""

from __future__ import annotations

import importlib
import os
import sys
import threading

import numpy as np

from .. import _notice
from .._selection import BACKENDS
from ._base import Backend, Unusable
from ._host import HostRoute

_MODULES = {"gpu": "accel.backends.gpu", "simd": "accel.backends.simd", "cpu": "accel.backends.cpu"}
_instances: dict[str, Backend] = {}
_lock = threading.Lock()


class Missing(Backend):
    """Stands for a backend that cannot start here: never available, says why."""

    def __init__(self, name: str, reason: str) -> None:
        self.name = name  # type: ignore[misc]
        self._reason = reason
        self.memory = self.kernels = Unusable(name, reason)
        self.host = HostRoute(self.memory, self.kernels)

    def unavailable_reason(self) -> str | None:
        return self._reason

    def dtypes(self) -> frozenset[np.dtype]:
        return frozenset()

    def auto_eligible(self) -> bool:
        return False


def get(name: str) -> Backend:
    """The backend object for a name of BACKENDS, created on first use."""
    backend = _instances.get(name)
    if backend is not None:
        return backend
    with _lock:
        backend = _instances.get(name)
        if backend is None:
            if name not in _MODULES:
                raise ValueError(f"unknown backend {name!r}; valid: {', '.join(BACKENDS)}")
            try:
                module = importlib.import_module(_MODULES[name])
                backend = module.create()
            except ImportError as e:
                backend = Missing(name, _import_failure(e))
            except Exception as e:  # a backend that cannot start is unavailable, with why
                backend = Missing(
                    name, f"it failed to start ({type(e).__name__}: {e}); see `accel probe`"
                )
            _instances[name] = backend
    return backend


def _import_failure(e: ImportError) -> str:
    """Why a backend's module did not import, and what to do."""
    if e.name == "wgpu" and sys.version_info < (3, 11):
        return (
            "wgpu-py 0.32, which it runs on, needs Python 3.11 or later; use Python 3.11+ for "
            "the gpu backend (cpu and simd work here)"
        )
    if e.name in ("wgpu", "wasmtime", "cffi"):
        return f"{e.name} is not installed; `pip install --force-reinstall accel-chain`"
    return (
        f"its Python module failed to import ({e}); reinstall with "
        "`pip install --force-reinstall accel-chain`"
    )


def loaded(name: str) -> Backend | None:
    """The backend object if it was made already, without making it."""
    return _instances.get(name)


def register(name: str, backend: Backend | None) -> None:
    """Installs a backend object under a name of BACKENDS (None: forget it, so that the next
    get() makes a new one)."""
    if name not in _MODULES:
        raise ValueError(f"unknown backend {name!r}; valid: {', '.join(BACKENDS)}")
    with _lock:
        if backend is None:
            _instances.pop(name, None)
        else:
            _instances[name] = backend
    _notice.changed("backends")


def reset(name: str) -> None:
    """Forgets a backend object: the next get() probes the machine again (a GPU whose device
    was lost gets a new one)."""
    register(name, None)


def reprobe_failed() -> list[str]:
    """Resets every backend that marked itself unusable after a run-time failure."""
    failed = [n for n, b in list(_instances.items()) if b.needs_reprobe()]
    for name in failed:
        reset(name)
    return failed


def _after_fork_in_child() -> None:
    global _lock
    _lock = threading.Lock()  # another thread may have held it at the fork
    for backend in list(_instances.values()):
        backend.after_fork()
    _notice.changed("backends")


def _calibrated(kind: str) -> None:
    if kind == "calibration":
        for backend in list(_instances.values()):
            backend.calibration_changed()


_notice.subscribe(_calibrated)


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)

__all__ = ["BACKENDS", "Backend", "get", "loaded", "register", "reprobe_failed", "reset"]
