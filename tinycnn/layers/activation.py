"""Activation layers: ``Activation(name)``, ``ReLU``, ``Softmax`` -- and the activation step that Dense and
Conv2D run after their affine part.

Forward and backward (``z`` the input, ``a`` the output; derivatives in :mod:`tinycnn.activations`)::

    a  = f(z)                         shape (N, ...)  ->  (N, ...)
    dz = f'(z) * da                   element-wise, except softmax (a Jacobian-vector product per row)

ReLU is the *detector stage* of a convolutional block (Goodfellow et al., *Deep Learning*, 9.3): after the
convolution finds a pattern, ``max(z, 0)`` keeps only the positive evidence.

Softmax then cross-entropy: the model calls ``backward_logits(dz)`` with the fused gradient ``(p - y) / N``
instead of multiplying by the softmax Jacobian (see :mod:`tinycnn.losses`). One contract for every layer that
can end in a softmax -- ``Dense``, ``Conv2D``, ``Conv1D``, ``Activation``, ``Softmax``: ``backward(dy)`` is
``backward_logits(f'(z) * dy)``, and ``backward_logits(dz)`` is the rest of the layer's backward pass, from
``dL/dz`` at the pre-activation. ``ends_with_softmax`` is True only for a softmax over the *last* axis, the
one axis the fused loss knows (``Softmax(axis=1)`` on a 3-D output is differentiated through its Jacobian).

Mirrors ``keras.layers.Activation``, ``keras.layers.ReLU(max_value=None, negative_slope=0.0,
threshold=0.0)`` and ``keras.layers.Softmax(axis=-1)``.

>>> import numpy as np
>>> layer = ReLU()
>>> layer.forward(np.array([[-1.0, 0.5, 2.0]]))
array([[0. , 0.5, 2. ]], dtype=float32)
>>> layer.backward(np.array([[1.0, 1.0, 1.0]]))
array([[0., 1., 1.]], dtype=float32)
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from .. import activations, validation
from ..activations import ActivationLike
from ..errors import InvalidArgumentError
from ..hints import Array, Config, ShapeLike
from .base import Layer


def _is_last_axis(axis, ndim):
    """True when ``axis`` names the last of ``ndim`` axes (``-1`` always does; ``ndim`` may be unknown)."""
    if isinstance(axis, (list, tuple)):
        return len(axis) == 1 and _is_last_axis(axis[0], ndim)
    return axis == -1 or (ndim is not None and axis == ndim - 1)


class ActivationStep:
    """The activation step shared by ``Activation``, ``Dense``, ``Conv2D`` and ``Conv1D``.

    Keeps ``z`` (pre-activation) and ``a`` (output) of the last forward pass for the backward pass. A layer
    using it defines ``backward_logits(dz)`` (its backward pass from ``dL/dz``); ``backward(dy)`` is then this
    class's: the activation's derivative first, then ``backward_logits``.
    """

    def _init_activation(self, activation):
        self.activation = activations.get(activation)  # refuses callables it cannot differentiate
        self.activation_name = self.activation.name

    @property
    def ends_with_softmax(self) -> bool:
        """True when the output is a softmax over the last axis: a loss may then hand ``dL/dz`` to
        ``backward_logits`` (fused softmax + cross-entropy)."""
        if getattr(self, "_fuse", None) is not None:
            return self._fuse
        if self.activation_name != "softmax":
            return False
        ndim = len(self.output_shape) if getattr(self, "output_shape", None) is not None else None
        return _is_last_axis(self.activation.params.get("axis", -1), ndim)

    @ends_with_softmax.setter
    def ends_with_softmax(self, value: bool | None) -> None:
        """Set False to force the unfused path (``loss.gradient`` then the softmax Jacobian); None: automatic."""
        self._fuse = None if value is None else bool(value) and self.activation_name == "softmax"

    def _activate(self, z):
        a = self.activation.forward(z)
        self._z, self._a = z, a
        return a

    def _deactivate(self, da):
        return self.activation.backward(da, self._z, self._a).astype(self.dtype, copy=False)

    def backward(self, dy: Array) -> Array | None:
        """``dx`` from ``dy = dL/da``: ``dz = f'(z) * dy``, then :meth:`backward_logits`."""
        return self.backward_logits(self._deactivate(dy))

    def backward_logits(self, dz: Array) -> Array | None:
        """The layer's backward pass from ``dz = dL/dz`` (the activation skipped); fills ``grads``."""
        raise NotImplementedError(f"{type(self).__name__} must define backward_logits(dz)")


class Activation(ActivationStep, Layer):
    """Applies an activation function: ``Activation("relu")``, ``Activation(tinycnn.nn.gelu)`` (any name or
    function of :mod:`tinycnn.activations`)."""

    def __init__(self, activation: ActivationLike, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._init_activation(activation)

    def forward(self, x: ArrayLike, training: bool = False) -> Array:
        return self._activate(self._cast(x))

    def backward_logits(self, dz: Array) -> Array:
        """Backward when the loss already gave ``dL/dz`` (fused softmax + cross-entropy): nothing left to do."""
        return dz

    def get_config(self) -> Config:
        return {**super().get_config(), "activation": self.activation_name}


class ReLU(Layer):
    """Rectified linear unit (Nair & Hinton 2010; Glorot, Bordes & Bengio 2011), as ``keras.layers.ReLU``.

    ``f(x) = max_value`` if ``x >= max_value``; ``x`` if ``threshold <= x < max_value``; else
    ``negative_slope * (x - threshold)``. Derivative: 0 at and above ``max_value``, 1 for
    ``threshold < x < max_value``, ``negative_slope`` for ``x <= threshold`` (at the kink ``x == threshold``
    the derivative taken is ``negative_slope``, 0 by default, as TensorFlow does).
    """

    def __init__(
        self, max_value: float | None = None, negative_slope: float = 0.0, threshold: float = 0.0, **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        for arg, value in (("max_value", max_value), ("negative_slope", negative_slope), ("threshold", threshold)):
            if (value is not None or arg != "max_value") and (
                isinstance(value, bool)
                or not isinstance(value, (int, float, np.integer, np.floating))
                or not np.isfinite(value)
            ):
                raise InvalidArgumentError(f"ReLU {arg} must be a finite number, got {value!r}")
        if max_value is not None and max_value < 0:
            raise InvalidArgumentError(f"ReLU max_value must be >= 0 or None, got {max_value!r}")
        if negative_slope < 0:
            raise InvalidArgumentError(f"ReLU negative_slope must be >= 0, got {negative_slope!r}")
        self.max_value, self.negative_slope, self.threshold = max_value, negative_slope, threshold

    def forward(self, x: ArrayLike, training: bool = False) -> Array:
        x = self._cast(x)
        self._x = x
        below = self.negative_slope * (x - self.threshold) if self.negative_slope else 0.0  # 0, never -0
        y = np.where(x >= self.threshold, x, below)
        if self.max_value is not None:
            y = np.minimum(y, self.max_value)
        return y.astype(self.dtype, copy=False)

    def backward(self, dy: Array) -> Array:
        x = self._x
        slope = np.where(x > self.threshold, 1.0, self.negative_slope)
        if self.max_value is not None:
            slope = np.where(x >= self.max_value, 0.0, slope)
        return (dy * slope).astype(self.dtype, copy=False)

    def get_config(self) -> Config:
        return {
            **super().get_config(),
            "max_value": self.max_value,
            "negative_slope": self.negative_slope,
            "threshold": self.threshold,
        }


class LeakyReLU(Layer):
    """Leaky ReLU (Maas, Hannun & Ng 2013), as ``keras.layers.LeakyReLU(negative_slope=0.3)``::

        y  = x                    if x > 0, else negative_slope * x
        dx = dy                   if x > 0, else negative_slope * dy     (the left slope at x == 0)

    Keras 2's spelling ``LeakyReLU(alpha=0.1)`` is accepted, as Keras 3 still accepts it. Note that the layer's
    default slope is 0.3 while the function ``tinycnn.activations.leaky_relu`` defaults to 0.2, as in Keras.

    >>> import numpy as np
    >>> LeakyReLU().forward(np.array([[-1.0, 2.0]]))
    array([[-0.3,  2. ]], dtype=float32)
    """

    def __init__(self, negative_slope: float = 0.3, **kwargs: Any) -> None:
        if "alpha" in kwargs:
            negative_slope = kwargs.pop("alpha")
        super().__init__(**kwargs)
        if (
            isinstance(negative_slope, bool)
            or not isinstance(negative_slope, (int, float, np.integer, np.floating))
            or not np.isfinite(negative_slope)
            or negative_slope < 0
        ):
            raise InvalidArgumentError(
                f"LeakyReLU negative_slope (Keras 2: alpha) must be a finite number >= 0, got {negative_slope!r}"
            )
        self.negative_slope = float(negative_slope)

    def forward(self, x: ArrayLike, training: bool = False) -> Array:
        x = self._cast(x)
        self._x = x
        return np.where(x > 0, x, self.negative_slope * x).astype(self.dtype, copy=False)

    def backward(self, dy: Array) -> Array:
        return (dy * np.where(self._x > 0, 1.0, self.negative_slope)).astype(self.dtype, copy=False)

    def get_config(self) -> Config:
        return {**super().get_config(), "negative_slope": self.negative_slope}


class Softmax(Layer):
    """``p_k = exp(z_k) / sum_j exp(z_j)`` along ``axis``; backward ``dz = p * (dp - sum(dp * p))``.

    ``axis`` is one int (negative counts from the end), checked against the input's rank when the layer is
    built. Only a softmax over the last axis is fused with a cross-entropy loss (``ends_with_softmax``).
    """

    def __init__(self, axis: int | tuple[int] | list[int] = -1, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if isinstance(axis, (list, tuple)) and len(axis) == 1:
            axis = axis[0]
        self.axis = validation.check_int(axis, "axis", f"Softmax {self.name!r}")

    @property
    def ends_with_softmax(self) -> bool:
        if getattr(self, "_fuse", None) is not None:
            return self._fuse
        return _is_last_axis(self.axis, len(self.input_shape) if self.input_shape is not None else None)

    @ends_with_softmax.setter
    def ends_with_softmax(self, value: bool | None) -> None:
        """Set False to force the unfused path (the softmax Jacobian); None: automatic."""
        self._fuse = (
            None
            if value is None
            else bool(value) and _is_last_axis(self.axis, None if self.input_shape is None else len(self.input_shape))
        )

    def build(self, input_shape: ShapeLike) -> None:
        ndim = len(input_shape)
        if not -ndim <= self.axis < ndim:
            raise InvalidArgumentError(
                f"{self.name}: Softmax(axis={self.axis}) does not fit inputs of shape "
                f"{tuple(input_shape)} ({ndim} axes: axis must be in {-ndim}..{ndim - 1}); "
                f"the default axis=-1 takes the softmax over the last axis"
            )
        super().build(input_shape)

    def forward(self, x: ArrayLike, training: bool = False) -> Array:
        self._z = self._cast(x)
        self._p = activations.softmax._forward(self._z, axis=self.axis)
        return self._p

    def backward(self, dy: Array) -> Array:
        return activations.softmax_backward(dy, None, self._p, axis=self.axis).astype(self.dtype, copy=False)

    def backward_logits(self, dz: Array) -> Array:
        return dz

    def get_config(self) -> Config:
        return {**super().get_config(), "axis": self.axis}
