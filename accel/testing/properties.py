"""Hypothesis properties of every op of the op table (and linear) against the float64 (or
long double) reference, with the bounds of docs/contract.md. `properties(backend)` builds
them for one backend; the repository's tests and `accel selftest` both run these same
functions.

Large arrays come from a seeded numpy generator whose parameters Hypothesis draws (seed,
shape, magnitude range, share of special values): drawing each of 50,000 elements through
Hypothesis would be far too slow, and shrinking still works on the parameters. Small arrays
draw every element, so Hypothesis explores special values and subnormals directly.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import accel
from accel._ops import PUBLIC_FORMS

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


@st.composite
def softmax_arrays(draw, dtype: np.dtype) -> np.ndarray:
    """Arrays for softmax: rows of 1 to a few thousand elements, values from tiny to near the
    largest finite (so that exp(x - max) underflows), rows with -inf entries, rows of NaN or
    +inf or only -inf; 0-d, empty and strided inputs."""
    finfo = np.finfo(dtype)
    if draw(st.integers(0, 5)) == 0:  # every element drawn by Hypothesis, any shape
        shape = draw(hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=7))
        return draw(hnp.arrays(dtype, shape, elements=st.floats(width=finfo.bits)))
    seed = draw(st.integers(0, 2**32 - 1))
    rows = draw(st.integers(1, 40))
    cols = draw(st.one_of(st.integers(1, 300), st.integers(1000, 3000)))
    hi = draw(st.floats(-3, np.log10(float(finfo.max)) - 1))
    rng = np.random.default_rng(seed)
    x = _magnitudes(dtype, rng, rows * cols, hi - 3, hi).reshape(rows, cols)
    specials = draw(st.sampled_from([0.0, 0.01, 0.1]))
    pick = rng.random(x.shape) < specials
    x[pick] = rng.choice(_SPECIALS, int(pick.sum())).astype(dtype)
    if draw(st.booleans()):
        x[rng.integers(rows)] = -np.inf  # a row with no finite entry
    if draw(st.booleans()) and cols >= 2:
        x = x[:, ::2]  # strided
    return x


@st.composite
def linear_operands(draw, dtype: np.dtype):
    """(x, w, bias or None, activation or None) for linear: x 1-D, 2-D or batched, shapes that
    straddle the kernels' blocks, magnitudes that keep x @ w + bias finite."""
    from .._optable import ACTIVATIONS

    m = draw(st.one_of(st.integers(1, 20), st.integers(60, 130)))
    k = draw(st.one_of(st.integers(1, 40), st.integers(250, 300)))
    n = draw(st.one_of(st.integers(1, 40), st.integers(60, 100)))
    lead = draw(st.sampled_from([(), (m,), (2, m)]))
    activation = draw(st.sampled_from([None, *ACTIVATIONS]))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    top = (np.log10(float(np.finfo(dtype).max)) - np.log10(k) - 2) / 2
    lo = draw(st.floats(-min(top, 20.0), min(top, 5.0)))
    hi = draw(st.floats(lo, min(top, lo + 3)))
    stack = draw(st.sampled_from([(), (), (3,), (2, 1)]))  # one layer per agent
    if stack:  # x's batch as w's, broadcast against it, or with more axes
        rows = min(m, 9)
        lead = draw(st.sampled_from([(*stack, rows), (2, *stack, rows)] if len(stack) == 1
                                    else [(*stack, rows), (2, 3, rows)]))  # fmt: skip
    x = _magnitudes(dtype, rng, int(np.prod((*lead, k))), lo, hi).reshape(*lead, k)
    w = _magnitudes(dtype, rng, int(np.prod((*stack, k, n))), lo, hi).reshape(*stack, k, n)
    bias = None
    if draw(st.booleans()):
        bshape = draw(st.sampled_from([(n,), (*stack, n)]))
        bias = _magnitudes(dtype, rng, int(np.prod(bshape)), 2 * lo, 2 * hi).reshape(bshape)
    return x, w, bias, activation


@st.composite
def _values(draw, dtype: np.dtype, shape: tuple[int, ...], specials: bool = True,
            top: float | None = None) -> np.ndarray:  # fmt: skip
    """An array of shape: every element drawn (small ones) or from drawn parameters, values
    from subnormal to large (below 10**top), with infinities, NaN and signed zeros."""
    finfo = np.finfo(dtype)
    size = int(np.prod(shape))
    top = np.log10(float(finfo.max)) - 1 if top is None else top
    if size <= 24 and draw(st.booleans()):
        bound = float(np.asarray(10.0**top, dtype))  # (representable in dtype)
        return draw(hnp.arrays(dtype, shape, elements=st.floats(
            -bound, bound, width=finfo.bits, allow_nan=False) | st.sampled_from(
                [np.nan, np.inf, -np.inf] if specials else [0.0])))  # fmt: skip
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    lo = draw(st.floats(np.log10(float(finfo.smallest_subnormal)), min(3, top)))
    hi = draw(st.floats(lo, top))
    with np.errstate(over="ignore"):
        x = _magnitudes(dtype, rng, size, lo, hi).reshape(shape)
    share = draw(st.sampled_from([0.0, 0.05, 0.3])) if specials else 0.0
    pick = rng.random(shape) < share
    x[pick] = rng.choice(_SPECIALS, int(pick.sum())).astype(dtype)
    return x


@st.composite
def binary_operands(draw, dtype: np.dtype):
    """(x1, x2) broadcasting as numpy: shapes with 1s and missing leading axes, a Python float
    on either side, strided views, sizes from empty to past the kernels' tasks."""
    ndim = draw(st.integers(0, 4))
    big = draw(st.integers(0, 5)) == 0
    shape = tuple(draw(st.lists(st.integers(0 if not big else 1, 7 if not big else 90),
                                min_size=ndim, max_size=ndim)))  # fmt: skip
    operands = []
    for _ in range(2):
        if draw(st.integers(0, 6)) == 0:
            value = draw(st.floats(width=32 if dtype == np.float32 else 64))
            operands.append(float(value))
            continue
        drop = draw(st.integers(0, len(shape)))
        own = tuple(1 if draw(st.integers(0, 3)) == 0 else n for n in shape[drop:])
        if draw(st.booleans()) and own and own[-1] > 1:  # a strided view
            x = draw(_values(dtype, (*own[:-1], own[-1] * 2)))[..., ::2]
        else:
            x = draw(_values(dtype, own))
        operands.append(x)
    if all(isinstance(o, float) for o in operands):
        operands[0] = np.asarray(operands[0], dtype)
    return tuple(operands)


@st.composite
def reduction_operands(draw, dtype: np.dtype):
    """(x, axis, keepdims): any shape, axis None, one or several (negative too)."""
    ndim = draw(st.integers(0, 3))
    shape = tuple(draw(st.lists(st.one_of(st.integers(0, 6), st.integers(100, 700)),
                                min_size=ndim, max_size=ndim)))  # fmt: skip
    if int(np.prod(shape)) > 200_000:
        shape = tuple(min(n, 6) for n in shape)
    top = np.log10(float(np.finfo(dtype).max)) - np.log10(max(2, np.prod(shape))) - 1
    x = draw(_values(dtype, shape, specials=draw(st.integers(0, 3)) == 0, top=top))
    if ndim and draw(st.booleans()):
        x = np.swapaxes(x, 0, -1)  # strided
    axes = draw(st.one_of(st.none(), st.integers(-ndim, ndim - 1) if ndim else st.none(),
                          st.lists(st.integers(0, max(ndim - 1, 0)), unique=True,
                                   max_size=ndim).map(tuple)))  # fmt: skip
    return x, axes, draw(st.booleans())


@st.composite
def norm_operands(draw, dtype: np.dtype):
    """(x, weight or None, bias or None, eps): rows of 1 to a few thousand values."""
    rows = draw(st.integers(1, 30))
    cols = draw(st.one_of(st.integers(1, 40), st.integers(200, 3000)))
    lead = draw(st.sampled_from([(rows,), (2, rows), ()]))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    center = draw(st.floats(-4, 4))
    spread = draw(st.floats(-6, 3))
    x = (10.0**center + 10.0**spread * rng.standard_normal((*lead, cols))).astype(dtype)
    weight = rng.standard_normal(cols).astype(dtype) if draw(st.booleans()) else None
    bias = rng.standard_normal(cols).astype(dtype) if draw(st.booleans()) else None
    eps = draw(st.sampled_from([1e-5, 1e-6, 0.0, 1.0]))
    return x, weight, bias, eps


def properties(
    backend: str, max_examples: int = 60, derandomize: bool = False
) -> dict[str, Callable[[], None]]:
    """{op: property} for one backend, every op of the op table and linear: each call runs
    Hypothesis and raises on a failure. derandomize: the same examples on every run."""
    from .._optable import OPS

    dtypes = _dtypes(backend)
    config = settings(
        max_examples=max_examples,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
        database=None,
        derandomize=derandomize,
        report_multiple_bugs=False,  # one AssertionError, not an ExceptionGroup of them
    )
    props: dict[str, Callable[[], None]] = {}

    def unary(op: str, strategy) -> Callable[[], None]:
        fn = PUBLIC_FORMS[op]

        @config
        @given(data=st.data(), dtype=st.sampled_from(dtypes))
        def matches_reference(data, dtype) -> None:
            x = data.draw(strategy(np.dtype(dtype)))
            before = x.copy()
            y = fn(x, backend=backend)
            reference.check_activation(op, x, y, backend)
            np.testing.assert_array_equal(x, before, err_msg="the input was modified")

        return matches_reference

    for name, op in OPS.items():
        if op.family == "elementwise":
            props[name] = unary(name, activation_arrays)
        elif op.family == "softmax":
            props[name] = unary(name, softmax_arrays)

    @config
    @given(data=st.data(), dtype=st.sampled_from(dtypes))
    def matmul_matches_reference(data, dtype) -> None:
        a, b = data.draw(matmul_operands(np.dtype(dtype)))
        c = accel.matmul(a, b, backend=backend)
        assert np.asarray(c).dtype == dtype
        reference.check_matmul(a, b, c, backend)

    @config
    @given(data=st.data(), dtype=st.sampled_from(dtypes))
    def linear_matches_reference(data, dtype) -> None:
        x, w, bias, activation = data.draw(linear_operands(np.dtype(dtype)))
        y = accel.linear(x, w, bias, activation=activation, backend=backend)
        assert y.dtype == dtype
        reference.check_linear(x, w, bias, activation, y, backend)

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
    props["linear"] = linear_matches_reference
    props["dot"] = dot_matches_reference

    def binary(op: str) -> Callable[[], None]:
        fn = PUBLIC_FORMS[op]

        @config
        @given(data=st.data(), dtype=st.sampled_from(dtypes), resident=st.booleans())
        def matches_numpy(data, dtype, resident) -> None:
            x1, x2 = data.draw(binary_operands(np.dtype(dtype)))
            if resident:  # the same op on Arrays: the same bits, on the backend
                a1 = accel.asarray(x1, backend=backend) if isinstance(x1, np.ndarray) else x1
                y = fn(a1, x2, backend=backend)
                y = y.numpy() if isinstance(y, accel.Array) else np.asarray(y)
            else:
                y = np.asarray(fn(x1, x2, backend=backend))
            reference.check_binary(op, x1, x2, y, backend)

        return matches_numpy

    def reduction(op: str) -> Callable[[], None]:
        fn = PUBLIC_FORMS[op]

        @config
        @given(data=st.data(), dtype=st.sampled_from(dtypes))
        def matches_reference(data, dtype) -> None:
            x, axis, keepdims = data.draw(reduction_operands(np.dtype(dtype)))
            try:
                expected = np.max(x, axis=axis, keepdims=keepdims) if op == "max" else None
            except ValueError:  # max over nothing: accel raises as numpy does
                expected = ValueError
            if expected is ValueError:
                try:
                    fn(x, axis=axis, keepdims=keepdims, backend=backend)
                except ValueError:
                    return
                raise AssertionError("max over an empty axis did not raise ValueError")
            with np.errstate(all="ignore"), warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)  # the mean of nothing
                y = fn(x, axis=axis, keepdims=keepdims, backend=backend)
            reference.check_reduction(op, x, axis, keepdims, y, backend)

        return matches_reference

    def norm(op: str) -> Callable[[], None]:
        fn = PUBLIC_FORMS[op]

        @config
        @given(data=st.data(), dtype=st.sampled_from(dtypes))
        def matches_reference(data, dtype) -> None:
            x, weight, bias, eps = data.draw(norm_operands(np.dtype(dtype)))
            if op == "rms_norm":
                y = fn(x, weight, eps=eps, backend=backend)
                bias = None
            else:
                y = fn(x, weight, bias, eps=eps, backend=backend)
            reference.check_norm(op, x, weight, bias, eps, y, backend)

        return matches_reference

    @config
    @given(data=st.data(), dtype=st.sampled_from(dtypes))
    def views_match_numpy(data, dtype) -> None:
        """The copy of a view (op "copy"), and the shape ops, on the backend's Arrays: the
        same elements as numpy's, bit for bit."""
        shape = tuple(data.draw(st.lists(st.integers(1, 6), min_size=1, max_size=4)))
        x = data.draw(_values(np.dtype(dtype), shape))
        arr = accel.asarray(x, backend=backend)
        key = tuple(data.draw(st.sampled_from([slice(None), slice(None, None, -1),
                                               slice(1, None, 2), 0, None, Ellipsis][:6]))
                    for _ in range(len(shape)))  # fmt: skip
        if sum(k is Ellipsis for k in key) > 1:
            key = tuple(k for k in key if k is not Ellipsis)
        try:
            want = x[key]
        except IndexError:
            return
        got = arr[key]
        np.testing.assert_array_equal(got.numpy(), want)
        order = tuple(data.draw(st.permutations(range(want.ndim))))
        np.testing.assert_array_equal(accel.permute_dims(got, order).numpy(),
                                      np.transpose(want, order))  # fmt: skip
        np.testing.assert_array_equal(accel.reshape(got, (-1,)).numpy(), want.reshape(-1))
        if want.ndim:
            joined = accel.concat([got, got], axis=-1)
            np.testing.assert_array_equal(joined.numpy(), np.concatenate([want, want], -1))

    for name, op in OPS.items():
        if op.family == "binary":
            props[name] = binary(name)
        elif op.family == "reduction":
            props[name] = reduction(name)
        elif op.family == "norm":
            props[name] = norm(name)
        elif op.family in ("map", "shape"):
            props[name] = views_match_numpy
    props["negative"] = _negative(backend, config, dtypes)
    return props


def _negative(backend: str, config, dtypes) -> Callable[[], None]:
    @config
    @given(data=st.data(), dtype=st.sampled_from(dtypes))
    def flips_the_sign(data, dtype) -> None:
        shape = tuple(data.draw(st.lists(st.integers(0, 9), max_size=3)))
        x = data.draw(_values(np.dtype(dtype), shape))
        y = np.asarray(accel.negative(x, backend=backend))
        same = (y == -x) | (np.isnan(y) & np.isnan(x))
        assert np.all(same & (np.signbit(y) != np.signbit(x))), "negative is not -x exactly"
        r = accel.negative(accel.asarray(x, backend=backend)).numpy()
        np.testing.assert_array_equal(r.reshape(-1).view(np.uint8), y.reshape(-1).view(np.uint8))

    return flips_the_sign
