"""Hypothesis properties of every op against the float64 (or long double) reference, with the
bounds of DESIGN.md. `properties(backend)` builds them for one backend; the repository's tests
and `accel selftest` both run these same functions.

Large arrays come from a seeded numpy generator whose parameters Hypothesis draws (seed,
shape, magnitude range, share of special values): drawing each of 50,000 elements through
Hypothesis would be far too slow, and shrinking still works on the parameters. Small arrays
draw every element, so Hypothesis explores special values and subnormals directly.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import accel

from . import reference

_SPECIALS = np.array([np.nan, np.inf, -np.inf, 0.0, -0.0])


def _dtypes(backend: str) -> list[np.dtype]:
    from accel import backends

    return sorted(backends.get(backend).dtypes(), key=lambda d: d.itemsize)


def _magnitudes(dtype: np.dtype, rng: np.random.Generator, size: int, lo: float, hi: float):
    """size values with random signs and log-uniform magnitudes 10**[lo, hi]."""
    mag = 10.0 ** rng.uniform(lo, hi, size)
    return (rng.choice([-1.0, 1.0], size) * mag).astype(dtype)


@st.composite
def activation_arrays(draw, dtype: np.dtype) -> np.ndarray:
    """Arrays of any shape (0-d and empty included) with values from subnormal to the largest
    finite, infinities and NaN; sometimes a strided view."""
    finfo = np.finfo(dtype)
    if draw(st.booleans()):  # every element drawn by Hypothesis
        shape = draw(hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=9))
        x = draw(hnp.arrays(dtype, shape, elements=st.floats(width=finfo.bits)))
    else:  # a large array from drawn parameters
        seed = draw(st.integers(0, 2**32 - 1))
        n = draw(st.integers(1, 5000))
        lo = draw(st.floats(np.log10(float(finfo.smallest_subnormal)), 2))
        hi = draw(st.floats(lo, np.log10(float(finfo.max))))
        specials = draw(st.sampled_from([0.0, 0.01, 0.2]))
        rng = np.random.default_rng(seed)
        with np.errstate(over="ignore"):
            x = _magnitudes(dtype, rng, n, lo, hi)
        pick = rng.random(n) < specials
        x[pick] = rng.choice(_SPECIALS, int(pick.sum())).astype(dtype)
        if draw(st.booleans()) and n >= 4:
            x = x[: n - n % 4].reshape(2, -1, 2).transpose(2, 1, 0)  # non-contiguous
    return x


@st.composite
def matmul_operands(draw, dtype: np.dtype) -> tuple[np.ndarray, np.ndarray]:
    """Operands of np.matmul semantics: 1-D promotion, broadcast batches, shapes that straddle
    the kernels' register and cache blocks, values from tiny to huge whose products and sums
    stay finite in dtype."""
    m = draw(st.one_of(st.integers(1, 40), st.integers(90, 140)))
    n = draw(st.one_of(st.integers(1, 40), st.integers(60, 100)))
    k = draw(st.one_of(st.integers(1, 40), st.integers(250, 530)))
    batch_a = draw(st.sampled_from([(), (), (1,), (3,), (2, 1)]))
    batch_b = draw(st.sampled_from([(), (), (1,), (3,), (1, 3)]))
    if np.prod(batch_a + batch_b) * m * n * k > 3_000_000:  # keep the reference quick
        batch_a, batch_b = (), ()
    vector_a = not batch_a and draw(st.integers(0, 4)) == 0
    vector_b = not batch_b and draw(st.integers(0, 4)) == 0
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    # magnitudes span many decades but |A| @ |B| stays below the dtype's largest finite
    top = (np.log10(float(np.finfo(dtype).max)) - np.log10(k) - 1) / 2
    lo = draw(st.floats(-top, top))
    hi = draw(st.floats(lo, top))
    shape_a = (k,) if vector_a else (*batch_a, m, k)
    shape_b = (k,) if vector_b else (*batch_b, k, n)
    a = _magnitudes(dtype, rng, int(np.prod(shape_a)), lo, hi).reshape(shape_a)
    b = _magnitudes(dtype, rng, int(np.prod(shape_b)), lo, hi).reshape(shape_b)
    if draw(st.booleans()):
        a[rng.random(a.shape) < 0.1] = 0
    if a.ndim >= 2 and draw(st.booleans()):  # a Fortran-ordered operand
        a = np.asfortranarray(a)
    return a, b


def properties(backend: str, max_examples: int = 60) -> dict[str, Callable[[], None]]:
    """{name: property} for one backend: each call runs Hypothesis and raises on a failure."""
    dtypes = _dtypes(backend)
    config = settings(
        max_examples=max_examples,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
        database=None,
    )
    props: dict[str, Callable[[], None]] = {}

    for op in accel._ops.ELEMENTWISE_OPS:

        def make(op: str) -> Callable[[], None]:
            fn = getattr(accel, op)

            @config
            @given(data=st.data(), dtype=st.sampled_from(dtypes))
            def activation_matches_reference(data, dtype) -> None:
                x = data.draw(activation_arrays(np.dtype(dtype)))
                before = x.copy()
                y = fn(x, backend=backend)
                reference.check_activation(op, x, y, backend)
                np.testing.assert_array_equal(x, before, err_msg="the input was modified")

            return activation_matches_reference

        props[op] = make(op)

    @config
    @given(data=st.data(), dtype=st.sampled_from(dtypes))
    def matmul_matches_reference(data, dtype) -> None:
        a, b = data.draw(matmul_operands(np.dtype(dtype)))
        c = accel.matmul(a, b, backend=backend)
        assert c.dtype == dtype
        reference.check_matmul(a, b, c, backend)

    @config
    @given(
        seed=st.integers(0, 2**32 - 1),
        n=st.one_of(st.integers(1, 100), st.integers(1000, 200_000)),
        dtype=st.sampled_from(dtypes),
        lo=st.floats(-15, 15),
        width=st.floats(0, 10),
    )
    def dot_matches_reference(seed, n, dtype, lo, width) -> None:
        rng = np.random.default_rng(seed)
        top = (np.log10(float(np.finfo(dtype).max)) - np.log10(n) - 1) / 2
        lo, hi = min(lo, top), min(lo + width, top)
        a = _magnitudes(np.dtype(dtype), rng, n, lo, hi)
        b = _magnitudes(np.dtype(dtype), rng, n, lo, hi)
        r = accel.dot(a, b, backend=backend)
        assert type(r) is np.dtype(dtype).type, f"dot returned {type(r).__name__}"
        reference.check_dot(a, b, r, backend)

    props["matmul"] = matmul_matches_reference
    props["dot"] = dot_matches_reference
    return props
