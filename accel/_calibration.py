"""The calibration `accel calibrate` measures and keeps in the user cache directory: the cost
model's parameters, the gpu matmul variants chosen per adapter, and the cpu's unpacked-matmul
bound. This module owns the file: it reads it once (and again after `reload`), checks that it
was measured on this machine with these versions, and writes it. The cost model and the
backends read their parts from `document()`.
"""

from __future__ import annotations

import json
import os
import pathlib
import platform

from . import _notice
from ._version import __version__

FILE_NAME = "calibration.json"

_document: dict | None = None
_source = "built-in defaults"
_loaded = False


def fingerprint() -> dict:
    """What a calibration is valid for: a new machine, Python or accel invalidates it."""
    return {
        "accel": __version__,
        "machine": platform.machine(),
        "processor": platform.processor() or platform.machine(),
        "python": platform.python_version(),
        "wasmtime": _version("wasmtime"),
        "wgpu": _version("wgpu"),
    }


def _version(dist: str) -> str | None:
    from importlib import metadata  # only when a calibration is read: import stays light

    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def path() -> pathlib.Path | None:
    try:
        import platformdirs

        return pathlib.Path(platformdirs.user_cache_dir("accel")) / FILE_NAME
    except Exception:  # no cache directory: defaults only
        return None


def _read() -> None:
    global _document, _source, _loaded
    _document, _source, _loaded = None, "built-in defaults", True
    p = path()
    if p is None or not p.exists():
        return
    try:
        doc = json.loads(p.read_text())
    except (OSError, ValueError):
        _source = f"built-in defaults ({p} is unreadable)"
        return
    if not isinstance(doc, dict) or doc.get("fingerprint") != fingerprint():
        _source = f"built-in defaults ({p} is for another machine or version)"
        return
    _document, _source = doc, str(p)


def document() -> dict | None:
    """The calibration of this machine, or None (none measured, or measured elsewhere)."""
    if not _loaded:
        _read()
    return _document


def source() -> str:
    """Where the calibration in force comes from, for the probe."""
    if not _loaded:
        _read()
    return _source


def reload() -> None:
    """Reads the file again and tells every cache of decisions ("calibration")."""
    _read()
    _notice.changed("calibration")


def write(doc: dict) -> pathlib.Path | None:
    """Writes a calibration (atomically) and reloads it; returns where it went."""
    p = path()
    if p is not None:
        p.parent.mkdir(parents=True, exist_ok=True)
        tmp = p.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps(doc, indent=1))
        os.replace(tmp, p)
    reload()
    return p
