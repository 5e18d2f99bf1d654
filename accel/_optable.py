"""The one table of ops. Every layer reads it: the public functions (`accel._ops`), the cost
model (work formula and family), `accel bench` and `accel calibrate` (sizes, numpy baseline),
`accel selftest` and the test references (`accel.testing.reference`: reference function and
bounds), and each backend's kernel map (activation ids shared with the C, WebAssembly and WGSL
kernels). Adding an activation is one entry here and one kernel per backend.

Families:
- "matmul": matmul; work = 2 M N K flops.
- "linear": activation(x @ w + bias), matmul with a fused epilogue; work as matmul's.
- "dot": the inner product; work = n elements.
- "elementwise": the activations; work = elements. Each has an id its kernels know it by.
- "softmax": over the last axis; work = elements.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import numpy as np

# Activation ids: the same numbers as c_ext/activations.h and shaders/activations.wgsl.
ACT_NONE = -1


@dataclass(frozen=True)
class Op:
    name: str
    family: str
    doc: str
    numpy: Callable[..., object]  # the baseline bench and the benchmarks compare with
    reference: Callable[[np.ndarray], np.ndarray] | None = None  # wide precision, elementwise
    ulp: Mapping[str, int] = field(default_factory=dict)  # bound per backend; {} = matmul's
    act_id: int = ACT_NONE  # the kernels' id of an activation
    max_slope: float = 0.0  # max |f'|: how far linear's pre-activation error can carry
    bench_sizes: tuple[int, ...] = ()
    calibrate_sizes: tuple[int, ...] = ()

    @property
    def is_activation(self) -> bool:
        return self.family == "elementwise"


# -- references in wide precision (float64 for float32 results, long double for float64) ------


def _relu_ref(w: np.ndarray) -> np.ndarray:
    return np.where(np.isnan(w), w, np.maximum(w, 0))


def _sigmoid_ref(w: np.ndarray) -> np.ndarray:
    with np.errstate(over="ignore"):
        return 1 / (1 + np.exp(-w))


def _tanh_ref(w: np.ndarray) -> np.ndarray:
    return np.tanh(w)


def _limits(w: np.ndarray, y: np.ndarray) -> np.ndarray:
    """gelu and silu at +-inf: +inf and -0 (x times a vanishing factor, whose product numpy's
    formula makes NaN at -inf)."""
    y = np.where(w == np.inf, w, y)
    return np.where(w == -np.inf, -0.0, y)


def _phi(w: np.ndarray) -> np.ndarray:
    """The standard normal CDF in w's precision: math.erfc for float64 (ample for float32
    results), mpmath for long double (float64 results need more than float64)."""
    if w.dtype == np.float64:
        erfc = np.frompyfunc(math.erfc, 1, 1)
        with np.errstate(invalid="ignore"):
            return np.asarray(erfc(-w / math.sqrt(2)), dtype=np.float64) / 2
    import mpmath  # a test dependency: only the float64 references need it

    def ncdf(v: np.longdouble) -> np.longdouble:
        if abs(v) > 60:  # Phi is 0 or 1 to far below the smallest float64
            return np.longdouble(0 if v < 0 else 1)
        exact = mpmath.mpf(np.format_float_scientific(v, unique=True))
        return np.longdouble(mpmath.nstr(mpmath.ncdf(exact), 30))

    with mpmath.workdps(40):
        return np.asarray(np.frompyfunc(ncdf, 1, 1)(w), dtype=w.dtype)


def _gelu_ref(w: np.ndarray) -> np.ndarray:
    finite = np.where(np.isfinite(w), w, 0)
    with np.errstate(invalid="ignore", over="ignore"):
        y = np.where(np.isnan(w), w, finite * _phi(finite))
    return _limits(w, y)


def _silu_ref(w: np.ndarray) -> np.ndarray:
    with np.errstate(over="ignore", invalid="ignore"):
        return _limits(w, w / (1 + np.exp(-w)))


def _softmax_ref(w: np.ndarray) -> np.ndarray:
    with np.errstate(invalid="ignore", over="ignore"):
        e = np.exp(w - np.max(w, axis=-1, keepdims=True))
        return e / np.sum(e, axis=-1, keepdims=True)


# -- numpy baselines (what a user would write without accel) ----------------------------------


def _np_gelu(x: np.ndarray) -> np.ndarray:
    from scipy.special import erf  # the baseline of the benchmarks only

    return 0.5 * x * (1 + erf(x / np.sqrt(2)))


def _np_softmax(x: np.ndarray) -> np.ndarray:
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


_ELEMENTWISE_SIZES = (1_000, 1_000_000)
_ELEMENTWISE_CALIBRATION = (1_000, 100_000, 1_000_000)
_ULP = {"cpu": 4, "simd": 4, "gpu": 8}

OPS: dict[str, Op] = {
    op.name: op
    for op in (
        Op("matmul", "matmul", "Matrix product with numpy.matmul's semantics.",
           numpy=np.matmul, bench_sizes=(64, 256, 1024), calibrate_sizes=(24, 96, 384)),
        Op("dot", "dot", "Inner product of two 1-D arrays of equal length.",
           numpy=np.dot, bench_sizes=(1_000, 1_000_000),
           calibrate_sizes=(1_000, 100_000, 1_000_000)),
        Op("relu", "elementwise", "max(x, 0); NaN stays NaN.",
           numpy=lambda x: np.maximum(x, 0), reference=_relu_ref, ulp={"cpu": 0, "simd": 0,
           "gpu": 0}, act_id=0, max_slope=1.0,
           bench_sizes=_ELEMENTWISE_SIZES, calibrate_sizes=_ELEMENTWISE_CALIBRATION),
        Op("sigmoid", "elementwise", "1 / (1 + exp(-x)), in [0, 1]; +-inf give 1 and 0.",
           numpy=lambda x: 1 / (1 + np.exp(-x)), reference=_sigmoid_ref, ulp=_ULP, act_id=1,
           max_slope=0.25, bench_sizes=_ELEMENTWISE_SIZES,
           calibrate_sizes=_ELEMENTWISE_CALIBRATION),
        Op("tanh", "elementwise", "The hyperbolic tangent; exactly odd, +-inf give +-1.",
           numpy=np.tanh, reference=_tanh_ref, ulp=_ULP, act_id=2, max_slope=1.0,
           bench_sizes=_ELEMENTWISE_SIZES, calibrate_sizes=_ELEMENTWISE_CALIBRATION),
        Op("gelu", "elementwise",
           "x Phi(x) = x (1 + erf(x / sqrt 2)) / 2, the exact GELU (not the tanh approximation);"
           " -inf gives -0, +inf gives +inf.",
           numpy=_np_gelu, reference=_gelu_ref, ulp=_ULP, act_id=3, max_slope=1.0682,
           bench_sizes=_ELEMENTWISE_SIZES, calibrate_sizes=_ELEMENTWISE_CALIBRATION),
        Op("silu", "elementwise",
           "x sigmoid(x) (SiLU, swish); -inf gives -0, +inf gives +inf.",
           numpy=lambda x: x / (1 + np.exp(-x)), reference=_silu_ref, ulp=_ULP, act_id=4,
           max_slope=1.0999, bench_sizes=_ELEMENTWISE_SIZES,
           calibrate_sizes=_ELEMENTWISE_CALIBRATION),
        Op("linear", "linear",
           "activation(x @ w + bias), one kernel per backend (bench: tanh, with bias).",
           numpy=lambda x, w, b: np.tanh(x @ w + b), bench_sizes=(64, 256, 1024),
           calibrate_sizes=(24, 96, 384)),
        Op("softmax", "softmax",
           "exp(x - max) / sum(exp(x - max)) over the last axis; a NaN in a row gives a row of "
           "NaN, -inf entries give 0.",
           numpy=_np_softmax, reference=_softmax_ref, ulp=_ULP,
           bench_sizes=_ELEMENTWISE_SIZES, calibrate_sizes=_ELEMENTWISE_CALIBRATION),
    )
}  # fmt: skip

ACTIVATIONS: dict[str, Op] = {name: op for name, op in OPS.items() if op.is_activation}
SOFTMAX_ROW = 1000  # bench and calibrate give softmax rows of this many elements


def activation_id(name: str | None) -> int:
    """The kernel id of `linear`'s activation= (None: no activation); ValueError otherwise."""
    if name is None:
        return ACT_NONE
    op = ACTIVATIONS.get(name) if isinstance(name, str) else None
    if op is None:
        raise ValueError(
            f"unknown activation {name!r}; choose None or one of {', '.join(ACTIVATIONS)}"
        )
    return op.act_id


ACTIVATION_BY_ID: dict[int, str] = {op.act_id: name for name, op in ACTIVATIONS.items()}
