"""``Model``: a graph of layers from inputs to outputs, as ``keras.Model`` (the "Functional API").

Draw the graph by calling layers on symbolic tensors, then name its ends::

    inputs = tinycnn.Input(shape=(28, 28, 1))
    x = layers.Conv2D(32, 3, padding="same", activation="relu")(inputs)
    y = layers.Conv2D(32, 3, padding="same")(x)
    x = layers.Activation("relu")(layers.Add()([x, y]))          # a residual connection
    outputs = layers.Dense(10, activation="softmax")(layers.Flatten()(x))
    model = tinycnn.Model(inputs, outputs)

A model is a layer too: it can be called on arrays (``model(x)``), on symbolic tensors (a model inside a
model), and placed in a ``Sequential``. Its weights are its layers' weights, in Keras's order. The graph is
run and differentiated by :mod:`tinycnn.models.graph`; training is :mod:`tinycnn.models.training`; files are
:mod:`tinycnn.models.weights_npz` (tinycnn's ``.npz``) and :mod:`tinycnn.saving` (Keras's files).

>>> import numpy as np
>>> from tinycnn.layers import Input, Dense, Add
>>> x = Input(shape=(4,))
>>> h = Dense(4, activation="relu")(x)
>>> model = Model(x, Add()([x, h]))
>>> [type(layer).__name__ for layer in model.layers]
['InputLayer', 'Dense', 'Add']
>>> model.predict(np.ones((2, 4)), verbose=0).shape
(2, 4)
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from .. import validation
from ..errors import InvalidArgumentError, InvalidInputError, InvalidTypeError
from ..hints import Array, Config, Shape, ShapeLike
from ..layers.base import Layer, unique_name
from ..layers.input_layer import InputLayer, KerasTensor
from . import graph
from .training import Trainer


def leaf_layers(layer: Layer, seen: set[int] | None = None) -> list[Layer]:
    """The layers holding weights under ``layer`` (itself if it is not a model), each once, in Keras order."""
    seen = set() if seen is None else seen
    if isinstance(layer, Model):
        out = []
        for sub in layer.layers:
            out.extend(leaf_layers(sub, seen))
        return out
    if id(layer) in seen:
        return []
    seen.add(id(layer))
    return [layer]


def leaf_grad_pairs(layer: Layer) -> list[tuple[Layer, str]]:
    """``(leaf layer, weight name)`` of every gradient a call of ``layer`` writes."""
    return [(leaf, name) for leaf in leaf_layers(layer) for name in leaf.params]


class Model(Trainer, Layer):
    """A directed acyclic graph of layers: ``Model(inputs, outputs, name=None)``, as ``keras.Model``.

    ``inputs`` and ``outputs`` are symbolic tensors: one, a list, or a dict keyed by name. A layer called
    twice in the graph is one layer: it shares its weights, and its gradient is the sum over its calls.
    """

    def __init__(
        self,
        inputs: KerasTensor | Sequence[KerasTensor] | dict[str, KerasTensor] | None = None,
        outputs: KerasTensor | Sequence[KerasTensor] | dict[str, KerasTensor] | None = None,
        name: str | None = None,
        trainable: bool = True,
        **kwargs: Any,
    ) -> None:
        self._layers = []
        Layer.__init__(
            self, name=name if name is not None else unique_name(self._default_name()), trainable=trainable, **kwargs
        )
        Trainer.__init__(self)
        if inputs is None and outputs is None and type(self) is not Model and hasattr(self, "_is_sequential"):
            return  # Sequential builds its graph itself
        if inputs is None or outputs is None:
            raise InvalidArgumentError(
                "Model(inputs, outputs): give the symbolic input tensors (tinycnn.Input) and "
                "the output tensors of the graph; subclassed models with call() are not "
                "supported by tinycnn -- build the graph with the functional API instead"
            )
        self._init_graph(inputs, outputs)

    def _default_name(self):
        return "functional"

    def _init_graph(self, inputs, outputs):
        inputs, self._input_structure = graph.as_tensor_list(inputs, "inputs")
        outputs, self._output_structure = graph.as_tensor_list(outputs, "outputs")
        nodes, layers = graph.map_graph(inputs, outputs)
        self.inputs, self.outputs = inputs, outputs
        self._nodes, self._layers = nodes, layers
        self.input_names = [graph.node_of(t).layer.name for t in inputs]
        self.output_names = [graph.node_of(t).layer.name for t in outputs]
        if isinstance(self._input_structure, list):
            self.input_names = list(self._input_structure)
        if isinstance(self._output_structure, list):
            self.output_names = list(self._output_structure)
        self.multi_input = len(inputs) > 1
        self.input_shape = inputs[0].shape if len(inputs) == 1 else [t.shape for t in inputs]
        self.output_shape = outputs[0].shape if len(outputs) == 1 else [t.shape for t in outputs]
        self.built = True

    # ------------------------------------------------------------------------------------------ structure
    @property
    def layers(self) -> list[Layer]:
        """The model's layers in Keras's order (a functional model lists its InputLayers too)."""
        return list(self._layers)

    @property
    def input(self) -> KerasTensor | list[KerasTensor]:
        self._require_built("input")
        return self.inputs[0] if len(self.inputs) == 1 else list(self.inputs)

    @property
    def output(self) -> KerasTensor | list[KerasTensor]:
        self._require_built("output")
        return self.outputs[0] if len(self.outputs) == 1 else list(self.outputs)

    def get_layer(self, name: str | None = None, index: int | None = None) -> Layer:
        """A layer by ``name`` or by position ``index`` in ``model.layers``, as Keras's ``get_layer``."""
        if (name is None) == (index is None):
            raise InvalidArgumentError("get_layer: give either name= or index=")
        layers = self.layers
        if index is not None:
            if (
                isinstance(index, bool)
                or not isinstance(index, (int, np.integer))
                or not -len(layers) <= index < len(layers)
            ):
                raise InvalidArgumentError(
                    f"get_layer: index {index!r} is out of range for a model with {len(layers)} layers"
                )
            return layers[index]
        for layer in layers:
            if layer.name == name:
                return layer
        raise InvalidArgumentError(f"no layer named {name!r}; the layers are {[l.name for l in layers]}")

    @property
    def trainable(self) -> bool:
        return self._trainable

    @trainable.setter
    def trainable(self, value: bool) -> None:
        """Setting it on a model sets it on every layer inside (Keras's rule)."""
        self._trainable = bool(value)
        for layer in self._layers:
            if not isinstance(layer, InputLayer):
                layer.trainable = bool(value)

    @property
    def dtype_policy_name(self) -> str:
        return self.compute_dtype

    @property
    def compute_dtype(self) -> str:
        """The dtype the model computes in: that of its first layer with weights or computation."""
        for layer in leaf_layers(self):
            if not isinstance(layer, InputLayer):
                return layer.dtype
        return self.dtype

    # ------------------------------------------------------------------------------------------ weights
    def _leaves(self):
        return leaf_layers(self)

    @property
    def weights(self) -> list[Array]:
        return [w for layer in self._leaves() for w in layer.weights]

    @property
    def trainable_weights(self) -> list[Array]:
        return [
            layer.params[n]
            for layer in self._leaves()
            if layer.trainable
            for n in layer.weight_names
            if n in layer.params
        ]

    @property
    def non_trainable_weights(self) -> list[Array]:
        trainable = {id(w) for w in self.trainable_weights}
        return [w for w in self.weights if id(w) not in trainable]

    def get_weights(self) -> list[Array]:
        """Copies of every weight, in Keras's order (each layer's weights, layer by layer)."""
        return [w for layer in self._leaves() for w in layer.get_weights()]

    def check_weights(self, weights: Iterable[ArrayLike]) -> list[list[ArrayLike]]:
        weights = list(weights)
        leaves = self._leaves()
        expected = sum(len(layer.weight_names) for layer in leaves)
        if len(weights) != expected:
            raise InvalidInputError(f"the model has {expected} weight arrays, got {len(weights)}")
        chunks, i = [], 0
        for layer in leaves:
            n = len(layer.weight_names)
            chunks.append(layer.check_weights(weights[i : i + n]))
            i += n
        return chunks

    def set_weights(self, weights: Iterable[ArrayLike]) -> None:
        """Set every weight from a flat list in Keras order. Everything is checked before anything changes."""
        self._require_built("set_weights")
        chunks = self.check_weights(weights)
        for layer, chunk in zip(self._leaves(), chunks):
            layer.set_weights(chunk)

    def count_params(self) -> int:
        self._require_built("count_params")
        return sum(layer.count_params() for layer in self._leaves())

    def count_trainable_params(self) -> int:
        return sum(layer.count_trainable_params() for layer in self._leaves()) if self.trainable else 0

    # ------------------------------------------------------------------------------------------ as a layer
    def build(self, input_shape: ShapeLike | Sequence[ShapeLike]) -> None:
        self.check_input_shape(input_shape if not self.multi_input else [tuple(s) for s in input_shape])

    def compute_output_shape(self, input_shape: ShapeLike | Sequence[ShapeLike]) -> Shape | list[Shape]:
        batch = (input_shape[0] if not self.multi_input else input_shape[0][0]) if input_shape else None
        shapes = [(batch,) + tuple(t.shape[1:]) for t in self.outputs]
        return shapes[0] if len(shapes) == 1 else shapes

    def forward(self, x: ArrayLike | Sequence[ArrayLike], training: bool = False) -> Array | list[Array]:
        """Run the graph on arrays (one per input; a list for several). Records what ``backward`` needs."""
        self._require_built("forward")
        values = list(x) if self.multi_input else [x]
        self._tape = graph.Tape()
        outs = graph.forward(self._nodes, self.inputs, values, self.outputs, training, self._tape)
        return outs[0] if len(outs) == 1 else outs

    def backward(self, dy: Array | Sequence[Array]) -> Array | list[Array] | None:
        """Backward through the graph (:func:`tinycnn.models.graph.backward`): ``dL/d input`` from
        ``dL/d output``; fills the ``grads`` of every layer inside."""
        d_outputs = list(dy) if len(self.outputs) > 1 else [dy]
        dxs = graph.backward(
            self._nodes, self.inputs, self.outputs, d_outputs, self._tape, need_input_gradients=self.input_gradient
        )
        return dxs[0] if len(dxs) == 1 else dxs

    def __call__(
        self, inputs: KerasTensor | Sequence[KerasTensor] | ArrayLike, training: bool | None = None, **kwargs: Any
    ) -> KerasTensor | list[KerasTensor] | Array | list[Array]:
        flat = list(inputs) if isinstance(inputs, (list, tuple)) else [inputs]
        if any(isinstance(t, KerasTensor) for t in flat):
            return Layer.__call__(self, inputs, training=training, **kwargs)
        if kwargs:
            raise InvalidTypeError(
                f"{self.name}: calling a model takes only the inputs and training=, got {sorted(kwargs)}"
            )
        from ..utils import as_eager
        from .training import ENGINE_LOCK

        xs = self._prepare_x(inputs, "__call__")
        with ENGINE_LOCK:  # the layers' caches are shared with any other thread using them
            return as_eager(self.forward(xs if self.multi_input else xs[0], training=bool(training)))

    def _require_built(self, what):
        if not self.built:
            raise InvalidArgumentError(
                f"{what}: the model is not built yet; give the first layer input_shape= "
                f"or call model.build((None, ...)) or fit/predict once"
            )

    # ------------------------------------------------------------------------------------------ files
    def save_weights(self, filepath: str | os.PathLike[str], overwrite: bool = True) -> None:
        """Write every weight: ``.npz`` (tinycnn's archive), ``.weights.h5`` or ``.h5`` (Keras's layouts).
        Always atomic: an old file survives any failure."""
        from . import weights_npz

        self._require_built("save_weights")
        filepath = validation.check_path(filepath, "save_weights")
        weights_npz.check_finite_weights(self, filepath, "save_weights")
        if weights_npz.is_keras_path(filepath):
            from .. import saving

            return saving.save_weights(self, filepath)
        return weights_npz.save(self, filepath)

    def load_weights(self, filepath: str | os.PathLike[str]) -> None:
        """Read weights written by ``save_weights`` (``.npz``) or by Keras (``.weights.h5``, ``.h5``). The file
        is checked completely before a single weight changes; nothing in it is ever unpickled or run."""
        from . import weights_npz

        self._require_built("load_weights")
        filepath = validation.check_path(filepath, "load_weights")
        if weights_npz.is_keras_path(filepath):
            from .. import saving

            return saving.load_weights(self, filepath)
        return weights_npz.load(self, filepath)

    def save(self, filepath: str | os.PathLike[str], overwrite: bool = True, **kwargs: Any) -> None:
        """Write the whole model as Keras does: ``.keras`` (Keras 3's archive) or ``.h5`` (legacy HDF5)."""
        from .. import saving
        from . import weights_npz

        self._require_built("save")
        filepath = validation.check_path(filepath, "save")
        weights_npz.check_finite_weights(self, filepath, "save")
        return saving.save_model(self, filepath)

    # ------------------------------------------------------------------------------------------ display
    def _connections(self, layer):
        """Keras's "Connected to" text of ``layer`` in this model: ``name[node][tensor]`` of its inputs."""
        parts = []
        for node in self._nodes:
            if node.layer is layer:
                for t in node.input_tensors:
                    src, node_index, tensor_index = t._keras_history
                    parts.append(f"{src.name}[{node_index}][{tensor_index}]")
        return ", ".join(parts) if parts else "-"

    def _is_graph_like(self):
        return (
            any(not node.single_input or len(node.input_tensors) != 1 for node in self._nodes)
            or len(self.inputs) > 1
            or len(self.outputs) > 1
            or any(len([n for n in self._nodes if n.layer is layer]) > 1 for layer in self.layers)
        )

    def summary(
        self,
        line_length: int | None = None,
        positions: Sequence[float] | None = None,
        print_fn: Callable[[str], Any] | None = None,
        expand_nested: bool = False,
        show_trainable: bool = False,
        layer_range: Sequence[str] | None = None,
    ) -> None:
        """Print Keras's table: layer (type), output shape, parameters -- and, for a graph, what each layer
        is connected to; then the totals. ``expand_nested`` lists the layers of a model inside the model."""
        self._require_built("summary")
        print_fn = print if print_fn is None else print_fn
        connected = not getattr(self, "_is_sequential", False) and self._is_graph_like()
        rows = []

        def add_rows(model, indent):
            for layer in model.layers:
                if isinstance(layer, InputLayer) and getattr(model, "_is_sequential", False):
                    continue
                shape = layer.output_shape
                row = [f"{' ' * indent}{layer.name} ({type(layer).__name__})", str(shape), f"{layer.count_params():,}"]
                if show_trainable:
                    row.append("Y" if layer.trainable else "N")
                if connected:
                    row.append(model._connections(layer) if model is self else "")
                rows.append(row)
                if expand_nested and isinstance(layer, Model):
                    add_rows(layer, indent + 2)

        add_rows(self, 0)
        widths = [
            max(29, *(len(r[0]) + 2 for r in rows)) if rows else 29,
            max(26, *(len(r[1]) + 2 for r in rows)) if rows else 26,
            10,
        ]
        heads = ["Layer (type)", "Output Shape", "Param #"]
        if show_trainable:
            widths.append(12)
            heads.append("Trainable")
        if connected:
            widths.append(max(20, *(len(r[-1]) + 2 for r in rows)))
            heads.append("Connected to")
        if line_length is not None:
            widths[0] = max(widths[0], line_length - sum(widths[1:]))
        width = sum(widths) + (2 if connected or show_trainable else 0)

        def fmt(cells):
            out = f"{cells[0]:<{widths[0]}}{cells[1]:<{widths[1]}}{cells[2]:>{widths[2]}}"
            for cell, w in zip(cells[3:], widths[3:]):
                out += f"  {cell:<{w}}"
            return out.rstrip() if (connected or show_trainable) else out

        total = self.count_params()
        trainable = sum(layer.count_trainable_params() for layer in self._leaves())
        lines = [f'Model: "{self.name}"', "_" * width, fmt(heads), "=" * width]
        for i, row in enumerate(rows):
            lines.append(fmt(row))
            lines.append("_" * width if i < len(rows) - 1 else "=" * width)
        lines += [
            f"Total params: {total:,}",
            f"Trainable params: {trainable:,}",
            f"Non-trainable params: {total - trainable:,}",
            "_" * width,
        ]
        print_fn("\n".join(lines))

    def get_config(self) -> Config:
        from ..saving import config as saving_config  # Keras's functional config: the file format's business

        return saving_config.model_config(self)["config"]

    def __repr__(self):
        return f"<{type(self).__name__} name={self.name!r}>"
