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

    def linear(self, a, b, c, bias, act, batch, m, n, k, a_batch, b_batch, dtype,
               bias_batch=0, trans_b=False):  # fmt: skip
        plain = bias is None and act == -1
        if (self.spoil == "matmul" and plain) or (self.spoil == "linear" and not plain):
            a = a.copy()
            a.reshape(-1, k)[:, -1] = 0  # forget the last term of every sum
        super().linear(a, b, c, bias, act, batch, m, n, k, a_batch, b_batch, dtype,
                       bias_batch, trans_b)  # fmt: skip

    def spoil_map(self, name, r, x1, x2):
        if name != self.spoil:
            return r
        if name in ("add", "subtract", "multiply"):
            return _ulps(r, 1)  # one ulp off an exact result
        if name == "divide":
            return _ulps(r, 3)
        if name in ("maximum", "minimum"):  # NaN lost: numpy's fmax and fmin
            fn = np.fmax if name == "maximum" else np.fmin
            return fn(np.broadcast_to(x1, r.shape), np.broadcast_to(x2, r.shape)).reshape(-1)
        if name == "negative":
            return np.where(r == 0, 0.0, r).astype(r.dtype)  # -0 for +0 lost
        if name == "copy":
            return r[::-1].copy()  # the elements of a view in the wrong order
        return r

    def spoil_reduce(self, name, r, w):
        if name != self.spoil:
            return r
        if name == "max":  # NaN ignored
            with np.errstate(invalid="ignore"):
                return np.nanmax(np.where(np.isnan(w), -np.inf, w), axis=1)
        last = w[:, -1, :]
        return r - (last if name == "sum" else last / w.shape[1])  # the last term forgotten

    def variance(self, w, mean, layer):
        if self.spoil == "layer_norm" and layer:  # one pass: E[x^2] - E[x]^2
            return np.maximum((w * w).mean(-1, keepdims=True) - mean * mean, 0)
        if self.spoil == "rms_norm" and not layer:  # the last square forgotten
            return (w[:, :-1] ** 2).sum(-1, keepdims=True) / w.shape[-1]
        return super().variance(w, mean, layer)

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


SPOILABLE = [name for name, op in OPS.items() if op.family != "shape"]  # (made of copies)


@pytest.mark.slow
@pytest.mark.parametrize("op", SPOILABLE)
def test_each_property_catches_a_spoilt_op(monkeypatch, op):
    spoilt = FakeBackend("simd", SlightlyWrong(spoil=op))
    monkeypatch.setitem(backends._instances, "simd", spoilt)
    props = properties("simd", max_examples=60, derandomize=True)  # no flaky misses
    with pytest.raises(AssertionError):
        props[op]()
    for name in props:  # and the correct ones pass (the shape ops are made of copies)
        same = props[name] is props[op] or (op == "matmul" and name == "linear")
        if name != op and not same:
            props[name]()


@pytest.mark.parametrize("op", ["gelu", "silu"])
def test_a_lost_sign_of_zero_is_caught(monkeypatch, op):
    fake = SlightlyWrong(spoil=op)
    fake.variant_sign = True
    monkeypatch.setitem(backends._instances, "simd", FakeBackend("simd", fake))
    with pytest.raises(AssertionError):
        properties("simd", max_examples=60, derandomize=True)[op]()
