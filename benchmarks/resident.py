"""Resident Arrays and fused layers against per-op round trips, per backend, in one run.

    env -u OPENBLAS_CORETYPE python benchmarks/resident.py

A 3-layer network (batch 64, widths 64-256-256-10, tanh) two ways on each backend:
- round trips: numpy inputs to every op (matmul, then the bias added in numpy, then tanh), so
  each op copies its data to the backend and back;
- resident: weights placed once (accel.asarray), one accel.linear per layer, the input
  uploaded and the output downloaded once.
Medians over seven alternating rounds of many repeats; the ratio is round-trip time / resident
time. Goals: gpu (software
adapter) >= 2x, simd >= 1.2x, cpu >= 1.05x. numpy's own time is shown for reference.
"""

from __future__ import annotations

import itertools
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(__file__))
from _common import seconds as median_seconds
from _common import warn_openblas

import accel

WIDTHS = (64, 256, 256, 10)


def main() -> None:
    warn_openblas()
    rng = np.random.default_rng(0)
    layers = [((rng.standard_normal((i, o)) / np.sqrt(i)).astype(np.float32),
               rng.standard_normal(o).astype(np.float32))
              for i, o in itertools.pairwise(WIDTHS)]  # fmt: skip
    x = rng.standard_normal((64, WIDTHS[0])).astype(np.float32)

    def numpy_net():
        h = x
        for w, b in layers:
            h = np.tanh(h @ w + b)
        return h

    t_numpy = median_seconds(numpy_net)
    print(f"numpy: {t_numpy * 1e6:9.1f} us")
    print(f"{'backend':8} {'round trips us':>15} {'resident us':>12} {'ratio':>6}  goal")
    goals = {"gpu": 2.0, "simd": 1.2, "cpu": 1.05}
    for backend in accel.available_backends():

        def round_trips(backend=backend):
            h = x
            for w, b in layers:
                h = accel.tanh(accel.matmul(h, w, backend=backend) + b, backend=backend)
            return h

        placed = [(accel.asarray(w, backend=backend), accel.asarray(b, backend=backend))
                  for w, b in layers]  # fmt: skip

        def resident(backend=backend, placed=placed):
            h = accel.asarray(x, backend=backend)
            for w, b in placed:
                h = accel.linear(h, w, b, activation="tanh")
            return h.numpy()

        np.testing.assert_allclose(resident(), round_trips(), rtol=1e-4, atol=1e-5)
        # the two alternate in rounds (a shared machine drifts): the median of the rounds
        rounds = [(median_seconds(round_trips, budget_s=0.2), median_seconds(resident,
                                                                               budget_s=0.2))
                  for _ in range(7)]  # fmt: skip
        t_rt = float(np.median([r[0] for r in rounds]))
        t_res = float(np.median([r[1] for r in rounds]))
        print(
            f"{backend:8} {t_rt * 1e6:15.1f} {t_res * 1e6:12.1f} {t_rt / t_res:6.2f}  "
            f">= {goals[backend]}"
        )
    print("\nOn a machine with a GPU, benchmarks/gpu_speed.py also times a resident matmul 4096.")


if __name__ == "__main__":
    main()
