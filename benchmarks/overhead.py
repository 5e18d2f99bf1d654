"""What a call costs beyond its kernel: selections, Arrays against numpy in and out, the simd
backend's small and batched calls, and the fused linear against three calls. One run, each
pair alternating in rounds (a shared machine drifts), medians of the rounds' best.

    env -u OPENBLAS_CORETYPE python benchmarks/overhead.py

Goals (issue "One place decides"), each a ratio of the two times of a row (>= is better):
- a call inside use_backend, in a thread beside a block, with backend="auto": >= 0.8x the
  same call with no selection (relu of 16, linear 1x32x64 tanh);
- an op on Arrays >= 0.9x the same op with numpy in and out on that backend (cpu and simd:
  linear 1x32x64 tanh, softmax (1, 8), tanh of 16, relu with out=);
- simd linear 1x32x64 tanh, numpy in and out, >= 0.5x numpy's np.tanh(x @ W + b);
- simd batched matmul: 15 and 16 rows per item within 1.4x per row;
- the fused linear 64x256x256 tanh on cpu >= 1.1x matmul, `+=` bias and tanh as three calls.
"""

from __future__ import annotations

import os
import sys
import threading
import timeit

import numpy as np

sys.path.insert(0, os.path.dirname(__file__))
from _common import machine, warn_openblas

import accel


def per_call(call, seconds: float = 0.05) -> float:
    """Seconds per call: the best of 5 batches sized to about `seconds` each."""
    call()
    number = max(1, int(seconds / max(timeit.timeit(call, number=1), 1e-7)))
    number = min(number, 200_000)
    return min(timeit.repeat(call, number=number, repeat=5)) / number


def pair(a, b, rounds: int = 7) -> tuple[float, float]:
    """Median per-call seconds of two calls timed in alternating rounds."""
    ta, tb = [], []
    for _ in range(rounds):
        ta.append(per_call(a))
        tb.append(per_call(b))
    return float(np.median(ta)), float(np.median(tb))


def row(name: str, a, b, goal: str, label_a: str, label_b: str) -> None:
    """Prints a row: the two times and b's time over a's (the speed of a relative to b)."""
    ta, tb = pair(a, b)
    print(f"{name:46} {label_a} {ta * 1e6:8.2f} us  {label_b} {tb * 1e6:8.2f} us  "
          f"ratio {tb / ta:5.2f}  goal {goal}")  # fmt: skip


def selections(name: str, call, rounds: int = 7) -> None:
    """The call inside a use_backend block, and beside one in another thread, against it
    plain, in alternating rounds."""
    entered, leave = threading.Event(), threading.Event()

    def block():
        with accel.use_backend("simd"):
            entered.set()
            leave.wait(600)

    def inside():
        with accel.use_backend("cpu"):
            return per_call(call)

    plain, selected, beside = [], [], []
    for _ in range(rounds):
        plain.append(per_call(call))
        selected.append(inside())
    t = threading.Thread(target=block)
    t.start()
    entered.wait(10)
    for _ in range(rounds):
        beside.append(per_call(call))
    leave.set()
    t.join()
    t_plain, t_inside, t_beside = (float(np.median(v)) for v in (plain, selected, beside))
    print(
        f"{name + ' inside use_backend(cpu)':46} plain {t_plain * 1e6:8.2f} us  "
        f"selected {t_inside * 1e6:8.2f} us  ratio {t_plain / t_inside:5.2f}  goal >= 0.8"
    )
    print(
        f"{name + ' beside a block in a thread':46} plain {t_plain * 1e6:8.2f} us  "
        f"selected {t_beside * 1e6:8.2f} us  ratio {t_plain / t_beside:5.2f}  goal >= 0.8"
    )


def arrays_against_numpy(be: str, x1, w, b, s8, x16) -> None:
    X, W, B = (accel.asarray(v, backend=be) for v in (x1, w, b))
    S, T = accel.asarray(s8, backend=be), accel.asarray(x16.copy(), backend=be)
    out_np = np.empty(16, np.float32)
    out_arr = accel.asarray(np.empty(16, np.float32), backend=be)
    cases = [
        ("linear 1x32x64 tanh", lambda: accel.linear(X, W, B, activation="tanh"),
         lambda: accel.linear(x1, w, b, activation="tanh", backend=be)),
        ("softmax (1, 8)", lambda: accel.softmax(S), lambda: accel.softmax(s8, backend=be)),
        ("tanh of 16", lambda: accel.tanh(T), lambda: accel.tanh(x16, backend=be)),
        ("relu of 16, out=", lambda: accel.relu(T, out=out_arr),
         lambda: accel.relu(x16, backend=be, out=out_np)),
    ]  # fmt: skip
    for name, on_arrays, on_numpy in cases:
        row(f"{be} {name}", on_arrays, on_numpy, ">= 0.9", "Arrays", "numpy")


def main() -> None:
    warn_openblas()
    print(machine())
    rng = np.random.default_rng(0)
    x16 = rng.standard_normal(16).astype(np.float32)
    x1 = rng.standard_normal((1, 32)).astype(np.float32)
    w = (rng.standard_normal((32, 64)) / 6).astype(np.float32)
    b = rng.standard_normal(64).astype(np.float32)
    s8 = rng.standard_normal((1, 8)).astype(np.float32)

    print("\n-- selecting costs nothing (cpu is auto's choice for these) --")
    relu = lambda: accel.relu(x16)  # noqa: E731
    lin = lambda: accel.linear(x1, w, b, activation="tanh")  # noqa: E731
    for name, call in (("relu of 16", relu), ("linear 1x32x64 tanh", lin)):
        selections(name, call)
    row("relu of 16, backend='auto'", lambda: accel.relu(x16, backend="auto"), relu,
        ">= 0.8", "auto", "plain")  # fmt: skip
    row("linear 1x32x64, backend='auto'",
        lambda: accel.linear(x1, w, b, activation="tanh", backend="auto"), lin, ">= 0.8",
        "auto", "plain")  # fmt: skip

    print("\n-- an op on Arrays against numpy in and out, same backend --")
    for be in ("cpu", "simd"):
        if be in accel.available_backends():
            arrays_against_numpy(be, x1, w, b, s8, x16)

    if "simd" in accel.available_backends():
        print("\n-- simd --")
        row("simd linear 1x32x64 tanh, numpy in and out",
            lambda: accel.linear(x1, w, b, activation="tanh", backend="simd"),
            lambda: np.tanh(x1 @ w + b), ">= 0.5", "accel", "numpy")  # fmt: skip
        a16 = rng.standard_normal((1000, 16, 32)).astype(np.float32)
        a15 = np.ascontiguousarray(a16[:, :15])
        bb = rng.standard_normal((1000, 32, 32)).astype(np.float32)
        t16, t15 = pair(lambda: accel.matmul(a16, bb, backend="simd"),
                        lambda: accel.matmul(a15, bb, backend="simd"), rounds=3)  # fmt: skip
        print(f"{'simd batched (1000, r, 32) @ (1000, 32, 32)':46} 16 rows {t16 * 1e3:7.2f} ms  "
              f"15 rows {t15 * 1e3:7.2f} ms  per row {t16 / 16 / (t15 / 15):5.2f}  "
              "goal <= 1.4 either way")  # fmt: skip

    if "cpu" in accel.available_backends():
        print("\n-- the fused linear against three calls --")
        X2 = rng.standard_normal((64, 256)).astype(np.float32)
        W2 = (rng.standard_normal((256, 256)) / 16).astype(np.float32)
        b2 = rng.standard_normal(256).astype(np.float32)

        def three():
            y = accel.matmul(X2, W2, backend="cpu")
            y += b2
            return accel.tanh(y, out=y, backend="cpu")

        row("linear 64x256x256 tanh on cpu",
            lambda: accel.linear(X2, W2, b2, activation="tanh", backend="cpu"), three,
            ">= 1.1", "fused", "three")  # fmt: skip


if __name__ == "__main__":
    main()
