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
import numpy as np

from .. import kernels
from ..errors import InvalidArgumentError, InvalidInputError
from .activation import ActivationStep
from .base import Layer, as_pair, check_padding


class Conv2D(ActivationStep, Layer):
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
    activation : str or None
        Applied after the bias: linear (None), relu, sigmoid, tanh, softmax.
    use_bias : bool, default True
    kernel_initializer, bias_initializer : str
        Defaults ``"glorot_uniform"`` and ``"zeros"``.
    input_shape : (H, W, C), optional
        For the first layer of a model, without the batch axis.
    dtype : "float32" (default) or "float64"
    """

    def __init__(self, filters, kernel_size, strides=(1, 1), padding="valid", data_format=None,
                 dilation_rate=(1, 1), activation=None, use_bias=True, kernel_initializer="glorot_uniform",
                 bias_initializer="zeros", **kwargs):
        super().__init__(**kwargs)
        if isinstance(filters, bool) or not isinstance(filters, (int, np.integer)) or filters <= 0:
            raise InvalidArgumentError(f"Conv2D filters must be a positive int, got {filters!r}")
        if data_format not in (None, "channels_last"):
            raise InvalidArgumentError(f"tinycnn is channels-last only: data_format must be 'channels_last', "
                                       f"got {data_format!r}")
        self.filters = int(filters)
        self.kernel_size = as_pair(kernel_size, "Conv2D kernel_size")
        self.strides = as_pair(strides, "Conv2D strides")
        self.padding = check_padding(padding)
        self.dilation_rate = as_pair(dilation_rate, "Conv2D dilation_rate")
        if max(self.strides) > 1 and max(self.dilation_rate) > 1:
            raise InvalidArgumentError("Conv2D: strides > 1 together with dilation_rate > 1 is not supported "
                                       "(Keras refuses it too)")
        self._init_activation(activation)
        self.use_bias = use_bias
        self.kernel_initializer, self.bias_initializer = kernel_initializer, bias_initializer

    def _geometry(self, hw):
        (oh, ow), pads = kernels.conv_geometry(hw, self.kernel_size, self.strides, self.dilation_rate, self.padding)
        if oh <= 0 or ow <= 0:
            k_eff = tuple((k - 1) * d + 1 for k, d in zip(self.kernel_size, self.dilation_rate))
            raise InvalidInputError(
                f"{self.name}: kernel {self.kernel_size} (effective {k_eff} with dilation) is larger than its "
                f"{hw[0]}x{hw[1]} input with padding={self.padding!r}; use a smaller kernel or padding='same'")
        return (oh, ow), pads

    def build(self, input_shape):
        if len(input_shape) != 4:
            raise InvalidInputError(f"{self.name}: Conv2D expects 4-D input (batch, height, width, channels), "
                                    f"got shape {tuple(input_shape)}")
        if input_shape[-1] is None:
            raise InvalidInputError(f"{self.name}: the channel axis must be known to build Conv2D")
        if input_shape[1] is not None and input_shape[2] is not None:
            self._geometry(input_shape[1:3])
        kh, kw = self.kernel_size
        self.add_weight("kernel", (kh, kw, input_shape[-1], self.filters), self.kernel_initializer)
        if self.use_bias:
            self.add_weight("bias", (self.filters,), self.bias_initializer)
        super().build(input_shape)

    def compute_output_shape(self, input_shape):
        n, h, w, _ = input_shape
        if h is None or w is None:
            return (n, None, None, self.filters)
        (oh, ow), _ = self._geometry((h, w))
        return (n, oh, ow, self.filters)

    def forward(self, x, training=False):
        x = self._cast(x)
        _, pads = self._geometry(x.shape[1:3])
        z = kernels.conv2d_forward(x, self.params["kernel"], self.params.get("bias"), self.strides, pads,
                                   self.dilation_rate)
        self._x, self._pads = x, pads
        return self._activate(z)

    def backward(self, dy):
        dz = self._deactivate(dy)
        self.grads["kernel"] = kernels.conv2d_backward_kernel(dz, self._x, self.params["kernel"].shape,
                                                              self.strides, self._pads, self.dilation_rate)
        if self.use_bias:
            self.grads["bias"] = dz.sum(axis=(0, 1, 2))
        if not self.input_gradient:  # the model's first layer while training: nobody reads dx
            return None
        return kernels.conv2d_backward_input(dz, self.params["kernel"], self._x.shape, self.strides,
                                             self._pads, self.dilation_rate)

    def get_config(self):
        return {**super().get_config(), "filters": self.filters, "kernel_size": self.kernel_size,
                "strides": self.strides, "padding": self.padding, "dilation_rate": self.dilation_rate,
                "activation": self.activation_name, "use_bias": self.use_bias,
                "kernel_initializer": self.kernel_initializer, "bias_initializer": self.bias_initializer}
