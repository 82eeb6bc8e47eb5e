"""Weight initializers with Keras's names and fan rules.

For a Dense kernel ``(in, out)``: ``fan_in = in``, ``fan_out = out``. For a Conv2D kernel
``(KH, KW, C, F)``: ``fan_in = KH*KW*C``, ``fan_out = KH*KW*F`` (Keras's ``compute_fans``).

* ``glorot_uniform`` (Keras default): ``U(-l, l)`` with ``l = sqrt(6 / (fan_in + fan_out))``
  (Glorot & Bengio 2010).
* ``he_normal``: ``N(0, 2 / fan_in)`` truncated at two standard deviations (He et al. 2015).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Union

import numpy as np
from numpy.typing import ArrayLike

from .errors import InvalidArgumentError
from .hints import Array

#: What ``kernel_initializer=`` takes: a Keras name (``"glorot_uniform"``) or a callable ``shape -> array``.
InitializerLike = Union[str, Callable[[tuple[int, ...]], ArrayLike]]

_rng = {"gen": np.random.default_rng()}


def set_seed(seed: int | None) -> None:
    """Seed the generator that every initializer draws from (called by ``utils.set_random_seed``)."""
    _rng["gen"] = np.random.default_rng(seed)


def _gen():
    return _rng["gen"]


def compute_fans(shape: Sequence[int]) -> tuple[int, int]:
    """``(fan_in, fan_out)`` of a weight shape, as Keras computes them."""
    shape = tuple(shape)
    if len(shape) < 1:
        return 1, 1
    if len(shape) == 1:
        return shape[0], shape[0]
    if len(shape) == 2:
        return shape[0], shape[1]
    receptive = int(np.prod(shape[:-2]))
    return shape[-2] * receptive, shape[-1] * receptive


def _truncated_normal(shape, std):
    g = _gen()
    out = g.normal(0.0, std, size=shape)
    bad = np.abs(out) > 2 * std
    while bad.any():
        out[bad] = g.normal(0.0, std, size=int(bad.sum()))
        bad = np.abs(out) > 2 * std
    return out


def zeros(shape: Sequence[int]) -> Array:
    return np.zeros(shape)


def ones(shape: Sequence[int]) -> Array:
    return np.ones(shape)


def glorot_uniform(shape: Sequence[int]) -> Array:
    fan_in, fan_out = compute_fans(shape)
    limit = np.sqrt(6.0 / (fan_in + fan_out))
    return _gen().uniform(-limit, limit, size=shape)


def glorot_normal(shape: Sequence[int]) -> Array:
    fan_in, fan_out = compute_fans(shape)
    return _truncated_normal(shape, np.sqrt(2.0 / (fan_in + fan_out)) / 0.87962566103423978)


def he_uniform(shape: Sequence[int]) -> Array:
    fan_in, _ = compute_fans(shape)
    limit = np.sqrt(6.0 / fan_in)
    return _gen().uniform(-limit, limit, size=shape)


def he_normal(shape: Sequence[int]) -> Array:
    fan_in, _ = compute_fans(shape)
    return _truncated_normal(shape, np.sqrt(2.0 / fan_in) / 0.87962566103423978)


def random_normal(shape: Sequence[int]) -> Array:
    return _gen().normal(0.0, 0.05, size=shape)


def random_uniform(shape: Sequence[int]) -> Array:
    return _gen().uniform(-0.05, 0.05, size=shape)


_ALL = {
    "zeros": zeros,
    "ones": ones,
    "glorot_uniform": glorot_uniform,
    "glorot_normal": glorot_normal,
    "he_uniform": he_uniform,
    "he_normal": he_normal,
    "random_normal": random_normal,
    "random_uniform": random_uniform,
}


def get(identifier: InitializerLike) -> Callable[[tuple[int, ...]], ArrayLike]:
    """An initializer from its Keras name (or a callable ``shape -> array``)."""
    if callable(identifier):
        return identifier
    if isinstance(identifier, str) and identifier.lower() in _ALL:
        return _ALL[identifier.lower()]
    raise InvalidArgumentError(f"unknown initializer {identifier!r}; valid names: {sorted(_ALL)}")
