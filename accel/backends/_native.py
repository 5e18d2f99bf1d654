"""What a backend whose kernels are compiled code hands the compiled fast path
(accel._fastpath), so that a small call runs them with no Python in between.

- cpu: the addresses of its C entry points.
- simd: wasmtime's C entry for calling an export, a `binder` that gives the calling thread's
  instance (its context, the exports the fast path calls, the memory's address and a scratch
  block of its own), and a `band_binder` that gives the instances a large product's bands run
  on, on the native thread pool.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class CpuEntries:
    # addresses of accel_<kind>_<f32|f64> for kind in KINDS, in that order
    kernels: tuple[int, ...]

    KINDS = ("elementwise", "linear", "dot", "softmax", "map", "norm")


@dataclass(frozen=True)
class WasmEntries:
    call: int  # wasmtime_func_call_unchecked
    error_delete: int  # wasmtime_error_delete
    trap_delete: int  # wasm_trap_delete
    raw_size: int  # sizeof(wasmtime_val_raw_t)
    # binder() -> (context, {export: func address}, memory base, scratch offset, scratch bytes)
    # for the calling thread, or None
    binder: Callable[[], tuple | None]
    # band_binder() -> (the lock their user holds, the native pool's accel_wasm_bands address,
    # ((context, the func addresses of EXPORTS, scratch offset, scratch bytes), ...) one per
    # band instance, what keeps them alive), or None where there is no native pool
    band_binder: Callable[[], tuple | None]

    EXPORTS = ("elementwise_f32", "elementwise_f64", "linear_f32", "linear_f64",
               "softmax_f32", "softmax_f64", "dot_f32", "dot_f64",
               "gemm_scratch_f32", "gemm_scratch_f64", "map_f32", "map_f64",
               "plan_f32", "plan_f64", "norm_f32", "norm_f64")  # fmt: skip
