"""The `cpu` backend: native C kernels compiled at install time, called through cffi.

Its memory is the host's: buffers are ndarrays, so upload and download move nothing, and the
host route calls the kernels on the caller's arrays. This file holds the backend's state (the
instruction set, the threads, the calibrated unpacked-path bound); _kernels.py its kernels. The
extension picks the widest instruction set the CPU has when it loads (AVX-512, AVX2+FMA, or the
platform's baseline); `ACCEL_CPU_ISA` forces a lower one and `ACCEL_NUM_THREADS` caps the
native thread pool. cffi releases the GIL around every call. Without a C compiler at install
the extension is not built and this backend says so, with the fix.
"""

from __future__ import annotations

import os
import platform
import sysconfig

import numpy as np

from ... import _calibration, _notice
from .._base import Backend, thread_count
from .._host import HostRoute
from .._memory import HostMemory
from .._native import CpuEntries
from ._kernels import CpuKernels, _NoKernels

_F32 = np.dtype(np.float32)
_F64 = np.dtype(np.float64)
_DTYPES = frozenset((_F32, _F64))
_NOT_BUILT = (
    "the native extension accel._cpu_native was not built when accel-chain was installed "
    "({why}); install a C compiler (gcc or clang) and Python's headers (Debian/Ubuntu: "
    "`apt install gcc python3-dev`), then reinstall: "
    "`pip install --force-reinstall --no-binary accel-chain accel-chain` "
    "(or `pip install --force-reinstall .` in a checkout)"
)


def build_note() -> str | None:
    """Why the extension was not built, as the install recorded it (None if it was)."""
    from importlib import resources

    try:
        note = resources.files("accel").joinpath("_cpu_build_note.txt")
        return note.read_text().strip() if note.is_file() else None
    except (OSError, ModuleNotFoundError, TypeError, ValueError):
        return None


# L2s of B the unpacked path may take that calibrate tries (the default: c_ext/driver.c's)
DIRECT_REREAD_TRIALS = (0.5, 2.0)
# the packed matmul's blocks: parts of the L1 (A's sliver) and of the L2 (B's panel) tried
BLOCK_PART_TRIALS = ((0.5, 0.5), (0.75, 0.5), (0.5, 0.75), (0.75, 0.75))


class CpuBackend(Backend):
    name = "cpu"

    def __init__(self) -> None:
        self._reason: str | None = None
        self.memory = HostMemory(self.name)
        try:
            from ... import _cpu_native  # built by c_ext/build_cpu.py at install
        except ImportError as e:
            self._reason = _NOT_BUILT.format(why=build_note() or e)
            self.kernels = _NoKernels()
            self.host = HostRoute(self.memory, self.kernels)
            return
        self._ffi = _cpu_native.ffi
        self._lib = _cpu_native.lib
        self.kernels = CpuKernels(self._ffi, self._lib)
        self.host = HostRoute(self.memory, self.kernels)
        self.isas = tuple(
            self._ffi.string(self._lib.accel_isa_name(i)).decode()
            for i in range(self._lib.accel_isa_count())
        )
        forced = os.environ.get("ACCEL_CPU_ISA", "").strip().lower()
        if forced:
            try:
                self.use_variant(forced)
            except ValueError as e:
                self._reason = f"ACCEL_CPU_ISA={forced!r}: {e}; unset it or name a supported one"
                return
        self._lib.accel_set_num_threads(thread_count())
        self.calibration_changed()

    # -- state ---------------------------------------------------------------------------------
    def unavailable_reason(self) -> str | None:
        return self._reason

    def dtypes(self) -> frozenset[np.dtype]:
        return _DTYPES if self._reason is None else frozenset()

    def cache_bytes(self) -> dict[str, int]:
        """The per-core L1 data and L2 sizes the native code sizes the packed matmul from."""
        return {"l1d": int(self._lib.accel_l1_bytes()), "l2": int(self._lib.accel_l2_bytes())}

    def details(self) -> dict:
        if self._reason is not None:
            return {}
        return {
            "isa": self.isa(),
            "isas_supported": self.supported_isas(),
            "threads": int(self._lib.accel_get_num_threads()),
            "direct_reread": float(self._lib.accel_get_direct_reread()),
            "direct_reread_source": self.direct_source,
            "block_parts": {"l1": float(self._lib.accel_get_block_l1()),
                            "l2": float(self._lib.accel_get_block_l2())},
            "block_parts_source": self.blocking_source,
            "cache_bytes": self.cache_bytes(),
            "compiler": sysconfig.get_config_var("CC") or "unknown",
            "machine": platform.machine(),
        }

    def calibration_changed(self) -> None:
        """How many L2s B may fill and still go unpacked: `accel calibrate`'s choice for this
        machine, else the default that is safe on every machine measured (driver.c)."""
        if self._reason is not None and not hasattr(self, "_lib"):
            return
        reread = None
        doc = _calibration.document()
        try:
            if doc is not None and doc.get("cpu_direct") is not None:
                reread = float(doc["cpu_direct"]["reread"])
        except (KeyError, TypeError, ValueError):
            reread = None
        self._lib.accel_set_direct_reread(-1.0 if reread is None else reread)  # -1: the default
        self.direct_source = "default" if reread is None else "calibrated"
        parts = None
        try:
            if doc is not None and doc.get("cpu_blocking") is not None:
                parts = (float(doc["cpu_blocking"]["l1"]), float(doc["cpu_blocking"]["l2"]))
        except (KeyError, TypeError, ValueError):
            parts = None
        self._lib.accel_set_block_parts(*((-1.0, -1.0) if parts is None else parts))
        self.blocking_source = "default" if parts is None else "calibrated"

    def set_block_parts(self, l1: float, l2: float) -> None:
        """Sets the parts of the L1 and L2 the packed matmul's blocks fill (calibrate's trials
        and tests; negative: the defaults)."""
        self._lib.accel_set_block_parts(float(l1), float(l2))

    def set_direct_reread(self, l2s: float) -> None:
        """Sets the unpacked path's bound directly (calibrate's trials and tests)."""
        self._lib.accel_set_direct_reread(float(l2s))

    def variants(self) -> tuple[str, ...]:
        if self._reason is not None:
            return ()
        current = self.isa()
        return (current, *(i for i in self.supported_isas() if i != current))

    def variant(self) -> str | None:
        return None if self._reason is not None else self.isa()

    def use_variant(self, name: str) -> None:
        """Uses the kernels of one instruction set, process-wide (tests and ACCEL_CPU_ISA)."""
        if name not in self.isas:
            raise ValueError(f"unknown instruction set {name!r}; this build has {self.isas}")
        if self._lib.accel_isa_select(self.isas.index(name)) != 0:
            raise ValueError(f"this CPU cannot run {name!r}; it can run {self.supported_isas()}")
        _notice.changed("variant")

    def isa(self) -> str:
        return self.isas[self._lib.accel_isa_current()]

    def supported_isas(self) -> list[str]:
        return [n for i, n in enumerate(self.isas) if self._lib.accel_isa_supported(i)]

    def native(self) -> CpuEntries | None:
        if self._reason is not None:
            return None
        ffi, lib = self._ffi, self._lib

        def address(symbol: str) -> int:
            return int(ffi.cast("uintptr_t", ffi.addressof(lib, symbol)))

        kernels = tuple(address(f"accel_{kind}_{sfx}") for kind in CpuEntries.KINDS
                        for sfx in ("f32", "f64"))  # fmt: skip
        return CpuEntries(kernels)

    def wasm_bands_address(self) -> int:
        """The address of accel_wasm_bands (accel_cpu.h), for the compiled fast path."""
        return int(self._ffi.cast("uintptr_t", self._ffi.addressof(self._lib, "accel_wasm_bands")))

    def wasm_bands(self, call: int, error_delete: int, trap_delete: int, raw_size: int,
                   tasks: list[tuple[int, int, tuple[int, ...]]]) -> int:  # fmt: skip
        """Runs calls of WebAssembly exports on the native thread pool, one task each, with the
        GIL released (the simd backend's bands): tasks of (context, func, i64 arguments) through
        wasmtime's C entry at `call`. Returns how many trapped or failed."""
        ffi = self._ffi
        n = len(tasks)
        bands = ffi.new("accel_wasm_band[]", max(n, 1))
        for i, (ctx, func, args) in enumerate(tasks):
            bands[i].ctx = ffi.cast("void *", ctx)
            bands[i].func = ffi.cast("void *", func)
            bands[i].nargs = len(args)
            for j, value in enumerate(args):
                bands[i].args[j] = value
        return int(self._lib.accel_wasm_bands(call, error_delete, trap_delete, raw_size, bands, n))


def create() -> Backend:
    return CpuBackend()
