"""The properties must catch a backend that is slightly wrong: a test that cannot fail is a
defect. A fake backend computes each op with numpy and then spoils it a little."""

from __future__ import annotations

import numpy as np
import pytest

from accel import _dispatch, backends
from accel.testing.fakes import FakeBackend
from accel.testing.properties import properties


class SlightlyWrong(FakeBackend):
    def __init__(self, spoil: str) -> None:
        super().__init__("simd")
        self.spoil = spoil

    def matmul(self, a, b, out):
        wa = a.astype(np.float64)
        if self.spoil == "matmul":  # forget the last term of every sum
            wa[..., -1] = 0
        out[...] = np.matmul(wa, b.astype(np.float64))

    def dot(self, a, b):
        r = float(np.dot(a.astype(np.float64), b.astype(np.float64)))
        return r * (1 + 1e-5) if self.spoil == "dot" else r

    def elementwise(self, op, x, out):
        with np.errstate(all="ignore"):
            w = x.astype(np.longdouble)
            if op == "relu":
                y = np.where(w > 0, w, 0)  # NaN becomes 0: wrong
                if self.spoil != "relu":
                    y = np.where(np.isnan(w), w, y)
            elif op == "sigmoid":
                y = 1 / (1 + np.exp(-w))
            else:
                y = np.tanh(w)
            y = y.astype(x.dtype)
            if op == self.spoil:  # six ulps off
                y = y + 6 * np.spacing(y.astype(x.dtype))
        out[...] = y


@pytest.mark.parametrize("op", ["matmul", "dot", "relu", "sigmoid", "tanh"])
def test_each_property_catches_a_spoilt_op(monkeypatch, op):
    monkeypatch.setitem(backends._instances, "simd", SlightlyWrong(spoil=op))
    _dispatch.invalidate()
    props = properties("simd", max_examples=40)
    with pytest.raises(AssertionError):
        props[op]()
    others = [name for name in props if name != op]
    for name in others:  # and the correct ones pass
        props[name]()
    _dispatch.invalidate()
