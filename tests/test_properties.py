"""Hypothesis properties of every op of the op table (and linear) on every backend and kernel
variant, against the float64 (long double for float64 results) reference, with the bounds of
docs/contract.md. The properties themselves live in accel.testing.properties, shared with
`accel selftest`."""

import os

import pytest

from accel._optable import OPS
from accel.testing.properties import properties

# CI sets it: the same examples on every run, so that a landing is judged on the change, not
# on a new random draw; a plain `pytest` draws new examples each run (and what they find is
# fixed in the kernels or the contract, never by loosening a bound)
DERANDOMIZE = os.environ.get("ACCEL_TEST_DERANDOMIZE") == "1"


@pytest.mark.parametrize("op", list(OPS))
def test_property(backend, op):
    properties(backend, derandomize=DERANDOMIZE)[op]()
