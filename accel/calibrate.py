"""`accel calibrate`: measures this machine so that auto picks the fastest backend.

For each backend auto may use, each dtype it runs and each op of the op table (linear costs
as matmul), the median time at the op's three calibration sizes is fitted with
`overhead + work * per_unit` (least squares on relative error, so that small and large calls
count alike), and the parameters go to the user cache directory
(`calibration.json`), keyed by a fingerprint of the machine and the versions. Auto reads
them at first use; `accel probe` says which cost model is in force.
"""

from __future__ import annotations

import datetime
import sys

import numpy as np

from . import _calibration, _selection, backends, bench
from ._optable import OPS


def dispatch_work(op: str, size: int) -> float:
    """The work the dispatcher ranks by: flops for matmul and linear, elements otherwise."""
    return 2.0 * size**3 if OPS[op].family in ("matmul", "linear") else float(size)


def fit(points: list[tuple[float, float]]) -> tuple[float, float]:
    """(overhead, per_unit) >= 0 minimising the relative error of overhead + per_unit * w."""
    w = np.array([p[0] for p in points])
    t = np.array([p[1] for p in points])
    design = np.stack([1 / t, w / t], axis=1)  # (a + b w) / t ~ 1
    (a, b), *_ = np.linalg.lstsq(design, np.ones_like(t), rcond=None)
    if a < 0 or b < 0:  # keep the model monotone: refit the other term alone
        a, b = (0.0, float(np.median(t / w))) if a < 0 else (float(np.median(t)), 0.0)
    return float(a), float(b)


def calibrate(progress: bool = True) -> dict:
    names = [
        n
        for n in _selection.BACKENDS
        if backends.get(n).unavailable_reason() is None and backends.get(n).auto_eligible()
    ]
    jobs = [
        (name, dtype, op)
        for name in names
        for dtype in sorted(backends.get(name).dtypes(), key=lambda d: d.itemsize)
        for op in OPS
        if op != "linear" and OPS[op].calibrate_sizes  # linear costs as matmul
    ]
    params = []
    for i, (name, dtype, op) in enumerate(jobs, 1):
        if progress:
            bench._progress(i, len(jobs), f"{name} {dtype.name} {op}")
        points = [
            (dispatch_work(op, s), bench.measure(op, s, name, dtype, 5, 0.1)["seconds"])
            for s in OPS[op].calibrate_sizes
        ]
        overhead, per_unit = fit(points)
        params.append({"backend": name, "op": op, "dtype": dtype.name,
                       "overhead_s": overhead, "per_unit_s": per_unit})  # fmt: skip
    if progress:
        sys.stderr.write("\n")
    doc = {
        "fingerprint": _calibration.fingerprint(),
        "measured": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "params": params,
        "gpu_matmul": calibrate_gpu_variants(progress),
        "cpu_direct": calibrate_cpu_direct(),
        "cpu_blocking": calibrate_cpu_blocking(),
    }
    path = _calibration.write(doc)  # read again by the cost model and every backend
    return {"path": str(path), **doc}


# Products whose B fills 0.5-4 L2s of common machines: where the unpacked path wins on some
# and loses 3x on others (c_ext/driver.c)
CPU_DIRECT_SHAPES = ((512, 512, 512, "float32"), (256, 1024, 1024, "float32"),
                     (64, 784, 512, "float64"), (512, 512, 512, "float64"))  # fmt: skip


def _time_cpu_trials(shapes, trials, use, repeat: int, budget_s: float) -> dict:
    """{trial: seconds for the matmuls of `shapes` (m, k, n, dtype), each the median of
    `repeat` calls} with each trial put in force by use(trial) in turn, in two alternating
    rounds (a drifting machine favours neither), the best of the two kept."""
    import numpy as np

    import accel

    rng = np.random.default_rng(0)
    cases = [(rng.standard_normal((m, k)).astype(dt), rng.standard_normal((k, n)).astype(dt))
             for m, k, n, dt in shapes]  # fmt: skip
    totals: dict = {}
    for _round in range(2):
        for trial in trials:
            use(trial)
            seconds = sum(float(np.median(bench.time_calls(
                lambda a=a, b=b: accel.matmul(a, b, backend="cpu"), repeat, budget_s)))
                for a, b in cases)  # fmt: skip
            totals[trial] = min(totals.get(trial, seconds), seconds)
    return totals


def time_cpu_direct(repeat: int = 5) -> dict[float, float]:
    """{L2s of B the unpacked path may take: seconds for CPU_DIRECT_SHAPES}, each bound tried
    in turn and the bound in force restored."""
    from .backends.cpu import DIRECT_REREAD_TRIALS

    cpu = backends.get("cpu")
    before = cpu.details()["direct_reread"]
    try:
        return _time_cpu_trials(CPU_DIRECT_SHAPES, DIRECT_REREAD_TRIALS, cpu.set_direct_reread,
                                repeat, 0.05)  # fmt: skip
    finally:
        cpu.set_direct_reread(before)


def calibrate_cpu_direct() -> dict | None:
    """The cpu's unpacked-path bound that ran CPU_DIRECT_SHAPES faster on this machine (the
    paths give the same bits: only speed differs), or None without native cpu kernels."""
    if backends.get("cpu").unavailable_reason() is not None:
        return None
    totals = time_cpu_direct()
    best = min(totals, key=totals.get)
    return {"reread": best, "seconds": {str(r): round(t, 6) for r, t in totals.items()}}


# Squares, where the packed path's blocking decides the speed
CPU_BLOCKING_SHAPES = ((1024, 1024, 1024, "float32"), (2048, 2048, 2048, "float64"))


def time_cpu_blocking(repeat: int = 3) -> dict[tuple[float, float], float]:
    """{(part of the L1, part of the L2) the packed matmul's blocks fill: seconds for
    CPU_BLOCKING_SHAPES}, each choice tried in turn and the one in force restored."""
    from .backends.cpu import BLOCK_PART_TRIALS

    cpu = backends.get("cpu")
    before = cpu.details()["block_parts"]
    try:
        return _time_cpu_trials(CPU_BLOCKING_SHAPES, BLOCK_PART_TRIALS,
                                lambda parts: cpu.set_block_parts(*parts), repeat, 0.1)
    finally:
        cpu.set_block_parts(before["l1"], before["l2"])


def calibrate_cpu_blocking() -> dict | None:
    """The parts of the L1 and L2 the cpu's packed matmul blocks fill that ran
    CPU_BLOCKING_SHAPES fastest on this machine (the bits are the same whatever the blocking),
    or None without native cpu kernels."""
    if backends.get("cpu").unavailable_reason() is not None:
        return None
    totals = time_cpu_blocking()
    l1, l2 = min(totals, key=totals.get)
    return {"l1": l1, "l2": l2,
            "seconds": {f"{a},{b}": round(t, 6) for (a, b), t in totals.items()}}  # fmt: skip


def time_gpu_variants(sizes: tuple[int, ...], repeat: int = 3) -> dict[str, dict[int, float]]:
    """{variant: {n: GFLOP/s}} of float32 n x n matmuls on gpu Arrays, each variant forced."""
    import numpy as np

    import accel

    gpu = backends.get("gpu")
    rates: dict[str, dict[int, float]] = {}
    before = gpu.variant()
    try:
        for name in gpu.variants():  # those this adapter can run
            gpu.use_variant(name)
            rates[name] = {}
            for n in sizes:
                a = accel.asarray(np.ones((n, n), np.float32), backend="gpu")
                seconds = bench.time_calls(lambda a=a: accel.matmul(a, a).numpy(), repeat, 0.2)
                rates[name][n] = 2.0 * n**3 / float(np.median(seconds)) / 1e9
    finally:
        gpu.use_variant(before)
    return rates


def choose_gpu_variants(rates: dict[str, dict[int, float]], sizes: tuple[int, ...]
                        ) -> tuple[str, str]:  # fmt: skip
    """(for large products, for small ones) from time_gpu_variants' rates: the least total time
    over the sizes past the smallest (all of them when there is one), and the fastest at the
    smallest."""
    small = max(rates, key=lambda name: rates[name][sizes[0]])
    large_sizes = sizes[1:] or sizes
    cost = {name: sum(2.0 * n**3 / (r[n] * 1e9) for n in large_sizes) for name, r in rates.items()}
    return min(cost, key=cost.get), small


def calibrate_gpu_variants(progress: bool = True) -> list[dict]:
    """Times every gpu matmul variant on this adapter (software adapters included: strict
    backend="gpu" runs there) and keeps two: the fastest for products with few tiles (the
    smallest size) and the fastest over the larger sizes (the sum of their times)."""
    gpu = backends.get("gpu")
    if gpu.unavailable_reason() is not None:
        return []
    sizes = (128, 256, 512) if gpu.software else (256, 1024, 2048)
    if progress:
        bench._progress(1, 1, "gpu matmul variants")
    rates = time_gpu_variants(sizes)
    large, small = choose_gpu_variants(rates, sizes)
    return [{"adapter": gpu.adapter_key, "variant": large, "small_variant": small,
             "gflops": {name: {str(n): round(v, 2) for n, v in r.items()}
                        for name, r in rates.items()}}]  # fmt: skip
