"""The `gpu` backend: matmul float32 n=4096 against torch.matmul (TF32 off) in the same run,
where torch and a CUDA GPU are present, and the round-trip latency of relu on 1,000 floats.

    python benchmarks/gpu_speed.py            # on a machine with a GPU
"""

from __future__ import annotations

import time

import numpy as np
from _common import machine, percentiles_us

import accel
from accel import backends


def main() -> None:
    print(machine())
    gpu = backends.get("gpu")
    if gpu.unavailable_reason():
        raise SystemExit(f"gpu unavailable: {gpu.unavailable_reason()}")
    d = gpu.details()
    print(f"adapter: {d['name']} ({d['backend']}, {d['type']}, software={d['software']})")
    n = 4096 if not d["software"] else 512
    rng = np.random.default_rng(0)
    a = rng.standard_normal((n, n)).astype(np.float32)
    b = rng.standard_normal((n, n)).astype(np.float32)
    accel.matmul(a, b, backend="gpu")
    runs = []
    for _ in range(5):
        t0 = time.perf_counter()
        accel.matmul(a, b, backend="gpu")
        runs.append(time.perf_counter() - t0)
    t = float(np.median(runs))
    print(f"accel gpu matmul f32 n={n}: {2 * n**3 / t / 1e9:.1f} GFLOP/s (host arrays in and out)")
    try:
        import torch

        if torch.cuda.is_available():
            torch.backends.cuda.matmul.allow_tf32 = False
            ta, tb = torch.from_numpy(a).cuda(), torch.from_numpy(b).cuda()
            torch.matmul(ta, tb)
            torch.cuda.synchronize()
            runs = []
            for _ in range(5):
                t0 = time.perf_counter()
                torch.matmul(ta, tb)
                torch.cuda.synchronize()
                runs.append(time.perf_counter() - t0)
            tt = float(np.median(runs))
            rate = 2 * n**3 / tt / 1e9
            print(f"torch.matmul f32 (TF32 off), device-resident: {rate:.1f} GFLOP/s; "
                  f"accel / torch = {tt / t:.3f}")  # fmt: skip
    except ImportError:
        print("torch not installed: no cuBLAS comparison")
    x = rng.standard_normal(1000).astype(np.float32)
    p50, p95, p99 = percentiles_us(lambda: accel.relu(x, backend="gpu"))
    print(f"relu on 1,000 floats, round trip: p50 {p50:.0f} us, p95 {p95:.0f}, p99 {p99:.0f}")


if __name__ == "__main__":
    main()
