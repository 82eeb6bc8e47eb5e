"""Adamax, as ``keras.optimizers.Adamax``.

Adamax (Kingma & Ba 2015, section 7.1) replaces Adam's second moment by an exponentially weighted infinity
norm, which needs no bias correction::

    m_t = beta_1 * m_{t-1} + (1 - beta_1) * g
    u_t = max(beta_2 * u_{t-1}, |g|)
    w   = w - (lr / (1 - beta_1^t)) * m_t / u_t

Where Keras differs: it adds ``epsilon`` to ``u_t`` (the paper has none; ``u`` can be 0 for a weight whose
gradient has always been 0), ``w = w - lr * m_t / ((1 - beta_1^t) * (u_t + epsilon))``, default 1e-7.
"""

from __future__ import annotations

from typing import Any

from .. import kernels
from .base import LearningRateLike, Optimizer, check_number


class Adamax(Optimizer):
    """``Adamax(learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7, weight_decay=None, ...)``."""

    _default_name = "adamax"

    def __init__(
        self,
        learning_rate: LearningRateLike = 0.001,
        beta_1: float = 0.9,
        beta_2: float = 0.999,
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
        self.beta_1 = check_number("Adamax", "beta_1", beta_1, low=0.0, high=1.0, high_open=True)
        self.beta_2 = check_number("Adamax", "beta_2", beta_2, low=0.0, high=1.0)
        self.epsilon = check_number("Adamax", "epsilon", epsilon, low=0.0)

    def _slot_groups(self):
        return [[("momentum", 0.0), ("norm", 0.0)]]

    def _update(self, w, g, slots, lr, wd, keep=None):
        return kernels.adamax_update(
            w,
            g,
            slots["momentum"],
            slots["norm"],
            lr,
            self.beta_1,
            self.beta_2,
            self.epsilon,
            self.iterations + 1,
            wd,
            keep=keep,
        )

    def _config(self):
        return {"beta_1": self.beta_1, "beta_2": self.beta_2, "epsilon": self.epsilon}
