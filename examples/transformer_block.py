"""A transformer encoder block (pre-norm, GPT-2 style): attention with 4 heads, then an MLP
with gelu's tanh form, each with a residual, over a batch of sequences.

    python examples/transformer_block.py [--batch 16] [--seq 64] [--dim 128]

Everything between the input and the output runs on the backend: layer_norm, the projections
(accel.linear, bias fused), the heads as reshapes and transposes of Arrays (views), q @ k.mT,
softmax over the last axis, the residual additions. The weights are placed once; the block
uploads x and downloads its output, nothing else.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

import accel

HEADS = 4


def make_params(dim: int = 128, seed: int = 0) -> dict:
    rng = np.random.default_rng(seed)

    def w(i, o):
        return (rng.standard_normal((i, o)) / np.sqrt(i)).astype(np.float32)

    def b(o):
        return (0.02 * rng.standard_normal(o)).astype(np.float32)

    p = {"ln1_w": 1 + b(dim), "ln1_b": b(dim), "ln2_w": 1 + b(dim), "ln2_b": b(dim)}
    for name in ("q", "k", "v", "o"):
        p[f"w{name}"], p[f"b{name}"] = w(dim, dim), b(dim)
    p["w1"], p["b1"] = w(dim, 4 * dim), b(4 * dim)
    p["w2"], p["b2"] = w(4 * dim, dim), b(dim)
    return p


def make_inputs(batch: int = 16, seq: int = 64, dim: int = 128, seed: int = 1) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal((batch, seq, dim)).astype(np.float32)


def _layer_norm(x, w, b, eps=1e-5):
    mean = x.mean(-1, keepdims=True)
    return (x - mean) / np.sqrt(((x - mean) ** 2).mean(-1, keepdims=True) + eps) * w + b


def _gelu_tanh(x):
    return 0.5 * x * (1 + np.tanh(np.sqrt(2 / np.pi) * (x + 0.044715 * x**3)))


def forward_numpy(params, x, dtype=np.float64) -> np.ndarray:
    """The same math in plain numpy (float64: the reference; float32: the baseline)."""
    p = {k: v.astype(dtype) for k, v in params.items()}
    x = x.astype(dtype)
    batch, seq, dim = x.shape
    hd = dim // HEADS

    def heads(t):
        return t.reshape(batch, seq, HEADS, hd).transpose(0, 2, 1, 3)

    h = _layer_norm(x, p["ln1_w"], p["ln1_b"])
    q, k, v = (heads(h @ p[f"w{n}"] + p[f"b{n}"]) for n in "qkv")
    s = q @ k.transpose(0, 1, 3, 2) / np.sqrt(hd)
    e = np.exp(s - s.max(-1, keepdims=True))
    o = (e / e.sum(-1, keepdims=True)) @ v
    x = x + o.transpose(0, 2, 1, 3).reshape(batch, seq, dim) @ p["wo"] + p["bo"]
    h = _layer_norm(x, p["ln2_w"], p["ln2_b"])
    return x + _gelu_tanh(h @ p["w1"] + p["b1"]) @ p["w2"] + p["b2"]


def place(params, backend: str) -> dict:
    """The weights on a backend, once; the attention's 1/sqrt(head dim) folded into q's."""
    scale = 1 / np.sqrt(params["wq"].shape[0] // HEADS)
    p = dict(params, wq=params["wq"] * np.float32(scale), bq=params["bq"] * np.float32(scale))
    return {k: accel.asarray(v, backend=backend) for k, v in p.items()}


def forward(p, x: np.ndarray, backend: str) -> np.ndarray:
    """One block on the backend: numpy in, numpy out."""
    batch, seq, dim = x.shape
    hd = dim // HEADS
    xa = accel.asarray(x, backend=backend)

    def heads(t):  # (batch, seq, dim) -> (batch, heads, seq, head dim): views
        return accel.permute_dims(t.reshape(batch, seq, HEADS, hd), (0, 2, 1, 3))

    h = accel.layer_norm(xa, p["ln1_w"], p["ln1_b"])
    q, k, v = (heads(accel.linear(h, p[f"w{n}"], p[f"b{n}"])) for n in "qkv")
    att = accel.softmax(q @ k.mT)
    o = accel.permute_dims(att @ v, (0, 2, 1, 3)).reshape(batch, seq, dim)
    xa = xa + accel.linear(o, p["wo"], p["bo"])
    h = accel.layer_norm(xa, p["ln2_w"], p["ln2_b"])
    xa = xa + accel.linear(accel.linear(h, p["w1"], p["b1"], activation="gelu_tanh"), p["w2"],
                           p["b2"])  # fmt: skip
    return xa.numpy()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--seq", type=int, default=64)
    parser.add_argument("--dim", type=int, default=128)
    args = parser.parse_args()
    params, x = make_params(args.dim), make_inputs(args.batch, args.seq, args.dim)
    expected = forward_numpy(params, x)
    for backend in accel.available_backends():
        p = place(params, backend)
        forward(p, x, backend)  # warm-up
        accel.reset_stats()
        t0 = time.perf_counter()
        y = forward(p, x, backend)
        ms = (time.perf_counter() - t0) * 1e3
        moved = {op: s["calls"] for (op, b), s in accel.stats().items()
                 if b == backend and op in ("upload", "download")}  # fmt: skip
        err = np.max(np.abs(y - expected))
        print(f"{backend:5} {ms:7.2f} ms  max error {err:.1e}  transfers {moved}")


if __name__ == "__main__":
    main()
