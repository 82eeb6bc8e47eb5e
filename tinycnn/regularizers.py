"""Weight penalties, as ``keras.regularizers``: ``L1``, ``L2``, ``L1L2`` (Goodfellow et al., *Deep Learning*,
7.1).

A regularizer adds a penalty ``Omega(w)`` of a weight to the loss the optimizer minimizes; Keras adds every
layer's penalties (``model.losses``) to the batch loss it reports and differentiates::

    L1:    Omega(w) = l1 * sum |w|             dOmega/dw = l1 * sign(w)     (0 at w == 0, as TensorFlow)
    L2:    Omega(w) = l2 * sum w^2             dOmega/dw = 2 * l2 * w       ("weight decay": note the 2,
                                                                             there is no 1/2 in Keras's L2)
    L1L2:  Omega(w) = l1 * sum |w| + l2 * sum w^2

The penalty does not depend on the batch: it is added once per step, not per sample.

Keras defaults: ``L1(l1=0.01)``, ``L2(l2=0.01)``, ``L1L2(l1=0.0, l2=0.0)``; the strings ``"l1"``, ``"l2"``
and ``"l1_l2"`` give ``L1()``, ``L2()`` and ``L1L2(0.01, 0.01)``.

Layers that take ``kernel_regularizer=`` / ``bias_regularizer=`` (Dense, Conv1D, Conv2D) keep them in
``layer.regularizers = {param_name: regularizer}``. The training loop calls :func:`penalty` for the loss it
reports and :func:`add_gradients` after the backward pass.

>>> import numpy as np
>>> w = np.array([[1.0, -2.0], [0.0, 3.0]])
>>> L2(0.5)(w), L1(0.5)(w), L1L2(l1=0.5, l2=0.5)(w)
(7.0, 3.0, 10.0)
>>> L2(0.5).gradient(w)
array([[ 1., -2.],
       [ 0.,  3.]])
>>> get("l1_l2").get_config()
{'l1': 0.01, 'l2': 0.01}
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any, Union

import numpy as np
from numpy.typing import ArrayLike

from .errors import InvalidArgumentError
from .hints import Array, Config

if TYPE_CHECKING:
    from .layers.base import Layer


def _factor(value, name):
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float, np.integer, np.floating))
        or not math.isfinite(value)
        or value < 0
    ):
        raise InvalidArgumentError(f"regularizer {name} must be a non-negative finite number, got {value!r}")
    return float(value)


class Regularizer:
    """Base class: ``regularizer(w)`` is the penalty (a float), ``gradient(w)`` its derivative (w's shape)."""

    def __call__(self, w: ArrayLike) -> float:
        return 0.0

    def gradient(self, w: ArrayLike) -> Array:
        return np.zeros_like(w)

    def get_config(self) -> Config:
        raise NotImplementedError(f"{type(self).__name__} does not implement get_config()")

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> Regularizer:
        return cls(**config)

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"


class L1L2(Regularizer):
    """``l1 * sum|w| + l2 * sum w^2``; both factors default to 0 (``"l1_l2"`` means 0.01 and 0.01)."""

    def __init__(self, l1: float | None = 0.0, l2: float | None = 0.0) -> None:
        self.l1 = _factor(0.0 if l1 is None else l1, "l1")
        self.l2 = _factor(0.0 if l2 is None else l2, "l2")

    def __call__(self, w: ArrayLike) -> float:
        w = np.asarray(w, dtype=np.float64)
        total = 0.0
        if self.l1:
            total += self.l1 * float(np.abs(w).sum())
        if self.l2:
            total += self.l2 * float((w * w).sum())
        return total

    def gradient(self, w: ArrayLike) -> Array:
        w = np.asarray(w)
        g = np.zeros_like(w)
        if self.l1:
            g = g + self.l1 * np.sign(w)
        if self.l2:
            g = g + 2.0 * self.l2 * w
        return g.astype(w.dtype, copy=False)

    def get_config(self) -> Config:
        return {"l1": self.l1, "l2": self.l2}


class L1(L1L2):
    """``l1 * sum|w|`` (default ``l1=0.01``); drives small weights to exactly zero (sparsity)."""

    def __init__(self, l1: float | None = 0.01) -> None:
        super().__init__(l1=0.01 if l1 is None else l1)

    def get_config(self) -> Config:
        return {"l1": self.l1}


class L2(L1L2):
    """``l2 * sum w^2`` (default ``l2=0.01``); shrinks every weight in proportion to its size."""

    def __init__(self, l2: float | None = 0.01) -> None:
        super().__init__(l2=0.01 if l2 is None else l2)

    def get_config(self) -> Config:
        return {"l2": self.l2}


def l1_l2(l1: float | None = 0.01, l2: float | None = 0.01) -> L1L2:
    """Keras 2's helper: ``L1L2(l1, l2)`` with both defaults 0.01."""
    return L1L2(l1=l1, l2=l2)


l1, l2 = L1, L2

_BY_NAME = {"l1": L1, "l2": L2, "l1_l2": l1_l2, "l1l2": L1L2, "L1": L1, "L2": L2, "L1L2": L1L2}


#: What ``kernel_regularizer=`` takes: ``None``, a name (``"l2"``), a :class:`Regularizer` or its class, or a config
#: dict.
RegularizerLike = Union[str, Regularizer, type[Regularizer], dict[str, Any], None]


def get(identifier: RegularizerLike) -> Regularizer | None:
    """A regularizer from ``None``, a name (``"l1"``, ``"l2"``, ``"l1_l2"``, ``"L2"`` ...), an instance, a config
    dict (``{"class_name": "L2", "config": {"l2": 0.01}}`` or ``{"l2": 0.01}``), or a class."""
    if identifier is None or isinstance(identifier, Regularizer):
        return identifier
    if isinstance(identifier, type) and issubclass(identifier, Regularizer):
        return identifier()
    if isinstance(identifier, str):
        if identifier not in _BY_NAME and identifier.lower() not in _BY_NAME:
            raise InvalidArgumentError(
                f"unknown regularizer {identifier!r}; valid names: 'l1', 'l2', 'l1_l2', "
                f"or an instance such as tinycnn.regularizers.L2(0.001)"
            )
        return _BY_NAME.get(identifier, _BY_NAME.get(identifier.lower()))()
    if isinstance(identifier, dict):
        if "class_name" in identifier:
            cls = {"L1": L1, "L2": L2, "L1L2": L1L2}.get(identifier["class_name"])
            if cls is None:
                raise InvalidArgumentError(f"unknown regularizer class {identifier['class_name']!r} in {identifier!r}")
            return cls.from_config(identifier.get("config", {}))
        keys = set(identifier)
        if keys and keys <= {"l1", "l2"}:
            return {frozenset({"l1"}): L1, frozenset({"l2"}): L2}.get(frozenset(keys), L1L2)(**identifier)
        raise InvalidArgumentError(f"cannot read regularizer config {identifier!r}")
    if callable(identifier):
        raise InvalidArgumentError(
            f"regularizer {identifier!r} is a callable whose gradient tinycnn does not know; subclass "
            f"tinycnn.regularizers.Regularizer and define __call__(w) (the penalty) and gradient(w)"
        )
    raise InvalidArgumentError(f"cannot interpret regularizer {identifier!r}; use 'l1', 'l2', 'l1_l2' or L2(0.01)")


def _items(layers):
    for layer in layers:
        for name, reg in (getattr(layer, "regularizers", None) or {}).items():
            if reg is not None and name in layer.params:
                yield layer, name, reg


def penalty(layers: Iterable[Layer]) -> float:
    """The sum of every penalty of ``layers`` (what Keras adds to the loss as ``sum(model.losses)``)."""
    return float(sum(reg(layer.params[name]) for layer, name, reg in _items(layers)))


def add_gradients(layers: Iterable[Layer]) -> None:
    """After ``backward``: add each penalty's gradient into ``layer.grads[name]``, in place."""
    for layer, name, reg in _items(layers):
        if name not in layer.grads:  # e.g. a frozen layer: its penalty still counts in the loss, as Keras
            continue
        g = layer.grads[name]
        g += reg.gradient(layer.params[name]).astype(g.dtype, copy=False)
