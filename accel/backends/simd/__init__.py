"""The `simd` backend: a WebAssembly SIMD128 module (simd_wasm/), run by wasmtime.

Its roles, one file each: the wasmtime runtime as used here (_runtime.py), the compiled and
cached module (_module.py), memory (_heap.py: an allocator over the module's shared linear
memory), the per-thread instances (_instances.py), the kernels (_kernels.py) and the host
route for elementwise work (_host.py). This file holds the backend's state: the module build
in force (relaxed SIMD with fused multiply-add where the engine has it, else plain SIMD128),
whether it can run here and why not.

Fork: a child gets a new thread pool, new band instances and new locks. Interpreter exit:
wasmtime's objects are not freed at shutdown (a daemon thread or an atexit handler may still be
calling).
"""

from __future__ import annotations

import atexit
import threading

import numpy as np
import wasmtime

from ... import _notice
from .. import get, loaded
from .._base import Backend, Unusable, thread_count
from .._host import HostRoute
from .._native import WasmEntries
from ._heap import MAX_PAGES, Heap, SimdMemory
from ._host import SimdHost
from ._instances import Instance, max_scratch_bytes
from ._kernels import SimdKernels, Workers
from ._module import VARIANTS, CompiledModule
from ._runtime import (
    RELAXED_PROBE,
    SIMD_PROBE,
    WASMTIME_VERSION,
    PublicSharedMemory,
    Store,
    make_engine,
    shared_memory_class,
    validates,
    wasm_entries,
)

try:  # the compiled helpers: blocks made and freed in C (see _heap.py)
    from ... import _fastpath
except ImportError:  # not built: Python blocks
    _fastpath = None
else:  # at exit the memory goes with the process: no block is given back
    atexit.register(_fastpath.closing)

_DTYPES = frozenset((np.dtype(np.float32), np.dtype(np.float64)))


class Build:
    """One module build in force: its compiled module, its memory and heap, each thread's
    instance, the native pool's band instances, and the scratch sizes of its products."""

    def __init__(self, engine: wasmtime.Engine, compiled: CompiledModule,
                 memory: wasmtime.SharedMemory, heap: Heap, workers: Workers,
                 name: str) -> None:  # fmt: skip
        self.engine = engine
        self.compiled = compiled
        self.module = compiled.module
        self.memory = memory
        self.heap = heap
        self.local = threading.local()
        self._bands: list[Instance] = []
        self._scratch_sizes: dict[tuple[str, int, int, int], int] = {}
        self.workers = workers
        self.entries: WasmEntries | None = wasm_entries(self.binding, self.fast_bands)
        # the roles of this build: a call takes them once and runs on this build to its end
        self.memory_role = SimdMemory(name, heap)
        self.kernels = SimdKernels(self, workers)
        self.host = SimdHost(self.memory_role, self.kernels, self)

    def instance(self) -> Instance:
        """The calling thread's instance."""
        inst = getattr(self.local, "instance", None)
        if inst is None:
            inst = self.local.instance = Instance(self.engine, self.module, self.memory,
                                                  self.heap)  # fmt: skip
        return inst

    def binding(self) -> tuple | None:
        """The calling thread's instance as the compiled fast path calls it."""
        return self.instance().binding()

    def band_instances(self, count: int) -> list[Instance]:
        """Instances of their own for the native pool's bands (the caller holds the
        workers' lock)."""
        while len(self._bands) < count:
            self._bands.append(Instance(self.engine, self.module, self.memory, self.heap))
        return self._bands[:count]

    def drop_band_instances(self) -> None:
        self._bands = []

    def fast_bands(self) -> tuple | None:
        """The band instances as the compiled fast path runs a large product's bands on the
        native pool (WasmEntries.band_binder): each with a packing scratch block of its own,
        apart from the one the Python route reserves per call, so that neither moves the
        other's. The fast path uses them only while it holds the workers' lock, as the Python
        route does; it keeps this tuple, and the instances with it, until the next reset."""
        workers = self.workers
        native = workers.native()
        if native is None or self.entries is None:
            return None
        scratch = max_scratch_bytes(self.instance())  # (this thread's: the bands may be busy)
        # the band instances are the lock holder's: made and given scratch only while it is
        # held here (the fast path asks again at its next large call when another has it)
        if not workers.busy.acquire(blocking=False):
            raise RuntimeError("the band instances are busy")
        try:
            instances = self.band_instances(workers.threads)
            records = []
            for inst in instances:
                if inst.band_scratch is None:
                    inst.band_scratch = self.heap.block(scratch)
                exports = inst.exports()
                if exports is None:
                    return None
                records.append((*exports, inst.band_scratch.offset, inst.band_scratch.nbytes))
        finally:
            workers.busy.release()
        return (workers.busy, native.wasm_bands_address(), tuple(records), tuple(instances))

    def scratch_bytes(self, inst: Instance, sfx: str, m: int, n: int, k: int) -> int:
        """The packing scratch the module's linear needs for an m x n x k product (its own
        gemm_scratch export, remembered: one call through wasmtime fewer per product)."""
        key = (sfx, m, n, k)
        nbytes = self._scratch_sizes.get(key)
        if nbytes is None:
            if len(self._scratch_sizes) > 4096:
                self._scratch_sizes.clear()
            nbytes = self._scratch_sizes[key] = int(inst.calls[f"gemm_scratch_{sfx}"](m, n, k))
        return nbytes


class SimdBackend(Backend):
    name = "simd"

    VARIANTS = VARIANTS

    def __init__(self) -> None:
        self.engine = make_engine()
        self.simd128 = validates(self.engine, SIMD_PROBE)
        self.relaxed_simd = validates(self.engine, RELAXED_PROBE)
        self._reason: str | None = None
        self.threads = thread_count()
        self.workers = Workers(self.threads, self._native_bands)
        self.build: Build | None = None
        if not self.simd128:
            self._reason = (
                "this wasmtime cannot run WebAssembly SIMD128 on this CPU; "
                "upgrade wasmtime (`pip install -U wasmtime`) or use another backend"
            )
            return
        self._memory_class = shared_memory_class(self.engine)
        if self._memory_class is None:
            self._reason = (
                f"wasmtime {WASMTIME_VERSION} (wasmtime-py) cannot give a module a shared memory "
                "here, which the simd module needs; install the version accel-chain pins "
                "(`pip install --force-reinstall accel-chain`) or use another backend"
            )
            return
        self._memories: dict[str, tuple] = {}  # variant -> (shared memory, heap)
        self.use_variant("relaxed" if self.relaxed_simd else "plain")

    @staticmethod
    def _native_bands():
        """The cpu backend, whose native pool runs bands, where it can (made on the first
        banded call: a program that only ever names simd gets the native pool too, whose
        hand-off costs a fraction of a Python pool's)."""
        cpu = loaded("cpu")
        if cpu is None:
            try:
                cpu = get("cpu")
            except Exception:  # (the cpu backend could not even be made: the Python pool)
                return None
        if cpu.unavailable_reason() is not None:
            return None
        return cpu if hasattr(cpu, "wasm_bands") else None

    # -- the module and its memory ---------------------------------------------------------------
    def use_variant(self, name: str) -> None:
        """Runs the relaxed-SIMD (FMA) or the plain SIMD128 build of the module, process-wide
        (the best one is chosen at start; tests run both). Each build has a memory of its own
        (their data sit at different addresses): Arrays belong to the build they were made
        under."""
        if name not in VARIANTS:
            raise ValueError(f"unknown simd variant {name!r}; choose from {list(VARIANTS)}")
        if name == "relaxed" and not self.relaxed_simd:
            raise ValueError("this engine cannot run relaxed SIMD")
        compiled = CompiledModule(self.engine, name)
        if name not in self._memories:
            needed = next(i.type for i in compiled.module.imports if i.name == "memory")
            limits = wasmtime.Limits(needed.limits.min, MAX_PAGES)
            memory = self._memory_class(self.engine, wasmtime.MemoryType(limits, shared=True))
            # the first instance runs the module's data initialisation into the memory; its
            # __heap_base says where the data ends
            store = Store(self.engine)
            inst = wasmtime.Instance(store, compiled.module, [memory])
            heap = Heap(memory, int(inst.exports(store)["__heap_base"].value(store)))
            if _fastpath is not None:
                heap.pool = _fastpath.BlockPool(heap)
            self._memories[name] = (memory, heap)
        memory, heap = self._memories[name]
        build = Build(self.engine, compiled, memory, heap, self.workers, self.name)
        # Every binding of the compiled fast path is to the old build's instances: they are
        # dropped first (a notice), and only then is the old build let go. The native pool's
        # bands finish before their instances go.
        _notice.changed("variant")
        with self.workers.busy:
            old, self.build = self.build, build
            if old is not None:
                old.drop_band_instances()
        del old

    def variants(self) -> tuple[str, ...]:
        if self._reason is not None:
            return ()
        current = self.build.compiled.variant
        others = [v for v in ("relaxed", "plain") if v != current]
        return (current, *(v for v in others if v != "relaxed" or self.relaxed_simd))

    def variant(self) -> str | None:
        return None if self._reason is not None else self.build.compiled.variant

    # The roles are the build's in force: each call reads them once (see Build)
    @property
    def memory(self) -> SimdMemory | Unusable:  # type: ignore[override]
        return self.build.memory_role if self.build is not None else self._unusable()

    @property
    def kernels(self) -> SimdKernels | Unusable:  # type: ignore[override]
        return self.build.kernels if self.build is not None else self._unusable()

    @property
    def host(self) -> SimdHost | HostRoute:  # type: ignore[override]
        if self.build is not None:
            return self.build.host
        return HostRoute(self._unusable(), self._unusable())

    def _unusable(self) -> Unusable:
        return Unusable(self.name, self._reason or "no module build is in force")

    @property
    def heap(self) -> Heap:
        return self.build.heap

    def view(self, offset: int, n: int, dtype: np.dtype) -> np.ndarray:
        """A numpy view of n elements of the memory in force at a byte offset."""
        return self.build.heap.view(offset, n, dtype)

    def native(self) -> WasmEntries | None:
        return None if self._reason is not None else self.build.entries

    def probe_timings(self) -> dict:
        return self.build.compiled.probe_timings()

    def after_fork(self) -> None:
        """The child has one thread: no pool workers, and any lock may have been held."""
        if self._reason is not None:
            return
        self.workers.after_fork()
        for _memory, heap in self._memories.values():
            heap.lock = threading.Lock()
        self.build.drop_band_instances()  # made again in the child, as its pool's threads are

    # -- state -----------------------------------------------------------------------------------
    def unavailable_reason(self) -> str | None:
        return self._reason

    def dtypes(self) -> frozenset[np.dtype]:
        return _DTYPES if self._reason is None else frozenset()

    def details(self) -> dict:
        if self._reason is not None:
            return {"simd128": self.simd128, "relaxed_simd": self.relaxed_simd}
        build = self.build
        heap = build.heap
        return {
            "wasmtime": WASMTIME_VERSION,
            "simd128": self.simd128,
            "relaxed_simd": self.relaxed_simd,
            "module": build.compiled.file,
            "module_bytes": len(build.compiled.wasm),
            "loaded_from": build.compiled.load_source,
            "this_process_load_ms": round(build.compiled.load_ms, 3),
            "threads": self.threads,
            "memory_bytes": heap.end,
            "memory_in_use_bytes": heap.in_use() - heap.cached_bytes(),
            "call_path": build.instance().calls["elementwise_f32"].path,
            "shared_memory": "public" if self._memory_class is PublicSharedMemory else "patched",
        }


def create() -> Backend:
    return SimdBackend()
