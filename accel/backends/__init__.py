"""The backend registry: one module per backend, imported on first use so that `import accel`
stays light (wgpu and wasmtime load only when their backend is first asked for)."""

from __future__ import annotations

import importlib
import threading

from .._selection import BACKENDS
from ._base import Backend

_MODULES = {"gpu": "accel.backends.gpu", "simd": "accel.backends.simd", "cpu": "accel.backends.cpu"}
_instances: dict[str, Backend] = {}
_lock = threading.Lock()


class Missing:
    """Stands for a backend whose module failed to import: never available, says why."""

    def __init__(self, name: str, reason: str) -> None:
        self.name = name
        self._reason = reason

    def unavailable_reason(self) -> str | None:
        return self._reason

    def details(self) -> dict:
        return {}


def get(name: str) -> Backend:
    """The backend object for a name of BACKENDS, created on first use."""
    backend = _instances.get(name)
    if backend is not None:
        return backend
    with _lock:
        backend = _instances.get(name)
        if backend is None:
            try:
                module = importlib.import_module(_MODULES[name])
                backend = module.create()
            except ImportError as e:
                backend = Missing(  # type: ignore[assignment]
                    name,
                    f"its Python module failed to import ({e}); reinstall accel with "
                    "`pip install --force-reinstall accel`",
                )
            except Exception as e:  # a backend that cannot start is unavailable, with why
                backend = Missing(  # type: ignore[assignment]
                    name, f"it failed to start ({type(e).__name__}: {e}); see `accel probe`"
                )
            _instances[name] = backend
    return backend


def reset(name: str) -> None:
    """Forgets a backend object: the next get() probes the machine again (a GPU whose device
    was lost gets a new one)."""
    with _lock:
        _instances.pop(name, None)


def reprobe_failed() -> list[str]:
    """Resets every backend that marked itself unusable after a run-time failure."""
    failed = [
        n for n, b in list(_instances.items()) if getattr(b, "needs_reprobe", lambda: False)()
    ]
    for name in failed:
        reset(name)
    return failed


__all__ = ["BACKENDS", "Backend", "get", "reprobe_failed", "reset"]
