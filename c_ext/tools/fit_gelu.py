"""Fits the polynomial coefficients of the GELU kernels (c_ext/kernels_type.h, shaders/) and
prints them. Not run by the build: the coefficients are committed; this script shows where
they come from and lets anyone refit them. Needs mpmath (high-precision reference) and numpy.

gelu(x) = x Phi(x), Phi the standard normal CDF, computed in three regions:

  |x| <= B:  Phi = 1/2 + x P(x^2)          P even part of (Phi(x) - 1/2) / x, a polynomial in x^2
  x < -B:    Phi = E / G(s),  s = -x       E = exp(-x^2/2) from an exact split of x^2
  x >  B:    Phi = 1 - E / G(x)

G(s) = exp(-s^2/2) / Phi(-s) = sqrt(2 pi) (s + g(s)), with g smooth and about 1/s for large s:
G = fma(sqrt(2 pi), s, H(s)), H = sqrt(2 pi) g fitted in pieces. An error d in H moves G by
d H / G, which shrinks like 1/s^2: the pieces for large s need little relative accuracy.

Each polynomial is fitted for least maximum relative error (Lawson's iteratively reweighted
least squares on Chebyshev nodes, in 50-digit arithmetic) and rounded to the dtype.

    python c_ext/tools/fit_gelu.py
"""

from __future__ import annotations

import mpmath as mp

mp.mp.dps = 50
SQRT2PI = mp.sqrt(2 * mp.pi)


def phi_lower(s):
    """Phi(-s) = erfc(s / sqrt 2) / 2"""
    return mp.erfc(s / mp.sqrt(2)) / 2


def fit(f, lo, hi, degree, var=lambda s: s, nodes=200, iterations=20):
    """Coefficients c[0..degree] of sum c_i v^i, v = var(s), approximating f(s) on [lo, hi]
    for least maximum relative error; returns (coefficients, max relative error)."""
    pts = [
        (lo + hi) / 2 + (hi - lo) / 2 * mp.cos(mp.pi * (i + mp.mpf(1) / 2) / nodes)
        for i in range(nodes)
    ]
    vals = [f(s) for s in pts]
    vs = [var(s) for s in pts]
    w = [mp.mpf(1)] * nodes
    coeffs = None
    for _ in range(iterations):
        rows = [[w[i] * vs[i] ** j / vals[i] for j in range(degree + 1)] for i in range(nodes)]
        rhs = [w[i] for i in range(nodes)]
        coeffs = mp.qr_solve(mp.matrix(rows), mp.matrix(rhs))[0]
        errs = [
            abs(sum(coeffs[j] * vs[i] ** j for j in range(degree + 1)) / vals[i] - 1)
            for i in range(nodes)
        ]
        total = sum(w[i] * errs[i] for i in range(nodes))
        w = [w[i] * errs[i] / total * nodes for i in range(nodes)]
    return [coeffs[j] for j in range(degree + 1)], max(errs)


def h_of(s):
    """H(s) = G(s) - sqrt(2 pi) s"""
    return mp.exp(-s * s / 2) / phi_lower(s) - SQRT2PI * s


# per dtype: the bound B of the middle region, the degree of P, and the pieces of H:
# (lo, hi, degree, variable): "s" for a polynomial in s - lo, "w" for s H(s) in w = 1/s^2
# The pieces for large s are in w: there s H(s) is nearly a polynomial in 1/s^2 (its asymptotic
# series), while in s it behaves like 1/s and needs many terms; below s ~ 10 the asymptotic
# series diverges too early and w fits poorly, so s is used there.
SPECS = {
    "float32": dict(
        B=0.5, p_deg=5, pieces=[(0.5, 2.0, 7, "s"), (2.0, 4.5, 7, "s"), (4.5, 14.0, 5, "w")]
    ),
    "float64": dict(
        B=0.5,
        p_deg=10,
        pieces=[
            (0.5, 1.5, 15, "s"),
            (1.5, 3.0, 15, "s"),
            (3.0, 5.0, 14, "s"),
            (5.0, 8.0, 15, "s"),
            (8.0, 11.0, 13, "s"),
            (11.0, 38.5, 9, "w"),
        ],
    ),
}


def c_list(coeffs, cast) -> str:
    """C / WGSL hex-float literals, highest degree last, as the kernels' tables hold them."""
    import numpy as np

    suffix = "f" if cast is np.float32 else ""
    return ", ".join(float(cast(float(c))).hex() + suffix for c in coeffs)


def main() -> None:
    import numpy as np

    for dtype, spec in SPECS.items():
        cast = np.float32 if dtype == "float32" else np.float64
        b = mp.mpf(spec["B"])
        # P(v) = (Phi(x) - 1/2) / x with v = x^2
        p, err = fit(
            lambda x: (mp.ncdf(x) - mp.mpf(1) / 2) / x,
            mp.mpf("1e-6"),
            b,
            spec["p_deg"],
            var=lambda x: x * x,
        )
        print(f"{dtype}: P on |x| <= {b}: max rel error {float(err):.3g}")
        print("   " + c_list(p, cast))
        for lo, hi, deg, kind in spec["pieces"]:
            lo, hi = mp.mpf(lo), mp.mpf(hi)
            if kind == "s":  # H(s) as a polynomial in s - lo
                c, err = fit(h_of, lo, hi, deg, var=lambda s, lo=lo: s - lo)
            else:  # s H(s) as a polynomial in w = 1/s^2
                c, err = fit(lambda s: s * h_of(s), lo, hi, deg, var=lambda s: 1 / (s * s))
            g_over = max(h_of(s) / (SQRT2PI * s + h_of(s)) for s in (lo, hi))
            print(
                f"{dtype}: H on [{lo}, {hi}] ({kind}), degree {deg}: max rel error "
                f"{float(err):.3g}, in G {float(err * g_over):.3g}"
            )
            print("   " + c_list(c, cast))


if __name__ == "__main__":
    main()
