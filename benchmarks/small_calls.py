"""Small calls against numpy, one run: the Python path and the public (compiled) entry.

    env -u OPENBLAS_CORETYPE python benchmarks/small_calls.py

Goals (issue "Small calls faster than numpy's"): cpu >= 1.0x numpy on each row, auto >= 0.8x,
simd relu on 16 floats >= 0.5x. Best of 5 batches of timeit.
"python" is accel's Python route (accel._ops.PYTHON: validation, aliasing rules, the
dispatcher); "public" is accel.<op> itself, which takes the compiled entry point
(c_ext/fastpath/) for the common case once the dispatcher has chosen cpu for it.
"""

from __future__ import annotations

import timeit

import numpy as np

import accel
from accel._ops import PYTHON


def ns(call, number: int = 20000) -> float:
    return min(timeit.repeat(call, number=number, repeat=5)) / number * 1e9


def main() -> None:
    rng = np.random.default_rng(0)
    x16 = rng.standard_normal(16).astype(np.float32)
    a8, a32 = (rng.standard_normal((n, n)).astype(np.float32) for n in (8, 32))
    v = rng.standard_normal(100).astype(np.float32)
    x1, w, b = (rng.standard_normal((1, 64)).astype(np.float32),
                rng.standard_normal((64, 64)).astype(np.float32),
                rng.standard_normal(64).astype(np.float32))  # fmt: skip

    def py(fn):
        return PYTHON[fn.__name__]  # the Python route under a compiled entry

    rows = [
        ("relu on 16 float32", lambda: np.maximum(x16, 0),
         lambda be: py(accel.relu)(x16, backend=be), lambda be: accel.relu(x16, backend=be)),
        ("tanh on 16 float32", lambda: np.tanh(x16),
         lambda be: py(accel.tanh)(x16, backend=be), lambda be: accel.tanh(x16, backend=be)),
        ("matmul 8x8", lambda: a8 @ a8, lambda be: py(accel.matmul)(a8, a8, backend=be),
         lambda be: accel.matmul(a8, a8, backend=be)),
        ("matmul 32x32", lambda: a32 @ a32, lambda be: py(accel.matmul)(a32, a32, backend=be),
         lambda be: accel.matmul(a32, a32, backend=be)),
        ("dot of 100", lambda: np.dot(v, v), lambda be: py(accel.dot)(v, v, backend=be),
         lambda be: accel.dot(v, v, backend=be)),
        ("linear 64x64, batch 1", lambda: np.tanh(x1 @ w + b), None,
         lambda be: accel.linear(x1, w, b, activation="tanh", backend=be)),
    ]  # fmt: skip
    heads = [f"{be} {kind}" for be in ("cpu", "auto") for kind in ("python", "public")]
    print(f"{'call':24} {'numpy ns':>9}  " + "  ".join(f"{h:>16}" for h in heads))
    for name, ref, general, lean in rows:
        t_np = ns(ref)
        cells = []
        for be in ("cpu", None):
            t_g = ns(lambda g=general, be=be: g(be)) if general else None
            t_l = ns(lambda f=lean, be=be: f(be))
            cells.append("-" if t_g is None else f"{t_g:7.0f} ({t_np / t_g:.2f}x)")
            cells.append(f"{t_l:7.0f} ({t_np / t_l:.2f}x)")
        print(f"{name:24} {t_np:9.0f}  " + "  ".join(f"{c:>16}" for c in cells))
    t_np = ns(lambda: np.maximum(x16, 0))
    t_simd = ns(lambda: accel.relu(x16, backend="simd"))
    print(f"\nsimd relu on 16 float32: {t_simd:.0f} ns ({t_np / t_simd:.2f}x numpy; goal 0.5x)")


if __name__ == "__main__":
    main()
