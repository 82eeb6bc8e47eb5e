"""The learning rate over epochs: ``LearningRateScheduler`` and ``ReduceLROnPlateau`` (each writes
``logs["learning_rate"]`` so ``History`` records it, as Keras 3)."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

import numpy as np

from ..errors import InvalidArgumentError
from ..hints import Logs
from .base import Callback
from .stopping import _monitor_mode


def _optimizer_lr(model, who):
    optimizer = getattr(model, "optimizer", None)
    if optimizer is None or not hasattr(optimizer, "learning_rate"):
        raise InvalidArgumentError(
            f"{who}: the model has no optimizer with a learning_rate; call model.compile(optimizer=...) first"
        )
    return optimizer


class LearningRateScheduler(Callback):
    """Set the learning rate at the start of every epoch from ``schedule(epoch, lr)`` (``epoch`` counts from 0,
    ``lr`` is the current learning rate), as ``keras.callbacks.LearningRateScheduler``.

    A one-argument ``schedule(epoch)`` (Keras's older form) is accepted too: Keras tries ``schedule(epoch, lr)``
    and falls back to ``schedule(epoch)`` on a ``TypeError``. The result must be a float. At the end of each
    epoch the learning rate is written into ``logs["learning_rate"]``, so ``History`` records it.

    >>> scheduler = LearningRateScheduler(lambda epoch, lr: lr if epoch < 10 else lr * 0.9)
    """

    def __init__(self, schedule: Callable[..., float], verbose: int = 0) -> None:
        super().__init__()
        if not callable(schedule):
            raise InvalidArgumentError(
                f"LearningRateScheduler: schedule must be a function (epoch, lr) -> float, "
                f"got {type(schedule).__name__}"
            )
        self.schedule, self.verbose = schedule, verbose

    def on_epoch_begin(self, epoch: int, logs: Logs | None = None) -> None:
        optimizer = _optimizer_lr(self.model, "LearningRateScheduler")
        try:
            lr = self.schedule(epoch, float(optimizer.learning_rate))
        except TypeError:  # the old one-argument form, as Keras falls back
            lr = self.schedule(epoch)
        if not isinstance(lr, (float, np.float32, np.float64)) or not np.isfinite(lr):
            raise InvalidArgumentError(
                f"LearningRateScheduler: the schedule must return a finite float, got {lr!r} "
                f"for epoch {epoch} (write 0.01, not 1e-2 as an int or a tensor)"
            )
        optimizer.learning_rate = float(lr)
        if self.verbose > 0:
            print(f"\nEpoch {epoch + 1}: LearningRateScheduler setting learning rate to {float(lr)}.")

    def on_epoch_end(self, epoch: int, logs: Logs | None = None) -> None:
        if logs is not None:
            logs["learning_rate"] = float(self.model.optimizer.learning_rate)


class ReduceLROnPlateau(Callback):
    """Multiply the learning rate by ``factor`` when ``monitor`` has not improved for ``patience`` epochs, as
    ``keras.callbacks.ReduceLROnPlateau``.

    At the end of every epoch (Keras 3's rule, ``keras/src/callbacks/reduce_lr_on_plateau.py``)::

        logs["learning_rate"] = current learning rate            (so History records it)
        in cooldown (cooldown_counter > 0): cooldown_counter -= 1; wait = 0
        improved (current < best - min_delta in "min" mode, current > best + min_delta in "max"; the first
        epoch always improves):            best = current; wait = 0
        else, if not in cooldown:          wait += 1
             if wait >= patience and lr > min_lr:  lr = max(lr * factor, min_lr); cooldown_counter = cooldown;
                                                   wait = 0

    ``mode="auto"`` is "max" for accuracy-like names and "min" otherwise. Keras 2's ``epsilon=`` is accepted as
    ``min_delta``.
    """

    def __init__(
        self,
        monitor: str = "val_loss",
        factor: float = 0.1,
        patience: int = 10,
        verbose: int = 0,
        mode: str = "auto",
        min_delta: float = 1e-4,
        cooldown: int = 0,
        min_lr: float = 0.0,
        **kwargs: Any,
    ) -> None:
        super().__init__()
        if "epsilon" in kwargs:  # Keras 2's name for min_delta
            min_delta = kwargs.pop("epsilon")
        if kwargs:
            raise InvalidArgumentError(f"ReduceLROnPlateau got unexpected arguments {sorted(kwargs)}")
        for arg, value in (("factor", factor), ("min_delta", min_delta), ("min_lr", min_lr)):
            if (
                isinstance(value, bool)
                or not isinstance(value, (int, float, np.integer, np.floating))
                or not np.isfinite(value)
            ):
                raise InvalidArgumentError(f"ReduceLROnPlateau {arg} must be a finite number, got {value!r}")
        if factor >= 1.0:
            raise InvalidArgumentError(
                f"ReduceLROnPlateau factor must be < 1 (the learning rate is multiplied by it), got {factor!r}"
            )
        for arg, value in (("patience", patience), ("cooldown", cooldown)):
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0:
                raise InvalidArgumentError(f"ReduceLROnPlateau {arg} must be an int >= 0, got {value!r}")
        self.monitor, self.factor, self.patience, self.verbose = monitor, float(factor), int(patience), verbose
        self.mode = _monitor_mode(monitor, mode)
        self.min_delta, self.cooldown, self.min_lr = abs(float(min_delta)), int(cooldown), float(min_lr)
        self._reset()

    def _reset(self):
        self.best, self.cooldown_counter, self.wait = None, 0, 0

    def in_cooldown(self) -> bool:
        return self.cooldown_counter > 0

    def _improved(self, current):
        if self.best is None:
            return True
        if self.mode == "min":
            return current + self.min_delta < self.best
        return current - self.min_delta > self.best

    def on_train_begin(self, logs: Logs | None = None) -> None:
        self._reset()

    def on_epoch_end(self, epoch: int, logs: Logs | None = None) -> None:
        logs = logs if logs is not None else {}
        optimizer = _optimizer_lr(self.model, "ReduceLROnPlateau")
        logs["learning_rate"] = float(optimizer.learning_rate)
        current = logs.get(self.monitor)
        if current is None:
            warnings.warn(
                f"ReduceLROnPlateau: metric {self.monitor!r} is not available; available: {','.join(logs)}",
                stacklevel=2,
            )
            return
        if self.in_cooldown():
            self.cooldown_counter -= 1
            self.wait = 0
        if self._improved(current):
            self.best, self.wait = current, 0
        elif not self.in_cooldown():
            self.wait += 1
            if self.wait >= self.patience:
                old_lr = float(optimizer.learning_rate)
                if np.float32(old_lr) > np.float32(self.min_lr):  # Keras compares in float32 (its variable's)
                    new_lr = max(old_lr * self.factor, self.min_lr)
                    optimizer.learning_rate = new_lr
                    if self.verbose > 0:
                        print(f"\nEpoch {epoch + 1}: ReduceLROnPlateau reducing learning rate to {new_lr}.")
                    self.cooldown_counter, self.wait = self.cooldown, 0


# ------------------------------------------------------------------------------------------ logging
