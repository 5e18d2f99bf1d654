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


def _variants() -> list[str]:
    """<backend>-<variant> for each kernel variant besides the one in force (cpu-avx2,
    cpu-baseline, simd-plain): every variant this machine can run is tested."""
    found = []
    for name in ("cpu", "simd"):
        b = backends.get(name)
        if b.unavailable_reason() is None:
            found += [f"{name}-{v}" for v in b.variants()[1:]]
    return found


BACKEND_PARAMS = list(accel.BACKENDS) + _variants()


def require(name: str) -> None:
    """Skips (or, when required, fails) the test if the backend cannot run here."""
    reason = backends.get(name).unavailable_reason()
    if reason is None:
        return
    if name in REQUIRED:
        pytest.fail(f"backend {name!r} is required (ACCEL_TEST_REQUIRE) but unavailable: {reason}")
    pytest.skip(f"backend {name!r} unavailable: {reason}")


@pytest.fixture
def need():
    """need(name) -> the backend object, skipping (or failing, when required) if it cannot
    run here: for tests of one backend's own internals."""

    def need(name: str):
        require(name)
        return backends.get(name)

    return need


@pytest.fixture(params=BACKEND_PARAMS)
def backend(request):
    """The name to pass as backend=; for cpu-<isa> the cpu kernels of that instruction set,
    for simd-plain the plain SIMD128 module."""
    name, _, variant = request.param.partition("-")
    require(name)
    if not variant:
        yield name
        return
    b = backends.get(name)
    before = b.variant()
    b.use_variant(variant)
    try:
        yield name
    finally:
        b.use_variant(before)


@pytest.fixture
def strict(backend):
    """The backend of the test as a strict selection, for tests of the public defaults."""
    with accel.use_backend(backend):
        yield backend


@pytest.fixture
def chain_costs(monkeypatch):
    """A cost model that ranks the chain in its own order (gpu, simd, cpu): fallback tests
    need their failing backend to be auto's first choice."""
    from accel import _cost, _dispatch

    rank = {"gpu": 1.0, "simd": 2.0, "cpu": 3.0}
    monkeypatch.setattr(_cost.model(), "cost", lambda b, op, dtype, work: rank[b] * (1 + work))
    _dispatch.invalidate()
    yield
    _dispatch.invalidate()
