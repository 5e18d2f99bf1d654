"""The `gpu` backend: WGSL compute shaders (shaders/) through wgpu-py: Vulkan, Metal, D3D12.

- Adapter: the high-performance one, or the first whose name contains ACCEL_GPU_ADAPTER. An
  adapter of type CPU (llvmpipe, lavapipe, SwiftShader, WARP) is a software renderer: strict
  `backend="gpu"` runs on it (that is how CI tests the shaders), auto never chooses it.
- The device is requested with the adapter's largest buffer and binding limits. Buffers come
  from a pool of size classes (powers of two, capped at the limits) and are bound with their
  exact sizes; work beyond one binding is split by the shared layer (max_elements), beyond
  65535 workgroups per dimension into several dispatches here, and matmul's K into chunks on
  adapters that limit one invocation's loop iterations (llvmpipe: 65,535).
- Recording: every op is recorded into one pending command encoder (one compute pass while
  dispatches follow each other), with its parameters in a slot of a uniform arena bound with a
  dynamic offset, and a bind group from an LRU cache over explicit bind-group layouts. Nothing
  is submitted until data is read back (or enough is pending): a chain of ops on gpu Arrays has
  no per-op submit and no per-op wait, and one call on numpy data is one submit. Buffers given
  back while work is pending wait for the submit before they are reused.
- Read-back copies into a pooled staging buffer, maps it and copies straight into the
  destination array: no fresh host allocation.
- Shader modules and pipelines are made once per (kernel, dtype, variant, activation) and
  cached. float64 runs where the adapter has shader-f64 (and shader-int64, for the bit tests).
- Errors: device loss and out-of-memory become AccelErrors; only a lost device marks the
  backend unusable (until accel.probe() probes it again); a validation error is a bug, raised.
- Fork: a GPU driver does not survive fork (Mesa's lavapipe hangs in the child's first submit,
  even on a new instance); in a child forked after this process started the GPU, the backend
  is unavailable with that reason, and auto uses the others.

wgpu objects are not shared between threads here: one lock serialises the backend's GPU work.
"""

from __future__ import annotations

import math
import os
import threading
from collections import OrderedDict
from importlib import metadata

import numpy as np
import wgpu

from .._errors import BackendRuntimeError, UnsupportedOperationError
from .._optable import ACT_NONE
from .._resources import kernel_file
from ._base import Backend

_F32 = np.dtype(np.float32)
_F64 = np.dtype(np.float64)
_SUFFIX = {_F32: "f32", _F64: "f64"}
_MAX_GROUPS = 65535
_POOL_BYTES = 256 << 20  # buffers (storage and staging) kept for reuse, at most
_MIN_CLASS = 256
_SLOT = 256  # bytes per parameter slot of the uniform arena (>= every offset alignment)
_SLOTS = 256  # slots per arena: more pending dispatches than this flush first
_PARAMS_BYTES = 64  # each kernel's parameter struct fits
_SOFTWARE_K_CHUNK = 8192  # K per matmul dispatch on adapters that cap loop iterations
_MAX_SOFTMAX_COLS = 1 << 22  # a row per workgroup: beyond, one invocation loops too long
_STORAGE = wgpu.BufferUsage.STORAGE | wgpu.BufferUsage.COPY_DST | wgpu.BufferUsage.COPY_SRC
_STAGING = wgpu.BufferUsage.MAP_READ | wgpu.BufferUsage.COPY_DST
_UNIFORM = wgpu.BufferUsage.UNIFORM | wgpu.BufferUsage.COPY_DST
_SOFTWARE_NAMES = ("llvmpipe", "lavapipe", "swiftshader", "warp", "software")

# The matmul family (shaders/matmul.wgsl): output tile TM x TN per workgroup, RM rows x RQ vec4
# columns per invocation, K step TK. Each also has an aligned form (no bounds checks) used when
# M, N and K are multiples of its tile. All give the same bits: only the speed differs, by GPU.
MATMUL_VARIANTS: dict[str, dict[str, int]] = {
    "t64x64_r4x4": {"TM": 64, "TN": 64, "RM": 4, "RQ": 1, "TK": 16, "DB": 0},
    "t128x64_r8x4": {"TM": 128, "TN": 64, "RM": 8, "RQ": 1, "TK": 16, "DB": 0},
    "t128x128_r8x8": {"TM": 128, "TN": 128, "RM": 8, "RQ": 2, "TK": 16, "DB": 0},
    "t32x32_r4x4": {"TM": 32, "TN": 32, "RM": 4, "RQ": 1, "TK": 16, "DB": 0},  # small matrices
    # register double-buffering: the next K step's loads in flight during this step's fmas
    "t128x128_r8x8_db": {"TM": 128, "TN": 128, "RM": 8, "RQ": 2, "TK": 16, "DB": 1},
    "t64x64_r4x4_db": {"TM": 64, "TN": 64, "RM": 4, "RQ": 1, "TK": 16, "DB": 1},
    # direct (DIRECT 1, entry main_direct): no workgroup memory, no barriers, operands read
    # from global memory; 8 invocations per workgroup. For adapters that are CPUs (llvmpipe
    # runs a workgroup as SIMD lanes: 2-3x the tiled kernels there) and for products with few
    # tiles.
    "d8x32_r8x4": {"TM": 8, "TN": 32, "RM": 8, "RQ": 1, "TK": 4, "DB": 0, "DIRECT": 1},
    "d16x16_r8x4": {"TM": 16, "TN": 16, "RM": 8, "RQ": 1, "TK": 4, "DB": 0, "DIRECT": 1},
    # subgroups (SG 1; only where the adapter has them): each invocation loads one of the
    # rows' quads of A and takes the others from its neighbours (subgroupShuffle)
    "d8x32_r8x4_sg": {"TM": 8, "TN": 32, "RM": 8, "RQ": 1, "TK": 4, "DB": 0, "DIRECT": 1, "SG": 1},
}
# subgroup variants: one-dimensional workgroups (naga's rule for subgroup_invocation_id)
assert all(v["TM"] == v["RM"] for v in MATMUL_VARIANTS.values() if v.get("SG"))
DEFAULT_VARIANT = "t128x128_r8x8"  # 8 x 8 per invocation: the fastest class on most GPUs
MID_VARIANT = "t64x64_r4x4"
SMALL_VARIANT = "t32x32_r4x4"
# llvmpipe, every size: 2-3x the tiled kernels below 512, level with the best of them above
# (with subgroups 25% faster again)
SOFTWARE_VARIANT = "d8x32_r8x4"
SOFTWARE_SUBGROUP_VARIANT = "d8x32_r8x4_sg"

# Each limit the backend needs, requested at the adapter's maximum.
_LIMITS = (
    "max-buffer-size",
    "max-storage-buffer-binding-size",
    "max-compute-workgroup-storage-size",
    "max-compute-invocations-per-workgroup",
    "max-compute-workgroups-per-dimension",
)

# Bind-group layouts: (binding, kind) per family. "ro"/"rw" storage, "u" the uniform arena.
_LAYOUTS = {
    "elementwise_xy": ((0, "ro"), (1, "rw"), (2, "u")),
    "elementwise_inplace": ((1, "rw"), (2, "u")),
    "matmul": ((0, "ro"), (1, "ro"), (2, "rw"), (3, "u"), (4, "ro")),
    "dot_partial": ((0, "ro"), (1, "ro"), (2, "rw"), (3, "u")),
    "dot_total": ((2, "rw"), (3, "u"), (4, "rw")),
}


def _source(name: str) -> str:
    return kernel_file("shaders", name).decode()


def _is_software(info: dict) -> bool:
    kind = str(info.get("adapter_type", "")).lower()
    text = f"{info.get('device', '')} {info.get('description', '')}".lower()
    return kind == "cpu" or any(word in text for word in _SOFTWARE_NAMES)


def _adapter_name(adapter) -> str:
    info = adapter.info
    return f"{info.get('device', '?')} ({info.get('backend_type', '?')}, {info.get('vendor', '?')})"


class _Buf:
    """A pooled GPU buffer and the bytes of it in use."""

    __slots__ = ("buffer", "nbytes", "serial", "size")
    _serials = 0

    def __init__(self, buffer, size: int) -> None:
        _Buf._serials += 1
        self.serial = _Buf._serials
        self.buffer = buffer
        self.size = size
        self.nbytes = 0


class GpuBackend(Backend):
    name = "gpu"

    def __init__(self, limits: dict[str, int] | None = None) -> None:
        """limits: device limits to request instead of the adapter's largest (tests use this
        to get a device whose binding limit is not a power of two, as many drivers report)."""
        self._lock = threading.RLock()
        self._failed: str | None = None
        self._forked: str | None = None
        self._reason: str | None = None
        self.adapter = None
        try:
            self.adapter = self._choose_adapter()
        except Exception as e:  # no driver, no adapter: unavailable, with why
            self._reason = f"no usable GPU adapter ({' '.join(str(e).split())}); {self._fix()}"
            return
        if self.adapter is None:
            self._reason = f"no GPU adapter was found; {self._fix()}"
            return
        info = dict(self.adapter.info)
        self.info = info
        self.software = _is_software(info)
        features = set(self.adapter.features)
        self.f64 = "shader-f64" in features and "shader-int64" in features
        self.subgroups = "subgroup" in features  # the matmul variants marked SG need it
        wanted = [f for f in ("shader-f64", "shader-int64") if self.f64]
        wanted += ["subgroup"] if self.subgroups else []
        wanted_limits = {k: self.adapter.limits[k] for k in _LIMITS if k in self.adapter.limits}
        wanted_limits.update(limits or {})
        self.device = self.adapter.request_device_sync(
            required_features=wanted, required_limits=wanted_limits
        )
        self.queue = self.device.queue
        self.limits = dict(self.device.limits)
        self.max_buffer = int(self.limits["max-buffer-size"])
        self.binding_bytes = (
            min(int(self.limits["max-storage-buffer-binding-size"]), self.max_buffer) // 16 * 16
        )
        self.k_chunk = _SOFTWARE_K_CHUNK if self.software else 1 << 30
        self.workgroup_bytes = int(self.limits["max-compute-workgroup-storage-size"])
        self.adapter_key = f"{info.get('device', '')} | {info.get('description', '')}"
        self.forced_variant: str | None = None  # tests and benchmarks force one
        self.calibrated_variant, self.variant_source = _calibrated_variant(self.adapter_key)
        self._dtypes = frozenset((_F32, _F64) if self.f64 else (_F32,))
        self._modules: dict = {}
        self._pipelines: dict = {}
        self._layouts = {name: self._make_layout(entries) for name, entries in _LAYOUTS.items()}
        self._bind_groups: OrderedDict = OrderedDict()
        self._pool: dict[int, list[_Buf]] = {}
        self._staging: dict[int, list[_Buf]] = {}
        self._pooled_bytes = 0
        self._quarantine: list[tuple[_Buf, bool]] = []  # released while work is pending
        self._arena = self.device.create_buffer(size=_SLOT * _SLOTS, usage=_UNIFORM)
        self._params = np.zeros(_SLOT * _SLOTS // 4, np.uint32)
        self._slots_used = 0
        self._encoder = None
        self._pass = None
        self._dummy = self._new_buffer(64)  # bound where a kernel has no bias
        self.vector_io = True  # vec4 loads and stores in matmul where K and N allow them

    @staticmethod
    def _fix() -> str:
        return (
            "install the GPU's Vulkan, Metal or D3D12 driver (on Debian or Ubuntu without a GPU, "
            "`apt install mesa-vulkan-drivers` gives a software adapter for strict "
            'backend="gpu"), or use backend "simd" or "cpu"'
        )

    def _choose_adapter(self):
        wanted = os.environ.get("ACCEL_GPU_ADAPTER", "").strip().lower()
        if wanted:
            found = list(wgpu.gpu.enumerate_adapters_sync())
            for adapter in found:
                info = adapter.info
                names = (info.get(key, "") for key in ("device", "vendor", "description"))
                if wanted in " ".join(names).lower():
                    return adapter
            listing = "; ".join(_adapter_name(a) for a in found) or "none"
            raise RuntimeError(
                f"no adapter's name contains ACCEL_GPU_ADAPTER={wanted!r}; the adapters found "
                f"are: {listing}. Set it to part of one of these names, or unset it"
            )
        return wgpu.gpu.request_adapter_sync(power_preference="high-performance")

    # -- pipelines and bind groups ---------------------------------------------------------------
    def _make_layout(self, entries):
        ro = wgpu.BufferBindingType.read_only_storage
        rw = wgpu.BufferBindingType.storage
        layout_entries = []
        for binding, kind in entries:
            if kind == "u":
                buffer = {"type": wgpu.BufferBindingType.uniform, "has_dynamic_offset": True,
                          "min_binding_size": _PARAMS_BYTES}  # fmt: skip
            else:
                buffer = {"type": ro if kind == "ro" else rw}
            layout_entries.append(
                {"binding": binding, "visibility": wgpu.ShaderStage.COMPUTE, "buffer": buffer}
            )
        group = self.device.create_bind_group_layout(entries=layout_entries)
        return group, self.device.create_pipeline_layout(bind_group_layouts=[group])

    def _pipeline(self, family: str, layout: str, dtype: np.dtype, parts: tuple[str, ...],
                  act: int, entry: str = "main", consts: tuple = ()):  # fmt: skip
        """The pipeline of an entry point of shaders/<family>.wgsl after the dtype's prelude,
        the activations (with ACT), the I/O parts and the variant's constants."""
        key = (family, entry, dtype, parts, act, consts)
        pipeline = self._pipelines.get(key)
        if pipeline is None:
            names = (f"prelude_{_SUFFIX[dtype]}", "activations", *parts, family)
            head = f"const ACT: i32 = {act};\n" + "".join(
                f"const {name}: u32 = {value}u;\n" for name, value in consts
            )
            code = head + "\n".join(_source(f"{n}.wgsl") for n in names)
            module = self._modules.get((names, act, consts))
            if module is None:
                module = self.device.create_shader_module(code=code, label="+".join(names))
                self._modules[(names, act, consts)] = module
            pipeline = self.device.create_compute_pipeline(
                layout=self._layouts[layout][1], compute={"module": module, "entry_point": entry}
            )
            self._pipelines[key] = pipeline
        return pipeline

    def matmul_params(self, variant: str, dtype: np.dtype) -> dict[str, int]:
        """A variant's constants for a dtype: K step halved where its tiles would not fit the
        adapter's workgroup memory (float64 vec4s are twice as large)."""
        v = dict(MATMUL_VARIANTS[variant])
        vec4 = 4 * np.dtype(dtype).itemsize
        while v["TK"] > 4 and v["TK"] * (v["TM"] + v["TN"]) // 4 * vec4 > self.workgroup_bytes:
            v["TK"] //= 2
        v["WX"], v["WY"] = v["TN"] // (4 * v["RQ"]), v["TM"] // v["RM"]
        return v

    def _bind_group(self, layout: str, storage: list[tuple[int, _Buf, int]]):
        """A bind group of the layout: (binding, buffer, bytes bound) entries plus the arena."""
        key = (layout, *((b, buf.serial, nbytes) for b, buf, nbytes in storage))
        group = self._bind_groups.get(key)
        if group is not None:
            self._bind_groups.move_to_end(key)
            return group
        uniform = next(b for b, kind in _LAYOUTS[layout] if kind == "u")
        entries = [{"binding": b, "resource": {"buffer": buf.buffer, "offset": 0,
                                                "size": max(4, _round4(nbytes))}}
                   for b, buf, nbytes in storage]  # fmt: skip
        entries.append({"binding": uniform, "resource": {"buffer": self._arena, "offset": 0,
                                                         "size": _PARAMS_BYTES}})  # fmt: skip
        group = self.device.create_bind_group(layout=self._layouts[layout][0], entries=entries)
        self._bind_groups[key] = group
        if len(self._bind_groups) > 1024:
            self._bind_groups.popitem(last=False)
        return group

    # -- recording and submitting ----------------------------------------------------------------
    def _dispatch(self, pipeline, layout: str, storage, params: list[int], groups) -> None:
        if self._slots_used == _SLOTS:
            self._submit()
        slot = self._slots_used
        self._slots_used += 1
        at = slot * _SLOT // 4
        self._params[at : at + len(params)] = params
        group = self._bind_group(layout, storage)
        if self._encoder is None:
            self._encoder = self.device.create_command_encoder()
        if self._pass is None:
            self._pass = self._encoder.begin_compute_pass()
        self._pass.set_pipeline(pipeline)
        self._pass.set_bind_group(0, group, [slot * _SLOT])
        self._pass.dispatch_workgroups(*groups)

    def _submit(self) -> None:
        """Submits what is recorded; buffers released meanwhile become reusable."""
        if self._encoder is not None:
            if self._pass is not None:
                self._pass.end()
                self._pass = None
            if self._slots_used:
                self.queue.write_buffer(
                    self._arena, 0, self._params[: self._slots_used * _SLOT // 4]
                )
            self.queue.submit([self._encoder.finish()])
            self._encoder = None
            self._slots_used = 0
        quarantined, self._quarantine = self._quarantine, []
        for buf, staging in quarantined:
            self._to_pool(buf, staging)

    def flush(self) -> None:
        with self._lock:
            self._run(self._submit)

    def _abandon(self) -> None:
        """Drops what was recorded (after a failure): it is never submitted."""
        self._pass = None
        self._encoder = None
        self._slots_used = 0
        for buf, _staging in self._quarantine:
            buf.buffer.destroy()
        self._quarantine = []

    def _run(self, work):
        """Runs work() under the lock, turning wgpu's failures into AccelErrors."""
        with self._lock:
            if self._failed is not None or self._forked is not None:
                raise BackendRuntimeError(f"the GPU is unusable: {self._failed or self._forked}")
            try:
                return work()
            except (wgpu.GPUError, RuntimeError, ValueError, MemoryError) as e:
                self._abandon()
                text = " ".join(str(e).split())
                if isinstance(e, MemoryError) or "memory" in text.lower():
                    raise BackendRuntimeError(f"out of GPU memory: {text}") from e
                raise BackendRuntimeError(f"GPU failure: {type(e).__name__}: {text}") from e

    # -- memory ------------------------------------------------------------------------------
    def _size_class(self, nbytes: int) -> int:
        size = max(_MIN_CLASS, 1 << (max(nbytes, 1) - 1).bit_length())
        return min(size, self.max_buffer // 4 * 4)

    def _new_buffer(self, size: int, usage=_STORAGE) -> _Buf:
        return _Buf(self.device.create_buffer(size=size, usage=usage), size)

    def _take(self, nbytes: int, staging: bool = False) -> _Buf:
        if nbytes > self.max_buffer:
            raise MemoryError(
                f"{nbytes} bytes exceed this adapter's largest buffer ({self.max_buffer} bytes)"
            )
        size = self._size_class(nbytes)
        pool = self._staging if staging else self._pool
        free = pool.get(size)
        if free:
            buf = free.pop()
            self._pooled_bytes -= size
        else:
            buf = self._new_buffer(size, _STAGING if staging else _STORAGE)
        buf.nbytes = nbytes
        return buf

    def _to_pool(self, buf: _Buf, staging: bool = False) -> None:
        if self._pooled_bytes + buf.size > _POOL_BYTES:
            buf.buffer.destroy()  # beyond the budget: the memory goes back to the driver
            return
        (self._staging if staging else self._pool).setdefault(buf.size, []).append(buf)
        self._pooled_bytes += buf.size

    def _give_back(self, buf: _Buf, staging: bool = False) -> None:
        if self._encoder is not None:  # pending work may use it: after the submit
            self._quarantine.append((buf, staging))
        else:
            self._to_pool(buf, staging)

    def empty(self, n: int, dtype: np.dtype) -> _Buf:
        return self._run(lambda: self._take(max(4, n * np.dtype(dtype).itemsize)))

    def release(self, buf: _Buf) -> None:
        with self._lock:
            if self._failed is None and self._forked is None:
                self._give_back(buf)

    def _upload(self, x: np.ndarray) -> _Buf:
        def work() -> _Buf:
            buf = self._take(max(4, x.nbytes))
            if x.nbytes:
                self.queue.write_buffer(buf.buffer, 0, x)
            return buf

        return self._run(work)

    def _download(self, buf: _Buf, out: np.ndarray) -> None:
        if out.nbytes:
            self._run(lambda: self._download_locked(buf, out))

    def _copy(self, src: _Buf, dst: _Buf, nbytes: int) -> None:
        if self._encoder is None:
            self._encoder = self.device.create_command_encoder()
        if self._pass is not None:
            self._pass.end()
            self._pass = None
        self._encoder.copy_buffer_to_buffer(src.buffer, 0, dst.buffer, 0, _round4(nbytes))

    def copy(self, src: _Buf, dst: _Buf, n: int, dtype: np.dtype) -> None:
        self._run(lambda: self._copy(src, dst, n * dtype.itemsize))

    # -- state -----------------------------------------------------------------------------------
    def unavailable_reason(self) -> str | None:
        if self._reason is not None:
            return self._reason
        if self._forked is not None:
            return self._forked
        if self._failed is not None:
            return f"the GPU failed ({self._failed}); accel.probe() probes it again"
        return None

    def on_failure(self, error: Exception) -> bool:
        """After a run-time failure: a lost device marks the backend unusable (True: the
        dispatcher forgets its plans); out of memory and validation errors do not."""
        text = str(error).lower()
        if "lost" in text or "destroyed" in text or "invalid device" in text:
            self._failed = " ".join(str(error).split())
            return True
        return False

    def needs_reprobe(self) -> bool:
        return self._failed is not None

    def after_fork(self) -> None:
        if self._reason is None:
            self._forked = (
                "this process was forked after its parent started the GPU, and GPU drivers do "
                "not survive fork(); use multiprocessing's 'spawn' or 'forkserver' start "
                "method for children that need the GPU (simd and cpu work here)"
            )
            self._lock = threading.RLock()

    def dtypes(self) -> frozenset[np.dtype]:
        return self._dtypes if self._reason is None else frozenset()

    def auto_eligible(self) -> bool:
        return not self.software

    def max_elements(self, dtype: np.dtype) -> int:
        return self.binding_bytes // dtype.itemsize

    def stream_elements(self, dtype: np.dtype) -> int:
        return self.max_elements(dtype)

    def details(self) -> dict:
        if self.adapter is None:
            return {}
        info = self.info
        features = set(self.adapter.features)
        return {
            "wgpu": metadata.version("wgpu"),
            "name": info.get("device", ""),
            "vendor": info.get("vendor", ""),
            "backend": info.get("backend_type", ""),
            "type": info.get("adapter_type", ""),
            "driver": " ".join(str(info.get("description", "")).split()),
            "software": self.software,
            "matmul_variant": dict(
                zip(("name", "why"), self.matmul_variant(4096, 4096), strict=True)
            ),
            "limits": {k: self.limits.get(k) for k in _LIMITS},
            "features": {
                "shader-f16": "shader-f16" in features,
                "shader-f64": "shader-f64" in features,
                "subgroups": "subgroup" in features or "subgroups" in features,
                "timestamp-query": "timestamp-query" in features,
            },
        }

    # -- kernels -----------------------------------------------------------------------------
    @staticmethod
    def _grid(groups: int) -> tuple[int, int, int]:
        nx = min(groups, _MAX_GROUPS)
        return nx, math.ceil(groups / nx), 1

    def elementwise(self, act, x, y, n, dtype) -> None:
        def work() -> None:
            inplace = x is y
            layout = "elementwise_inplace" if inplace else "elementwise_xy"
            io = "elementwise_io_inplace" if inplace else "elementwise_io_xy"
            pipeline = self._pipeline("elementwise", layout, dtype, (io,), act)
            nbytes = n * dtype.itemsize
            storage = [(1, y, nbytes)] if inplace else [(0, x, nbytes), (1, y, nbytes)]
            self._dispatch(pipeline, layout, storage, [n, 0], self._grid(math.ceil(n / 256)))

        self._run(work)

    def softmax(self, x, y, rows, cols, dtype) -> None:
        if cols > _MAX_SOFTMAX_COLS:
            raise UnsupportedOperationError(
                f"gpu softmax takes rows of up to {_MAX_SOFTMAX_COLS} elements; this one has {cols}"
            )

        def work() -> None:
            inplace = x is y
            layout = "elementwise_inplace" if inplace else "elementwise_xy"
            io = "elementwise_io_inplace" if inplace else "elementwise_io_xy"
            pipeline = self._pipeline("softmax", layout, dtype, (io,), ACT_NONE)
            nbytes = rows * cols * dtype.itemsize
            storage = [(1, y, nbytes)] if inplace else [(0, x, nbytes), (1, y, nbytes)]
            self._dispatch(pipeline, layout, storage, [rows, cols, 0], self._grid(rows))

        self._run(work)

    def dot(self, a, b, n, dtype) -> float:
        def work() -> float:
            groups = min(1024, math.ceil(n / 4096))  # a function of n alone: the same bits
            chunk = math.ceil(n / groups)
            size = dtype.itemsize
            partials = self._take(groups * size)
            result = self._take(max(4, size))
            try:
                params = [n, chunk, groups]
                self._dispatch(self._pipeline("dot", "dot_partial", dtype, (), ACT_NONE, "partial"),
                               "dot_partial", [(0, a, n * size), (1, b, n * size),
                                               (2, partials, groups * size)], params,
                               (groups, 1, 1))  # fmt: skip
                self._dispatch(self._pipeline("dot", "dot_total", dtype, (), ACT_NONE, "total"),
                               "dot_total", [(2, partials, groups * size), (4, result, size)],
                               params, (1, 1, 1))  # fmt: skip
                out = np.empty(1, dtype)
                self._download_locked(result, out)
                return float(out[0])
            finally:
                self._give_back(partials)
                self._give_back(result)

        return self._run(work)

    def _download_locked(self, buf: _Buf, out: np.ndarray) -> None:
        size = _round4(out.nbytes)
        staging = self._take(size, staging=True)
        self._copy(buf, staging, size)
        self._submit()
        staging.buffer.map_sync(wgpu.MapMode.READ, 0, size)
        try:
            mapped = staging.buffer.read_mapped(0, size, copy=False)
            np.copyto(out.reshape(-1), np.frombuffer(mapped, out.dtype, out.size))
            del mapped
        finally:
            staging.buffer.unmap()
            self._to_pool(staging, staging=True)

    def matmul_variant(self, m: int, n: int) -> tuple[str, str]:
        """(the variant for an m x n product, why): forced, calibrated for this adapter, or the
        default (the small-tile variant where 64 x 64 tiles would leave most cores idle)."""
        if self.forced_variant is not None:
            return self.forced_variant, "forced"
        tiles = math.ceil(m / 128) * math.ceil(n / 128)  # few tiles: most cores would idle
        if self.calibrated_variant is not None:
            large_choice, small_choice = self.calibrated_variant
            return (small_choice if tiles < 16 else large_choice), self.variant_source
        if self.software:
            name = SOFTWARE_SUBGROUP_VARIANT if self.subgroups else SOFTWARE_VARIANT
            return name, "default for an adapter that runs on the CPU (no calibration)"
        if tiles < 16:
            return SMALL_VARIANT, "default for fewer than 16 tiles of 128 x 128 (no calibration)"
        if tiles < 64:
            return MID_VARIANT, "default for fewer than 64 tiles of 128 x 128 (no calibration)"
        return DEFAULT_VARIANT, "default (no calibration for this adapter)"

    def linear(self, a, b, c, bias, act, batch, m, n, k, a_batch, b_batch, dtype) -> None:
        def work() -> None:
            name, _why = self.matmul_variant(m, n)
            v = self.matmul_params(name, dtype)
            quads = self.vector_io and k % 4 == 0 and n % 4 == 0
            aligned = quads and m % v["TM"] == 0 and n % v["TN"] == 0 and k % v["TK"] == 0
            io = "matmul_io_aligned" if aligned else "matmul_io_vec4" if quads else (
                "matmul_io_scalar")  # fmt: skip
            consts = tuple(
                (key, v[key]) for key in ("TM", "TN", "RM", "RQ", "TK", "WX", "WY", "DB")
            )
            entry = "main_direct" if v.get("DIRECT") else "main"
            direct = "matmul_direct_subgroup" if v.get("SG") else "matmul_direct_plain"
            pipeline = self._pipeline("matmul", "matmul", dtype, (io, direct), act, entry, consts)
            size = dtype.itemsize
            a_items = batch if a_batch else 1
            b_items = batch if b_batch else 1
            storage = [(0, a, a_items * m * k * size), (1, b, b_items * k * n * size),
                       (2, c, batch * m * n * size),
                       (4, self._dummy if bias is None else bias,
                        32 if bias is None else _round32(n * size))]  # fmt: skip
            col_tiles, row_tiles = math.ceil(n / v["TN"]), math.ceil(m / v["TM"])
            chunk = self.k_chunk // v["TK"] * v["TK"]
            epilogue = 2 | (4 if bias is not None else 0)
            for k0 in range(0, k, chunk):
                k1 = min(k, k0 + chunk)
                flags = (1 if k0 else 0) | (epilogue if k1 == k else 0)
                # all of a batch in one dispatch where it can: 65535 per grid dimension
                for z0 in range(0, batch, _MAX_GROUPS):
                    for r0 in range(0, row_tiles, _MAX_GROUPS):
                        for c0 in range(0, col_tiles, _MAX_GROUPS):
                            params = [m, n, k, a_batch, b_batch, z0, r0, c0, k0, k1, flags, 0]
                            groups = (min(_MAX_GROUPS, col_tiles - c0),
                                      min(_MAX_GROUPS, row_tiles - r0),
                                      min(_MAX_GROUPS, batch - z0))  # fmt: skip
                            self._dispatch(pipeline, "matmul", storage, params, groups)

        self._run(work)

    # -- variants: the tests run each, `accel calibrate` chooses one per adapter ------------
    def calibration_changed(self) -> None:
        if self._reason is None:
            self.calibrated_variant, self.variant_source = _calibrated_variant(self.adapter_key)

    def variants(self) -> tuple[str, ...]:
        if self._reason is not None:
            return ()
        return tuple(name for name, v in MATMUL_VARIANTS.items()
                     if self.subgroups or not v.get("SG"))  # fmt: skip

    def variant(self) -> str | None:
        return self.forced_variant

    def use_variant(self, name: str | None) -> None:
        """Forces one matmul variant (None: back to the calibrated or default choice)."""
        if name is not None and name not in self.variants():
            raise ValueError(f"unknown gpu matmul variant {name!r}, or one this adapter cannot "
                             f"run; choose from {list(self.variants())}")  # fmt: skip
        self.forced_variant = name


def _calibrated_variant(adapter_key: str) -> tuple[tuple[str, str] | None, str]:
    """The variants `accel calibrate` chose for this adapter (name and driver), if any: for
    large products and for small ones."""
    from .. import _cost

    choice = _cost.model().gpu_variants.get(adapter_key)
    if choice is not None and all(name in MATMUL_VARIANTS for name in choice):
        return choice, f"calibrated for this adapter ({_cost.model().source})"
    return None, "default (no calibration for this adapter)"


def _round4(n: int) -> int:
    return (n + 3) // 4 * 4


def _round32(n: int) -> int:
    """A binding of vec4s of float64 is a multiple of 32 bytes (a bias buffer has room)."""
    return (n + 31) // 32 * 32


def create() -> Backend:
    return GpuBackend()
