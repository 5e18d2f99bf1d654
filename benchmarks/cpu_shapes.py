"""cpu matmul at the shapes programs send, against numpy, float32 and float64, one run.

    env -u OPENBLAS_CORETYPE python benchmarks/cpu_shapes.py
    env -u OPENBLAS_CORETYPE python benchmarks/cpu_shapes.py simd --resident

The second times another backend with its operands placed once (accel.asarray) and the result
left there: the simd module's own speed, without the copies into its memory that every call
on numpy data makes.

Goal: at least 0.9x numpy at every shape, and at least 1.0x for square n >= 512.
"""

from __future__ import annotations

import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(__file__))
from _common import machine, print_table, seconds, warn_openblas

import accel

SHAPES = [  # (M, K, N, what it is)
    (1, 4096, 4096, "batch-1 layer (matrix-vector)"),
    (100, 100, 100, "small"),
    (4096, 4096, 64, "narrow output"),
    (2048, 2048, 2048, "large square"),
    (64, 784, 512, "MLP layer, batch 64"),
    (256, 1024, 1024, "batch 256"),
    (4096, 64, 4096, "short K"),
    (16, 1024, 1024, "batch 16"),
    (512, 512, 512, "square 512"),
    (1024, 1024, 1024, "square 1024"),
]


def main() -> None:
    warn_openblas()
    print(machine())
    rows = []
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    backend = args[0] if args else "cpu"
    resident = "--resident" in sys.argv
    for dtype in (np.float32, np.float64):
        for m, k, n, what in SHAPES:
            rng = np.random.default_rng(0)
            a = rng.standard_normal((m, k)).astype(dtype)
            b = rng.standard_normal((k, n)).astype(dtype)
            out = np.empty((m, n), dtype)
            t_np = seconds(lambda a=a, b=b, out=out: np.matmul(a, b, out=out))
            if resident:  # operands placed once, the result left on the backend
                ra, rb = accel.asarray(a, backend=backend), accel.asarray(b, backend=backend)
                t_ac = seconds(lambda ra=ra, rb=rb: accel.matmul(ra, rb))
            else:
                t_ac = seconds(lambda a=a, b=b, out=out: accel.matmul(a, b, out=out,
                                                                      backend=backend))  # fmt: skip
            flops = 2.0 * m * n * k
            ratio = t_np / t_ac
            goal = 1.0 if m == n == k and m >= 512 else 0.9
            met = "yes" if ratio >= goal else "NO"
            rows.append((f"{m} x {k} x {n}", what, np.dtype(dtype).name,
                         f"{flops / t_np / 1e9:.1f}", f"{flops / t_ac / 1e9:.1f}",
                         f"{ratio:.2f}", f">= {goal}", met))  # fmt: skip
    label = f"{backend}{' resident' if resident else ''} GF/s"
    print_table(rows, ("M x K x N", "what", "dtype", "numpy GF/s", label, "ratio", "goal",
                       "met"))  # fmt: skip


if __name__ == "__main__":
    main()
