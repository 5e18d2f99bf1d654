"""auto against the fastest backend at every point of a grid of ops and sizes, in one run:
the acceptance of the issue that makes auto pick the fastest (run `accel calibrate` first).

    env -u OPENBLAS_CORETYPE python benchmarks/auto_grid.py

Each point times every backend auto may use and auto itself, interleaved, and reports
auto's time over the fastest backend's (the goal: at most 1.15).
"""

from __future__ import annotations

import numpy as np
from _common import machine, print_table, warn_openblas

import accel
from accel import _cost, backends, bench

GRID = (
    [("matmul", n) for n in (32, 64, 128, 256, 512, 1024)]
    + [(op, n) for op in ("relu", "sigmoid", "tanh") for n in (1_000, 10_000, 100_000, 1_000_000)]
    + [("dot", 1_000_000)]
)


def main() -> None:
    warn_openblas()
    print(machine())
    print(f"cost model: {_cost.model().source}")
    names = [n for n in accel.available_backends() if backends.get(n).auto_eligible()]
    rows, worst = [], 0.0
    for op, size in GRID:
        args = bench.inputs(op, size, np.dtype(np.float32))
        calls = {name: bench.call_for(op, name, args) for name in [*names, "auto"]}
        times = {name: [] for name in calls}
        for call in calls.values():
            call()
        for _ in range(7 if size < 1_000_000 or op != "matmul" else 3):
            for name, call in calls.items():  # interleaved: drift hits every backend alike
                times[name].append(float(np.median(bench.time_calls(call, 3, 0.02))))
        med = {name: float(np.median(t)) for name, t in times.items()}
        fastest = min(names, key=med.get)
        ratio = med["auto"] / med[fastest]
        worst = max(worst, ratio)
        rows.append((op, size, *(f"{med[n] * 1e6:.1f}" for n in names), f"{med['auto'] * 1e6:.1f}",
                     fastest, f"{ratio:.3f}"))  # fmt: skip
    print_table(rows, ("op", "size", *(f"{n} us" for n in names), "auto us", "fastest",
                       "auto/fastest"))  # fmt: skip
    print(f"\nworst auto/fastest: {worst:.3f} (goal <= 1.15)")


if __name__ == "__main__":
    main()
