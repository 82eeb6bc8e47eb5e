"""Element-wise activation functions and their derivatives, with the names of ``keras.activations``.

Each activation is an :class:`ActivationFunction`: call it like the Keras function (``relu(z)``), and it
carries its derivative as ``backward(dy, z, a) -> dz = dy * f'(z)``, written from the output ``a`` where that
is cheapest. A layer given ``activation=`` a name, one of these objects, or ``tinycnn.nn.relu`` etc. can
therefore differentiate it.

=============  ==========================================  ==================================================
name           a = f(z)                                    dz = dy * f'(z)
=============  ==========================================  ==================================================
linear         z                                           dy
relu           max(z, 0)                                   dy * [z > 0]       (Goodfellow et al. 6.3.1)
sigmoid        1 / (1 + exp(-z))                           dy * a * (1 - a)
tanh           tanh(z)                                     dy * (1 - a^2)
softmax        exp(z_k) / sum_j exp(z_j)                   a * (dy - sum_k dy_k a_k)  (per row: a Jacobian-
                                                           vector product)
leaky_relu     z if z > 0 else s z     (s = 0.2)           dy * (1 if z > 0 else s)
elu            z if z > 0 else alpha (e^z - 1)  (alpha=1)  dy * (1 if z > 0 else a + alpha)
selu           scale * elu(z, alpha)                       dy * scale * (1 if z > 0 else alpha e^z)
               (alpha = 1.67326324, scale = 1.05070098)
gelu           z Phi(z) = z (1 + erf(z / sqrt 2)) / 2      dy * (Phi(z) + z phi(z)),  phi the normal pdf
gelu approx.   z (1 + tanh(u)) / 2,                        dy * ((1 + t) / 2 + z (1 - t^2) u'(z) / 2),
               u = sqrt(2/pi) (z + 0.044715 z^3)           t = tanh(u), u' = sqrt(2/pi)(1 + 3*0.044715 z^2)
softplus       log(1 + e^z)                                dy * sigmoid(z)
softsign       z / (1 + |z|)                               dy / (1 + |z|)^2
silu / swish   z sigmoid(z)                                dy * (s + a (1 - s)),  s = sigmoid(z)
exponential    e^z                                         dy * a
hard_sigmoid   clip(z / 6 + 1/2, 0, 1)                     dy / 6 where -3 < z < 3, else 0
=============  ==========================================  ==================================================

Keras 3 defaults: ``leaky_relu(x, negative_slope=0.2)``, ``elu(x, alpha=1.0)``, ``gelu(x, approximate=False)``
(the exact erf form; Keras 2 / ``tf.nn.gelu`` default to the same), ``hard_sigmoid`` is the Keras 3 form
``relu6(x + 3) / 6`` (Keras 2 used ``0.2 x + 0.5``). References: Clevert et al. 2016 (ELU); Klambauer et al.
2017 (SELU); Hendrycks & Gimpel 2016 (GELU); Ramachandran et al. 2017 (swish); Elfwing et al. 2018 (SiLU).

At a kink (``z == 0`` for relu/leaky_relu/elu) the derivative taken is the left one, as TensorFlow does.

Softmax followed by cross-entropy is not differentiated through this Jacobian during training: the model
fuses the two and uses ``(p - y) / N`` (see :mod:`tinycnn.losses`).

**Any callable as** ``activation=``: tinycnn must know the derivative for the backward pass, so a layer
accepts an :class:`ActivationFunction` (every function here and in :mod:`tinycnn.nn`), a
``functools.partial`` of one with keyword arguments (``partial(leaky_relu, negative_slope=0.1)``), or your own
function wrapped with its derivative: ``ActivationFunction("mine", forward, backward)``. Any other callable is
refused when the layer is created, with that advice.

>>> z = np.array([-2.0, 0.0, 2.0])
>>> elu(z).round(4)
array([-0.8647,  0.    ,  2.    ])
>>> leaky_relu(z)
array([-0.4,  0. ,  2. ])
>>> get("swish") is silu
True
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from typing import Any, Union

import numpy as np
from numpy.typing import ArrayLike

from . import kernels
from .errors import InvalidArgumentError, InvalidTypeError
from .hints import Array


def _erf(x):
    """The error function, element-wise: SciPy's vectorized C, else ``math.erf`` one element at a time.

    SciPy is imported here, on first use, not at import: loading ``scipy.special`` loads SciPy's own OpenBLAS,
    which starts its threads, and ``import tinycnn`` starts none (``tests/test_processes.py``).
    """
    try:
        from scipy.special import erf
    except ImportError:  # pragma: no cover - SciPy is present wherever TensorFlow is
        erf = np.vectorize(math.erf, otypes=[np.float64])
    return erf(x)


class ActivationFunction:
    """An element-wise activation that knows its derivative.

    Parameters
    ----------
    name : str
        The Keras name (``get_config`` reports it).
    forward : callable ``forward(z, **params) -> a``
    backward : callable ``backward(dy, z, a, **params) -> dz``
        ``dL/dz`` from the upstream ``dy = dL/da``, the input ``z`` and the output ``a``.
    **params
        Default keyword arguments of both (``negative_slope=0.2`` ...). Calling the object with other values
        (``leaky_relu(z, negative_slope=0.1)``) works for the forward pass; to *train* with other values,
        use ``functools.partial(leaky_relu, negative_slope=0.1)`` or :meth:`with_params`.

    >>> square = ActivationFunction("square", lambda z: z * z, lambda dy, z, a: 2 * z * dy)
    >>> square(np.array([3.0])), square.backward(np.array([1.0]), np.array([3.0]), None)
    (array([9.]), array([6.]))
    """

    def __init__(self, name: str, forward: Callable[..., Array], backward: Callable[..., Array], **params: Any) -> None:
        if not callable(forward) or not callable(backward):
            raise InvalidTypeError(f"ActivationFunction {name!r}: forward and backward must be callables")
        self.__name__ = self.name = name
        self._forward, self._backward, self.params = forward, backward, dict(params)
        self.__doc__ = getattr(forward, "__doc__", None)

    def __call__(self, z: ArrayLike, **params: Any) -> Array:
        """Called by a user (``tf.nn.softmax(logits)``): the values, as an array with Keras's ``.numpy()``."""
        from .utils import as_eager

        z = np.asarray(z)
        if not np.issubdtype(z.dtype, np.floating):
            z = z.astype(np.float32)
        return as_eager(self._forward(z, **{**self.params, **params}))

    def forward(self, z: Array) -> Array:
        """Called by a layer: ``f(z)`` as a plain array."""
        return self._forward(z, **self.params)

    def backward(self, dy: Array, z: Array, a: Array) -> Array:
        """``dL/dz = dy * f'(z)`` (a Jacobian-vector product for softmax)."""
        return self._backward(dy, z, a, **self.params)

    def with_params(self, **params: Any) -> ActivationFunction:
        """The same activation with other default parameters (used for ``functools.partial``)."""
        unknown = sorted(set(params) - set(self.params))
        if unknown:
            raise InvalidArgumentError(
                f"activation {self.name!r} has no parameters {unknown}; it takes {sorted(self.params) or 'none'}"
            )
        return ActivationFunction(self.name, self._forward, self._backward, **{**self.params, **params})

    def __repr__(self):
        extra = "".join(f", {k}={v!r}" for k, v in self.params.items())
        return f"<activation {self.name}{extra}>"


#: What ``activation=`` takes: a Keras name, ``None`` (linear), an :class:`ActivationFunction`, or a
#: ``functools.partial`` of one with keyword arguments.
ActivationLike = Union[str, ActivationFunction, functools.partial[Array], None]


def _def(name, backward, **params):
    """Decorator: turn ``forward`` into an :class:`ActivationFunction` named ``name``."""

    def wrap(forward):
        return functools.update_wrapper(
            ActivationFunction(name, forward, backward, **params),
            forward,
            assigned=("__doc__", "__module__", "__qualname__"),
            updated=(),
        )

    return wrap


def _sigmoid(z):
    # split by sign so exp never overflows
    out = np.empty_like(z)
    pos = z >= 0
    out[pos] = 1.0 / (1.0 + np.exp(-z[pos]))
    ez = np.exp(z[~pos])
    out[~pos] = ez / (1.0 + ez)
    return out


# ------------------------------------------------------------------------------------ the course's four
def linear_backward(dy: Array, z: Array, a: Array) -> Array:
    return dy


def relu_backward(dy: Array, z: Array, a: Array) -> Array:
    return kernels.relu_backward(dy, z)  # dy * [z > 0]


def sigmoid_backward(dy: Array, z: Array, a: Array) -> Array:
    return dy * a * (1 - a)


def tanh_backward(dy: Array, z: Array, a: Array) -> Array:
    return dy * (1 - a * a)


def softmax_backward(dy: Array, z: Array | None, a: Array, axis: int = -1) -> Array:
    return a * (dy - (dy * a).sum(axis=axis, keepdims=True))


@_def("linear", linear_backward)
def linear(z: Array) -> Array:
    """The identity, ``f(z) = z``."""
    return z


@_def("relu", relu_backward)
def relu(z: Array) -> Array:
    """``max(z, 0)`` (see :func:`tinycnn.kernels.reference.relu_forward`)."""
    return kernels.relu_forward(z)


@_def("sigmoid", sigmoid_backward)
def sigmoid(z: Array) -> Array:
    """``1 / (1 + exp(-z))``, computed by sign so ``exp`` never overflows."""
    return _sigmoid(z)


@_def("tanh", tanh_backward)
def tanh(z: Array) -> Array:
    """``tanh(z)``."""
    return np.tanh(z)


@_def("softmax", softmax_backward, axis=-1)
def softmax(z: Array, axis: int = -1) -> Array:
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


# ------------------------------------------------------------------------------------ the others
def _leaky_relu_backward(dy, z, a, negative_slope=0.2):
    return dy * np.where(z > 0, 1.0, negative_slope).astype(dy.dtype)


@_def("leaky_relu", _leaky_relu_backward, negative_slope=0.2)
def leaky_relu(z: Array, negative_slope: float = 0.2) -> Array:
    """``z`` for ``z > 0``, else ``negative_slope * z`` (Maas et al. 2013; Keras 3 default slope 0.2)."""
    return np.where(z > 0, z, negative_slope * z).astype(z.dtype, copy=False)


def _elu_backward(dy, z, a, alpha=1.0):
    return dy * np.where(z > 0, 1.0, a + alpha).astype(dy.dtype)


@_def("elu", _elu_backward, alpha=1.0)
def elu(z: Array, alpha: float = 1.0) -> Array:
    """``z`` for ``z > 0``, else ``alpha * (exp(z) - 1)`` (Clevert et al. 2016)."""
    return np.where(z > 0, z, alpha * np.expm1(np.minimum(z, 0))).astype(z.dtype, copy=False)


SELU_ALPHA = 1.6732632423543772848170429916717
SELU_SCALE = 1.0507009873554804934193349852946


def _selu_backward(dy, z, a):
    return dy * (SELU_SCALE * np.where(z > 0, 1.0, SELU_ALPHA * np.exp(np.minimum(z, 0)))).astype(dy.dtype)


@_def("selu", _selu_backward)
def selu(z: Array) -> Array:
    """``scale * elu(z, alpha)`` with Klambauer et al.'s (2017) self-normalizing constants."""
    return (SELU_SCALE * np.where(z > 0, z, SELU_ALPHA * np.expm1(np.minimum(z, 0)))).astype(z.dtype, copy=False)


_GELU_C = math.sqrt(2.0 / math.pi)


def _gelu_backward(dy, z, a, approximate=False):
    z64 = z.astype(np.float64)
    if approximate:
        t = np.tanh(_GELU_C * (z64 + 0.044715 * z64**3))
        d = 0.5 * (1 + t) + 0.5 * z64 * (1 - t * t) * _GELU_C * (1 + 3 * 0.044715 * z64**2)
    else:
        d = 0.5 * (1 + _erf(z64 / math.sqrt(2))) + z64 * np.exp(-0.5 * z64 * z64) / math.sqrt(2 * math.pi)
    return dy * d.astype(dy.dtype)


@_def("gelu", _gelu_backward, approximate=False)
def gelu(z: Array, approximate: bool = False) -> Array:
    """``z * Phi(z)``, ``Phi`` the standard normal CDF (Hendrycks & Gimpel 2016); ``approximate=True`` uses the
    tanh form. Keras 3's default is the exact form."""
    z64 = z.astype(np.float64)
    if approximate:
        a = 0.5 * z64 * (1 + np.tanh(_GELU_C * (z64 + 0.044715 * z64**3)))
    else:
        a = 0.5 * z64 * (1 + _erf(z64 / math.sqrt(2)))
    return a.astype(z.dtype)


@_def("softplus", lambda dy, z, a: dy * _sigmoid(z))
def softplus(z: Array) -> Array:
    """``log(1 + exp(z))``, computed as ``max(z, 0) + log1p(exp(-|z|))`` so it never overflows."""
    return (np.maximum(z, 0) + np.log1p(np.exp(-np.abs(z)))).astype(z.dtype, copy=False)


@_def("softsign", lambda dy, z, a: dy / (1 + np.abs(z)) ** 2)
def softsign(z: Array) -> Array:
    """``z / (1 + |z|)``."""
    return z / (1 + np.abs(z))


def _silu_backward(dy, z, a):
    s = _sigmoid(z)
    return dy * (s + a * (1 - s))


@_def("silu", _silu_backward)
def silu(z: Array) -> Array:
    """``z * sigmoid(z)`` (SiLU, Elfwing et al. 2018; swish, Ramachandran et al. 2017)."""
    return z * _sigmoid(z)


swish = silu


@_def("exponential", lambda dy, z, a: dy * a)
def exponential(z: Array) -> Array:
    """``exp(z)``."""
    return np.exp(z)


@_def("hard_sigmoid", lambda dy, z, a: dy * ((z > -3) & (z < 3)).astype(dy.dtype) / 6)
def hard_sigmoid(z: Array) -> Array:
    """``clip(z / 6 + 0.5, 0, 1)``, Keras 3's piecewise-linear sigmoid."""
    return np.clip(z / 6 + 0.5, 0, 1).astype(z.dtype, copy=False)


ACTIVATIONS = {
    f.name: f
    for f in (
        linear,
        relu,
        sigmoid,
        tanh,
        softmax,
        leaky_relu,
        elu,
        selu,
        gelu,
        softplus,
        softsign,
        silu,
        exponential,
        hard_sigmoid,
    )
}
ACTIVATIONS["swish"] = silu


def get(identifier: ActivationLike) -> ActivationFunction:
    """The :class:`ActivationFunction` for a Keras name, ``None`` (linear), or an activation object.

    Accepts ``functools.partial(f, **kwargs)`` of an activation object. Refuses other callables: tinycnn
    could run them forward but not differentiate them.
    """
    if identifier is None:
        return linear
    if isinstance(identifier, ActivationFunction):
        return identifier
    if isinstance(identifier, str):
        key = identifier.lower()
        if key not in ACTIVATIONS:
            raise InvalidArgumentError(f"unknown activation {identifier!r}; valid names: {sorted(ACTIVATIONS)}")
        return ACTIVATIONS[key]
    if isinstance(identifier, functools.partial) and isinstance(identifier.func, ActivationFunction):
        if identifier.args:
            raise InvalidArgumentError(
                f"activation partial({identifier.func.name}, ...): give the parameters by "
                f"keyword, e.g. partial({identifier.func.name}, "
                f"{next(iter(identifier.func.params), 'param')}=...)"
            )
        return identifier.func.with_params(**identifier.keywords)
    if callable(identifier):
        name = getattr(identifier, "__name__", type(identifier).__name__)
        raise InvalidArgumentError(
            f"activation {name!r} is a callable whose derivative tinycnn does not know, so it could not train "
            f"through it. Use a name ({', '.join(sorted(ACTIVATIONS))}), a function of tinycnn.activations or "
            f"tinycnn.nn, or wrap yours with its derivative: "
            f"tinycnn.activations.ActivationFunction({name!r}, forward, backward) where "
            f"backward(dy, z, a) returns dy * f'(z)"
        )
    raise InvalidArgumentError(f"activation must be a name, None or an activation function, got {identifier!r}")
