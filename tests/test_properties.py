"""Hypothesis properties of every op on every backend against the float64 (long double for
float64 results) reference, with the bounds of DESIGN.md. The properties themselves live in
accel.testing.properties, shared with `accel selftest`."""

import pytest

from accel._ops import ELEMENTWISE_OPS
from accel.testing.properties import properties


@pytest.mark.parametrize("op", ["matmul", "dot", *ELEMENTWISE_OPS])
def test_property(backend, op):
    properties(backend)[op]()
