"""The environment variables accel reads and where it keeps its caches, for the probe and the
docs: each variable's value and whether it is valid, and the cache folder."""

from __future__ import annotations

import os

VARIABLES = {
    "ACCEL_BACKEND": "the default selection: auto, a backend name or a comma list (read at import)",
    "ACCEL_NUM_THREADS": "the most threads the cpu and simd backends use (a positive integer)",
    "ACCEL_CPU_ISA": "run the cpu kernels of a lower instruction set: avx2, baseline",
    "ACCEL_GPU_ADAPTER": "use the GPU adapter whose name contains this text",
}


def cache_folder() -> str | None:
    """accel's folder in the user cache directory (compiled simd module, calibration)."""
    try:
        import platformdirs

        return str(platformdirs.user_cache_dir("accel"))
    except Exception:  # no cache directory on this system
        return None


def environment() -> dict:
    values = {name: os.environ.get(name) for name in VARIABLES}
    problems = []
    threads = (values["ACCEL_NUM_THREADS"] or "").strip()
    if threads and not (threads.isdigit() and int(threads) > 0):
        problems.append(f"ACCEL_NUM_THREADS={threads!r} is not a positive integer and is ignored")
    return {"variables": values, "cache_dir": cache_folder(), "problems": problems}
