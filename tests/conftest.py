"""Backend parametrization shared by every op test.

Each op test takes the `backend` fixture and runs once per backend of the chain, and once per
extra instruction set of the `cpu` backend that this CPU runs (`cpu-avx2`, `cpu-baseline`):
the same properties hold for every kernel variant. A backend that cannot run here is
skipped, unless ACCEL_TEST_REQUIRE (a comma list, as CI sets it) names it: then its tests
fail, so that a missing backend can never pass CI by skipping.
"""

from __future__ import annotations

import os
import pathlib

import pytest

import accel
from accel import backends

if pathlib.Path(accel.__file__).parent.parent == pathlib.Path(__file__).parent.parent and not any(
    pathlib.Path(accel.__file__).parent.glob("_cpu_native*")
):
    pytest.exit(
        "accel was imported from the source tree, which has no built extension: run the tests "
        "as `pytest` after `pip install '.[test]'` (`python -m pytest` puts the source tree "
        "first on sys.path), or build in place with `pip install -e '.[test]'`",
        returncode=4,
    )

REQUIRED = {n.strip() for n in os.environ.get("ACCEL_TEST_REQUIRE", "").split(",") if n.strip()}


def _cpu_variants() -> list[str]:
    cpu = backends.get("cpu")
    if cpu.unavailable_reason() is not None:
        return []
    best = cpu.isa()
    return [f"cpu-{isa}" for isa in cpu.supported_isas() if isa != best]


BACKEND_PARAMS = list(accel.BACKENDS) + _cpu_variants()


def require(name: str) -> None:
    """Skips (or, when required, fails) the test if the backend cannot run here."""
    reason = backends.get(name).unavailable_reason()
    if reason is None:
        return
    if name in REQUIRED:
        pytest.fail(f"backend {name!r} is required (ACCEL_TEST_REQUIRE) but unavailable: {reason}")
    pytest.skip(f"backend {name!r} unavailable: {reason}")


@pytest.fixture(params=BACKEND_PARAMS)
def backend(request):
    """The name to pass as backend=; for cpu-<isa> the cpu kernels of that instruction set."""
    param = request.param
    name, _, isa = param.partition("-")
    require(name)
    if not isa:
        yield name
        return
    cpu = backends.get("cpu")
    before = cpu.isa()
    cpu.select_isa(isa)
    try:
        yield name
    finally:
        cpu.select_isa(before)


@pytest.fixture
def strict(backend):
    """The backend of the test as a strict selection, for tests of the public defaults."""
    with accel.use_backend(backend):
        yield backend
