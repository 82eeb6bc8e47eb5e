"""``Sequential``: a stack of layers, each feeding the next, as ``keras.Sequential``.

It is a :class:`~tinycnn.models.Model` whose graph is a chain: once the input shape is known (the first
layer's ``input_shape=``, ``model.build``, or the first ``fit``/``predict``), it calls its layers one after
the other on a symbolic ``Input`` and becomes a functional model, as Keras 3 does. So ``model.inputs``,
``model.outputs``, ``layer.input`` and ``layer.output`` exist and feature-map models can be cut out of it::

    features = Model(inputs=model.input, outputs=[layer.output for layer in model.layers])

>>> import numpy as np
>>> from tinycnn.layers import Dense
>>> from tinycnn.optimizers import SGD
>>> from tinycnn.utils import set_random_seed
>>> set_random_seed(0)
>>> model = Sequential([Dense(8, activation="relu", input_shape=(2,)), Dense(1)])
>>> model.compile(optimizer=SGD(0.1), loss="mse")
>>> x = np.random.rand(64, 2); y = x.sum(axis=1, keepdims=True)
>>> history = model.fit(x, y, epochs=20, verbose=0)
>>> history.history["loss"][-1] < history.history["loss"][0]
True
>>> model.predict(x[:3], verbose=0).shape
(3, 1)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from ..errors import InvalidArgumentError, InvalidInputError, InvalidTypeError
from ..hints import Config, ShapeLike
from ..layers.base import Layer
from ..layers.input_layer import InputLayer
from .model import Model

if TYPE_CHECKING:
    from ..layers.input_layer import KerasTensor


def _unbuild(layer):
    """Return ``layer`` to its state before ``build`` (used when building a model fails part-way)."""
    if isinstance(layer, Model):
        return
    layer.params, layer.grads, layer.state, layer.weight_names = {}, {}, {}, []
    layer.built, layer.input_shape, layer.output_shape = False, None, None


class Sequential(Model):
    """A linear stack of layers, as ``keras.Sequential``: ``Sequential([layer, ...])`` or ``.add(layer)``."""

    _is_sequential = True

    def __init__(
        self,
        layers: Sequence[Layer | KerasTensor] | None = None,
        name: str | None = None,
        trainable: bool = True,
        **kwargs: Any,
    ) -> None:
        super().__init__(name=name, trainable=trainable, **kwargs)
        self._stack = []
        self._input_layer = None
        self.built = False
        self.inputs = self.outputs = None
        self._nodes = []
        self.multi_input = False
        self.input_names, self.output_names = [], []
        if layers is not None and not isinstance(layers, (list, tuple)):
            raise InvalidTypeError(f"Sequential takes a list of layers, got {type(layers).__name__}")
        for layer in layers or []:
            self.add(layer)

    def _default_name(self):
        return "sequential"

    @property
    def layers(self) -> list[Layer]:
        """The stacked layers (without the InputLayer, as in Keras)."""
        return list(self._stack)

    @property
    def _layers(self):
        return list(self._stack) if hasattr(self, "_stack") else []

    @_layers.setter
    def _layers(self, value):
        pass  # the stack is the list of layers; the graph's own list (InputLayer first) is not kept

    # ------------------------------------------------------------------------------------------ building
    def add(self, layer: Layer | KerasTensor) -> None:
        """Append a layer. A first layer with ``input_shape=`` (or an ``Input``) builds the model at once."""
        from ..layers.input_layer import KerasTensor

        if isinstance(layer, KerasTensor) and isinstance(layer._keras_history[0], InputLayer) and not self._stack:
            self._input_layer = layer._keras_history[0]  # Sequential([Input((28, 28, 1)), ...]), Keras 3's style
            self.build(self._input_layer.batch_shape)
            return
        if isinstance(layer, InputLayer) and not self._stack:
            self._input_layer = layer
            self.build(layer.batch_shape)
            return
        if not isinstance(layer, Layer):
            raise InvalidTypeError(f"Sequential.add expects a tinycnn layer, got {type(layer).__name__}")
        if isinstance(layer, InputLayer):
            raise InvalidArgumentError("an InputLayer (or Input) can only be the first entry of a Sequential model")
        if any(existing is layer for existing in self._stack):
            raise InvalidArgumentError(f"layer {layer.name!r} is already in the model")
        if self._stack and layer.batch_input_shape is not None and not self.built:
            raise InvalidArgumentError(f"only the first layer takes input_shape= (layer {layer.name!r})")
        was_built = layer.built
        self._stack.append(layer)
        try:
            if len(self._stack) == 1 and self._input_layer is None and layer.batch_input_shape is not None:
                self.build(layer.batch_input_shape)
            elif len(self._stack) == 1 and self._input_layer is not None:
                self.build(self._input_layer.batch_shape)
            elif len(self._stack) == 1 and isinstance(layer, Model) and layer.built and not layer.multi_input:
                self.build(layer.input_shape)  # a model as the first layer brings its input shape
            elif self.built:
                self.build(self.input_shape)
        except BaseException:
            self._stack.pop()  # a layer that cannot be built is not added: the model stays as it was
            if not was_built:
                _unbuild(layer)
            if self._stack and self.built:
                self.build(self.input_shape)
            raise

    def pop(self) -> Layer:
        """Remove the last layer, as Keras's ``Sequential.pop``."""
        if not self._stack:
            raise InvalidArgumentError("pop: the model has no layers")
        layer = self._stack.pop()
        if self._stack and self.built:
            self.build(self.input_shape)
        elif not self._stack:
            self.built = False
        return layer

    def build(self, input_shape: ShapeLike | None = None) -> None:
        """Build every layer for ``input_shape`` (batch axis included, e.g. ``(None, 28, 28, 1)``) and draw the
        chain as a graph. All or nothing: a layer that cannot be built leaves no layer half-built."""
        if input_shape is None:
            raise InvalidArgumentError("build needs the input shape with the batch axis, e.g. (None, 28, 28, 1)")
        if not self._stack:
            if self._input_layer is not None:
                return
            raise InvalidArgumentError("cannot build an empty Sequential model: add layers first")
        shape = tuple(input_shape)
        if len(shape) < 2:
            raise InvalidArgumentError(
                f"build needs the input shape with the batch axis, e.g. (None, 28, 28, 1), got {shape}"
            )
        if self._input_layer is None or tuple(self._input_layer.batch_shape) != shape:
            dtype = self._stack[0].dtype
            self._input_layer = InputLayer(batch_shape=shape, dtype=dtype)
        x = self._input_layer.output_tensor
        built_now, called = [], []
        try:
            for layer in self._stack:
                if not layer.built:
                    built_now.append(layer)
                elif not isinstance(layer, Model):
                    got = tuple(x.shape)
                    want = tuple(layer.input_shape)
                    if len(got) != len(want) or any(
                        a is not None and b is not None and a != b for a, b in zip(got[1:], want[1:])
                    ):
                        raise InvalidInputError(
                            f"layer {layer.name!r} was built for inputs {layer.input_shape}, but now receives {x.shape}"
                        )
                n_before = len(layer._inbound_nodes)
                x = layer(x)
                called.append((layer, n_before))
        except BaseException:
            for layer in built_now:  # all or nothing: a failed build leaves no layer half-built
                _unbuild(layer)
            for layer, n_before in called:
                del layer._inbound_nodes[n_before:]
            raise
        self._init_graph(self._input_layer.output_tensor, x)

    # ------------------------------------------------------------------------------------------ compat
    def get_config(self) -> Config:
        return {
            "name": self.name,
            "layers": [{"class_name": type(layer).__name__, "config": layer.get_config()} for layer in self._stack],
        }
