"""The GELU coefficients are written twice, in C (c_ext/kernels_type.h, for the native and
WebAssembly kernels) and in WGSL (shaders/prelude_*.wgsl), because each kernel language needs
its own table: this checks that the two copies are the same numbers."""

from __future__ import annotations

import pathlib
import re

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent
HEX = r"-?0x[0-9a-fA-F.]+p[+-]?\d+"


def c_table(dtype_block: str, name: str) -> list[float]:
    body = re.search(rf"FN\({name}\)\[\] = \{{(.*?)\}};", dtype_block, re.S).group(1)
    return [float.fromhex(h) for h in re.findall(HEX, body)]


def wgsl_table(text: str, name: str) -> list[float]:
    body = re.search(rf"const {name} = array<T, \d+>\((.*?)\);", text, re.S).group(1)
    return [float.fromhex(h) for h in re.findall(HEX, body)]


@pytest.mark.parametrize("suffix", ["f32", "f64"])
def test_gelu_tables_agree(suffix):
    c = (ROOT / "c_ext" / "kernels_type.h").read_text()
    f32, f64 = c.split("#else\n#define SIGN_BITS", 1)
    block = f32 if suffix == "f32" else f64
    wgsl = (ROOT / "shaders" / f"prelude_{suffix}.wgsl").read_text()
    for c_name, w_name in (("gelu_p", "GELU_P"), ("gelu_h", "GELU_H")):
        assert c_table(block, c_name) == wgsl_table(wgsl, w_name), c_name
