"""What the kernels take from the op table, written for each language: the activation ids
and the coefficient tables.

- C (the native kernels and the WebAssembly module): c_ext/activations.h (the ids, and
  ACCEL_ACTIVATIONS, an X-macro over them that the kernels expand into their switch and loop
  tables) and c_ext/coefficients.h (the tables, per dtype). Both are generated files, committed
  so that a build needs no Python step: after changing the op table, run

      python -m accel._codegen          # writes them
      python -m accel._codegen --check  # exit 1 when they are not current (a test runs it)

- WGSL: `wgsl(dtype)`, which the gpu backend puts into every kernel it builds: the tables as
  constants, expm1's polynomial, and the `activate` switch over the activation ids.
"""

from __future__ import annotations

import functools
import pathlib
import sys

from ._optable import ACTIVATIONS, OPS, SHARED_TABLES

_HEADER = "generated from accel/_optable.py by `python -m accel._codegen`: do not edit"
_C_EXT = pathlib.Path(__file__).resolve().parent.parent / "c_ext"


def _tables(sfx: str) -> dict[str, object]:
    """Every table of one dtype ("f32", "f64"): the shared ones, then each op's, in table
    order."""
    found: dict[str, object] = dict(SHARED_TABLES[sfx])
    for op in OPS.values():
        found.update(op.tables.get(sfx, {}))
    return found


def _c_float(v: float, sfx: str) -> str:
    return v.hex() + ("f" if sfx == "f32" else "")


def activations_h() -> str:
    members = ",\n".join(
        f"    ACT_{name.upper()} = {op.act_id}" for name, op in ACTIVATIONS.items()
    )
    xs = " \\\n".join(f"    X({name.upper()}, {name})" for name in ACTIVATIONS)
    return f"""/* activations.h: the ids of the activations.
 * {_HEADER}.
 * The native kernels, the WebAssembly module and (through cffi) Python share them;
 * ACT_NONE is the identity (a linear layer without activation). ACCEL_ACTIVATIONS(X) expands
 * X(ID, name) once per activation, in id order. */
#ifndef ACCEL_ACTIVATIONS_H
#define ACCEL_ACTIVATIONS_H
enum accel_activation {{
    ACT_NONE = -1,
{members}
}};
#define ACCEL_ACTIVATIONS(X) \\
{xs}
#endif
"""


def maps_h() -> str:
    def family(name: str) -> list:
        return sorted((op.kernel_id, op_name) for op_name, op in OPS.items()
                      if op.family in ((name,) if name != "map" else ("map", "binary")))

    maps = family("map")
    members = ",\n".join(f"    MAP_{name.upper()} = {i}" for i, name in maps)
    xs = " \\\n".join(f"    X({name.upper()}, {name})" for _i, name in maps)
    reduce_ = ", ".join(f"REDUCE_{name.upper()} = {i}" for i, name in family("reduction"))
    norms = ", ".join(f"NORM_{name.split('_')[0].upper()} = {i}" for i, name in family("norm"))
    return f"""/* maps.h: the ids of the map, reduction and norm kernels.
 * {_HEADER}.
 * ACCEL_MAPS(X) expands X(ID, name) once per map op (the copy of a view, negative, and the
 * binary ops), in id order. */
#ifndef ACCEL_MAPS_H
#define ACCEL_MAPS_H
enum accel_map {{
{members}
}};
#define ACCEL_MAPS(X) \\
{xs}
enum accel_reduce {{ {reduce_} }};
enum accel_norm {{ {norms} }};
#endif
"""


def _c_block(sfx: str) -> str:
    lines = []
    for name, value in _tables(sfx).items():
        if isinstance(value, float):
            lines.append(f"#define {name.upper()} ({_c_float(value, sfx)})")
            continue
        values = tuple(value)  # type: ignore[arg-type]
        if all(isinstance(v, int) for v in values):
            body = ", ".join(str(v) for v in values)
            lines.append(f"static const int FN({name})[] = {{{body}}};")
        else:
            body = ",\n    ".join(_c_float(float(v), sfx) for v in values)
            lines.append(f"static const T FN({name})[] = {{\n    {body}}};")
    return "\n".join(lines)


def coefficients_h() -> str:
    return f"""/* coefficients.h: the kernels' coefficient tables.
 * {_HEADER}.
 * Included by kernels_type.h once per dtype, with T, TS, IS_F32 and FN defined; the names
 * defined here are undefined at the end of kernels_type.h. */
#if IS_F32
{_c_block("f32")}
#else
{_c_block("f64")}
#endif
"""


def _wgsl_value(v: float) -> str:
    return v.hex()


@functools.lru_cache(maxsize=2)
def wgsl(sfx: str) -> str:
    """The generated part of every WGSL kernel of one dtype ("f32", "f64"), after its prelude
    (which defines T)."""
    lines = [f"// {_HEADER}"]
    for name, value in _tables(sfx).items():
        upper = name.upper()
        if name == "expm1_q":  # Horner's scheme, written out: the hot path of every exp
            coeffs = tuple(value)  # type: ignore[arg-type]
            lines.append("fn expm1_q(r: T) -> T {")
            lines.append(f"    var q = T({_wgsl_value(coeffs[-1])});")
            for c in reversed(coeffs[:-1]):
                lines.append(f"    q = fma(q, r, T({_wgsl_value(c)}));")
            lines.append("    return q;\n}")
        elif isinstance(value, float):
            lines.append(f"const {upper}: T = T({_wgsl_value(value)});")
        else:
            values = tuple(value)  # type: ignore[arg-type]
            ints = all(isinstance(v, int) for v in values)
            kind, body = ("u32", ", ".join(f"{v}u" for v in values)) if ints else (
                "T", ", ".join(_wgsl_value(float(v)) for v in values))  # fmt: skip
            lines.append(f"const {upper}_LEN: u32 = {len(values)}u;")
            lines.append(f"const {upper} = array<{kind}, {len(values)}>({body});")
    cases = "\n".join(f"        case {op.act_id}: {{ return {name}_f(v, zero); }}"
                      for name, op in ACTIVATIONS.items())  # fmt: skip
    lines.append(f"fn activate(v: T, zero: u32) -> T {{\n    switch ACT {{\n{cases}\n"
                 "        default: { return v; }\n    }\n}")  # fmt: skip
    return "\n".join(lines) + "\n"


GENERATED = {"activations.h": activations_h, "coefficients.h": coefficients_h, "maps.h": maps_h}


def main(argv: list[str]) -> int:
    stale = []
    for name, make in GENERATED.items():
        path = _C_EXT / name
        text = make()
        current = path.read_text() if path.exists() else None
        if current == text:
            continue
        if "--check" in argv:
            stale.append(name)
        else:
            path.write_text(text)
            print(f"wrote c_ext/{name}")
    if stale:
        print(f"out of date with accel/_optable.py: {', '.join(stale)}; run python -m "
              "accel._codegen")  # fmt: skip
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
