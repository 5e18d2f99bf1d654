"""A small network's forward pass on every backend: numpy in, numpy out, weights placed once.

    python examples/network.py

The weights go to each backend once (accel.asarray); each batch is uploaded, runs through
three fused layers (accel.linear: activation(x @ w + b) in one kernel) and a softmax on that
backend, and only the class probabilities come back. accel.stats() shows what moved.
"""

from __future__ import annotations

import itertools
import time

import numpy as np

import accel


def make_weights(widths, seed=0):
    rng = np.random.default_rng(seed)
    return [((rng.standard_normal((i, o)) / np.sqrt(i)).astype(np.float32),
             (0.1 * rng.standard_normal(o)).astype(np.float32))
            for i, o in itertools.pairwise(widths)]  # fmt: skip


def forward_numpy(layers, x):
    for i, (w, b) in enumerate(layers):
        x = x @ w + b
        if i < len(layers) - 1:
            x = np.tanh(x)
    e = np.exp(x - x.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def forward(placed, x, backend):
    h = accel.asarray(x, backend=backend)
    for i, (w, b) in enumerate(placed):
        h = accel.linear(h, w, b, activation="tanh" if i < len(placed) - 1 else None)
    return accel.softmax(h).numpy()


def main() -> None:
    layers = make_weights((64, 256, 256, 10))
    x = np.random.default_rng(1).standard_normal((64, 64)).astype(np.float32)
    expected = forward_numpy(layers, x)
    for backend in accel.available_backends():
        placed = [(accel.asarray(w, backend=backend), accel.asarray(b, backend=backend))
                  for w, b in layers]  # fmt: skip
        accel.reset_stats()
        t0 = time.perf_counter()
        probs = forward(placed, x, backend)
        ms = (time.perf_counter() - t0) * 1e3
        moved = {k[0]: v for k, v in accel.stats().items() if k[0] in ("upload", "download")}
        same = int((probs.argmax(1) == expected.argmax(1)).sum())
        print(f"{backend:5} {ms:8.2f} ms  max |p - numpy| {np.abs(probs - expected).max():.2e}  "
              f"same class {same}/{len(x)}  moved {moved or 'nothing (host memory)'}")  # fmt: skip


if __name__ == "__main__":
    main()
