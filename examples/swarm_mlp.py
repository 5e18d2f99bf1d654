"""A swarm of agents, each with its own small MLP (32-64-64-8), one step for all of them.

    python examples/swarm_mlp.py [--agents 1000] [--batch 16]

Each layer's weights are a stack with one matrix per agent, (agents, in, out), and a bias per
agent, (agents, out): accel.linear runs every agent's layer in one kernel launch, with the
bias and the activation fused. The weights are placed on the backend once; each step uploads
the observations and downloads the actions, and nothing else (accel.stats() shows it).
"""

from __future__ import annotations

import argparse
import itertools
import time

import numpy as np

import accel

WIDTHS = (32, 64, 64, 8)


def make_params(agents: int = 1000, widths=WIDTHS, seed: int = 0) -> list[tuple]:
    """[(w (agents, in, out), b (agents, out)), ...], float32."""
    rng = np.random.default_rng(seed)
    return [((rng.standard_normal((agents, i, o)) / np.sqrt(i)).astype(np.float32),
             (0.1 * rng.standard_normal((agents, o))).astype(np.float32))
            for i, o in itertools.pairwise(widths)]  # fmt: skip


def make_inputs(agents: int = 1000, batch: int = 16, seed: int = 1) -> np.ndarray:
    """Each agent's batch of observations: (agents, batch, in)."""
    rng = np.random.default_rng(seed)
    return rng.standard_normal((agents, batch, WIDTHS[0])).astype(np.float32)


def forward_numpy(params, x, dtype=np.float64) -> np.ndarray:
    """The same math in plain numpy (float64: the reference; float32: the baseline)."""
    h = x.astype(dtype)
    for i, (w, b) in enumerate(params):
        h = h @ w.astype(dtype) + b.astype(dtype)[:, None, :]
        if i < len(params) - 1:
            h = np.tanh(h)
    return h


def place(params, backend: str) -> list[tuple]:
    """The weights on a backend, once."""
    return [(accel.asarray(w, backend=backend), accel.asarray(b, backend=backend))
            for w, b in params]  # fmt: skip


def forward(placed, x: np.ndarray, backend: str) -> np.ndarray:
    """One step of every agent: observations in, actions out (numpy)."""
    h = accel.asarray(x, backend=backend)
    for i, (w, b) in enumerate(placed):
        h = accel.linear(h, w, b, activation="tanh" if i < len(placed) - 1 else None)
    return h.numpy()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--agents", type=int, default=1000)
    parser.add_argument("--batch", type=int, default=16)
    args = parser.parse_args()
    params, x = make_params(args.agents), make_inputs(args.agents, args.batch)
    expected = forward_numpy(params, x)
    for backend in accel.available_backends():
        placed = place(params, backend)
        forward(placed, x, backend)  # warm-up: kernels compiled, buffers pooled
        accel.reset_stats()
        t0 = time.perf_counter()
        y = forward(placed, x, backend)
        ms = (time.perf_counter() - t0) * 1e3
        moved = {op: s["calls"] for (op, b), s in accel.stats().items()
                 if b == backend and op in ("upload", "download")}  # fmt: skip
        err = np.max(np.abs(y - expected)) / np.max(np.abs(expected))
        print(f"{backend:5} {ms:7.2f} ms  max relative error {err:.1e}  transfers {moved}")


if __name__ == "__main__":
    main()
