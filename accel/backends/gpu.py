"""The `gpu` backend: WGSL compute shaders (shaders/) through wgpu-py: Vulkan, Metal, D3D12.

- Adapter: the high-performance one, or the first whose name contains ACCEL_GPU_ADAPTER. An
  adapter of type CPU (llvmpipe, lavapipe, SwiftShader, WARP) is a software renderer: strict
  `backend="gpu"` runs on it (that is how CI tests the shaders), auto never chooses it.
- The device is requested with the adapter's largest buffer and binding limits; work beyond
  one binding is split by the shared layer (max_elements), beyond 65535 workgroups per
  dimension into several dispatches here.
- Shader modules and pipelines are made once per (kernel, dtype, variant) and cached;
  storage buffers come from a pool keyed by size class with a bounded total; read-back goes
  through reused staging buffers (wgpu-py's queue.read_buffer makes a new one every call).
- matmul loads and stores vec4s where K and N are multiples of 4, scalars elsewhere.
- float64 runs where the adapter has shader-f64 (and shader-int64, for the bit tests).
- Validation errors, out-of-memory and device loss become AccelErrors; in auto mode the call
  falls back and the backend stays unusable until it is probed again (accel.probe()).

wgpu objects are not shared between threads here: one lock serialises the backend's GPU work.
"""

from __future__ import annotations

import math
import os
import threading
from importlib import metadata, resources

import numpy as np
import wgpu

from .._errors import BackendRuntimeError

_F32 = np.dtype(np.float32)
_F64 = np.dtype(np.float64)
_SUFFIX = {_F32: "f32", _F64: "f64"}
_MAX_GROUPS = 65535
_POOL_BYTES = 512 << 20  # storage buffers kept for reuse, at most
_MIN_CLASS = 256
_ENTRY = {"relu": "relu", "sigmoid": "sigmoid", "tanh": "tanh_"}  # tanh is a WGSL builtin
_STORAGE = wgpu.BufferUsage.STORAGE | wgpu.BufferUsage.COPY_DST | wgpu.BufferUsage.COPY_SRC
_STAGING = wgpu.BufferUsage.MAP_READ | wgpu.BufferUsage.COPY_DST
_UNIFORM = wgpu.BufferUsage.UNIFORM | wgpu.BufferUsage.COPY_DST
_SOFTWARE_NAMES = ("llvmpipe", "lavapipe", "swiftshader", "warp", "software")

# Each limit the backend needs, requested at the adapter's maximum.
_LIMITS = (
    "max-buffer-size",
    "max-storage-buffer-binding-size",
    "max-compute-workgroup-storage-size",
    "max-compute-invocations-per-workgroup",
    "max-compute-workgroups-per-dimension",
)


def _size_class(nbytes: int) -> int:
    return max(_MIN_CLASS, 1 << (max(nbytes, 1) - 1).bit_length())


def _source(name: str) -> str:
    return resources.files("accel.shaders").joinpath(name).read_text()


def _is_software(info: dict) -> bool:
    kind = str(info.get("adapter_type", "")).lower()
    text = f"{info.get('device', '')} {info.get('description', '')}".lower()
    return kind == "cpu" or any(word in text for word in _SOFTWARE_NAMES)


class GpuBackend:
    name = "gpu"

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._failed: str | None = None
        self._reason: str | None = None
        self.adapter = None
        try:
            self.adapter = self._choose_adapter()
        except Exception as e:  # no driver, no adapter: unavailable, with why
            self._reason = f"no usable GPU adapter ({type(e).__name__}: {e}); {self._fix()}"
            return
        if self.adapter is None:
            self._reason = f"no GPU adapter was found; {self._fix()}"
            return
        info = dict(self.adapter.info)
        self.info = info
        self.software = _is_software(info)
        features = set(self.adapter.features)
        self.f64 = "shader-f64" in features and "shader-int64" in features
        wanted = [f for f in ("shader-f64", "shader-int64") if self.f64]
        limits = {k: self.adapter.limits[k] for k in _LIMITS if k in self.adapter.limits}
        self.device = self.adapter.request_device_sync(
            required_features=wanted, required_limits=limits
        )
        self.limits = dict(self.device.limits)
        self.binding_bytes = min(
            self.limits["max-storage-buffer-binding-size"], self.limits["max-buffer-size"]
        )
        self._dtypes = frozenset((_F32, _F64) if self.f64 else (_F32,))
        self._modules: dict = {}
        self._pipelines: dict = {}
        self._pool: dict[int, list] = {}
        self._pooled_bytes = 0
        self._staging: dict[int, object] = {}
        self._uniforms: list = []
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
            for adapter in wgpu.gpu.enumerate_adapters_sync():
                info = adapter.info
                names = (info.get(key, "") for key in ("device", "vendor", "description"))
                if wanted in " ".join(names).lower():
                    return adapter
            raise RuntimeError(f"no adapter's name contains ACCEL_GPU_ADAPTER={wanted!r}")
        return wgpu.gpu.request_adapter_sync(power_preference="high-performance")

    # -- resources ---------------------------------------------------------------------------
    def _pipeline(self, family: str, entry: str, dtype: np.dtype, parts: tuple[str, ...] = ()):
        """The pipeline of an entry point of shaders/<family>.wgsl, after the dtype's prelude
        and any extra parts (matmul's I/O variant)."""
        key = (family, entry, dtype, parts)
        pipeline = self._pipelines.get(key)
        if pipeline is None:
            module_key = (family, dtype, parts)
            module = self._modules.get(module_key)
            if module is None:
                names = (f"prelude_{_SUFFIX[dtype]}", *parts, family)
                code = "\n".join(_source(f"{name}.wgsl") for name in names)
                module = self.device.create_shader_module(code=code, label="+".join(names))
                self._modules[module_key] = module
            pipeline = self.device.create_compute_pipeline(
                layout="auto", compute={"module": module, "entry_point": entry}
            )
            self._pipelines[key] = pipeline
        return pipeline

    def _buffer(self, nbytes: int):
        size = _size_class(nbytes)
        free = self._pool.get(size)
        if free:
            self._pooled_bytes -= size
            return free.pop()
        return self.device.create_buffer(size=size, usage=_STORAGE)

    def _release(self, *buffers) -> None:
        for buf in buffers:
            if self._pooled_bytes + buf.size > _POOL_BYTES:
                buf.destroy()
                continue
            self._pool.setdefault(buf.size, []).append(buf)
            self._pooled_bytes += buf.size

    def _uniform(self, index: int, values: list[int]):
        """The index-th uniform buffer of this call, filled with u32 values."""
        while len(self._uniforms) <= index:
            self._uniforms.append(self.device.create_buffer(size=64, usage=_UNIFORM))
        buf = self._uniforms[index]
        data = np.zeros(16, np.uint32)
        data[: len(values)] = values
        self.device.queue.write_buffer(buf, 0, data)
        return buf

    def _upload(self, array: np.ndarray):
        buf = self._buffer(array.nbytes)
        self.device.queue.write_buffer(buf, 0, array)
        return buf

    def _read(self, buf, nbytes: int, dtype: np.dtype) -> np.ndarray:
        size = _size_class(nbytes)
        staging = self._staging.get(size)
        if staging is None:
            staging = self._staging[size] = self.device.create_buffer(size=size, usage=_STAGING)
        encoder = self.device.create_command_encoder()
        encoder.copy_buffer_to_buffer(buf, 0, staging, 0, nbytes)
        self.device.queue.submit([encoder.finish()])
        staging.map_sync(wgpu.MapMode.READ, 0, nbytes)
        try:
            data = np.frombuffer(staging.read_mapped(0, nbytes), dtype=dtype).copy()
        finally:
            staging.unmap()
        return data

    def _dispatch(self, pipeline, entries: list, groups: tuple[int, int, int]) -> None:
        bind_group = self.device.create_bind_group(
            layout=pipeline.get_bind_group_layout(0),
            entries=[{"binding": i, "resource": {"buffer": b}} for i, b in entries],
        )
        encoder = self.device.create_command_encoder()
        compute = encoder.begin_compute_pass()
        compute.set_pipeline(pipeline)
        compute.set_bind_group(0, bind_group)
        compute.dispatch_workgroups(*groups)
        compute.end()
        self.device.queue.submit([encoder.finish()])

    def _run(self, work):
        """Runs work() under the lock, turning wgpu's failures into AccelErrors."""
        with self._lock:
            try:
                return work()
            except (wgpu.GPUError, RuntimeError, MemoryError) as e:
                kind = "out of GPU memory" if "memory" in str(e).lower() else "GPU failure"
                raise BackendRuntimeError(f"{kind}: {type(e).__name__}: {e}") from e

    # -- protocol ----------------------------------------------------------------------------
    def unavailable_reason(self) -> str | None:
        if self._reason is not None:
            return self._reason
        if self._failed is not None:
            return f"the GPU failed ({self._failed}); accel.probe() probes it again"
        return None

    def on_failure(self, error: Exception) -> bool:
        """Marks the backend unusable after a run-time failure; True: the dispatcher must
        forget its plans. accel.probe() makes a new backend object (a new device)."""
        self._failed = f"{type(error).__name__}: {error}"
        return True

    def needs_reprobe(self) -> bool:
        return self._failed is not None

    def dtypes(self) -> frozenset[np.dtype]:
        return self._dtypes

    def auto_eligible(self) -> bool:
        return not self.software

    def max_elements(self, dtype: np.dtype) -> int:
        return self.binding_bytes // dtype.itemsize

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
            "driver": info.get("description", ""),
            "software": self.software,
            "limits": {k: self.limits.get(k) for k in _LIMITS},
            "features": {
                "shader-f16": "shader-f16" in features,
                "shader-f64": "shader-f64" in features,
                "subgroups": "subgroup" in features or "subgroups" in features,
                "timestamp-query": "timestamp-query" in features,
            },
        }

    def elementwise(self, op: str, x: np.ndarray, out: np.ndarray) -> None:
        def work():
            n = x.size
            src = self._upload(x)
            dst = self._buffer(x.nbytes)
            try:
                pipeline = self._pipeline("elementwise", _ENTRY[op], x.dtype)
                groups = math.ceil(n / 256)
                nx = min(groups, _MAX_GROUPS)
                params = self._uniform(0, [n, 0])
                self._dispatch(pipeline, [(0, src), (1, dst), (2, params)],
                               (nx, math.ceil(groups / nx), 1))  # fmt: skip
                out.reshape(-1)[...] = self._read(dst, x.nbytes, x.dtype)
            finally:
                self._release(src, dst)

        self._run(work)

    def dot(self, a: np.ndarray, b: np.ndarray) -> float:
        def work():
            n = a.size
            groups = min(1024, math.ceil(n / 4096))  # a function of n alone: the same bits
            chunk = math.ceil(n / groups)
            ba, bb = self._upload(a), self._upload(b)
            partials = self._buffer(groups * a.itemsize)
            result = self._buffer(a.itemsize)
            try:
                params = self._uniform(0, [n, chunk, groups])
                self._dispatch(
                    self._pipeline("dot", "partial", a.dtype),
                    [(0, ba), (1, bb), (2, partials), (3, params)],
                    (groups, 1, 1),
                )
                self._dispatch(self._pipeline("dot", "total", a.dtype),
                               [(2, partials), (3, params), (4, result)], (1, 1, 1))  # fmt: skip
                return float(self._read(result, a.itemsize, a.dtype)[0])
            finally:
                self._release(ba, bb, partials, result)

        return self._run(work)

    def matmul(self, a: np.ndarray, b: np.ndarray, out: np.ndarray) -> None:
        def work():
            count, m, k = out.shape[0], a.shape[1], a.shape[2]
            n = b.shape[2]
            ba, bb = self._upload(a), self._upload(b)
            bc = self._buffer(out.nbytes)
            try:
                quads = self.vector_io and k % 4 == 0 and n % 4 == 0
                io = "matmul_io_vec4" if quads else "matmul_io_scalar"
                pipeline = self._pipeline("matmul", "matmul", out.dtype, (io,))
                a_stride = m * k if a.shape[0] > 1 else 0
                b_stride = k * n if b.shape[0] > 1 else 0
                col_tiles, row_tiles = math.ceil(n / 64), math.ceil(m / 64)
                # all of a batch in one dispatch where it can: 65535 per grid dimension
                i = 0
                for z0 in range(0, count, _MAX_GROUPS):
                    for r0 in range(0, row_tiles, _MAX_GROUPS):
                        for c0 in range(0, col_tiles, _MAX_GROUPS):
                            params = self._uniform(i, [m, n, k, a_stride, b_stride, z0, r0, c0])
                            groups = (min(_MAX_GROUPS, col_tiles - c0),
                                      min(_MAX_GROUPS, row_tiles - r0),
                                      min(_MAX_GROUPS, count - z0))  # fmt: skip
                            self._dispatch(
                                pipeline, [(0, ba), (1, bb), (2, bc), (3, params)], groups
                            )
                            i += 1
                out.reshape(-1)[...] = self._read(bc, out.nbytes, out.dtype)
            finally:
                self._release(ba, bb, bc)

        self._run(work)


def create() -> GpuBackend:
    return GpuBackend()
