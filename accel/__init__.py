"""accel: matmul, dot, linear layers and activations on the best backend a machine has.

Backends, in the order of the fallback chain: `gpu` (WGSL compute shaders through wgpu),
`simd` (a WebAssembly SIMD128 module run by wasmtime) and `cpu` (native C through cffi).
numpy arrays go in and come out, or `accel.Array`s keep data on a backend between calls.
Importing accel loads neither wgpu nor wasmtime: a backend is loaded when a call first needs
it. The ops are made from one table (accel/_optable.py). The documentation is in the docs/
folder of the project (docs/contract.md: the semantics every backend shares;
docs/architecture.md: how the layers fit).
"""

from __future__ import annotations

from ._array import Array, asarray
from ._dispatch import available_backends
from ._errors import (
    AccelError,
    AccelFallbackWarning,
    BackendRuntimeError,
    BackendUnavailableError,
    UnsupportedOperationError,
)
from ._ops import PUBLIC as _PUBLIC
from ._selection import BACKENDS, get_backend, set_backend, use_backend
from ._stats import reset_stats, stats
from ._version import __version__

globals().update(_PUBLIC)  # one public function per op of the table: accel.relu, accel.matmul...


def probe() -> dict:
    """What this machine can run: the same document as `accel probe --json`."""
    from ._probe import probe as _probe

    return _probe()


__all__ = [
    "BACKENDS",
    "AccelError",
    "AccelFallbackWarning",
    "Array",
    "BackendRuntimeError",
    "BackendUnavailableError",
    "UnsupportedOperationError",
    "__version__",
    "asarray",
    "available_backends",
    "get_backend",
    "probe",
    "reset_stats",
    "set_backend",
    "stats",
    "use_backend",
    *_PUBLIC,
]
