"""Symbolic tensors, nodes and ``Input``: the pieces a functional model is drawn with.

Calling a layer on a *symbolic* tensor computes nothing. It records a **node** -- "this layer was applied to
these tensors and produced those" -- and returns new symbolic tensors that know where they came from::

    x = Input(shape=(28, 28, 1))        # a KerasTensor of shape (None, 28, 28, 1), made by an InputLayer
    y = Conv2D(32, 3)(x)                # a Node(Conv2D, inputs=[x], outputs=[y]); y.shape = (None, 26, 26, 32)

Following ``tensor._keras_history = (layer, node_index, tensor_index)`` back from a model's outputs
reaches every node of the graph; :mod:`tinycnn.models.graph` sorts them and runs them. The names and the
structure (``KerasTensor``, ``Node``, ``_inbound_nodes``, ``_keras_history``) are Keras's, so a Keras
reader finds the same things here.

Calling a layer on a NumPy array instead runs it at once (eager) and returns an array.

>>> x = Input(shape=(3,), name="features")
>>> x.shape
(None, 3)
>>> x._keras_history[0].name
'features'
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, NoReturn

import numpy as np
from numpy.typing import ArrayLike, DTypeLike

from ..errors import InvalidArgumentError
from ..hints import Array, Config, ShapeLike
from .base import Layer


class KerasTensor:
    """A symbolic tensor: a shape (batch axis first, ``None`` when unknown), a dtype and its history.

    ``_keras_history = (layer, node_index, tensor_index)``: ``layer._inbound_nodes[node_index]`` made it,
    as its output number ``tensor_index``.
    """

    def __init__(
        self,
        shape: ShapeLike,
        dtype: str = "float32",
        name: str | None = None,
        history: tuple[Layer, int, int] | None = None,
    ) -> None:
        self.shape = tuple(shape)
        self.dtype = dtype
        self.name = name
        self._keras_history = history

    @property
    def ndim(self) -> int:
        return len(self.shape)

    def __repr__(self):
        return f"<KerasTensor shape={self.shape}, dtype={self.dtype}, name={self.name}>"

    def __array__(self, *args: Any, **kwargs: Any) -> NoReturn:
        raise TypeError(
            f"{self!r} is symbolic: it holds no numbers. Build a model with "
            f"tinycnn.Model(inputs, outputs) and call model.predict(x) on arrays"
        )


class Node:
    """One application of a layer: ``output_tensors = layer(input_tensors)``.

    ``single_input`` records whether the layer was called on one tensor (``layer(x)``) or a list
    (``Add()([a, b])``), so the graph hands it the same structure when it runs.
    """

    def __init__(
        self,
        layer: Layer,
        input_tensors: Iterable[KerasTensor],
        output_tensors: Iterable[KerasTensor],
        single_input: bool = True,
    ) -> None:
        self.layer = layer
        self.input_tensors = list(input_tensors)
        self.output_tensors = list(output_tensors)
        self.single_input = single_input
        self.is_input = not self.input_tensors

    @property
    def parent_nodes(self) -> list[Node]:
        """The nodes that made this node's inputs."""
        return [t._keras_history[0]._inbound_nodes[t._keras_history[1]] for t in self.input_tensors]

    def __repr__(self):
        return (
            f"<Node {self.layer.name}: {[t.shape for t in self.input_tensors]} -> "
            f"{[t.shape for t in self.output_tensors]}>"
        )


class InputLayer(Layer):
    """The layer behind ``Input``: it has no weights and passes its input on unchanged.

    ``shape`` excludes the batch axis (``(28, 28, 1)``); ``batch_shape`` includes it. Keras 2's
    ``input_shape=`` and ``batch_input_shape=`` spellings are accepted.
    """

    def __init__(
        self,
        shape: int | ShapeLike | None = None,
        batch_size: int | None = None,
        dtype: DTypeLike = None,
        batch_shape: ShapeLike | None = None,
        name: str | None = None,
        sparse: bool | None = None,
        input_shape: int | ShapeLike | None = None,
        batch_input_shape: ShapeLike | None = None,
        input_tensor: None = None,
        ragged: bool | None = None,
        **kwargs: Any,
    ) -> None:
        if sparse or ragged:
            raise InvalidArgumentError("tinycnn has no sparse or ragged tensors: Input(sparse=True) is not supported")
        if input_tensor is not None:
            raise InvalidArgumentError("Input(tensor=...) is not supported; give shape=(...) instead")
        shape = shape if shape is not None else input_shape
        batch_shape = batch_shape if batch_shape is not None else batch_input_shape
        if shape is None and batch_shape is None:
            raise InvalidArgumentError("Input needs a shape without the batch axis, e.g. Input(shape=(28, 28, 1))")
        if batch_shape is None:
            if isinstance(shape, (int, np.integer)):
                shape = (int(shape),)
            if not isinstance(shape, (tuple, list)):
                raise InvalidArgumentError(
                    f"Input shape must be a tuple without the batch axis, e.g. (28, 28, 1), got {shape!r}"
                )
            batch_shape = (batch_size,) + tuple(shape)
        batch_shape = tuple(None if d is None else d for d in batch_shape)
        if (
            not all(
                d is None or (isinstance(d, (int, np.integer)) and not isinstance(d, bool) and d > 0)
                for d in batch_shape
            )
            or len(batch_shape) < 2
        ):
            raise InvalidArgumentError(
                f"Input shape must hold positive ints (None for an unknown size) and at "
                f"least one axis besides the batch, got {tuple(batch_shape)[1:]!r}"
            )
        super().__init__(name=name if name is not None else _input_name(), dtype=dtype, **kwargs)
        self.batch_shape = tuple(int(d) if d is not None else None for d in batch_shape)
        self.built = True
        self.input_shape = self.output_shape = self.batch_shape
        tensor = KerasTensor(self.batch_shape, self.dtype, name=self.name, history=(self, 0, 0))
        self._inbound_nodes.append(Node(self, [], [tensor]))
        self.output_tensor = tensor

    def forward(self, x: ArrayLike, training: bool = False) -> Array:
        return np.asarray(x)  # each layer casts to its own dtype; a float64 model keeps float64 inputs

    def backward(self, dy: Array) -> Array:
        return dy

    def get_config(self) -> Config:
        return {"name": self.name, "dtype": self.dtype, "batch_shape": self.batch_shape}


def _input_name():
    from .base import unique_name

    return unique_name("input_layer")


def Input(
    shape: int | ShapeLike | None = None,
    batch_size: int | None = None,
    dtype: DTypeLike = None,
    name: str | None = None,
    batch_shape: ShapeLike | None = None,
    **kwargs: Any,
) -> KerasTensor:
    """A symbolic input tensor, as ``keras.Input``: ``shape`` without the batch axis."""
    return InputLayer(
        shape=shape, batch_size=batch_size, dtype=dtype, name=name, batch_shape=batch_shape, **kwargs
    ).output_tensor
