"""Reshaping layers: Flatten, Reshape, ZeroPadding2D, UpSampling2D -- they move values around and have no weights;
each backward sends every ``dy`` back to the input cell(s) its output came from.

Flatten: ``(N, H, W, C) -> (N, H*W*C)``, the bridge from the convolutional feature volume to the Dense
classifier (Goodfellow et al., *Deep Learning*, 9.10 and fig. 9.11), in channels-last (C-order) order, exactly as
Keras flattens,
so the weights of a Keras Dense layer after a Flatten load unchanged. Backward is the inverse reshape::

    y = x.reshape(N, -1)        dx = dy.reshape(x.shape)

tinycnn is channels-last only, so unlike ``keras.layers.Flatten`` it takes no ``data_format`` argument.

>>> import numpy as np
>>> Flatten().forward(np.zeros((2, 7, 7, 64))).shape
(2, 3136)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from ..errors import InvalidArgumentError, InvalidInputError
from ..hints import Array, Config, IntPair, Shape, ShapeLike
from .base import Layer, as_pair


class Flatten(Layer):
    """Reshape every sample to one vector (C order), keeping the batch axis."""

    def compute_output_shape(self, input_shape: ShapeLike) -> Shape:
        rest = input_shape[1:]
        size = None if any(d is None for d in rest) else int(np.prod(rest, dtype=np.int64))
        return (input_shape[0], size)

    def forward(self, x: ArrayLike, training: bool = False) -> Array:
        x = self._cast(x)
        self._shape = x.shape
        return x.reshape(x.shape[0], -1)

    def backward(self, dy: Array) -> Array:
        return dy.reshape(self._shape)


class Reshape(Layer):
    """Reshape every sample to ``target_shape`` (batch axis kept), as ``keras.layers.Reshape``::

        y = x.reshape((N,) + target_shape)        dx = dy.reshape(x.shape)

    One entry of ``target_shape`` may be ``-1``: it is inferred from the sample size, as NumPy does.

    >>> import numpy as np
    >>> Reshape((3, -1)).forward(np.zeros((2, 12))).shape
    (2, 3, 4)
    """

    def __init__(self, target_shape: int | tuple[int, ...] | list[int], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if isinstance(target_shape, (int, np.integer)):
            target_shape = (target_shape,)
        if (
            not isinstance(target_shape, (tuple, list))
            or not all(
                isinstance(d, (int, np.integer)) and not isinstance(d, bool) and (d > 0 or d == -1)
                for d in target_shape
            )
            or list(target_shape).count(-1) > 1
        ):
            raise InvalidArgumentError(
                f"Reshape target_shape must be a tuple of positive ints without the batch "
                f"axis, with at most one -1, got {target_shape!r}"
            )
        self.target_shape = tuple(int(d) for d in target_shape)

    def _resolve(self, sample_shape):
        if any(d is None for d in sample_shape):
            return tuple(None if d == -1 else d for d in self.target_shape)
        size = int(np.prod(sample_shape, dtype=np.int64))
        known = int(np.prod([d for d in self.target_shape if d != -1], dtype=np.int64))
        out = tuple(size // known if d == -1 else d for d in self.target_shape)
        if -1 in self.target_shape and size % known or -1 not in self.target_shape and size != known:
            raise InvalidInputError(
                f"{self.name}: cannot reshape samples of shape {tuple(sample_shape)} ({size} "
                f"values) to {self.target_shape}"
            )
        return out

    def compute_output_shape(self, input_shape: ShapeLike) -> Shape:
        return (input_shape[0],) + self._resolve(tuple(input_shape[1:]))

    def forward(self, x: ArrayLike, training: bool = False) -> Array:
        x = self._cast(x)
        self._shape = x.shape
        return x.reshape((x.shape[0],) + self._resolve(x.shape[1:]))

    def backward(self, dy: Array) -> Array:
        return dy.reshape(self._shape)

    def get_config(self) -> Config:
        return {**super().get_config(), "target_shape": self.target_shape}


def _padding_pairs(padding):
    """Keras's three spellings: ``p``, ``(ph, pw)``, ``((top, bottom), (left, right))``."""

    def ok(v):
        return isinstance(v, (int, np.integer)) and not isinstance(v, bool) and v >= 0

    if ok(padding):
        return ((int(padding),) * 2,) * 2
    if isinstance(padding, (tuple, list)) and len(padding) == 2:
        if all(ok(p) for p in padding):
            return tuple((int(p), int(p)) for p in padding)
        if all(isinstance(p, (tuple, list)) and len(p) == 2 and all(ok(v) for v in p) for p in padding):
            return tuple((int(p[0]), int(p[1])) for p in padding)
    raise InvalidArgumentError(
        f"ZeroPadding2D padding must be an int, (rows, cols) or ((top, bottom), (left, "
        f"right)) of non-negative ints, got {padding!r}"
    )


class ZeroPadding2D(Layer):
    """Zeros around the image, as ``keras.layers.ZeroPadding2D(padding=(1, 1))``::

        y = zeros((N, top + H + bottom, left + W + right, C));  y[:, top:top+H, left:left+W] = x
        dx = dy[:, top:top+H, left:left+W]            (the padded cells lead nowhere)

    >>> import numpy as np
    >>> ZeroPadding2D(((1, 0), (0, 2))).forward(np.ones((1, 2, 2, 1)))[0, :, :, 0]
    array([[0., 0., 0., 0.],
           [1., 1., 0., 0.],
           [1., 1., 0., 0.]], dtype=float32)
    """

    def __init__(
        self,
        padding: int | Sequence[int] | Sequence[Sequence[int]] = (1, 1),
        data_format: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if data_format not in (None, "channels_last"):
            raise InvalidArgumentError(f"tinycnn is channels-last only, got data_format={data_format!r}")
        self.padding = _padding_pairs(padding)

    def compute_output_shape(self, input_shape: ShapeLike) -> Shape:
        if len(input_shape) != 4:
            raise InvalidInputError(
                f"{self.name}: ZeroPadding2D expects 4-D input (batch, height, width, "
                f"channels), got shape {tuple(input_shape)}"
            )
        (t, b), (l, r) = self.padding
        n, h, w, c = input_shape
        return (n, None if h is None else h + t + b, None if w is None else w + l + r, c)

    def forward(self, x: ArrayLike, training: bool = False) -> Array:
        x = self._cast(x)
        self.compute_output_shape(x.shape)
        self._hw = x.shape[1:3]
        return np.pad(x, ((0, 0),) + self.padding + ((0, 0),))

    def backward(self, dy: Array) -> Array:
        (t, _), (l, _) = self.padding
        h, w = self._hw
        return np.ascontiguousarray(dy[:, t : t + h, l : l + w])

    def get_config(self) -> Config:
        return {**super().get_config(), "padding": self.padding, "data_format": "channels_last"}


def _bilinear_matrix(n_in, n_out):
    """``(n_out, n_in)`` weights of TensorFlow's bilinear resize with half-pixel centers (no antialiasing):
    output ``i`` samples the input at ``s = (i + 0.5) * n_in / n_out - 0.5``, mixing cells ``floor(s)`` and
    ``ceil(s)`` (clamped to the image) with weights ``1 - (s - floor(s))`` and ``s - floor(s)``."""
    a = np.zeros((n_out, n_in))
    s = (np.arange(n_out) + 0.5) * (n_in / n_out) - 0.5
    f = np.floor(s)
    lerp = s - f
    lo = np.clip(f, 0, n_in - 1).astype(int)
    hi = np.clip(np.ceil(s), 0, n_in - 1).astype(int)
    np.add.at(a, (np.arange(n_out), lo), 1 - lerp)
    np.add.at(a, (np.arange(n_out), hi), lerp)
    return a


class UpSampling2D(Layer):
    """Enlarge the image by ``size = (SH, SW)``, as ``keras.layers.UpSampling2D(size=(2, 2),
    interpolation="nearest")``.

    ``"nearest"`` repeats each pixel into an ``SH x SW`` block; backward sums ``dy`` over each block::

        y[n, i, j, c] = x[n, i // SH, j // SW, c]      dx[n, p, q, c] = sum_{a<SH, b<SW} dy[n, p*SH + a, q*SW + b, c]

    ``"bilinear"`` is a linear map per axis, ``y = A_h x A_w^T`` (TensorFlow's half-pixel-centre resize, see
    :func:`_bilinear_matrix`); backward is its transpose, ``dx = A_h^T dy A_w``.

    >>> import numpy as np
    >>> UpSampling2D().forward(np.array([1.0, 2.0]).reshape(1, 1, 2, 1))[0, :, :, 0]
    array([[1., 1., 2., 2.],
           [1., 1., 2., 2.]], dtype=float32)
    """

    def __init__(
        self, size: IntPair = (2, 2), data_format: str | None = None, interpolation: str = "nearest", **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        if data_format not in (None, "channels_last"):
            raise InvalidArgumentError(f"tinycnn is channels-last only, got data_format={data_format!r}")
        self.size = as_pair(size, "UpSampling2D size")
        if interpolation not in ("nearest", "bilinear"):
            raise InvalidArgumentError(
                f"UpSampling2D interpolation must be 'nearest' or 'bilinear' in tinycnn, got {interpolation!r}"
            )
        self.interpolation = interpolation

    def compute_output_shape(self, input_shape: ShapeLike) -> Shape:
        if len(input_shape) != 4:
            raise InvalidInputError(
                f"{self.name}: UpSampling2D expects 4-D input (batch, height, width, "
                f"channels), got shape {tuple(input_shape)}"
            )
        n, h, w, c = input_shape
        return (n, None if h is None else h * self.size[0], None if w is None else w * self.size[1], c)

    def forward(self, x: ArrayLike, training: bool = False) -> Array:
        x = self._cast(x)
        self.compute_output_shape(x.shape)
        self._shape = x.shape
        sh, sw = self.size
        if self.interpolation == "nearest":
            return x.repeat(sh, axis=1).repeat(sw, axis=2)
        n, h, w, c = x.shape
        self._ah, self._aw = _bilinear_matrix(h, h * sh), _bilinear_matrix(w, w * sw)
        return np.einsum("ih,nhwc,jw->nijc", self._ah, x, self._aw, optimize=True).astype(self.dtype)

    def backward(self, dy: Array) -> Array:
        n, h, w, c = self._shape
        sh, sw = self.size
        if self.interpolation == "nearest":
            return dy.reshape(n, h, sh, w, sw, c).sum(axis=(2, 4)).astype(self.dtype, copy=False)
        return np.einsum("ih,nijc,jw->nhwc", self._ah, dy, self._aw, optimize=True).astype(self.dtype)

    def get_config(self) -> Config:
        return {
            **super().get_config(),
            "size": self.size,
            "interpolation": self.interpolation,
            "data_format": "channels_last",
        }
