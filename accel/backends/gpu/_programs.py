"""The gpu backend's programs: WGSL sources made into shader modules and compute pipelines
(once per kernel family, dtype, activation and variant, then cached), explicit bind-group
layouts, and bind groups from an LRU cache (wgpu-py's compute_with_buffers, made reusable).

A kernel's source is the dtype's prelude, the generated part (the activation ids and their
`activate` switch, and the coefficient tables, all from the op table: accel/_codegen.py), the
activations, the kernel's I/O parts and the kernel family, after the constants of its variant.
"""

from __future__ import annotations

from collections import OrderedDict

import numpy as np
import wgpu

from ... import _codegen
from ..._resources import kernel_file
from ._device import PARAMS_BYTES
from ._memory import Buf, round4

SUFFIX = {np.dtype(np.float32): "f32", np.dtype(np.float64): "f64"}

# Bind-group layouts: (binding, kind) per family. "ro"/"rw" storage, "u" the uniform arena.
LAYOUTS = {
    "elementwise_xy": ((0, "ro"), (1, "rw"), (2, "u")),
    "elementwise_inplace": ((1, "rw"), (2, "u")),
    "matmul": ((0, "ro"), (1, "ro"), (2, "rw"), (3, "u"), (4, "ro")),
    "dot_partial": ((0, "ro"), (1, "ro"), (2, "rw"), (3, "u")),
    "dot_total": ((2, "rw"), (3, "u"), (4, "rw")),
    "norm": ((0, "ro"), (1, "rw"), (2, "u"), (3, "ro"), (4, "ro")),
    "fused": ((0, "ro"), (1, "ro"), (2, "ro"), (3, "ro"), (4, "rw"), (5, "u")),
}
_BIND_GROUPS = 1024  # kept in the LRU cache


def source(name: str) -> str:
    return kernel_file("shaders", name).decode()


class Programs:
    def __init__(self, device, arena) -> None:
        self.device = device
        self.arena = arena
        self._modules: dict = {}
        self._pipelines: dict = {}
        self.layouts = {name: self._make_layout(entries) for name, entries in LAYOUTS.items()}
        self._bind_groups: OrderedDict = OrderedDict()

    def _make_layout(self, entries):
        ro = wgpu.BufferBindingType.read_only_storage
        rw = wgpu.BufferBindingType.storage
        layout_entries = []
        for binding, kind in entries:
            if kind == "u":
                buffer = {"type": wgpu.BufferBindingType.uniform, "has_dynamic_offset": True,
                          "min_binding_size": PARAMS_BYTES}  # fmt: skip
            else:
                buffer = {"type": ro if kind == "ro" else rw}
            layout_entries.append(
                {"binding": binding, "visibility": wgpu.ShaderStage.COMPUTE, "buffer": buffer}
            )
        group = self.device.create_bind_group_layout(entries=layout_entries)
        return group, self.device.create_pipeline_layout(bind_group_layouts=[group])

    def pipeline(self, family: str, layout: str, dtype: np.dtype, parts: tuple[str, ...],
                 act: int, entry: str = "main", consts: tuple = ()):  # fmt: skip
        """The pipeline of an entry point of shaders/<family>.wgsl after the dtype's prelude,
        the generated tables, the activations (with ACT), the I/O parts and the variant's
        constants."""
        key = (family, entry, dtype, parts, act, consts)
        pipeline = self._pipelines.get(key)
        if pipeline is None:
            sfx = SUFFIX[dtype]
            names = (f"prelude_{sfx}", "activations", *parts, family)
            head = f"const ACT: i32 = {act};\n" + "".join(
                f"const {name}: u32 = {value}u;\n" for name, value in consts
            )
            code = (
                head
                + source(f"prelude_{sfx}.wgsl")
                + _codegen.wgsl(sfx)
                + "\n".join(source(f"{n}.wgsl") for n in names[1:])
            )
            module = self._modules.get((names, act, consts))
            if module is None:
                module = self.device.create_shader_module(code=code, label="+".join(names))
                self._modules[(names, act, consts)] = module
            pipeline = self.device.create_compute_pipeline(
                layout=self.layouts[layout][1], compute={"module": module, "entry_point": entry}
            )
            self._pipelines[key] = pipeline
        return pipeline

    def pipeline_code(self, key: tuple, dtype: np.dtype, body: str, layout: str,
                      entry: str = "main"):  # fmt: skip
        """The pipeline of a generated kernel: the dtype's prelude, the generated tables and
        the activations (ACT none), then `body`; cached by key."""
        pipeline = self._pipelines.get(key)
        if pipeline is None:
            sfx = SUFFIX[dtype]
            code = ("const ACT: i32 = -1;\n" + source(f"prelude_{sfx}.wgsl") + _codegen.wgsl(sfx)
                    + source("activations.wgsl") + body)  # fmt: skip
            module = self.device.create_shader_module(code=code, label="fused")
            pipeline = self.device.create_compute_pipeline(
                layout=self.layouts[layout][1], compute={"module": module, "entry_point": entry}
            )
            self._pipelines[key] = pipeline
        return pipeline

    def bind_group(self, layout: str, storage: list[tuple[int, Buf, int]]):
        """A bind group of the layout: (binding, buffer, bytes bound) entries plus the arena."""
        key = (layout, *((b, buf.serial, nbytes) for b, buf, nbytes in storage))
        group = self._bind_groups.get(key)
        if group is not None:
            self._bind_groups.move_to_end(key)
            return group
        uniform = next(b for b, kind in LAYOUTS[layout] if kind == "u")
        entries = [{"binding": b, "resource": {"buffer": buf.buffer, "offset": 0,
                                                "size": max(4, round4(nbytes))}}
                   for b, buf, nbytes in storage]  # fmt: skip
        entries.append({"binding": uniform, "resource": {"buffer": self.arena, "offset": 0,
                                                         "size": PARAMS_BYTES}})  # fmt: skip
        group = self.device.create_bind_group(layout=self.layouts[layout][0], entries=entries)
        self._bind_groups[key] = group
        if len(self._bind_groups) > _BIND_GROUPS:
            self._bind_groups.popitem(last=False)
        return group
