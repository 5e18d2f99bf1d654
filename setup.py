"""Build hooks (everything else is in pyproject.toml; setuptools reads `cffi_modules` and
`cmdclass` only from here):

- cffi compiles the native `cpu` backend from c_ext/. Without a working C compiler or
  Python's headers the install still succeeds: the extension is left out, one line says so
  and why, and the reason is kept in the package (accel/_cpu_build_note.txt), where the cpu
  backend finds it and tells the user how to get it. simd and gpu need no compiler.
- The kernels' built files (shaders/*.wgsl, simd_wasm/*.wasm) are copied into the wheel as
  accel/shaders/ and accel/wasm/; nothing else of those folders is installed.
- The extension uses Python's limited API, so a wheel is tagged abi3: one per platform.
"""

import os
import pathlib
import shutil
import sys
import sysconfig

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext
from setuptools.command.build_py import build_py

HERE = pathlib.Path(__file__).resolve().parent
NOTE = "_cpu_build_note.txt"
KERNELS = {"shaders": ("shaders", "*.wgsl"), "wasm": ("simd_wasm", "*.wasm")}


def _missing_prerequisite() -> str | None:
    """What the C build lacks, found before trying it: a compiler, or Python's headers."""
    cc = (os.environ.get("CC") or sysconfig.get_config_var("CC") or "cc").split()[0]
    if sys.platform != "win32" and shutil.which(cc) is None:
        return f"no C compiler found (`{cc}` is not on PATH)"
    include = sysconfig.get_paths().get("include", "")
    if not os.path.exists(os.path.join(include, "Python.h")):
        return f"Python's C headers are missing (no Python.h in {include})"
    return None


class OptionalBuildExt(build_ext):
    """Builds each extension if it can; otherwise records why (for the cpu backend) and carries
    on: the library works without them."""

    def run(self) -> None:
        self._missing = _missing_prerequisite()
        super().run()

    def build_extension(self, ext) -> None:
        cpu = ext.name == "accel._cpu_native"
        why = self._missing
        if why is None:
            try:
                super().build_extension(ext)
                if cpu:
                    self._write_note(None)
                return
            except Exception as e:  # a compiler that fails: the same treatment
                why = " ".join(f"the C build failed: {e}".split())[:300]
        if cpu:
            self._write_note(why)
            sys.stderr.write(
                f"accel-chain: the cpu backend was not built: {why}. simd and gpu work; see "
                "`accel probe` for how to get cpu.\n"
            )
        else:
            sys.stderr.write(f"accel-chain: {ext.name} was not built ({why}); calls are slower.\n")

    def _write_note(self, why: str | None) -> None:
        targets = [pathlib.Path(self.build_lib) / "accel" / NOTE]
        if self.inplace or getattr(self, "editable_mode", False):
            targets.append(HERE / "accel" / NOTE)
        for target in targets:
            if why is None:
                target.unlink(missing_ok=True)
            else:
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_text(why + "\n")


class BuildPyWithKernels(build_py):
    """Copies the kernels' built files into the package of the wheel."""

    def run(self) -> None:
        super().run()
        for folder, (source, pattern) in KERNELS.items():
            target = pathlib.Path(self.build_lib) / "accel" / folder
            target.mkdir(parents=True, exist_ok=True)
            for path in sorted((HERE / source).glob(pattern)):
                shutil.copy2(path, target / path.name)


def _fastpath_extensions() -> list[Extension]:
    """The compiled entry points for small calls: they read and make arrays through numpy's C
    API, so they need numpy's headers here (a build requirement); without numpy they are left
    out and every call takes the Python path (the same results, slower calls)."""
    try:
        import numpy
    except ImportError:
        sys.stderr.write("accel-chain: numpy is not importable at build time; accel._fastpath "
                         "was not built (calls are slower).\n")  # fmt: skip
        return []
    sources = [f"c_ext/fastpath/{name}" for name in ("module.c", "calls.c", "blocks.c",
                                                      "hostcache.c")]  # fmt: skip
    headers = ["c_ext/fastpath/fastpath.h", "c_ext/wasm_call.h", "c_ext/accel_cpu.h"]
    return [Extension("accel._fastpath", sources, depends=headers, py_limited_api=True,
                      include_dirs=[numpy.get_include()],
                      define_macros=[("Py_LIMITED_API", "0x030A0000")])]  # fmt: skip


setup(
    ext_modules=_fastpath_extensions(),
    cffi_modules=["c_ext/build_cpu.py:ffibuilder"],
    cmdclass={"build_ext": OptionalBuildExt, "build_py": BuildPyWithKernels},
    options={"bdist_wheel": {"py_limited_api": "cp310"}},
)
