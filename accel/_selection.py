"""Which backends a call may use: parsing a selection and its precedence.

Precedence: the `backend=` argument > the innermost `use_backend()` > `set_backend()` > the
`ACCEL_BACKEND` environment variable (read once, at import) > "auto".
"""

from __future__ import annotations

import contextvars
import functools
import inspect
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from . import _fast

BACKENDS: tuple[str, ...] = ("gpu", "simd", "cpu")

F = TypeVar("F", bound=Callable[..., Any])


@dataclass(frozen=True)
class Selection:
    text: str  # normalised: "auto", "gpu" or "simd,cpu"
    names: tuple[str, ...]  # candidates in chain order (auto) or the list's order
    strict: bool  # one name: raise rather than fall back


@functools.lru_cache(maxsize=256)
def parse(sel: str) -> Selection:
    """Parses "auto", one backend name or a comma list; ValueError for anything else."""
    if not isinstance(sel, str):
        raise TypeError(f"a backend selection is a string, not {type(sel).__name__}")
    text = sel.strip().lower()
    if text == "auto":
        return Selection("auto", BACKENDS, strict=False)
    names = tuple(part.strip() for part in text.split(","))
    unknown = [n for n in names if n not in BACKENDS]
    if not names or unknown:
        bad = ", ".join(repr(n) for n in unknown) or repr(sel)
        raise ValueError(
            f"unknown backend {bad} in selection {sel!r}; valid: 'auto', "
            + ", ".join(repr(n) for n in BACKENDS)
            + " or a comma list of them such as 'simd,cpu'"
        )
    names = tuple(dict.fromkeys(names))  # drop repeats, keep order
    return Selection(",".join(names), names, strict=len(names) == 1)


class _Frame:
    """One active use_backend: its selection and the frame it covers (a linked stack)."""

    __slots__ = ("parent", "selection")

    def __init__(self, selection: Selection, parent: _Frame | None) -> None:
        self.selection = selection
        self.parent = parent


_context: contextvars.ContextVar[_Frame | None] = contextvars.ContextVar(
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

_AUTO = parse("auto")


def current(backend: str | None = None) -> Selection:
    """The selection in force for a call given its `backend=` argument."""
    if backend is not None:
        return parse(backend)
    frame = _context.get()
    if frame is not None:
        return frame.selection
    if _process is not None:
        return _process
    if _env_error is not None:
        raise _env_error
    return _env or _AUTO


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
    from . import _dispatch  # (it imports this module)

    # the first choices and the compiled fast path follow the dispatcher again from here: a
    # selection text may equal an earlier backend= ("simd"), whose choice was remembered as
    # strict only
    _dispatch.invalidate()


def in_block() -> bool:
    """Whether a use_backend block or decorated function is active in this thread or task."""
    return _context.get() is not None


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
        _fast.frames(1)  # while any block is open, no call takes the compiled fast path
        _context.set(_Frame(self._selection, _context.get()))
        return self

    def __exit__(self, *exc: object) -> None:
        frame = _context.get()
        if frame is not None:
            _context.set(frame.parent)
        _fast.frames(-1)

    def __call__(self, func: F) -> F:
        selection = self._selection

        if inspect.iscoroutinefunction(func):

            @functools.wraps(func)
            async def run_async(*args: Any, **kwargs: Any) -> Any:
                _fast.frames(1)
                token = _context.set(_Frame(selection, _context.get()))
                try:
                    return await func(*args, **kwargs)
                finally:
                    _context.reset(token)
                    _fast.frames(-1)

            return run_async  # type: ignore[return-value]

        @functools.wraps(func)
        def run(*args: Any, **kwargs: Any) -> Any:
            _fast.frames(1)
            token = _context.set(_Frame(selection, _context.get()))
            try:
                return func(*args, **kwargs)
            finally:
                _context.reset(token)
                _fast.frames(-1)

        return run  # type: ignore[return-value]
