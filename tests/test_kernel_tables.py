"""What the kernels share with the op table (accel/_optable.py) is generated from it: the
activation ids and the coefficient tables in C (c_ext/activations.h, c_ext/coefficients.h,
committed) and in WGSL (made when the gpu backend builds a kernel). This checks that the
committed files are current and that every language gets the table's numbers."""

from __future__ import annotations

import pathlib
import re

import pytest

from accel import _codegen
from accel._optable import ACTIVATIONS, OPS, SHARED_TABLES

ROOT = pathlib.Path(__file__).resolve().parent.parent
HEX = r"-?0x[0-9a-fA-F.]+p[+-]?\d+"


def test_the_generated_c_headers_are_current():
    for name, make in _codegen.GENERATED.items():
        assert (ROOT / "c_ext" / name).read_text() == make(), (
            f"c_ext/{name} is out of date: run python -m accel._codegen"
        )


def _numbers(text: str) -> list[float]:
    return [float.fromhex(h.rstrip("f")) for h in re.findall(HEX, text)]


@pytest.mark.parametrize("suffix", ["f32", "f64"])
def test_c_and_wgsl_get_the_tables_numbers(suffix):
    c = (ROOT / "c_ext" / "coefficients.h").read_text()
    f32, f64 = c.split("#else\n", 1)
    block = f32 if suffix == "f32" else f64
    wgsl = _codegen.wgsl(suffix)
    tables = dict(SHARED_TABLES[suffix])
    for op in OPS.values():
        tables.update(op.tables.get(suffix, {}))
    for name, value in tables.items():
        if isinstance(value, float):
            continue
        want = [float(v) for v in value]
        if all(isinstance(v, int) for v in value):
            c_body = re.search(rf"FN\({name}\)\[\] = \{{(.*?)\}};", block, re.S).group(1)
            assert [int(v) for v in c_body.split(",")] == list(value), name
            continue
        c_body = re.search(rf"FN\({name}\)\[\] = \{{(.*?)\}};", block, re.S).group(1)
        assert _numbers(c_body) == want, name
        if name == "expm1_q":  # Horner's scheme written out, highest coefficient first
            body = re.search(r"fn expm1_q\(r: T\) -> T \{(.*?)\}", wgsl, re.S).group(1)
            assert _numbers(body) == want[::-1], name
        else:
            body = re.search(rf"const {name.upper()} = array<T, \d+>\((.*?)\);", wgsl).group(1)
            assert _numbers(body) == want, name


def test_every_activation_has_its_id_and_its_case():
    header = (ROOT / "c_ext" / "activations.h").read_text()
    for suffix in ("f32", "f64"):
        wgsl = _codegen.wgsl(suffix)
        for name, op in ACTIVATIONS.items():
            assert f"ACT_{name.upper()} = {op.act_id}" in header
            assert f"case {op.act_id}: {{ return {name}_f(v, zero); }}" in wgsl
