"""accel: matmul, dot and activations on the best backend a machine has.

Backends, in the order of the fallback chain: `gpu` (WGSL compute shaders through wgpu),
`simd` (a WebAssembly SIMD128 module run by wasmtime) and `cpu` (native C through cffi).
numpy arrays go in and come out. Importing accel loads neither wgpu nor wasmtime: a backend
is loaded when a call first needs it.
"""

from __future__ import annotations

from ._dispatch import available_backends
from ._errors import (
    AccelError,
    AccelFallbackWarning,
    BackendUnavailableError,
    UnsupportedOperationError,
)
from ._ops import dot, matmul, relu, sigmoid, tanh
from ._selection import BACKENDS, get_backend, set_backend, use_backend
from ._stats import reset_stats, stats
from ._version import __version__


def probe() -> dict:
    """What this machine can run: the same document as `accel probe --json`."""
    from ._probe import probe as _probe

    return _probe()


__all__ = [
    "BACKENDS",
    "AccelError",
    "AccelFallbackWarning",
    "BackendUnavailableError",
    "UnsupportedOperationError",
    "__version__",
    "available_backends",
    "dot",
    "get_backend",
    "matmul",
    "probe",
    "relu",
    "reset_stats",
    "set_backend",
    "sigmoid",
    "stats",
    "tanh",
    "use_backend",
]
