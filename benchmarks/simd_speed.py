"""The `simd` backend against numpy, in one run: the figures of the SIMD issue, and the
module's matmul on placed operands at 512^3 to 2048^3 against the 128-bit FMA peak of this
machine's cores (measured by benchmarks/fma_peak.c, built with the system's C compiler where
there is one on x86-64).

env -u OPENBLAS_CORETYPE python benchmarks/simd_speed.py
"""

from __future__ import annotations

import os
import pathlib
import platform
import shutil
import subprocess
import tempfile
import time

import numpy as np
from _common import machine, percentiles_us, print_table, seconds, warn_openblas

import accel
from accel import backends

rng = np.random.default_rng(0)


def fma128_peak() -> float | None:
    """GFLOP/s float32 of 128-bit FMAs on every core at once (fma_peak.c), or None where it
    cannot be built or run (no compiler, not x86-64)."""
    cc = shutil.which(os.environ.get("CC", "cc"))
    if cc is None or platform.machine() not in ("x86_64", "AMD64"):
        return None
    src = pathlib.Path(__file__).with_name("fma_peak.c")
    with tempfile.TemporaryDirectory() as tmp:
        exe = pathlib.Path(tmp) / "fma_peak"
        built = subprocess.run([cc, "-O2", "-mfma", "-pthread", str(src), "-o", str(exe)],
                               capture_output=True)  # fmt: skip
        if built.returncode != 0:
            return None
        threads = str(os.cpu_count() or 1)
        runs = [float(subprocess.run([str(exe), threads], capture_output=True, text=True,
                                     check=True).stdout) for _ in range(3)]  # fmt: skip
        return max(runs)


def squares_against_peak(peak: float | None) -> None:
    """The module's matmul on placed operands (the best of a few calls) at 512-2048, as a
    share of the 128-bit FMA peak (float64's: half of float32's)."""
    rows = []
    for dtype in (np.float32, np.float64):
        top = None if peak is None else peak / (1 if dtype == np.float32 else 2)
        for n in (512, 1024, 2048):
            a = accel.asarray(rng.standard_normal((n, n)).astype(dtype), backend="simd")
            b = accel.asarray(rng.standard_normal((n, n)).astype(dtype), backend="simd")
            accel.matmul(a, b)
            best = float("inf")
            for _ in range(5 if n < 2048 else 3):
                t0 = time.perf_counter()
                accel.matmul(a, b)
                best = min(best, time.perf_counter() - t0)
            rate = 2 * n**3 / best / 1e9
            share = "?" if top is None else f"{rate / top:.0%}"
            rows.append((f"{np.dtype(dtype).name} {n}^3", f"{rate:.1f}",
                         "?" if top is None else f"{top:.1f}", share))  # fmt: skip
    print_table(rows, ("matmul, placed", "GFLOP/s", "128-bit FMA peak", "share"))


def main() -> None:
    warn_openblas()
    print(machine())
    simd = backends.get("simd")
    if simd.unavailable_reason():
        raise SystemExit(f"simd unavailable: {simd.unavailable_reason()}")
    rows = []
    for n, dtype in ((1024, np.float32), (256, np.float32), (1024, np.float64)):
        a = rng.standard_normal((n, n)).astype(dtype)
        b = rng.standard_normal((n, n)).astype(dtype)
        tn = seconds(lambda a=a, b=b: a @ b)
        ta = seconds(lambda a=a, b=b: accel.matmul(a, b, backend="simd"))
        rows.append((f"matmul {np.dtype(dtype).name} n={n}", f"{tn * 1e6:.0f}", f"{ta * 1e6:.0f}",
                     f"{2 * n**3 / ta / 1e9:.1f} GFLOP/s", f"{tn / ta:.3f}"))  # fmt: skip
    x = rng.standard_normal(10**6).astype(np.float32)
    out = np.empty_like(x)
    for name, np_call, accel_call, amount, unit in (
        ("sigmoid 1e6 (1/(1+np.exp(-x)))", lambda: 1 / (1 + np.exp(-x)),
         lambda: accel.sigmoid(x, out=out, backend="simd"), 8e6, "GB/s"),
        ("tanh 1e6 (np.tanh)", lambda: np.tanh(x),
         lambda: accel.tanh(x, out=out, backend="simd"), 8e6, "GB/s"),
        ("relu 1e6 (np.maximum)", lambda: np.maximum(x, 0),
         lambda: accel.relu(x, out=out, backend="simd"), 8e6, "GB/s"),
        ("dot 1e6 (np.dot)", lambda: np.dot(x, x),
         lambda: accel.dot(x, x, backend="simd"), 2e6, "GFLOP/s"),
    ):  # fmt: skip
        tn, ta = seconds(np_call), seconds(accel_call)
        rows.append((name, f"{tn * 1e6:.0f}", f"{ta * 1e6:.0f}",
                     f"{amount / ta / 1e9:.1f} {unit}", f"{tn / ta:.2f}"))  # fmt: skip
    print_table(rows, ("what", "numpy us", "simd us", "simd rate", "numpy/simd"))
    x16 = rng.standard_normal(16).astype(np.float32)
    p50, p95, p99 = percentiles_us(lambda: accel.relu(x16, backend="simd"))
    print(f"\nrelu on 16 floats, public API: p50 {p50:.2f} us, p95 {p95:.2f}, p99 {p99:.2f}")
    d = simd.details()
    times = simd.probe_timings()
    print(
        f"module {d['module']}: {d['module_bytes']} bytes; compile {times['load_ms']:.1f} ms, "
        f"cached load {times['cached_load_ms']:.2f} ms; relaxed SIMD: {d['relaxed_simd']}"
    )
    peak = fma128_peak()
    where = "fma_peak.c could not be built here" if peak is None else f"{peak:.1f} GFLOP/s"
    print(f"\n128-bit FMA peak, float32, all {os.cpu_count()} cores: {where}")
    squares_against_peak(peak)


if __name__ == "__main__":
    main()
