"""Adam and AdamW, as ``keras.optimizers.Adam`` and ``keras.optimizers.AdamW``.

Adam (Kingma & Ba 2015, "Adam: A Method for Stochastic Optimization", Algorithm 1): running averages of the
gradient and of its square, both corrected for their start at zero. At step ``t = 1, 2, ...``::

    m_t = beta_1 * m_{t-1} + (1 - beta_1) * g          first moment (momentum)
    v_t = beta_2 * v_{t-1} + (1 - beta_2) * g^2        second moment (uncentred variance)
    m^  = m_t / (1 - beta_1^t)                         bias corrections
    v^  = v_t / (1 - beta_2^t)
    w   = w - lr * m^ / (sqrt(v^) + epsilon)

Where Keras differs (and so tinycnn): it uses the paper's "more efficient" ordering (end of section 2), folding
both corrections into the step size, ``alpha_t = lr * sqrt(1 - beta_2^t) / (1 - beta_1^t)``, and
``w = w - alpha_t * m_t / (sqrt(v_t) + epsilon)``. That puts epsilon *outside* the correction: it is the paper's
``epsilon * sqrt(1 - beta_2^t)``, i.e. a smaller epsilon in the first steps. Keras's default epsilon is 1e-7
(the paper: 1e-8). The averages are written ``m += (g - m) * (1 - beta_1)``, the same number.

``amsgrad=True`` (Reddi et al. 2018, "On the Convergence of Adam and Beyond") keeps ``v_hat = max(v_hat, v_t)``
and divides by ``sqrt(v_hat)`` instead, still with Keras's ``alpha_t`` (so the bias correction of ``v`` stays).

AdamW (Loshchilov & Hutter 2019, "Decoupled Weight Decay Regularization") is Adam plus a weight decay that does
not go through the gradient, ``w = w - lr * weight_decay * w`` before the Adam step. The paper multiplies the
decay by the schedule multiplier ``eta_t`` only; Keras multiplies it by the learning rate (``lr_t *
weight_decay``), so ``weight_decay=0.004`` with ``lr=0.001`` shrinks weights by 4e-6 per step. In Keras 3 every
optimizer takes ``weight_decay`` this way; AdamW only makes it default to 0.004.

>>> import numpy as np
>>> w = np.array([1.0, -1.0]); opt = Adam(learning_rate=0.1)
>>> opt.apply_gradients([(np.array([0.5, -2.0]), w)]); np.round(w, 4)   # first step: ~ lr * sign(g)
array([ 0.9, -0.9])
"""

from __future__ import annotations

from typing import Any

from .. import kernels
from ..errors import InvalidArgumentError
from .base import LearningRateLike, Optimizer, check_number


class Adam(Optimizer):
    """``Adam(learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7, amsgrad=False, weight_decay=None,
    clipnorm=None, clipvalue=None, global_clipnorm=None, name="adam")``."""

    _default_name = "adam"

    def __init__(
        self,
        learning_rate: LearningRateLike = 0.001,
        beta_1: float = 0.9,
        beta_2: float = 0.999,
        epsilon: float = 1e-7,
        amsgrad: bool = False,
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
        cls = type(self).__name__
        self.beta_1 = check_number(cls, "beta_1", beta_1, low=0.0, high=1.0, high_open=True)
        self.beta_2 = check_number(cls, "beta_2", beta_2, low=0.0, high=1.0, high_open=True)
        self.epsilon = check_number(cls, "epsilon", epsilon, low=0.0)
        self.amsgrad = bool(amsgrad)

    def _slot_groups(self):
        groups = [[("momentum", 0.0), ("velocity", 0.0)]]
        if self.amsgrad:
            groups.append([("velocity_hat", 0.0)])
        return groups

    def _update(self, w, g, slots, lr, wd, keep=None):
        return kernels.adam_update(
            w,
            g,
            slots["momentum"],
            slots["velocity"],
            slots.get("velocity_hat"),
            lr,
            self.beta_1,
            self.beta_2,
            self.epsilon,
            self.iterations + 1,
            wd,
            keep=keep,
        )

    def _config(self):
        return {"beta_1": self.beta_1, "beta_2": self.beta_2, "epsilon": self.epsilon, "amsgrad": self.amsgrad}


class AdamW(Adam):
    """``AdamW(learning_rate=0.001, weight_decay=0.004, beta_1=0.9, beta_2=0.999, epsilon=1e-7, amsgrad=False,
    ...)``: Adam with decoupled weight decay (see the module docstring)."""

    _default_name = "adam_w"

    def __init__(
        self,
        learning_rate: LearningRateLike = 0.001,
        weight_decay: float = 0.004,
        beta_1: float = 0.9,
        beta_2: float = 0.999,
        epsilon: float = 1e-7,
        amsgrad: bool = False,
        clipnorm: float | None = None,
        clipvalue: float | None = None,
        global_clipnorm: float | None = None,
        name: str | None = None,
        **kwargs: Any,
    ) -> None:
        if weight_decay is None:
            raise InvalidArgumentError(
                "AdamW weight_decay must be a float (it is the point of AdamW), got None; use Adam for no weight decay"
            )
        super().__init__(
            learning_rate,
            beta_1=beta_1,
            beta_2=beta_2,
            epsilon=epsilon,
            amsgrad=amsgrad,
            weight_decay=weight_decay,
            clipnorm=clipnorm,
            clipvalue=clipvalue,
            global_clipnorm=global_clipnorm,
            name=name,
            **kwargs,
        )
