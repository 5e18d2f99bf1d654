"""ACCEL_TEST_REQUIRE: every backend it names must be available, or the run fails."""

import os

import pytest

import accel
from accel import backends

REQUIRED = {n.strip() for n in os.environ.get("ACCEL_TEST_REQUIRE", "").split(",") if n.strip()}


@pytest.mark.parametrize("name", sorted(REQUIRED) or ["(none required)"])
def test_required_backend_is_available(name):
    if name == "(none required)":
        pytest.skip("ACCEL_TEST_REQUIRE is not set")
    assert name in accel.BACKENDS, f"ACCEL_TEST_REQUIRE names unknown backend {name!r}"
    reason = backends.get(name).unavailable_reason()
    assert reason is None, f"required backend {name!r} is unavailable: {reason}"
    assert name in accel.available_backends()
