"""The capability probe: what each backend of the chain can do on this machine.

`probe()` returns the document `accel probe --json` prints; `format_table()` renders it for
people. Each backend gets a smoke test: a small matmul, a linear layer and every activation
of the op table checked against numpy with the contract's bounds, each error reported in its
unit (ulps for activations, a fraction of the bound for matmul and linear).
"""

from __future__ import annotations

import platform
import sys
import textwrap
from importlib import metadata

import numpy as np

from . import _cost, _selection, backends
from ._ops import PUBLIC, PUBLIC_FORMS
from ._optable import OPS
from ._version import __version__


def _version(dist: str) -> str | None:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def _smoke(name: str) -> dict:
    """Each op on small data against numpy: ok, the worst error as a fraction of its bound
    (`max_error`, <= 1 passes), and each op's error in its own unit."""
    from .testing import reference

    rng = np.random.default_rng(0)
    checks: dict[str, dict] = {}
    try:
        a = rng.standard_normal((37, 29)).astype(np.float32)
        b = rng.standard_normal((29, 45)).astype(np.float32)
        frac = reference.check_matmul(a, b, PUBLIC["matmul"](a, b, backend=name), name)
        checks["matmul"] = {"error": frac, "unit": "fraction of the bound", "of_bound": frac}
        bias = rng.standard_normal(45).astype(np.float32)
        y = PUBLIC["linear"](a, b, bias, activation="tanh", backend=name)
        ulps = reference.check_linear(a, b, bias, "tanh", y, name)
        checks["linear"] = {"error": ulps, "unit": "ulp beyond the carried bound",
                            "of_bound": ulps / reference.ulp_bound("tanh", name)}  # fmt: skip
        x = np.concatenate([rng.standard_normal(200) * 4, [np.inf, -np.inf, 0.0, -0.0, np.nan]])
        x = x.astype(np.float32)
        for op_name, op in OPS.items():
            if op.family not in ("elementwise", "softmax"):
                continue
            data = x if op.family == "elementwise" else x[:200].reshape(8, 25)
            ulps = reference.check_activation(op_name, data, PUBLIC_FORMS[op_name](
                data, backend=name), name)  # fmt: skip
            bound = reference.ulp_bound(op_name, name)
            checks[op_name] = {"error": ulps, "unit": "ulp", "bound": bound,
                               "of_bound": ulps / bound if bound else float(ulps > 0)}  # fmt: skip
    except Exception as e:  # report, never raise: the probe must always answer
        worst = max((c["of_bound"] for c in checks.values()), default=0.0)
        return {"ok": False, "max_error": worst, "checks": checks,
                "error": " ".join(f"{type(e).__name__}: {e}".split())}  # fmt: skip
    worst = max(c["of_bound"] for c in checks.values())
    return {"ok": True, "max_error": worst, "checks": checks, "error": None}


def _not_auto_because(b: backends.Backend) -> str | None:
    if b.unavailable_reason() is not None:
        return "unavailable"
    if not b.auto_eligible():
        return "software adapter" if getattr(b, "software", False) else "not eligible"
    return None


def _record(name: str, smoke: bool) -> dict:
    b = backends.get(name)
    reason = b.unavailable_reason()
    available = reason is None
    details = b.details()
    if available:
        details.update(b.probe_timings())
    return {
        "name": name,
        "available": available,
        "reason": reason,
        "dtypes": sorted(d.name for d in b.dtypes()) if available else [],
        "auto": bool(available and b.auto_eligible()),
        "not_auto_because": _not_auto_because(b),
        "details": details,
        "smoke": _smoke(name) if available and smoke else None,
    }


def probe(smoke: bool = True) -> dict:
    """The probe document (see docs/probe.md for its keys). A backend that marked itself
    unusable after a failure (a lost GPU device) is probed afresh."""
    from ._environment import environment

    backends.reprobe_failed()
    env = _selection.env_text()
    try:
        selection = _selection.current().text
        selection_error = None
    except ValueError as e:
        selection, selection_error = env, str(e)
    return {
        "accel_version": __version__,
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "versions": {d: _version(d) for d in ("numpy", "cffi", "wasmtime", "wgpu")},
        "selection": {
            "value": selection,
            "source": _selection.source(),
            "ACCEL_BACKEND": env or None,
            "error": selection_error,
        },
        "environment": environment(),
        "backends": [_record(name, smoke) for name in _selection.BACKENDS],
        "cost_model": _cost.model().source,
    }


def selection_runnable(doc: dict) -> bool:
    """False when ACCEL_BACKEND names a backend that cannot run (or is not a selection)."""
    sel = doc["selection"]
    if sel["ACCEL_BACKEND"] is None:
        return True
    if sel["error"]:
        return False
    names = _selection.parse(sel["ACCEL_BACKEND"]).names
    usable = {b["name"] for b in doc["backends"] if b["available"]}
    return any(n in usable for n in names)


def smoke_failed(doc: dict) -> list[str]:
    """The backends whose smoke test failed."""
    return [b["name"] for b in doc["backends"] if b["smoke"] is not None and not b["smoke"]["ok"]]


def _fmt(v: object) -> str:
    if isinstance(v, float):
        return f"{v:.3g}"
    if isinstance(v, dict):
        return "{" + ", ".join(f"{k}={_fmt(x)}" for k, x in v.items()) + "}"
    if isinstance(v, list):
        return ",".join(str(x) for x in v)
    return str(v)


def format_table(doc: dict, width: int = 100) -> str:
    rows = [("backend", "available", "auto", "dtypes", "smoke")]
    notes = []
    for b in doc["backends"]:
        auto = "yes" if b["auto"] else f"no ({b['not_auto_because']})"
        smoke = b["smoke"]
        if smoke is None:
            s = "-"
        elif smoke["ok"]:
            s = f"ok, worst {smoke['max_error']:.2f} of bound"
        else:
            s = "FAILED"
        rows.append((b["name"], "yes" if b["available"] else "no", auto,
                     ",".join(b["dtypes"]) or "-", s))  # fmt: skip
        if b["available"]:
            text = ", ".join(f"{k}={_fmt(v)}" for k, v in b["details"].items())
            if smoke is not None:
                text += "; smoke: " + ", ".join(
                    f"{op} {c['error']:.2g} {'ulp' if c['unit'] == 'ulp' else 'of bound'}"
                    for op, c in smoke["checks"].items()
                )
                if not smoke["ok"]:
                    text += f"; ERROR: {smoke['error']}"
        else:
            text = f"why: {b['reason']}"
        notes.append((b["name"], text))
    widths = [max(len(str(r[i])) for r in rows) for i in range(5)]
    lines = [
        f"accel {doc['accel_version']} on Python {doc['python']}, {doc['platform']}",
        "versions: " + ", ".join(f"{k} {v or '-'}" for k, v in doc["versions"].items()),
        f"selection: {doc['selection']['value']} (from {doc['selection']['source']})",
        f"auto's cost model: {doc['cost_model']}",
        "",
    ]
    lines += ["  ".join(str(c).ljust(w) for c, w in zip(r, widths, strict=True)).rstrip()
              for r in rows]  # fmt: skip
    lines.append("")
    for name, text in notes:
        lines += textwrap.wrap(text, width, initial_indent=f"{name}: ",
                               subsequent_indent=" " * (len(name) + 2))  # fmt: skip
    env = doc.get("environment", {})
    for problem in env.get("problems", []):
        lines.append(f"warning: {problem}")
    if doc["selection"]["error"]:
        lines.append(f"error: {doc['selection']['error']}")
    return "\n".join(lines)
