"""The command line: `accel probe` (table and --json), `accel bench`, `accel selftest`, and
`python -m accel`. Each runs as a user runs it, in a subprocess, outside the source tree."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile

import pytest

import accel


def accel_cli(*args: str, env: dict | None = None, timeout: int = 300):
    full_env = {k: v for k, v in os.environ.items() if k != "ACCEL_BACKEND"}
    full_env.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "accel", *args],
        capture_output=True, text=True, timeout=timeout, env=full_env, cwd=tempfile.gettempdir(),
    )  # fmt: skip


BACKEND_KEYS = {"name", "available", "reason", "dtypes", "auto", "details", "smoke"}


def test_probe_json_has_every_field():
    r = accel_cli("probe", "--json")
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)  # warnings, if any, went to stderr
    assert {"accel_version", "python", "platform", "versions", "selection", "backends",
            "cost_model"} <= set(doc)  # fmt: skip
    assert set(doc["versions"]) == {"numpy", "cffi", "wasmtime", "wgpu"}
    assert doc["selection"]["value"] == "auto" and doc["selection"]["source"] == "default"
    assert [b["name"] for b in doc["backends"]] == ["gpu", "simd", "cpu"]
    for b in doc["backends"]:
        assert set(b) >= BACKEND_KEYS
        if b["available"]:
            assert b["reason"] is None and b["dtypes"]
            assert b["smoke"]["ok"] is True and b["smoke"]["max_error"] >= 0
        else:
            assert b["reason"] and not b["auto"]
    by_name = {b["name"]: b for b in doc["backends"]}
    if by_name["cpu"]["available"]:
        assert {"isa", "threads", "compiler"} <= set(by_name["cpu"]["details"])
    if by_name["simd"]["available"]:
        details = by_name["simd"]["details"]
        assert {"wasmtime", "simd128", "relaxed_simd", "module_bytes", "load_ms",
                "cached_load_ms", "memory_bytes"} <= set(details)  # fmt: skip
    if by_name["gpu"]["available"]:
        details = by_name["gpu"]["details"]
        assert {"name", "vendor", "backend", "type", "driver", "software", "limits",
                "features"} <= set(details)  # fmt: skip
        assert isinstance(details["software"], bool)
        assert by_name["gpu"]["auto"] == (not details["software"])


def test_probe_document_is_the_same_as_accel_probe():
    doc = accel.probe()
    r = accel_cli("probe", "--json")
    cli = json.loads(r.stdout)
    assert [b["name"] for b in doc["backends"]] == [b["name"] for b in cli["backends"]]
    assert [b["available"] for b in doc["backends"]] == [b["available"] for b in cli["backends"]]


def test_probe_table_is_readable():
    r = accel_cli("probe")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    header = next(line for line in lines if line.startswith("backend"))
    for word in ("available", "auto", "dtypes", "smoke"):
        assert word in header
    for name in ("gpu", "simd", "cpu"):
        assert any(line.startswith(name) for line in lines)


@pytest.mark.slow
def test_probe_exits_1_when_accel_backend_cannot_run():
    r = accel_cli("probe", "--json", env={"ACCEL_BACKEND": "warp9"})
    assert r.returncode == 1
    r = accel_cli("probe", env={"ACCEL_BACKEND": "cpu"})
    assert r.returncode == 0


def test_bench_json_records():
    r = accel_cli("bench", "--ops", "matmul,relu", "--sizes", "16,256", "--backends",
                  "cpu,auto", "--json", "-")  # fmt: skip
    assert r.returncode == 0, r.stderr
    records = json.loads(r.stdout)["records"]
    assert len(records) == 2 * 2 * 3  # ops x sizes x (numpy, cpu, auto)
    for rec in records:
        assert {"op", "size", "dtype", "backend", "p50_us", "p95_us", "p99_us", "rate",
                "unit"} <= set(rec)  # fmt: skip
        assert rec["p50_us"] <= rec["p95_us"] <= rec["p99_us"]
        if rec["backend"] != "numpy":
            assert rec["ratio_to_numpy"] > 0
    assert {r["unit"] for r in records} == {"GFLOP/s", "GB/s"}


def test_bench_warns_about_openblas_coretype():
    r = accel_cli("bench", "--ops", "relu", "--sizes", "100", "--backends", "cpu",
                  env={"OPENBLAS_CORETYPE": "Haswell"})  # fmt: skip
    assert r.returncode == 0
    assert "OPENBLAS_CORETYPE" in r.stderr


def test_selftest_quick_passes_on_cpu():
    r = accel_cli("selftest", "--quick", "--backends", "cpu")
    assert r.returncode == 0, r.stdout + r.stderr
    from accel._optable import OPS

    assert f"{len(OPS)} passed, 0 failed" in r.stdout


@pytest.mark.slow
def test_cpu_isa_and_thread_variables():
    import accel.backends as registry

    cpu = registry.get("cpu")
    if cpu.unavailable_reason() is not None:
        return
    lowest = cpu.supported_isas()[-1]
    r = accel_cli("probe", "--json", env={"ACCEL_CPU_ISA": lowest, "ACCEL_NUM_THREADS": "1"})
    details = json.loads(r.stdout)["backends"][2]["details"]
    assert details["isa"] == lowest and details["threads"] == 1
    r = accel_cli("probe", "--json", env={"ACCEL_CPU_ISA": "sse9"})
    record = json.loads(r.stdout)["backends"][2]
    assert not record["available"] and "ACCEL_CPU_ISA" in record["reason"]


def test_a_failed_smoke_test_shows_its_error_and_exits_1(monkeypatch, capsys):
    from accel import _dispatch, backends, cli
    from accel.testing.fakes import FakeBackend, FakeKernels

    class Broken(FakeKernels):
        def elementwise(self, *args):
            raise RuntimeError("a kernel that cannot run")

    monkeypatch.setitem(backends._instances, "simd", FakeBackend("simd", Broken()))
    _dispatch.invalidate()
    status = cli.main(["probe"])
    out, err = capsys.readouterr()
    assert status == 1
    assert "FAILED" in out and "a kernel that cannot run" in out + err
    _dispatch.invalidate()


@pytest.mark.slow
def test_calibrate_measures_saves_and_a_new_process_uses_it():
    """`accel calibrate` as a user runs it: the cost model, the gpu matmul variant per adapter
    and the cpu's unpacked-path bound, saved in the cache folder and in force in the next
    process (the probe says so)."""
    if not sys.platform.startswith("linux"):
        pytest.skip("the cache folder follows XDG_CACHE_HOME on Linux")
    with tempfile.TemporaryDirectory() as cache:
        env = {"XDG_CACHE_HOME": cache}
        r = accel_cli("calibrate", env=env, timeout=600)
        assert r.returncode == 0, r.stderr
        assert "saved to" in r.stdout
        path = os.path.join(cache, "accel", "calibration.json")
        with open(path) as f:
            doc = json.load(f)
        assert doc["params"]
        probe = json.loads(accel_cli("probe", "--json", env=env).stdout)
        details = {b["name"]: b["details"] for b in probe["backends"] if b["available"]}
        if "cpu" in details:
            assert "cpu matmul: B unpacked up to" in r.stdout
            assert details["cpu"]["direct_reread"] == doc["cpu_direct"]["reread"]
            assert details["cpu"]["direct_reread_source"] == "calibrated"
            assert "cpu matmul: blocks fill" in r.stdout
            chosen = doc["cpu_blocking"]
            assert details["cpu"]["block_parts"] == {"l1": chosen["l1"], "l2": chosen["l2"]}
            assert details["cpu"]["block_parts_source"] == "calibrated"
        if "gpu" in details and doc["gpu_matmul"]:
            assert "calibrated" in details["gpu"]["matmul_variant"]["why"]
