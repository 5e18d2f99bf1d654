"""The library's own exceptions and warning."""

from __future__ import annotations


class AccelError(Exception):
    """Base of every error accel raises on its own account."""


class BackendUnavailableError(AccelError):
    """The backend cannot run on this machine; the message says why and how to fix it."""


class UnsupportedOperationError(AccelError):
    """The backend cannot run this op, dtype or size (another backend may)."""


class BackendRuntimeError(AccelError):
    """A backend failed while running a call: device lost, out of memory, a limit exceeded."""


class AccelFallbackWarning(RuntimeWarning):
    """In auto or list mode a backend failed and the call ran on the next one."""
