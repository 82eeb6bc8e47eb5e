"""Adagrad, as ``keras.optimizers.Adagrad``.

Adagrad (Duchi, Hazan & Singer 2011, "Adaptive Subgradient Methods for Online Learning and Stochastic
Optimization"): each weight's step is divided by the root of the sum of all its squared gradients so far, so
often-updated weights slow down and rare ones keep large steps::

    G = G + g^2
    w = w - lr * g / sqrt(G)

Where Keras differs: ``G`` starts at ``initial_accumulator_value`` (default 0.1, not 0, so the first step is
finite), and epsilon sits *inside* the root, ``sqrt(G + epsilon)`` (default 1e-7). The learning rate default is
0.001, small for Adagrad (the paper's experiments and Keras 2 used 0.01).
"""

from __future__ import annotations

from typing import Any

from .. import kernels
from .base import LearningRateLike, Optimizer, check_number


class Adagrad(Optimizer):
    """``Adagrad(learning_rate=0.001, initial_accumulator_value=0.1, epsilon=1e-7, weight_decay=None, ...)``."""

    _default_name = "adagrad"

    def __init__(
        self,
        learning_rate: LearningRateLike = 0.001,
        initial_accumulator_value: float = 0.1,
        epsilon: float = 1e-7,
        weight_decay: float | None = None,
        clipnorm: float | None = None,
        clipvalue: float | None = None,
        global_clipnorm: float | None = None,
        name: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            learning_rate,
            weight_decay=weight_decay,
            clipnorm=clipnorm,
            clipvalue=clipvalue,
            global_clipnorm=global_clipnorm,
            name=name,
            **kwargs,
        )
        self.initial_accumulator_value = check_number(
            "Adagrad", "initial_accumulator_value", initial_accumulator_value, low=0.0
        )
        self.epsilon = check_number("Adagrad", "epsilon", epsilon, low=0.0)

    def _slot_groups(self):
        return [[("accumulator", self.initial_accumulator_value)]]

    def _update(self, w, g, slots, lr, wd, keep=None):
        return kernels.adagrad_update(w, g, slots["accumulator"], lr, self.epsilon, wd, keep=keep)

    def _config(self):
        return {"initial_accumulator_value": self.initial_accumulator_value, "epsilon": self.epsilon}
