"""Where the kernels' built files are: the WGSL sources and the WebAssembly modules.

An installed wheel carries them inside the package (accel/shaders/, accel/wasm/, copied there
by the build); an editable install or a checkout reads them from the project's top-level
shaders/ and simd_wasm/ folders, where they are written and built.
"""

from __future__ import annotations

import pathlib
from importlib import resources

_FOLDERS = {"shaders": "shaders", "wasm": "simd_wasm"}


def kernel_file(kind: str, name: str) -> bytes:
    """The bytes of shaders/<name> (kind "shaders") or simd_wasm/<name> (kind "wasm")."""
    try:
        packaged = resources.files("accel").joinpath(kind).joinpath(name)
        if packaged.is_file():
            return packaged.read_bytes()
    except (OSError, TypeError, ValueError):  # an unusual loader: try the source tree
        pass
    source = pathlib.Path(__file__).resolve().parent.parent / _FOLDERS[kind] / name
    if source.is_file():
        return source.read_bytes()
    raise FileNotFoundError(
        f"accel's {kind} file {name!r} is missing from this install; reinstall with "
        "`pip install --force-reinstall accel-chain`"
    )
