"""The simd module's instances: one per thread (a wasmtime Store is not thread-safe), each
with its own stack and scratch blocks in the shared memory, and the instances the native
pool's bands run on.
"""

from __future__ import annotations

import wasmtime

from .._native import WasmEntries
from ._heap import Block, Heap, round_up
from ._runtime import FastCall, Store

STACK_BYTES = 256 << 10  # each instance's stack
SCRATCH_KEEP = 8 << 20  # a thread's scratch block larger than this is freed after its call
FAST_SCRATCH = 256 << 10  # each thread's block for the compiled fast path (small calls only)


def max_scratch_bytes(inst: Instance) -> int:
    """The most packing scratch any product takes (the module's blocks bound it: a product
    larger than one block of KC x NC needs no more)."""
    most = 1 << 20
    return max(int(inst.calls[f"gemm_scratch_{sfx}"](most, most, most)) for sfx in ("f32", "f64"))


class Instance:
    """One instance of the module: the exports as fast calls, a stack, and a scratch block for
    the numpy route and the packing buffers of a product."""

    def __init__(self, engine: wasmtime.Engine, module: wasmtime.Module,
                 memory: wasmtime.SharedMemory, heap: Heap) -> None:  # fmt: skip
        self.heap = heap
        self.store = Store(engine)
        instance = wasmtime.Instance(self.store, module, [memory])
        exports = instance.exports(self.store)
        self.stack = heap.block(STACK_BYTES)
        exports["__stack_pointer"].set_value(self.store, self.stack.offset + STACK_BYTES)
        self.calls: dict[str, FastCall] = {}
        for export in module.exports:
            if isinstance(export.type, wasmtime.FuncType):
                self.calls[export.name] = FastCall(self.store, exports[export.name], export.type)
        self.scratch: Block | None = None
        self.fast_scratch: Block | None = None
        self.band_scratch: Block | None = None  # a band instance's, for the fast path's bands

    def binding(self) -> tuple | None:
        """What the compiled fast path needs to call this instance's exports from its thread:
        (context, the func addresses of WasmEntries.EXPORTS, memory base, scratch offset,
        scratch bytes); None where the calls are not unchecked."""
        exports = self.exports()
        if exports is None:
            return None
        if self.fast_scratch is None:
            self.fast_scratch = self.heap.block(FAST_SCRATCH)
        return (*exports, self.heap.base_ptr, self.fast_scratch.offset, FAST_SCRATCH)

    def exports(self) -> tuple[int, tuple[int, ...]] | None:
        """(context, the func addresses of WasmEntries.EXPORTS) as compiled code calls them;
        None where the calls are not unchecked."""
        calls = [self.calls[name] for name in WasmEntries.EXPORTS]
        if any(call.path != "unchecked" for call in calls):
            return None
        return calls[0].context_address, tuple(call.func_address for call in calls)

    def reserve(self, nbytes: int) -> int:
        """This instance's scratch block, at least nbytes; returns its offset."""
        if self.scratch is None or nbytes > self.scratch.nbytes:
            self.scratch = None  # given back before a larger one is taken
            self.scratch = self.heap.block(max(round_up(nbytes, 1 << 16), 1 << 20))
        return self.scratch.offset

    def trim(self) -> None:
        """Gives a scratch block larger than its budget back after a large call."""
        if self.scratch is not None and self.scratch.nbytes > SCRATCH_KEEP:
            self.scratch = None
