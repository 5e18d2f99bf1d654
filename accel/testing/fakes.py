"""A base for fake backends in tests: available, runs float32 and float64, eligible for auto.
Subclasses implement (or spoil) the kernels."""

from __future__ import annotations

import numpy as np

_DTYPES = frozenset((np.dtype(np.float32), np.dtype(np.float64)))


class FakeBackend:
    def __init__(self, name: str) -> None:
        self.name = name

    def unavailable_reason(self) -> str | None:
        return None

    def dtypes(self) -> frozenset[np.dtype]:
        return _DTYPES

    def auto_eligible(self) -> bool:
        return True

    def max_elements(self, dtype: np.dtype) -> int:
        return 1 << 40

    def details(self) -> dict:
        return {}
