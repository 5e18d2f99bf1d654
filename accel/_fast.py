"""The Python side of the compiled fast path (accel._fastpath, c_ext/fastpath/): what it may
run, and the state it reads.

Each public op is a FastOp when the extension was built (a C compiler and numpy's headers at
install): a call that is the common case (numpy arrays or cpu/simd Arrays, C-contiguous,
aligned, native float32/float64; `out=` None or one the kernel may write; a `backend=` the
dispatcher has seen) runs the kernel straight from C, where the dispatcher has already chosen
a backend for its selection, op, dtype and interval of work; every other call is the op's
Python function, which stays the only place with semantics.

What the fast path executes is the dispatcher's decision, cached in C per selection (all 16
of them have an index: accel._selection) as intervals of work with the backend that runs them.
The dispatcher hands each decision over (`allow`); every notice of accel._notice clears them
all. The selection in force is read in C from the same context variable that use_backend sets,
so entering a block changes nothing here. Calls are counted in C and merged into
accel.stats().
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

import numpy as np

from . import _notice, _selection, _stats
from ._optable import OPS, Op

try:
    from . import _fastpath
except ImportError:  # not built (no compiler, or no numpy at build): the Python path always
    _fastpath = None

# what a FastOp's slot runs (the same numbers as c_ext/fastpath/)
KINDS = {"elementwise": 0, "softmax": 1, "matmul": 2, "dot": 3, "linear": 4, "map": 5,
         "binary": 5, "norm": 6}
BACKEND_IDS = {"cpu": 0, "simd": 1}
_slots: dict[str, int] = {}  # op name -> slot
_builtins: dict[str, Callable[..., Any]] = {}  # op name -> its function (wrap's)
_named: set[str] = set()  # backend= texts the fast path knows
_cpu: Any = None  # the cpu backend object whose entries the fast path calls
_wasm: Any = None  # the simd backend's WasmEntries the fast path calls


def wrap(op: Op, fallback: Callable[..., Any]) -> Callable[..., Any]:
    """The public function of an op: a builtin function of the compiled module that runs the
    common call itself and hands every other to `fallback` (or `fallback` itself, where the
    module was not built). It keeps fallback's name, module, signature and docstring."""
    if _fastpath is None or op.family not in KINDS:
        return fallback
    slot = _slots.setdefault(op.name, len(_slots))
    sig = inspect.signature(fallback)
    plain = [p.replace(annotation=inspect.Parameter.empty) for p in sig.parameters.values()]
    signature = str(sig.replace(parameters=plain, return_annotation=inspect.Signature.empty))
    doc = f"{op.name}{signature}\n--\n\n{fallback.__doc__ or ''}"
    # (a map op's or a norm's slot carries its kernel id where an activation's carries its
    # act id; a norm's its default eps too)
    which = op.kernel_id if op.family in ("map", "binary", "norm") else op.act_id
    fn = _fastpath.make(slot, KINDS[op.family], which, fallback, op.name, doc,
                        fallback.__module__, float(op.defaults.get("eps", 0.0)))  # fmt: skip
    _builtins[op.name] = fn
    return fn


def builtin(name: str) -> Callable[..., Any] | None:
    """The function of op `name` made by wrap (the internal copy of a view included), or None
    before it is made or where the extension was not built."""
    return _builtins.get(name)


def configure_arrays(array_type: type, make: Callable[..., Any], view_type: type) -> None:
    """The Array type and its maker (backend, buffer, shape, dtype) -> Array, for the calls
    the fast path takes with Arrays in or out."""
    if _fastpath is not None:
        _fastpath.configure_arrays(array_type, make, view_type)


def _configure(b: Any) -> bool:
    """Points the fast path at backend b's compiled entries; False where it has none."""
    global _cpu, _wasm
    entries = b.native()
    if entries is None:
        return False
    if b.name == "cpu":
        if _cpu is not b:
            _fastpath.configure_cpu(b, entries.kernels)
            _cpu = b
        return True
    if _wasm is not entries:
        _fastpath.configure_wasm(b, entries.call, entries.error_delete, entries.trap_delete,
                                 entries.raw_size, entries.binder, entries.band_binder)  # fmt: skip
        _wasm = entries
    return True


def allow(sel_index: int, text: str | None, op: str, dtype: np.dtype, b: Any, lower: float,
          upper: float) -> None:  # fmt: skip
    """Lets the fast path run (op, dtype) calls of the selection with work in [lower, upper)
    on backend b: the dispatcher's first choice for them. text: the backend= string that
    named the selection, if one did."""
    slot = _slots.get(op)
    on = BACKEND_IDS.get(b.name)
    if _fastpath is None or slot is None or on is None or not _configure(b):
        return
    if text is not None:
        name(text, sel_index)
    _fastpath.allow(sel_index, slot, 0 if dtype == np.float32 else 1, on, float(lower),
                    float(upper))  # fmt: skip


def name(text: str, sel_index: int) -> None:
    """Tells the fast path which selection a backend= text names."""
    if text not in _named and _fastpath is not None:
        if len(_named) > 256:  # texts are few; spelling variants are not kept forever
            _named.clear()
        _fastpath.name_selection(text, sel_index)
        _named.add(text)


def _changed(kind: str) -> None:
    global _cpu, _wasm
    if _fastpath is None:
        return
    _fastpath.reset(_selection.outer_index())
    if kind == "backends":  # entries may be another object's now
        _cpu = _wasm = None


def take_stats() -> tuple[list[tuple[str, str, int, list[float]]],
                         dict[str, tuple[int, int, int]]]:  # fmt: skip
    """(op, backend, calls, seconds of the timed ones) since the last take, and the simd
    calls' copies: {backend: (calls, bytes in, bytes out)}."""
    if _fastpath is None:
        return [], {}
    names = {slot: name for name, slot in _slots.items()}
    backend_names = {v: k for k, v in BACKEND_IDS.items()}
    records, moved = _fastpath.take_stats()
    return [(names[slot], backend_names[on], calls, times) for on, slot, calls, times in records], {
        "simd": moved
    }


if _fastpath is not None:
    _fastpath.configure_selection(
        _selection.context(),
        _selection.outer_index(),
        len(_selection.ALL),
        len(OPS),
        tuple(_selection.strict(name).index for name in BACKEND_IDS),
    )
    _notice.subscribe(_changed)
    _stats.add_source(take_stats)
