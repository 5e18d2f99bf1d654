"""The simd module as this process runs it: one compiled module per build (plain SIMD128, or
relaxed SIMD with fused multiply-add), cached on disk between processes.

The cache (Module.serialize) is keyed by the module's hash, wasmtime's version and the
engine's settings. A cache file is used only when it belongs to this user, is writable by no
one else, and its SHA-256 matches the digest recorded when this user's process wrote it;
anything else is compiled afresh (about 20 ms): nothing read from disk runs unless it is
exactly what this process would have built.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import pathlib
import stat
import threading
import time

import wasmtime

from ..._resources import kernel_file
from ._runtime import ENGINE_SETTINGS, WASMTIME_VERSION, Module

VARIANTS: dict[str, str] = {"relaxed": "accel_simd_relaxed.wasm", "plain": "accel_simd.wasm"}


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


class CompiledModule:
    """One build of the module, compiled for an engine (or loaded from the verified cache)."""

    def __init__(self, engine: wasmtime.Engine, variant: str) -> None:
        self.engine = engine
        self.variant = variant
        self.file = VARIANTS[variant]
        self.wasm = kernel_file("wasm", self.file)
        self.module, self.load_source, self.load_ms = self._load()

    def _cache_path(self) -> pathlib.Path | None:
        folder = cache_dir()
        if folder is None:
            return None
        key = hashlib.sha256(
            self.wasm + f"{WASMTIME_VERSION}|{ENGINE_SETTINGS}".encode()
        ).hexdigest()[:32]
        return folder / f"{self.file[:-5]}-{key}.cwasm"

    def _load(self) -> tuple[wasmtime.Module, str, float]:
        path = self._cache_path()
        t0 = time.perf_counter()
        if path is not None:
            module = self._load_verified(path)
            if module is not None:
                return module, "cache", (time.perf_counter() - t0) * 1e3
        t0 = time.perf_counter()
        module = Module(self.engine, self.wasm)
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
            return Module.deserialize(self.engine, data)
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
