"""The gpu backend's device and queue: the wgpu device, the one lock that serialises its work,
what marks it unusable, and the recording of work into command encoders.

Recording: every op is recorded into one pending command encoder (one compute pass while
dispatches follow each other), with its parameters in a slot of a uniform arena bound with a
dynamic offset. Nothing is submitted until data is read back (or enough is pending): a chain
of ops on gpu Arrays has no per-op submit and no per-op wait, and one call on numpy data is
one submit. Work given to `run` turns wgpu's failures into AccelErrors; a lost device marks the
backend unusable (until accel.probe() probes it again), out of memory does not.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

import numpy as np
import wgpu

from ..._errors import BackendRuntimeError

SLOT = 256  # bytes per parameter slot of the uniform arena (>= every offset alignment)
SLOTS = 256  # slots per arena: more pending dispatches than this flush first
PARAMS_BYTES = 256  # each kernel's parameter struct fits (fused's: 224 bytes)
_UNIFORM = wgpu.BufferUsage.UNIFORM | wgpu.BufferUsage.COPY_DST


class Device:
    def __init__(self, device) -> None:
        self.device = device
        self.queue = device.queue
        self.lock = threading.RLock()
        self.failed: str | None = None
        self.forked: str | None = None
        self.arena = device.create_buffer(size=SLOT * SLOTS, usage=_UNIFORM)
        self._params = np.zeros(SLOT * SLOTS // 4, np.uint32)
        self._slots_used = 0
        self.encoder = None
        self._pass = None
        self.submitted: list[Callable[[], None]] = []  # called after each submit, under the lock
        self.abandoned: list[Callable[[], None]] = []  # called when recorded work is dropped
        self.before: list[Callable[[], None]] = []  # called under the lock before any work

    def run(self, work):
        """Runs work() under the lock, turning wgpu's failures into AccelErrors."""
        with self.lock:
            if self.failed is not None or self.forked is not None:
                raise BackendRuntimeError(f"the GPU is unusable: {self.failed or self.forked}")
            for hook in self.before:
                hook()
            try:
                return work()
            except (wgpu.GPUError, RuntimeError, ValueError, MemoryError) as e:
                self.abandon()
                text = " ".join(str(e).split())
                if isinstance(e, MemoryError) or "memory" in text.lower():
                    raise BackendRuntimeError(f"out of GPU memory: {text}") from e
                raise BackendRuntimeError(f"GPU failure: {type(e).__name__}: {text}") from e

    def dispatch(self, pipeline, group_for: Callable[[], object], params: list[int],
                 groups: tuple[int, int, int]) -> None:  # fmt: skip
        """Records one dispatch: its parameters in the next arena slot, its bind group (made
        by group_for(), which binds the arena) at that slot's offset."""
        if self._slots_used == SLOTS:
            self.submit()
        slot = self._slots_used
        self._slots_used += 1
        at = slot * SLOT // 4
        self._params[at : at + len(params)] = params
        group = group_for()
        if self.encoder is None:
            self.encoder = self.device.create_command_encoder()
        if self._pass is None:
            self._pass = self.encoder.begin_compute_pass()
        self._pass.set_pipeline(pipeline)
        self._pass.set_bind_group(0, group, [slot * SLOT])
        self._pass.dispatch_workgroups(*groups)

    def copy(self, src, dst, nbytes: int) -> None:
        """Records a buffer-to-buffer copy of nbytes (a multiple of 4)."""
        if self.encoder is None:
            self.encoder = self.device.create_command_encoder()
        if self._pass is not None:
            self._pass.end()
            self._pass = None
        self.encoder.copy_buffer_to_buffer(src, 0, dst, 0, nbytes)

    def submit(self) -> None:
        """Submits what is recorded."""
        if self.encoder is not None:
            if self._pass is not None:
                self._pass.end()
                self._pass = None
            if self._slots_used:
                self.queue.write_buffer(self.arena, 0, self._params[: self._slots_used * SLOT // 4])
            self.queue.submit([self.encoder.finish()])
            self.encoder = None
            self._slots_used = 0
        for hook in self.submitted:
            hook()

    def abandon(self) -> None:
        """Drops what was recorded (after a failure): it is never submitted."""
        self._pass = None
        self.encoder = None
        self._slots_used = 0
        for hook in self.abandoned:
            hook()

    def pending(self) -> bool:
        return self.encoder is not None
