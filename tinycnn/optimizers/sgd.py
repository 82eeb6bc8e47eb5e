"""Stochastic gradient descent with momentum, as ``keras.optimizers.SGD``.

Update rule (Polyak 1964 heavy ball; Sutskever et al. 2013 for Nesterov), at step ``t`` with learning rate
``lr_t`` (the float, the schedule at ``t``, and Keras 2's ``decay``, see :mod:`tinycnn.optimizers.base`)::

    v = momentum * v - lr_t * g                    (v starts at 0, one per weight)
    w = w + v                                      (classical momentum)
    w = w + momentum * v - lr_t * g                (nesterov=True; uses the v just computed)

With ``momentum = 0`` there is no velocity: ``w = w - lr_t * g``. Keras writes the velocity with the learning
rate inside it (``v`` is a step, not an average of gradients), so changing the learning rate mid-training
changes the next steps only through the new term.

``decay`` is Keras 2's time-based decay, ``lr_t = learning_rate / (1 + decay * t)`` (``t = 0`` for the first
update); Keras 3 dropped the argument (it ignores it with a warning) and spells the same rule
``keras.optimizers.schedules.InverseTimeDecay(lr, 1, decay)``. tinycnn keeps it because course scripts use it,
as well as the old spelling ``lr=``.

>>> import numpy as np
>>> w = np.array([1.0]); opt = SGD(learning_rate=0.1, decay=1.0)
>>> opt.apply_gradients([(np.array([1.0]), w)]); w
array([0.9])
>>> opt.apply_gradients([(np.array([1.0]), w)]); w      # lr_1 = 0.1 / (1 + 1 * 1) = 0.05
array([0.85])
"""

from __future__ import annotations

from typing import Any

from .. import kernels
from ..errors import InvalidArgumentError
from .base import LearningRateLike, Optimizer, check_number


class SGD(Optimizer):
    """``SGD(learning_rate=0.01, momentum=0.0, nesterov=False, weight_decay=None, clipnorm=None, clipvalue=None,
    global_clipnorm=None, name="sgd", decay=0.0, lr=None)`` (Keras 3's arguments and defaults, Keras 2's
    ``decay`` and ``lr``)."""

    _default_name = "sgd"

    def __init__(
        self,
        learning_rate: LearningRateLike = 0.01,
        momentum: float = 0.0,
        nesterov: bool = False,
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
        self.momentum = check_number("SGD", "momentum", momentum)
        if not 0 <= self.momentum <= 1:
            raise InvalidArgumentError(f"SGD momentum must be in [0, 1], got {momentum!r}")
        self.nesterov = bool(nesterov)

    def _slot_groups(self):
        return [[("momentum", 0.0)]] if self.momentum != 0 else []

    def _update(self, w, g, slots, lr, wd, keep=None):
        return kernels.sgd_update(w, g, slots.get("momentum"), lr, self.momentum, self.nesterov, wd, keep=keep)

    def _config(self):
        return {"momentum": self.momentum, "nesterov": self.nesterov}
