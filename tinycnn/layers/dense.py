"""Dense (fully connected) layer.

Forward (Goodfellow et al., *Deep Learning*, 6.1)::

    z = x @ kernel + bias            x: (N, D_in)   kernel: (D_in, units)   bias: (units,)
    y = activation(z)                y: (N, units)

Backward, for an upstream gradient ``dy = dL/dy`` of shape ``(N, units)``::

    dz      = activation'(z) * dy
    dkernel = x.T @ dz               (D_in, units)   -- each weight collects x_i * dz_j over the batch
    dbias   = dz.sum(axis=0)         (units,)
    dx      = dz @ kernel.T          (N, D_in)

Inputs with more than two axes are treated as Keras does: the layer acts on the last axis.
Weights in Keras order and shapes: ``[kernel (D_in, units), bias (units,)]``; defaults mirror
``keras.layers.Dense`` (``glorot_uniform`` kernel, zero bias).

>>> import numpy as np
>>> layer = Dense(2, input_shape=(3,))
>>> layer.build((None, 3))
>>> layer.set_weights([np.ones((3, 2)), np.array([0.5, -0.5])])
>>> layer.forward(np.array([[1.0, 2.0, 3.0]]))
array([[6.5, 5.5]], dtype=float32)
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from .. import kernels
from ..activations import ActivationLike
from ..errors import InvalidArgumentError
from ..hints import Array, Config, Shape, ShapeLike
from ..initializers import InitializerLike
from ..regularizers import RegularizerLike
from .activation import ActivationStep
from .base import Layer
from .variables import KernelBiasAttributes, WeightRegularizers


class Dense(KernelBiasAttributes, WeightRegularizers, ActivationStep, Layer):
    """Fully connected layer, as ``keras.layers.Dense``.

    Parameters
    ----------
    units : int
        Output size.
    activation : str, activation function or None
        A name of :mod:`tinycnn.activations` (linear for None, relu, sigmoid, tanh, softmax, elu, gelu ...) or
        one of its functions (``tinycnn.nn.relu``).
    use_bias : bool, default True
    kernel_initializer, bias_initializer : str
        Defaults ``"glorot_uniform"`` and ``"zeros"``.
    kernel_regularizer, bias_regularizer : str or Regularizer, default None
        Penalties added to the loss (:mod:`tinycnn.regularizers`); ``"l2"`` means ``L2(0.01)``.
    input_shape : tuple, optional
        For the first layer of a model, without the batch axis (``input_dim=`` also works).
    dtype : "float32" (default) or "float64"
    """

    def __init__(
        self,
        units: int,
        activation: ActivationLike = None,
        use_bias: bool = True,
        kernel_initializer: InitializerLike = "glorot_uniform",
        bias_initializer: InitializerLike = "zeros",
        kernel_regularizer: RegularizerLike = None,
        bias_regularizer: RegularizerLike = None,
        activity_regularizer: None = None,
        kernel_constraint: None = None,
        bias_constraint: None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if isinstance(units, bool) or not isinstance(units, (int, np.integer)) or units <= 0:
            raise InvalidArgumentError(f"Dense units must be a positive int, got {units!r}")
        self.units = int(units)
        self._init_activation(activation)
        self.use_bias = use_bias
        self.kernel_initializer, self.bias_initializer = kernel_initializer, bias_initializer
        self._init_regularizers(
            kernel_regularizer, bias_regularizer, activity_regularizer, kernel_constraint, bias_constraint
        )

    def build(self, input_shape: ShapeLike) -> None:
        d_in = input_shape[-1]
        if d_in is None:
            raise InvalidArgumentError(f"{self.name}: the last input axis must be known to build a Dense layer")
        self.add_weight("kernel", (d_in, self.units), self.kernel_initializer)
        if self.use_bias:
            self.add_weight("bias", (self.units,), self.bias_initializer)
        super().build(input_shape)

    def compute_output_shape(self, input_shape: ShapeLike) -> Shape:
        return tuple(input_shape[:-1]) + (self.units,)

    def forward(self, x: ArrayLike, training: bool = False) -> Array:
        x = self._cast(x)
        x2 = x.reshape(-1, x.shape[-1])  # Keras: a Dense layer acts on the last axis
        z = kernels.dense_forward(x2, self.params["kernel"], self.params.get("bias"))
        z = z.reshape(x.shape[:-1] + (self.units,))
        self._x = x
        return self._activate(z)

    def backward_logits(self, dz: Array) -> Array | None:
        """Backward from ``dL/dz`` (skips the activation; used by fused softmax + cross-entropy)."""
        x2 = self._x.reshape(-1, self._x.shape[-1])
        dz2 = dz.reshape(-1, self.units)
        self.grads["kernel"] = kernels.dense_backward_kernel(dz2, x2)
        if self.use_bias:
            self.grads["bias"] = kernels.bias_gradient(dz2)
        if not self.input_gradient:  # the model's first layer while training: nobody reads dx
            return None
        return kernels.dense_backward_input(dz2, self.params["kernel"]).reshape(self._x.shape)

    def get_config(self) -> Config:
        return {
            **super().get_config(),
            "units": self.units,
            "activation": self.activation_name,
            "use_bias": self.use_bias,
            "kernel_initializer": self.kernel_initializer,
            "bias_initializer": self.bias_initializer,
            **self._regularizer_config(),
        }
