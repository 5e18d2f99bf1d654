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
import operator
from collections.abc import Callable
from typing import Any

import numpy as np

from . import _arith, _dispatch, _fast, _optable, _reductions, _shapes, backends
from ._array import Array, c_strides, float_array, own_buffer, place, run_map, strided, wrap
from ._calls import (
    array_backend,
    assign,
    buffer,
    check_out,
    contiguous,
    exactly,
    host_copy,
    kernel_writable,
    result_dtype,
    result_to,
    run_resident,
    spilled,
)
from ._shapes import reshape

_F32 = np.dtype(np.float32)
_F64 = np.dtype(np.float64)
_ACT_NONE = _optable.ACT_NONE
_COPY = _optable.OPS["copy"].kernel_id
_AxisError = getattr(np, "exceptions", np).AxisError


# ---------------------------------------------------------------------------------------------
# elementwise and softmax


def _unary(op: _optable.Op, x: object, backend: str | None, out: object) -> Any:
    b_arr = array_backend((x, out), backend)
    if b_arr is not None:
        return _unary_resident(op, b_arr, x, out)
    if type(x) is not np.ndarray or (x.dtype is not _F32 and x.dtype is not _F64):
        x = float_array(x, "x")
    dtype = x.dtype
    if out is not None:
        check_out(out, x.shape, dtype)
    else:
        out_arr = np.empty(x.shape, dtype)
    if x.size == 0:
        return out if out is not None else out_arr
    if op.family == "softmax" and x.ndim == 0:
        rows, cols = 1, 1
    elif op.family == "softmax":
        cols = x.shape[-1]
        rows = x.size // cols
    src = x if x.flags.c_contiguous and x.flags.aligned else contiguous(x, dtype)
    if out is None:
        target = out_arr
    elif kernel_writable(out) and not np.may_share_memory(out, x):
        target = out
    else:
        target = None  # decided per backend: in place where safe, else a temporary

    def call(b: backends.Backend) -> None:
        y = target
        if y is None:
            in_place = b.memory.host and not b.kernels.may_fail_part_way
            writable = in_place and kernel_writable(out) and exactly(out, src)
            y = out if writable else np.empty_like(src)
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
        check_out(out, shape, dtype)
    if spilled(x, out):
        result = PUBLIC[op.name](host_copy(x), backend=b.name)
        return result_to(b, result, out)
    n = math.prod(shape)
    cols = (shape[-1] if shape else 1) if n else 1
    rows = n // cols if cols else 0
    if out is None and n and op.family == "elementwise" and isinstance(xa, Array):
        # recorded, to run with the elementwise ops around it as one kernel
        result = _arith.recorded(op, b, _COPY, op.act_id, [xa], shape, dtype)
        if result is not None:
            return result

    def kernel(b: backends.Backend, y: Any) -> None:
        if isinstance(xa, Array) and xa.is_view and op.family == "elementwise":
            # read in place: the copy of the view and the activation in one kernel
            run_map(b, _COPY, op.act_id, (strided(xa),), y, 0, shape, dtype)
            return
        xb = buffer(b, xa, dtype)
        if op.family == "softmax":
            b.kernels.softmax(xb, y, rows, cols, dtype)
        else:
            b.kernels.elementwise(op.act_id, xb, y, n, dtype)

    inputs = (x,)
    if isinstance(out, Array) and isinstance(x, Array) and out._buf is x._buf:
        inputs = ()  # elementwise and softmax kernels may write their input in place
    return run_resident(b, op.name, shape, dtype, out, inputs, n, kernel)



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

    forms = {f: _optable.OPS[n] for n, o in _optable.OPS.items() if o.form_of
             for of, f in (o.form_of,) if of == op.name}  # fmt: skip
    fn = unary
    if forms:  # gelu(x, approximate="tanh"): another op of the table
        plain = unary
        choices = ("none", *forms)

        def with_forms(x: Any, *, approximate: str = "none", backend: str | None = None,
                       out: Any = None) -> Any:  # fmt: skip
            if approximate == "none":
                return plain(x, backend=backend, out=out)
            form = forms.get(approximate) if isinstance(approximate, str) else None
            if form is None:
                raise ValueError(
                    f"{name}: approximate must be one of {', '.join(map(repr, choices))}, not "
                    f"{approximate!r}"
                )
            return PUBLIC_FORMS[form.name](x, backend=backend, out=out)

        fn = with_forms
    elif op.family == "softmax":

        def softmax(x: Any, *, axis: int = -1, backend: str | None = None,
                    out: Any = None) -> Any:  # fmt: skip
            return _softmax_axis(op, x, axis, backend, out)

        fn = softmax

    where = "over an axis of x (the last by default)" if op.family == "softmax" else (
        "elementwise on x")  # fmt: skip
    fn.__doc__ = (
        f"{op.doc}\n\nComputed {where}, of any shape (0-d and empty included); the result has "
        "x's shape and dtype (float32 or float64). `out=` takes a writeable array of that "
        "shape and dtype, x itself included. `backend=` overrides the selection for this call. "
        "x may be an accel.Array: the op then runs on its backend and returns an Array there."
        + "".join(f' approximate="{f}": {o.doc}' for f, o in forms.items())
    )
    return fn


def _softmax_axis(op: _optable.Op, x: Any, axis: Any, backend: str | None, out: Any) -> Any:
    """softmax over any axis: the last as it lies; another moved last (a view of an Array, a
    copy of numpy data), the rows computed, and the result moved back."""
    ndim = x.ndim if isinstance(x, Array) else np.ndim(x)
    ax = operator.index(axis)
    if ndim == 0 and ax in (0, -1):
        return _unary(op, x, backend, out)
    if not -ndim <= ax < ndim:
        raise _AxisError(ax, ndim)
    ax %= ndim
    if ax == ndim - 1:
        return _unary(op, x, backend, out)
    order = (*range(ax), *range(ax + 1, ndim), ax)
    back = tuple(int(i) for i in np.argsort(order))
    if isinstance(x, Array) or isinstance(out, Array):
        xa = x if isinstance(x, Array) else float_array(x, "x")
        moved = _shapes.permute_dims(xa, order) if isinstance(xa, Array) else np.ascontiguousarray(
            np.transpose(xa, order))  # fmt: skip
        y = _unary(op, moved, backend, None)
        result = _shapes.permute_dims(y, back)
        if isinstance(result, Array):
            result = wrap(result._backend, own_buffer(result), result.shape, result.dtype)
        if out is None:
            return result
        if isinstance(out, Array):
            assign(out, result)
            return out
        return _into(out, result)
    xa = float_array(x, "x")
    y = _unary(op, np.ascontiguousarray(np.transpose(xa, order)), backend, None)
    result = np.transpose(y, back)
    if out is None:
        return np.ascontiguousarray(result)
    return _into(out, result)


def _into(out: Any, result: Any) -> Any:
    data = result.numpy() if isinstance(result, Array) else result
    check_out(out, data.shape, data.dtype)
    out[...] = data
    return out


# ---------------------------------------------------------------------------------------------
# dot


def _make_dot(op: _optable.Op) -> Callable[..., Any]:
    def dot(a: Any, b: Any, *, backend: str | None = None) -> np.floating:
        b_arr = array_backend((a, b), backend)
        a_ = a if isinstance(a, Array) else float_array(a, "a")
        b_ = b if isinstance(b, Array) else float_array(b, "b")
        if a_.ndim != 1 or b_.ndim != 1:
            raise ValueError(f"dot takes two 1-D arrays; got shapes {a_.shape} and {b_.shape}")
        if a_.shape != b_.shape:
            raise ValueError(f"dot: shapes {a_.shape} and {b_.shape} not aligned (lengths differ)")
        dtype = result_dtype(a_.dtype, b_.dtype)
        n = a_.shape[0]
        if n == 0:
            return dtype.type(0)
        if b_arr is not None and not spilled(a, b) and a_.dtype == b_.dtype == dtype:
            r = _dispatch.run("dot", dtype, b_arr.name, n, lambda be: be.kernels.dot(
                buffer(be, a_, dtype), buffer(be, b_, dtype), n, dtype))  # fmt: skip
            return dtype.type(r)
        if b_arr is not None:  # spilled, or a dtype to convert: through the host, on that backend
            backend = b_arr.name
        ha = contiguous(host_copy(a_), dtype)
        hb = contiguous(host_copy(b_), dtype)
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
        return contiguous(x, dtype).reshape(1, rows, cols)
    if promoted[:-2] != batch:  # partly broadcast: materialise the repeats
        x = np.broadcast_to(x, (*batch, rows, cols))
    return contiguous(x, dtype).reshape(count, rows, cols)


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
        w_shape = tuple(w.shape if isinstance(w, Array) else np.shape(w))
        if len(w_shape) < 2:
            raise ValueError(
                f"linear: w must be (K, N) or a stack of them (..., K, N); it has shape {w_shape}"
            )
        x_shape = tuple(x.shape if isinstance(x, Array) else np.shape(x))
        if len(x_shape) == 0:
            raise ValueError("linear: x must have at least one dimension (..., K)")
        if bias is not None:
            b_shape = tuple(bias.shape if isinstance(bias, Array) else np.shape(bias))
            allowed = [(w_shape[-1],), (*w_shape[:-2], w_shape[-1])]
            if b_shape not in allowed:
                raise ValueError(
                    f"linear: bias must have shape {allowed[0]}"
                    + (f" or {allowed[1]}" if len(w_shape) > 2 else "")
                    + f" to match w {w_shape}; it has shape {b_shape}"
                )
        if x_shape[-1] != w_shape[-2]:
            raise ValueError(
                f"linear: x has {x_shape[-1]} features (last axis of {x_shape}) but w "
                f"expects {w_shape[-2]} (w has shape {w_shape})"
            )
        return _linear_call("linear", x, w, bias, act, backend, out)

    names = ", ".join(f'"{n}"' for n in _optable.ACTIVATIONS)
    linear.__doc__ = (
        "activation(x @ w + bias) in one kernel per backend: a layer of a network. x is (..., K) "
        "or (K,); w is (K, N), or a stack (..., K, N) of one layer per agent whose batch "
        "dimensions broadcast with x's as matmul's do (all agents in one kernel launch); bias "
        "is None, (N,), or w.shape[:-2] + (N,) (one per layer); activation None or an "
        f"activation's name ({names}). The bias and the activation are applied to each tile of "
        "the product while it is in registers or cache. dtypes, `out=` and Arrays as for matmul."
    )
    return linear


def _transposed_array(b: Any) -> bool:
    """Whether b is the matrix transpose (.mT) of a whole C-contiguous Array: the kernels then
    read its base in place, (..., N, K) row-major."""
    if not isinstance(b, Array) or not b.is_view or b.ndim < 2:
        return False
    s = strided(b)
    cs = c_strides((*b.shape[:-2], b.shape[-1], b.shape[-2]))
    return s.offset == 0 and s.strides == (*cs[:-2], cs[-1], cs[-2])


def _transposed_numpy(b: np.ndarray, dtype: np.dtype) -> np.ndarray | None:
    """b's matrix transpose where it is C-contiguous and b is not (b = q.mT of numpy data):
    the kernels read it in place. None otherwise."""
    if b.ndim < 2 or b.dtype != dtype or b.flags.c_contiguous:
        return None
    bt = np.swapaxes(b, -1, -2)
    return bt if bt.flags.c_contiguous and bt.flags.aligned else None


def _bias_items(bias: Any, batch: tuple[int, ...], w_items: int, n: int) -> tuple[Any, int]:
    """(bias as (N,) or (count, N) values, its batch stride): one bias per layer of a stack of
    weights, repeated where w's stack broadcasts against x's batch."""
    count = math.prod(batch)
    if bias is None or bias.ndim == 1 or math.prod(bias.shape[:-1]) == 1:
        return (None if bias is None else reshape(bias, (n,))), 0
    if w_items == count:
        return reshape(bias, (count, n)), n
    if isinstance(bias, Array):
        return reshape(_shapes.broadcast_copy(bias, (*batch, n)), (count, n)), n
    return np.ascontiguousarray(np.broadcast_to(bias, (*batch, n))).reshape(count, n), n


def _linear_call(op: str, a: Any, b: Any, bias: Any, act: int, backend: str | None,
                 out: Any) -> Any:  # fmt: skip
    b_arr = array_backend((a, b, bias, out), backend)
    a_ = a if isinstance(a, Array) else float_array(a, "a" if op == "matmul" else "x")
    b_ = b if isinstance(b, Array) else float_array(b, "b" if op == "matmul" else "w")
    bias_ = None if bias is None else bias if isinstance(bias, Array) else float_array(bias, "bias")
    if op == "linear" and b_.ndim == 2:  # x (..., K) @ w (K, N): a batch of rows
        shape = (*a_.shape[:-1], b_.shape[1])
        batch, m, k, n = (), math.prod(a_.shape[:-1]), a_.shape[-1], b_.shape[1]
        pa, pb = (m, k), (k, n)
    else:
        shape, batch, m, k, n = _matmul_shapes(a_.shape, b_.shape)
        pa = (1, *a_.shape) if a_.ndim == 1 else a_.shape
        pb = (*b_.shape, 1) if b_.ndim == 1 else b_.shape
    dtype = result_dtype(a_.dtype, b_.dtype, *(() if bias_ is None else (bias_.dtype,)))
    if out is not None:
        check_out(out, shape, dtype)
    count = math.prod(batch)
    a_items, b_items = math.prod(pa[:-2]), math.prod(pb[:-2])
    w_items = b_items  # (the stack the bias follows)
    if b_arr is not None:
        same = a_.dtype == b_.dtype == dtype and (bias_ is None or bias_.dtype == dtype)
        if same and not spilled(a, b, bias, out) and (a_items not in (1, count)
                                                      or b_items not in (1, count)):  # fmt: skip
            # a partial broadcast of a batch: the operand repeated on the backend
            if a_items not in (1, count):
                a_ = _shapes.broadcast_copy(_as_array(b_arr, a_, dtype), (*batch, *pa[-2:]))
                pa, a_items = a_.shape, count
            if b_items not in (1, count):
                b_ = _shapes.broadcast_copy(_as_array(b_arr, b_, dtype), (*batch, *pb[-2:]))
                pb, b_items = b_.shape, count
        partial = a_items not in (1, count) or b_items not in (1, count)
        if not spilled(a, b, bias, out) and not partial and same:
            bias_ = bias_ if not isinstance(bias_, np.ndarray) else contiguous(bias_, dtype)
            bias_, bias_batch = _bias_items(bias_, batch, w_items, n)
            return _linear_resident(op, b_arr, a_, b_, bias_, bias_batch, act, shape, count,
                                    m, n, k, a_items > 1, b_items > 1, dtype, out)  # fmt: skip
        # spilled data, mixed dtypes or a partial broadcast: through the host, on that backend
        result = _linear_call(op, host_copy(a), host_copy(b), host_copy(bias), act,
                              b_arr.name, None)  # fmt: skip
        return result_to(b_arr, np.asarray(result), out)

    result = out if isinstance(out, np.ndarray) else np.empty(shape, dtype)
    if result.size == 0:
        return result
    bias1, bias_batch = _bias_items(None if bias_ is None else contiguous(bias_, dtype), batch,
                                    b_items, n)  # fmt: skip
    if k == 0:  # an empty sum: act(0 + bias) on the chosen backend
        result[...] = 0
        if bias1 is not None:
            result.reshape(count, m, n)[...] += bias1.reshape(-1, 1, n)
        if act != _ACT_NONE:
            _unary(_optable.OPS[_optable.ACTIVATION_BY_ID[act]], result, backend, result)
        return _scalar(result, a_, b_, out)
    a3 = _batched(a_, pa, batch, count, dtype)
    bt = _transposed_numpy(b_, dtype) if b_items in (1, count) and b_.ndim >= 2 else None
    # b = (a C-contiguous array).mT: read in place
    b3 = bt.reshape(b_items, n, k) if bt is not None else _batched(b_, pb, batch, count, dtype)
    # the kernel writes the result directly unless out is strided, foreign or overlaps an input
    overlap = out is not None and any(
        np.may_share_memory(out, x) for x in (a_, b_, *(() if bias_ is None else (bias_,)))
    )
    direct = out is None or (kernel_writable(out) and not overlap)
    c3 = result.reshape(count, m, n) if direct else np.empty((count, m, n), dtype)
    flops = 2.0 * count * m * n * k
    trans = bt is not None
    _dispatch.run(op, dtype, backend, flops,
                  lambda be: be.host.linear(a3, b3, c3, bias1, act, trans_b=trans),
                  shape)  # fmt: skip
    if not direct:
        result[...] = c3.reshape(shape)
    return _scalar(result, a_, b_, out)


def _as_array(b: backends.Backend, x: Any, dtype: np.dtype) -> Array:
    """x as an Array on backend b (a numpy operand uploaded for the call)."""
    return x if isinstance(x, Array) else place(contiguous(x, dtype), b)


def _scalar(result: np.ndarray, a: Any, b: Any, out: Any) -> Any:
    """np.matmul gives a numpy scalar for 1-D @ 1-D (unless out= was given)."""
    if out is None and a.ndim == 1 and b.ndim == 1 and result.ndim == 0:
        return result[()]
    return result


def _linear_resident(op: str, b: backends.Backend, a: Any, w: Any, bias: Any, bias_batch: int,
                     act: int, shape: tuple[int, ...], count: int, m: int, n: int, k: int,
                     a_many: bool, b_many: bool, dtype: np.dtype,
                     out: Any) -> Any:  # fmt: skip
    a_batch = m * k if a_many else 0
    b_batch = k * n if b_many else 0
    trans = _transposed_array(w)

    def kernel(be: backends.Backend, c: Any) -> None:
        if k == 0:  # act(0 + bias), made on the host and moved into c
            zeros = np.zeros((count, m, n), dtype)
            if bias is not None:
                zeros += np.asarray(host_copy(bias)).reshape(-1, 1, n)
            held = be.memory.upload(zeros.reshape(-1))
            if act != _ACT_NONE:
                be.kernels.elementwise(act, held, c, zeros.size, dtype)
            else:
                be.memory.copy(held, c, zeros.size, dtype)
            return
        bias_buf = None if bias is None else buffer(be, bias, dtype)
        w_buf = strided(w).buf if trans else buffer(be, w, dtype)
        extra = {}
        if bias_batch:
            extra["bias_batch"] = bias_batch
        if trans:
            extra["trans_b"] = True
        be.kernels.linear(buffer(be, a, dtype), w_buf, c, bias_buf, act, count, m, n, k,
                          a_batch, b_batch, dtype, **extra)  # fmt: skip

    inputs = (a, w, *(() if bias is None else (bias,)))
    result = run_resident(b, op, shape, dtype, out, inputs, 2.0 * count * m * n * k, kernel)
    if out is None and op == "matmul" and a.ndim == 1 and w.ndim == 1:
        return result.numpy()[()]
    return result


# ---------------------------------------------------------------------------------------------
# the public functions, one per op of the table, and the Array operators they define

_MAKERS = {"elementwise": _make_unary, "softmax": _make_unary, "dot": _make_dot,
           "matmul": _make_matmul, "linear": _make_linear, **_arith.MAKERS,
           **_reductions.MAKERS, **_shapes.MAKERS}  # fmt: skip


def _python(op: _optable.Op) -> Callable[..., Any]:
    fn = _MAKERS[op.family](op)
    if op.family != "shape":  # (the shape ops are plain functions with their own names)
        fn.__name__ = fn.__qualname__ = op.name
    fn.__module__ = "accel"
    return fn


# the Python route of each op (everything the compiled fast path does not take), the function
# over it (a builtin of the fast path where it takes the op's calls), and the public ones: an
# op that is another's form (gelu_tanh: gelu(approximate="tanh")) is reached through that one
PYTHON: dict[str, Callable[..., Any]] = {name: _python(op) for name, op in _optable.OPS.items()}
PUBLIC_FORMS: dict[str, Callable[..., Any]] = {
    name: _fast.wrap(_optable.OPS[name], fn) for name, fn in PYTHON.items()
}
PUBLIC: dict[str, Callable[..., Any]] = {
    name: fn for name, fn in PUBLIC_FORMS.items() if _optable.OPS[name].public
}


def _install_operator(name: str, fn: Callable[..., Any]) -> None:
    def forward(self: Array, other: Any) -> Any:
        return fn(self, other)

    def reflected(self: Array, other: Any) -> Any:
        return fn(other, self)

    def in_place(self: Array, other: Any) -> Any:
        if self.is_view:
            raise ValueError(
                f"in-place {name} on a view of another Array: out= must own its memory; write "
                "y = y op x, or make the Array the view was taken from the target"
            )
        return fn(self, other, out=self)

    for method, name_ in ((forward, f"__{name}__"), (reflected, f"__r{name}__"),
                          (in_place, f"__i{name}__")):  # fmt: skip
        method.__name__ = name_
        setattr(Array, name_, method)


def _install_unary_operator(name: str, fn: Callable[..., Any]) -> None:
    def unary(self: Array) -> Any:
        return fn(self)

    unary.__name__ = f"__{name}__"
    setattr(Array, unary.__name__, unary)


for _op in _optable.OPS.values():
    if _op.operator is not None and _op.family == "map":
        _install_unary_operator(_op.operator, PUBLIC[_op.name])
    elif _op.operator is not None:
        _install_operator(_op.operator, PUBLIC[_op.name])

_UFUNCS = {op.ufunc: PUBLIC[name] for name, op in _optable.OPS.items() if op.ufunc}


def _array_ufunc(self: Array, ufunc: Any, method: str, *inputs: Any, out: Any = None,
                 **kwargs: Any) -> Any:  # fmt: skip
    """NEP 13: a numpy ufunc on an Array runs as accel's op of the same name, on the Array's
    backend (np.add(arr, 1.0), np.tanh(arr), x_numpy * arr)."""
    fn = _UFUNCS.get(getattr(ufunc, "__name__", ""))
    if method != "__call__" or fn is None or kwargs:
        called = getattr(ufunc, "__name__", str(ufunc)) + ("" if method == "__call__" else
                                                           f".{method}")  # fmt: skip
        extra = f" with {', '.join(kwargs)}=" if kwargs and fn is not None else ""
        raise TypeError(
            f"numpy.{called}{extra} has no accel op for Arrays; the ufuncs accel runs on Arrays "
            f"are {', '.join(sorted(_UFUNCS))} (and accel.sum, mean, max for reductions); for "
            "others, convert with arr.numpy() first"
        )
    if isinstance(out, tuple):
        if len(out) != 1:
            raise TypeError("accel ops have one output")
        out = out[0]
    return fn(*inputs) if out is None else fn(*inputs, out=out)


def _install_reduction(name: str, fn: Callable[..., Any]) -> None:
    def method(self: Array, axis: Any = None, keepdims: bool = False) -> Any:
        return fn(self, axis=axis, keepdims=keepdims)

    method.__name__ = name
    method.__doc__ = f"accel.{name}(self, axis=axis, keepdims=keepdims): an Array here."
    setattr(Array, name, method)


for _name, _op in _optable.OPS.items():
    if _op.family == "reduction":
        _install_reduction(_name, PUBLIC[_name])

Array.__array_ufunc__ = _array_ufunc  # type: ignore[assignment]
_shapes.install()

__all__ = [*PUBLIC]
