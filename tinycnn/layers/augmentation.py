"""Random augmentation layers (Keras 3): ``RandomFlip``, ``RandomTranslation``, ``RandomRotation``, ``RandomZoom``.

Put in front of a model, they show it a differently transformed batch at every training step and are the
identity otherwise (``training=False``: ``evaluate``, ``predict``), as in Keras 3::

    model = Sequential([Input((28, 28, 1)), RandomFlip("horizontal"), RandomRotation(0.05),
                        RandomZoom(0.1), Conv2D(32, 3, activation="relu"), ...])

Each training ``forward`` draws one transformation per image (``seed=`` makes the draws reproducible).

The warps
---------
``RandomTranslation``, ``RandomRotation`` and ``RandomZoom`` resample the image through an affine map from
output pixel ``p = (row, col)`` to input position ``q = M p + t`` (SciPy's ``ndimage.affine_transform``),
``y[p] = sum_j w_j(q) x[j]`` over the 4 pixels around ``q`` (``interpolation="bilinear"``) or the nearest
one (``"nearest"``). Factors are Keras 3's: fractions of the height / width (translation, zoom) or of a full
turn (rotation); a float ``f`` means the range ``(-f, f)``, a pair ``(lower, upper)`` that range:

* translation: ``q = p - (dy, dx)``, ``dy ~ U(height_factor) * H``: positive moves the picture down / right;
* rotation: by ``theta ~ U(factor) * 360`` degrees about the centre, positive counter-clockwise;
* zoom: ``q = c + z (p - c)`` per axis, ``z = 1 + U(factor)``: positive zooms out (the picture shrinks),
  ``width_factor=None`` uses the height's zoom for both axes (keeps the aspect ratio).

Pixels that fall outside are filled by ``fill_mode``: ``"reflect"`` (Keras's default, ``dcba|abcd|dcba``),
``"wrap"`` (``abcd|abcd|abcd``; Keras's TensorFlow kernel differs from it on sub-pixel border positions),
``"nearest"`` (``aaaa|abcd|dddd``) or ``"constant"`` (``fill_value``).

Backward
--------
``y = A x (+ fill_value * b for "constant")`` is linear in ``x`` for a fixed draw, so ``dx = A^T dy``: each
output pixel's gradient is sent back to the input pixels it was read from, with the same weights. ``A`` is
built here as a sparse matrix from the same interpolation weights and boundary rules SciPy uses (the tests
check ``A x`` against SciPy's output), so the backward pass is the exact adjoint of the forward pass, every
fill mode included. For ``RandomFlip``, ``dx`` is ``dy`` flipped back. When the layer is a model's first
layer, nothing asks for ``dx`` (see :mod:`tinycnn.layers.base`) and none is computed.

>>> import numpy as np
>>> x = np.arange(16, dtype=np.float32).reshape(1, 4, 4, 1)
>>> flip = RandomFlip("horizontal", seed=0)
>>> flip.forward(x, training=False) is not None and np.array_equal(flip.forward(x), x)  # inference: identity
True
>>> shift = RandomTranslation((0.25, 0.25), (0, 0), fill_mode="constant")  # always one row down
>>> shift.forward(x, training=True)[0, :, :, 0]
array([[ 0.,  0.,  0.,  0.],
       [ 0.,  1.,  2.,  3.],
       [ 4.,  5.,  6.,  7.],
       [ 8.,  9., 10., 11.]], dtype=float32)
"""

from __future__ import annotations

import numbers
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import ArrayLike

from ..errors import InvalidArgumentError, InvalidInputError
from ..hints import Array, Config, ShapeLike
from .base import Layer

if TYPE_CHECKING:
    from scipy.sparse import csr_matrix

#: Keras's factor arguments: ``f`` (the range ``(-f, f)``) or a pair ``(lower, upper)``.
FactorLike = float | tuple[float, float] | list[float]

__all__ = ["RandomFlip", "RandomTranslation", "RandomRotation", "RandomZoom", "warp_matrix"]

#: Keras 3's ``fill_mode`` -> SciPy's ``mode`` with the same picture of the border.
_SCIPY_MODES = {"reflect": "reflect", "wrap": "grid-wrap", "nearest": "nearest", "constant": "grid-constant"}
_ORDERS = {"bilinear": 1, "nearest": 0}


def _factor_range(value, name, symmetric_min=None):
    """Keras's factor argument: ``f -> (-f, f)``; ``(lower, upper)`` as given."""
    if isinstance(value, numbers.Real) and not isinstance(value, bool):
        if value < 0:
            raise InvalidArgumentError(f"{name} must be >= 0 when a single number, got {value!r}")
        lower, upper = -float(value), float(value)
    elif (
        isinstance(value, (tuple, list))
        and len(value) == 2
        and all(isinstance(v, numbers.Real) and not isinstance(v, bool) for v in value)
    ):
        lower, upper = float(value[0]), float(value[1])
    else:
        raise InvalidArgumentError(f"{name} must be a float or a pair (lower, upper), got {value!r}")
    if lower > upper:
        raise InvalidArgumentError(f"{name}: lower bound {lower} is above upper bound {upper}")
    if symmetric_min is not None and lower < symmetric_min:
        raise InvalidArgumentError(f"{name}: lower bound must be >= {symmetric_min}, got {lower}")
    return lower, upper


def _fold(index, n, mode):
    """Where SciPy reads index ``index`` of an axis of length ``n`` (-1 where ``grid-constant`` reads ``cval``)."""
    if mode == "nearest":
        return np.clip(index, 0, n - 1)
    if mode == "grid-wrap":
        return np.mod(index, n)
    if mode == "reflect":  # half-sample symmetric: ... 1 0 | 0 1 ... n-1 | n-1 n-2 ...
        j = np.mod(index, 2 * n)
        return np.where(j >= n, 2 * n - 1 - j, j)
    return np.where((index >= 0) & (index < n), index, -1)


def warp_matrix(matrix: ArrayLike, offset: ArrayLike, shape: tuple[int, int], mode: str, order: int) -> csr_matrix:
    """The sparse ``(h*w, h*w)`` matrix ``A`` of one warp: ``A @ x.ravel()`` is SciPy's
    ``ndimage.affine_transform(x, matrix, offset, order=order, mode=mode)`` for ``x`` of ``shape`` ``(h, w)``,
    with ``cval = 0`` (for ``grid-constant`` the fill adds ``cval * (1 - A.sum(axis=1))``).

    Parameters
    ----------
    matrix : (2, 2) array; offset : (2,) array
        Output ``(row, col)`` -> input position, as SciPy takes them.
    shape : (h, w)
    mode : a SciPy mode among ``reflect, grid-wrap, nearest, grid-constant``
    order : 0 (nearest pixel) or 1 (bilinear)
    """
    h, w = shape
    rows, cols = np.meshgrid(np.arange(h), np.arange(w), indexing="ij")
    q = np.asarray(matrix) @ np.stack([rows.ravel(), cols.ravel()]).astype(np.float64) + np.asarray(offset)[:, None]
    out_index = np.arange(h * w)
    if order == 0:
        # SciPy rounds half away from zero... for the sample positions it meets; floor(q + 0.5) for q >= 0
        r = np.floor(q[0] + 0.5).astype(np.int64)
        c = np.floor(q[1] + 0.5).astype(np.int64)
        taps = [(r, c, np.ones(h * w))]
    else:
        r0, c0 = np.floor(q[0]).astype(np.int64), np.floor(q[1]).astype(np.int64)
        tr, tc = q[0] - r0, q[1] - c0
        taps = [
            (r0, c0, (1 - tr) * (1 - tc)),
            (r0, c0 + 1, (1 - tr) * tc),
            (r0 + 1, c0, tr * (1 - tc)),
            (r0 + 1, c0 + 1, tr * tc),
        ]
    data, row_ids, col_ids = [], [], []
    for r, c, weight in taps:
        fr, fc = _fold(r, h, mode), _fold(c, w, mode)
        keep = (fr >= 0) & (fc >= 0) & (weight != 0)
        data.append(weight[keep])
        row_ids.append(out_index[keep])
        col_ids.append((fr * w + fc)[keep])
    from scipy import sparse  # here, not at import: SciPy brings its own BLAS thread pool

    return sparse.csr_matrix(
        (np.concatenate(data), (np.concatenate(row_ids), np.concatenate(col_ids))), shape=(h * w, h * w)
    )


class _RandomWarp(Layer):
    """Shared machinery of the three warps: draw per image, warp with SciPy, backward through ``A^T``."""

    def __init__(
        self,
        fill_mode: str = "reflect",
        interpolation: str = "bilinear",
        seed: int | None = None,
        fill_value: float = 0.0,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if fill_mode not in _SCIPY_MODES:
            raise InvalidArgumentError(
                f"{self.name}: fill_mode must be one of {', '.join(_SCIPY_MODES)}, got {fill_mode!r}"
            )
        if interpolation not in _ORDERS:
            raise InvalidArgumentError(
                f"{self.name}: interpolation must be 'bilinear' or 'nearest', got {interpolation!r}"
            )
        self.fill_mode, self.interpolation, self.fill_value, self.seed = fill_mode, interpolation, fill_value, seed
        self._rng = np.random.default_rng(seed)
        self._warps = None

    def build(self, input_shape: ShapeLike) -> None:
        if len(input_shape) != 4:
            raise InvalidInputError(
                f"{self.name}: expects images (batch, height, width, channels), got input shape {tuple(input_shape)}"
            )
        super().build(input_shape)

    def _draw(self, h, w):
        """One warp: (matrix (2, 2), offset (2,)) from output (row, col) to input position."""
        raise NotImplementedError

    @staticmethod
    def _about_centre(linear, h, w):
        """The map ``q = c + linear (p - c)`` about the image centre ``c``, as (matrix, offset)."""
        centre = np.array([(h - 1) / 2, (w - 1) / 2])
        return linear, centre - linear @ centre

    def forward(self, x: ArrayLike, training: bool = False) -> Array:
        x = self._cast(x)
        if not self.built:
            self.build(x.shape)
        if x.ndim != 4:
            raise InvalidInputError(f"{self.name}: expects images (batch, height, width, channels), got {x.shape}")
        self._warps = None
        if not training:
            return x
        n, h, w, c = x.shape
        mode, order = _SCIPY_MODES[self.fill_mode], _ORDERS[self.interpolation]
        y = np.empty_like(x)
        self._warps = []
        from scipy import ndimage  # here, not at import (SciPy's thread pool)

        for i in range(n):
            matrix, offset = self._draw(h, w)
            self._warps.append((matrix, offset))
            full = np.eye(3)  # the channel axis is carried along unchanged
            full[:2, :2] = matrix
            y[i] = ndimage.affine_transform(
                x[i], full, np.r_[offset, 0.0], order=order, mode=mode, cval=self.fill_value
            )
        self._shape = x.shape
        return y

    def backward(self, dy: ArrayLike) -> Array | None:
        if self._warps is None:  # inference: the identity
            return dy
        if not self.input_gradient:
            return None
        n, h, w, c = self._shape
        dy = np.asarray(dy, dtype=self.dtype).reshape(n, h * w, c)
        dx = np.empty_like(dy)
        mode, order = _SCIPY_MODES[self.fill_mode], _ORDERS[self.interpolation]
        for i, (matrix, offset) in enumerate(self._warps):
            dx[i] = warp_matrix(matrix, offset, (h, w), mode, order).T @ dy[i]
        return dx.reshape(n, h, w, c)

    def get_config(self) -> Config:
        return {
            **super().get_config(),
            "fill_mode": self.fill_mode,
            "interpolation": self.interpolation,
            "seed": self.seed,
            "fill_value": self.fill_value,
        }


class RandomTranslation(_RandomWarp):
    """Shift each image by ``dy ~ U(height_factor) * H`` rows and ``dx ~ U(width_factor) * W`` columns
    (positive: down / right), as ``keras.layers.RandomTranslation``."""

    def __init__(
        self,
        height_factor: FactorLike,
        width_factor: FactorLike,
        fill_mode: str = "reflect",
        interpolation: str = "bilinear",
        seed: int | None = None,
        fill_value: float = 0.0,
        **kwargs: Any,
    ) -> None:
        super().__init__(fill_mode, interpolation, seed, fill_value, **kwargs)
        self.height_factor = _factor_range(height_factor, "height_factor")
        self.width_factor = _factor_range(width_factor, "width_factor")

    def _draw(self, h, w):
        dy = self._rng.uniform(*self.height_factor) * h
        dx = self._rng.uniform(*self.width_factor) * w
        return np.eye(2), np.array([-dy, -dx])

    def get_config(self) -> Config:
        return {**super().get_config(), "height_factor": self.height_factor, "width_factor": self.width_factor}


class RandomRotation(_RandomWarp):
    """Rotate each image by ``U(factor) * 360`` degrees about its centre (positive: counter-clockwise), as
    ``keras.layers.RandomRotation``."""

    def __init__(
        self,
        factor: FactorLike,
        fill_mode: str = "reflect",
        interpolation: str = "bilinear",
        seed: int | None = None,
        fill_value: float = 0.0,
        **kwargs: Any,
    ) -> None:
        super().__init__(fill_mode, interpolation, seed, fill_value, **kwargs)
        self.factor = _factor_range(factor, "factor")

    def _draw(self, h, w):
        theta = np.deg2rad(self._rng.uniform(*self.factor) * 360.0)
        cos, sin = np.cos(theta), np.sin(theta)
        # Rows point down, so in (row, col) this matrix reads each output pixel from the input turned the
        # other way: the picture turns counter-clockwise for theta > 0 (checked against Keras in the tests).
        return self._about_centre(np.array([[cos, sin], [-sin, cos]]), h, w)

    def get_config(self) -> Config:
        return {**super().get_config(), "factor": self.factor}


class RandomZoom(_RandomWarp):
    """Zoom each image by ``1 + U(height_factor)`` vertically and ``1 + U(width_factor)`` horizontally
    (positive: zoom out; ``width_factor=None``: the same for both), as ``keras.layers.RandomZoom``."""

    def __init__(
        self,
        height_factor: FactorLike,
        width_factor: FactorLike | None = None,
        fill_mode: str = "reflect",
        interpolation: str = "bilinear",
        seed: int | None = None,
        fill_value: float = 0.0,
        **kwargs: Any,
    ) -> None:
        super().__init__(fill_mode, interpolation, seed, fill_value, **kwargs)
        self.height_factor = _factor_range(height_factor, "height_factor", symmetric_min=-1.0)
        self.width_factor = (
            None if width_factor is None else _factor_range(width_factor, "width_factor", symmetric_min=-1.0)
        )

    def _draw(self, h, w):
        zy = 1.0 + self._rng.uniform(*self.height_factor)
        zx = zy if self.width_factor is None else 1.0 + self._rng.uniform(*self.width_factor)
        return self._about_centre(np.diag([zy, zx]), h, w)

    def get_config(self) -> Config:
        return {**super().get_config(), "height_factor": self.height_factor, "width_factor": self.width_factor}


class RandomFlip(Layer):
    """Mirror each image with probability 1/2 per allowed axis, as ``keras.layers.RandomFlip``.

    ``mode``: ``"horizontal"`` (left-right), ``"vertical"`` (up-down) or ``"horizontal_and_vertical"`` (each
    independently; Keras's default). ``dx`` is ``dy`` flipped back with the same draws (a flip is its own
    inverse and its own adjoint).
    """

    MODES = ("horizontal", "vertical", "horizontal_and_vertical")

    def __init__(self, mode: str = "horizontal_and_vertical", seed: int | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if mode not in self.MODES:
            raise InvalidArgumentError(f"{self.name}: mode must be one of {', '.join(self.MODES)}, got {mode!r}")
        self.mode, self.seed = mode, seed
        self._rng = np.random.default_rng(seed)
        self._flips = None

    def build(self, input_shape: ShapeLike) -> None:
        if len(input_shape) != 4:
            raise InvalidInputError(
                f"{self.name}: expects images (batch, height, width, channels), got input shape {tuple(input_shape)}"
            )
        super().build(input_shape)

    def _apply(self, x, flips):
        lr, ud = flips
        y = x.copy()
        y[lr] = y[lr][:, :, ::-1]
        y[ud] = y[ud][:, ::-1]
        return y

    def forward(self, x: ArrayLike, training: bool = False) -> Array:
        x = self._cast(x)
        if not self.built:
            self.build(x.shape)
        self._flips = None
        if not training:
            return x
        n = x.shape[0]
        lr = self._rng.random(n) < 0.5 if self.mode != "vertical" else np.zeros(n, bool)
        ud = self._rng.random(n) < 0.5 if self.mode != "horizontal" else np.zeros(n, bool)
        self._flips = (lr, ud)
        return self._apply(x, self._flips)

    def backward(self, dy: ArrayLike) -> Array | None:
        if self._flips is None:
            return dy
        if not self.input_gradient:
            return None
        return self._apply(np.asarray(dy, dtype=self.dtype), self._flips)

    def get_config(self) -> Config:
        return {**super().get_config(), "mode": self.mode, "seed": self.seed}
