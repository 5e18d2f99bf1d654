"""The `accel` command line: `accel probe [--json]`."""

from __future__ import annotations

import argparse
import json
import sys


def _probe(args: argparse.Namespace) -> int:
    from .probe import format_table, probe, selection_runnable

    doc = probe()
    if args.json:
        json.dump(doc, sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        print(format_table(doc))
    if not selection_runnable(doc):
        print(f"accel: ACCEL_BACKEND={doc['selection']['ACCEL_BACKEND']!r} cannot run here",
              file=sys.stderr)  # fmt: skip
        return 1
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="accel", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("probe", help="what each backend can do on this machine")
    p.add_argument("--json", action="store_true", help="print one JSON document")
    p.set_defaults(run=_probe)
    args = parser.parse_args(argv)
    return args.run(args)


if __name__ == "__main__":
    sys.exit(main())
