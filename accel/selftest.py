"""`accel selftest`: the shipped property-based suite (accel.testing.properties, the same one
the repository's tests run) on every backend this machine can run, a software GPU adapter
included, as a pass/fail table per backend and op: every op of the op table."""

from __future__ import annotations

import sys
import time

from . import _selection, backends
from ._optable import OPS

EXAMPLES = {"quick": 15, "default": 60, "thorough": 400}


def run(
    level: str = "default", names: list[str] | None = None, progress: bool = True
) -> list[dict]:
    try:
        from .testing.properties import properties
    except ImportError as e:  # hypothesis is a test extra
        raise SystemExit(
            f"accel selftest needs Hypothesis ({e}): pip install 'accel-chain[selftest]'"
        ) from e
    results = []
    for name in names or _selection.BACKENDS:
        reason = backends.get(name).unavailable_reason()
        if reason is not None:
            results.append({"backend": name, "op": "*", "ok": None, "detail": reason})
            continue
        props = properties(name, max_examples=EXAMPLES[level])
        for op in OPS:
            if progress:
                sys.stderr.write(f"\r{name} {op}...{' ' * 20}")
                sys.stderr.flush()
            t0 = time.perf_counter()
            try:
                props[op]()
                ok, detail = True, ""
            except Exception as e:  # a failed property: report its first lines
                ok, detail = False, " ".join(str(e).split())[:300]
            results.append({"backend": name, "op": op, "ok": ok, "detail": detail,
                            "seconds": round(time.perf_counter() - t0, 2)})  # fmt: skip
    if progress:
        sys.stderr.write("\r" + " " * 40 + "\r")
    return results


def table(results: list[dict]) -> str:
    lines = [f"{'backend':8} {'op':8} result"]
    for r in results:
        if r["ok"] is None:
            lines.append(f"{r['backend']:8} {'-':8} skipped: unavailable ({r['detail']})")
        else:
            status = "pass" if r["ok"] else f"FAIL: {r['detail']}"
            lines.append(f"{r['backend']:8} {r['op']:8} {status} ({r['seconds']} s)")
    return "\n".join(lines)
