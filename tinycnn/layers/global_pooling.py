"""Global pooling: one number per channel, summarizing the whole feature map (Lin, Chen & Yan, *Network In
Network*, 2014, sec. 3.2; Goodfellow et al., *Deep Learning*, 9.3).

A global pool is a pool whose window is the whole input, so it replaces ``Flatten`` before the classifier with
something that has no parameters and does not care about the image size::

    average:  y[n, c] = (1 / M) sum_{i, j} x[n, i, j, c]        M = H * W (2-D) or L (1-D)
    max:      y[n, c] = max_{i, j} x[n, i, j, c]

    GlobalAveragePooling2D / GlobalMaxPooling2D:  x (N, H, W, C) -> y (N, C)   (N, 1, 1, C) with keepdims=True
    GlobalAveragePooling1D / GlobalMaxPooling1D:  x (N, L, C)    -> y (N, C)   (N, 1, C)    with keepdims=True

Backward (``dy`` of shape ``(N, C)``):

* **average** spreads ``dy / M`` over every position of the map;
* **max** sends ``dy`` to the position(s) of the maximum. With **ties**, Keras's ``ops.max`` (TensorFlow's
  ``reduce_max``) splits ``dy`` *equally* among the tied cells; tinycnn does the same (note: this differs
  from :class:`~tinycnn.layers.MaxPooling2D`, where the first maximum takes all, as TensorFlow's pooling does).

Mirrors ``keras.layers.GlobalAveragePooling2D(data_format=None, keepdims=False)`` and its siblings
(aliases ``GlobalAvgPool2D``, ``GlobalMaxPool2D``, ``GlobalAvgPool1D``, ``GlobalMaxPool1D``). No weights.

>>> import numpy as np
>>> x = np.arange(8, dtype=float).reshape(1, 2, 2, 2)     # channel 0: 0 2 4 6, channel 1: 1 3 5 7
>>> GlobalAveragePooling2D().forward(x)
array([[3., 4.]], dtype=float32)
>>> GlobalMaxPooling2D(keepdims=True).forward(x).shape
(1, 1, 1, 2)
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from ..errors import InvalidArgumentError, InvalidInputError
from ..hints import Array, Config, Shape, ShapeLike
from .base import Layer


class GlobalPooling(Layer):
    """Shared code: reduce over the spatial ``axes`` (``(1, 2)`` for 2-D input, ``(1,)`` for 1-D)."""

    rank = None  # spatial axes: 1 or 2
    mode = None  # "avg" or "max"

    def __init__(self, data_format: str | None = None, keepdims: bool = False, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if data_format not in (None, "channels_last"):
            raise InvalidArgumentError(f"tinycnn is channels-last only, got data_format={data_format!r}")
        if not isinstance(keepdims, (bool, np.bool_)):
            raise InvalidArgumentError(f"{type(self).__name__} keepdims must be True or False, got {keepdims!r}")
        self.keepdims = bool(keepdims)
        self._axes = tuple(range(1, self.rank + 1))

    def _check(self, shape):
        if len(shape) != self.rank + 2:
            what = "(batch, height, width, channels)" if self.rank == 2 else "(batch, steps, channels)"
            raise InvalidInputError(
                f"{self.name}: {type(self).__name__} expects {self.rank + 2}-D input {what}, got shape {tuple(shape)}"
            )

    def build(self, input_shape: ShapeLike) -> None:
        self._check(input_shape)
        super().build(input_shape)

    def compute_output_shape(self, input_shape: ShapeLike) -> Shape:
        self._check(input_shape)
        n, c = input_shape[0], input_shape[-1]
        return (n,) + (1,) * self.rank + (c,) if self.keepdims else (n, c)

    def forward(self, x: ArrayLike, training: bool = False) -> Array:
        x = self._cast(x)
        self._check(x.shape)
        self._x = x
        if self.mode == "avg":
            y = x.mean(axis=self._axes, keepdims=True, dtype=np.float64).astype(self.dtype)
        else:
            y = x.max(axis=self._axes, keepdims=True)
        self._y = y
        return y if self.keepdims else y.reshape(x.shape[0], x.shape[-1])

    def backward(self, dy: ArrayLike) -> Array:
        x = self._x
        dy = np.asarray(dy).reshape(self._y.shape)  # (N, 1, [1,] C): broadcasts over the map
        if self.mode == "avg":
            m = int(np.prod([x.shape[a] for a in self._axes]))
            return np.broadcast_to(dy / m, x.shape).astype(self.dtype)
        winners = x == self._y
        return (winners * (dy / winners.sum(axis=self._axes, keepdims=True))).astype(self.dtype)

    def get_config(self) -> Config:
        return {**super().get_config(), "data_format": "channels_last", "keepdims": self.keepdims}


class GlobalAveragePooling2D(GlobalPooling):
    """Mean of each channel over the height and width: ``(N, H, W, C) -> (N, C)``."""

    rank, mode = 2, "avg"


class GlobalMaxPooling2D(GlobalPooling):
    """Max of each channel over the height and width: ``(N, H, W, C) -> (N, C)``."""

    rank, mode = 2, "max"


class GlobalAveragePooling1D(GlobalPooling):
    """Mean of each channel over the steps: ``(N, L, C) -> (N, C)``."""

    rank, mode = 1, "avg"


class GlobalMaxPooling1D(GlobalPooling):
    """Max of each channel over the steps: ``(N, L, C) -> (N, C)``."""

    rank, mode = 1, "max"


GlobalAvgPool2D, GlobalMaxPool2D = GlobalAveragePooling2D, GlobalMaxPooling2D
GlobalAvgPool1D, GlobalMaxPool1D = GlobalAveragePooling1D, GlobalMaxPooling1D
