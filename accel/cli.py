"""The `accel` command line (also `python -m accel`):

accel probe [--json]            what each backend can do here
accel bench [options]           every op x size x backend against numpy, same run
accel selftest [--quick|--thorough]  the property-based suite on every backend here
accel calibrate                 measure this machine for auto's cost model
accel --version

Bad arguments are reported before any work starts, with exit status 2.
"""

from __future__ import annotations

import argparse
import json
import sys


def _probe(args: argparse.Namespace) -> int:
    from ._probe import format_table, probe, selection_runnable, smoke_failed

    doc = probe()
    if args.json:
        json.dump(doc, sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        print(format_table(doc))
    status = 0
    if not selection_runnable(doc):
        print(f"accel: ACCEL_BACKEND={doc['selection']['ACCEL_BACKEND']!r} cannot run here",
              file=sys.stderr)  # fmt: skip
        status = 1
    for name in smoke_failed(doc):
        record = next(b for b in doc["backends"] if b["name"] == name)
        print(f"accel: the {name} backend failed its smoke test: {record['smoke']['error']}",
              file=sys.stderr)  # fmt: skip
        status = 1
    return status


def _csv(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


def _sizes(text: str) -> list[int]:
    """argparse type of --sizes: positive whole numbers (1e6 and 1_000_000 allowed)."""
    sizes = []
    for part in _csv(text):
        try:
            value = float(part.replace("_", ""))
        except ValueError:
            raise argparse.ArgumentTypeError(f"{part!r} is not a number") from None
        if not value.is_integer() or value < 1:
            raise argparse.ArgumentTypeError(f"{part!r} is not a positive whole number")
        sizes.append(int(value))
    if not sizes:
        raise argparse.ArgumentTypeError("give at least one size")
    return sizes


def _backend_list(parser: argparse.ArgumentParser, text: str | None, allow_auto: bool):
    """The names of --backends, or the parser's error (exit status 2) for an unknown one."""
    from ._selection import BACKENDS

    if text is None:
        return None
    names = _csv(text)
    valid = [*BACKENDS, *(["auto"] if allow_auto else [])]
    unknown = [n for n in names if n not in valid]
    if unknown or not names:
        parser.error(f"--backends: unknown {', '.join(map(repr, unknown)) or 'empty list'}; "
                     f"choose from {', '.join(valid)}")  # fmt: skip
    return names


def _bench(args: argparse.Namespace) -> int:
    import numpy as np

    from . import bench
    from ._dispatch import available_backends
    from ._optable import OPS

    ops = _csv(args.ops) if args.ops else [name for name, op in OPS.items() if op.bench_sizes]
    unknown = [op for op in ops if op not in OPS]
    if unknown:
        args.parser.error(f"--ops: unknown {', '.join(map(repr, unknown))}; choose from "
                          f"{', '.join(OPS)}")  # fmt: skip
    names = _backend_list(args.parser, args.backends, allow_auto=True)
    if args.plot and bench.plot_available():
        args.parser.error(bench.plot_available())
    warning = bench.openblas_warning()
    if warning:
        print(f"accel bench: warning: {warning}", file=sys.stderr)
    names = names or [*available_backends(), "auto"]
    records = bench.run(ops, args.sizes, names, np.dtype(args.dtype), args.repeat, progress=True)
    if args.json:
        doc = json.dumps({"records": records}, indent=1)
        if args.json == "-":
            print(doc)
        else:
            with open(args.json, "w") as f:
                f.write(doc + "\n")
    if args.json != "-":
        print(bench.table(records))
    if args.plot:
        bench.plot(records, args.plot)
    return 0


def _selftest(args: argparse.Namespace) -> int:
    from . import selftest

    level = "quick" if args.quick else "thorough" if args.thorough else "default"
    names = _backend_list(args.parser, args.backends, allow_auto=False)
    results = selftest.run(level, names)
    print(selftest.table(results))
    failed = [r for r in results if r["ok"] is False]
    print(f"\n{sum(r['ok'] is True for r in results)} passed, {len(failed)} failed")
    return 1 if failed else 0


def _calibrate(args: argparse.Namespace) -> int:
    from . import bench, calibrate

    warning = bench.openblas_warning()
    if warning:
        print(f"accel calibrate: warning: {warning}", file=sys.stderr)
    doc = calibrate.calibrate()
    for rec in doc["params"]:
        overhead_us, per_unit_ns = rec["overhead_s"] * 1e6, rec["per_unit_s"] * 1e9
        print(f"{rec['backend']:5} {rec['dtype']:8} {rec['op']:8} overhead {overhead_us:8.2f} us, "
              f"{per_unit_ns:.4g} ns per unit")  # fmt: skip
    for rec in doc.get("gpu_matmul", []):
        print(f"gpu matmul on {rec['adapter']}: {rec['variant']} for large products, "
              f"{rec['small_variant']} for small ones")  # fmt: skip
    direct = doc.get("cpu_direct")
    if direct is not None:
        times = ", ".join(f"{r} L2s {t * 1e3:.2f} ms" for r, t in direct["seconds"].items())
        print(f"cpu matmul: B unpacked up to {direct['reread']} L2 caches ({times})")
    blocking = doc.get("cpu_blocking")
    if blocking is not None:
        times = ", ".join(f"{p} {t * 1e3:.2f} ms" for p, t in blocking["seconds"].items())
        print(f"cpu matmul: blocks fill {blocking['l1']} of the L1 and {blocking['l2']} of the "
              f"L2 ({times})")
    print(f"saved to {doc['path']}; auto uses it from now on")
    return 0


def main(argv: list[str] | None = None) -> int:
    from ._version import __version__

    parser = argparse.ArgumentParser(
        prog="accel", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--version", action="version", version=f"accel-chain {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("probe", help="what each backend can do on this machine")
    p.add_argument("--json", action="store_true", help="print one JSON document")
    p.set_defaults(run=_probe)

    p = sub.add_parser("bench", help="time ops on each backend against numpy")
    p.add_argument("--ops", help="comma list (default: all)")
    p.add_argument("--sizes", type=_sizes,
                   help="comma list: n for matmul and linear, elements otherwise")  # fmt: skip
    p.add_argument("--backends", help="comma list of backends and/or auto (default: all here)")
    p.add_argument("--dtype", default="float32", choices=["float32", "float64"])
    p.add_argument("--repeat", type=_positive, default=5,
                   help="timed repeats at least (default 5)")  # fmt: skip
    p.add_argument("--json", metavar="PATH|-", help="write the records as JSON (- for stdout)")
    p.add_argument("--plot", metavar="PATH.png", help="plot speed against size (matplotlib)")
    p.set_defaults(run=_bench)

    p = sub.add_parser("selftest", help="the property-based suite on every backend here")
    level = p.add_mutually_exclusive_group()
    level.add_argument("--quick", action="store_true", help="few examples per property")
    level.add_argument("--thorough", action="store_true", help="many examples per property")
    p.add_argument("--backends", help="comma list (default: every backend of the chain)")
    p.set_defaults(run=_selftest)

    p = sub.add_parser("calibrate", help="measure this machine for auto's cost model")
    p.set_defaults(run=_calibrate)

    args = parser.parse_args(argv)
    args.parser = next(a for a in sub.choices.values() if a.prog.endswith(args.command))
    return args.run(args)


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not positive")
    return value


if __name__ == "__main__":
    sys.exit(main())
