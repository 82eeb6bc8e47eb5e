"""RMSprop, as ``keras.optimizers.RMSprop``.

RMSprop (Tieleman & Hinton 2012, Coursera "Neural Networks for Machine Learning", lecture 6e): divide the
gradient by a running root mean square of recent gradients::

    v = rho * v + (1 - rho) * g^2
    w = w - lr * g / sqrt(v)

Where Keras differs (and so tinycnn):

* epsilon sits *inside* the root, ``sqrt(v + epsilon)`` (default 1e-7), not beside it as in Adam;
* ``centered=True`` (Graves 2013, "Generating Sequences with Recurrent Neural Networks", eq. 38-41) also keeps
  the running mean ``a = rho * a + (1 - rho) * g`` and divides by ``sqrt(v - a^2 + epsilon)``, an estimate of
  the standard deviation rather than the root mean square;
* ``momentum > 0`` keeps a velocity of *steps*: ``s = momentum * s + lr * g / sqrt(...)``, ``w = w - s``;
* ``v`` starts at 0 (the first step is ``g / sqrt((1 - rho) g^2)``, about 3.16 ``lr`` for ``rho = 0.9``).
"""

from __future__ import annotations

from typing import Any

from .. import kernels
from .base import LearningRateLike, Optimizer, check_number


class RMSprop(Optimizer):
    """``RMSprop(learning_rate=0.001, rho=0.9, momentum=0.0, epsilon=1e-7, centered=False, weight_decay=None,
    ...)``."""

    _default_name = "rm_sprop"

    def __init__(
        self,
        learning_rate: LearningRateLike = 0.001,
        rho: float = 0.9,
        momentum: float = 0.0,
        epsilon: float = 1e-7,
        centered: bool = False,
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
        self.rho = check_number("RMSprop", "rho", rho, low=0.0, high=1.0)
        self.momentum = check_number("RMSprop", "momentum", momentum, low=0.0, high=1.0)
        self.epsilon = check_number("RMSprop", "epsilon", epsilon, low=0.0)
        self.centered = bool(centered)

    def _slot_groups(self):
        groups = [[("velocity", 0.0)]]
        if self.momentum > 0:
            groups.append([("momentum", 0.0)])
        if self.centered:
            groups.append([("average_gradient", 0.0)])
        return groups

    def _update(self, w, g, slots, lr, wd, keep=None):
        return kernels.rmsprop_update(
            w,
            g,
            slots["velocity"],
            slots.get("momentum"),
            slots.get("average_gradient"),
            lr,
            self.rho,
            self.momentum,
            self.epsilon,
            wd,
            keep=keep,
        )

    def _config(self):
        return {"rho": self.rho, "momentum": self.momentum, "epsilon": self.epsilon, "centered": self.centered}
