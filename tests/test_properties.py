"""Hypothesis properties of every op of the op table (and linear) on every backend and kernel
variant, against the float64 (long double for float64 results) reference, with the bounds of
docs/contract.md. The properties themselves live in accel.testing.properties, shared with
`accel selftest`."""

import pytest

from accel._optable import OPS
from accel.testing.properties import properties


@pytest.mark.parametrize("op", list(OPS))
def test_property(backend, op):
    properties(backend)[op]()
