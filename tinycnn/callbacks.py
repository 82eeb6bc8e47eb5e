"""Callbacks with Keras's names and hooks: ``History``, ``EarlyStopping``, ``ModelCheckpoint``,
``TerminateOnNaN``, and the progress bar (``ProgbarLogger``).

``fit`` calls, on every callback: ``on_train_begin(logs)``, ``on_epoch_begin(epoch, logs)``,
``on_train_batch_begin/end(batch, logs)``, ``on_epoch_end(epoch, logs)``, ``on_train_end(logs)``.
A callback stops training by setting ``self.model.stop_training = True``.
"""
import math
import sys
import time
import warnings

import numpy as np

from .errors import InvalidArgumentError


class Callback:
    def __init__(self):
        self.model = None
        self.params = {}

    def set_model(self, model):
        self.model = model

    def set_params(self, params):
        self.params = params

    def on_train_begin(self, logs=None): ...
    def on_train_end(self, logs=None): ...
    def on_epoch_begin(self, epoch, logs=None): ...
    def on_epoch_end(self, epoch, logs=None): ...
    def on_train_batch_begin(self, batch, logs=None): ...
    def on_train_batch_end(self, batch, logs=None): ...


class History(Callback):
    """Records ``logs`` of every epoch: ``history.history["loss"]``, ``["val_accuracy"]`` ..."""

    def __init__(self):
        super().__init__()
        self.history = {}
        self.epoch = []

    def on_train_begin(self, logs=None):
        self.epoch = []

    def on_epoch_end(self, epoch, logs=None):
        self.epoch.append(epoch)
        for k, v in (logs or {}).items():
            self.history.setdefault(k, []).append(v)


def _fmt_time(seconds):
    seconds = int(round(seconds))
    if seconds >= 3600:
        return f"{seconds // 3600}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"
    if seconds >= 60:
        return f"{seconds // 60}:{seconds % 60:02d}"
    return f"{seconds}s"


def _fmt_logs(logs):
    return "".join(f" - {k}: {v:.4f}" for k, v in logs.items())


class ProgbarLogger(Callback):
    """Keras-style output: a progress bar with ETA for ``verbose=1``, one line per epoch for ``verbose=2``."""

    def __init__(self, verbose=1, stream=None):
        super().__init__()
        self.verbose = verbose
        self.stream = stream or sys.stdout

    def _write(self, text):
        self.stream.write(text)
        self.stream.flush()

    def on_epoch_begin(self, epoch, logs=None):
        self._start = self._last = time.perf_counter()
        self._steps = self.params.get("steps")
        if self.verbose:
            self._write(f"Epoch {epoch + 1}/{self.params.get('epochs')}\n")

    def on_train_batch_end(self, batch, logs=None):
        if self.verbose != 1:
            return
        now = time.perf_counter()
        done = batch + 1
        if done < self._steps and now - self._last < 0.1:
            return
        self._last = now
        width = 30
        filled = int(width * done / self._steps)
        bar = "=" * max(filled - 1, 0) + (">" if done < self._steps else "=") + "." * (width - filled)
        elapsed = now - self._start
        eta = elapsed / done * (self._steps - done)
        digits = len(str(self._steps))
        tail = f"ETA: {_fmt_time(eta)}" if done < self._steps else f"{_fmt_time(elapsed)}"
        self._write(f"\r{done:>{digits}}/{self._steps} [{bar[:width]}] - {tail}{_fmt_logs(logs or {})}   ")

    def on_epoch_end(self, epoch, logs=None):
        elapsed = time.perf_counter() - self._start
        per_step = 1000 * elapsed / max(self._steps, 1)
        if self.verbose == 1:
            bar = "=" * 30
            self._write(f"\r{self._steps}/{self._steps} [{bar}] - {_fmt_time(elapsed)} {per_step:.0f}ms/step"
                        f"{_fmt_logs(logs or {})}\n")
        elif self.verbose == 2:
            self._write(f"{self._steps}/{self._steps} - {_fmt_time(elapsed)} - {per_step:.0f}ms/step"
                        f"{_fmt_logs(logs or {})}\n")


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

    def __init__(self, monitor="val_loss", min_delta=0.0, patience=0, verbose=0, mode="auto",
                 baseline=None, restore_best_weights=False, start_from_epoch=0):
        super().__init__()
        if isinstance(patience, bool) or not isinstance(patience, (int, np.integer)) or patience < 0:
            raise InvalidArgumentError(f"EarlyStopping patience must be an int >= 0, got {patience!r}")
        if isinstance(min_delta, bool) or not isinstance(min_delta, (int, float, np.integer, np.floating)) \
                or not np.isfinite(min_delta):
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

    def on_train_begin(self, logs=None):
        self.wait = 0
        self.stopped_epoch = 0
        self.best = math.inf if self.mode == "min" else -math.inf
        self.best_weights = None
        self.best_epoch = 0

    def on_epoch_end(self, epoch, logs=None):
        current = (logs or {}).get(self.monitor)
        if current is None:
            warnings.warn(f"EarlyStopping: metric {self.monitor!r} is not available; available: "
                          f"{sorted(logs or {})}", stacklevel=2)
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

    def on_train_end(self, logs=None):
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

    def __init__(self, filepath, monitor="val_loss", verbose=0, save_best_only=False, save_weights_only=True,
                 mode="auto", save_freq="epoch"):
        super().__init__()
        if not save_weights_only:
            raise InvalidArgumentError("ModelCheckpoint: tinycnn saves weights only; use save_weights_only=True")
        if save_freq != "epoch":
            raise InvalidArgumentError("ModelCheckpoint: only save_freq='epoch' is supported")
        self.filepath, self.monitor, self.verbose = str(filepath), monitor, verbose
        self.save_best_only = save_best_only
        self.mode = _monitor_mode(monitor, mode)
        self.best = math.inf if self.mode == "min" else -math.inf

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        try:
            path = self.filepath.format(epoch=epoch + 1, **logs)
        except (KeyError, IndexError, ValueError) as e:
            raise InvalidArgumentError(f"ModelCheckpoint: cannot fill in filepath {self.filepath!r} "
                                       f"({type(e).__name__}: {e}); it may use {{epoch}} and the logged values "
                                       f"{sorted(logs)}") from None
        if self.save_best_only:
            current = logs.get(self.monitor)
            if current is None or not np.isfinite(current):
                warnings.warn(f"ModelCheckpoint: {self.monitor!r} is not available or not finite; not saving",
                              stacklevel=2)
                return
            improved = current < self.best if self.mode == "min" else current > self.best
            if not improved:
                return
            if self.verbose:
                print(f"Epoch {epoch + 1}: {self.monitor} improved from {self.best:.5f} to {current:.5f}, "
                      f"saving model to {path}")
            self.best = current
        self.model.save_weights(path)
