"""Nadam, as ``keras.optimizers.Nadam``.

Nadam (Dozat 2016, "Incorporating Nesterov Momentum into Adam") is Adam with a Nesterov look-ahead: the step
uses the momentum *of the next step* applied to the current average, plus the current gradient's share. With a
momentum schedule ``mu_t`` (Dozat: ``mu_t = beta_1 * (1 - 0.5 * 0.96^(t/250))``)::

    m_t = beta_1 * m_{t-1} + (1 - beta_1) * g
    v_t = beta_2 * v_{t-1} + (1 - beta_2) * g^2
    m^  = mu_{t+1} * m_t / (1 - prod_{i<=t+1} mu_i)  +  (1 - mu_t) * g / (1 - prod_{i<=t} mu_i)
    v^  = v_t / (1 - beta_2^t)
    w   = w - lr * m^ / (sqrt(v^) + epsilon)

Where Keras differs: its schedule is ``mu_t = beta_1 * (1 - 0.5 * 0.96^t)`` (no ``/250``: the momentum reaches
``beta_1`` within ~100 steps rather than ~25,000); the running averages still use the constant ``beta_1``;
epsilon is added to ``sqrt(v^)`` (after the correction), default 1e-7. The product ``mu_1 * ... * mu_t`` is kept
as optimizer state (Keras's variable named ``variable``, in the first weight's dtype), advanced once per step
before the weights are updated, and restored with the other state when a step is refused.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

from .. import kernels
from ..hints import Array
from ..kernels.reference import nadam_momentum_schedule
from .base import LearningRateLike, Optimizer, check_number


class Nadam(Optimizer):
    """``Nadam(learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7, weight_decay=None, ...)``."""

    _default_name = "nadam"

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
        self.beta_1 = check_number("Nadam", "beta_1", beta_1, low=0.0, high=1.0, high_open=True)
        self.beta_2 = check_number("Nadam", "beta_2", beta_2, low=0.0, high=1.0, high_open=True)
        self.epsilon = check_number("Nadam", "epsilon", epsilon, low=0.0)
        self._u_product = None  # mu_1 * ... * mu_t, a 0-d array created at the first step (Keras's build)

    def _ensure_u_product(self, weights):
        if self._u_product is None:
            dtype = weights[0].dtype if weights else np.float32
            self._u_product = np.ones((), dtype=dtype)
        return self._u_product

    def _extra_state(self):
        return [("variable", self._u_product)] if self._u_product is not None else []

    def state_arrays(self, weights: Sequence[Array]) -> list[Array]:
        self._ensure_u_product(weights)
        return super().state_arrays(weights)

    def _extra_arrays(self, weights):
        self._ensure_u_product(weights)
        return super()._extra_arrays(weights)

    def variables_for(self, weights: Sequence[Array], names: Iterable[str] | None = None) -> list[tuple[str, Array]]:
        self._ensure_u_product(weights)
        return super().variables_for(weights, names)

    def _before_step(self, weights):
        u = self._ensure_u_product(weights)
        u[...] = u * u.dtype.type(nadam_momentum_schedule(self.beta_1, self.iterations + 1))

    def _slot_groups(self):
        return [[("momentum", 0.0), ("velocity", 0.0)]]

    def _update(self, w, g, slots, lr, wd, keep=None):
        return kernels.nadam_update(
            w,
            g,
            slots["momentum"],
            slots["velocity"],
            lr,
            self.beta_1,
            self.beta_2,
            self.epsilon,
            self.iterations + 1,
            float(self._u_product),
            wd,
            keep=keep,
        )

    def _config(self):
        return {"beta_1": self.beta_1, "beta_2": self.beta_2, "epsilon": self.epsilon}
