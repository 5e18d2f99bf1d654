"""An 8192 x 8192 float32 matmul in 2048 x 2048 chunks on a local Dask cluster (worker
processes, accel on each), against numpy in one process, one run.

    env -u OPENBLAS_CORETYPE python benchmarks/dask_matmul.py [n] [chunk]

Prints the wall times, the sum of the tasks' own times from the task stream, and the
overhead per task: (workers x wall - busy time in accel's kernels) / tasks.
"""

from __future__ import annotations

import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(__file__))
from _common import warn_openblas


def main() -> None:
    import dask.array as da
    import distributed

    import accel
    import accel.dask as ad

    warn_openblas()
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 8192
    chunk = int(sys.argv[2]) if len(sys.argv) > 2 else 2048
    rng = np.random.default_rng(0)
    a = rng.standard_normal((n, n), dtype=np.float32)
    b = rng.standard_normal((n, n), dtype=np.float32)
    flops = 2.0 * n**3

    t0 = time.perf_counter()
    expected = a @ b
    t_numpy = time.perf_counter() - t0
    t0 = time.perf_counter()
    accel.matmul(a, b, backend="cpu")
    t_accel = time.perf_counter() - t0

    workers = 2
    cluster = distributed.LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                                       dashboard_address=None)  # fmt: skip
    with distributed.Client(cluster) as client:
        # each worker's accel uses one thread: the cluster's parallelism is its workers
        client.run(lambda: os.environ.__setitem__("ACCEL_NUM_THREADS", "1"))
        da_a = da.from_array(a, chunks=chunk)
        da_b = da.from_array(b, chunks=chunk)
        c = ad.matmul(da_a, da_b)
        c.compute()  # warm-up: workers load accel and its kernels
        client.get_task_stream()  # clear
        with distributed.get_task_stream(client) as ts:
            t0 = time.perf_counter()
            result = c.compute()
            t_dask = time.perf_counter() - t0
        busy = sum(sum(s["stop"] - s["start"] for s in t["startstops"] if s["action"] == "compute")
                   for t in ts.data)  # fmt: skip
        tasks = len(ts.data)
    cluster.close()
    err = np.abs(result - expected).max() / np.abs(expected).max()
    print(f"n = {n}, chunks {chunk}, {workers} worker processes, one thread each")
    print(
        f"numpy (one process, {os.cpu_count()} threads): {t_numpy:8.2f} s  "
        f"{flops / t_numpy / 1e9:6.1f} GFLOP/s"
    )
    print(
        f"accel cpu (one process):          {t_accel:8.2f} s  {flops / t_accel / 1e9:6.1f} GFLOP/s"
    )
    print(f"accel.dask on the cluster:        {t_dask:8.2f} s  {flops / t_dask / 1e9:6.1f} GFLOP/s")
    print(
        f"tasks {tasks}, busy {busy:.2f} s in tasks, overhead per task "
        f"{(workers * t_dask - busy) / tasks * 1e3:.1f} ms; max relative difference to "
        f"numpy {err:.1e}"
    )


if __name__ == "__main__":
    main()
