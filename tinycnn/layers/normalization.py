"""BatchNormalization (Ioffe & Szegedy, *Batch Normalization: Accelerating Deep Network Training by
Reducing Internal Covariate Shift*, 2015).

Normalizes each channel (the ``axis``, last by default: channels-last) over every other axis -- the batch
for 2-D input ``(N, D)``, batch and both spatial axes for 4-D input ``(N, H, W, C)``. With ``M`` the number
of values per channel (``N`` or ``N*H*W``):

Forward, training mode (batch statistics; the variance is the *biased* one, divided by ``M``)::

    mu    = (1/M) sum x                      (C,)
    var   = (1/M) sum (x - mu)^2             (C,)
    x_hat = (x - mu) / sqrt(var + epsilon)
    y     = gamma * x_hat + beta
    moving_mean     = momentum * moving_mean     + (1 - momentum) * mu
    moving_variance = momentum * moving_variance + (1 - momentum) * var

Keras 3 (installed with ``tensorflow-cpu``) stores the moving *variance* (not a standard deviation) and
updates it with the same biased batch variance it normalizes with; tinycnn does the same.

Forward, inference mode: ``y = gamma * (x - moving_mean) / sqrt(moving_variance + epsilon) + beta``.

Backward, training mode. ``mu`` and ``var`` depend on every ``x``, so the gradient has three paths; they
collapse to the closed form (Ioffe & Szegedy, sec. 3)::

    dbeta  = sum dy
    dgamma = sum dy * x_hat
    dx     = gamma / (M * sqrt(var + epsilon)) * (M * dy - dbeta - x_hat * dgamma)

Backward, inference mode: ``dx = dy * gamma / sqrt(moving_variance + epsilon)``.

Precision: sums along the batch are accumulated in float64 even for float32 data; a plain float32 sum over
``N*H*W`` values loses enough precision to break parity with Keras.

The arithmetic of training mode is in :func:`tinycnn.kernels.reference.batchnorm_forward` and
``batchnorm_backward`` (and their fused Numba twins), on the ``(M, C)`` view of the input.

Weights in Keras order: ``[gamma, beta, moving_mean, moving_variance]`` (the last two non-trainable), each
``(C,)``. Defaults mirror ``keras.layers.BatchNormalization(axis=-1, momentum=0.99, epsilon=0.001,
center=True, scale=True)``.

>>> import numpy as np
>>> bn = BatchNormalization()
>>> bn.build((None, 2))
>>> y = bn.forward(np.array([[1.0, 10.0], [3.0, 30.0]]), training=True)
>>> y.round(4)                       # (x - mean) / sqrt(var + 0.001), var = 1 and 100
array([[-0.9995, -1.    ],
       [ 0.9995,  1.    ]], dtype=float32)
>>> bn.state["moving_mean"]
array([0.02, 0.2 ], dtype=float32)
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from .. import kernels
from ..errors import InvalidArgumentError, InvalidInputError
from ..hints import Array, Config, ShapeLike
from ..initializers import InitializerLike
from .base import Layer
from .variables import Variable, weight_attribute


class BatchNormalization(Layer):
    """Batch normalization, as ``keras.layers.BatchNormalization``.

    Parameters
    ----------
    axis : int, default -1
        The feature (channel) axis; statistics are taken over every other axis.
    momentum : float, default 0.99
        Of the moving averages used at inference.
    epsilon : float, default 0.001
        Added to the variance before the square root.
    center, scale : bool, default True
        Learn ``beta`` / ``gamma``.
    dtype : "float32" (default) or "float64"
    """

    def __init__(
        self,
        axis: int = -1,
        momentum: float = 0.99,
        epsilon: float = 0.001,
        center: bool = True,
        scale: bool = True,
        beta_initializer: InitializerLike = "zeros",
        gamma_initializer: InitializerLike = "ones",
        moving_mean_initializer: InitializerLike = "zeros",
        moving_variance_initializer: InitializerLike = "ones",
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if not isinstance(axis, (int, np.integer)) or isinstance(axis, bool):
            raise InvalidArgumentError(f"BatchNormalization axis must be one int, got {axis!r}")
        for arg, value in (("momentum", momentum), ("epsilon", epsilon)):
            if (
                isinstance(value, bool)
                or not isinstance(value, (int, float, np.integer, np.floating))
                or not np.isfinite(value)
            ):
                raise InvalidArgumentError(f"BatchNormalization {arg} must be a finite number, got {value!r}")
        if not 0 <= momentum <= 1:
            raise InvalidArgumentError(f"BatchNormalization momentum must be in [0, 1], got {momentum!r}")
        if epsilon <= 0:
            raise InvalidArgumentError(f"BatchNormalization epsilon must be positive, got {epsilon!r}")
        self.axis, self.momentum, self.epsilon = int(axis), float(momentum), float(epsilon)
        self.center, self.scale = center, scale
        self.initializers = dict(
            gamma=gamma_initializer,
            beta=beta_initializer,
            moving_mean=moving_mean_initializer,
            moving_variance=moving_variance_initializer,
        )

    # Keras's attributes: views of the weights (None when scale/center is off); see tinycnn.layers.variables
    @property
    def gamma(self) -> Variable | None:
        return weight_attribute(self, "gamma")

    @property
    def beta(self) -> Variable | None:
        return weight_attribute(self, "beta")

    @property
    def moving_mean(self) -> Variable | None:
        return weight_attribute(self, "moving_mean")

    @property
    def moving_variance(self) -> Variable | None:
        return weight_attribute(self, "moving_variance")

    def build(self, input_shape: ShapeLike) -> None:
        ndim = len(input_shape)
        if not -ndim <= self.axis < ndim or self.axis % ndim == 0:
            raise InvalidInputError(
                f"{self.name}: axis {self.axis} is not a feature axis of input shape {tuple(input_shape)}"
            )
        self._axis = self.axis % ndim
        c = input_shape[self._axis]
        if self.scale:
            self.add_weight("gamma", (c,), self.initializers["gamma"])
        if self.center:
            self.add_weight("beta", (c,), self.initializers["beta"])
        self.add_weight("moving_mean", (c,), self.initializers["moving_mean"], trainable=False)
        self.add_weight("moving_variance", (c,), self.initializers["moving_variance"], trainable=False)
        super().build(input_shape)

    def _bcast(self, v, ndim):
        """Shape a (C,) vector to broadcast against the input (e.g. (1, 1, 1, C))."""
        shape = [1] * ndim
        shape[self._axis] = -1
        return v.reshape(shape)

    def _as_rows(self, a):
        """The ``(M, C)`` view the kernels work on: channels last, every other axis flattened."""
        if self._axis != a.ndim - 1:
            a = np.moveaxis(a, self._axis, -1)
        return np.ascontiguousarray(a).reshape(-1, a.shape[-1])

    def _from_rows(self, rows, shape):
        moved = list(shape)
        moved.append(moved.pop(self._axis))
        out = rows.reshape(moved)
        return out if self._axis == len(shape) - 1 else np.moveaxis(out, -1, self._axis)

    def _gamma_beta(self, c):
        gamma = self.params["gamma"] if self.scale else np.ones(c, self.dtype)
        beta = self.params["beta"] if self.center else np.zeros(c, self.dtype)
        return gamma, beta

    def forward(self, x: ArrayLike, training: bool = False) -> Array:
        x = self._cast(x)
        c = x.shape[self._axis]
        gamma, beta = self._gamma_beta(c)
        self._training, self._shape = training, x.shape
        if training:
            y, self._x_hat, mean, var, self._inv_std = kernels.batchnorm_forward(
                self._as_rows(x), gamma, beta, self.epsilon
            )
            m = self.momentum
            with np.errstate(over="ignore"):  # an overflow to inf is caught by the training step, which refuses
                self.state["moving_mean"][...] = m * self.state["moving_mean"] + (1 - m) * mean  # the step and
                self.state["moving_variance"][...] = m * self.state["moving_variance"] + (1 - m) * var  # names it
            return self._from_rows(y, x.shape)
        # inference: a fixed affine map per channel, y = x * scale + shift
        inv_std = (1.0 / np.sqrt(self.state["moving_variance"].astype(np.float64) + self.epsilon)).astype(self.dtype)
        self._inv_std = inv_std
        self._x = x
        scale = gamma * inv_std
        shift = beta - self.state["moving_mean"] * scale
        return self._from_rows(kernels.batchnorm_inference(self._as_rows(x), scale, shift), x.shape)

    def backward(self, dy: Array) -> Array:
        c = dy.shape[self._axis]
        gamma, _ = self._gamma_beta(c)
        if self._training:
            dx, dgamma, dbeta = kernels.batchnorm_backward(self._as_rows(dy), self._x_hat, gamma, self._inv_std)
            dx = self._from_rows(dx, dy.shape)
        else:
            shape = [1] * dy.ndim
            shape[self._axis] = c
            x_hat = (self._x - self.state["moving_mean"].reshape(shape)) * self._inv_std.reshape(shape)
            reduce = tuple(a for a in range(dy.ndim) if a != self._axis)
            dbeta = dy.sum(axis=reduce, dtype=np.float64)
            dgamma = (dy * x_hat).sum(axis=reduce, dtype=np.float64)
            dx = (dy * (gamma * self._inv_std).reshape(shape)).astype(self.dtype, copy=False)
        if self.scale:
            self.grads["gamma"] = dgamma.astype(self.dtype)
        if self.center:
            self.grads["beta"] = dbeta.astype(self.dtype)
        return dx

    def get_config(self) -> Config:
        return {
            **super().get_config(),
            "axis": self.axis,
            "momentum": self.momentum,
            "epsilon": self.epsilon,
            "center": self.center,
            "scale": self.scale,
        }
