"""The compiled entry points for small calls (c_ext/fastpath.c), and what keeps them honest.

The public relu, sigmoid, tanh, gelu, silu, matmul, dot and linear are FastOp objects when the
extension was built (with a C compiler and numpy's headers): a call that is the common case
(exact ndarrays, C-contiguous, aligned, native float32/float64, or cpu Arrays; out= None or an
ndarray the kernel may write; backend None, "cpu" or, for the activations, "simd") and that
the dispatcher has already resolved to that backend for its op, dtype and size runs the kernel
directly (cpu's C entry points; the simd module's export on the calling thread's instance,
through wasmtime's C API); every other call is the Python function, unchanged.

What the fast path may take is set here from the dispatcher's own decisions (`allow`, called
when a call has run on cpu or simd as the first choice of its selection) and withdrawn whenever
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
except ImportError:  # not built (no compiler, or no numpy at build): the Python path always
    _fastpath = None

SLOT_MATMUL, SLOT_DOT, SLOT_LINEAR = 5, 6, 7
_SLOTS: dict[str, int] = {}  # op name -> slot, as wrap() registers them
_configured: Any = None  # the cpu backend object whose kernels and Arrays the fast path takes
_simd_bound: Any = None  # the simd backend object the fast path's wasmtime calls are set up for
_pool_of: Any = None  # the backend object whose native pool runs simd bands


def wrap(name: str, slot: int, fallback: Callable[..., Any]) -> Callable[..., Any]:
    """The public entry point of an op: a FastOp over `fallback`, or `fallback` itself."""
    _SLOTS[name] = slot
    if _fastpath is None:
        return fallback
    return _fastpath.make(slot, fallback)


def _configure(cpu: Any) -> bool:
    """Points the fast path at this cpu backend object's C entry points and its Arrays; False
    when it has no native kernels (a replacement registered under "cpu")."""
    global _configured
    if _configured is not cpu:
        addresses = cpu.kernel_addresses()
        if addresses is None:
            return False
        from ._array import Array, host_result
        from ._optable import ACTIVATIONS

        _fastpath.configure(addresses, {name: op.act_id for name, op in ACTIVATIONS.items()})
        _fastpath.configure_host(Array, cpu, host_result)
        _configured = cpu
    return True


def _bind_simd(b: Any) -> bool:
    """Gives the fast path simd backend b's per-thread bindings (None from b: it has none, and
    its calls keep the Python path)."""
    entry = b.fast_entry()
    if entry is None:
        return False
    call, error_delete, trap_delete, raw_size = entry
    _fastpath.configure_simd(call, error_delete, trap_delete, raw_size, b.fast_binding)
    global _simd_bound
    _simd_bound = b
    return True


def band_runner(b: Any) -> Callable[[tuple], int] | None:
    """For simd backend b: a function that runs bands of its linear export on the cpu backend's
    native thread pool (tuples of (context, func, args); returns how many failed), or None
    where there is no compiled fast path, no native cpu backend or no wasmtime C entry."""
    global _pool_of
    if _fastpath is None:
        return None
    from . import backends

    cpu = backends.get("cpu")
    if _pool_of is not cpu:
        address = cpu.pool_address()
        if address is None:
            return None
        _fastpath.configure_pool(address)
        _pool_of = cpu
    if _simd_bound is not b and not _bind_simd(b):
        return None
    return _fastpath.wasm_bands


_ON = {"cpu": 0, "simd": 1}
_TARGET = {"cpu": 1, "simd": 2}


def allow(op: str, dtype: np.dtype, b: Any, strict: bool, upper: float) -> None:
    """Lets the fast path take (op, dtype) calls of work below `upper` on backend b: the
    dispatcher's first choice for them (strict: with b named by backend=)."""
    slot = _SLOTS.get(op)
    on = _ON.get(b.name)
    if _fastpath is None or slot is None or on is None:
        return
    if b.name == "cpu" and not _configure(b):
        return
    if b.name == "simd" and (slot >= SLOT_MATMUL or not _bind_simd(b)):
        return
    _fastpath.set_bound(slot, 0 if dtype == np.float32 else 1, _TARGET[b.name] if strict else 0,
                        on, math.inf if math.isinf(upper) else float(upper))  # fmt: skip


def reset() -> None:
    if _fastpath is not None:
        _fastpath.reset()


def frames(delta: int) -> None:
    if _fastpath is not None:
        _fastpath.frames(delta)


def take_stats() -> tuple[list[tuple[str, str, int, list[float]]], tuple[int, int]]:
    """(op, backend, calls, seconds of the timed ones) since the last take, and the simd
    calls' copies: (calls, bytes each way)."""
    if _fastpath is None:
        return [], (0, 0)
    names = {slot: name for name, slot in _SLOTS.items()}
    records, moved = _fastpath.take_stats()
    backend_names = {v: k for k, v in _ON.items()}
    return [
        (names[slot], backend_names[on], calls, times) for on, slot, calls, times in records
    ], moved
