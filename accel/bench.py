"""Speed measurement: every op x size x backend, with numpy as the baseline in the same run.

Used by `accel bench`, `accel calibrate` and the scripts in benchmarks/. The ops, their sizes
and their numpy baselines come from the op table. Figures: matmul and linear GFLOP/s =
2 n^3 / s, dot GFLOP/s = 2 n / s, elementwise and softmax GB/s = 2 * itemsize * n / s; the
median of at least 5 timed repeats after a warm-up, and latency percentiles p50/p95/p99. It
measures; it never asserts.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable, Iterable

import numpy as np

import accel
from accel._ops import PUBLIC_FORMS
from accel._optable import OPS, SOFTMAX_ROW


def openblas_warning() -> str | None:
    value = os.environ.get("OPENBLAS_CORETYPE")
    if value:
        return (
            f"OPENBLAS_CORETYPE={value} is set: it pins OpenBLAS to older kernels and slows numpy "
            "down; users don't have it. Unset it for a fair baseline."
        )
    return None


def inputs(op: str, size: int, dtype: np.dtype, seed: int = 0) -> tuple[np.ndarray, ...]:
    rng = np.random.default_rng(seed)
    family = OPS[op].family
    if family == "matmul":
        return tuple(rng.standard_normal((size, size)).astype(dtype) for _ in range(2))
    if family == "linear":
        x, w = (rng.standard_normal((size, size)).astype(dtype) / np.sqrt(size) for _ in range(2))
        return x, w, rng.standard_normal(size).astype(dtype)
    if family == "dot":
        return tuple(rng.standard_normal(size).astype(dtype) for _ in range(2))
    if family in ("softmax", "norm"):
        cols = min(size, SOFTMAX_ROW)
        return (rng.standard_normal((max(1, size // cols), cols)).astype(dtype) * 4,)
    if family == "binary":
        return tuple(rng.standard_normal(size).astype(dtype) * 4 for _ in range(2))
    return (rng.standard_normal(size).astype(dtype) * 4,)


def work(op: str, size: int) -> float:
    """flops for matmul, linear and dot, elements for the rest."""
    family = OPS[op].family
    return {"matmul": 2.0 * size**3, "linear": 2.0 * size**3, "dot": 2.0 * size}.get(
        family, float(size)
    )


def rate(op: str, size: int, dtype: np.dtype, seconds: float) -> tuple[float, str]:
    if OPS[op].family in ("matmul", "linear", "dot"):
        return work(op, size) / seconds / 1e9, "GFLOP/s"
    return 2 * np.dtype(dtype).itemsize * size / seconds / 1e9, "GB/s"


def call_for(op: str, backend: str, args: tuple) -> Callable[[], object]:
    if backend == "numpy":
        f = OPS[op].numpy
        return lambda: f(*args)
    sel = None if backend == "auto" else backend
    family = OPS[op].family
    if family == "linear":
        return lambda: accel.linear(*args, activation="tanh", backend=sel)
    f = PUBLIC_FORMS[op]  # (gelu_tanh is gelu(approximate="tanh"))
    if family in ("matmul", "dot", "reduction"):
        return lambda: f(*args, backend=sel)
    out = np.empty_like(args[0])  # a fresh array per call would time the allocator too
    return lambda: f(*args, backend=sel, out=out)


def time_calls(call: Callable[[], object], repeat: int = 5, budget_s: float = 0.3) -> np.ndarray:
    """Per-call seconds: a warm-up, then at least `repeat` calls, more while within budget
    (small calls get hundreds of samples, for stable percentiles)."""
    call()
    samples = []
    start = time.perf_counter()
    while len(samples) < repeat or (time.perf_counter() - start < budget_s and len(samples) < 2000):
        t0 = time.perf_counter()
        call()
        samples.append(time.perf_counter() - t0)
    return np.array(samples)


def measure(
    op: str, size: int, backend: str, dtype: np.dtype, repeat: int = 5, budget_s: float = 0.3
) -> dict:
    args = inputs(op, size, dtype)
    t = time_calls(call_for(op, backend, args), repeat, budget_s)
    p50, p95, p99 = np.percentile(t, [50, 95, 99])
    value, unit = rate(op, size, dtype, float(p50))
    return {
        "op": op,
        "size": size,
        "dtype": np.dtype(dtype).name,
        "backend": backend,
        "samples": int(t.size),
        "seconds": float(p50),
        "p50_us": float(p50 * 1e6),
        "p95_us": float(p95 * 1e6),
        "p99_us": float(p99 * 1e6),
        "rate": float(value),
        "unit": unit,
    }


def run(
    ops: Iterable[str],
    sizes: Iterable[int] | None,
    backends: Iterable[str],
    dtype: np.dtype,
    repeat: int = 5,
    progress: bool = True,
) -> list[dict]:
    """Records for every op x size x backend, each with ratio_to_numpy = numpy's time /
    the backend's (above 1: faster than numpy)."""
    plan = [
        (op, size, backend)
        for op in ops
        for size in (sizes or OPS[op].bench_sizes)
        for backend in ("numpy", *backends)
    ]
    records, baseline = [], {}
    for i, (op, size, backend) in enumerate(plan, 1):
        if progress:
            _progress(i, len(plan), f"{op} {size} {backend}")
        try:
            rec = measure(op, size, backend, dtype, repeat)
        except (accel.AccelError, ImportError) as e:  # cannot run here: say so, go on
            rec = {"op": op, "size": size, "dtype": np.dtype(dtype).name, "backend": backend,
                   "error": f"{type(e).__name__}: {e}"}  # fmt: skip
        if backend == "numpy":
            baseline[op, size] = rec.get("seconds")
        elif "seconds" in rec and baseline.get((op, size)):
            rec["ratio_to_numpy"] = baseline[op, size] / rec["seconds"]
        records.append(rec)
    if progress:
        sys.stderr.write("\n")
    return records


def _progress(done: int, total: int, label: str) -> None:
    width = 30
    filled = width * done // total
    sys.stderr.write(f"\r[{'#' * filled}{'.' * (width - filled)}] {done}/{total} {label:<32}")
    sys.stderr.flush()


def table(records: list[dict]) -> str:
    head = ("op", "size", "dtype", "backend", "rate", "p50 us", "p95 us", "p99 us", "x numpy")
    rows = [head]
    for r in records:
        if "error" in r:
            rows.append((r["op"], str(r["size"]), r["dtype"], r["backend"], "-", "-", "-", "-",
                         f"cannot run: {r['error'][:60]}"))  # fmt: skip
            continue
        ratio = r.get("ratio_to_numpy")
        rows.append((
            r["op"], str(r["size"]), r["dtype"], r["backend"], f"{r['rate']:.2f} {r['unit']}",
            f"{r['p50_us']:.1f}", f"{r['p95_us']:.1f}", f"{r['p99_us']:.1f}",
            "baseline" if r["backend"] == "numpy" else ("-" if ratio is None else f"{ratio:.2f}"),
        ))  # fmt: skip
    widths = [max(len(row[i]) for row in rows) for i in range(len(head))]
    return "\n".join(
        "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) for row in rows
    )


def plot_available() -> str | None:
    """None when --plot can work, else the fix."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return "--plot needs matplotlib: pip install 'accel-chain[plot]'"
    return None


def plot(records: list[dict], path: str) -> None:
    """Speed against size, one line per backend, one panel per op (needs matplotlib)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ops = list(dict.fromkeys(r["op"] for r in records))
    fig, axes = plt.subplots(1, len(ops), figsize=(5 * len(ops), 4), squeeze=False)
    for ax, op in zip(axes[0], ops, strict=True):
        mine = [r for r in records if r["op"] == op and "rate" in r]
        for backend in dict.fromkeys(r["backend"] for r in mine):
            pts = sorted((r["size"], r["rate"]) for r in mine if r["backend"] == backend)
            ax.plot(*zip(*pts, strict=True), marker="o", label=backend)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_title(op)
        ax.set_xlabel("size (n for matmul and linear, elements otherwise)")
        ax.set_ylabel(mine[0]["unit"] if mine else "")
        ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
