"""Adadelta, as ``keras.optimizers.Adadelta``.

Adadelta (Zeiler 2012, "ADADELTA: An Adaptive Learning Rate Method", Algorithm 1): like RMSprop, but the
numerator is a running RMS of the previous *updates*, so the step has the units of the weight and no learning
rate is needed::

    E[g^2]  = rho * E[g^2] + (1 - rho) * g^2
    dx      = - sqrt(E[dx^2] + eps) / sqrt(E[g^2] + eps) * g
    E[dx^2] = rho * E[dx^2] + (1 - rho) * dx^2
    w       = w + dx

Where Keras differs: the step is multiplied by a learning rate, ``w = w + lr * dx`` (default 0.001, so Keras's
Adadelta moves 1000x less than the paper's; Keras 2's default was 1.0, which is the paper's rule), and its
default epsilon is 1e-7 (the paper: 1e-6). Both running averages start at 0.
"""

from __future__ import annotations

from typing import Any

from .. import kernels
from .base import LearningRateLike, Optimizer, check_number


class Adadelta(Optimizer):
    """``Adadelta(learning_rate=0.001, rho=0.95, epsilon=1e-7, weight_decay=None, ...)``."""

    _default_name = "adadelta"

    def __init__(
        self,
        learning_rate: LearningRateLike = 0.001,
        rho: float = 0.95,
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
        self.rho = check_number("Adadelta", "rho", rho, low=0.0, high=1.0)
        self.epsilon = check_number("Adadelta", "epsilon", epsilon, low=0.0)

    def _slot_groups(self):
        return [[("accumulated_grad", 0.0), ("accumulated_delta_var", 0.0)]]

    def _update(self, w, g, slots, lr, wd, keep=None):
        return kernels.adadelta_update(
            w, g, slots["accumulated_grad"], slots["accumulated_delta_var"], lr, self.rho, self.epsilon, wd, keep=keep
        )

    def _config(self):
        return {"rho": self.rho, "epsilon": self.epsilon}
