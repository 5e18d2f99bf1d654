"""The `simd` backend: a WebAssembly SIMD128 module (simd_wasm/), run by wasmtime.

Memory. The module imports one *shared* linear memory (the threads proposal's), created here
with a 4 GiB maximum. Every thread gets its own instance (a wasmtime Store is not thread-safe),
and every instance works on that one memory: an `accel.Array` on simd is a block of it, which
any thread's kernels read and write with no copy. A host-side allocator (`_Heap`) hands out
blocks above the module's `__heap_base`; each instance gets a stack of its own there (the
module exports `__stack_pointer`, set per instance) and a scratch block for the numpy path,
where inputs are copied in, computed in place and copied out, a cache-sized piece at a time.
WebAssembly memory never shrinks: free blocks beyond a budget are handed back to the operating
system (madvise) while their addresses stay reserved.

Module. One compiled module per process, cached on disk between processes (Module.serialize,
keyed by the module's hash, wasmtime's version and the engine's settings). A cache file is used
only when it belongs to this user, is writable by no one else, and its SHA-256 matches the
digest recorded when this user's process wrote it; anything else is compiled afresh (about
20 ms). The engine validates a tiny SIMD128 and a relaxed-SIMD module; where relaxed SIMD is
supported the relaxed build (fused multiply-add) runs, otherwise plain SIMD128.

Calls go through wasmtime's unchecked call with a preallocated argument array (about 1 us),
not `Func.__call__` (15-30 us of type checks); if wasmtime-py's bindings move, the public call.
Large work is split across threads. A product's bands run on the cpu backend's native thread
pool where there is one (accel._fastpath calls the linear export of a band instance per task,
through wasmtime's C API, with the GIL released): handing work to Python threads costs about
90 us per call on two cores, as much as a 64 x 256 x 256 product. Elsewhere they run on a
Python thread pool (ctypes releases the GIL during a call).

Fork: a child gets a new thread pool, new band instances and new locks. Interpreter exit:
wasmtime's objects are not freed at shutdown (a daemon thread or an atexit handler may still be
calling).
"""

from __future__ import annotations

import atexit
import bisect
import contextlib
import ctypes
import hashlib
import inspect
import math
import os
import pathlib
import stat
import struct
import sys
import threading
import time
import weakref
from concurrent.futures import ThreadPoolExecutor
from importlib import metadata
from typing import ClassVar

import numpy as np
import wasmtime

from .. import _fast, _stats
from .._errors import BackendRuntimeError
from .._resources import kernel_file
from ._base import Backend, thread_count

try:  # the C bindings wasmtime-py ships: unchecked calls (guarded: they may move)
    from wasmtime import _ffi as ffi
except ImportError:  # pragma: no cover - a wasmtime-py without them: the public call path
    ffi = None

WASMTIME_VERSION = metadata.version("wasmtime")
_F32 = np.dtype(np.float32)
_F64 = np.dtype(np.float64)
_DTYPES = frozenset((_F32, _F64))
_SUFFIX = {_F32: "f32", _F64: "f64"}
_PAGE = 65536
_MAX_PAGES = 65535  # the module's maximum (its linker takes a u32 byte count)
_ALIGN = 64
_STACK_BYTES = 256 << 10  # each instance's stack
_KEEP_FREE = 64 << 20  # free memory kept resident for reuse; beyond it, pages go back to the OS
_RETURN_FROM = 1 << 20  # free blocks at least this large are candidates to give back
_SCRATCH_KEEP = 8 << 20  # a thread's scratch block larger than this is freed after its call
_FAST_SCRATCH = 64 << 10  # each thread's block for the compiled fast path (small calls only)

# The smallest modules that use a SIMD128 and a relaxed-SIMD instruction.
_SIMD_PROBE = "(module (func (result v128) v128.const i32x4 0 0 0 0))"
_RELAXED_PROBE = (
    "(module (func (param v128 v128 v128) (result v128)"
    " local.get 0 local.get 1 local.get 2 f32x4.relaxed_madd))"
)

# Work below these sizes runs in the calling thread: a thread hand-off costs more. On the cpu
# backend's native pool bands pay from about 0.5 MFLOP (64 x 64 x 256: 98 -> 67 us; 48 x 64 x
# 64: 38 -> 35), on Python threads from about 4.
_PARALLEL_FLOPS = 1 << 22
_NATIVE_PARALLEL_FLOPS = 1 << 19
_SCRATCH_ARG = 11  # where the linear export takes its scratch offset
_PARALLEL_ELEMENTS = 1 << 16
_DOT_PART = 1 << 18  # dot is summed in parts of this size (a function of n alone)
_PIECE = 1 << 17  # numpy-path elementwise work moves through memory this many elements at a time


class _Exit:
    """Set when the interpreter starts to exit (atexit runs before module teardown)."""

    started = False


def _at_exit() -> None:
    """From here on wasmtime's objects are never freed: at interpreter shutdown a daemon thread
    may still be inside a kernel, and freeing its store under it would crash the process."""
    _Exit.started = True


atexit.register(_at_exit)


def _keep_at_exit(cls):
    """A subclass of a wasmtime object whose finaliser does nothing once the interpreter is
    exiting (public classes only: no private API). The defaults bind what the finaliser needs,
    since module globals are cleared at shutdown."""

    class Kept(cls):  # type: ignore[misc, valid-type]
        def __del__(self, _exit=_Exit, _finalizing=sys.is_finalizing, _base=cls) -> None:
            if not _exit.started and not _finalizing():
                _base.__del__(self)

    Kept.__name__ = Kept.__qualname__ = f"Kept{cls.__name__}"
    return Kept


_Engine = _keep_at_exit(wasmtime.Engine)
_Store = _keep_at_exit(wasmtime.Store)
_Module = _keep_at_exit(wasmtime.Module)
_PublicSharedMemory = _keep_at_exit(wasmtime.SharedMemory)


class _PatchedSharedMemory(_PublicSharedMemory):
    """wasmtime-py 50 passes a pointer to the pointer when it imports a SharedMemory into an
    instance (TypeError: LP_LP_wasmtime_sharedmemory). This builds the extern as the C API
    wants it. It overrides a private method, so it is used only when the public path fails,
    and only if it then works (`_shared_memory_class` tries both)."""

    def _as_extern(self):
        union = ffi.wasmtime_extern_union(sharedmemory=self.ptr())
        return ffi.wasmtime_extern_t(ffi.WASMTIME_EXTERN_SHAREDMEMORY, union)


_IMPORT_PROBE = '(module (import "env" "memory" (memory 1 1 shared)))'


def _shared_memory_class(engine: wasmtime.Engine):
    """The SharedMemory class whose instances a module can import here: the public one where
    it works, else the patched one; None when neither does (the backend is then unavailable,
    with the reason, and auto uses the others)."""
    module = wasmtime.Module(engine, wasmtime.wat2wasm(_IMPORT_PROBE))
    limits = wasmtime.MemoryType(wasmtime.Limits(1, 1), shared=True)
    for cls in (_PublicSharedMemory, _PatchedSharedMemory):
        if cls is _PatchedSharedMemory and ffi is None:
            break
        try:
            store = wasmtime.Store(engine)
            wasmtime.Instance(store, module, [cls(engine, limits)])
            return cls
        except (TypeError, AttributeError, ValueError, wasmtime.WasmtimeError):
            continue
    return None


def _round_up(x: int, to: int) -> int:
    return (x + to - 1) // to * to


def _validates(engine: wasmtime.Engine, wat: str) -> bool:
    try:
        wasmtime.Module.validate(engine, wasmtime.wat2wasm(wat))
        return True
    except wasmtime.WasmtimeError:
        return False


def cache_dir() -> pathlib.Path | None:
    """accel's folder in the user cache directory (created private), or None."""
    try:
        import platformdirs

        path = pathlib.Path(platformdirs.user_cache_dir("accel"))
        path.mkdir(parents=True, exist_ok=True, mode=0o700)
        return path
    except Exception:  # no writable cache: compile every time
        return None


def _trusted(path: pathlib.Path) -> bool:
    """The file and its folder belong to this user and no one else may write them."""
    if not hasattr(os, "geteuid"):  # not POSIX: ownership is not checked
        return True
    try:
        for p in (path, path.parent):
            st = os.stat(p, follow_symlinks=False)
            if st.st_uid != os.geteuid() or st.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
                return False
            if p is path and not stat.S_ISREG(st.st_mode):
                return False
        return True
    except OSError:
        return False


_madvise = None
if sys.platform.startswith("linux"):
    try:
        _libc = ctypes.CDLL(None, use_errno=True)
        _madvise = _libc.madvise
        _madvise.argtypes = (ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int)
        _madvise.restype = ctypes.c_int
    except (OSError, AttributeError):
        _madvise = None
_MADV_DONTNEED = 4


class _Heap:
    """First-fit allocator over the shared linear memory, above the module's data. Blocks are
    64-byte aligned; free neighbours merge. The memory grows (never shrinks) when nothing fits;
    free blocks beyond the budget have their pages returned to the operating system."""

    def __init__(self, memory: wasmtime.SharedMemory, start: int) -> None:
        self.memory = memory
        self.base_ptr = ctypes.cast(memory.data_ptr(), ctypes.c_void_p).value or 0
        self.start = _round_up(start, _ALIGN)
        self.end = memory.data_len()
        self.free: list[list[int]] = []  # sorted [offset, size]
        if self.end > self.start:
            self.free.append([self.start, self.end - self.start])
        self.used: dict[int, int] = {}
        self.lock = threading.Lock()
        self.resident_free = 0  # bytes of free blocks whose pages are still resident
        self._map()

    def _map(self) -> None:
        """A uint8 view of the whole memory (a shared memory never moves; it only grows)."""
        raw = (ctypes.c_uint8 * self.end).from_address(self.base_ptr)
        self.bytes_view = np.frombuffer(raw, dtype=np.uint8)

    def view(self, offset: int, n: int, dtype: np.dtype) -> np.ndarray:
        return self.bytes_view[offset : offset + n * dtype.itemsize].view(dtype)

    def alloc(self, nbytes: int) -> int:
        size = _round_up(max(nbytes, 1), _ALIGN)
        with self.lock:
            for i, (off, sz) in enumerate(self.free):
                if sz >= size:
                    if sz == size:
                        del self.free[i]
                    else:
                        self.free[i] = [off + size, sz - size]
                    self.used[off] = size
                    self.resident_free = max(0, self.resident_free - size)
                    return off
            self._grow(size)
            return self.alloc_locked(size)

    def alloc_locked(self, size: int) -> int:
        off, sz = self.free[-1]
        if sz == size:
            self.free.pop()
        else:
            self.free[-1] = [off + size, sz - size]
        self.used[off] = size
        return off

    def _grow(self, size: int) -> None:
        """Grows the memory so that the last free block (or a new one) holds size bytes."""
        tail = self.free[-1][1] if self.free and sum(self.free[-1]) == self.end else 0
        need = size - tail
        pages_now = self.end // _PAGE
        pages = max(-(-need // _PAGE), pages_now // 4, 16)  # headroom: grow rarely
        if pages_now + pages > _MAX_PAGES:
            pages = -(-need // _PAGE)
        if pages_now + pages > _MAX_PAGES:
            raise MemoryError(
                f"{size} bytes do not fit in the simd module's 4 GiB memory "
                f"({self.end - self.start - sum(s for _, s in self.free)} bytes in use)"
            )
        try:
            self.memory.grow(pages)
        except wasmtime.WasmtimeError as e:
            raise MemoryError(f"could not grow the simd module's memory: {e}") from e
        new_end = self.memory.data_len()
        if tail:
            self.free[-1][1] += new_end - self.end
        else:
            begin = max(self.end, self.start)
            self.free.append([begin, new_end - begin])
        self.end = new_end
        self._map()

    def release(self, off: int) -> None:
        with self.lock:
            size = self.used.pop(off)
            i = bisect.bisect_left(self.free, [off, 0])
            self.free.insert(i, [off, size])
            if i + 1 < len(self.free) and off + size == self.free[i + 1][0]:
                self.free[i][1] += self.free.pop(i + 1)[1]
            if i > 0 and sum(self.free[i - 1]) == off:
                self.free[i - 1][1] += self.free.pop(i)[1]
                i -= 1
            self.resident_free += size
            if self.resident_free > _KEEP_FREE and _madvise is not None:
                self._return_pages()

    def _return_pages(self) -> None:
        """Gives the pages of large free blocks back to the OS (they read as zeros after)."""
        for off, size in self.free:
            lo = _round_up(off, 4096)
            hi = (off + size) // 4096 * 4096
            if hi - lo >= _RETURN_FROM:
                _madvise(self.base_ptr + lo, hi - lo, _MADV_DONTNEED)
        self.resident_free = 0

    def in_use(self) -> int:
        with self.lock:
            return sum(self.used.values())


class _FastCall:
    """One export of one instance, called through wasmtime_func_call_unchecked with a
    preallocated raw argument array: arguments are packed as little-endian int64 into the
    raw slots (an i32 parameter reads the low half) and the result, if any, comes back in
    slot 0. This reaches into wasmtime-py's bindings (pinned in pyproject.toml); should they
    change, the call goes through the public, slower Func.__call__ instead."""

    def __init__(self, store: wasmtime.Store, func: wasmtime.Func, ty: wasmtime.FuncType) -> None:
        self._func = func  # keeps the funcref alive
        self._store = store
        results = [str(r) for r in ty.results]
        self._result = (
            {"f64": "f64", "i64": "i64", "i32": "i32"}.get(results[0]) if results else None
        )
        self.path = "checked"
        if ffi is None:
            return
        try:
            self._ctx = store._context()
            self._func_ref = ctypes.byref(func._func)
            # for the compiled fast path (accel/_fast.py), which makes the same call from C
            self.context_address = ctypes.cast(self._ctx, ctypes.c_void_p).value
            self.func_address = ctypes.addressof(func._func)
            self._slots = max(len(ty.params), len(results), 1)
            self._raw = (ffi.wasmtime_val_raw_t * self._slots)()
            # a raw slot is as wide as the union's largest member (v128): pad each int64 to it
            pad = ctypes.sizeof(ffi.wasmtime_val_raw_t) - 8
            self._pack = struct.Struct("<" + f"q{pad}x" * len(ty.params)).pack_into
            self._new_trap_slot()
            self._call = ffi.wasmtime_func_call_unchecked
            self.path = "unchecked"
        except AttributeError:  # wasmtime-py moved its internals: the public path
            self.path = "checked"

    def _new_trap_slot(self) -> None:
        self._trap = ctypes.POINTER(ffi.wasm_trap_t)()
        self._trap_ref = ctypes.byref(self._trap)

    def __call__(self, *args: int):
        if self.path != "unchecked":
            return self._checked(*args)
        self._pack(self._raw, 0, *args)
        error = self._call(self._ctx, self._func_ref, self._raw, self._slots, self._trap_ref)
        if error or self._trap:
            self._raise(error)
        return None if self._result is None else getattr(self._raw[0], self._result)

    def _checked(self, *args: int):
        try:
            return self._func(self._store, *args)
        except wasmtime.WasmtimeError as e:
            raise BackendRuntimeError(f"the simd module trapped: {e}") from e

    def _raise(self, error) -> None:
        if self._trap:
            message = str(wasmtime.Trap._from_ptr(self._trap))
            self._new_trap_slot()
        else:
            message = str(wasmtime.WasmtimeError._from_ptr(error))
        raise BackendRuntimeError(f"the simd module trapped: {message}")


class _Block:
    """A block of a shared memory: the simd backend's buffer."""

    __slots__ = ("heap", "nbytes", "offset")

    def __init__(self, heap: _Heap, offset: int, nbytes: int) -> None:
        self.heap = heap
        self.offset = offset
        self.nbytes = nbytes


class _Instance:
    """One thread's instance of the module: its own stack and a scratch block for the numpy
    path, both in the shared memory."""

    def __init__(self, backend: SimdBackend) -> None:
        self.backend = backend
        self.heap = backend.heap
        self.store = _Store(backend.engine)
        instance = wasmtime.Instance(self.store, backend.module, [backend.memory])
        exports = instance.exports(self.store)
        heap = backend.heap
        self.stack = heap.alloc(_STACK_BYTES)
        exports["__stack_pointer"].set_value(self.store, self.stack + _STACK_BYTES)
        self.calls = {}
        for export in backend.module.exports:
            if isinstance(export.type, wasmtime.FuncType):
                self.calls[export.name] = _FastCall(self.store, exports[export.name], export.type)
        self.scratch = 0
        self.scratch_bytes = 0
        self.fast_scratch = 0
        weakref.finalize(self, heap.release, self.stack).atexit = False

    def fast_binding(self) -> tuple[int, int, int, int, int, int] | None:
        """What the compiled fast path needs to call this instance's elementwise exports from
        this thread (see Backend.fast_binding); None where the calls are not unchecked."""
        e32, e64 = self.calls["elementwise_f32"], self.calls["elementwise_f64"]
        if e32.path != "unchecked" or e64.path != "unchecked":
            return None
        if not self.fast_scratch:
            self.fast_scratch = self.heap.alloc(_FAST_SCRATCH)
        return (e32.context_address, e32.func_address, e64.func_address, self.heap.base_ptr,
                self.fast_scratch, _FAST_SCRATCH)  # fmt: skip

    def reserve(self, nbytes: int) -> int:
        """This instance's scratch block, at least nbytes; returns its offset."""
        if nbytes > self.scratch_bytes:
            heap = self.heap
            if self.scratch:
                heap.release(self.scratch)
                self.scratch, self.scratch_bytes = 0, 0
            size = max(_round_up(nbytes, 1 << 16), 1 << 20)
            self.scratch = heap.alloc(size)
            self.scratch_bytes = size
        return self.scratch

    def trim(self) -> None:
        """Gives a scratch block larger than its budget back after a large call."""
        if self.scratch_bytes > _SCRATCH_KEEP:
            self.heap.release(self.scratch)
            self.scratch, self.scratch_bytes = 0, 0

    def __del__(self) -> None:
        if not _Exit.started:
            for block in (self.scratch, self.fast_scratch):
                if block:
                    with contextlib.suppress(Exception):  # the backend is gone
                        self.heap.release(block)


class SimdBackend(Backend):
    name = "simd"

    VARIANTS: ClassVar[dict[str, str]] = {
        "relaxed": "accel_simd_relaxed.wasm",
        "plain": "accel_simd.wasm",
    }

    def __init__(self) -> None:
        config = wasmtime.Config()
        config.wasm_simd = True
        config.wasm_relaxed_simd = True
        config.wasm_threads = True
        config.shared_memory = True
        config.cranelift_opt_level = "speed"
        self.engine = _Engine(config)
        self.simd128 = _validates(self.engine, _SIMD_PROBE)
        self.relaxed_simd = _validates(self.engine, _RELAXED_PROBE)
        self._reason: str | None = None
        if not self.simd128:
            self._reason = (
                "this wasmtime cannot run WebAssembly SIMD128 on this CPU; "
                "upgrade wasmtime (`pip install -U wasmtime`) or use another backend"
            )
            return
        self._memory_class = _shared_memory_class(self.engine)
        if self._memory_class is None:
            self._reason = (
                f"wasmtime {WASMTIME_VERSION} (wasmtime-py) cannot give a module a shared memory "
                "here, which the simd module needs; install the version accel-chain pins "
                "(`pip install --force-reinstall accel-chain`) or use another backend"
            )
            return
        self.threads = thread_count()
        self._pool: ThreadPoolExecutor | None = None
        self._pool_busy = threading.Lock()
        self._memories: dict[str, tuple] = {}  # variant -> (shared memory, heap)
        # (suffix, m, n, k) -> the packing scratch of the module in force (per build: their
        # register blocks differ)
        self._scratch_sizes: dict[tuple[str, int, int, int], int] = {}
        self.use_variant("relaxed" if self.relaxed_simd else "plain")

    # -- the module and its memory ---------------------------------------------------------------
    def use_variant(self, name: str) -> None:
        """Runs the relaxed-SIMD (FMA) or the plain SIMD128 build of the module, process-wide
        (the best one is chosen at start; tests run both). Each build has a memory of its own
        (their data sit at different addresses): Arrays belong to the build they were made
        under."""
        if name not in self.VARIANTS:
            raise ValueError(f"unknown simd variant {name!r}; choose from {list(self.VARIANTS)}")
        if name == "relaxed" and not self.relaxed_simd:
            raise ValueError("this engine cannot run relaxed SIMD")
        self.variant_name = name
        self.module_file = self.VARIANTS[name]
        self.wasm = kernel_file("wasm", self.module_file)
        self.module, self.load_source, self.load_ms = self._load_module()
        if name not in self._memories:
            needed = next(i.type for i in self.module.imports if i.name == "memory")
            limits = wasmtime.Limits(needed.limits.min, _MAX_PAGES)
            memory = self._memory_class(self.engine, wasmtime.MemoryType(limits, shared=True))
            # the first instance runs the module's data initialisation into the memory; its
            # __heap_base says where the data ends
            store = _Store(self.engine)
            inst = wasmtime.Instance(store, self.module, [memory])
            base = int(inst.exports(store)["__heap_base"].value(store))
            self._memories[name] = (memory, _Heap(memory, base))
        self.memory, self.heap = self._memories[name]
        self._local = threading.local()
        self._band_instances: list[_Instance] = []  # see _bands
        self._scratch_sizes.clear()  # they were the other build's
        _fast.reset()  # the fast path's bindings are to the old instances

    def variants(self) -> tuple[str, ...]:
        if self._reason is not None:
            return ()
        others = [v for v in ("relaxed", "plain") if v != self.variant_name]
        return (self.variant_name, *(v for v in others if v != "relaxed" or self.relaxed_simd))

    def variant(self) -> str | None:
        return None if self._reason is not None else self.variant_name

    def _cache_path(self) -> pathlib.Path | None:
        folder = cache_dir()
        if folder is None:
            return None
        key = hashlib.sha256(
            self.wasm + f"{WASMTIME_VERSION}|threads|simd|relaxed|speed".encode()
        ).hexdigest()[:32]
        return folder / f"{self.module_file[:-5]}-{key}.cwasm"

    def _load_module(self) -> tuple[wasmtime.Module, str, float]:
        path = self._cache_path()
        t0 = time.perf_counter()
        if path is not None:
            module = self._load_verified(path)
            if module is not None:
                return module, "cache", (time.perf_counter() - t0) * 1e3
        t0 = time.perf_counter()
        module = _Module(self.engine, self.wasm)
        ms = (time.perf_counter() - t0) * 1e3
        if path is not None:
            self._store_cache(path, module.serialize())
        return module, "compiled", ms

    def _load_verified(self, path: pathlib.Path) -> wasmtime.Module | None:
        """The cached module if it is exactly what a process of this user wrote there."""
        digest_path = path.with_suffix(".sha256")
        if not (path.exists() and digest_path.exists()):
            return None
        if not (_trusted(path) and _trusted(digest_path)):
            return None
        try:
            data = path.read_bytes()
            expected = digest_path.read_text().strip()
        except OSError:
            return None
        if hashlib.sha256(data).hexdigest() != expected:
            return None
        try:  # from the verified bytes in memory: the file may change after the check
            return _Module.deserialize(self.engine, data)
        except wasmtime.WasmtimeError:  # stale or foreign: compile again
            return None

    @staticmethod
    def _store_cache(path: pathlib.Path, data: bytes) -> None:
        for target, content in ((path, data),
                                (path.with_suffix(".sha256"),
                                 hashlib.sha256(data).hexdigest().encode())):  # fmt: skip
            tmp = target.with_suffix(f".{os.getpid()}.{threading.get_ident()}.tmp")
            try:
                fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
                with os.fdopen(fd, "wb") as f:
                    f.write(content)
                os.replace(tmp, target)  # atomic: another process never reads half a file
            except OSError:
                with contextlib.suppress(OSError):
                    tmp.unlink()
                return

    def probe_timings(self) -> dict:
        """Compile and cached-load times of the module, measured now (for the probe)."""
        t0 = time.perf_counter()
        module = wasmtime.Module(self.engine, self.wasm)
        compile_ms = (time.perf_counter() - t0) * 1e3
        data = module.serialize()
        t0 = time.perf_counter()
        wasmtime.Module.deserialize(self.engine, data)
        return {"load_ms": compile_ms, "cached_load_ms": (time.perf_counter() - t0) * 1e3}

    def _instance(self) -> _Instance:
        local = self._local
        inst = getattr(local, "instance", None)
        if inst is None:
            inst = local.instance = _Instance(self)
        return inst

    def fast_entry(self) -> tuple[int, int, int, int] | None:
        if self._reason is not None or ffi is None:
            return None
        try:
            # the same C entry point _FastCall calls, taken from the library wasmtime-py
            # loaded, once its wrapper still has the C signature this path was written for
            params = inspect.signature(ffi.wasmtime_func_call_unchecked).parameters
            if list(params) != ["store", "func", "args_and_results", "args_and_results_len",
                                "trap"]:  # fmt: skip
                return None
            names = ("wasmtime_func_call_unchecked", "wasmtime_error_delete", "wasm_trap_delete")
            addresses = tuple(ctypes.cast(getattr(ffi.dll, n), ctypes.c_void_p).value or 0
                              for n in names)  # fmt: skip
            return (*addresses, ctypes.sizeof(ffi.wasmtime_val_raw_t))
        except (AttributeError, TypeError, ValueError, ctypes.ArgumentError):  # they moved
            return None

    def fast_binding(self) -> tuple[int, int, int, int, int, int] | None:
        if self._reason is not None:
            return None
        return self._instance().fast_binding()

    def view(self, offset: int, n: int, dtype: np.dtype) -> np.ndarray:
        """A numpy view of n elements of the memory in force at a byte offset."""
        return self.heap.view(offset, n, dtype)

    def _check(self, *blocks: _Block | None) -> None:
        for block in blocks:
            if block is not None and block.heap is not self.heap:
                raise BackendRuntimeError(
                    "this Array was made under the other simd module build (see "
                    "SimdBackend.use_variant); make it again with accel.asarray"
                )

    def _parallel(self, tasks: list):
        """Runs the callables, the first in this thread and the rest on the pool; serially when
        the pool is busy with another caller (no oversubscription)."""
        if len(tasks) == 1 or self.threads == 1 or not self._pool_busy.acquire(blocking=False):
            return [t() for t in tasks]
        try:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(self.threads - 1, thread_name_prefix="accel-simd")
            futures = []
            for t in tasks[1:]:
                try:
                    futures.append(self._pool.submit(t))
                except RuntimeError:  # the interpreter is exiting: no new threads
                    futures.append(None)
            first = tasks[0]()
            return [first, *(t() if f is None else f.result()
                             for t, f in zip(tasks[1:], futures, strict=True))]  # fmt: skip
        finally:
            self._pool_busy.release()

    def _bands(self, sfx: str, bands: list[tuple[int, int, int, tuple]], run) -> None:
        """Runs bands of one product, each a call of the linear export: (m, n, k of the band,
        its arguments with None for the scratch offset). With `run` (_fast.band_runner's) on
        the cpu backend's native pool, each band on an instance of its own, the band instances
        one caller at a time; else, or while another caller has them, on the Python pool, each
        band on its thread's instance."""
        if run is not None and self._pool_busy.acquire(blocking=False):
            try:
                instances = self._band_instances
                while len(instances) < len(bands):
                    instances.append(_Instance(self))
                tasks = []
                for inst, (bm, bn, bk, args) in zip(instances, bands, strict=False):
                    call = inst.calls[f"linear_{sfx}"]
                    if call.path != "unchecked":
                        break
                    scratch = inst.reserve(self._scratch_bytes(inst, sfx, bm, bn, bk))
                    values = (*args[:_SCRATCH_ARG], scratch, *args[_SCRATCH_ARG + 1 :])
                    tasks.append((call.context_address, call.func_address, values))
                else:
                    if run(tuple(tasks)):
                        raise BackendRuntimeError("the simd module trapped in a linear band")
                    for inst in instances:
                        inst.trim()
                    return
            finally:
                self._pool_busy.release()

        def one(bm: int, bn: int, bk: int, args: tuple) -> None:
            inst = self._instance()
            scratch = inst.reserve(self._scratch_bytes(inst, sfx, bm, bn, bk))
            inst.calls[f"linear_{sfx}"](*args[:_SCRATCH_ARG], scratch, *args[_SCRATCH_ARG + 1 :])
            inst.trim()

        self._parallel([lambda band=band: one(*band) for band in bands])

    def after_fork(self) -> None:
        """The child has one thread: no pool workers, and any lock may have been held."""
        if self._reason is not None:
            return
        self._pool = None
        self._pool_busy = threading.Lock()
        for _memory, heap in self._memories.values():
            heap.lock = threading.Lock()
        self._band_instances = []  # made again in the child, as its pool's threads are

    # -- state -----------------------------------------------------------------------------------
    def unavailable_reason(self) -> str | None:
        return self._reason

    def dtypes(self) -> frozenset[np.dtype]:
        return _DTYPES if self._reason is None else frozenset()

    def max_elements(self, dtype: np.dtype) -> int:
        # all arrays of one call live in one 4 GiB memory; keep 64 MiB for stacks and scratch
        return (_MAX_PAGES * _PAGE - (64 << 20)) // dtype.itemsize

    def stream_elements(self, dtype: np.dtype) -> int:
        return _PIECE

    def details(self) -> dict:
        if self._reason is not None:
            return {"simd128": self.simd128, "relaxed_simd": self.relaxed_simd}
        return {
            "wasmtime": WASMTIME_VERSION,
            "simd128": self.simd128,
            "relaxed_simd": self.relaxed_simd,
            "module": self.module_file,
            "module_bytes": len(self.wasm),
            "loaded_from": self.load_source,
            "this_process_load_ms": round(self.load_ms, 3),
            "threads": self.threads,
            "memory_bytes": self.heap.end if self.heap else 0,
            "memory_in_use_bytes": self.heap.in_use() if self.heap else 0,
            "call_path": self._instance().calls["elementwise_f32"].path,
            "shared_memory": "public" if self._memory_class is _PublicSharedMemory else "patched",
        }

    # -- memory ------------------------------------------------------------------------------
    def _upload(self, x: np.ndarray) -> _Block:
        block = self.empty(x.size, x.dtype)
        if x.size:
            self.view(block.offset, x.size, x.dtype)[...] = x.reshape(-1)
        return block

    def _download(self, buf: _Block, out: np.ndarray) -> None:
        if out.size:
            out.reshape(-1)[...] = self.view(buf.offset, out.size, out.dtype)

    def empty(self, n: int, dtype: np.dtype) -> _Block:
        nbytes = n * np.dtype(dtype).itemsize
        return _Block(self.heap, self.heap.alloc(nbytes), nbytes)

    def release(self, buf: _Block) -> None:
        buf.heap.release(buf.offset)

    def copy(self, src: _Block, dst: _Block, n: int, dtype: np.dtype) -> None:
        self._check(src, dst)
        self.view(dst.offset, n, dtype)[...] = self.view(src.offset, n, dtype)

    # -- kernels on blocks of the shared memory ----------------------------------------------------
    def _parts(self, n: int, parallel: bool) -> list[tuple[int, int]]:
        parts = self.threads if parallel else 1
        step = -(-n // parts)
        return [(i, min(i + step, n)) for i in range(0, n, step)]

    def elementwise(self, act, x, y, n, dtype) -> None:
        self._check(x, y)
        name, size = f"elementwise_{_SUFFIX[dtype]}", dtype.itemsize

        def run(i0: int, i1: int) -> None:
            self._instance().calls[name](act, x.offset + i0 * size, y.offset + i0 * size, i1 - i0)

        self._parallel([lambda p=p: run(*p) for p in self._parts(n, n >= _PARALLEL_ELEMENTS)])

    def softmax(self, x, y, rows, cols, dtype) -> None:
        self._check(x, y)
        name, row = f"softmax_{_SUFFIX[dtype]}", cols * dtype.itemsize

        def run(r0: int, r1: int) -> None:
            self._instance().calls[name](x.offset + r0 * row, y.offset + r0 * row, r1 - r0, cols)

        parallel = rows > 1 and rows * cols >= _PARALLEL_ELEMENTS
        self._parallel([lambda p=p: run(*p) for p in self._parts(rows, parallel)])

    def dot(self, a, b, n, dtype) -> float:
        self._check(a, b)
        parts = max(1, math.ceil(n / _DOT_PART))  # depends on n only: the same bits always
        step = -(-n // parts)
        name, size = f"dot_{_SUFFIX[dtype]}", dtype.itemsize

        def run(i0: int) -> float:
            m = min(step, n - i0)
            return self._instance().calls[name](a.offset + i0 * size, b.offset + i0 * size, m)

        return math.fsum(self._parallel([lambda i0=i0: run(i0) for i0 in range(0, n, step)]))

    def _scratch_bytes(self, inst: _Instance, sfx: str, m: int, n: int, k: int) -> int:
        """The packing scratch the module's linear needs for an m x n x k product (its own
        gemm_scratch export, remembered: one call through wasmtime fewer per product)."""
        key = (sfx, m, n, k)
        nbytes = self._scratch_sizes.get(key)
        if nbytes is None:
            if len(self._scratch_sizes) > 4096:
                self._scratch_sizes.clear()
            nbytes = self._scratch_sizes[key] = int(inst.calls[f"gemm_scratch_{sfx}"](m, n, k))
        return nbytes

    def linear(self, a, b, c, bias, act, batch, m, n, k, a_batch, b_batch, dtype) -> None:
        self._check(a, b, c, bias)
        sfx, size = _SUFFIX[dtype], dtype.itemsize
        bias_at = 0 if bias is None else bias.offset
        flops = 2 * m * n * k * batch
        # bands of one product go to the native pool from far smaller sizes (see _bands)
        runner = None
        if batch == 1 and self.threads > 1 and flops >= _NATIVE_PARALLEL_FLOPS:
            runner = _fast.band_runner(self)
        least = _NATIVE_PARALLEL_FLOPS if runner is not None else _PARALLEL_FLOPS
        bands = self.threads if flops >= least and self.threads > 1 else 1
        # bands of rows or of columns, along the longer side of C (like the native driver):
        # each band packs its part of one operand and all of the other
        by_rows = m >= 16 and (m >= n or n < 32 or batch >= bands)
        if bands > 1 and by_rows:  # bands of rows
            rows = _round_up(-(-m // bands), 8)
            if batch == 1:
                self._bands(sfx, [
                    (r1 - r0, n, k, (a.offset + r0 * k * size, b.offset, c.offset + r0 * n * size,
                                     bias_at, act, 1, r1 - r0, n, k, 0, 0, None, n))
                    for r0 in range(0, m, rows) for r1 in [min(r0 + rows, m)]
                ], runner)  # fmt: skip
                return

            def run(r0: int) -> None:  # of every item
                r1 = min(r0 + rows, m)
                inst = self._instance()
                scratch = inst.reserve(self._scratch_bytes(inst, sfx, r1 - r0, n, k))
                for i in range(batch):
                    ai = a.offset + (i * a_batch + r0 * k) * size
                    bi = b.offset + i * b_batch * size
                    ci = c.offset + (i * m * n + r0 * n) * size
                    inst.calls[f"linear_{sfx}"](ai, bi, ci, bias_at, act, 1, r1 - r0, n, k, 0, 0,
                                                scratch, n)  # fmt: skip
                inst.trim()

            self._parallel([lambda r0=r0: run(r0) for r0 in range(0, m, rows)])
            return
        if bands > 1 and batch < bands and n >= 32:  # bands of columns
            cols = _round_up(-(-n // bands), 16)
            self._bands(sfx, [
                (m, w, k, (a.offset, b.offset + j0 * size, c.offset + j0 * size,
                           bias_at + j0 * size if bias is not None else 0, act, batch, m, w, k,
                           a_batch, b_batch, None, n))
                for j0 in range(0, n, cols) for w in [min(cols, n - j0)]
            ], runner)  # fmt: skip
            return
        if bands > 1 and batch >= 2:  # small matrices, many of them: items across threads
            per = -(-batch // bands)
            groups = [(i, min(i + per, batch)) for i in range(0, batch, per)]
        else:
            groups = [(0, batch)]

        def run_items(i0: int, i1: int) -> None:
            inst = self._instance()
            scratch = inst.reserve(self._scratch_bytes(inst, sfx, m, n, k))
            inst.calls[f"linear_{sfx}"](
                a.offset + i0 * a_batch * size, b.offset + i0 * b_batch * size,
                c.offset + i0 * m * n * size, bias_at, act, i1 - i0, m, n, k, a_batch, b_batch,
                scratch, n,
            )  # fmt: skip
            inst.trim()

        if len(groups) == 1:
            run_items(0, batch)
        else:
            self._parallel([lambda g=g: run_items(*g) for g in groups])

    # -- the numpy path: through each thread's scratch, no allocation --------------------------
    def host_elementwise(self, act: int, x: np.ndarray, y: np.ndarray) -> None:
        n, dtype = x.size, x.dtype
        fx, fy = x.reshape(-1), y.reshape(-1)
        name = f"elementwise_{_SUFFIX[dtype]}"
        if n < _PARALLEL_ELEMENTS:  # small: one piece, in this thread, no pool
            inst = getattr(self._local, "instance", None) or self._instance()
            nbytes = x.nbytes
            at = inst.scratch if inst.scratch_bytes >= nbytes else inst.reserve(nbytes)
            view = self.heap.bytes_view[at : at + nbytes].view(dtype)
            view[...] = fx
            inst.calls[name](act, at, at, n)
            fy[...] = view
            _stats.add_transfers(self.name, nbytes, nbytes)
            return

        def run(i0: int, i1: int) -> None:
            inst = self._instance()
            piece = min(_PIECE, i1 - i0)
            at = inst.reserve(piece * dtype.itemsize)
            kernel = inst.calls[name]
            view = self.view(at, piece, dtype)
            # in, compute in place, out: a piece at a time, so that the data stays in cache
            for j in range(i0, i1, piece):
                m = min(piece, i1 - j)
                view[:m] = fx[j : j + m]
                kernel(act, at, at, m)
                fy[j : j + m] = view[:m]
            inst.trim()

        self._parallel([lambda p=p: run(*p) for p in self._parts(n, True)])
        _stats.add_transfers(self.name, x.nbytes, y.nbytes)


def create() -> Backend:
    return SimdBackend()
