"""The layer contract every tinycnn layer follows (the same shape as a Keras layer).

A layer

* is created with its hyperparameters (``Dense(64, activation="relu")``) and, for the first layer of a
  model, ``input_shape=`` *without* the batch axis, as in Keras;
* is **built** lazily by ``build(input_shape)``, where ``input_shape`` *includes* the batch axis
  (``(None, 28, 28, 1)``): that is where weights are created, once the input size is known;
* computes ``y = forward(x, training=False)``, caching only what the backward pass needs;
* computes ``dx = backward(dy)`` for the last ``forward``, and **overwrites** ``self.grads`` (a dict with the
  same keys as ``self.params``) with ``dL/dparam``;
* exposes ``get_weights()/set_weights()`` in Keras's order and shapes, so Keras weights load unchanged.

A model's first layer has no one to hand ``dx`` to: while training, ``Sequential`` sets its
``input_gradient`` to False for the backward pass, and the layers whose ``dx`` costs real work (Conv2D, Dense)
then return None instead of computing it -- as Keras, which differentiates only with respect to the weights
unless asked for the inputs. ``input_gradient`` is True otherwise, and a layer used on its own always returns
``dx``.

``params`` holds trainable arrays (updated by the optimizer), ``state`` non-trainable ones (BatchNorm's
moving statistics); ``weight_names`` gives their Keras order.

**Calling a layer** (``y = layer(x)``) is how models are drawn and how a layer is used on its own:

* on a symbolic tensor (``tinycnn.Input(...)`` or another layer's symbolic output) it builds the layer for
  that shape if needed, records a :class:`~tinycnn.layers.input_layer.Node` in ``layer._inbound_nodes`` and
  returns symbolic outputs -- nothing is computed (see :mod:`tinycnn.layers.input_layer`);
* on NumPy arrays it builds the layer if needed and returns ``forward(x, training)`` at once.

A layer whose ``multi_input`` is True (the merge layers) takes a *list* of tensors, its ``forward`` a list of
arrays, and its ``backward`` returns a list of input gradients, one per input.
"""

from __future__ import annotations

import collections
import re
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import DTypeLike

from .. import initializers
from ..errors import InvalidArgumentError, InvalidInputError, InvalidTypeError
from ..hints import Array, ArrayLike, Config, IntPair, Shape, ShapeLike
from ..utils import as_eager, floatx
from ..validation import overflows

if TYPE_CHECKING:
    from ..initializers import InitializerLike
    from .input_layer import KerasTensor

_name_counts = collections.Counter()


def _snake(name):
    """``MaxPooling2D -> max_pooling2d``, as Keras names layers."""
    name = re.sub(r"(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub(r"([a-z])([A-Z])", r"\1_\2", name).lower()


def unique_name(base: str) -> str:
    """``dense``, ``dense_1``, ``dense_2`` ... as Keras names layers."""
    n = _name_counts[base]
    _name_counts[base] += 1
    return base if n == 0 else f"{base}_{n}"


def reserve_name(name: str) -> None:
    """Note an explicitly given name, so later automatic names do not repeat it (``conv2d`` given by hand,
    then the next automatic one is ``conv2d_1``): two layers of one model must not share a name."""
    m = re.fullmatch(r"(.*?)(?:_(\d+))?", name)
    base, n = m.group(1), int(m.group(2)) if m.group(2) else 0
    if base and _name_counts[base] <= n:
        _name_counts[base] = n + 1


def as_pair(value: IntPair, what: str, allow_zero: bool = False) -> tuple[int, int]:
    """``3 -> (3, 3)``; ``(2, 3) -> (2, 3)``; refuses non-positive or non-integer values."""
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        pair = (int(value), int(value))
    elif (
        isinstance(value, (tuple, list))
        and len(value) == 2
        and all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in value)
    ):
        pair = (int(value[0]), int(value[1]))
    else:
        raise InvalidArgumentError(f"{what} must be an int or a tuple of two ints, got {value!r}")
    low = 0 if allow_zero else 1
    if min(pair) < low:
        raise InvalidArgumentError(f"{what} must be {'>= 0' if allow_zero else 'positive'}, got {value!r}")
    return pair


def check_padding(padding: str) -> str:
    if not isinstance(padding, str) or padding.lower() not in ("valid", "same"):
        raise InvalidArgumentError(f"padding must be 'valid' or 'same', got {padding!r}")
    return padding.lower()


class Layer:
    """Base class: weight bookkeeping, naming, dtype and the default shape logic."""

    #: False while a model trains this layer as its first: ``backward`` may then skip ``dx`` (module docstring).
    input_gradient = True
    #: True for layers called on a list of tensors (``Add()([a, b])``).
    multi_input = False

    def __init__(
        self,
        name: str | None = None,
        dtype: DTypeLike = None,
        input_shape: int | ShapeLike | None = None,
        trainable: bool = True,
        input_dim: int | None = None,
        **kwargs: Any,
    ) -> None:
        if kwargs:
            raise InvalidTypeError(f"{type(self).__name__} got unexpected keyword arguments {sorted(kwargs)}")
        if name is not None and not isinstance(name, str):
            raise InvalidArgumentError(f"{type(self).__name__}: name must be a string, got {name!r}")
        if name is not None:
            reserve_name(name)
        self.name = name if name is not None else unique_name(_snake(type(self).__name__))
        try:
            dt = np.dtype(dtype or floatx()).name
        except TypeError:
            dt = repr(dtype)
        if dt not in ("float32", "float64"):
            raise InvalidArgumentError(f"{self.name}: dtype must be 'float32' or 'float64', got {dtype!r}")
        self.dtype = dt
        if input_dim is not None and input_shape is None:
            input_shape = (input_dim,)
        if input_shape is not None:
            if isinstance(input_shape, (int, np.integer)):
                input_shape = (int(input_shape),)
            if not isinstance(input_shape, (tuple, list)):
                raise InvalidArgumentError(
                    f"{self.name}: input_shape must be a tuple of positive ints without the "
                    f"batch axis, e.g. (28, 28, 1), got {input_shape!r}"
                )
            input_shape = tuple(input_shape)
            if not all(d is None or (isinstance(d, (int, np.integer)) and d > 0) for d in input_shape):
                raise InvalidArgumentError(f"{self.name}: input_shape must hold positive ints, got {input_shape!r}")
            self.batch_input_shape = (None,) + input_shape
        else:
            self.batch_input_shape = None
        self.trainable = trainable
        self.params = {}
        self.grads = {}
        self.state = {}
        self.weight_names = []
        self.built = False
        self.input_shape = None
        self.output_shape = None
        self._inbound_nodes = []

    # ----------------------------------------------------------------------------- calling
    def __call__(
        self,
        inputs: KerasTensor | Sequence[KerasTensor] | ArrayLike,
        training: bool | None = None,
        **kwargs: Any,
    ) -> KerasTensor | list[KerasTensor] | Array | list[Array]:
        """``layer(x)``: symbolic tensors give symbolic outputs (a graph node); arrays give arrays."""
        from .input_layer import KerasTensor

        if kwargs:
            raise InvalidTypeError(
                f"{self.name}: calling a layer takes only the inputs and training=, got {sorted(kwargs)}"
            )
        flat = list(inputs) if isinstance(inputs, (list, tuple)) else [inputs]
        symbolic = [isinstance(t, KerasTensor) for t in flat]
        if any(symbolic):
            if not all(symbolic):
                raise InvalidTypeError(
                    f"{self.name}: the inputs mix symbolic tensors and arrays; call the layer "
                    f"on symbolic tensors (from tinycnn.Input) or on arrays, not both"
                )
            return self._call_symbolic(inputs)
        return self._call_eager(inputs, bool(training))

    def _structure(self, inputs, what):
        """``(single?, list of inputs)``, checked against ``multi_input``."""
        if self.multi_input:
            if not isinstance(inputs, (list, tuple)) or len(inputs) < 1:
                raise InvalidInputError(
                    f"{self.name}: a {type(self).__name__} layer is called on a list of "
                    f"{what}, e.g. {type(self).__name__}()([a, b])"
                )
            return False, list(inputs)
        if isinstance(inputs, (list, tuple)):
            if len(inputs) != 1:
                raise InvalidInputError(
                    f"{self.name}: a {type(self).__name__} layer takes one input, got a list "
                    f"of {len(inputs)}; merge them first, e.g. with Concatenate()"
                )
            return False, list(inputs)
        return True, [inputs]

    def _call_symbolic(self, inputs):
        from .input_layer import KerasTensor, Node

        single, tensors = self._structure(inputs, "tensors")
        shapes = [t.shape for t in tensors]
        shape = shapes[0] if not self.multi_input else shapes
        if not self.built:
            try:
                self.build(shape)
            except BaseException:
                self.params, self.grads, self.state, self.weight_names = {}, {}, {}, []
                self.built, self.input_shape, self.output_shape = False, None, None
                raise
        else:
            self.check_input_shape(shape)
        out = self.compute_output_shape(shape)
        several = isinstance(out, list)
        index = len(self._inbound_nodes)
        outputs = [
            KerasTensor(
                s, self.dtype, name=f"{self.name}_{index}_{i}" if several else self.name, history=(self, index, i)
            )
            for i, s in enumerate(out if several else [out])
        ]
        self._inbound_nodes.append(Node(self, tensors, outputs, single_input=single))
        return outputs if several else outputs[0]

    def _call_eager(self, inputs, training):
        from ..validation import as_numeric_array

        single, arrays = self._structure(inputs, "arrays")
        arrays = [self._cast(as_numeric_array(a, "the input", f"calling {self.name}")) for a in arrays]
        for a in arrays:
            if a.ndim < 2:
                raise InvalidInputError(
                    f"calling {self.name}: inputs need a batch axis, got shape {a.shape}; "
                    f"for one sample use x[np.newaxis]"
                )
        shapes = [(None,) + a.shape[1:] for a in arrays]
        shape = shapes if self.multi_input else shapes[0]
        from ..models.training import ENGINE_LOCK

        with ENGINE_LOCK:  # the layer's cache may be shared with a model training in another thread
            if not self.built:
                self.build(shape)
            else:
                self.check_input_shape(shape)
            return as_eager(self.forward(arrays if self.multi_input else arrays[0], training=training))

    def check_input_shape(self, shape: ShapeLike | Sequence[ShapeLike]) -> None:
        """Refuse an input that does not fit the shape this layer was built for (batch axis excepted)."""
        built = self.input_shape
        pairs = list(zip(shape, built)) if self.multi_input else [(shape, built)]
        if self.multi_input and len(shape) != len(built):
            raise InvalidInputError(f"{self.name} was built for {len(built)} inputs, got {len(shape)}")
        for got, want in pairs:
            got, want = tuple(got), tuple(want)
            if len(got) != len(want) or any(
                w is not None and g is not None and w != g for g, w in zip(got[1:], want[1:])
            ):
                raise InvalidInputError(
                    f"layer {self.name!r} was built for inputs of shape {want}, got "
                    f"{got}; a layer keeps its weights once built -- use a new layer for "
                    f"another input size"
                )

    def _node_attribute(self, attr, what):
        if not self._inbound_nodes:
            raise InvalidArgumentError(
                f"layer {self.name!r} has never been called on a symbolic tensor, so it has "
                f"no {what}; build the model first (e.g. give the first layer input_shape=)"
            )
        values = getattr(self._inbound_nodes[0], attr)
        return values[0] if len(values) == 1 else values

    @property
    def input(self) -> KerasTensor | list[KerasTensor]:
        """The symbolic input of the layer's first call (as ``keras.layers.Layer.input``)."""
        return self._node_attribute("input_tensors", "input")

    @property
    def output(self) -> KerasTensor | list[KerasTensor]:
        """The symbolic output of the layer's first call (as ``keras.layers.Layer.output``)."""
        return self._node_attribute("output_tensors", "output")

    # ----------------------------------------------------------------------------- weights
    def add_weight(
        self, name: str, shape: Sequence[int], initializer: InitializerLike = "zeros", trainable: bool = True
    ) -> Array:
        value = np.asarray(initializers.get(initializer)(tuple(shape)), dtype=self.dtype)
        (self.params if trainable else self.state)[name] = value
        self.weight_names.append(name)
        return value

    def _weight(self, name):
        return self.params[name] if name in self.params else self.state[name]

    @property
    def weights(self) -> list[Array]:
        """The weight arrays themselves (not copies), in Keras order."""
        return [self._weight(n) for n in self.weight_names]

    def get_weights(self) -> list[Array]:
        """Copies of the weights in Keras order (e.g. Dense: ``[kernel (in, out), bias (out,)]``)."""
        return [w.copy() for w in self.weights]

    def check_weights(self, weights: Iterable[ArrayLike]) -> list[ArrayLike]:
        """Raise a clear error if ``weights`` do not fit this layer; change nothing."""
        weights = list(weights)
        if len(weights) != len(self.weight_names):
            raise InvalidInputError(
                f"layer {self.name!r} expects {len(self.weight_names)} weight arrays "
                f"({', '.join(self.weight_names) or 'none'}), got {len(weights)}"
            )
        for n, w in zip(self.weight_names, weights):
            w = np.asarray(w)
            if w.shape != self._weight(n).shape:
                raise InvalidInputError(
                    f"layer {self.name!r}: weight {n!r} has shape {self._weight(n).shape}, got {w.shape}"
                )
            if not (np.issubdtype(w.dtype, np.floating) or np.issubdtype(w.dtype, np.integer)):
                raise InvalidInputError(f"layer {self.name!r}: weight {n!r} must be numeric, got dtype {w.dtype}")
            if np.issubdtype(w.dtype, np.floating) and np.all(np.isfinite(w)) and overflows(w, self.dtype):
                raise InvalidInputError(
                    f"layer {self.name!r}: weight {n!r} holds values up to "
                    f"{float(np.max(np.abs(w))):.3g}, beyond {self.dtype}'s range (they would "
                    f"become inf); these are not weights this layer can hold"
                )
        return weights

    def set_weights(self, weights: Iterable[ArrayLike]) -> None:
        """Copy ``weights`` (Keras order and shapes) into the layer, in place. All are checked first."""
        weights = self.check_weights(weights)
        for n, w in zip(self.weight_names, weights):
            self._weight(n)[...] = np.asarray(w, dtype=self.dtype)

    def count_params(self) -> int:
        return int(sum(w.size for w in self.weights))

    def count_trainable_params(self) -> int:
        return int(sum(w.size for w in self.params.values())) if self.trainable else 0

    # ----------------------------------------------------------------------------- shapes
    def build(self, input_shape: ShapeLike | Sequence[ShapeLike]) -> None:
        """Create the weights for ``input_shape`` (batch axis included). Subclasses call this last."""
        self.input_shape = tuple(input_shape)
        self.output_shape = tuple(self.compute_output_shape(self.input_shape))
        self.built = True

    def compute_output_shape(self, input_shape: ShapeLike | Sequence[ShapeLike]) -> Shape | list[Shape]:
        return tuple(input_shape)

    def get_config(self) -> Config:
        config = {"name": self.name, "dtype": self.dtype, "trainable": self.trainable}
        if self.batch_input_shape is not None:
            config["batch_input_shape"] = self.batch_input_shape
        return config

    def _cast(self, x):
        return np.asarray(x, dtype=self.dtype)

    # ----------------------------------------------------------------------------- compute
    def forward(self, x: ArrayLike | Sequence[ArrayLike], training: bool = False) -> Array:
        raise NotImplementedError

    def backward(self, dy: Array) -> Array | list[Array] | None:
        raise NotImplementedError

    def __repr__(self):
        return f"<{type(self).__name__} name={self.name!r}>"
