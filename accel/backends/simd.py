"""The `simd` backend: a WebAssembly SIMD128 module (simd_wasm/), run by wasmtime.

- One compiled module per process, cached on disk between processes (Module.serialize, keyed
  by the module's hash and wasmtime's version, in the user cache directory).
- The engine validates a tiny SIMD128 module and a relaxed-SIMD one; where relaxed SIMD is
  supported the relaxed build (fused multiply-add) runs, otherwise plain SIMD128.
- A wasmtime Store is not thread-safe: each thread gets its own instance. Its linear memory
  grows when a call needs more and is then reused; data moves in and out through numpy views
  of linear memory, one copy each way.
- Calls go through wasmtime's unchecked call with a preallocated argument array (about 1 us),
  not `Func.__call__` (15-30 us of type checks and conversions).
- Large work is split across instances in threads (ctypes releases the GIL during a call);
  work beyond the 4 GiB of a module's memory is split by the shared layer (max_elements).
"""

from __future__ import annotations

import atexit
import ctypes
import hashlib
import math
import os
import pathlib
import struct
import threading
import time
import weakref
from concurrent.futures import ThreadPoolExecutor
from importlib import metadata, resources
from typing import ClassVar

import numpy as np
import wasmtime
from wasmtime import _ffi as ffi  # the C bindings wasmtime-py ships: unchecked calls

from .._errors import BackendRuntimeError
from ._base import thread_count

WASMTIME_VERSION = metadata.version("wasmtime")
_F32 = np.dtype(np.float32)
_F64 = np.dtype(np.float64)
_DTYPES = frozenset((_F32, _F64))
_SUFFIX = {_F32: "f32", _F64: "f64"}
_PAGE = 65536
_MAX_PAGES = 65536  # 4 GiB: wasm32's limit
_ALIGN = 64

# The smallest modules that use a SIMD128 and a relaxed-SIMD instruction.
_SIMD_PROBE = "(module (func (result v128) v128.const i32x4 0 0 0 0))"
_RELAXED_PROBE = (
    "(module (func (param v128 v128 v128) (result v128)"
    " local.get 0 local.get 1 local.get 2 f32x4.relaxed_madd))"
)

# Work below these sizes runs in the calling thread: a thread hand-off costs more.
_PARALLEL_FLOPS = 1 << 22
_PARALLEL_ELEMENTS = 1 << 16
_DOT_PART = 1 << 18  # dot is summed in parts of this size (a function of n alone)
_PIECE = 1 << 17  # elementwise work moves through linear memory this many elements at a time


def _round_up(x: int, to: int) -> int:
    return (x + to - 1) // to * to


def _validates(engine: wasmtime.Engine, wat: str) -> bool:
    try:
        wasmtime.Module.validate(engine, wasmtime.wat2wasm(wat))
        return True
    except wasmtime.WasmtimeError:
        return False


def _cache_dir() -> pathlib.Path | None:
    try:
        import platformdirs

        path = pathlib.Path(platformdirs.user_cache_dir("accel"))
        path.mkdir(parents=True, exist_ok=True)
        return path
    except Exception:  # no writable cache: compile every time
        return None


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
        try:
            self._ctx = store._context()
            self._func_ref = ctypes.byref(func._func)
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


class _Instance:
    """One thread's instance of the module, its memory and typed views of it."""

    def __init__(self, engine: wasmtime.Engine, module: wasmtime.Module) -> None:
        self.store = wasmtime.Store(engine)
        instance = wasmtime.Instance(self.store, module, [])
        exports = instance.exports(self.store)
        self.memory: wasmtime.Memory = exports["memory"]
        self.base = _round_up(int(exports["__heap_base"].value(self.store)), _ALIGN)
        self.calls = {}
        for export in module.exports:
            if isinstance(export.type, wasmtime.FuncType):
                self.calls[export.name] = _FastCall(self.store, exports[export.name], export.type)
        self._mapped = -1
        self._remap()

    def _remap(self) -> None:
        size = self.memory.data_len(self.store)
        u8 = np.ctypeslib.as_array(self.memory.data_ptr(self.store), (size,))
        heap = u8[self.base : self.base + (size - self.base) // 8 * 8]
        self.views = {_F32: heap.view(np.float32), _F64: heap.view(np.float64)}
        self._mapped = size

    def reserve(self, nbytes: int) -> None:
        """Grows linear memory (once; it is reused after) so that nbytes fit past the base."""
        need = self.base + nbytes
        if need <= self._mapped:  # the common case: no call into wasmtime
            return
        size = self.memory.data_len(self.store)
        if need > size:
            # grow with headroom, so that a series of growing calls grows rarely
            pages = min(_MAX_PAGES, max(-(-need // _PAGE), 2 * size // _PAGE))
            if need > _MAX_PAGES * _PAGE:
                raise MemoryError(f"{nbytes} bytes do not fit in a 4 GiB WebAssembly memory")
            try:
                self.memory.grow(self.store, pages - size // _PAGE)
            except wasmtime.WasmtimeError as e:
                raise MemoryError(f"could not grow the simd module's memory: {e}") from e
        if self.memory.data_len(self.store) != self._mapped:
            self._remap()

    def offset(self, element: int, dtype: np.dtype) -> int:
        """The linear-memory address of element `element` of the dtype's view."""
        return self.base + element * dtype.itemsize


class SimdBackend:
    name = "simd"

    def __init__(self) -> None:
        config = wasmtime.Config()
        config.wasm_simd = True
        config.wasm_relaxed_simd = True
        config.cranelift_opt_level = "speed"
        self.engine = wasmtime.Engine(config)
        self.simd128 = _validates(self.engine, _SIMD_PROBE)
        self.relaxed_simd = _validates(self.engine, _RELAXED_PROBE)
        self._reason: str | None = None
        if not self.simd128:
            self._reason = (
                "this wasmtime cannot run WebAssembly SIMD128 on this CPU; "
                "upgrade wasmtime (`pip install -U wasmtime`) or use another backend"
            )
            return
        self._local = threading.local()
        self._instances: weakref.WeakSet[_Instance] = weakref.WeakSet()
        self.select_variant("relaxed" if self.relaxed_simd else "plain")
        self.threads = thread_count()
        self._pool: ThreadPoolExecutor | None = None
        self._pool_busy = threading.Lock()
        atexit.register(self._close)

    def _close(self) -> None:
        """Frees wasmtime's objects while its bindings still exist (at interpreter exit they
        may be torn down first, and each late finaliser would print a TypeError)."""
        for inst in list(self._instances):
            inst.store.close()
        self.module.close()
        self.engine.close()

    # -- the module ------------------------------------------------------------------------
    VARIANTS: ClassVar[dict[str, str]] = {
        "relaxed": "accel_simd_relaxed.wasm",
        "plain": "accel_simd.wasm",
    }

    def select_variant(self, variant: str) -> None:
        """Runs the relaxed-SIMD (FMA) or the plain SIMD128 build of the module, process-wide
        (the best one is chosen at start; tests run both). Threads get new instances."""
        if variant == "relaxed" and not self.relaxed_simd:
            raise ValueError("this engine cannot run relaxed SIMD")
        self.variant = self.VARIANTS[variant]
        self.wasm = resources.files("accel.wasm").joinpath(self.variant).read_bytes()
        self.module, self.load_source, self.load_ms = self._load_module()
        self._local = threading.local()

    def variants(self) -> list[str]:
        return ["relaxed", "plain"] if self.relaxed_simd else ["plain"]

    def _cache_path(self) -> pathlib.Path | None:
        folder = _cache_dir()
        if folder is None:
            return None
        key = hashlib.sha256(self.wasm + WASMTIME_VERSION.encode()).hexdigest()[:32]
        return folder / f"{self.variant[:-5]}-{key}.cwasm"

    def _load_module(self) -> tuple[wasmtime.Module, str, float]:
        path = self._cache_path()
        t0 = time.perf_counter()
        if path is not None and path.exists():
            try:
                module = wasmtime.Module.deserialize_file(self.engine, str(path))
                return module, "cache", (time.perf_counter() - t0) * 1e3
            except wasmtime.WasmtimeError:  # stale or foreign: compile again
                t0 = time.perf_counter()
        module = wasmtime.Module(self.engine, self.wasm)
        ms = (time.perf_counter() - t0) * 1e3
        if path is not None:
            tmp = path.with_suffix(f".{os.getpid()}.tmp")
            try:
                tmp.write_bytes(module.serialize())
                os.replace(tmp, path)  # atomic: another process never reads half a file
            except OSError:
                tmp.unlink(missing_ok=True)
        return module, "compiled", ms

    def load_times(self) -> dict[str, float]:
        """Compile and cached-load times of the module, measured now (for the probe)."""
        t0 = time.perf_counter()
        module = wasmtime.Module(self.engine, self.wasm)
        compile_ms = (time.perf_counter() - t0) * 1e3
        data = module.serialize()
        t0 = time.perf_counter()
        wasmtime.Module.deserialize(self.engine, data)
        return {"load_ms": compile_ms, "cached_load_ms": (time.perf_counter() - t0) * 1e3}

    def _instance(self) -> _Instance:
        inst = getattr(self._local, "instance", None)
        if inst is None:
            inst = self._local.instance = _Instance(self.engine, self.module)
            self._instances.add(inst)
        return inst

    def _parallel(self, tasks: list) -> list:
        """Runs the callables, the first in this thread and the rest on the pool; serially when
        the pool is busy with another caller (no oversubscription)."""
        if len(tasks) == 1 or self.threads == 1 or not self._pool_busy.acquire(blocking=False):
            return [t() for t in tasks]
        try:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(self.threads - 1, thread_name_prefix="accel-simd")
            futures = [self._pool.submit(t) for t in tasks[1:]]
            first = tasks[0]()
            return [first, *(f.result() for f in futures)]
        finally:
            self._pool_busy.release()

    # -- protocol --------------------------------------------------------------------------
    def unavailable_reason(self) -> str | None:
        return self._reason

    def dtypes(self) -> frozenset[np.dtype]:
        return _DTYPES

    def auto_eligible(self) -> bool:
        return True

    def max_elements(self, dtype: np.dtype) -> int:
        # all arrays of one call live in one 4 GiB memory; keep 64 MiB for stack and scratch
        return (_MAX_PAGES * _PAGE - (64 << 20)) // dtype.itemsize

    def details(self) -> dict:
        if self._reason is not None:
            return {"simd128": self.simd128, "relaxed_simd": self.relaxed_simd}
        return {
            "wasmtime": WASMTIME_VERSION,
            "simd128": self.simd128,
            "relaxed_simd": self.relaxed_simd,
            "module": self.variant,
            "module_bytes": len(self.wasm),
            "loaded_from": self.load_source,
            "this_process_load_ms": round(self.load_ms, 3),
            "threads": self.threads,
            "call_path": self._instance().calls["relu_f32"].path,
        }

    def elementwise(self, op: str, x: np.ndarray, out: np.ndarray) -> None:
        n = x.size
        x, out = x.reshape(-1), out.reshape(-1)
        parts = 1 if n < _PARALLEL_ELEMENTS else self.threads
        step = -(-n // parts)
        name = f"{op}_{_SUFFIX[x.dtype]}"

        def run(i0: int) -> None:
            inst = self._instance()
            end = min(i0 + step, n)
            piece = min(step, _PIECE)
            inst.reserve(piece * x.itemsize)
            kernel, address, views = inst.calls[name], inst.base, inst.views[x.dtype]
            # in, compute in place, out: a piece at a time, so that the data stays in cache
            for j in range(i0, end, piece):
                m = min(piece, end - j)
                view = views[:m]
                view[...] = x[j : j + m]
                kernel(address, address, m)
                out[j : j + m] = view

        if parts == 1:
            run(0)
        else:
            self._parallel([lambda i0=i0: run(i0) for i0 in range(0, n, step)])

    def dot(self, a: np.ndarray, b: np.ndarray) -> float:
        n = a.size
        parts = max(1, math.ceil(n / _DOT_PART))  # depends on n only: the same bits always
        step = -(-n // parts)
        name = f"dot_{_SUFFIX[a.dtype]}"

        def run(i0: int) -> float:
            inst = self._instance()
            m = min(step, n - i0)
            inst.reserve(2 * m * a.itemsize + _ALIGN)
            views = inst.views[a.dtype]
            b_at = _round_up(m, _ALIGN)
            views[:m] = a[i0 : i0 + m]
            views[b_at : b_at + m] = b[i0 : i0 + m]
            return inst.calls[name](inst.base, inst.offset(b_at, a.dtype), m)

        partial = self._parallel([lambda i0=i0: run(i0) for i0 in range(0, n, step)])
        return math.fsum(partial)

    def matmul(self, a: np.ndarray, b: np.ndarray, out: np.ndarray) -> None:
        count, m, k = out.shape[0], a.shape[1], a.shape[2]
        n = b.shape[2]
        flops = 2 * m * n * k
        bands = 1
        if flops >= _PARALLEL_FLOPS and self.threads > 1 and m >= 2 * 8:
            bands = self.threads
        rows = _round_up(-(-m // bands), 8)
        for i in range(count):
            ai = a[i] if a.shape[0] > 1 else a[0]
            bi = b[i] if b.shape[0] > 1 else b[0]
            tasks = [
                lambda ai=ai, bi=bi, ci=out[i], r0=r0: self._matmul_rows(
                    ai, bi, ci, r0, min(r0 + rows, m)
                )
                for r0 in range(0, m, rows)
            ]
            if len(tasks) == 1:
                tasks[0]()
            else:
                self._parallel(tasks)

    def _matmul_rows(self, a: np.ndarray, b: np.ndarray, c: np.ndarray, r0: int, r1: int) -> None:
        """c[r0:r1] = a[r0:r1] @ b in this thread's instance."""
        inst = self._instance()
        dtype = c.dtype
        m, k, n = r1 - r0, a.shape[1], b.shape[1]
        sfx = _SUFFIX[dtype]
        per_align = _ALIGN // dtype.itemsize
        a_at = 0
        b_at = _round_up(m * k, per_align)
        c_at = b_at + _round_up(k * n, per_align)
        s_at = c_at + _round_up(m * n, per_align)
        scratch = int(inst.calls[f"matmul_scratch_{sfx}"](m, n, k))
        inst.reserve(s_at * dtype.itemsize + scratch)
        view = inst.views[dtype]
        view[a_at : a_at + m * k] = a[r0:r1].reshape(-1)
        view[b_at : b_at + k * n] = b.reshape(-1)
        inst.calls[f"matmul_{sfx}"](
            inst.offset(a_at, dtype), inst.offset(b_at, dtype), inst.offset(c_at, dtype),
            m, n, k, inst.offset(s_at, dtype),
        )  # fmt: skip
        c[r0:r1] = view[c_at : c_at + m * n].reshape(m, n)


def create() -> SimdBackend:
    return SimdBackend()
