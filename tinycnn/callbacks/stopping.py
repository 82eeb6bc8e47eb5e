"""Stopping and saving: ``TerminateOnNaN``, ``EarlyStopping``, ``ModelCheckpoint``."""

from __future__ import annotations

import math
import os
import warnings

import numpy as np

from ..errors import InvalidArgumentError
from ..hints import Logs
from .base import Callback


class TerminateOnNaN(Callback):
    """Kept for Keras compatibility: ``fit`` always stops on a NaN/inf loss (see ``Sequential.fit``)."""


def _monitor_mode(monitor, mode):
    if not isinstance(monitor, str):
        raise InvalidArgumentError(f"monitor must be the name of a logged value such as 'val_loss', got {monitor!r}")
    if mode not in ("auto", "min", "max"):
        raise InvalidArgumentError(f"mode must be 'auto', 'min' or 'max', got {mode!r}")
    if mode == "auto":
        mode = "max" if ("acc" in monitor or monitor.endswith("auc")) else "min"
    return mode


class EarlyStopping(Callback):
    """Stop when ``monitor`` has not improved by more than ``min_delta`` for ``patience`` epochs.

    ``restore_best_weights=True`` puts back the weights of the best epoch when training stops (or ends).
    """

    def __init__(
        self,
        monitor: str = "val_loss",
        min_delta: float = 0.0,
        patience: int = 0,
        verbose: int = 0,
        mode: str = "auto",
        baseline: float | None = None,
        restore_best_weights: bool = False,
        start_from_epoch: int = 0,
    ) -> None:
        super().__init__()
        if isinstance(patience, bool) or not isinstance(patience, (int, np.integer)) or patience < 0:
            raise InvalidArgumentError(f"EarlyStopping patience must be an int >= 0, got {patience!r}")
        if (
            isinstance(min_delta, bool)
            or not isinstance(min_delta, (int, float, np.integer, np.floating))
            or not np.isfinite(min_delta)
        ):
            raise InvalidArgumentError(f"EarlyStopping min_delta must be a finite number, got {min_delta!r}")
        self.monitor, self.min_delta, self.patience = monitor, abs(min_delta), int(patience)
        self.verbose, self.baseline, self.restore_best_weights = verbose, baseline, restore_best_weights
        self.start_from_epoch = start_from_epoch
        self.mode = _monitor_mode(monitor, mode)
        self.stopped_epoch = 0
        self.best_epoch = 0

    def _better(self, current, reference):
        if self.mode == "min":
            return current < reference - self.min_delta
        return current > reference + self.min_delta

    def on_train_begin(self, logs: Logs | None = None) -> None:
        self.wait = 0
        self.stopped_epoch = 0
        self.best = math.inf if self.mode == "min" else -math.inf
        self.best_weights = None
        self.best_epoch = 0

    def on_epoch_end(self, epoch: int, logs: Logs | None = None) -> None:
        current = (logs or {}).get(self.monitor)
        if current is None:
            warnings.warn(
                f"EarlyStopping: metric {self.monitor!r} is not available; available: {sorted(logs or {})}",
                stacklevel=2,
            )
            return
        if epoch < self.start_from_epoch:
            return
        if self.restore_best_weights and self.best_weights is None:
            self.best_weights = self.model.get_weights()
        self.wait += 1
        if self._better(current, self.best):
            self.best, self.best_epoch = current, epoch
            if self.restore_best_weights:
                self.best_weights = self.model.get_weights()
            if self.baseline is None or self._better(current, self.baseline):
                self.wait = 0
            return
        if self.wait >= self.patience and epoch > 0:
            self.stopped_epoch = epoch
            self.model.stop_training = True

    def on_train_end(self, logs: Logs | None = None) -> None:
        if self.restore_best_weights and self.best_weights is not None:
            if self.verbose:
                print(f"Restoring model weights from the end of the best epoch: {self.best_epoch + 1}.")
            self.model.set_weights(self.best_weights)
        if self.stopped_epoch > 0 and self.verbose:
            print(f"Epoch {self.stopped_epoch + 1}: early stopping")


class ModelCheckpoint(Callback):
    """Save the weights after every epoch (or only when ``monitor`` improves, ``save_best_only=True``).

    ``filepath`` may contain ``{epoch}`` and log names (``"w-{epoch:02d}-{val_loss:.2f}.npz"``). Files are
    written atomically by ``save_weights``: an interrupted save never leaves a half-written file.
    tinycnn saves weights only, so ``save_weights_only`` must stay ``True`` (the default here).
    """

    def __init__(
        self,
        filepath: str | os.PathLike[str],
        monitor: str = "val_loss",
        verbose: int = 0,
        save_best_only: bool = False,
        save_weights_only: bool = True,
        mode: str = "auto",
        save_freq: str = "epoch",
    ) -> None:
        super().__init__()
        if not save_weights_only:
            raise InvalidArgumentError("ModelCheckpoint: tinycnn saves weights only; use save_weights_only=True")
        if save_freq != "epoch":
            raise InvalidArgumentError("ModelCheckpoint: only save_freq='epoch' is supported")
        self.filepath, self.monitor, self.verbose = str(filepath), monitor, verbose
        self.save_best_only = save_best_only
        self.mode = _monitor_mode(monitor, mode)
        self.best = math.inf if self.mode == "min" else -math.inf

    def on_epoch_end(self, epoch: int, logs: Logs | None = None) -> None:
        logs = logs or {}
        try:
            path = self.filepath.format(epoch=epoch + 1, **logs)
        except (KeyError, IndexError, ValueError) as e:
            raise InvalidArgumentError(
                f"ModelCheckpoint: cannot fill in filepath {self.filepath!r} "
                f"({type(e).__name__}: {e}); it may use {{epoch}} and the logged values "
                f"{sorted(logs)}"
            ) from None
        if self.save_best_only:
            current = logs.get(self.monitor)
            if current is None or not np.isfinite(current):
                warnings.warn(
                    f"ModelCheckpoint: {self.monitor!r} is not available or not finite; not saving", stacklevel=2
                )
                return
            improved = current < self.best if self.mode == "min" else current > self.best
            if not improved:
                return
            if self.verbose:
                print(
                    f"Epoch {epoch + 1}: {self.monitor} improved from {self.best:.5f} to {current:.5f}, "
                    f"saving model to {path}"
                )
            self.best = current
        self.model.save_weights(path)


# ------------------------------------------------------------------------------------------ learning rate
