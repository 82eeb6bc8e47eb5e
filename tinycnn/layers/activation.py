"""Activation layers: ``Activation(name)``, ``ReLU``, ``Softmax`` -- and the activation step that Dense and
Conv2D run after their affine part.

Forward and backward (``z`` the input, ``a`` the output; derivatives in :mod:`tinycnn.activations`)::

    a  = f(z)                         shape (N, ...)  ->  (N, ...)
    dz = f'(z) * da                   element-wise, except softmax (a Jacobian-vector product per row)

ReLU is the *detector stage* of a convolutional block (Goodfellow et al., *Deep Learning*, 9.3): after the
convolution finds a pattern, ``max(z, 0)`` keeps only the positive evidence.

Softmax then cross-entropy: the model calls :meth:`ActivationStep.backward_logits` with the fused gradient
``(p - y) / N`` instead of multiplying by the softmax Jacobian (see :mod:`tinycnn.losses`).

Mirrors ``keras.layers.Activation``, ``keras.layers.ReLU(max_value=None, negative_slope=0.0,
threshold=0.0)`` and ``keras.layers.Softmax(axis=-1)``.

>>> import numpy as np
>>> layer = ReLU()
>>> layer.forward(np.array([[-1.0, 0.5, 2.0]]))
array([[0. , 0.5, 2. ]], dtype=float32)
>>> layer.backward(np.array([[1.0, 1.0, 1.0]]))
array([[0., 1., 1.]], dtype=float32)
"""
import numpy as np

from .. import activations
from ..errors import InvalidArgumentError
from .base import Layer


class ActivationStep:
    """The element-wise step shared by ``Activation``, ``Dense`` and ``Conv2D``.

    Keeps ``z`` (pre-activation) and ``a`` (output) of the last forward pass for the backward pass.
    """

    def _init_activation(self, activation):
        self.activation = activations.get(activation)  # refuses callables it cannot differentiate
        self.activation_name = self.activation.name

    @property
    def ends_with_softmax(self):
        return self.activation_name == "softmax" and self.activation.params.get("axis", -1) == -1

    def _activate(self, z):
        a = self.activation.forward(z)
        self._z, self._a = z, a
        return a

    def _deactivate(self, da):
        return self.activation.backward(da, self._z, self._a).astype(self.dtype, copy=False)


class Activation(ActivationStep, Layer):
    """Applies an activation function: ``Activation("relu")``, ``Activation(tinycnn.nn.gelu)`` (any name or
    function of :mod:`tinycnn.activations`)."""

    def __init__(self, activation, **kwargs):
        super().__init__(**kwargs)
        self._init_activation(activation)

    def forward(self, x, training=False):
        return self._activate(self._cast(x))

    def backward(self, dy):
        return self._deactivate(dy)

    def backward_logits(self, dz):
        """Backward when the loss already gave ``dL/dz`` (fused softmax + cross-entropy)."""
        return dz

    def get_config(self):
        return {**super().get_config(), "activation": self.activation_name}


class ReLU(Layer):
    """Rectified linear unit (Nair & Hinton 2010; Glorot, Bordes & Bengio 2011), as ``keras.layers.ReLU``.

    ``f(x) = max_value`` if ``x >= max_value``; ``x`` if ``threshold <= x < max_value``; else
    ``negative_slope * (x - threshold)``. Derivative: 0 at and above ``max_value``, 1 for
    ``threshold < x < max_value``, ``negative_slope`` for ``x <= threshold`` (at the kink ``x == threshold``
    the derivative taken is ``negative_slope``, 0 by default, as TensorFlow does).
    """

    def __init__(self, max_value=None, negative_slope=0.0, threshold=0.0, **kwargs):
        super().__init__(**kwargs)
        for arg, value in (("max_value", max_value), ("negative_slope", negative_slope), ("threshold", threshold)):
            if (value is not None or arg != "max_value") and (
                    isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating))
                    or not np.isfinite(value)):
                raise InvalidArgumentError(f"ReLU {arg} must be a finite number, got {value!r}")
        if max_value is not None and max_value < 0:
            raise InvalidArgumentError(f"ReLU max_value must be >= 0 or None, got {max_value!r}")
        if negative_slope < 0:
            raise InvalidArgumentError(f"ReLU negative_slope must be >= 0, got {negative_slope!r}")
        self.max_value, self.negative_slope, self.threshold = max_value, negative_slope, threshold

    def forward(self, x, training=False):
        x = self._cast(x)
        self._x = x
        below = self.negative_slope * (x - self.threshold) if self.negative_slope else 0.0  # 0, never -0
        y = np.where(x >= self.threshold, x, below)
        if self.max_value is not None:
            y = np.minimum(y, self.max_value)
        return y.astype(self.dtype, copy=False)

    def backward(self, dy):
        x = self._x
        slope = np.where(x > self.threshold, 1.0, self.negative_slope)
        if self.max_value is not None:
            slope = np.where(x >= self.max_value, 0.0, slope)
        return (dy * slope).astype(self.dtype, copy=False)

    def get_config(self):
        return {**super().get_config(), "max_value": self.max_value, "negative_slope": self.negative_slope,
                "threshold": self.threshold}


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

    def __init__(self, negative_slope=0.3, **kwargs):
        if "alpha" in kwargs:
            negative_slope = kwargs.pop("alpha")
        super().__init__(**kwargs)
        if isinstance(negative_slope, bool) or not isinstance(negative_slope, (int, float, np.integer, np.floating)) \
                or not np.isfinite(negative_slope) or negative_slope < 0:
            raise InvalidArgumentError(f"LeakyReLU negative_slope (Keras 2: alpha) must be a finite number >= 0, "
                                       f"got {negative_slope!r}")
        self.negative_slope = float(negative_slope)

    def forward(self, x, training=False):
        x = self._cast(x)
        self._x = x
        return np.where(x > 0, x, self.negative_slope * x).astype(self.dtype, copy=False)

    def backward(self, dy):
        return (dy * np.where(self._x > 0, 1.0, self.negative_slope)).astype(self.dtype, copy=False)

    def get_config(self):
        return {**super().get_config(), "negative_slope": self.negative_slope}


class Softmax(Layer):
    """``p_k = exp(z_k) / sum_j exp(z_j)`` along ``axis``; backward ``dz = p * (dp - sum(dp * p))``."""

    ends_with_softmax = True

    def __init__(self, axis=-1, **kwargs):
        super().__init__(**kwargs)
        self.axis = axis

    def forward(self, x, training=False):
        self._z = self._cast(x)
        self._p = activations.softmax._forward(self._z, axis=self.axis)
        return self._p

    def backward(self, dy):
        return activations.softmax_backward(dy, None, self._p, axis=self.axis).astype(self.dtype, copy=False)

    def backward_logits(self, dz):
        return dz

    def get_config(self):
        return {**super().get_config(), "axis": self.axis}
