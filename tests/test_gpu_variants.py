"""The gpu matmul family: every variant passes the shared matmul and linear properties on this
adapter (the software Vulkan adapter in CI), float32 and float64, at sizes that straddle its
tile and with K past llvmpipe's loop limit; all variants give the same bits; `accel
calibrate` chooses per adapter and the probe says which variant is in force and why."""

from __future__ import annotations

import json

import numpy as np
import pytest

import accel
from accel import _calibration, backends, calibrate
from accel.backends.gpu import MATMUL_VARIANTS
from accel.testing import reference
from accel.testing.properties import properties


@pytest.fixture
def gpu(need):
    g = need("gpu")
    yield g
    g.use_variant(None)


def use(gpu, variant):
    """Forces the variant, or skips where this adapter cannot run it (subgroup variants)."""
    if variant not in gpu.variants():
        pytest.skip(f"{variant} needs a feature this adapter lacks")
    gpu.use_variant(variant)


@pytest.mark.slow
@pytest.mark.parametrize("variant", list(MATMUL_VARIANTS))
def test_each_variant_passes_the_properties(gpu, variant):
    use(gpu, variant)
    props = properties("gpu", max_examples=25)
    props["matmul"]()
    props["linear"]()


@pytest.mark.parametrize("variant", list(MATMUL_VARIANTS))
def test_sizes_that_straddle_the_tile_and_k_past_the_loop_limit(gpu, variant):
    use(gpu, variant)
    v = MATMUL_VARIANTS[variant]
    for dtype in sorted(gpu.dtypes(), key=lambda d: d.itemsize):
        rng = np.random.default_rng(1)
        tm, tn, tk = v["TM"], v["TN"], v["TK"]
        shapes = [
            (tm - 1, tn + 1, tk + 3),
            (tm, tn, tk),
            (2 * tm + 1, tn - 1, 4),
            (tm + 4, 2 * tn, 64),
        ]
        for m, n, k in shapes:
            a = rng.standard_normal((m, k)).astype(dtype)
            b = rng.standard_normal((k, n)).astype(dtype)
            reference.check_matmul(a, b, accel.matmul(a, b, backend="gpu"), "gpu")
        k = 65_600
        a, b = np.ones((3, k), dtype), np.ones((k, 2), dtype)
        assert np.all(accel.matmul(a, b, backend="gpu") == k)


@pytest.mark.slow
def test_every_variant_gives_the_same_bits(gpu):
    rng = np.random.default_rng(2)
    shapes = [(130, 70, 129), (128, 64, 128), (5, 300, 7), (256, 32, 256)]
    cases = [(rng.standard_normal((m, k)).astype(np.float32),
              rng.standard_normal((k, n)).astype(np.float32)) for m, k, n in shapes]  # fmt: skip
    bias = [rng.standard_normal(b.shape[1]).astype(np.float32) for _, b in cases]
    results = {}
    for variant in gpu.variants():
        gpu.use_variant(variant)
        results[variant] = [accel.linear(a, b, c, activation="gelu", backend="gpu")
                            for (a, b), c in zip(cases, bias, strict=True)]  # fmt: skip
    first = results.pop(gpu.variants()[0])
    for variant, got in results.items():
        for x, y in zip(first, got, strict=True):
            assert np.array_equal(x, y), variant


def test_calibrate_chooses_per_adapter_and_the_probe_says_why(gpu, tmp_path, monkeypatch):
    path = tmp_path / "calibration.json"
    monkeypatch.setattr(_calibration, "path", lambda: path)
    monkeypatch.setattr(calibrate, "time_gpu_variants", lambda sizes, repeat=3: {
        name: {n: (10.0 if name == "t128x64_r8x4" else 1.0) if n != sizes[0] else
               (10.0 if name == "t32x32_r4x4" else 1.0) for n in sizes}
        for name in MATMUL_VARIANTS})  # fmt: skip
    _calibration.reload()
    assert gpu.matmul_variant(4096, 4096)[1].startswith("default")
    chosen = calibrate.calibrate_gpu_variants(progress=False)
    assert chosen[0]["adapter"] == gpu.adapter_key
    assert chosen[0]["variant"] == "t128x64_r8x4" and chosen[0]["small_variant"] == "t32x32_r4x4"
    path.write_text(json.dumps({"fingerprint": _calibration.fingerprint(), "params": [],
                                "gpu_matmul": chosen}))  # fmt: skip
    _calibration.reload()
    assert gpu.matmul_variant(4096, 4096) == ("t128x64_r8x4", gpu.kernels.variant_source)
    assert gpu.matmul_variant(64, 64)[0] == "t32x32_r4x4"
    details = backends.get("gpu").details()["matmul_variant"]
    assert details["name"] == "t128x64_r8x4" and "calibrated" in details["why"]
    monkeypatch.undo()
    _calibration.reload()


def test_subgroup_kernel_falls_back_to_plain_loads_with_the_same_bits(gpu, monkeypatch):
    """The subgroup entry shares A's quads only when the workgroup is one subgroup with lanes
    equal to local indices and has an invocation per row (RM <= WX); a variant with 4
    invocations for 8 rows must take its plain loads, and both give the plain kernel's bits."""
    if not gpu.subgroups:
        pytest.skip("this adapter has no subgroups")
    few_lanes = {"TM": 8, "TN": 16, "RM": 8, "RQ": 1, "TK": 4, "DB": 0, "DIRECT": 1, "SG": 1}
    monkeypatch.setitem(MATMUL_VARIANTS, "test_d8x16_r8x4_sg", few_lanes)
    rng = np.random.default_rng(3)
    a = rng.standard_normal((37, 70)).astype(np.float32)
    b = rng.standard_normal((70, 45)).astype(np.float32)
    got = {}
    for variant in ("d8x32_r8x4", "d8x32_r8x4_sg", "test_d8x16_r8x4_sg"):
        gpu.use_variant(variant)
        got[variant] = accel.linear(a, b, activation="tanh", backend="gpu")
    reference.check_linear(a, b, None, "tanh", got["d8x32_r8x4"], "gpu")
    for variant, c in got.items():
        assert np.array_equal(c, got["d8x32_r8x4"]), variant


def test_software_adapters_default_to_the_direct_kernel(gpu):
    if not gpu.software:
        pytest.skip("a hardware adapter")
    name, why = gpu.matmul_variant(4096, 4096)
    if gpu.kernels.calibrated_variant is None:
        assert MATMUL_VARIANTS[name].get("DIRECT") and "CPU" in why
        assert MATMUL_VARIANTS[name].get("SG", 0) == (1 if gpu.subgroups else 0)


def test_one_row_products_pick_a_row_variant_by_width_with_the_same_bits(gpu):
    """One row times a matrix (a batch of agents' layers for one input each): a software
    adapter picks the row variant whose tile covers the width (up to 128 columns in one
    workgroup), a hardware one the 64-wide row variant; every row variant gives the bits of
    the 8-row direct kernel, the bias and activation included, past one tile's width too."""
    from accel.backends.gpu._kernels import ROW_VARIANT, SOFTWARE_ROW_VARIANTS

    rows = [name for _, name in SOFTWARE_ROW_VARIANTS] + [ROW_VARIANT]
    for n, expected in ((8, rows[0]), (32, rows[0]), (33, rows[1]), (64, rows[1]),
                        (65, rows[2]), (300, rows[2])):  # fmt: skip
        name, why = gpu.matmul_variant(1, n)
        assert name == (expected if gpu.software else ROW_VARIANT), (n, name)
        assert "one row" in why
    rng = np.random.default_rng(4)
    for batch, k, n in ((3, 32, 8), (2, 64, 64), (2, 36, 100), (1, 20, 300)):
        a = rng.standard_normal((batch, 1, k)).astype(np.float32)
        w = rng.standard_normal((batch, k, n)).astype(np.float32)
        bias = rng.standard_normal((batch, n)).astype(np.float32)
        gpu.use_variant("d8x32_r8x4")
        want = accel.linear(a, w, bias, activation="tanh", backend="gpu")
        reference.check_linear(a, w, bias, "tanh", want, "gpu")
        for variant in rows:
            gpu.use_variant(variant)
            got = accel.linear(a, w, bias, activation="tanh", backend="gpu")
            assert np.array_equal(got, want), (variant, batch, k, n)


def test_variants_this_adapter_cannot_run_are_refused(gpu, monkeypatch):
    monkeypatch.setattr(gpu, "subgroups", False)
    assert "d8x32_r8x4_sg" not in gpu.variants()
    with pytest.raises(ValueError, match="cannot run"):
        gpu.use_variant("d8x32_r8x4_sg")


@pytest.mark.parametrize("software", [True, False])
def test_row_kernels_pass_the_properties_both_ways(gpu, monkeypatch, software):
    """softmax and the norms have two entry points: one invocation per row (an adapter that
    runs on the CPU, rows up to ROW_COLS_MAX) and a workgroup per row (a GPU, or longer rows):
    each passes the shared properties on this adapter, and the per-row form takes rows at its
    limit."""
    from accel.backends.gpu._kernels import ROW_COLS_MAX

    monkeypatch.setattr(gpu.kernels, "software", software)
    props = properties("gpu", max_examples=30)
    for op in ("softmax", "layer_norm", "rms_norm"):
        props[op]()
    rng = np.random.default_rng(4)
    for cols in (ROW_COLS_MAX, ROW_COLS_MAX + 1):
        x = rng.standard_normal((3, cols)).astype(np.float32) * 30
        x[1, 7] = -np.inf
        reference.check_activation("softmax", x, accel.softmax(x, backend="gpu"), "gpu")
