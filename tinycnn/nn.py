"""``tf.nn``'s activation functions, so a course script's ``activation=tf.nn.relu`` runs with
``import tinycnn as tf``.

Each name is an :class:`tinycnn.activations.ActivationFunction`, the same object as in
:mod:`tinycnn.activations` (so a layer knows its derivative), except where TensorFlow names a parameter
differently: ``tf.nn.leaky_relu(features, alpha=0.2)`` (Keras: ``negative_slope``). The equations and
derivatives are in :mod:`tinycnn.activations`.

>>> import numpy as np
>>> relu(np.array([-1.0, 2.0]))
array([0., 2.])
>>> leaky_relu(np.array([-1.0, 2.0]), alpha=0.1)
array([-0.1,  2. ])
>>> from tinycnn.layers import Dense
>>> Dense(4, activation=relu).activation_name
'relu'
"""

import numpy as np

from . import activations as _a

relu = _a.relu
sigmoid = _a.sigmoid
tanh = _a.tanh
softmax = _a.softmax
elu = _a.elu
selu = _a.selu
gelu = _a.gelu
softplus = _a.softplus
softsign = _a.softsign
silu = swish = _a.silu


def _leaky_relu(features, alpha=0.2):
    """``features`` where positive, else ``alpha * features`` (``tf.nn.leaky_relu``; default ``alpha=0.2``)."""
    return np.where(features > 0, features, alpha * features).astype(features.dtype, copy=False)


leaky_relu = _a.ActivationFunction(
    "leaky_relu", _leaky_relu, lambda dy, z, a, alpha=0.2: dy * np.where(z > 0, 1.0, alpha).astype(dy.dtype), alpha=0.2
)
leaky_relu.__doc__ = _leaky_relu.__doc__

__all__ = [
    "relu",
    "sigmoid",
    "tanh",
    "softmax",
    "elu",
    "selu",
    "gelu",
    "softplus",
    "softsign",
    "silu",
    "swish",
    "leaky_relu",
]
