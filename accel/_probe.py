"""The capability probe: what each backend of the chain can do on this machine.

`probe()` returns the document `accel probe --json` prints; `format_table()` renders it for
people. Each backend gets a smoke test: a small matmul and every activation checked against
numpy with the bounds of DESIGN.md.
"""

from __future__ import annotations

import platform
import sys
from importlib import metadata

import numpy as np

from . import _cost, _selection, backends
from ._ops import ELEMENTWISE_OPS
from ._version import __version__


def _version(dist: str) -> str | None:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def _smoke(name: str) -> dict:
    """A small matmul and each activation against numpy; ok and the worst error found (as a
    fraction of the matmul bound, in ulps for the activations)."""
    import accel
    from accel.testing import reference

    rng = np.random.default_rng(0)
    worst = 0.0
    try:
        a = rng.standard_normal((37, 29)).astype(np.float32)
        b = rng.standard_normal((29, 45)).astype(np.float32)
        worst = max(worst, reference.check_matmul(a, b, accel.matmul(a, b, backend=name), name))
        x = np.concatenate([rng.standard_normal(200) * 4, [np.inf, -np.inf, 0.0, np.nan]])
        x = x.astype(np.float32)
        for op in ELEMENTWISE_OPS:
            y = getattr(accel, op)(x, backend=name)
            worst = max(worst, reference.check_activation(op, x, y, name))
    except Exception as e:  # report, never raise: the probe must always answer
        return {"ok": False, "max_error": worst, "error": f"{type(e).__name__}: {e}"}
    return {"ok": True, "max_error": worst}


def _record(name: str, smoke: bool) -> dict:
    b = backends.get(name)
    reason = b.unavailable_reason()
    available = reason is None
    rec = {
        "name": name,
        "available": available,
        "reason": reason,
        "dtypes": sorted(d.name for d in b.dtypes()) if available else [],
        "auto": bool(available and b.auto_eligible()),
        "details": {
            **b.details(),
            **(b.load_times() if hasattr(b, "load_times") and available else {}),
        },
        "smoke": _smoke(name) if available and smoke else None,
    }
    if available and hasattr(b, "load_times"):  # simd: compile and cached-load times, now
        rec["details"].update(b.load_times())
    return rec


def probe(smoke: bool = True) -> dict:
    """The probe document (see the README for its keys). A backend that marked itself
    unusable after a failure (a lost GPU device) is probed afresh."""
    from . import _dispatch

    if backends.reprobe_failed():
        _dispatch.invalidate()
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


def format_table(doc: dict) -> str:
    rows = [("backend", "available", "auto", "dtypes", "smoke", "details / reason")]
    for b in doc["backends"]:
        if b["available"]:
            info = ", ".join(
                f"{k}={v:.2f}" if isinstance(v, float) else f"{k}={v}"
                for k, v in b["details"].items()
                if not isinstance(v, dict | list)
            )
            smoke = b["smoke"]
            s = "-" if smoke is None else ("ok" if smoke["ok"] else "FAIL")
            if smoke is not None:
                s += f" ({smoke['max_error']:.2g})"
        else:
            info, s = b["reason"], "-"
        rows.append((b["name"], "yes" if b["available"] else "no", "yes" if b["auto"] else "no",
                     ",".join(b["dtypes"]) or "-", s, info))  # fmt: skip
    widths = [max(len(str(r[i])) for r in rows) for i in range(5)]
    lines = [
        f"accel {doc['accel_version']} on Python {doc['python']}, {doc['platform']}",
        "versions: " + ", ".join(f"{k} {v or '-'}" for k, v in doc["versions"].items()),
        f"selection: {doc['selection']['value']} (from {doc['selection']['source']})",
        f"auto's cost model: {doc['cost_model']}",
        "",
    ]
    for r in rows:
        lines.append(
            "  ".join(str(c).ljust(w) for c, w in zip(r[:5], widths, strict=True))
            + "  "
            + str(r[5])
        )
    if doc["selection"]["error"]:
        lines.append(f"\nerror: {doc['selection']['error']}")
    return "\n".join(lines)
