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
import json
import os
import sys

import numpy as np

from . import _cost, _dispatch, _selection, backends, bench
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
        if op != "linear"  # costs as matmul
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
        "fingerprint": _cost.fingerprint(),
        "measured": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "params": params,
    }
    path = _cost.path()
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps(doc, indent=1))
        os.replace(tmp, path)
    _cost.reload()
    _dispatch.invalidate()
    return {"path": str(path), **doc}
