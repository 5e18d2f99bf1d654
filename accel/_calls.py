"""What every op does with its operands before and after a kernel runs, once for all ops and
backends: dtypes and promotion, `out=` checks and aliasing, which backend a call with Arrays
runs on, an Array operand's buffer (a view's copied), and running an op strictly on that
backend with its result as an Array (or into out).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

from . import _dispatch, _optable, _selection, backends
from ._array import (
    Array,
    base_buffer,
    before_write,
    own_buffer,
    place,
    real,
    run_map,
    strided,
    wrap,
)

_F32 = np.dtype(np.float32)
_F64 = np.dtype(np.float64)
_ACT_NONE = _optable.ACT_NONE


def result_dtype(*dtypes: np.dtype) -> np.dtype:
    return _F64 if any(d is _F64 for d in dtypes) else _F32


def same_dtype(dt: np.dtype, dtype: np.dtype) -> bool:
    """dt is dtype up to byte order and dtype identity (an out= of '>f4' takes a float32)."""
    return dt.kind == "f" and dt.itemsize == dtype.itemsize and dt.names is None


def check_out(out: object, shape: tuple[int, ...], dtype: np.dtype) -> None:
    if isinstance(out, Array):
        if out.is_view:
            raise ValueError(
                "out= must be an Array that owns its memory, not a view of another (a slice, "
                "a transpose); give the Array the view was made from, or a new one"
            )
        if out.shape != shape or out.dtype != dtype:
            raise ValueError(
                f"out has shape {out.shape} and dtype {out.dtype.name}; "
                f"the result has shape {shape} and dtype {dtype.name}"
            )
        return
    if not isinstance(out, np.ndarray):
        raise ValueError(f"out must be a numpy.ndarray or an accel.Array, not {type(out).__name__}")
    if out.shape != shape or not same_dtype(out.dtype, dtype):
        raise ValueError(
            f"out has shape {out.shape} and dtype {out.dtype}; "
            f"the result has shape {shape} and dtype {dtype.name}"
        )
    if not out.flags.writeable:
        raise ValueError("out is read-only")


def kernel_writable(out: np.ndarray) -> bool:
    """Whether a kernel may write out itself: C-contiguous, aligned, native, float dtype."""
    return out.flags.c_contiguous and out.flags.aligned and out.dtype.isnative


def exactly(out: np.ndarray, x: np.ndarray) -> bool:
    """out and x are the same memory with the same layout."""
    return (out.__array_interface__["data"][0] == x.__array_interface__["data"][0]
            and out.strides == x.strides and out.shape == x.shape)  # fmt: skip


def contiguous(x: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """x as a C-contiguous, aligned array of dtype, of x's shape (0-d stays 0-d)."""
    if x.dtype == dtype and x.flags.c_contiguous and x.flags.aligned:
        return x
    return np.array(x, dtype=dtype, order="C", copy=True)


# ---------------------------------------------------------------------------------------------
# Arrays: which backend a call with Array operands runs on


def array_backend(args: tuple[object, ...], backend: str | None) -> backends.Backend | None:
    """The backend of the Arrays among args (None when there are none). Arrays on two
    backends, or a backend= naming another one, raise ValueError."""
    held = [a for a in args if isinstance(a, Array)]
    if not held:
        return None
    names = {a.backend for a in held}
    if len(names) > 1:
        raise ValueError(
            f"the inputs are Arrays on different backends ({', '.join(sorted(names))}); move "
            "them to one with .to(backend) first"
        )
    b = held[0]._backend
    if backend is not None:
        sel = _selection.parse(backend)
        if sel.text != "auto" and b.name not in sel.names:
            raise ValueError(
                f"the data is on backend {b.name!r} but backend={backend!r} was asked for; "
                f"move it with .to({sel.names[0]!r}) first, or leave backend= out"
            )
    return b


def buffer(b: backends.Backend, x: Array | np.ndarray, dtype: np.dtype) -> Any:
    """x's buffer on backend b: an Array's own, or a numpy operand uploaded for this call (the
    upload is given back when the call drops it)."""
    if isinstance(x, Array):
        return own_buffer(x)
    arr = contiguous(x, dtype).reshape(-1)
    return arr if b.memory.host else b.memory.upload(arr)


def spilled(*args: object) -> bool:
    return any(isinstance(a, Array) and a.spilled for a in args)


def host_copy(x: object) -> object:
    return x.numpy() if isinstance(x, Array) else x


def run_resident(b: backends.Backend, op: str, shape: tuple[int, ...], dtype: np.dtype,
                  out: Array | np.ndarray | None, inputs: tuple[object, ...], work: float,
                  kernel: Callable[[backends.Backend, Any], None]) -> Any:  # fmt: skip
    """Runs one op strictly on backend b, whose Arrays are among inputs/out: kernel(b, result
    buffer) fills the result; returns an Array (or out)."""
    n = math.prod(shape)
    target_array = out if isinstance(out, Array) else None
    if target_array is not None:  # written: recorded work that reads it runs first
        before_write(real(target_array))
    # a result buffer that is also an input would be read while written: use a fresh one
    alias = target_array is not None and any(
        isinstance(x, Array) and base_buffer(x) is target_array._buf for x in inputs
    )

    def call(b: backends.Backend) -> Any:
        if n == 0:
            return b.memory.alloc(0, dtype)
        result = b.memory.alloc(n, dtype) if target_array is None or alias else target_array._buf
        kernel(b, result)
        return result

    result = _dispatch.run(op, dtype, b.name, work, call, shape)
    if target_array is not None:
        if alias and n:
            copy_between(b, Array(b, result, shape, dtype), target_array)
        return target_array
    arr = wrap(b, result, shape, dtype)
    if isinstance(out, np.ndarray):
        out[...] = arr.numpy()
        return out
    return arr


def copy_between(b: backends.Backend, src: Array, dst: Array) -> None:
    """dst's data = src's (same shape and dtype), on their backend."""
    before_write(real(dst))
    _dispatch.run_on(b, "copy", lambda be: be.memory.copy(real(src), real(dst), src.size,
                                                          src.dtype))  # fmt: skip



def result_to(b: backends.Backend, result: np.ndarray, out: object) -> Any:
    """A host result of an op on spilled Arrays: into out, or as an Array on b."""
    if isinstance(out, Array):
        if out.in_host_memory():
            out.host_view()[...] = result
        else:
            copy_between(b, place(np.ascontiguousarray(result), b), out)
        return out
    if isinstance(out, np.ndarray):
        out[...] = result
        return out
    return place(np.ascontiguousarray(result), b)



def assign(out: Array, src: Array) -> None:
    """out's data = src's (same shape and dtype; src may be a view), on their backend."""
    b = out._backend
    view = strided(src)
    act = _optable.ACT_NONE
    copy = _optable.OPS["copy"].kernel_id
    if out.size:
        before_write(real(out))
        _dispatch.run_on(b, "copy", lambda be: run_map(be, copy, act, (view,), real(out), 0,
                                                       out.shape, out.dtype))  # fmt: skip
