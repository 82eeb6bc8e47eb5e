"""Optimizers. ``SGD`` follows Keras 2's update rule exactly.

SGD with momentum and time-based decay. At update ``t`` (``t = 0`` for the first; ``t`` = the number of
updates already applied, ``self.iterations``)::

    lr_t = learning_rate / (1 + decay * t)
    v    = momentum * v - lr_t * g                    (v starts at 0, one per weight)
    w    = w + v                                      (classical momentum)
    w    = w + momentum * v - lr_t * g                (nesterov=True; uses the v just computed)

With ``momentum = 0`` there is no velocity: ``w = w - lr_t * g``. ``decay`` is Keras 2's legacy argument;
in Keras 3 the same rule is ``keras.optimizers.schedules.InverseTimeDecay(lr, 1, decay)``.
The old spelling ``lr=`` (used by many course scripts) is accepted for ``learning_rate``.

>>> import numpy as np
>>> w = np.array([1.0]); opt = SGD(learning_rate=0.1, decay=1.0)
>>> opt.apply_gradients([(np.array([1.0]), w)]); w
array([0.9])
>>> opt.apply_gradients([(np.array([1.0]), w)]); w      # lr_1 = 0.1 / (1 + 1 * 1) = 0.05
array([0.85])
"""
import numpy as np

from . import kernels
from .errors import InvalidArgumentError


class Optimizer:
    def __init__(self):
        self.iterations = 0
        self._slots = {}

    def _slot(self, w):
        key = id(w)
        slot = self._slots.get(key)
        if slot is None or slot[0] is not w:
            slot = (w, np.zeros_like(w))
            self._slots[key] = slot
        return slot[1]

    def apply_gradients(self, grads_and_vars):
        """Update every ``w`` in place from its gradient ``g``; then ``iterations += 1``."""
        lr_t = self.current_learning_rate()
        for g, w in grads_and_vars:
            self._update(w, np.asarray(g, dtype=w.dtype), lr_t)
        self.iterations += 1

    def current_learning_rate(self):
        raise NotImplementedError

    def state_arrays(self, weights):
        """The per-weight state arrays (SGD's velocities) the next step will change, created if missing."""
        return []


class SGD(Optimizer):
    def __init__(self, learning_rate=0.01, momentum=0.0, nesterov=False, decay=0.0, lr=None, name="SGD",
                 **kwargs):
        super().__init__()
        if kwargs:
            raise InvalidArgumentError(f"SGD got unexpected arguments {sorted(kwargs)}")
        if lr is not None:
            learning_rate = lr
        for arg, value in (("learning_rate", learning_rate), ("momentum", momentum), ("decay", decay)):
            if isinstance(value, bool) or not isinstance(value, (int, float, np.floating)) or not np.isfinite(value):
                raise InvalidArgumentError(f"SGD {arg} must be a finite number, got {value!r}")
        if learning_rate < 0:
            raise InvalidArgumentError(f"SGD learning_rate must be >= 0, got {learning_rate!r}")
        if not 0 <= momentum <= 1:
            raise InvalidArgumentError(f"SGD momentum must be in [0, 1], got {momentum!r}")
        if decay < 0:
            raise InvalidArgumentError(f"SGD decay must be >= 0, got {decay!r}")
        self.learning_rate, self.momentum, self.decay = float(learning_rate), float(momentum), float(decay)
        self.nesterov = bool(nesterov)
        self.name = name

    def state_arrays(self, weights):
        return [self._slot(w) for w in weights] if self.momentum else []

    @property
    def lr(self):
        return self.learning_rate

    def current_learning_rate(self):
        return self.learning_rate / (1.0 + self.decay * self.iterations)

    def _update(self, w, g, lr_t):
        v = self._slot(w) if self.momentum else None
        kernels.sgd_update(w, g, v, lr_t, self.momentum, self.nesterov)  # the rule above, in one pass

    def get_config(self):
        return {"name": self.name, "learning_rate": self.learning_rate, "momentum": self.momentum,
                "nesterov": self.nesterov, "decay": self.decay}


_BY_NAME = {"sgd": SGD}


def get(identifier):
    """An optimizer object from an instance or a name (``"sgd"``)."""
    if isinstance(identifier, Optimizer):
        return identifier
    if isinstance(identifier, str) and identifier.lower() in _BY_NAME:
        return _BY_NAME[identifier.lower()]()
    raise InvalidArgumentError(f"unknown optimizer {identifier!r}; valid names: {sorted(_BY_NAME)} "
                               f"(or an optimizer object such as SGD(0.01, momentum=0.9))")
