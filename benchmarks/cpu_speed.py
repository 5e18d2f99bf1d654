"""The `cpu` backend against numpy, in one run: the acceptance table of the CPU-speed issue.

    env -u OPENBLAS_CORETYPE python benchmarks/cpu_speed.py

Goal column: numpy time / accel time must reach it.
"""

from __future__ import annotations

import numpy as np
from _common import machine, print_table, seconds, warn_openblas

import accel

rng = np.random.default_rng(0)


def matmul_case(n, dtype):
    a = rng.standard_normal((n, n)).astype(dtype)
    b = rng.standard_normal((n, n)).astype(dtype)
    out = np.empty((n, n), dtype)
    return (lambda: a @ b), (lambda: accel.matmul(a, b, out=out, backend="cpu")), 2 * n**3


def main() -> None:
    warn_openblas()
    print(machine())
    x6 = rng.standard_normal(10**6).astype(np.float32)
    x7 = rng.standard_normal(10**7).astype(np.float32)
    x3 = rng.standard_normal(1000).astype(np.float32)
    o6, o7 = np.empty_like(x6), np.empty_like(x7)
    cases = []
    for name, (n, dtype), goal in (
        ("matmul float32, n=1024", (1024, np.float32), 0.85),
        ("matmul float32, n=256", (256, np.float32), 0.8),
        ("matmul float64, n=1024", (1024, np.float64), 0.8),
    ):
        np_call, accel_call, flops = matmul_case(n, dtype)
        cases.append((name, np_call, accel_call, goal, flops, "GFLOP/s"))
    cases += [
        ("dot float32, 1e6", lambda: np.dot(x6, x6), lambda: accel.dot(x6, x6, backend="cpu"),
         0.9, 2e6, "GFLOP/s"),
        ("tanh float32, 1e6 (np.tanh)", lambda: np.tanh(x6),
         lambda: accel.tanh(x6, out=o6, backend="cpu"), 1.2, 8e6, "GB/s"),
        ("sigmoid float32, 1e7 (1/(1+np.exp(-x)))", lambda: 1 / (1 + np.exp(-x7)),
         lambda: accel.sigmoid(x7, out=o7, backend="cpu"), 3.0, 8e7, "GB/s"),
        ("relu on 1,000 floats (np.maximum(x, 0))", lambda: np.maximum(x3, 0),
         lambda: accel.relu(x3), 0.33, 8e3, "GB/s"),
    ]  # fmt: skip
    rows = []
    for name, np_call, accel_call, goal, amount, unit in cases:
        tn, ta = seconds(np_call), seconds(accel_call)
        met = "yes" if tn / ta >= goal else "NO"
        rate = f"{amount / ta / 1e9:.1f} {unit}"
        rows.append((name, f"{tn * 1e6:.1f}", f"{ta * 1e6:.1f}", rate, f"{tn / ta:.2f}",
                     f">= {goal}", met))  # fmt: skip
    print_table(rows, ("what", "numpy us", "accel us", "accel rate", "numpy/accel", "goal", "met"))
    print(f"cpu instruction set: {accel.probe()['backends'][2]['details']['isa']}")


if __name__ == "__main__":
    main()
