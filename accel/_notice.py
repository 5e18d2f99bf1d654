"""One notice that something a decision depends on changed, which every cache of decisions
subscribes to: the dispatcher's plans, the compiled fast path's routes, the backends'
calibrated choices.

What changes, and who says so:
- "selection": `set_backend` (the process-wide selection);
- "backends": a backend object made, replaced, forgotten or marked unusable after a failure;
- "calibration": `accel calibrate` wrote a new calibration (or a test wrote one);
- "variant": a backend switched its kernels (an instruction set, a simd module build, a gpu
  matmul variant).

A `use_backend` block changes nothing here: decisions are cached per selection, so entering
one costs nothing. Subscribers are called in the order they subscribed, in the thread that
made the change, and must not raise.
"""

from __future__ import annotations

from collections.abc import Callable

KINDS = ("selection", "backends", "calibration", "variant")

_subscribers: list[Callable[[str], None]] = []


def subscribe(listener: Callable[[str], None]) -> None:
    """Calls listener(kind) after every change from now on."""
    _subscribers.append(listener)


def changed(kind: str) -> None:
    """Tells every subscriber that something of this kind (one of KINDS) changed."""
    if kind not in KINDS:
        raise ValueError(f"unknown kind of change {kind!r}; one of {KINDS}")
    for listener in list(_subscribers):
        listener(kind)
