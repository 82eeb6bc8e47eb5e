"""Keras-style weight attributes (``layer.kernel``, ``layer.bias``, ``gamma``, ``beta``, ``moving_mean``,
``moving_variance``) and the weight regularizers of Dense and the convolutions.

In Keras these are ``Variable`` objects: scripts print them, call ``.numpy()`` on them, or ``.assign(...)`` new
values. Here each attribute is a :class:`Variable`, a NumPy *view* of the layer's own array (no copy): reading it
sees the current weights, ``assign`` writes into the layer, and ``.numpy()`` returns a plain copy. Arithmetic on
it gives plain arrays.

Before the layer is built the attribute does not exist (``AttributeError``, as in Keras); a weight the layer
does not have (``bias`` with ``use_bias=False``, ``gamma`` with ``scale=False``) is ``None``, as in Keras.

>>> import numpy as np
>>> from tinycnn.layers import Dense
>>> layer = Dense(2, use_bias=False); layer.build((None, 3))
>>> layer.kernel.shape, layer.bias
((3, 2), None)
>>> layer.kernel.assign(np.ones((3, 2)))
>>> float(layer.get_weights()[0].sum()), type(layer.kernel.numpy()).__name__
(6.0, 'ndarray')
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import ArrayLike

from ..errors import InvalidInputError
from ..hints import Array

if TYPE_CHECKING:
    from .base import Layer


class Variable(np.ndarray):
    """A view of a layer's weight array with Keras's ``Variable`` methods."""

    def __array_wrap__(self, array, context=None, return_scalar=False):
        # results of arithmetic are plain arrays (or scalars), never Variables
        out = np.asarray(array).view(np.ndarray)
        return out[()] if return_scalar else out

    def numpy(self) -> Array:
        """A plain copy of the values (as ``keras.Variable.numpy()``)."""
        return np.array(self, copy=True).view(np.ndarray)

    @property
    def value(self) -> Array:
        return self.view(np.ndarray)

    def assign(self, value: ArrayLike) -> None:
        """Write ``value`` (same shape) into the layer's weight, in place."""
        value = np.asarray(value)
        if value.shape != self.shape:
            raise InvalidInputError(f"assign: value of shape {value.shape} does not fit a weight of shape {self.shape}")
        self[...] = value

    def assign_add(self, value: ArrayLike) -> None:
        self.assign(self.value + np.asarray(value))

    def assign_sub(self, value: ArrayLike) -> None:
        self.assign(self.value - np.asarray(value))


def weight_attribute(layer: Layer, name: str) -> Variable | None:
    """``layer``'s weight ``name`` as a :class:`Variable`; ``None`` if the built layer has no such weight."""
    if not layer.built:
        raise AttributeError(
            f"layer {layer.name!r} has no {name!r} yet: it is created when the layer is built "
            f"(model.build(...), the first fit/predict, or a first layer with input_shape=)"
        )
    if name not in layer.weight_names:
        return None
    return layer._weight(name).view(Variable)


class KernelBiasAttributes:
    """``kernel`` and ``bias`` properties (Dense, Conv1D, Conv2D)."""

    @property
    def kernel(self) -> Variable | None:
        return weight_attribute(self, "kernel")

    @property
    def bias(self) -> Variable | None:
        return weight_attribute(self, "bias")


class WeightRegularizers:
    """``kernel_regularizer=`` / ``bias_regularizer=`` of Dense and the convolutions (:mod:`tinycnn.regularizers`).

    Fills ``self.regularizers = {param_name: regularizer}``, which :func:`tinycnn.regularizers.penalty` and
    :func:`tinycnn.regularizers.add_gradients` read. ``activity_regularizer`` (a penalty on the layer's *output*)
    and weight constraints are not implemented: anything but ``None`` is refused.
    """

    def _init_regularizers(
        self,
        kernel_regularizer=None,
        bias_regularizer=None,
        activity_regularizer=None,
        kernel_constraint=None,
        bias_constraint=None,
    ):
        from .. import regularizers
        from ..errors import InvalidArgumentError

        kind = type(self).__name__
        if activity_regularizer is not None:
            raise InvalidArgumentError(
                f"{kind}: activity_regularizer is not supported by tinycnn; use "
                f"kernel_regularizer= (a penalty on the weights) instead, or remove it"
            )
        for arg, value in (("kernel_constraint", kernel_constraint), ("bias_constraint", bias_constraint)):
            if value is not None:
                raise InvalidArgumentError(f"{kind}: {arg} is not supported by tinycnn; remove it")
        self.kernel_regularizer = regularizers.get(kernel_regularizer)
        self.bias_regularizer = regularizers.get(bias_regularizer)
        self.regularizers = {}
        if self.kernel_regularizer is not None:
            self.regularizers["kernel"] = self.kernel_regularizer
        if self.bias_regularizer is not None and self.use_bias:
            self.regularizers["bias"] = self.bias_regularizer

    def _regularizer_config(self):
        def ser(r):
            return None if r is None else {"class_name": type(r).__name__, "config": r.get_config()}

        return {"kernel_regularizer": ser(self.kernel_regularizer), "bias_regularizer": ser(self.bias_regularizer)}
