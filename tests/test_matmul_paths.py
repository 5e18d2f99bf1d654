"""The matmul kernels' paths, shape by shape, on every backend and kernel variant: the
matrix-vector paths (M = 1 to 3, N = 1), the unpacked path (whole register blocks, the rows past
them in blocks of 4 and 1, a partial last vector of columns, a long K with a partial vector;
on one thread, in bands of rows, in bands of columns), the packed path (where B or a block of
A would leave the caches; c_ext/driver.c's direct_suits) and the boundaries between them.
Each result is checked against the reference with the bound of the contract, and rows and
columns taken on their own (which select other paths) must give the same bits: every path but
N = 1 (a dot per row, with the dot's partial sums) sums each element's products in the same
order, one fma chain over k."""

from __future__ import annotations

import numpy as np
import pytest

import accel
from accel.testing import reference

# (M, K, N): each selects a path of c_ext/driver.c and kernels_type.h, or sits on a boundary
SHAPES = [
    (1, 300, 77), (1, 4096, 33), (77, 300, 1), (1, 1, 1),  # matrix-vector
    (1, 64, 24), (1, 1, 40), (1, 2, 17),  # one row, a part vector past the whole ones
    (8, 8, 8), (5, 7, 3), (12, 32, 32), (13, 32, 32), (16, 16, 16), (20, 20, 20),
    (31, 31, 31), (32, 32, 32), (17, 33, 47), (29, 2, 64), (2, 16, 1000),  # unpacked
    (2, 300, 17), (3, 1000, 10), (2, 8000, 2), (4, 257, 20), (2, 2000, 16),  # long K, partial
    (32, 32, 33), (33, 32, 32), (40, 40, 40), (41, 41, 41),  # past the smallest, threads
    (100, 100, 100), (97, 131, 61), (300, 64, 300), (600, 70, 50),  # unpacked, bands of rows
    (12, 2000, 700), (5, 300, 1000),  # unpacked (two passes over B), bands of columns
    (13, 2000, 700), (16, 2000, 700), (48, 1024, 600),  # packed: three passes over a large B
    (8, 8000, 33), (1, 30000, 100),  # simd's bands of columns (a last band 1 wide; M = 1)
    (8, 512, 600), (9, 512, 600), (8, 1024, 600),  # simd: unpacked for one pass over a band's B
    (2, 1000, 300), (3, 700, 517), (3, 2000, 130),  # 2-3 rows, B past half an L2: streamed once
    (7, 700, 300), (12, 700, 300),  # simd: up to 12 rows streamed, three at a time
    (8, 600, 600), (10, 600, 600),  # unpacked: 6 rows, then 2 streamed; 6+4
    (7, 300, 300), (5, 700, 300), (11, 300, 300), (7, 300, 301),  # the last rows streamed
    (9, 2000, 600),  # 6 + 3 streamed: two passes over a large B, unpacked; simd: packed
    (60, 1024, 600), (13, 11000, 40),  # packed (B or A past the caches)
    pytest.param((200, 1100, 520), marks=pytest.mark.slow),
    (13, 600, 2100),  # packed: B's panels (half an L2 wide, at most 2048) on any machine
]  # fmt: skip


def _operands(m, k, n, dtype, seed):
    rng = np.random.default_rng(seed)
    a = rng.standard_normal((m, k)).astype(dtype)
    b = rng.standard_normal((k, n)).astype(dtype)
    return a, b


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: "x".join(map(str, s)))
def test_each_path_matches_the_reference(backend, shape, dtype):
    m, k, n = shape
    a, b = _operands(m, k, n, dtype, seed=m * 7919 + k * 31 + n)
    c = accel.matmul(a, b, backend=backend)
    assert c.dtype == dtype and c.shape == (m, n)
    reference.check_matmul(a, b, c, backend)
    linear = accel.linear(a, b, np.ones(n, dtype), activation="relu", backend=backend)
    reference.check_linear(a, b, np.ones(n, dtype), "relu", linear, backend)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: "x".join(map(str, s)))
def test_rows_and_columns_on_their_own_give_the_same_bits(backend, shape, dtype):
    m, k, n = shape
    a, b = _operands(m, k, n, dtype, seed=m + k + n)
    whole = accel.matmul(a, b, backend=backend)
    if n == 1:
        return  # a dot per row, with the dot's partial sums: its own order
    for rows in (slice(0, 1), slice(m // 2, m), slice(m - 1, m)):
        part = accel.matmul(np.ascontiguousarray(a[rows]), b, backend=backend)
        np.testing.assert_array_equal(part, whole[rows])
    for cols in (slice(0, 2), slice(n // 3, n)):  # (N = 1 would be a dot per row)
        if cols.stop - cols.start < 2:
            continue
        part = accel.matmul(a, np.ascontiguousarray(b[:, cols]), backend=backend)
        np.testing.assert_array_equal(part, whole[:, cols])


def test_the_unpacked_bound_changes_the_path_not_the_bits(need):
    """`accel calibrate` chooses how many L2s of B the cpu's unpacked path may take (the
    faster on this machine); a product whose B fills 0.5-2 L2s runs unpacked under one bound
    and packed under the other, with the same bits."""
    cpu = need("cpu")
    before = cpu.details()["direct_reread"]
    l2 = 1 << 20
    try:
        for dtype in (np.float32, np.float64):
            size = np.dtype(dtype).itemsize
            n = 512
            k = int(1.2 * l2 / (n * size))  # B: 1.2 MiB, between 0.5 and 2 L2s of 1-2 MiB
            a, b = _operands(96, k, n, dtype, seed=11)
            got = []
            for reread in (0.0, 8.0):  # packed only past the smallest; unpacked
                cpu.set_direct_reread(reread)
                got.append(accel.matmul(a, b, backend="cpu"))
            reference.check_matmul(a, b, got[0], "cpu")
            np.testing.assert_array_equal(got[0], got[1])
    finally:
        cpu.set_direct_reread(before)


def test_calibrate_keeps_the_faster_bound_and_the_backend_applies_it(need, tmp_path,
                                                                    monkeypatch):  # fmt: skip
    import json

    from accel import _calibration, calibrate

    cpu = need("cpu")
    path = tmp_path / "calibration.json"
    monkeypatch.setattr(_calibration, "path", lambda: path)
    monkeypatch.setattr(calibrate, "time_cpu_direct", lambda repeat=5: {0.5: 2.0, 2.0: 1.0})
    chosen = calibrate.calibrate_cpu_direct()
    assert chosen["reread"] == 2.0
    path.write_text(json.dumps({"fingerprint": _calibration.fingerprint(), "params": [],
                                "cpu_direct": chosen}))  # fmt: skip
    try:
        _calibration.reload()
        d = cpu.details()
        assert d["direct_reread"] == 2.0 and d["direct_reread_source"] == "calibrated"
    finally:
        monkeypatch.undo()
        _calibration.reload()
    assert cpu.details()["direct_reread_source"] in ("default", "calibrated")


def test_the_blocking_changes_the_speed_not_the_bits(need):
    """The packed path's blocks fill a part of the L1 and of the L2 that `accel calibrate`
    chooses: every choice gives the bits of the default, at sizes past several k blocks and
    panels and ragged against both."""
    from accel.backends.cpu import BLOCK_PART_TRIALS

    cpu = need("cpu")
    before = cpu.details()["block_parts"]
    try:
        for dtype in (np.float32, np.float64):
            a, b = _operands(301, 1500, 707, dtype, seed=12)
            got = []
            for parts in ((-1.0, -1.0), *BLOCK_PART_TRIALS, (0.25, 1.0), (1.0, 0.25)):
                cpu.set_block_parts(*parts)
                got.append(accel.linear(a, b, b[0], activation="tanh", backend="cpu"))
            for g in got[1:]:
                np.testing.assert_array_equal(g, got[0])
            cpu.set_block_parts(-1.0, -1.0)
            assert cpu.details()["block_parts"] == {"l1": 0.5, "l2": 0.5}
            cpu.set_block_parts(5.0, 0.0)  # clamped to what the blocks can take
            assert cpu.details()["block_parts"] == {"l1": 1.0, "l2": 0.25}
    finally:
        cpu.set_block_parts(before["l1"], before["l2"])


def test_calibrate_keeps_the_faster_blocking_and_the_backend_applies_it(need, tmp_path,
                                                                       monkeypatch):  # fmt: skip
    import json

    from accel import _calibration, calibrate

    cpu = need("cpu")
    path = tmp_path / "calibration.json"
    monkeypatch.setattr(_calibration, "path", lambda: path)
    monkeypatch.setattr(calibrate, "time_cpu_blocking",
                        lambda repeat=3: {(0.5, 0.5): 2.0, (0.75, 0.5): 1.0})  # fmt: skip
    chosen = calibrate.calibrate_cpu_blocking()
    assert (chosen["l1"], chosen["l2"]) == (0.75, 0.5)
    path.write_text(json.dumps({"fingerprint": _calibration.fingerprint(), "params": [],
                                "cpu_blocking": chosen}))  # fmt: skip
    try:
        _calibration.reload()
        d = cpu.details()
        assert d["block_parts"] == {"l1": 0.75, "l2": 0.5}
        assert d["block_parts_source"] == "calibrated"
    finally:
        monkeypatch.undo()
        _calibration.reload()
    assert cpu.details()["block_parts_source"] in ("default", "calibrated")


def test_the_cache_sizes_the_blocking_comes_from_are_reported(need):
    """The packed path sizes its blocks from the L1 and L2 the system reports; the probe says
    which sizes those were (clamped to what caches are, a default where nothing is said)."""
    import shutil
    import subprocess

    sizes = need("cpu").details()["cache_bytes"]
    assert 16 << 10 <= sizes["l1d"] <= 256 << 10
    assert 256 << 10 <= sizes["l2"] <= 8 << 20
    # glibc's getconf asks the same sysconf (Python's os.sysconf does not know these names)
    limits = {"l1d": ("LEVEL1_DCACHE_SIZE", 16 << 10, 256 << 10),
              "l2": ("LEVEL2_CACHE_SIZE", 256 << 10, 8 << 20)}  # fmt: skip
    getconf = shutil.which("getconf")
    for key, (name, lo, hi) in limits.items():
        out = subprocess.run([getconf, name], capture_output=True, text=True) if getconf else None
        if out and out.returncode == 0 and out.stdout.strip().isdigit() and int(out.stdout) > 0:
            assert sizes[key] == min(max(int(out.stdout), lo), hi)
