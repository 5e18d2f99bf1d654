"""The kernel role of a backend (its programs): each op of the op table on the backend's own
buffers, C-contiguous, of one dtype, sizes in elements and never zero.

A kernel may decline a call it could run, by returning a reason from `declines` (a dtype, a
size, a form it has no kernel for): that is not a failure. The dispatcher then asks the next
backend (auto, a list) or raises UnsupportedOperationError (one name), and nothing is counted
or warned, as scipy.fft's backends return NotImplemented.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass

import numpy as np

from .._errors import UnsupportedOperationError
from ._memory import Buffer

MAP_DIMS = 8  # the most dimensions a map kernel takes (accel_cpu.h's ACCEL_MAP_DIMS)


@dataclass(frozen=True)
class Strided:
    """An operand a map kernel reads in place: a buffer of the backend (on cpu any ndarray,
    whose first element is element 0), the element where the operand starts in it, and its
    strides in elements over the call's shape (0 broadcasts a dimension; negative walks back).
    """

    buf: Buffer
    offset: int
    strides: tuple[int, ...]


def tree_numbers(tree: tuple) -> list[float]:
    """The Python numbers of a fused elementwise expression (accel._array.Pending's tree:
    ("leaf", i) | ("num", i, value) | ("map", kernel id, children) | ("act", id, child)), in
    the order of their indices: what the recorder counts and the fused kernel receives."""
    if tree[0] == "num":
        return [tree[2]]
    if tree[0] == "leaf":
        return []
    if tree[0] == "act":
        return tree_numbers(tree[2])
    return [v for c in tree[2] for v in tree_numbers(c)]


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
               dtype: np.dtype, bias_batch: int = 0, trans_b: bool = False) -> None:  # fmt: skip
        """c[i] = act(a[i or 0] @ b[i or 0] + bias[i or 0]) for i < batch: a (M, K), b (K, N)
        and c (M, N) row-major, a_batch / b_batch / bias_batch the batch strides in elements
        (0 broadcasts), bias N values per item or None, act an activation id or ACT_NONE.
        trans_b: b[i] is stored transposed, (N, K) row-major, and read in place. M, N >= 1."""

    @abstractmethod
    def dot(self, a: Buffer, b: Buffer, n: int, dtype: np.dtype) -> float:
        """The inner product of n >= 1 elements, summed in an order that depends on n alone."""

    @abstractmethod
    def elementwise(self, act: int, x: Buffer, y: Buffer, n: int, dtype: np.dtype) -> None:
        """y = act(x) over n >= 1 elements; y may be x itself."""

    @abstractmethod
    def softmax(self, x: Buffer, y: Buffer, rows: int, cols: int, dtype: np.dtype) -> None:
        """softmax of each of `rows` rows of `cols` >= 1 elements; y may be x itself."""

    def map(self, op: int, act: int, a: Strided | float, b: Strided | float | None, y: Buffer,
            shape: tuple[int, ...], dtype: np.dtype, y_offset: int = 0) -> None:  # fmt: skip
        """y = act(op(a, b)) over `shape` (1 to MAP_DIMS dims, none empty), written
        C-contiguous into y from element y_offset on: op
        a map kernel id (the op table's kernel_id: the copy of a view, negative, the binary
        ops), act an activation id or ACT_NONE. A float operand is that one value everywhere
        (a Python float, rounded to dtype); at most one operand is a float; b None for a unary
        op. y shares no memory with a or b."""
        raise UnsupportedOperationError(f"backend {type(self).__name__} has no map kernels")

    def reduce(self, op: int, x: Buffer, y: Buffer, outer: int, n: int, inner: int,
               dtype: np.dtype) -> None:  # fmt: skip
        """y (outer, inner) = op over the middle axis of C-contiguous x (outer, n, inner): a
        reduction kernel id (sum, mean, max), in an order that depends on n and inner alone.
        outer, n, inner >= 1."""
        raise UnsupportedOperationError(f"backend {type(self).__name__} has no reductions")

    def norm(self, kind: int, x: Buffer, y: Buffer, rows: int, cols: int,
             weight: Buffer | None, bias: Buffer | None, eps: float,
             dtype: np.dtype) -> None:  # fmt: skip
        """layer_norm or rms_norm (a norm kernel id) of each of `rows` rows of `cols` >= 1
        values; weight and bias cols values or None; y may be x itself."""
        raise UnsupportedOperationError(f"backend {type(self).__name__} has no norms")
