"""The cost model auto mode ranks backends with: expected seconds for an op, dtype and size.

Each (backend, op, dtype) costs `overhead + work * seconds_per_unit`, where work is the
call's flops for matmul and its element count otherwise; calibrated parameters are per op
(relu moves memory, sigmoid and tanh compute), the defaults per family of ops. The built-in
defaults describe a typical machine; `accel calibrate` measures this one and stores the
fitted parameters in the user cache directory, where they are read at first use. Because
costs are linear in the work, the ranking of a set of backends only changes where two lines
cross: `segments()` turns the ranking into a few size intervals, so that a call only looks
up its interval.
"""

from __future__ import annotations

import math

import numpy as np

from . import _calibration, _notice
from ._optable import OPS

# (backend, family) -> (overhead seconds, seconds per unit of work), float32; float64 work
# costs twice as much on the vector backends. Conservative on purpose: a calibration replaces
# them. Families are the op table's (linear is matmul's).
DEFAULTS: dict[tuple[str, str], tuple[float, float]] = {
    ("cpu", "matmul"): (3e-6, 1 / 250e9),
    ("cpu", "dot"): (2e-6, 1 / 20e9),
    ("cpu", "elementwise"): (2e-6, 1 / 4e9),
    ("cpu", "softmax"): (3e-6, 1 / 2e9),
    ("simd", "matmul"): (8e-6, 1 / 60e9),
    ("simd", "dot"): (5e-6, 1 / 2e9),
    ("simd", "elementwise"): (5e-6, 1 / 1e9),
    ("simd", "softmax"): (6e-6, 1 / 0.5e9),
    ("gpu", "matmul"): (150e-6, 1 / 5e12),
    ("gpu", "dot"): (150e-6, 1 / 5e9),
    ("gpu", "elementwise"): (150e-6, 1 / 3e9),
    ("gpu", "softmax"): (150e-6, 1 / 2e9),
}


# families that cost as another: linear as matmul; the map ops, reductions, norms and copies
# move memory as the activations do
_COSTS_AS = {"linear": "matmul", "map": "elementwise", "binary": "elementwise",
             "reduction": "elementwise", "norm": "softmax", "shape": "elementwise"}  # fmt: skip


def family(op: str) -> str:
    """The cost family of an op of the op table."""
    fam = OPS[op].family
    return _COSTS_AS.get(fam, fam)


class CostModel:
    def __init__(self) -> None:
        self.params: dict[tuple[str, str, str], tuple[float, float]] = {}
        self.source = _calibration.source()
        doc = _calibration.document() or {}
        try:
            for rec in doc.get("params", []):
                key = (rec["backend"], rec["op"], rec["dtype"])
                self.params[key] = (float(rec["overhead_s"]), float(rec["per_unit_s"]))
        except (KeyError, TypeError, ValueError):
            self.params, self.source = {}, f"built-in defaults ({self.source} is unreadable)"

    def cost(self, backend: str, op: str, dtype: np.dtype, work: float) -> float:
        params = self.params.get((backend, "matmul" if op == "linear" else op, dtype.name))
        a, b = params if params is not None else self._default(backend, family(op), dtype)
        return a + b * work

    def _default(self, backend: str, fam: str, dtype: np.dtype) -> tuple[float, float]:
        a, b = DEFAULTS.get((backend, fam), (1e-3, 1e-9))
        return a, b * (2 if dtype.itemsize == 8 else 1)

    def segments(self, names: tuple[str, ...], op: str, dtype: np.dtype) -> tuple:
        """((upper work bound, names in rank order), ...): the ranking for each interval of
        work, up to infinity. Ties keep the chain's order."""
        if len(names) <= 1:
            return ((math.inf, names),)
        lines = {n: self.cost(n, op, dtype, 0.0) for n in names}
        slopes = {n: self.cost(n, op, dtype, 1.0) - lines[n] for n in names}
        cuts = set()
        for i, p in enumerate(names):
            for q in names[i + 1 :]:
                if slopes[p] != slopes[q]:
                    x = (lines[q] - lines[p]) / (slopes[p] - slopes[q])
                    if x > 0:
                        cuts.add(x)
        bounds = [*sorted(cuts), math.inf]
        out = []
        lower = 0.0
        for upper in bounds:
            probe = (lower + upper) / 2 if upper != math.inf else lower * 2 + 1
            order = tuple(
                sorted(names, key=lambda n: (lines[n] + slopes[n] * probe, names.index(n)))
            )
            if out and out[-1][1] == order:
                out[-1] = (upper, order)
            else:
                out.append((upper, order))
            lower = upper
        return tuple(out)


_model: CostModel | None = None


def model() -> CostModel:
    global _model
    if _model is None:
        _model = CostModel()
    return _model


def _forget(kind: str) -> None:
    global _model
    if kind == "calibration":
        _model = None  # read again at the next use


_notice.subscribe(_forget)
