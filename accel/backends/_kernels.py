"""The kernel role of a backend (its programs): each op of the op table on the backend's own
buffers, C-contiguous, of one dtype, sizes in elements and never zero.

A kernel may decline a call it could run, by returning a reason from `declines` (a dtype, a
size, a form it has no kernel for): that is not a failure. The dispatcher then asks the next
backend (auto, a list) or raises UnsupportedOperationError (one name), and nothing is counted
or warned, as scipy.fft's backends return NotImplemented.
"""

from __future__ import annotations

from abc import ABC, abstractmethod

import numpy as np

from ._memory import Buffer


class Kernels(ABC):
    #: False where an elementwise or softmax kernel, once started on host memory, cannot fail
    #: part-way: it may then write its input in place even when auto could fall back.
    may_fail_part_way: bool = True

    def declines(self, op: str, dtype: np.dtype, shape: tuple[int, ...]) -> str | None:
        """Why these kernels pass on a call of `op` (None: they take it); shape is the
        operand's (elementwise, softmax) or the result's (matmul, linear)."""
        return None

    @abstractmethod
    def linear(self, a: Buffer, b: Buffer, c: Buffer, bias: Buffer | None, act: int,
               batch: int, m: int, n: int, k: int, a_batch: int, b_batch: int,
               dtype: np.dtype) -> None:  # fmt: skip
        """c[i] = act(a[i or 0] @ b[i or 0] + bias) for i < batch: a (M, K), b (K, N) and c
        (M, N) row-major, a_batch / b_batch the operands' batch strides in elements (0
        broadcasts), bias N values or None, act an activation id or ACT_NONE. M, N, K >= 1."""

    @abstractmethod
    def dot(self, a: Buffer, b: Buffer, n: int, dtype: np.dtype) -> float:
        """The inner product of n >= 1 elements, summed in an order that depends on n alone."""

    @abstractmethod
    def elementwise(self, act: int, x: Buffer, y: Buffer, n: int, dtype: np.dtype) -> None:
        """y = act(x) over n >= 1 elements; y may be x itself."""

    @abstractmethod
    def softmax(self, x: Buffer, y: Buffer, rows: int, cols: int, dtype: np.dtype) -> None:
        """softmax of each of `rows` rows of `cols` >= 1 elements; y may be x itself."""
