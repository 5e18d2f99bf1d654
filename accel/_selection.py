"""Which backends a call may use: parsing a selection and its precedence.

Precedence: the `backend=` argument > the innermost `use_backend()` > `set_backend()` > the
`ACCEL_BACKEND` environment variable (read once, at import) > "auto".

There are only 16 selections ("auto" and every ordered list of distinct backends), each with a
fixed `index`: caches of decisions (the dispatcher's, the compiled fast path's) are keyed by
it, so that entering a `use_backend` block changes nothing they hold and costs nothing. The
block's frames live in a context variable (local to the thread and the asyncio task) as
tuples `(index, selection, parent)`, which the compiled fast path reads as they are.
"""

from __future__ import annotations

import contextvars
import functools
import inspect
import itertools
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from . import _notice

BACKENDS: tuple[str, ...] = ("gpu", "simd", "cpu")

F = TypeVar("F", bound=Callable[..., Any])


@dataclass(frozen=True)
class Selection:
    text: str  # normalised: "auto", "gpu" or "simd,cpu"
    names: tuple[str, ...]  # candidates in chain order (auto) or the list's order
    strict: bool  # one name: raise rather than fall back
    index: int  # its place in ALL


def _all_selections() -> tuple[Selection, ...]:
    found = [Selection("auto", BACKENDS, False, 0)]
    for size in range(1, len(BACKENDS) + 1):
        for names in itertools.permutations(BACKENDS, size):
            found.append(Selection(",".join(names), names, size == 1, len(found)))
    return tuple(found)


ALL: tuple[Selection, ...] = _all_selections()
_BY_TEXT = {s.text: s for s in ALL}
AUTO = ALL[0]


@functools.lru_cache(maxsize=256)
def parse(sel: str) -> Selection:
    """Parses "auto", one backend name or a comma list; ValueError for anything else."""
    if not isinstance(sel, str):
        raise TypeError(f"a backend selection is a string, not {type(sel).__name__}")
    text = sel.strip().lower()
    if text == "auto":
        return AUTO
    names = tuple(part.strip() for part in text.split(","))
    unknown = [n for n in names if n not in BACKENDS]
    if not names or unknown:
        bad = ", ".join(repr(n) for n in unknown) or repr(sel)
        raise ValueError(
            f"unknown backend {bad} in selection {sel!r}; valid: 'auto', "
            + ", ".join(repr(n) for n in BACKENDS)
            + " or a comma list of them such as 'simd,cpu'"
        )
    return _BY_TEXT[",".join(dict.fromkeys(names))]  # repeats dropped, order kept


def strict(name: str) -> Selection:
    """The strict selection of one backend name."""
    return _BY_TEXT[name]


Frame = tuple  # (selection index, Selection, parent Frame | None)

_context: contextvars.ContextVar[Frame | None] = contextvars.ContextVar(
    "accel_backend", default=None
)
_process: Selection | None = None
_ENV_TEXT = os.environ.get("ACCEL_BACKEND", "").strip()
_env: Selection | None = None
_env_error: ValueError | None = None
if _ENV_TEXT:
    try:
        _env = parse(_ENV_TEXT)
    except ValueError as e:  # raised at the first call, where the user sees it
        _env_error = ValueError(f"ACCEL_BACKEND: {e}")


def context() -> contextvars.ContextVar[Frame | None]:
    """The context variable of the use_backend frames (the compiled fast path reads it)."""
    return _context


def current(backend: str | None = None) -> Selection:
    """The selection in force for a call given its `backend=` argument."""
    if backend is not None:
        return parse(backend)
    frame = _context.get()
    if frame is not None:
        return frame[1]
    return outer()


def outer() -> Selection:
    """The selection outside every use_backend block: set_backend's, ACCEL_BACKEND or auto."""
    if _process is not None:
        return _process
    if _env_error is not None:
        raise _env_error
    return _env or AUTO


def outer_index() -> int:
    """outer()'s index, or -1 where ACCEL_BACKEND is invalid (the call must raise)."""
    try:
        return outer().index
    except ValueError:
        return -1


def source() -> str:
    """Where the selection in force comes from, for the probe."""
    if _context.get() is not None:
        return "use_backend"
    if _process is not None:
        return "set_backend"
    if _ENV_TEXT:
        return "ACCEL_BACKEND"
    return "default"


def env_text() -> str:
    return _ENV_TEXT


def get_backend() -> str:
    """The selection in force here (ignoring a call's `backend=`), e.g. "auto" or "simd,cpu"."""
    return current().text


def set_backend(sel: str | None) -> None:
    """Sets the process-wide selection; None goes back to ACCEL_BACKEND or "auto"."""
    global _process
    _process = None if sel is None else parse(sel)
    _notice.changed("selection")


class use_backend:
    """Selects backends for a block or a function, local to the thread and asyncio task.

    >>> with accel.use_backend("cpu"):
    ...     accel.matmul(a, b)
    >>> @accel.use_backend("simd,cpu")
    ... def f(): ...

    One object may be entered by many threads and tasks at once (a module-level
    `ctx = accel.use_backend("cpu")` used as `with ctx:` in workers): each entry pushes onto the
    stack of its own context and each exit pops it there, so nothing is shared between them.
    """

    def __init__(self, sel: str) -> None:
        self._selection = parse(sel)

    def __enter__(self) -> use_backend:
        s = self._selection
        _context.set((s.index, s, _context.get()))
        return self

    def __exit__(self, *exc: object) -> None:
        frame = _context.get()
        if frame is not None:
            _context.set(frame[2])

    def __call__(self, func: F) -> F:
        s = self._selection

        if inspect.iscoroutinefunction(func):

            @functools.wraps(func)
            async def run_async(*args: Any, **kwargs: Any) -> Any:
                token = _context.set((s.index, s, _context.get()))
                try:
                    return await func(*args, **kwargs)
                finally:
                    _context.reset(token)

            return run_async  # type: ignore[return-value]

        @functools.wraps(func)
        def run(*args: Any, **kwargs: Any) -> Any:
            token = _context.set((s.index, s, _context.get()))
            try:
                return func(*args, **kwargs)
            finally:
                _context.reset(token)

        return run  # type: ignore[return-value]
