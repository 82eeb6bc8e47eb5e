"""Dropout (Srivastava et al., *Dropout: A Simple Way to Prevent Neural Networks from Overfitting*, 2014).

*Inverted* dropout, as Keras does it. In training, each unit is kept with probability ``1 - rate`` and the
kept ones are scaled up, so the expected output equals the input and inference needs no rescaling::

    mask = (u >= rate) / (1 - rate),   u ~ Uniform[0, 1)      same shape as x (any rank, 4-D included)
    y    = x * mask                    (training)             y = x   (inference)
    dx   = dy * mask                   (the same mask as the forward pass)

Mirrors ``keras.layers.Dropout(rate, noise_shape=None, seed=None)``. ``noise_shape`` draws one mask value
for a whole axis: ``noise_shape=(None, 1, 1, C)`` on ``(N, H, W, C)`` input drops entire channels
(spatial dropout); ``None`` entries take the input's size. ``seed`` makes the masks reproducible. ``fixed_mask``
(an array or ``None``) replaces the random draw;
gradient checks use it, since a finite difference needs the same mask on every forward pass.

>>> import numpy as np
>>> layer = Dropout(0.5, seed=0)
>>> y = layer.forward(np.ones((1000, 10)), training=True)
>>> sorted(set(np.unique(y).tolist()))          # kept units are scaled by 1 / (1 - 0.5)
[0.0, 2.0]
>>> layer.forward(np.ones((2, 3))).tolist()     # inference: the identity
[[1.0, 1.0, 1.0], [1.0, 1.0, 1.0]]
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from .. import validation
from ..errors import InvalidArgumentError, InvalidInputError
from ..hints import Array, Config, ShapeLike
from .base import Layer


class Dropout(Layer):
    """Inverted dropout: in training, zero each unit with probability ``rate`` and scale the rest by
    ``1 / (1 - rate)``; in inference, the identity. ``rate`` must be in ``[0, 1)``."""

    def __init__(
        self,
        rate: float,
        noise_shape: tuple[int | None, ...] | list[int | None] | None = None,
        seed: int | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.rate = float(validation.check_number(rate, "Dropout rate", None, low=0, high=1, high_open=True))
        if noise_shape is not None:
            if not isinstance(noise_shape, (tuple, list)) or not all(
                n is None or (validation._as_real(n) is not None and isinstance(validation._as_real(n), int) and n >= 1)
                for n in noise_shape
            ):
                raise InvalidArgumentError(
                    f"Dropout noise_shape must be a tuple of positive ints or None (one per "
                    f"input axis, batch included), got {noise_shape!r}"
                )
            noise_shape = tuple(None if n is None else int(n) for n in noise_shape)
        self.noise_shape = noise_shape
        self.seed = seed
        self._rng = np.random.default_rng(seed) if seed is not None else None
        self.fixed_mask = None
        self._mask = None

    def build(self, input_shape: ShapeLike) -> None:
        if self.noise_shape is not None:
            self._check_noise_shape(tuple(input_shape))
        super().build(input_shape)

    def _check_noise_shape(self, shape):
        """Keras's rule: ``noise_shape`` has one entry per input axis, each None, 1 or the axis's size (the
        mask is broadcast against the input)."""
        fits = len(self.noise_shape) == len(shape) and all(
            n is None or n == 1 or s is None or n == s for n, s in zip(self.noise_shape, shape)
        )
        if not fits:
            raise InvalidInputError(
                f"{self.name}: Dropout noise_shape={self.noise_shape} does not fit inputs of "
                f"shape {shape}: give one entry per axis, each None (the input's size), 1 (one "
                f"mask value shared along the axis) or the axis's size, e.g. "
                f"{(None,) + (1,) * (len(shape) - 2) + (shape[-1],)}"
            )

    def forward(self, x: ArrayLike, training: bool = False) -> Array:
        x = self._cast(x)
        if self.noise_shape is not None:
            self._check_noise_shape(x.shape)
        if not training or self.rate == 0.0:
            self._mask = None
            return x
        if self.fixed_mask is not None:
            mask = np.asarray(self.fixed_mask, dtype=self.dtype)
        else:
            shape = (
                x.shape
                if self.noise_shape is None
                else tuple(s if n is None else n for s, n in zip(x.shape, self.noise_shape))
            )
            u = (self._rng if self._rng is not None else np.random).random(shape)
            mask = ((u >= self.rate) / (1.0 - self.rate)).astype(self.dtype)
        self._mask = mask
        return x * mask

    def backward(self, dy: Array) -> Array:
        return dy if self._mask is None else (dy * self._mask).astype(self.dtype, copy=False)

    def get_config(self) -> Config:
        return {**super().get_config(), "rate": self.rate, "noise_shape": self.noise_shape, "seed": self.seed}
