"""cffi build script of the native `cpu` backend (out-of-line API mode).

setup.py names `c_ext/build_cpu.py:ffibuilder` in `cffi_modules`, so `pip install .` compiles
the C sources below into the extension `accel._cpu_native` with the system C compiler.

One build runs on every CPU of its platform: the kernels for wider instruction sets are
compiled with per-file target pragmas and chosen at load time by CPU-feature detection, so
no flag ties the build to the CPU that compiles it. Nor is there any fast-math flag: it would
change the float behaviour of the whole process. -ffp-contract=fast only lets a*b+c become one FMA.
"""

from __future__ import annotations

import pathlib
import sys

from cffi import FFI

HERE = pathlib.Path(__file__).resolve().parent
SOURCES = [
    "driver.c",
    "pool.c",
    "kernels_avx512.c",
    "kernels_avx2.c",
    "kernels_baseline.c",
    "wasm_bands.c",
]
HEADERS = ["accel_cpu.h", "activations.h", "coefficients.h", "internal.h", "kernels_template.h",
           "kernels_type.h", "plan.h", "wasm_call.h"]  # fmt: skip


def _cdef_text() -> str:
    """The public headers without preprocessor directives (a directive's continued lines
    included), which cffi's cdef cannot read."""
    kept = []
    for name in ("activations.h", "accel_cpu.h"):
        continued = False
        for line in (HERE / name).read_text().splitlines():
            directive = continued or line.lstrip().startswith("#")
            continued = directive and line.rstrip().endswith("\\")
            if not directive:
                kept.append(line)
    return "\n".join(kept)


def _compile_args() -> list[str]:
    if sys.platform == "win32":
        raise RuntimeError(
            "accel's cpu kernels use GCC/clang vector extensions: build with clang-cl or MinGW"
        )
    return ["-O3", "-std=gnu11", "-ffp-contract=fast", "-fno-strict-aliasing", "-Wno-psabi"]


ffibuilder = FFI()
ffibuilder.cdef(_cdef_text())
ffibuilder.set_source(
    "accel._cpu_native",
    '#include "accel_cpu.h"',
    # setuptools runs this from the project root and wants relative source paths
    sources=[f"c_ext/{name}" for name in SOURCES],
    include_dirs=["c_ext"],
    depends=[f"c_ext/{name}" for name in HEADERS],  # a header change rebuilds
    extra_compile_args=_compile_args(),
    libraries=["pthread"] if sys.platform != "darwin" else [],
)

if __name__ == "__main__":
    ffibuilder.compile(verbose=True)
