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

Weights in Keras order: ``[gamma, beta, moving_mean, moving_variance]`` (the last two non-trainable), each
``(C,)``. Defaults mirror ``keras.layers.BatchNormalization(axis=-1, momentum=0.99, epsilon=0.001,
center=True, scale=True)``.

>>> import numpy as np
>>> bn = BatchNormalization()
>>> bn.build((None, 2))
>>> y = bn.forward(np.array([[1.0, 10.0], [3.0, 30.0]]), training=True)
>>> y.round(3)
array([[-0.999, -1.   ],
       [ 0.999,  1.   ]], dtype=float32)
>>> bn.state["moving_mean"]
array([0.02, 0.2 ], dtype=float32)
"""
import numpy as np

from ..errors import InvalidArgumentError, InvalidInputError
from .base import Layer


class BatchNormalization(Layer):
    def __init__(self, axis=-1, momentum=0.99, epsilon=0.001, center=True, scale=True,
                 beta_initializer="zeros", gamma_initializer="ones", moving_mean_initializer="zeros",
                 moving_variance_initializer="ones", **kwargs):
        super().__init__(**kwargs)
        if not isinstance(axis, (int, np.integer)) or isinstance(axis, bool):
            raise InvalidArgumentError(f"BatchNormalization axis must be one int, got {axis!r}")
        for arg, value in (("momentum", momentum), ("epsilon", epsilon)):
            if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)) \
                    or not np.isfinite(value):
                raise InvalidArgumentError(f"BatchNormalization {arg} must be a finite number, got {value!r}")
        if not 0 <= momentum <= 1:
            raise InvalidArgumentError(f"BatchNormalization momentum must be in [0, 1], got {momentum!r}")
        if epsilon <= 0:
            raise InvalidArgumentError(f"BatchNormalization epsilon must be positive, got {epsilon!r}")
        self.axis, self.momentum, self.epsilon = int(axis), float(momentum), float(epsilon)
        self.center, self.scale = center, scale
        self.initializers = dict(gamma=gamma_initializer, beta=beta_initializer,
                                 moving_mean=moving_mean_initializer, moving_variance=moving_variance_initializer)

    def build(self, input_shape):
        ndim = len(input_shape)
        if not -ndim <= self.axis < ndim or self.axis % ndim == 0:
            raise InvalidInputError(f"{self.name}: axis {self.axis} is not a feature axis of input shape "
                                    f"{tuple(input_shape)}")
        self._axis = self.axis % ndim
        self._reduce = tuple(a for a in range(ndim) if a != self._axis)
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

    def forward(self, x, training=False):
        x = self._cast(x)
        b = lambda v: self._bcast(v, x.ndim)  # noqa: E731
        if training:
            mean = x.mean(axis=self._reduce, dtype=np.float64)
            centered = x - b(mean.astype(self.dtype))
            var = np.mean(np.square(centered, dtype=np.float64), axis=self._reduce)
            m = self.momentum
            self.state["moving_mean"][...] = m * self.state["moving_mean"] + (1 - m) * mean
            self.state["moving_variance"][...] = m * self.state["moving_variance"] + (1 - m) * var
        else:
            centered = x - b(self.state["moving_mean"])
            var = self.state["moving_variance"].astype(np.float64)
        inv_std = (1.0 / np.sqrt(var + self.epsilon)).astype(self.dtype)
        x_hat = centered * b(inv_std)
        y = x_hat * b(self.params["gamma"]) if self.scale else x_hat.copy()
        if self.center:
            y += b(self.params["beta"])
        self._x_hat, self._inv_std, self._training = x_hat, inv_std, training
        return y

    def backward(self, dy):
        b = lambda v: self._bcast(v, dy.ndim)  # noqa: E731
        x_hat, inv_std = self._x_hat, self._inv_std
        dbeta = dy.sum(axis=self._reduce, dtype=np.float64)
        dgamma = (dy * x_hat).sum(axis=self._reduce, dtype=np.float64)
        if self.center:
            self.grads["beta"] = dbeta.astype(self.dtype)
        if self.scale:
            self.grads["gamma"] = dgamma.astype(self.dtype)
        gamma = self.params["gamma"] if self.scale else np.ones_like(inv_std)
        scale = b(gamma * inv_std)
        if not self._training:
            return (dy * scale).astype(self.dtype, copy=False)
        m = dy.size // dy.shape[self._axis]
        dx = scale * (dy - b((dbeta / m).astype(self.dtype)) - x_hat * b((dgamma / m).astype(self.dtype)))
        return dx.astype(self.dtype, copy=False)

    def get_config(self):
        return {**super().get_config(), "axis": self.axis, "momentum": self.momentum, "epsilon": self.epsilon,
                "center": self.center, "scale": self.scale}
