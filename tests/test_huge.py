"""Arrays beyond 2^31 elements (opt-in: ACCEL_TEST_HUGE=1; needs about 9 GiB of memory)."""

from __future__ import annotations

import os

import numpy as np
import pytest

import accel

pytestmark = pytest.mark.skipif(
    os.environ.get("ACCEL_TEST_HUGE") != "1", reason="set ACCEL_TEST_HUGE=1 (9 GiB of memory)"
)


def test_more_than_2_31_elements_on_cpu():
    n = (1 << 31) + 17
    x = np.ones(n, np.float32)
    x[-1] = 3.0
    assert accel.dot(x, x, backend="cpu") == pytest.approx(n - 1 + 9, rel=1e-6)
    accel.relu(x, out=x, backend="cpu")  # in place, every index past 2^31 too
    assert x[-1] == 3.0 and x[(1 << 31) + 3] == 1.0
