"""Builds the `simd` backend's WebAssembly modules from accel_simd.c with a pinned compiler.

    python simd_wasm/build.py            # writes accel_simd.wasm and accel_simd_relaxed.wasm
    python simd_wasm/build.py --check    # rebuilds in a temporary folder; exit 1 if the bytes
                                         # differ from the committed modules

The compiler is zig's clang from the PyPI package `ziglang` (pinned below and in the
`test` extra), so no WebAssembly toolchain is needed beyond pip. A user's
`pip install .` does not run this: the built modules are committed and shipped, and a test
rebuilds them to prove that they are exactly what this source gives.
"""

from __future__ import annotations

import argparse
import os
import pathlib
import subprocess
import sys
import tempfile

ZIGLANG_VERSION = "0.17.0"
HERE = pathlib.Path(__file__).resolve().parent
SOURCE = HERE / "accel_simd.c"
VARIANTS = {
    "accel_simd.wasm": ["-msimd128"],
    "accel_simd_relaxed.wasm": ["-msimd128", "-mrelaxed-simd"],
}
FLAGS = [
    "--target=wasm32-freestanding",
    "-O3",
    "-std=gnu11",
    "-mbulk-memory",  # memcpy/memset become memory.copy/memory.fill: no libc needed
    "-matomics",  # a shared memory needs the threads feature
    "-ffp-contract=off",  # wasm has no scalar fma: never let clang call fmaf
    "-nostdlib",
    "-Wl,--no-entry",
    "-Wl,--import-memory",
    "-Wl,--shared-memory",
    "-Wl,--max-memory=4294901760",  # 65535 pages: the linker takes a u32
    "-Wl,--export=__heap_base",
    "-Wl,--export=__stack_pointer",
    "-Wl,-z,stack-size=65536",
    "-Wl,--strip-all",
]


def _zig_env(tmp: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(ZIG_GLOBAL_CACHE_DIR=tmp, ZIG_LOCAL_CACHE_DIR=tmp, XDG_RUNTIME_DIR=tmp)
    return env


def check_toolchain() -> None:
    try:
        from importlib.metadata import version

        found = version("ziglang")
    except Exception:  # not installed
        found = None
    if found != ZIGLANG_VERSION:
        sys.exit(
            f"building the wasm module needs ziglang=={ZIGLANG_VERSION} (found {found}): "
            f"pip install 'ziglang=={ZIGLANG_VERSION}'"
        )


def build(out_dir: pathlib.Path) -> list[pathlib.Path]:
    check_toolchain()
    outputs = []
    with tempfile.TemporaryDirectory() as tmp:
        for name, extra in VARIANTS.items():
            out = out_dir / name
            # a relative source path keeps the build folder out of the module's bytes
            cmd = [sys.executable, "-m", "ziglang", "cc", *FLAGS, *extra, SOURCE.name]
            cmd += ["-o", str(out)]
            subprocess.run(cmd, check=True, cwd=HERE, env=_zig_env(tmp))
            outputs.append(out)
    return outputs


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--check", action="store_true", help="compare a rebuild with the committed modules"
    )
    args = parser.parse_args()
    if not args.check:
        for path in build(HERE):
            print(f"{path.name}: {path.stat().st_size} bytes")
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        differs = []
        for path in build(pathlib.Path(tmp)):
            committed = HERE / path.name
            if not committed.exists() or committed.read_bytes() != path.read_bytes():
                differs.append(path.name)
    if differs:
        print(f"out of date with accel_simd.c: {', '.join(differs)}; run python simd_wasm/build.py")
        return 1
    print("the committed modules are exactly what the source builds")
    return 0


if __name__ == "__main__":
    sys.exit(main())
