"""The one table of ops. Everything per op is made from it: the public functions and
`__all__` (accel._ops), the Dask wrappers (accel.dask), the compiled fast path's entries
(accel._fast), the cost model's families, `accel bench` and `accel calibrate` (sizes, numpy
baseline), `accel selftest` and the test references (reference function and bounds), and the
kernels' shared constants: the activation ids and the coefficient tables, which
accel/_codegen.py writes into c_ext/activations.h and c_ext/coefficients.h (and into every
WGSL kernel, when the gpu backend builds it). Adding an activation is one entry here and one
kernel per backend (c_ext/kernels_type.h, shaders/activations.wgsl), then
`python -m accel._codegen` (a test checks that the generated files are current).

Families:
- "matmul": matmul; work = 2 M N K flops.
- "linear": activation(x @ w + bias), matmul with a fused epilogue; work as matmul's.
- "dot": the inner product; work = n elements.
- "elementwise": the activations; work = elements. Each has an id its kernels know it by.
- "softmax": over an axis; work = elements.
- "map": elementwise over strided operands (the internal copy of a view, negative), and
  "binary": the arithmetic of two broadcast operands; work = elements of the result. Each has
  a kernel id (maps.h).
- "reduction": sum, mean, max over axes; "norm": layer_norm and rms_norm over the last axis;
  work = elements read. Each has a kernel id.
- "shape": reshape, permute_dims, matrix_transpose, concat: views or copies, no arithmetic.
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
    # the kernels' constants, per dtype ("f32", "f64"): name -> a float, or a tuple of floats
    # or of ints (accel/_codegen.py writes them for C and WGSL)
    tables: Mapping[str, Mapping[str, object]] = field(default_factory=dict)
    operator: str | None = None  # the Array operator it defines ("matmul": a @ b, b @ a)
    kernel_id: int = -1  # the id its family's kernels know it by (maps, reductions, norms)
    public: bool = True  # an accel.<name> function (internal ops: the copy of a view)
    ufunc: str | None = None  # the numpy ufunc an Array runs as this op (NEP 13)
    defaults: Mapping[str, object] = field(default_factory=dict)  # keyword defaults (eps)
    form_of: tuple[str, str] | None = None  # (op, form): gelu_tanh is gelu(approximate="tanh")

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


def _softplus_ref(w: np.ndarray) -> np.ndarray:
    # log(1 + e^w) = max(w, 0) + log1p(e^-|w|), in w's (wide) precision
    with np.errstate(over="ignore", invalid="ignore"):
        return np.logaddexp(np.zeros_like(w), w)


def _gelu_tanh_ref(w: np.ndarray) -> np.ndarray:
    # 0.5 x (1 + tanh z) = x sigmoid(2 z), z = sqrt(2/pi) (x + 0.044715 x^3): no cancellation.
    # The constants from their decimals in w's precision: e^{2z} carries their error |2 z|
    # (up to hundreds) times.
    c = w.dtype.type("0.79788456080286535587989211986876373695")
    with np.errstate(over="ignore", invalid="ignore"):
        z = c * (w + w.dtype.type("0.044715") * w * w * w)
        y = w / (1 + np.exp(-2 * z))
    return _limits(w, y)


def _np_gelu_tanh(x: np.ndarray) -> np.ndarray:
    return 0.5 * x * (1 + np.tanh(np.sqrt(2 / np.pi) * (x + 0.044715 * x**3)))


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


def _hex(*values: str) -> tuple[float, ...]:
    return tuple(float.fromhex(v) for v in values)


# Constants every exp-based kernel shares: expm1(r) = r + r^2 q(r) on |r| <= ln2/2. float32: q
# of degree 4 fitted for least maximum relative error (Lawson's iteration on Chebyshev nodes),
# 3e-9 before rounding; float64: Taylor to r^13, below 2^-56 relative.
SHARED_TABLES: dict[str, dict[str, object]] = {
    "f32": {
        "expm1_q": _hex(
            "0x1.0000000000000p-1",
            "0x1.5554de0000000p-3",
            "0x1.5555ba0000000p-5",
            "0x1.120b1c0000000p-7",
            "0x1.6c69f20000000p-10",
        )
    },
    "f64": {
        "expm1_q": _hex(
            "0x1.0000000000000p-1",
            "0x1.5555555555555p-3",
            "0x1.5555555555555p-5",
            "0x1.1111111111111p-7",
            "0x1.6c16c16c16c17p-10",
            "0x1.a01a01a01a01ap-13",
            "0x1.a01a01a01a01ap-16",
            "0x1.71de3a556c734p-19",
            "0x1.27e4fb7789f5cp-22",
            "0x1.ae64567f544e4p-26",
            "0x1.1eed8eff8d898p-29",
            "0x1.6124613a86d09p-33",
        )
    },
}

# GELU (c_ext/tools/fit_gelu.py fits and explains these): Phi = 1/2 + x P(x^2) for |x| <= B;
# else the tail Phi(-s) = exp(-s^2/2) / G(s), G = sqrt(2 pi) s + H(s), H in pieces from
# gelu_lo[i]: gelu_terms[i] coefficients in s - lo, or (gelu_w[i] = 1) s H(s) in 1/s^2. Past
# SMAX the tail is below the smallest normal.
_GELU_TABLES: dict[str, dict[str, object]] = {
    "f32": {
        "gelu_p": _hex(
            "0x1.9884540000000p-2",
            "-0x1.1058380000000p-4",
            "0x1.46d0400000000p-7",
            "-0x1.373f000000000p-10",
            "0x1.e394c80000000p-14",
            "-0x1.2c62e60000000p-17",
        ),
        "gelu_lo": _hex(
            "0x1.0000000000000p-1",
            "0x1.0000000000000p+1",
            "0x1.2000000000000p+2",
        ),
        "gelu_h": _hex(
            "0x1.9b60aa0000000p+0",
            "-0x1.58910a0000000p-1",
            "0x1.a1657c0000000p-3",
            "-0x1.611b680000000p-5",
            "0x1.2d26e80000000p-8",
            "0x1.54b3140000000p-11",
            "-0x1.7816260000000p-12",
            "0x1.9be27c0000000p-15",
            "0x1.defb820000000p-1",
            "-0x1.2554760000000p-2",
            "0x1.30b4a60000000p-4",
            "-0x1.0ddc0e0000000p-6",
            "0x1.8f6d7a0000000p-9",
            "-0x1.d257440000000p-12",
            "0x1.7a25c00000000p-15",
            "-0x1.3837860000000p-19",
            "0x1.40d90c0000000p+1",
            "-0x1.40bc940000000p+2",
            "0x1.8d10860000000p+4",
            "-0x1.4fd4f40000000p+7",
            "0x1.0e1bfe0000000p+10",
            "-0x1.f2d8440000000p+11",
        ),
        "gelu_terms": (8, 8, 6),
        "gelu_w": (0, 0, 1),
    },
    "f64": {
        "gelu_p": _hex(
            "0x1.9884533d43651p-2",
            "-0x1.1058377e2cee0p-4",
            "0x1.46d04297691dap-7",
            "-0x1.37403f6ba10ffp-10",
            "0x1.e42b0d5216d85p-14",
            "-0x1.3ce8fac14997dp-17",
            "0x1.658a2168ffef1p-21",
            "-0x1.622263857dad1p-25",
            "0x1.3876b55bdf047p-29",
            "-0x1.f0493aad91859p-34",
            "0x1.53ac0e18c73a2p-38",
        ),
        "gelu_lo": _hex(
            "0x1.0000000000000p-1",
            "0x1.8000000000000p+0",
            "0x1.8000000000000p+1",
            "0x1.4000000000000p+2",
            "0x1.0000000000000p+3",
            "0x1.6000000000000p+3",
        ),
        "gelu_h": _hex(
            "0x1.9b60a8f996746p+0",
            "-0x1.5890e919d61e7p-1",
            "0x1.a15ea4936318dp-3",
            "-0x1.608bcc5cc3380p-5",
            "0x1.217bf9b0e9202p-8",
            "0x1.d94fdef388141p-11",
            "-0x1.242946ae956a2p-11",
            "0x1.083e7b8b9137bp-13",
            "-0x1.418622a2d8120p-18",
            "-0x1.ddf3c420f00adp-18",
            "0x1.7881a6e467244p-19",
            "-0x1.019d403add9efp-21",
            "-0x1.70f87c53a4234p-26",
            "0x1.2e3498f25e107p-25",
            "-0x1.35e7d44f8cd88p-27",
            "0x1.f979cf77050aap-31",
            "0x1.197f6c99aae2cp+0",
            "-0x1.7fdab3bc38addp-2",
            "0x1.aaddda8c1160bp-4",
            "-0x1.83fbc4fcc9a1bp-6",
            "0x1.126693209b759p-8",
            "-0x1.e4a80a2e249fap-12",
            "-0x1.74766bad16f82p-16",
            "0x1.d3b3a5c6a56adp-16",
            "-0x1.18610c48d6108p-17",
            "0x1.953c543001dcap-20",
            "-0x1.dfd8dcb0b7caap-24",
            "-0x1.2597c6d2ecfdfp-25",
            "0x1.1901cdba5c149p-26",
            "-0x1.fba438d94a735p-29",
            "0x1.0d72e32d3cd99p-31",
            "-0x1.0dbcd8b23f6f5p-35",
            "0x1.6b53b7d17cc81p-1",
            "-0x1.6a388a0eaf2aep-3",
            "0x1.431d35a9af251p-5",
            "-0x1.03267cbca4068p-7",
            "0x1.73c588d624734p-10",
            "-0x1.d3673a56277edp-13",
            "0x1.e789bcf2d1579p-16",
            "-0x1.5d31c9c680b17p-19",
            "-0x1.2701a33816233p-25",
            "0x1.6921d8be08473p-24",
            "-0x1.9a752bde01e83p-26",
            "0x1.3988a14edf4d0p-28",
            "-0x1.5d015ef682113p-31",
            "0x1.0375407492866p-34",
            "-0x1.8169e9338ea6ap-39",
            "0x1.deb74d5bbb375p-2",
            "-0x1.4fb2fd6d33f87p-4",
            "0x1.bc9955e31a001p-7",
            "-0x1.1699b66795c76p-9",
            "0x1.4a5bb17c03732p-12",
            "-0x1.71a554eb5fce6p-15",
            "0x1.83df69ba1aed9p-18",
            "-0x1.790f2350ed7ecp-21",
            "0x1.4b789b4033e09p-24",
            "-0x1.f39dc7380a73fp-28",
            "0x1.1597aa53924a5p-31",
            "-0x1.2bd80777afeaep-37",
            "-0x1.288d152af8699p-38",
            "0x1.9de5faec5a36bp-41",
            "-0x1.158470b05e5dap-44",
            "0x1.472f6fb35b2e8p-49",
            "0x1.3786b0d2236e5p-2",
            "-0x1.2626c497c9ed4p-5",
            "0x1.0e62b0ae60486p-8",
            "-0x1.e4309886f087bp-12",
            "0x1.a659cc31cd48ap-15",
            "-0x1.66cda2c76cecbp-18",
            "0x1.289fe6edbfee2p-21",
            "-0x1.dc80c40784d52p-25",
            "0x1.729a041385a93p-28",
            "-0x1.14845e85fe62bp-31",
            "0x1.81159a846539cp-35",
            "-0x1.d293a15b00bd4p-39",
            "0x1.a7a5ab2f50485p-43",
            "-0x1.9c8208e51e4cbp-48",
            "0x1.40d931ff626ffp+1",
            "-0x1.40d931ff5f1f5p+2",
            "0x1.910f7e79b205cp+4",
            "-0x1.72fb1f51f04cep+7",
            "0x1.ba6ad0d97a699p+10",
            "-0x1.3f9d60b2504fcp+14",
            "0x1.0d6a1d656bd49p+18",
            "-0x1.fa47b59676ab9p+21",
            "0x1.d24a44f3485aep+25",
            "-0x1.215999100bb0bp+29",
        ),
        "gelu_terms": (16, 16, 15, 16, 14, 10),
        "gelu_w": (0, 0, 0, 0, 0, 1),
    },
}
_GELU_TABLES["f32"].update(gelu_b=0.5, gelu_smax=14.0)
_GELU_TABLES["f64"].update(gelu_b=0.5, gelu_smax=38.5)

# softplus: log1p(t) for t = e^-|x| in (0, 1] as 2 atanh(r) = 2 r sum r^2i / (2i + 1), r = t / (2
# + t) <= 1/3: the series to r^14 leaves 2^-27 (float32), to r^32 2^-58 (float64)
# gelu's tanh form: 2 z = a x + b x^3, a = 2 sqrt(2/pi), b = 0.044715 a, each as a sum of two
# values of the dtype (the tail's relative error is |2 z| times z's: z needs more than a dtype)
_GELU_TANH_TABLES: dict[str, dict[str, object]] = {
    "f32": {"gelu_tanh_a_hi": float.fromhex("0x1.988454p+0"),
            "gelu_tanh_a_lo": float.fromhex("-0x1.857936p-25"),
            "gelu_tanh_b_hi": float.fromhex("0x1.2444f2p-4"),
            "gelu_tanh_b_lo": float.fromhex("0x1.49b16ap-29"), "gelu_tanh_xmax": 16.0},
    "f64": {"gelu_tanh_a_hi": float.fromhex("0x1.9884533d43651p+0"),
            "gelu_tanh_a_lo": float.fromhex("-0x1.cbc0d30ebfd15p-54"),
            "gelu_tanh_b_hi": float.fromhex("0x1.2444f2a4d8b4bp-4"),
            "gelu_tanh_b_lo": float.fromhex("-0x1.6c843a29d1c70p-61"), "gelu_tanh_xmax": 32.0},
}  # fmt: skip

_SOFTPLUS_TABLES: dict[str, dict[str, object]] = {
    "f32": {"softplus_q": tuple(1.0 / (2 * i + 1) for i in range(8))},
    "f64": {"softplus_q": tuple(1.0 / (2 * i + 1) for i in range(17))},
}

_ELEMENTWISE_SIZES = (1_000, 1_000_000)
_ELEMENTWISE_CALIBRATION = (1_000, 100_000, 1_000_000)
_ULP = {"cpu": 4, "simd": 4, "gpu": 8}
_SIZED: dict = {"bench_sizes": _ELEMENTWISE_SIZES, "calibrate_sizes": _ELEMENTWISE_CALIBRATION}

OPS: dict[str, Op] = {
    op.name: op
    for op in (
        Op("matmul", "matmul", "Matrix product with numpy.matmul's semantics.",
           numpy=np.matmul, bench_sizes=(64, 256, 1024), calibrate_sizes=(24, 96, 384),
           operator="matmul", ufunc="matmul"),
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
           numpy=np.tanh, reference=_tanh_ref, ulp=_ULP, act_id=2, max_slope=1.0, ufunc="tanh",
           bench_sizes=_ELEMENTWISE_SIZES, calibrate_sizes=_ELEMENTWISE_CALIBRATION),
        Op("gelu", "elementwise",
           "x Phi(x) = x (1 + erf(x / sqrt 2)) / 2, the exact GELU (not the tanh approximation);"
           " -inf gives -0, +inf gives +inf.",
           numpy=_np_gelu, reference=_gelu_ref, ulp=_ULP, act_id=3, max_slope=1.0682,
           bench_sizes=_ELEMENTWISE_SIZES, calibrate_sizes=_ELEMENTWISE_CALIBRATION,
           tables=_GELU_TABLES),
        Op("silu", "elementwise",
           "x sigmoid(x) (SiLU, swish); -inf gives -0, +inf gives +inf.",
           numpy=lambda x: x / (1 + np.exp(-x)), reference=_silu_ref, ulp=_ULP, act_id=4,
           max_slope=1.0999, bench_sizes=_ELEMENTWISE_SIZES,
           calibrate_sizes=_ELEMENTWISE_CALIBRATION),
        Op("softplus", "elementwise",
           "log(1 + e^x), with no overflow: x where e^-x is below half an ulp of x; +inf gives "
           "+inf, -inf gives 0.",
           numpy=lambda x: np.logaddexp(0, x), reference=_softplus_ref, ulp=_ULP, act_id=5,
           max_slope=1.0, bench_sizes=_ELEMENTWISE_SIZES,
           calibrate_sizes=_ELEMENTWISE_CALIBRATION, tables=_SOFTPLUS_TABLES),
        Op("gelu_tanh", "elementwise",
           "The tanh approximation of GELU, 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))), as "
           "GPT-2 uses it: accel.gelu(x, approximate=\"tanh\"), activation=\"gelu_tanh\".",
           numpy=_np_gelu_tanh, reference=_gelu_tanh_ref, ulp=_ULP, act_id=6, max_slope=1.13,
           bench_sizes=_ELEMENTWISE_SIZES, calibrate_sizes=_ELEMENTWISE_CALIBRATION,
           tables=_GELU_TANH_TABLES, public=False, form_of=("gelu", "tanh")),
        Op("copy", "map", "The data of an array in a new C-contiguous buffer (a view's copy).",
           numpy=np.copy, kernel_id=0, public=False),
        Op("negative", "map", "-x, exactly (the sign bit flipped: -0 for 0, NaN stays NaN).",
           numpy=np.negative, kernel_id=1, operator="neg", ufunc="negative", **_SIZED),
        Op("add", "binary", "x1 + x2, broadcast as numpy does.", numpy=np.add, kernel_id=2,
           operator="add", ufunc="add", **_SIZED),
        Op("subtract", "binary", "x1 - x2, broadcast as numpy does.", numpy=np.subtract,
           kernel_id=3, operator="sub", ufunc="subtract", **_SIZED),
        Op("multiply", "binary", "x1 * x2, broadcast as numpy does.", numpy=np.multiply,
           kernel_id=4, operator="mul", ufunc="multiply", **_SIZED),
        Op("divide", "binary", "x1 / x2, broadcast as numpy does.", numpy=np.divide,
           ulp={"cpu": 1, "simd": 1, "gpu": 3}, kernel_id=5, operator="truediv",
           ufunc="divide", **_SIZED),
        Op("maximum", "binary", "The larger of x1 and x2, NaN where either is NaN (numpy's).",
           numpy=np.maximum, kernel_id=6, ufunc="maximum", **_SIZED),
        Op("minimum", "binary", "The smaller of x1 and x2, NaN where either is NaN (numpy's).",
           numpy=np.minimum, kernel_id=7, ufunc="minimum", **_SIZED),
        Op("sum", "reduction", "The sum over axes, in a fixed order; NaN propagates.",
           numpy=np.sum, kernel_id=0, **_SIZED),
        Op("mean", "reduction", "The mean over axes: the sum in a fixed order, divided by n.",
           numpy=np.mean, kernel_id=1, **_SIZED),
        Op("max", "reduction", "The largest value over axes; NaN where any is NaN.",
           numpy=np.max, kernel_id=2, **_SIZED),
        Op("layer_norm", "norm",
           "(x - mean) / sqrt(var + eps) * weight + bias over the last axis, the biased "
           "variance in two passes.",
           numpy=lambda x: (x - x.mean(-1, keepdims=True)) / np.sqrt(x.var(-1, keepdims=True)
                                                                     + 1e-5),
           kernel_id=0, defaults={"eps": 1e-5}, **_SIZED),
        Op("rms_norm", "norm", "x / sqrt(mean(x^2) + eps) * weight over the last axis.",
           numpy=lambda x: x / np.sqrt((x * x).mean(-1, keepdims=True) + 1e-6), kernel_id=1,
           defaults={"eps": 1e-6}, **_SIZED),
        Op("reshape", "shape", "x with a new shape of the same size (a view where it can).",
           numpy=np.reshape),
        Op("permute_dims", "shape", "x with its axes in a new order (a view).",
           numpy=np.transpose),
        Op("matrix_transpose", "shape", "x with its last two axes swapped (a view).",
           numpy=lambda x: np.swapaxes(x, -1, -2)),
        Op("concat", "shape", "Arrays joined along an existing axis.", numpy=np.concatenate),
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
