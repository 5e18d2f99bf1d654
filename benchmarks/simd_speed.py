"""The `simd` backend against numpy, in one run: the figures of the SIMD issue.

env -u OPENBLAS_CORETYPE python benchmarks/simd_speed.py
"""

from __future__ import annotations

import numpy as np
from _common import machine, percentiles_us, print_table, seconds, warn_openblas

import accel
from accel import backends

rng = np.random.default_rng(0)


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


if __name__ == "__main__":
    main()
