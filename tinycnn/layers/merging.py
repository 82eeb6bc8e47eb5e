"""Merge layers: where branches of a graph meet. ``Add``, ``Subtract``, ``Multiply``, ``Average``,
``Maximum``, ``Minimum``, ``Concatenate``, as ``keras.layers``.

Each takes a list of ``k`` tensors of the same shape (``Concatenate``: the same shape but along ``axis``) and
has no weights. Forward and backward, for inputs ``x_1 .. x_k`` and upstream gradient ``dy``::

    Add          y = x_1 + ... + x_k                 dx_i = dy
    Subtract     y = x_1 - x_2          (k = 2)      dx_1 = dy,   dx_2 = -dy
    Average      y = (x_1 + ... + x_k) / k           dx_i = dy / k
    Multiply     y = x_1 * ... * x_k                 dx_i = dy * prod_{j != i} x_j
    Maximum      y = max(max(x_1, x_2), x_3) ...     dx_i = dy where x_i won, else 0
    Minimum      y = min(min(x_1, x_2), x_3) ...     dx_i = dy where x_i won, else 0
    Concatenate  y = [x_1 | ... | x_k] along axis    dx_i = the slice of dy that x_i filled

``Add`` is the residual connection of He et al. (2016), ``y = x + F(x)``: its backward hands ``dy`` to *both*
branches unchanged, which is why a deep residual network still passes gradient to its first layers.

``Maximum`` and ``Minimum`` fold pairwise, as Keras does; on a tie the earlier input wins and gets the gradient
(TensorFlow's rule for ``maximum(a, b)``: ``a >= b`` sends ``dy`` to ``a``).

>>> import numpy as np
>>> a, b = np.array([[1.0, 5.0]]), np.array([[3.0, 2.0]])
>>> Add()([a, b])
array([[4., 7.]], dtype=float32)
>>> layer = Maximum(); layer([a, b])
array([[3., 5.]], dtype=float32)
>>> [g.tolist() for g in layer.backward(np.array([[1.0, 1.0]]))]
[[[0.0, 1.0]], [[1.0, 0.0]]]
>>> Concatenate()([a, b]).shape
(1, 4)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import ArrayLike

from ..errors import InvalidArgumentError, InvalidInputError
from ..hints import Array, Config, Shape, ShapeLike
from .base import Layer

if TYPE_CHECKING:
    from .input_layer import KerasTensor


class Merge(Layer):
    """Base class: a list of same-shaped inputs, no weights."""

    multi_input = True
    min_inputs = 2
    max_inputs = None

    def build(self, input_shape: Sequence[ShapeLike]) -> None:
        if not isinstance(input_shape, (list, tuple)) or not all(isinstance(s, (list, tuple)) for s in input_shape):
            raise InvalidInputError(
                f"{self.name}: a {type(self).__name__} layer is called on a list of tensors, "
                f"e.g. {type(self).__name__}()([a, b])"
            )
        shapes = [tuple(s) for s in input_shape]
        if len(shapes) < self.min_inputs or (self.max_inputs is not None and len(shapes) > self.max_inputs):
            count = (
                f"exactly {self.min_inputs}" if self.max_inputs == self.min_inputs else f"at least {self.min_inputs}"
            )
            raise InvalidInputError(f"{self.name}: {type(self).__name__} takes {count} inputs, got {len(shapes)}")
        self._check_shapes(shapes)
        self.input_shape = shapes
        self.output_shape = tuple(self.compute_output_shape(shapes))
        self.built = True

    def _check_shapes(self, shapes):
        first = shapes[0]
        for s in shapes[1:]:
            if len(s) != len(first) or any(
                a is not None and b is not None and a != b for a, b in zip(s[1:], first[1:])
            ):
                raise InvalidInputError(
                    f"{self.name}: {type(self).__name__} needs inputs of one shape, got {[tuple(x) for x in shapes]}"
                )

    def compute_output_shape(self, input_shape: Sequence[ShapeLike]) -> Shape:
        shapes = [tuple(s) for s in input_shape]
        return tuple(next((d for d in dims if d is not None), None) for dims in zip(*shapes))

    def _arrays(self, xs):
        if not isinstance(xs, (list, tuple)) or len(xs) < self.min_inputs:
            raise InvalidInputError(f"{self.name}: forward takes a list of at least {self.min_inputs} arrays")
        arrays = [self._cast(x) for x in xs]
        if any(a.shape != arrays[0].shape for a in arrays[1:]) and not isinstance(self, Concatenate):
            raise InvalidInputError(
                f"{self.name}: {type(self).__name__} needs inputs of one shape, got {[a.shape for a in arrays]}"
            )
        return arrays


class Add(Merge):
    """``y = x_1 + ... + x_k``; ``dx_i = dy``."""

    def forward(self, xs: Sequence[ArrayLike], training: bool = False) -> Array:
        arrays = self._arrays(xs)
        self._k = len(arrays)
        y = arrays[0].copy()
        for a in arrays[1:]:
            y += a
        return y

    def backward(self, dy: Array) -> list[Array]:
        return [dy] * self._k


class Subtract(Merge):
    """``y = x_1 - x_2``; ``dx_1 = dy``, ``dx_2 = -dy``."""

    max_inputs = 2

    def forward(self, xs: Sequence[ArrayLike], training: bool = False) -> Array:
        a, b = self._arrays(xs)
        return a - b

    def backward(self, dy: Array) -> list[Array]:
        return [dy, -dy]


class Average(Merge):
    """``y = (x_1 + ... + x_k) / k``; ``dx_i = dy / k``."""

    def forward(self, xs: Sequence[ArrayLike], training: bool = False) -> Array:
        arrays = self._arrays(xs)
        self._k = len(arrays)
        y = arrays[0].copy()
        for a in arrays[1:]:
            y += a
        return y / np.asarray(self._k, dtype=y.dtype)

    def backward(self, dy: Array) -> list[Array]:
        g = dy / np.asarray(self._k, dtype=dy.dtype)
        return [g] * self._k


class Multiply(Merge):
    """``y = x_1 * ... * x_k``; ``dx_i = dy * prod_{j != i} x_j`` (computed directly, no division by ``x_i``)."""

    def forward(self, xs: Sequence[ArrayLike], training: bool = False) -> Array:
        arrays = self._arrays(xs)
        self._xs = arrays
        y = arrays[0].copy()
        for a in arrays[1:]:
            y *= a
        return y

    def backward(self, dy: Array) -> list[Array]:
        grads = []
        for i in range(len(self._xs)):
            g = dy.copy()
            for j, a in enumerate(self._xs):
                if j != i:
                    g *= a
            grads.append(g)
        return grads


class _Extremum(Merge):
    """Pairwise fold ``y = f(f(x_1, x_2), x_3) ...``; the gradient goes to the input that won each element."""

    def _first_wins(self, acc, x):
        raise NotImplementedError

    def forward(self, xs: Sequence[ArrayLike], training: bool = False) -> Array:
        arrays = self._arrays(xs)
        winner = np.zeros(arrays[0].shape, dtype=np.intp)  # which input each element of y came from
        y = arrays[0].copy()
        for i, a in enumerate(arrays[1:], start=1):
            take = ~self._first_wins(y, a)
            y = np.where(take, a, y)
            winner[take] = i
        self._winner, self._k = winner, len(arrays)
        return y

    def backward(self, dy: Array) -> list[Array]:
        return [np.where(self._winner == i, dy, 0).astype(dy.dtype, copy=False) for i in range(self._k)]


class Maximum(_Extremum):
    """Element-wise maximum; on a tie the earlier input gets the gradient."""

    def _first_wins(self, acc, x):
        return acc >= x


class Minimum(_Extremum):
    """Element-wise minimum; on a tie the earlier input gets the gradient."""

    def _first_wins(self, acc, x):
        return acc <= x


class Concatenate(Merge):
    """Join along ``axis`` (default -1, the channels); backward splits ``dy`` back into the inputs' slices."""

    def __init__(self, axis: int = -1, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if isinstance(axis, bool) or not isinstance(axis, (int, np.integer)):
            raise InvalidArgumentError(f"Concatenate axis must be an int, got {axis!r}")
        self.axis = int(axis)

    def _axis(self, ndim):
        if not -ndim <= self.axis < ndim or self.axis % ndim == 0:
            raise InvalidArgumentError(
                f"{self.name}: Concatenate axis={self.axis} is out of range for "
                f"{ndim}-D inputs (the batch axis 0 cannot be joined)"
            )
        return self.axis % ndim

    def _check_shapes(self, shapes):
        ndim = len(shapes[0])
        axis = self._axis(ndim)
        for s in shapes[1:]:
            if len(s) != ndim or any(
                a is not None and b is not None and a != b
                for k, (a, b) in enumerate(zip(s, shapes[0]))
                if k not in (0, axis)
            ):
                raise InvalidInputError(
                    f"{self.name}: Concatenate(axis={self.axis}) needs inputs whose shapes "
                    f"match except along that axis, got {[tuple(x) for x in shapes]}"
                )

    def compute_output_shape(self, input_shape: Sequence[ShapeLike]) -> Shape:
        shapes = [tuple(s) for s in input_shape]
        axis = self._axis(len(shapes[0]))
        out = list(Merge.compute_output_shape(self, [s[:axis] + (1,) + s[axis + 1 :] for s in shapes]))
        sizes = [s[axis] for s in shapes]
        out[axis] = None if any(d is None for d in sizes) else int(sum(sizes))
        return tuple(out)

    def forward(self, xs: Sequence[ArrayLike], training: bool = False) -> Array:
        arrays = self._arrays(xs)
        axis = self._axis(arrays[0].ndim)
        self._check_shapes([a.shape for a in arrays])
        self._splits = np.cumsum([a.shape[axis] for a in arrays])[:-1]
        return np.concatenate(arrays, axis=axis)

    def backward(self, dy: Array) -> list[Array]:
        return np.split(dy, self._splits, axis=self._axis(dy.ndim))

    def get_config(self) -> Config:
        return {**super().get_config(), "axis": self.axis}


def add(inputs: Sequence[KerasTensor] | Sequence[ArrayLike], **kwargs: Any) -> KerasTensor | Array:
    """Functional spelling, as ``keras.layers.add``."""
    return Add(**kwargs)(inputs)


def concatenate(
    inputs: Sequence[KerasTensor] | Sequence[ArrayLike], axis: int = -1, **kwargs: Any
) -> KerasTensor | Array:
    """Functional spelling, as ``keras.layers.concatenate``."""
    return Concatenate(axis=axis, **kwargs)(inputs)
