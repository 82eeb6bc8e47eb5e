"""Pooling: MaxPooling2D, AveragePooling2D and L2Pooling2D (Goodfellow et al., *Deep Learning*, 9.3).

A pooling unit summarizes a ``PH x PW`` window of one channel; windows move by ``strides`` (default: the
pool size, so they tile the image without overlap)::

    max:      y[n, i, j, c] = max_{a, b}  xp[n, i*SH + a, j*SW + b, c]
    average:  y[n, i, j, c] = (1 / count) sum_{a, b} xp[n, i*SH + a, j*SW + b, c]
    L2-norm:  y[n, i, j, c] = sqrt( sum_{a, b} xp[n, i*SH + a, j*SW + b, c]^2 )

    x: (N, H, W, C)  ->  y: (N, OH, OW, C)     no weights

Output size as for a convolution with a ``PH x PW`` kernel: ``OH = floor((H - PH) / SH) + 1`` for
``"valid"``, ``OH = ceil(H / SH)`` for ``"same"`` (likewise for the width).

With ``padding="same"`` the padded cells are *ignored*: they never win a max, are not counted by the
average (``count`` = real cells in the window) and add nothing to the L2 norm (as TensorFlow does).

Backward (``dy`` of shape ``(N, OH, OW, C)``):

* **max** routes each ``dy`` to the cell that won its window. **Ties** go to the *first* maximum in
  row-major order inside the window; other tied cells receive nothing.
* **average** spreads ``dy / count`` over the window's real cells.
* **L2** sends ``dy * x / y`` to each cell (``d sqrt(s) / dx = x / sqrt(s)``), and 0 where ``y == 0``.

With overlapping windows (e.g. pool 3, stride 2) a cell can belong to several windows: it receives the
*sum* of their contributions.

Pooling makes the representation **nearly invariant to small translations**: move the input by a pixel
and most max-pooled outputs do not change.

Mirrors ``keras.layers.MaxPooling2D(pool_size=(2, 2), strides=None, padding="valid")`` and
``AveragePooling2D``; Keras has no L2 pooling, so ``L2Pooling2D`` follows the same arguments (L2 pooling:
Goodfellow et al. 9.3; Boureau, Ponce & LeCun, *A Theoretical Analysis of Feature Pooling in Visual
Recognition*, 2010).

>>> import numpy as np
>>> x = np.array([[1.0, 2.0, 5.0, 0.0],
...               [3.0, 4.0, 1.0, 1.0]]).reshape(1, 2, 4, 1)
>>> MaxPooling2D().forward(x)[0, :, :, 0]
array([[4., 5.]], dtype=float32)
>>> AveragePooling2D().forward(x)[0, :, :, 0]
array([[2.5 , 1.75]], dtype=float32)
>>> L2Pooling2D().forward(x)[0, :, :, 0]
array([[5.477226, 5.196152]], dtype=float32)
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from .. import kernels
from ..errors import InvalidInputError
from ..hints import Array, Config, IntPair, Shape, ShapeLike
from .base import Layer, as_pair, check_padding


class Pooling2D(Layer):
    """Shared code of the three pooling layers; ``mode`` is ``"max"``, ``"avg"`` or ``"l2"``.

    Parameters
    ----------
    pool_size : int or (int, int), default (2, 2)
    strides : int or (int, int), default None (= pool_size: windows tile the image)
    padding : "valid" or "same", default "valid"
    """

    mode = None

    def __init__(
        self,
        pool_size: IntPair = (2, 2),
        strides: IntPair | None = None,
        padding: str = "valid",
        data_format: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.pool_size = as_pair(pool_size, f"{type(self).__name__} pool_size")
        self.strides = self.pool_size if strides is None else as_pair(strides, f"{type(self).__name__} strides")
        self.padding = check_padding(padding)
        if data_format not in (None, "channels_last"):
            raise InvalidInputError(f"tinycnn is channels-last only, got data_format={data_format!r}")

    def _geometry(self, hw):
        (oh, ow), pads = kernels.conv_geometry(hw, self.pool_size, self.strides, (1, 1), self.padding)
        if oh <= 0 or ow <= 0:
            raise InvalidInputError(
                f"{self.name}: pool {self.pool_size} is larger than its {hw[0]}x{hw[1]} "
                f"input with padding={self.padding!r}; use a smaller pool or padding='same'"
            )
        return (oh, ow), pads

    def build(self, input_shape: ShapeLike) -> None:
        if len(input_shape) != 4:
            raise InvalidInputError(
                f"{self.name}: pooling expects 4-D input (batch, height, width, channels), "
                f"got shape {tuple(input_shape)}"
            )
        super().build(input_shape)

    def compute_output_shape(self, input_shape: ShapeLike) -> Shape:
        n, h, w, c = input_shape
        if h is None or w is None:
            return (n, None, None, c)
        (oh, ow), _ = self._geometry((h, w))
        return (n, oh, ow, c)

    def forward(self, x: ArrayLike, training: bool = False) -> Array:
        x = self._cast(x)
        _, pads = self._geometry(x.shape[1:3])
        y = kernels.pool2d_forward(x, self.mode, self.pool_size, self.strides, pads)
        self._x, self._y, self._pads = x, y, pads
        return y

    def backward(self, dy: Array) -> Array:
        return kernels.pool2d_backward(dy, self._x, self._y, self.mode, self.pool_size, self.strides, self._pads)

    def get_config(self) -> Config:
        return {**super().get_config(), "pool_size": self.pool_size, "strides": self.strides, "padding": self.padding}


class MaxPooling2D(Pooling2D):
    """Max pooling: the largest value of each window (ties: the first in row-major order wins)."""

    mode = "max"


class AveragePooling2D(Pooling2D):
    """Average pooling: the mean of each window's real (non-padding) cells."""

    mode = "avg"


class L2Pooling2D(Pooling2D):
    """L2-norm pooling: ``sqrt`` of the sum of squares of each window."""

    mode = "l2"


MaxPool2D, AvgPool2D = MaxPooling2D, AveragePooling2D


class Pooling1D(Layer):
    """Shared code of ``MaxPooling1D`` and ``AveragePooling1D``: the 2-D pooling kernels on a height-1 view.

    ``x: (N, L, C) -> y: (N, OL, C)``, ``OL = floor((L - P) / S) + 1`` ("valid") or ``ceil(L / S)`` ("same");
    the equations, the tie rule and the "same" padding rule are those of the 2-D layers above, with a
    ``1 x P`` window on the ``(N, 1, L, C)`` view of the sequence.

    Parameters
    ----------
    pool_size : int, default 2
    strides : int, default None (= pool_size)
    padding : "valid" or "same", default "valid"
    """

    mode = None

    def __init__(
        self,
        pool_size: int | tuple[int] | list[int] = 2,
        strides: int | tuple[int] | list[int] | None = None,
        padding: str = "valid",
        data_format: str | None = None,
        **kwargs: Any,
    ) -> None:
        from .convolutional import as_single

        super().__init__(**kwargs)
        kind = type(self).__name__
        self.pool_size = as_single(pool_size, f"{kind} pool_size")
        self.strides = self.pool_size if strides is None else as_single(strides, f"{kind} strides")
        self.padding = check_padding(padding)
        if data_format not in (None, "channels_last"):
            raise InvalidInputError(f"tinycnn is channels-last only, got data_format={data_format!r}")

    def _geometry(self, length):
        (_, ol), pads = kernels.conv_geometry((1, length), (1, self.pool_size), (1, self.strides), (1, 1), self.padding)
        if ol <= 0:
            raise InvalidInputError(
                f"{self.name}: pool {self.pool_size} is longer than its input of length "
                f"{length} with padding={self.padding!r}; use a smaller pool or padding='same'"
            )
        return ol, pads

    def build(self, input_shape: ShapeLike) -> None:
        if len(input_shape) != 3:
            raise InvalidInputError(
                f"{self.name}: 1-D pooling expects 3-D input (batch, steps, channels), got shape {tuple(input_shape)}"
            )
        super().build(input_shape)

    def compute_output_shape(self, input_shape: ShapeLike) -> Shape:
        n, length, c = input_shape
        return (n, None if length is None else self._geometry(length)[0], c)

    def forward(self, x: ArrayLike, training: bool = False) -> Array:
        x = self._cast(x)
        if x.ndim != 3:
            raise InvalidInputError(
                f"{self.name}: 1-D pooling expects 3-D input (batch, steps, channels), got shape {x.shape}"
            )
        _, pads = self._geometry(x.shape[1])
        self._x4 = x[:, None]
        self._y4 = kernels.pool2d_forward(self._x4, self.mode, (1, self.pool_size), (1, self.strides), pads)
        self._pads = pads
        return self._y4[:, 0]

    def backward(self, dy: Array) -> Array:
        dx = kernels.pool2d_backward(
            np.ascontiguousarray(dy)[:, None],
            self._x4,
            self._y4,
            self.mode,
            (1, self.pool_size),
            (1, self.strides),
            self._pads,
        )
        return dx[:, 0]

    def get_config(self) -> Config:
        return {
            **super().get_config(),
            "pool_size": (self.pool_size,),
            "strides": (self.strides,),
            "padding": self.padding,
        }


class MaxPooling1D(Pooling1D):
    """Max pooling over windows of a sequence, as ``keras.layers.MaxPooling1D(pool_size=2)``."""

    mode = "max"


class AveragePooling1D(Pooling1D):
    """Average pooling over windows of a sequence, as ``keras.layers.AveragePooling1D(pool_size=2)``."""

    mode = "avg"


MaxPool1D, AvgPool1D = MaxPooling1D, AveragePooling1D
