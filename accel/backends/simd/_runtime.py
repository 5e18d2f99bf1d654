"""wasmtime as the simd backend uses it: the engine's settings, objects that outlive the
interpreter's exit safely, a shared memory a module can import, and the fast call of an
export.

The fast call goes through wasmtime's unchecked call with a preallocated argument array (about
1 us), not `Func.__call__` (15-30 us of type checks). Both it and the shared-memory import
reach into wasmtime-py's bindings (pinned in pyproject.toml); each is used only where it
works, with the public path as the fallback when they move.
"""

from __future__ import annotations

import atexit
import ctypes
import inspect
import struct
import sys
from importlib import metadata

import wasmtime

from ..._errors import BackendRuntimeError
from .._native import WasmEntries

try:  # the C bindings wasmtime-py ships: unchecked calls (guarded: they may move)
    from wasmtime import _ffi as ffi
except ImportError:  # pragma: no cover - a wasmtime-py without them: the public call path
    ffi = None

WASMTIME_VERSION = metadata.version("wasmtime")

# The smallest modules that use a SIMD128 and a relaxed-SIMD instruction.
SIMD_PROBE = "(module (func (result v128) v128.const i32x4 0 0 0 0))"
RELAXED_PROBE = (
    "(module (func (param v128 v128 v128) (result v128)"
    " local.get 0 local.get 1 local.get 2 f32x4.relaxed_madd))"
)


def make_engine() -> wasmtime.Engine:
    config = wasmtime.Config()
    config.wasm_simd = True
    config.wasm_relaxed_simd = True
    config.wasm_threads = True
    config.shared_memory = True
    config.cranelift_opt_level = "speed"
    return Engine(config)


ENGINE_SETTINGS = "threads|simd|relaxed|speed"  # part of the module cache's key


class Exit:
    """Set when the interpreter starts to exit (atexit runs before module teardown)."""

    started = False


def _at_exit() -> None:
    """From here on wasmtime's objects are never freed: at interpreter shutdown a daemon thread
    may still be inside a kernel, and freeing its store under it would crash the process."""
    Exit.started = True


atexit.register(_at_exit)


def _keep_at_exit(cls):
    """A subclass of a wasmtime object whose finaliser does nothing once the interpreter is
    exiting (public classes only: no private API). The defaults bind what the finaliser needs,
    since module globals are cleared at shutdown."""

    class Kept(cls):  # type: ignore[misc, valid-type]
        def __del__(self, _exit=Exit, _finalizing=sys.is_finalizing, _base=cls) -> None:
            if not _exit.started and not _finalizing():
                _base.__del__(self)

    Kept.__name__ = Kept.__qualname__ = f"Kept{cls.__name__}"
    return Kept


Engine = _keep_at_exit(wasmtime.Engine)
Store = _keep_at_exit(wasmtime.Store)
Module = _keep_at_exit(wasmtime.Module)
PublicSharedMemory = _keep_at_exit(wasmtime.SharedMemory)


class _PatchedSharedMemory(PublicSharedMemory):
    """wasmtime-py 50 passes a pointer to the pointer when it imports a SharedMemory into an
    instance (TypeError: LP_LP_wasmtime_sharedmemory). This builds the extern as the C API
    wants it. It overrides a private method, so it is used only when the public path fails,
    and only if it then works (`shared_memory_class` tries both)."""

    def _as_extern(self):
        union = ffi.wasmtime_extern_union(sharedmemory=self.ptr())
        return ffi.wasmtime_extern_t(ffi.WASMTIME_EXTERN_SHAREDMEMORY, union)


_IMPORT_PROBE = '(module (import "env" "memory" (memory 1 1 shared)))'


def shared_memory_class(engine: wasmtime.Engine):
    """The SharedMemory class whose instances a module can import here: the public one where
    it works, else the patched one; None when neither does (the backend is then unavailable,
    with the reason, and auto uses the others)."""
    module = wasmtime.Module(engine, wasmtime.wat2wasm(_IMPORT_PROBE))
    limits = wasmtime.MemoryType(wasmtime.Limits(1, 1), shared=True)
    for cls in (PublicSharedMemory, _PatchedSharedMemory):
        if cls is _PatchedSharedMemory and ffi is None:
            break
        try:
            store = wasmtime.Store(engine)
            wasmtime.Instance(store, module, [cls(engine, limits)])
            return cls
        except (TypeError, AttributeError, ValueError, wasmtime.WasmtimeError):
            continue
    return None


def validates(engine: wasmtime.Engine, wat: str) -> bool:
    try:
        wasmtime.Module.validate(engine, wasmtime.wat2wasm(wat))
        return True
    except wasmtime.WasmtimeError:
        return False


_UNCHECKED_PARAMS = ["store", "func", "args_and_results", "args_and_results_len", "trap"]


def unchecked_call():
    """wasmtime-py's wrapper of wasmtime_func_call_unchecked, while it still has the C
    signature the fast calls were written for; None once it moved (or wasmtime-py has no such
    bindings): every call then takes the public path."""
    if ffi is None:
        return None
    try:
        call = ffi.wasmtime_func_call_unchecked
        if list(inspect.signature(call).parameters) != _UNCHECKED_PARAMS:
            return None
        return call
    except (AttributeError, TypeError, ValueError):
        return None


class FastCall:
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
        call = unchecked_call()
        if call is None:
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
            self._call = call
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


def wasm_entries(binder, band_binder) -> WasmEntries | None:
    """wasmtime's C entry for calling an export, for the compiled fast path and the native
    bands, once its wrapper still has the C signature this was written for (None: they moved,
    and calls keep the Python path)."""
    if unchecked_call() is None:
        return None
    try:
        names = ("wasmtime_func_call_unchecked", "wasmtime_error_delete", "wasm_trap_delete")
        call, error_delete, trap_delete = (ctypes.cast(getattr(ffi.dll, n), ctypes.c_void_p)
                                           .value or 0 for n in names)  # fmt: skip
        return WasmEntries(call, error_delete, trap_delete,
                           ctypes.sizeof(ffi.wasmtime_val_raw_t), binder,
                           band_binder)  # fmt: skip
    except (AttributeError, TypeError, ValueError, ctypes.ArgumentError):  # they moved
        return None
