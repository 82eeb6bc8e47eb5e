"""Element-wise activation functions and their derivatives.

Each entry is a pair ``forward(z) -> a`` and ``backward(dy, z, a) -> dz``, the derivative written from the
output ``a`` where that is cheapest:

==========  ==========================  ===============================================
name        a = f(z)                    dz = dy * f'(z)
==========  ==========================  ===============================================
linear      z                           dy
relu        max(z, 0)                   dy * [z > 0]       (Goodfellow et al. 6.3.1)
sigmoid     1 / (1 + exp(-z))           dy * a * (1 - a)
tanh        tanh(z)                     dy * (1 - a^2)
softmax     exp(z_k) / sum_j exp(z_j)   a * (dy - sum_k dy_k a_k)   (per row; Jacobian-vector product)
==========  ==========================  ===============================================

Softmax followed by cross-entropy is not differentiated through this Jacobian during training: the model
fuses the two and uses ``(p - y) / N`` (see :mod:`tinycnn.losses`).
"""
import numpy as np

from . import kernels
from .errors import InvalidArgumentError


def linear(z):
    return z


def linear_backward(dy, z, a):
    return dy


def relu(z):
    return kernels.relu_forward(z)  # max(z, 0), see tinycnn.kernels.reference.relu_forward


def relu_backward(dy, z, a):
    return kernels.relu_backward(dy, z)  # dy * [z > 0]


def sigmoid(z):
    # split by sign so exp never overflows
    out = np.empty_like(z)
    pos = z >= 0
    out[pos] = 1.0 / (1.0 + np.exp(-z[pos]))
    ez = np.exp(z[~pos])
    out[~pos] = ez / (1.0 + ez)
    return out


def sigmoid_backward(dy, z, a):
    return dy * a * (1 - a)


def tanh(z):
    return np.tanh(z)


def tanh_backward(dy, z, a):
    return dy * (1 - a * a)


def softmax(z, axis=-1):
    """Row-wise softmax, shifted by the row maximum so ``exp`` never overflows.

    >>> p = softmax(np.array([[1.0, 2.0, 3.0]]))
    >>> p.round(4), round(float(p.sum()), 12)
    (array([[0.09  , 0.2447, 0.6652]]), 1.0)
    """
    e = np.exp(z - z.max(axis=axis, keepdims=True))
    p = e / e.sum(axis=axis, keepdims=True)
    if np.issubdtype(p.dtype, np.floating):
        p[p < np.finfo(p.dtype).tiny] = 0  # subnormal probabilities -> 0 (they slow every later product)
    return p


def softmax_backward(dy, z, a, axis=-1):
    return a * (dy - (dy * a).sum(axis=axis, keepdims=True))


ACTIVATIONS = {
    "linear": (linear, linear_backward),
    "relu": (relu, relu_backward),
    "sigmoid": (sigmoid, sigmoid_backward),
    "tanh": (tanh, tanh_backward),
    "softmax": (softmax, softmax_backward),
}


def get(name):
    """``(forward, backward)`` for an activation name; ``None`` means ``"linear"``."""
    if name is None:
        name = "linear"
    if not isinstance(name, str) or name.lower() not in ACTIVATIONS:
        raise InvalidArgumentError(f"unknown activation {name!r}; valid names: {sorted(ACTIVATIONS)}")
    return ACTIVATIONS[name.lower()]
