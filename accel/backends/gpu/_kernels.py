"""The gpu backend's kernels: each op recorded as dispatches of its WGSL kernel (shaders/).

Work beyond 65535 workgroups per dimension goes in several dispatches here, and matmul's K in
chunks on adapters that limit one invocation's loop iterations (llvmpipe: 65,535); work beyond
one binding is split by the host route (max_elements). The matmul family's variants give the
same bits: only the speed differs, by GPU; `accel calibrate` chooses one per adapter.
"""

from __future__ import annotations

import math

import numpy as np

from ..._optable import ACT_NONE, ACTIVATION_BY_ID, OPS
from .._kernels import Kernels, Strided, tree_numbers
from ._device import Device
from ._memory import GpuMemory, Lease
from ._programs import Programs, source

_MAX_GROUPS = 65535
# the most steps of a reduction's loop in one dispatch: a software adapter (llvmpipe) ends an
# invocation's loops after 65535 iterations in all (reduce.wgsl); a column takes one step per
# element, a row's invocation one per 256
_COLS_PART = 32768
_ROWS_PART = 256 * 32768
SOFTWARE_K_CHUNK = 8192  # K per matmul dispatch on adapters that cap loop iterations
# rows of up to this go one per invocation on a software adapter: three passes over a row stay
# within llvmpipe's 65,535 loop iterations per invocation (see _COLS_PART)
ROW_COLS_MAX = 4096
MAX_SOFTMAX_COLS = 1 << 22  # a row per workgroup: beyond, one invocation loops too long

# The matmul family (shaders/matmul.wgsl): output tile TM x TN per workgroup, RM rows x RQ vec4
# columns per invocation, K step TK. Each also has an aligned form (no bounds checks) used when
# M, N and K are multiples of its tile.
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
    # runs a workgroup as SIMD lanes) and for products with few tiles.
    "d8x32_r8x4": {"TM": 8, "TN": 32, "RM": 8, "RQ": 1, "TK": 4, "DB": 0, "DIRECT": 1},
    "d16x16_r8x4": {"TM": 16, "TN": 16, "RM": 8, "RQ": 1, "TK": 4, "DB": 0, "DIRECT": 1},
    # one row per tile: a row times a matrix (a batch of agents' layers for one input each),
    # where an 8-row tile would compute 7 rows of nothing
    "d1x64_r1x4": {"TM": 1, "TN": 64, "RM": 1, "RQ": 1, "TK": 4, "DB": 0, "DIRECT": 1},
    # the same on an adapter that runs on the CPU: a workgroup is one SIMD vector of 8
    # invocations, each with up to 4 vec4s of columns, so that a row up to 128 wide is one
    # workgroup (llvmpipe loads per lane: fewer, wider workgroups pay that loop less often)
    "d1x32_r1x4": {"TM": 1, "TN": 32, "RM": 1, "RQ": 1, "TK": 4, "DB": 0, "DIRECT": 1},
    "d1x64_r1x8": {"TM": 1, "TN": 64, "RM": 1, "RQ": 2, "TK": 4, "DB": 0, "DIRECT": 1},
    "d1x128_r1x16": {"TM": 1, "TN": 128, "RM": 1, "RQ": 4, "TK": 4, "DB": 0, "DIRECT": 1},
    # subgroups (SG 1; only where the adapter has them): each invocation loads one of the
    # rows' quads of A and takes the others from its neighbours (subgroupShuffle)
    "d8x32_r8x4_sg": {"TM": 8, "TN": 32, "RM": 8, "RQ": 1, "TK": 4, "DB": 0, "DIRECT": 1, "SG": 1},
}
# subgroup variants: one-dimensional workgroups (naga's rule for subgroup_invocation_id)
assert all(v["TM"] == v["RM"] for v in MATMUL_VARIANTS.values() if v.get("SG"))
DEFAULT_VARIANT = "t128x128_r8x8"  # 8 x 8 per invocation: the fastest class on most GPUs
MID_VARIANT = "t64x64_r4x4"
SMALL_VARIANT = "t32x32_r4x4"
SOFTWARE_VARIANT = "d8x32_r8x4"  # adapters that run on the CPU
SOFTWARE_SUBGROUP_VARIANT = "d8x32_r8x4_sg"
ROW_VARIANT = "d1x64_r1x4"
SOFTWARE_ROW_VARIANTS = ((32, "d1x32_r1x4"), (64, "d1x64_r1x8"), (None, "d1x128_r1x16"))


_MAP_NAMES = {op.kernel_id: name for name, op in OPS.items() if op.family in ("map", "binary")}
# each map op as a WGSL expression of x (and z); maximum and minimum give NaN for a NaN
_MAP_WGSL = {
    "copy": "x", "negative": "bitcast<T>(bitcast<U>(x) ^ SIGN)", "add": "x + z",
    "subtract": "x - z", "multiply": "x * z", "divide": "x / z",
    "maximum": "select(z, x, is_nan(bitcast<U>(x)) || (!is_nan(bitcast<U>(z)) && x >= z))",
    "minimum": "select(z, x, is_nan(bitcast<U>(x)) || (!is_nan(bitcast<U>(z)) && x <= z))",
}  # fmt: skip


def _fused_body(tree: tuple, leaves: int) -> str:
    """The WGSL of a fused chain (after the prelude, the tables and activations.wgsl): its
    map ops as functions, the expression, and the entry point (shaders/fused.wgsl)."""
    functions: dict[str, str] = {}

    def expr(t: tuple) -> str:
        if t[0] == "leaf":
            return f"v{t[1]}"
        if t[0] == "num":
            return f"number({t[1]}u)"
        if t[0] == "act":
            return f"{ACTIVATION_BY_ID[t[1]]}_f({expr(t[2])}, params.zero)"
        name = _MAP_NAMES[t[1]]
        # each result rounded as its own op's (no multiply-add contracted across two ops)
        functions[name] = (f"fn map_{name}(x: T, z: T) -> T {{\n    return kept({_MAP_WGSL[name]});"
                           "\n}\n")  # fmt: skip
        args = [expr(c) for c in t[2]] + ["T(0.0)"] * (2 - len(t[2]))
        return f"map_{name}({args[0]}, {args[1]})"

    value = expr(tree)
    ops = range(leaves)
    index = "".join(f"    var at{j} = i32(params.offsets[{j}]);\n" for j in ops)
    if leaves:
        index += ("    if (params.ndim == 1u) {\n"
                  + "".join(f"        at{j} += i32(i) * stride({j}u, 0u);\n" for j in ops)
                  + "    } else {\n        var rest = i;\n"
                  "        for (var d = i32(params.ndim) - 1; d >= 0; d--) {\n"
                  "            let extent = params.shape[u32(d) / 4u][u32(d) % 4u];\n"
                  "            let index = i32(rest % extent);\n"
                  "            rest = rest / extent;\n"
                  + "".join(f"            at{j} += index * stride({j}u, u32(d));\n" for j in ops)
                  + "        }\n    }\n")  # fmt: skip
    loads = "".join(f"    let v{j} = l{j}[at{j}];\n" for j in ops)
    return ("".join(functions.values()) + source("fused.wgsl").replace("/*INDEX*/\n", index)
            .replace("/*LOADS*/\n", loads).replace("/*VALUE*/", value))  # fmt: skip


def _round32(n: int) -> int:
    """A binding of vec4s of float64 is a multiple of 32 bytes (a bias buffer has room)."""
    return (n + 31) // 32 * 32


class GpuKernels(Kernels):
    def __init__(self, device: Device, memory: GpuMemory, programs: Programs, software: bool,
                 subgroups: bool, workgroup_bytes: int) -> None:  # fmt: skip
        self.device = device
        self.memory = memory
        self.programs = programs
        self.software = software
        self.subgroups = subgroups
        self.workgroup_bytes = workgroup_bytes
        self.k_chunk = SOFTWARE_K_CHUNK if software else 1 << 30
        self.vector_io = True  # vec4 loads and stores in matmul where K and N allow them
        self.forced_variant: str | None = None  # tests and benchmarks force one
        self.calibrated_variant: tuple[str, str] | None = None
        self.variant_source = "default (no calibration for this adapter)"
        self._dummy = memory.new_buffer(64)  # bound where a kernel has no bias

    def declines(self, op: str, dtype: np.dtype, shape: tuple[int, ...]) -> str | None:
        if op == "softmax" and shape and shape[-1] > MAX_SOFTMAX_COLS:
            return (f"gpu softmax takes rows of up to {MAX_SOFTMAX_COLS} elements; this one has "
                    f"{shape[-1]}")  # fmt: skip
        return None

    def _bound(self, lease: Lease) -> int:
        """The bytes of a leased buffer a binding may cover: all of it, up to the limit."""
        return min(lease.buf.size, self.memory.binding_bytes)

    @staticmethod
    def _scalar_bits(value: float, dtype: np.dtype) -> tuple[int, int]:
        """A float rounded to dtype, as the two u32 halves of its bits (low, high)."""
        bits = int(np.array(value, dtype).view(np.uint32 if dtype.itemsize == 4 else np.uint64))
        return bits & 0xFFFFFFFF, bits >> 32

    def map(self, op, act, a, b, y: Lease, shape, dtype, y_offset=0) -> None:
        """y[y_offset:] = act(op(a, b)): the fused kernel of that one-op expression (one
        kernel source for every elementwise op, and it loads only the operands the op has)."""
        leaves, children = [], []
        for o in (a, b):
            if isinstance(o, Strided):
                children.append(("leaf", len(leaves)))
                leaves.append(o)
            elif o is not None:
                children.append(("num", len(children) - len(leaves), float(o)))
        tree: tuple = ("map", op, tuple(children))
        if act != ACT_NONE:
            tree = ("act", act, tree)
        self.fused(tree, leaves, y, shape, dtype, y_offset)

    def reduce(self, op, x: Lease, y: Lease, outer, n, inner, dtype) -> None:
        def work() -> None:
            size = dtype.itemsize
            rows = inner == 1
            entry = "main_rows" if rows else "main_cols"
            pipeline = self.programs.pipeline("reduce", "elementwise_xy", dtype,
                                              ("elementwise_io_xy",), ACT_NONE, entry,
                                              (("OP", op),))  # fmt: skip
            storage = [(0, x.buf, outer * n * inner * size), (1, y.buf, outer * inner * size)]
            groups = self._grid(outer) if rows else self._grid(math.ceil(outer * inner / 256))
            # parts of the reduced axis short enough for llvmpipe's loop limiter (reduce.wgsl),
            # each continuing from the one before
            part = _ROWS_PART if rows else _COLS_PART
            for r0 in range(0, max(n, 1), part):
                r1 = min(n, r0 + part)
                self._dispatch(pipeline, "elementwise_xy", storage,
                               [outer, n, inner, 0, r0, r1, int(r1 >= n), 0], groups)  # fmt: skip

        self.device.run(work)

    def norm(self, kind, x: Lease, y: Lease, rows, cols, weight, bias, eps, dtype) -> None:
        if x is y:  # a buffer cannot be read and written in one dispatch: through another
            tmp = self.memory.alloc(rows * cols, dtype)
            self.norm(kind, x, tmp, rows, cols, weight, bias, eps, dtype)
            self.memory.copy(tmp, y, rows * cols, dtype)
            return

        def work() -> None:
            size = dtype.itemsize
            lo, hi = self._scalar_bits(eps, dtype)
            flags = (1 if weight is not None else 0) | (2 if bias is not None else 0)
            entry, grid = self._row_entry(rows, cols)
            pipeline = self.programs.pipeline("norm", "norm", dtype, ("elementwise_io_xy",),
                                              ACT_NONE, entry, (("KIND", kind),))  # fmt: skip
            nbytes = rows * cols * size
            storage = [(0, x.buf, nbytes), (1, y.buf, nbytes),
                       (3, self._dummy if weight is None else weight.buf,
                        32 if weight is None else cols * size),
                       (4, self._dummy if bias is None else bias.buf,
                        32 if bias is None else cols * size)]  # fmt: skip
            self._dispatch(pipeline, "norm", storage, [rows, cols, flags, lo, hi, 0, 0, 0],
                           grid)  # fmt: skip

        self.device.run(work)

    # -- fused elementwise chains -------------------------------------------------------------
    fuses_maps = True  # map ops and activations of Arrays are recorded and run as one kernel

    def fused(self, tree: tuple, leaves: list, y: Lease, shape, dtype, y_offset=0) -> None:
        """y[y_offset:] = the expression `tree` (accel._array.Pending) over up to 4 strided
        operands and 4 numbers, in one dispatch of a kernel generated for the expression's
        form."""

        def work() -> None:
            ndim, n = len(shape), math.prod(shape)
            numbers = tree_numbers(tree)
            bits = [half for v in numbers for half in self._scalar_bits(v, dtype)]
            storage = [(i, leaves[i].buf.buf, self._bound(leaves[i].buf)) if i < len(leaves)
                       else (i, self._dummy, 32) for i in range(4)]  # fmt: skip
            storage.append((4, y.buf, (y_offset + n) * dtype.itemsize))
            offsets = [leaf.offset for leaf in leaves] + [0] * (4 - len(leaves))

            def eight(values) -> list[int]:
                return [v & 0xFFFFFFFF for v in values] + [1] * (8 - len(values))

            strides = [v for leaf in leaves for v in eight(leaf.strides)]
            strides += [0] * (32 - len(strides))
            params = [n, ndim, y_offset, 0, *offsets, *bits, *[0] * (8 - len(bits)), *eight(shape),
                      *strides]  # fmt: skip
            code = _fused_body(tree, len(leaves))
            pipeline = self.programs.pipeline_code(("fused", dtype, code), dtype, code, "fused")
            self._dispatch(pipeline, "fused", storage, params, self._grid(math.ceil(n / 256)))

        self.device.run(work)

    def _dispatch(self, pipeline, layout: str, storage, params: list[int], groups) -> None:
        programs = self.programs
        self.device.dispatch(pipeline, lambda: programs.bind_group(layout, storage), params,
                             groups)  # fmt: skip

    def _row_entry(self, rows: int, cols: int) -> tuple[str, tuple[int, int, int]]:
        """The entry point of a row-wise kernel (softmax, the norms) and its grid: on an
        adapter that runs on the CPU, rows of up to ROW_COLS_MAX go one per invocation (a
        workgroup's barriers cost more there than its invocations share); else a workgroup
        per row."""
        if self.software and cols <= ROW_COLS_MAX:
            return "rows", self._grid(math.ceil(rows / 64))
        return "main", self._grid(rows)

    @staticmethod
    def _grid(groups: int) -> tuple[int, int, int]:
        nx = min(groups, _MAX_GROUPS)
        return nx, math.ceil(groups / nx), 1

    def elementwise(self, act, x: Lease, y: Lease, n, dtype) -> None:
        def work() -> None:
            inplace = x is y
            layout = "elementwise_inplace" if inplace else "elementwise_xy"
            io = "elementwise_io_inplace" if inplace else "elementwise_io_xy"
            pipeline = self.programs.pipeline("elementwise", layout, dtype, (io,), act)
            nbytes = n * dtype.itemsize
            storage = ([(1, y.buf, nbytes)] if inplace
                       else [(0, x.buf, nbytes), (1, y.buf, nbytes)])  # fmt: skip
            self._dispatch(pipeline, layout, storage, [n, 0], self._grid(math.ceil(n / 256)))

        self.device.run(work)

    def softmax(self, x: Lease, y: Lease, rows, cols, dtype) -> None:
        def work() -> None:
            inplace = x is y
            layout = "elementwise_inplace" if inplace else "elementwise_xy"
            io = "elementwise_io_inplace" if inplace else "elementwise_io_xy"
            entry, grid = self._row_entry(rows, cols)
            pipeline = self.programs.pipeline("softmax", layout, dtype, (io,), ACT_NONE, entry)
            nbytes = rows * cols * dtype.itemsize
            storage = ([(1, y.buf, nbytes)] if inplace
                       else [(0, x.buf, nbytes), (1, y.buf, nbytes)])  # fmt: skip
            self._dispatch(pipeline, layout, storage, [rows, cols, 0], grid)

        self.device.run(work)

    def dot(self, a: Lease, b: Lease, n, dtype) -> float:
        def work() -> float:
            groups = min(1024, math.ceil(n / 4096))  # a function of n alone: the same bits
            chunk = math.ceil(n / groups)
            size = dtype.itemsize
            memory, programs = self.memory, self.programs
            partials = memory.take(groups * size)
            result = memory.take(max(4, size))
            try:
                params = [n, chunk, groups]
                self._dispatch(programs.pipeline("dot", "dot_partial", dtype, (), ACT_NONE,
                                                 "partial"),
                               "dot_partial", [(0, a.buf, n * size), (1, b.buf, n * size),
                                               (2, partials, groups * size)], params,
                               (groups, 1, 1))  # fmt: skip
                self._dispatch(programs.pipeline("dot", "dot_total", dtype, (), ACT_NONE,
                                                 "total"),
                               "dot_total", [(2, partials, groups * size), (4, result, size)],
                               params, (1, 1, 1))  # fmt: skip
                out = np.empty(1, dtype)
                memory.read(result, out)
                return float(out[0])
            finally:
                memory.give_back(partials)
                memory.give_back(result)

        return self.device.run(work)

    # -- matmul ------------------------------------------------------------------------------
    def matmul_params(self, variant: str, dtype: np.dtype) -> dict[str, int]:
        """A variant's constants for a dtype: K step halved where its tiles would not fit the
        adapter's workgroup memory (float64 vec4s are twice as large)."""
        v = dict(MATMUL_VARIANTS[variant])
        vec4 = 4 * np.dtype(dtype).itemsize
        while v["TK"] > 4 and v["TK"] * (v["TM"] + v["TN"]) // 4 * vec4 > self.workgroup_bytes:
            v["TK"] //= 2
        v["WX"], v["WY"] = v["TN"] // (4 * v["RQ"]), v["TM"] // v["RM"]
        return v

    def matmul_variant(self, m: int, n: int) -> tuple[str, str]:
        """(the variant for an m x n product, why): forced, calibrated for this adapter, or the
        default (the small-tile variant where 64 x 64 tiles would leave most cores idle)."""
        if self.forced_variant is not None:
            return self.forced_variant, "forced"
        if m == 1 and self.software:
            name = next(v for cols, v in SOFTWARE_ROW_VARIANTS if cols is None or n <= cols)
            return name, "one row on an adapter that runs on the CPU: a workgroup per SIMD vector"
        if m == 1:
            return ROW_VARIANT, "one row: no rows of nothing"
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

    def linear(self, a: Lease, b: Lease, c: Lease, bias: Lease | None, act, batch, m, n, k,
               a_batch, b_batch, dtype, bias_batch=0, trans_b=False) -> None:  # fmt: skip
        def work() -> None:
            name, _why = self.matmul_variant(m, n)
            v = self.matmul_params(name, dtype)
            quads = self.vector_io and k % 4 == 0 and n % 4 == 0 and not trans_b
            aligned = quads and m % v["TM"] == 0 and n % v["TN"] == 0 and k % v["TK"] == 0
            io = "matmul_io_aligned" if aligned else "matmul_io_vec4" if quads else (
                "matmul_io_bt" if trans_b else "matmul_io_scalar")  # fmt: skip
            consts = tuple(
                (key, v[key]) for key in ("TM", "TN", "RM", "RQ", "TK", "WX", "WY", "DB")
            )
            entry = "main_direct" if v.get("DIRECT") else "main"
            direct = "matmul_direct_subgroup" if v.get("SG") else "matmul_direct_plain"
            pipeline = self.programs.pipeline("matmul", "matmul", dtype, (io, direct), act, entry,
                                              consts)  # fmt: skip
            size = dtype.itemsize
            a_items = batch if a_batch else 1
            b_items = batch if b_batch else 1
            storage = [(0, a.buf, a_items * m * k * size), (1, b.buf, b_items * k * n * size),
                       (2, c.buf, batch * m * n * size),
                       (4, self._dummy if bias is None else bias.buf,
                        32 if bias is None else _round32(
                            ((batch - 1) * bias_batch + n) * size))]  # fmt: skip
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
                            params = [m, n, k, a_batch, b_batch, z0, r0, c0, k0, k1, flags, 0,
                                      bias_batch, 0, 0, 0]
                            groups = (min(_MAX_GROUPS, col_tiles - c0),
                                      min(_MAX_GROUPS, row_tiles - r0),
                                      min(_MAX_GROUPS, batch - z0))  # fmt: skip
                            self._dispatch(pipeline, "matmul", storage, params, groups)

        self.device.run(work)
