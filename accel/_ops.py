"""The public ops, made from the op table (accel._optable). Everything a backend should not
have to think about is done here, once: converting inputs, checking dtypes, shapes and `out=`,
matmul's 1-D promotion and batch broadcasting, aliasing between `out` and the inputs, and
Arrays (data kept on a backend).

Backends then see C-contiguous, aligned, native-byte-order arrays of one dtype with no empty
dimension: on the numpy path through their host route (which splits work too large for one
kernel call), on the Array path as their own buffers.

Every public function here is made from the op table, by the op's family, and handed to the
compiled fast path (accel._fast), which takes the common small call itself.

`out` may be or overlap any input: the result is as if computed into a fresh array. A kernel
writes straight into `out` only where that is safe (elementwise, `out` exactly the input, on a
host-memory backend, or `out` sharing no memory with any input); otherwise the result goes
through a temporary, copied into `out` only once the call has succeeded, so that a backend that
fails part-way in auto mode has not overwritten an input the next backend reads.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

from . import _dispatch, _fast, _optable, _selection, backends
from ._array import Array, float_array, place, wrap

_F32 = np.dtype(np.float32)
_F64 = np.dtype(np.float64)
_ACT_NONE = _optable.ACT_NONE


def _result_dtype(*dtypes: np.dtype) -> np.dtype:
    return _F64 if any(d is _F64 for d in dtypes) else _F32


def _same_dtype(dt: np.dtype, dtype: np.dtype) -> bool:
    """dt is dtype up to byte order and dtype identity (an out= of '>f4' takes a float32)."""
    return dt.kind == "f" and dt.itemsize == dtype.itemsize and dt.names is None


def _check_out(out: object, shape: tuple[int, ...], dtype: np.dtype) -> None:
    if isinstance(out, Array):
        if out.shape != shape or out.dtype != dtype:
            raise ValueError(
                f"out has shape {out.shape} and dtype {out.dtype.name}; "
                f"the result has shape {shape} and dtype {dtype.name}"
            )
        return
    if not isinstance(out, np.ndarray):
        raise ValueError(f"out must be a numpy.ndarray or an accel.Array, not {type(out).__name__}")
    if out.shape != shape or not _same_dtype(out.dtype, dtype):
        raise ValueError(
            f"out has shape {out.shape} and dtype {out.dtype}; "
            f"the result has shape {shape} and dtype {dtype.name}"
        )
    if not out.flags.writeable:
        raise ValueError("out is read-only")


def _direct(out: np.ndarray) -> bool:
    """Whether a kernel may write out itself: C-contiguous, aligned, native, float dtype."""
    return out.flags.c_contiguous and out.flags.aligned and out.dtype.isnative


def _exactly(out: np.ndarray, x: np.ndarray) -> bool:
    """out and x are the same memory with the same layout."""
    return (out.__array_interface__["data"][0] == x.__array_interface__["data"][0]
            and out.strides == x.strides and out.shape == x.shape)  # fmt: skip


def _contiguous(x: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """x as a C-contiguous, aligned array of dtype, of x's shape (0-d stays 0-d)."""
    if x.dtype == dtype and x.flags.c_contiguous and x.flags.aligned:
        return x
    return np.array(x, dtype=dtype, order="C", copy=True)


# ---------------------------------------------------------------------------------------------
# Arrays: which backend a call with Array operands runs on


def _array_backend(args: tuple[object, ...], backend: str | None) -> backends.Backend | None:
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


def _buffer(b: backends.Backend, x: Array | np.ndarray, dtype: np.dtype) -> Any:
    """x's buffer on backend b: an Array's own, or a numpy operand uploaded for this call (the
    upload is given back when the call drops it)."""
    if isinstance(x, Array):
        return x._buf
    arr = _contiguous(x, dtype).reshape(-1)
    return arr if b.memory.host else b.memory.upload(arr)


def _spilled(*args: object) -> bool:
    return any(isinstance(a, Array) and a.spilled for a in args)


def _host_copy(x: object) -> object:
    return x.numpy() if isinstance(x, Array) else x


def _run_resident(b: backends.Backend, op: str, shape: tuple[int, ...], dtype: np.dtype,
                  out: Array | np.ndarray | None, inputs: tuple[object, ...], work: float,
                  kernel: Callable[[backends.Backend, Any], None]) -> Any:  # fmt: skip
    """Runs one op strictly on backend b, whose Arrays are among inputs/out: kernel(b, result
    buffer) fills the result; returns an Array (or out)."""
    n = math.prod(shape)
    target_array = out if isinstance(out, Array) else None
    # a result buffer that is also an input would be read while written: use a fresh one
    alias = target_array is not None and any(
        isinstance(x, Array) and x._buf is target_array._buf for x in inputs
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
            _copy_between(b, Array(b, result, shape, dtype), target_array)
        return target_array
    arr = wrap(b, result, shape, dtype)
    if isinstance(out, np.ndarray):
        out[...] = arr.numpy()
        return out
    return arr


def _copy_between(b: backends.Backend, src: Array, dst: Array) -> None:
    """dst's data = src's (same shape and dtype), on their backend."""
    _dispatch.run_on(b, "copy", lambda be: be.memory.copy(src._buf, dst._buf, src.size,
                                                          src.dtype))  # fmt: skip


# ---------------------------------------------------------------------------------------------
# elementwise and softmax


def _unary(op: _optable.Op, x: object, backend: str | None, out: object) -> Any:
    b_arr = _array_backend((x, out), backend)
    if b_arr is not None:
        return _unary_resident(op, b_arr, x, out)
    if type(x) is not np.ndarray or (x.dtype is not _F32 and x.dtype is not _F64):
        x = float_array(x, "x")
    dtype = x.dtype
    if out is not None:
        _check_out(out, x.shape, dtype)
    else:
        out_arr = np.empty(x.shape, dtype)
    if x.size == 0:
        return out if out is not None else out_arr
    if op.family == "softmax" and x.ndim == 0:
        rows, cols = 1, 1
    elif op.family == "softmax":
        cols = x.shape[-1]
        rows = x.size // cols
    src = x if x.flags.c_contiguous and x.flags.aligned else _contiguous(x, dtype)
    if out is None:
        target = out_arr
    elif _direct(out) and not np.may_share_memory(out, x):
        target = out
    else:
        target = None  # decided per backend: in place where safe, else a temporary

    def call(b: backends.Backend) -> None:
        y = target
        if y is None:
            in_place = b.memory.host and not b.kernels.may_fail_part_way
            y = out if in_place and _direct(out) and _exactly(out, src) else np.empty_like(src)
            holder[0] = y
        if op.family == "softmax":
            b.host.softmax(src, y, rows, cols)
        else:
            b.host.elementwise(op.act_id, src, y)

    holder: list[np.ndarray | None] = [None]
    _dispatch.run(op.name, dtype, backend, x.size, call, x.shape)
    if out is None:
        return out_arr
    if holder[0] is not None and holder[0] is not out:
        out[...] = holder[0]
    return out


def _unary_resident(op: _optable.Op, b: backends.Backend, x: object, out: object) -> Any:
    xa = x if isinstance(x, Array) else float_array(x, "x")
    dtype = xa.dtype
    shape = xa.shape
    if out is not None:
        _check_out(out, shape, dtype)
    if _spilled(x, out):
        result = PUBLIC[op.name](_host_copy(x), backend=b.name)
        return _result_to(b, result, out)
    n = math.prod(shape)
    cols = (shape[-1] if shape else 1) if n else 1
    rows = n // cols if cols else 0

    def kernel(b: backends.Backend, y: Any) -> None:
        xb = _buffer(b, xa, dtype)
        if op.family == "softmax":
            b.kernels.softmax(xb, y, rows, cols, dtype)
        else:
            b.kernels.elementwise(op.act_id, xb, y, n, dtype)

    inputs = (x,)
    if isinstance(out, Array) and isinstance(x, Array) and out._buf is x._buf:
        inputs = ()  # elementwise and softmax kernels may write their input in place
    return _run_resident(b, op.name, shape, dtype, out, inputs, n, kernel)


def _result_to(b: backends.Backend, result: np.ndarray, out: object) -> Any:
    """A host result of an op on spilled Arrays: into out, or as an Array on b."""
    if isinstance(out, Array):
        if out.in_host_memory():
            out.host_view()[...] = result
        else:
            _copy_between(b, place(np.ascontiguousarray(result), b), out)
        return out
    if isinstance(out, np.ndarray):
        out[...] = result
        return out
    return place(np.ascontiguousarray(result), b)


def _make_unary(op: _optable.Op) -> Callable[..., Any]:
    name, act, elementwise = op.name, op.act_id, op.family == "elementwise"
    run, empty = _dispatch.run, np.empty

    def unary(x: Any, *, backend: str | None = None, out: Any = None) -> Any:
        # a contiguous, aligned float ndarray and a fresh result need none of the checks
        if out is None and type(x) is np.ndarray and elementwise:
            dt = x.dtype
            flags = x.flags
            if (dt is _F32 or dt is _F64) and flags.c_contiguous and flags.aligned and x.size:
                y = empty(x.shape, dt)
                run(name, dt, backend, x.size, lambda b: b.host.elementwise(act, x, y), x.shape)
                return y
        return _unary(op, x, backend, out)

    where = "over the last axis of x" if op.family == "softmax" else "elementwise on x"
    unary.__doc__ = (
        f"{op.doc}\n\nComputed {where}, of any shape (0-d and empty included); the result has "
        "x's shape and dtype (float32 or float64). `out=` takes a writeable array of that "
        "shape and dtype, x itself included. `backend=` overrides the selection for this call. "
        "x may be an accel.Array: the op then runs on its backend and returns an Array there."
    )
    return unary


# ---------------------------------------------------------------------------------------------
# dot


def _make_dot(op: _optable.Op) -> Callable[..., Any]:
    def dot(a: Any, b: Any, *, backend: str | None = None) -> np.floating:
        b_arr = _array_backend((a, b), backend)
        a_ = a if isinstance(a, Array) else float_array(a, "a")
        b_ = b if isinstance(b, Array) else float_array(b, "b")
        if a_.ndim != 1 or b_.ndim != 1:
            raise ValueError(f"dot takes two 1-D arrays; got shapes {a_.shape} and {b_.shape}")
        if a_.shape != b_.shape:
            raise ValueError(f"dot: shapes {a_.shape} and {b_.shape} not aligned (lengths differ)")
        dtype = _result_dtype(a_.dtype, b_.dtype)
        n = a_.shape[0]
        if n == 0:
            return dtype.type(0)
        if b_arr is not None and not _spilled(a, b) and a_.dtype == b_.dtype == dtype:
            r = _dispatch.run("dot", dtype, b_arr.name, n, lambda be: be.kernels.dot(
                _buffer(be, a_, dtype), _buffer(be, b_, dtype), n, dtype))  # fmt: skip
            return dtype.type(r)
        if b_arr is not None:  # spilled, or a dtype to convert: through the host, on that backend
            backend = b_arr.name
        ha = _contiguous(_host_copy(a_), dtype)
        hb = _contiguous(_host_copy(b_), dtype)
        return dtype.type(_dispatch.run("dot", dtype, backend, n, lambda be: be.host.dot(ha, hb)))

    dot.__doc__ = (
        f"{op.doc} Returns a numpy scalar of the result dtype (float64 when either input is "
        "float64); empty vectors give 0. Arrays run on their backend."
    )
    return dot


# ---------------------------------------------------------------------------------------------
# matmul and linear


def _matmul_shapes(sa: tuple[int, ...], sb: tuple[int, ...]):
    """(shape of the result, batch shape, m, k, n) with np.matmul's rules; ValueError."""
    if len(sa) == 0 or len(sb) == 0:
        which = 0 if len(sa) == 0 else 1
        raise ValueError(
            f"matmul: input operand {which} does not have enough dimensions "
            "(a 0-d array is a scalar: use multiplication)"
        )
    a2 = (1, *sa) if len(sa) == 1 else sa
    b2 = (*sb, 1) if len(sb) == 1 else sb
    m, k = a2[-2:]
    kb, n = b2[-2:]
    if k != kb:
        raise ValueError(
            f"matmul: mismatch in the core dimension: a has shape {sa} and b has shape {sb} "
            f"({k} != {kb})"
        )
    try:
        batch = np.broadcast_shapes(a2[:-2], b2[:-2])
    except ValueError:
        raise ValueError(
            f"matmul: batch dimensions of shapes {sa} and {sb} do not broadcast"
        ) from None
    shape = batch + (() if len(sa) == 1 else (m,)) + (() if len(sb) == 1 else (n,))
    return shape, batch, m, k, n


def _batched(x: np.ndarray, promoted: tuple[int, ...], batch: tuple[int, ...], count: int,
             dtype: np.dtype) -> np.ndarray:  # fmt: skip
    """x as a C-contiguous, aligned (count or 1, R, C) array of dtype."""
    x = x.reshape(promoted)
    rows, cols = promoted[-2:]
    if math.prod(promoted[:-2]) == 1:
        return _contiguous(x, dtype).reshape(1, rows, cols)
    if promoted[:-2] != batch:  # partly broadcast: materialise the repeats
        x = np.broadcast_to(x, (*batch, rows, cols))
    return _contiguous(x, dtype).reshape(count, rows, cols)


def _make_matmul(op: _optable.Op) -> Callable[..., Any]:
    def matmul(a: Any, b: Any, *, backend: str | None = None, out: Any = None) -> Any:
        # two contiguous 2-D float ndarrays of one dtype and a fresh result need none of the
        # shape machinery
        if (
            out is None
            and type(a) is np.ndarray
            and type(b) is np.ndarray
            and a.ndim == b.ndim == 2
        ):
            dt, fa, fb = a.dtype, a.flags, b.flags
            if ((dt is _F32 or dt is _F64) and b.dtype is dt and fa.c_contiguous and fa.aligned
                    and fb.c_contiguous and fb.aligned):  # fmt: skip
                (m, k), (kb, n) = a.shape, b.shape
                if k == kb and m and n and k:
                    c = np.empty((m, n), dt)
                    a3, b3, c3 = a.reshape(1, m, k), b.reshape(1, k, n), c.reshape(1, m, n)
                    _dispatch.run("matmul", dt, backend, 2.0 * m * n * k,
                                  lambda be: be.host.linear(a3, b3, c3, None, _ACT_NONE),
                                  (m, n))  # fmt: skip
                    return c
        return _linear_call("matmul", a, b, None, _ACT_NONE, backend, out)

    matmul.__doc__ = (
        f"{op.doc} 1-D operands are promoted to matrices and the added axis removed (1-D @ 1-D "
        "gives a numpy scalar), batch dimensions broadcast, float32 with float64 gives float64. "
        "`out=` takes a writeable array of exactly the result's shape and dtype, which may be "
        "or overlap an input. Arrays run on their backend and give an Array."
    )
    return matmul


def _make_linear(op: _optable.Op) -> Callable[..., Any]:
    def linear(x: Any, w: Any, bias: Any = None, *, activation: str | None = None,
               backend: str | None = None, out: Any = None) -> Any:  # fmt: skip
        act = _optable.activation_id(activation)
        w_shape = w.shape if isinstance(w, Array) else np.shape(w)
        if len(w_shape) != 2:
            raise ValueError(f"linear: w must be 2-D (K, N); it has shape {tuple(w_shape)}")
        x_shape = x.shape if isinstance(x, Array) else np.shape(x)
        if len(x_shape) == 0:
            raise ValueError("linear: x must have at least one dimension (..., K)")
        if bias is not None:
            b_shape = bias.shape if isinstance(bias, Array) else np.shape(bias)
            if tuple(b_shape) != (w_shape[1],):
                raise ValueError(
                    f"linear: bias must have shape ({w_shape[1]},) to match w "
                    f"{tuple(w_shape)}; it has shape {tuple(b_shape)}"
                )
        if x_shape[-1] != w_shape[0]:
            raise ValueError(
                f"linear: x has {x_shape[-1]} features (last axis of {tuple(x_shape)}) but w "
                f"expects {w_shape[0]} (w has shape {tuple(w_shape)})"
            )
        return _linear_call("linear", x, w, bias, act, backend, out)

    names = ", ".join(f'"{n}"' for n in _optable.ACTIVATIONS)
    linear.__doc__ = (
        "activation(x @ w + bias) in one kernel per backend: a layer of a network. x is (..., K) "
        f"or (K,), w (K, N), bias (N,) or None, activation None or an activation's name ({names}"
        "). The bias and the activation are applied to each tile of the product while it is in "
        "registers or cache. dtypes, `out=` and Arrays as for matmul."
    )
    return linear


def _linear_call(op: str, a: Any, b: Any, bias: Any, act: int, backend: str | None,
                 out: Any) -> Any:  # fmt: skip
    b_arr = _array_backend((a, b, bias, out), backend)
    a_ = a if isinstance(a, Array) else float_array(a, "a" if op == "matmul" else "x")
    b_ = b if isinstance(b, Array) else float_array(b, "b" if op == "matmul" else "w")
    bias_ = None if bias is None else bias if isinstance(bias, Array) else float_array(bias, "bias")
    if op == "linear":  # x (..., K) @ w (K, N): a batch of rows
        shape = (*a_.shape[:-1], b_.shape[1])
        batch, m, k, n = (), math.prod(a_.shape[:-1]), a_.shape[-1], b_.shape[1]
        pa, pb = (m, k), (k, n)
    else:
        shape, batch, m, k, n = _matmul_shapes(a_.shape, b_.shape)
        pa = (1, *a_.shape) if a_.ndim == 1 else a_.shape
        pb = (*b_.shape, 1) if b_.ndim == 1 else b_.shape
    dtype = _result_dtype(a_.dtype, b_.dtype, *(() if bias_ is None else (bias_.dtype,)))
    if out is not None:
        _check_out(out, shape, dtype)
    count = math.prod(batch)
    if b_arr is not None:
        partial = (pa[:-2] != batch and math.prod(pa[:-2]) != 1) or (
            pb[:-2] != batch and math.prod(pb[:-2]) != 1
        )
        same = a_.dtype == b_.dtype == dtype and (bias_ is None or bias_.dtype == dtype)
        if not _spilled(a, b, bias, out) and not partial and same:
            return _linear_resident(op, b_arr, a_, b_, bias_, act, shape, count, m, n, k,
                                    pa, pb, dtype, out)  # fmt: skip
        # spilled data, mixed dtypes or a partial broadcast: through the host, on that backend
        result = _linear_call(op, _host_copy(a), _host_copy(b), _host_copy(bias), act,
                              b_arr.name, None)  # fmt: skip
        return _result_to(b_arr, np.asarray(result), out)

    result = out if isinstance(out, np.ndarray) else np.empty(shape, dtype)
    if result.size == 0:
        return result
    if k == 0:  # an empty sum: act(0 + bias) on the chosen backend
        result[...] = 0
        if bias_ is not None:
            result += bias_
        if act != _ACT_NONE:
            _unary(_optable.OPS[_optable.ACTIVATION_BY_ID[act]], result, backend, result)
        return _scalar(result, a_, b_, out)
    a3 = _batched(a_, pa, batch, count, dtype)
    b3 = _batched(b_, pb, batch, count, dtype)
    bias1 = None if bias_ is None else _contiguous(bias_, dtype)
    # the kernel writes the result directly unless out is strided, foreign or overlaps an input
    overlap = out is not None and any(
        np.may_share_memory(out, x) for x in (a_, b_, *(() if bias_ is None else (bias_,)))
    )
    direct = out is None or (_direct(out) and not overlap)
    c3 = result.reshape(count, m, n) if direct else np.empty((count, m, n), dtype)
    flops = 2.0 * count * m * n * k
    _dispatch.run(op, dtype, backend, flops, lambda be: be.host.linear(a3, b3, c3, bias1, act),
                  shape)  # fmt: skip
    if not direct:
        result[...] = c3.reshape(shape)
    return _scalar(result, a_, b_, out)


def _scalar(result: np.ndarray, a: Any, b: Any, out: Any) -> Any:
    """np.matmul gives a numpy scalar for 1-D @ 1-D (unless out= was given)."""
    if out is None and a.ndim == 1 and b.ndim == 1 and result.ndim == 0:
        return result[()]
    return result


def _linear_resident(op: str, b: backends.Backend, a: Any, w: Any, bias: Any, act: int,
                     shape: tuple[int, ...], count: int, m: int, n: int, k: int,
                     pa: tuple[int, ...], pb: tuple[int, ...], dtype: np.dtype,
                     out: Any) -> Any:  # fmt: skip
    a_batch = m * k if math.prod(pa[:-2]) > 1 else 0
    b_batch = k * n if math.prod(pb[:-2]) > 1 else 0

    def kernel(be: backends.Backend, c: Any) -> None:
        if k == 0:  # act(0 + bias), made on the host and moved into c
            zeros = np.zeros((math.prod(shape) // n if n else 0, n), dtype)
            if bias is not None:
                zeros += _host_copy(bias)
            held = be.memory.upload(zeros.reshape(-1))
            if act != _ACT_NONE:
                be.kernels.elementwise(act, held, c, zeros.size, dtype)
            else:
                be.memory.copy(held, c, zeros.size, dtype)
            return
        bias_buf = None if bias is None else _buffer(be, bias, dtype)
        be.kernels.linear(_buffer(be, a, dtype), _buffer(be, w, dtype), c, bias_buf, act, count,
                          m, n, k, a_batch, b_batch, dtype)  # fmt: skip

    result = _run_resident(b, op, shape, dtype, out, (a, w, bias), 2.0 * count * m * n * k,
                           kernel)  # fmt: skip
    if out is None and op == "matmul" and a.ndim == 1 and w.ndim == 1:
        return result.numpy()[()]
    return result


# ---------------------------------------------------------------------------------------------
# the public functions, one per op of the table, and the Array operators they define

_MAKERS = {"elementwise": _make_unary, "softmax": _make_unary, "dot": _make_dot,
           "matmul": _make_matmul, "linear": _make_linear}  # fmt: skip


def _python(op: _optable.Op) -> Callable[..., Any]:
    fn = _MAKERS[op.family](op)
    fn.__name__ = fn.__qualname__ = op.name
    fn.__module__ = "accel"
    return fn


# the Python route of each op (everything the compiled fast path does not take), and the
# public function over it
PYTHON: dict[str, Callable[..., Any]] = {name: _python(op) for name, op in _optable.OPS.items()}
PUBLIC: dict[str, Callable[..., Any]] = {
    name: _fast.wrap(op, PYTHON[name]) for name, op in _optable.OPS.items()
}


def _install_operator(name: str, fn: Callable[..., Any]) -> None:
    def forward(self: Array, other: Any) -> Any:
        return fn(self, other)

    def reflected(self: Array, other: Any) -> Any:
        return fn(other, self)

    forward.__name__ = f"__{name}__"
    reflected.__name__ = f"__r{name}__"
    setattr(Array, f"__{name}__", forward)
    setattr(Array, f"__r{name}__", reflected)


for _op in _optable.OPS.values():
    if _op.operator is not None:
        _install_operator(_op.operator, PUBLIC[_op.name])

__all__ = [*PUBLIC]
