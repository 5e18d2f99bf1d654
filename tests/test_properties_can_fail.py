"""The properties must catch a backend that is slightly wrong: a test that cannot fail is a
defect. A fake backend computes each op correctly (accel.testing.fakes) and then spoils one a
little: a few ulps off, one term dropped, a sign lost."""

from __future__ import annotations

import numpy as np
import pytest

from accel import backends
from accel._optable import ACTIVATION_BY_ID, OPS
from accel.testing.fakes import FakeBackend, FakeKernels
from accel.testing.properties import properties


def _ulps(y: np.ndarray, count: float) -> np.ndarray:
    """y moved `count` ulps away from zero (NaN and infinities unchanged)."""
    with np.errstate(invalid="ignore", over="ignore"):
        return np.where(np.isfinite(y), y + count * np.sign(y) * np.spacing(np.abs(y)), y)


class SlightlyWrong(FakeKernels):
    def __init__(self, spoil: str) -> None:
        self.spoil = spoil

    def spoil_matmul(self, z):
        return z

    def linear(self, a, b, c, bias, act, batch, m, n, k, a_batch, b_batch, dtype):
        plain = bias is None and act == -1
        if (self.spoil == "matmul" and plain) or (self.spoil == "linear" and not plain):
            a = a.copy()
            a.reshape(-1, k)[:, -1] = 0  # forget the last term of every sum
        super().linear(a, b, c, bias, act, batch, m, n, k, a_batch, b_batch, dtype)

    def dot(self, a, b, n, dtype):
        r = super().dot(a, b, n, dtype)
        return r * (1 + 1e-5) if self.spoil == "dot" else r

    def elementwise(self, act, x, y, n, dtype):
        super().elementwise(act, x, y, n, dtype)
        name = ACTIVATION_BY_ID[act]
        if name != self.spoil:
            return
        view = y.reshape(-1)[:n]
        if name == "relu":
            xs = x.reshape(-1)[:n]
            view[np.isnan(xs)] = 0  # NaN becomes 0: wrong
        elif name in ("gelu", "silu") and self.variant_sign:
            view[...] = np.where(view == 0, 0.0, view)  # -0 becomes +0
        else:
            view[...] = _ulps(view, 6 if dtype == np.float32 else 9)

    variant_sign = False

    def softmax(self, x, y, rows, cols, dtype):
        super().softmax(x, y, rows, cols, dtype)
        if self.spoil == "softmax":
            view = y.reshape(-1)[: rows * cols]
            view[...] = _ulps(view, 6 + 2 * (cols + 4))  # beyond N ulp + (n + 4) eps


SPOILABLE = [*OPS]


@pytest.mark.slow
@pytest.mark.parametrize("op", SPOILABLE)
def test_each_property_catches_a_spoilt_op(monkeypatch, op):
    spoilt = FakeBackend("simd", SlightlyWrong(spoil=op))
    monkeypatch.setitem(backends._instances, "simd", spoilt)
    props = properties("simd", max_examples=60, derandomize=True)  # no flaky misses
    with pytest.raises(AssertionError):
        props[op]()
    for name in props:  # and the correct ones pass
        if name != op and not (op == "matmul" and name == "linear"):
            props[name]()


@pytest.mark.parametrize("op", ["gelu", "silu"])
def test_a_lost_sign_of_zero_is_caught(monkeypatch, op):
    fake = SlightlyWrong(spoil=op)
    fake.variant_sign = True
    monkeypatch.setitem(backends._instances, "simd", FakeBackend("simd", fake))
    with pytest.raises(AssertionError):
        properties("simd", max_examples=60, derandomize=True)[op]()
