"""An LSTM per agent, for a swarm: 1000 agents, each with its own weights, over 20 steps.

    python examples/lstm_swarm.py [--agents 1000] [--steps 20]

The input part of every gate for every step is one launch of accel.linear over the whole
sequence (each agent's (input, 4 hidden) matrix, its bias fused); each step then adds h @ W_h
(one batched product for all agents) and runs the cell on the backend: the four gates are
slices of one Array (views, no copies to the host), `c = f * c + i * g` and `h = o * tanh(c)`
are Array arithmetic. The sequence, h0 and c0 go up once; h and c come back once.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

import accel

INPUT, HIDDEN = 16, 32


def make_params(agents: int = 1000, seed: int = 0) -> dict:
    rng = np.random.default_rng(seed)
    scale = 1 / np.sqrt(HIDDEN)
    return {
        "w_x": (scale * rng.standard_normal((agents, INPUT, 4 * HIDDEN))).astype(np.float32),
        "w_h": (scale * rng.standard_normal((agents, HIDDEN, 4 * HIDDEN))).astype(np.float32),
        "b": (0.1 * rng.standard_normal((agents, 4 * HIDDEN))).astype(np.float32),
    }


def make_inputs(agents: int = 1000, steps: int = 20, batch: int = 1, seed: int = 1):
    """(sequence (agents, steps * batch, input), h0, c0 (agents, batch, hidden))."""
    rng = np.random.default_rng(seed)
    xs = rng.standard_normal((agents, steps * batch, INPUT)).astype(np.float32)
    h0 = (0.1 * rng.standard_normal((agents, batch, HIDDEN))).astype(np.float32)
    c0 = (0.1 * rng.standard_normal((agents, batch, HIDDEN))).astype(np.float32)
    return xs, h0, c0


def _sigmoid(z):
    return 1 / (1 + np.exp(-z))


def forward_numpy(params, xs, h0, c0, dtype=np.float64):
    """The same math in plain numpy (float64: the reference; float32: the baseline)."""
    p = {k: v.astype(dtype) for k, v in params.items()}
    h, c = h0.astype(dtype), c0.astype(dtype)
    batch, n = h.shape[1], HIDDEN
    g_x = xs.astype(dtype) @ p["w_x"] + p["b"][:, None, :]
    for t in range(xs.shape[1] // batch):
        g = g_x[:, t * batch : (t + 1) * batch] + h @ p["w_h"]
        i, f = _sigmoid(g[..., :n]), _sigmoid(g[..., n : 2 * n])
        gg, o = np.tanh(g[..., 2 * n : 3 * n]), _sigmoid(g[..., 3 * n :])
        c = f * c + i * gg
        h = o * np.tanh(c)
    return h, c


def place(params, backend: str) -> dict:
    return {k: accel.asarray(v, backend=backend) for k, v in params.items()}


def forward(p, xs, h0, c0, backend: str):
    """The whole sequence on the backend: numpy in, (h, c) numpy out."""
    seq = accel.asarray(xs, backend=backend)
    h, c = accel.asarray(h0, backend=backend), accel.asarray(c0, backend=backend)
    batch, n = h.shape[1], HIDDEN
    g_x = accel.linear(seq, p["w_x"], p["b"])  # every step's input part, in one launch
    for t in range(xs.shape[1] // batch):
        g = g_x[:, t * batch : (t + 1) * batch] + h @ p["w_h"]
        i, f = accel.sigmoid(g[..., :n]), accel.sigmoid(g[..., n : 2 * n])
        gg, o = accel.tanh(g[..., 2 * n : 3 * n]), accel.sigmoid(g[..., 3 * n :])
        c = f * c + i * gg
        h = o * accel.tanh(c)
    return h.numpy(), c.numpy()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--agents", type=int, default=1000)
    parser.add_argument("--steps", type=int, default=20)
    args = parser.parse_args()
    params = make_params(args.agents)
    inputs = make_inputs(args.agents, args.steps)
    expected, _ = forward_numpy(params, *inputs)
    for backend in accel.available_backends():
        p = place(params, backend)
        forward(p, *inputs, backend)  # warm-up
        accel.reset_stats()
        t0 = time.perf_counter()
        h, _c = forward(p, *inputs, backend)
        ms = (time.perf_counter() - t0) * 1e3
        moved = {op: s["calls"] for (op, b), s in accel.stats().items()
                 if b == backend and op in ("upload", "download")}  # fmt: skip
        err = np.max(np.abs(h - expected))
        print(f"{backend:5} {ms:7.2f} ms  max error {err:.1e}  transfers {moved}")


if __name__ == "__main__":
    main()
