"""A new process's import-to-first-result time, auto against strict cpu, in one run.

    env -u OPENBLAS_CORETYPE python benchmarks/first_call.py

For relu on 1,000 floats and a 64x64 matmul, each measured in fresh processes (median of 7):
from `import accel` to the first result, with the selection left to auto and with
backend="cpu". Auto must not start the GPU (or the simd module) for a call the cost model
would never give them: goal, auto within 2x of strict cpu.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import tempfile

CODE = """
import time
t0 = time.perf_counter()
import numpy as np
import accel
x = {data}
accel.{call}
print((time.perf_counter() - t0) * 1e3)
import sys
print(sorted(m for m in ("wgpu", "wasmtime") if m in sys.modules))
"""
CASES = {
    "relu on 1,000 floats": ("np.linspace(-1, 1, 1000, dtype=np.float32)", "relu(x{sel})"),
    "matmul 64x64": ("np.ones((64, 64), np.float32)", "matmul(x, x{sel})"),
}


def one(data: str, call: str, sel: str) -> tuple[float, str]:
    code = CODE.format(data=data, call=call.format(sel=sel))
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                       cwd=tempfile.gettempdir(), check=True)  # fmt: skip
    ms, loaded = r.stdout.strip().splitlines()
    return float(ms), loaded


def main() -> None:
    print(f"{'call':22} {'auto ms':>8} {'cpu ms':>8} {'ratio':>6}  libraries auto loaded")
    for name, (data, call) in CASES.items():
        auto = [one(data, call, "") for _ in range(7)]
        cpu = [one(data, call, ', backend="cpu"') for _ in range(7)]
        t_auto = statistics.median(t for t, _ in auto)
        t_cpu = statistics.median(t for t, _ in cpu)
        print(f"{name:22} {t_auto:8.1f} {t_cpu:8.1f} {t_auto / t_cpu:6.2f}  {auto[0][1]}")
    print("goal: auto within 2x of strict cpu")


if __name__ == "__main__":
    main()
