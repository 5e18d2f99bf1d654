"""The three example programs (examples/): each runs on every backend, matches the same math
in float64 numpy, and on gpu and simd moves only its inputs and outputs (accel.stats())."""

from __future__ import annotations

import importlib.util
import pathlib

import numpy as np
import pytest

import accel

EXAMPLES = pathlib.Path(__file__).resolve().parent.parent / "examples"


def load(name: str):
    spec = importlib.util.spec_from_file_location(name, EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def base(backend: str) -> str:
    return backend.split("-")[0]


def transfers(backend: str) -> dict:
    return {op: s["calls"] for (op, b), s in accel.stats().items()
            if b == backend and op in ("upload", "download")}  # fmt: skip


def expect_moves(backend: str, uploads: int, downloads: int) -> None:
    moved = transfers(backend)
    if accel.backends.get(backend).memory.host:
        assert moved == {}, moved
    else:
        assert moved == {"upload": uploads, "download": downloads}, moved


def test_swarm_mlp(backend):
    b = base(backend)
    m = load("swarm_mlp")
    params, x = m.make_params(agents=60), m.make_inputs(agents=60, batch=5)
    placed = m.place(params, b)
    accel.reset_stats()
    y = m.forward(placed, x, b)
    expect_moves(b, 1, 1)
    np.testing.assert_allclose(y, m.forward_numpy(params, x), rtol=1e-4, atol=1e-5)


def test_lstm_swarm(backend):
    b = base(backend)
    m = load("lstm_swarm")
    params, inputs = m.make_params(agents=40), m.make_inputs(agents=40, steps=6, batch=2)
    placed = m.place(params, b)
    accel.reset_stats()
    h, c = m.forward(placed, *inputs, b)
    expect_moves(b, 3, 2)
    h_ref, c_ref = m.forward_numpy(params, *inputs)
    np.testing.assert_allclose(h, h_ref, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(c, c_ref, rtol=1e-4, atol=1e-5)


def test_transformer_block(backend):
    b = base(backend)
    m = load("transformer_block")
    params, x = m.make_params(dim=32), m.make_inputs(batch=3, seq=10, dim=32)
    placed = m.place(params, b)
    accel.reset_stats()
    y = m.forward(placed, x, b)
    expect_moves(b, 1, 1)
    np.testing.assert_allclose(y, m.forward_numpy(params, x), rtol=1e-4, atol=1e-4)


@pytest.mark.slow
@pytest.mark.parametrize("name", ["swarm_mlp", "lstm_swarm", "transformer_block"])
def test_examples_run_as_scripts(name):
    import subprocess
    import sys

    r = subprocess.run([sys.executable, str(EXAMPLES / f"{name}.py")], capture_output=True,
                       text=True, timeout=600)  # fmt: skip
    assert r.returncode == 0, r.stderr
    for line in r.stdout.splitlines():
        assert "transfers" in line
