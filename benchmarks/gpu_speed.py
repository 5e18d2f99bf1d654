"""The `gpu` backend's matmul family: each variant's GFLOP/s at n = 512, 1024, 2048, 4096
(resident operands, float32), the one `accel calibrate` would choose, and, where torch and a
CUDA GPU are present, torch.matmul (TF32 off) on the same GPU in the same run; then the round
trip of relu on 1,000 floats.

    python benchmarks/gpu_speed.py            # on a machine with a GPU
    python benchmarks/gpu_speed.py 128 256    # other sizes (a software adapter is slow)
"""

from __future__ import annotations

import sys
import time

import numpy as np
from _common import machine, percentiles_us

import accel
from accel import backends, calibrate


def torch_rate(n: int) -> float | None:
    try:
        import torch
    except ImportError:
        return None
    if not torch.cuda.is_available():
        return None
    torch.backends.cuda.matmul.allow_tf32 = False
    a = torch.randn((n, n), device="cuda", dtype=torch.float32)
    torch.matmul(a, a)
    torch.cuda.synchronize()
    runs = []
    for _ in range(5):
        t0 = time.perf_counter()
        torch.matmul(a, a)
        torch.cuda.synchronize()
        runs.append(time.perf_counter() - t0)
    return 2 * n**3 / float(np.median(runs)) / 1e9


def main() -> None:
    print(machine())
    gpu = backends.get("gpu")
    if gpu.unavailable_reason():
        raise SystemExit(f"gpu unavailable: {gpu.unavailable_reason()}")
    d = gpu.details()
    print(f"adapter: {d['name']} ({d['backend']}, {d['type']}, software={d['software']})")
    sizes = tuple(int(s) for s in sys.argv[1:]) or (
        (128, 256, 512) if d["software"] else (512, 1024, 2048, 4096))  # fmt: skip
    rates = calibrate.time_gpu_variants(sizes)
    torch_rates = {n: torch_rate(n) for n in sizes}
    head = f"{'variant':16}" + "".join(f"{'n=' + str(n):>12}" for n in sizes)
    print(head + "   (GFLOP/s, resident float32 operands, read back each time)")
    for name, r in rates.items():
        print(f"{name:16}" + "".join(f"{r[n]:12.1f}" for n in sizes))
    if any(v is not None for v in torch_rates.values()):
        print(f"{'torch (cuBLAS)':16}" + "".join(f"{torch_rates[n]:12.1f}" for n in sizes))
        best = {n: max(r[n] for r in rates.values()) for n in sizes}
        print(f"{'best / torch':16}" + "".join(f"{best[n] / torch_rates[n]:12.3f}" for n in sizes))
    else:
        print("torch with CUDA not present: no cuBLAS comparison")
    large, small = calibrate.choose_gpu_variants(rates, sizes)
    print(f"calibrate would choose {large} (large), {small} (small); in force "
          f"now: {d['matmul_variant']['name']} ({d['matmul_variant']['why']})")  # fmt: skip
    x = np.random.default_rng(0).standard_normal(1000).astype(np.float32)
    p50, p95, p99 = percentiles_us(lambda: accel.relu(x, backend="gpu"))
    print(f"relu on 1,000 floats, round trip: p50 {p50:.0f} us, p95 {p95:.0f}, p99 {p99:.0f}")


if __name__ == "__main__":
    main()
