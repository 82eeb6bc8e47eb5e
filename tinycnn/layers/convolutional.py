"""Conv2D: a bank of learned 2-D filters slid over a channels-last image (Goodfellow et al., *Deep
Learning*, ch. 9).

Forward -- the kernel indexed around each output position ``(i, j)`` (a cross-correlation, as every
deep-learning library computes "convolution")::

    z[n, i, j, f] = bias[f] + sum_{a<KH, b<KW, c<C} xp[n, i*SH + a*DH, j*SW + b*DW, c] * kernel[a, b, c, f]
    y = activation(z)

    x: (N, H, W, C)   kernel: (KH, KW, C, F)   bias: (F,)   y: (N, OH, OW, F)

``xp`` is ``x`` padded with zeros. With the effective kernel size ``KH_eff = (KH - 1) * DH + 1``:

* ``padding="valid"``: no padding, ``OH = floor((H - KH_eff) / SH) + 1``;
* ``padding="same"``: TensorFlow's rule ``OH = ceil(H / SH)``, total padding
  ``max((OH - 1) * SH + KH_eff - H, 0)``, the odd pixel at the bottom/right
  (:func:`tinycnn.kernels.conv_geometry`). (Likewise for the width.)

A *true* convolution flips the kernel, ``s(t) = sum_a x(a) w(t - a)``: it equals this cross-correlation with
``kernel[::-1, ::-1]``. Since the kernel is learned, the flip changes nothing but the learned values.
``dilation_rate > 1`` spaces the taps ``DH`` pixels apart, widening the receptive field at no extra cost
(Yu & Koltun, *Multi-Scale Context Aggregation by Dilated Convolutions*, 2016).

Why convolution suits images (9.2): **sparse interactions** (each output sees a KH x KW patch, its
*receptive field*); **parameter sharing** (one kernel serves every position: ``KH*KW*C*F + F`` parameters
whatever the image size); **equivariance to translation** (shift the image, the feature map shifts).
``F`` filters give a 3-D output volume of ``F`` feature maps.

Backward, with ``dz = activation'(z) * dy`` (derivation in :mod:`tinycnn.kernels.reference`)::

    dkernel[a, b, c, f] = sum_{n, i, j} xp[n, i*SH + a*DH, j*SW + b*DW, c] * dz[n, i, j, f]
    dbias[f]            = sum_{n, i, j} dz[n, i, j, f]
    dx[n, p, q, c]      = sum over every (i, j, a, b) whose window put pixel (p, q) at tap (a, b) of
                          kernel[a, b, c, f] * dz[n, i, j, f]     (summed over f)

The arithmetic lives in :mod:`tinycnn.kernels` (``conv2d_forward``, ``conv2d_backward_kernel``,
``conv2d_backward_input``), readable NumPy or Numba depending on the backend.

Arguments and defaults mirror ``keras.layers.Conv2D``; weights are ``[kernel (KH, KW, C, F), bias (F,)]``.

>>> import numpy as np
>>> layer = Conv2D(1, (1, 2), use_bias=False, input_shape=(5, 5, 1))
>>> layer.build((None, 5, 5, 1))
>>> layer.set_weights([np.array([-1.0, 1.0]).reshape(1, 2, 1, 1)])   # x[i, j] - x[i, j-1]: a vertical edge
>>> image = np.zeros((1, 5, 5, 1)); image[:, :, 3:] = 1.0
>>> layer.forward(image)[0, :, :, 0]
array([[0., 0., 1., 0.],
       [0., 0., 1., 0.],
       [0., 0., 1., 0.],
       [0., 0., 1., 0.],
       [0., 0., 1., 0.]], dtype=float32)
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from .. import kernels
from ..activations import ActivationLike
from ..errors import InvalidArgumentError, InvalidInputError
from ..hints import Array, Config, IntPair, Shape, ShapeLike
from ..initializers import InitializerLike
from ..regularizers import RegularizerLike
from .activation import ActivationStep
from .base import Layer, as_pair, check_padding
from .variables import KernelBiasAttributes, WeightRegularizers


def _check_filters_and_format(kind: str, filters: int, data_format: str | None) -> int:
    """The checks Conv1D and Conv2D share on their first arguments: ``filters`` a positive int (returned as an
    int), ``data_format`` None or ``"channels_last"``. ``kind`` names the layer in the error."""
    if isinstance(filters, bool) or not isinstance(filters, (int, np.integer)) or filters <= 0:
        raise InvalidArgumentError(f"{kind} filters must be a positive int, got {filters!r}")
    if data_format not in (None, "channels_last"):
        raise InvalidArgumentError(
            f"tinycnn is channels-last only: data_format must be 'channels_last', got {data_format!r}"
        )
    return int(filters)


def _check_strides_with_dilation(kind: str, strides: tuple[int, ...], dilation_rate: tuple[int, ...]) -> None:
    """Refuse strides > 1 together with dilation > 1 (on any axis), as Keras does."""
    if max(strides) > 1 and max(dilation_rate) > 1:
        raise InvalidArgumentError(
            f"{kind}: strides > 1 together with dilation_rate > 1 is not supported (Keras refuses it too)"
        )


class Conv2D(KernelBiasAttributes, WeightRegularizers, ActivationStep, Layer):
    """2-D convolution layer, as ``keras.layers.Conv2D``.

    Parameters
    ----------
    filters : int
        Number of filters ``F`` (output channels).
    kernel_size : int or (int, int)
        ``(KH, KW)``; even sizes are allowed.
    strides : int or (int, int), default (1, 1)
    padding : "valid" or "same", default "valid"
    dilation_rate : int or (int, int), default (1, 1)
        Cannot be combined with strides > 1 (as in Keras).
    activation : str, activation function or None
        Applied after the bias: a name of :mod:`tinycnn.activations` (linear for None, relu, sigmoid, tanh,
        softmax, elu ...) or one of its functions (``tinycnn.nn.relu``).
    use_bias : bool, default True
    kernel_initializer, bias_initializer : str
        Defaults ``"glorot_uniform"`` and ``"zeros"``.
    kernel_regularizer, bias_regularizer : str or Regularizer, default None
        Penalties added to the loss (:mod:`tinycnn.regularizers`).
    input_shape : (H, W, C), optional
        For the first layer of a model, without the batch axis.
    dtype : "float32" (default) or "float64"
    """

    def __init__(
        self,
        filters: int,
        kernel_size: IntPair,
        strides: IntPair = (1, 1),
        padding: str = "valid",
        data_format: str | None = None,
        dilation_rate: IntPair = (1, 1),
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
        self.filters = _check_filters_and_format("Conv2D", filters, data_format)
        self.kernel_size = as_pair(kernel_size, "Conv2D kernel_size")
        self.strides = as_pair(strides, "Conv2D strides")
        self.padding = check_padding(padding)
        self.dilation_rate = as_pair(dilation_rate, "Conv2D dilation_rate")
        _check_strides_with_dilation("Conv2D", self.strides, self.dilation_rate)
        self._init_activation(activation)
        self.use_bias = use_bias
        self.kernel_initializer, self.bias_initializer = kernel_initializer, bias_initializer
        self._init_regularizers(
            kernel_regularizer, bias_regularizer, activity_regularizer, kernel_constraint, bias_constraint
        )

    def _geometry(self, hw):
        (oh, ow), pads = kernels.conv_geometry(hw, self.kernel_size, self.strides, self.dilation_rate, self.padding)
        if oh <= 0 or ow <= 0:
            k_eff = tuple((k - 1) * d + 1 for k, d in zip(self.kernel_size, self.dilation_rate))
            raise InvalidInputError(
                f"{self.name}: kernel {self.kernel_size} (effective {k_eff} with dilation) is larger than its "
                f"{hw[0]}x{hw[1]} input with padding={self.padding!r}; use a smaller kernel or padding='same'"
            )
        return (oh, ow), pads

    def build(self, input_shape: ShapeLike) -> None:
        if len(input_shape) != 4:
            raise InvalidInputError(
                f"{self.name}: Conv2D expects 4-D input (batch, height, width, channels), "
                f"got shape {tuple(input_shape)}"
            )
        if input_shape[-1] is None:
            raise InvalidInputError(f"{self.name}: the channel axis must be known to build Conv2D")
        if input_shape[1] is not None and input_shape[2] is not None:
            self._geometry(input_shape[1:3])
        kh, kw = self.kernel_size
        self.add_weight("kernel", (kh, kw, input_shape[-1], self.filters), self.kernel_initializer)
        if self.use_bias:
            self.add_weight("bias", (self.filters,), self.bias_initializer)
        super().build(input_shape)

    def compute_output_shape(self, input_shape: ShapeLike) -> Shape:
        n, h, w, _ = input_shape
        if h is None or w is None:
            return (n, None, None, self.filters)
        (oh, ow), _ = self._geometry((h, w))
        return (n, oh, ow, self.filters)

    def forward(self, x: ArrayLike, training: bool = False) -> Array:
        x = self._cast(x)
        _, pads = self._geometry(x.shape[1:3])
        z = kernels.conv2d_forward(
            x, self.params["kernel"], self.params.get("bias"), self.strides, pads, self.dilation_rate
        )
        self._x, self._pads = x, pads
        return self._activate(z)

    def backward_logits(self, dz: Array) -> Array | None:
        """Backward from ``dz = dL/dz`` (``backward(dy)`` applies the activation's derivative first)."""
        self.grads["kernel"] = kernels.conv2d_backward_kernel(
            dz, self._x, self.params["kernel"].shape, self.strides, self._pads, self.dilation_rate
        )
        if self.use_bias:
            self.grads["bias"] = kernels.bias_gradient(dz)
        if not self.input_gradient:  # the model's first layer while training: nobody reads dx
            return None
        return kernels.conv2d_backward_input(
            dz, self.params["kernel"], self._x.shape, self.strides, self._pads, self.dilation_rate
        )

    def get_config(self) -> Config:
        return {
            **super().get_config(),
            "filters": self.filters,
            "kernel_size": self.kernel_size,
            "strides": self.strides,
            "padding": self.padding,
            "dilation_rate": self.dilation_rate,
            "activation": self.activation_name,
            "use_bias": self.use_bias,
            "kernel_initializer": self.kernel_initializer,
            "bias_initializer": self.bias_initializer,
            **self._regularizer_config(),
        }


def as_single(value: int | tuple[int] | list[int], what: str) -> int:
    """``3 -> 3``; ``(3,) -> 3``; refuses anything else, or a non-positive value."""
    if isinstance(value, (tuple, list)) and len(value) == 1:
        value = value[0]
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise InvalidArgumentError(f"{what} must be a positive int (or a tuple of one), got {value!r}")
    return int(value)


class Conv1D(KernelBiasAttributes, WeightRegularizers, ActivationStep, Layer):
    """1-D convolution over a sequence, as ``keras.layers.Conv1D`` (the course's pattern detector in a signal).

    Forward (cross-correlation, as Conv2D; ``xp`` the padded input)::

        z[n, t, f] = bias[f] + sum_{a<K, c<C} xp[n, t*S + a*D, c] * kernel[a, c, f]
        y = activation(z)

        x: (N, L, C)   kernel: (K, C, F)   bias: (F,)   y: (N, OL, F)

    With ``K_eff = (K - 1) * D + 1``: ``padding="valid"`` gives ``OL = floor((L - K_eff) / S) + 1``;
    ``"same"`` gives ``OL = ceil(L / S)`` with TensorFlow's split (the odd cell on the right);
    ``"causal"`` pads ``(K - 1) * D`` zeros on the *left* only, so ``y[t]`` depends on ``x[..t]`` and never on
    the future (van den Oord et al., *WaveNet*, 2016, sec. 2.1): ``OL = ceil(L / S)``.

    Backward is Conv2D's (:mod:`tinycnn.layers.convolutional`) on a height-1 image: the sequence is viewed as
    ``(N, 1, L, C)`` and the kernel as ``(1, K, C, F)``, so the very same kernels compute ``dkernel``,
    ``dbias = sum_{n,t} dz`` and ``dx``.

    Parameters
    ----------
    filters : int
    kernel_size : int
    strides : int, default 1
    padding : "valid" (default), "same" or "causal"
    dilation_rate : int, default 1
        Cannot be combined with strides > 1 (as in Keras).
    activation, use_bias, kernel_initializer, bias_initializer, kernel_regularizer, bias_regularizer
        As :class:`Conv2D`.

    Weights in Keras order: ``[kernel (K, C, F), bias (F,)]``.

    >>> layer = Conv1D(1, 3, use_bias=False)
    >>> layer.build((None, 6, 1))
    >>> layer.set_weights([np.array([-1.0, 2.0, -1.0]).reshape(3, 1, 1)])   # a spike detector
    >>> signal = np.array([0, 0, 1, 0, 0, 0], dtype=float).reshape(1, 6, 1)
    >>> layer.forward(signal)[0, :, 0]
    array([-1.,  2., -1.,  0.], dtype=float32)
    """

    def __init__(
        self,
        filters: int,
        kernel_size: int | tuple[int] | list[int],
        strides: int | tuple[int] | list[int] = 1,
        padding: str = "valid",
        data_format: str | None = None,
        dilation_rate: int | tuple[int] | list[int] = 1,
        groups: int = 1,
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
        self.filters = _check_filters_and_format("Conv1D", filters, data_format)
        if groups != 1:
            raise InvalidArgumentError(
                f"Conv1D: grouped convolutions are not supported (groups={groups!r}); use groups=1"
            )
        self.kernel_size = as_single(kernel_size, "Conv1D kernel_size")
        self.strides = as_single(strides, "Conv1D strides")
        self.dilation_rate = as_single(dilation_rate, "Conv1D dilation_rate")
        if not isinstance(padding, str) or padding.lower() not in ("valid", "same", "causal"):
            raise InvalidArgumentError(f"Conv1D padding must be 'valid', 'same' or 'causal', got {padding!r}")
        self.padding = padding.lower()
        _check_strides_with_dilation("Conv1D", (self.strides,), (self.dilation_rate,))
        self._init_activation(activation)
        self.use_bias = use_bias
        self.kernel_initializer, self.bias_initializer = kernel_initializer, bias_initializer
        self._init_regularizers(
            kernel_regularizer, bias_regularizer, activity_regularizer, kernel_constraint, bias_constraint
        )

    def _geometry(self, length):
        """``(OL, (left, right))``."""
        k, s, d = self.kernel_size, self.strides, self.dilation_rate
        if self.padding == "causal":
            pads = ((k - 1) * d, 0)
            ol = (length + pads[0] - ((k - 1) * d + 1)) // s + 1
        else:
            (_, ol), (_, _, pl, pr) = kernels.conv_geometry((1, length), (1, k), (1, s), (1, d), self.padding)
            pads = (pl, pr)
        if ol <= 0:
            raise InvalidInputError(
                f"{self.name}: kernel {k} (effective {(k - 1) * d + 1} with dilation) is longer "
                f"than its input of length {length} with padding={self.padding!r}; use a "
                f"smaller kernel or padding='same'"
            )
        return ol, pads

    def build(self, input_shape: ShapeLike) -> None:
        if len(input_shape) != 3:
            raise InvalidInputError(
                f"{self.name}: Conv1D expects 3-D input (batch, steps, channels), got shape {tuple(input_shape)}"
            )
        if input_shape[-1] is None:
            raise InvalidInputError(f"{self.name}: the channel axis must be known to build Conv1D")
        if input_shape[1] is not None:
            self._geometry(input_shape[1])
        self.add_weight("kernel", (self.kernel_size, input_shape[-1], self.filters), self.kernel_initializer)
        if self.use_bias:
            self.add_weight("bias", (self.filters,), self.bias_initializer)
        super().build(input_shape)

    def compute_output_shape(self, input_shape: ShapeLike) -> Shape:
        n, length, _ = input_shape
        return (n, None if length is None else self._geometry(length)[0], self.filters)

    def _2d(self):
        return (1, self.strides), (1, self.dilation_rate)

    def forward(self, x: ArrayLike, training: bool = False) -> Array:
        x = self._cast(x)
        if x.ndim != 3:
            raise InvalidInputError(
                f"{self.name}: Conv1D expects 3-D input (batch, steps, channels), got shape {x.shape}"
            )
        _, (pl, pr) = self._geometry(x.shape[1])
        strides, dilation = self._2d()
        self._x4, self._pads = x[:, None], (0, 0, pl, pr)  # (N, 1, L, C): a height-1 image
        z = kernels.conv2d_forward(
            self._x4, self.params["kernel"][None], self.params.get("bias"), strides, self._pads, dilation
        )
        return self._activate(z[:, 0])

    def backward_logits(self, dz: Array) -> Array | None:
        """Backward from ``dz = dL/dz`` (``backward(dy)`` applies the activation's derivative first)."""
        dz = dz[:, None]  # (N, 1, OL, F)
        strides, dilation = self._2d()
        kernel4 = self.params["kernel"][None]
        self.grads["kernel"] = kernels.conv2d_backward_kernel(
            dz, self._x4, kernel4.shape, strides, self._pads, dilation
        )[0]
        if self.use_bias:
            self.grads["bias"] = kernels.bias_gradient(dz)
        if not self.input_gradient:  # the model's first layer while training: nobody reads dx
            return None
        return kernels.conv2d_backward_input(dz, kernel4, self._x4.shape, strides, self._pads, dilation)[:, 0]

    def get_config(self) -> Config:
        return {
            **super().get_config(),
            "filters": self.filters,
            "kernel_size": (self.kernel_size,),
            "strides": (self.strides,),
            "padding": self.padding,
            "dilation_rate": (self.dilation_rate,),
            "activation": self.activation_name,
            "use_bias": self.use_bias,
            "kernel_initializer": self.kernel_initializer,
            "bias_initializer": self.bias_initializer,
            **self._regularizer_config(),
        }


Convolution1D = Conv1D
