"""Callbacks with Keras's names and hooks: ``History``, ``EarlyStopping``, ``ModelCheckpoint``,
``TerminateOnNaN``, ``LearningRateScheduler``, ``ReduceLROnPlateau``, ``CSVLogger``, ``LambdaCallback``, and the
progress bar (``ProgbarLogger``).

The learning rate in the history: as in Keras 3, ``History`` records whatever is in the epoch's ``logs``, and
``learning_rate`` is in them only when ``LearningRateScheduler`` or ``ReduceLROnPlateau`` puts it there (each
writes ``logs["learning_rate"] = float(model.optimizer.learning_rate)`` in ``on_epoch_end``). This relies on
Keras's order of callbacks in ``fit``: the user's callbacks first, then ``History`` (then the progress bar), all
given the same ``logs`` dict.

``fit`` calls, on every callback: ``on_train_begin(logs)``, ``on_epoch_begin(epoch, logs)``,
``on_train_batch_begin/end(batch, logs)``, ``on_epoch_end(epoch, logs)``, ``on_train_end(logs)``.
A callback stops training by setting ``self.model.stop_training = True``.
"""

import csv
import math
import os
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


class HistoryDict(dict):
    """``history.history``: a dict of lists that also answers Keras 2's ``"acc"`` for ``"accuracy"`` (and the
    reverse, and the ``val_`` keys), so a script written for either Keras finds its key. The aliases are not
    listed among the keys (a plot of every key shows each curve once).

    >>> h = HistoryDict(accuracy=[0.5], val_accuracy=[0.4])
    >>> h["acc"], h["val_acc"], "acc" in h, sorted(h)
    ([0.5], [0.4], True, ['accuracy', 'val_accuracy'])
    """

    _ALIASES = {"acc": "accuracy", "accuracy": "acc", "val_acc": "val_accuracy", "val_accuracy": "val_acc"}

    def __missing__(self, key):
        alias = self._ALIASES.get(key) if isinstance(key, str) else None
        if alias is not None and dict.__contains__(self, alias):
            return dict.__getitem__(self, alias)
        raise KeyError(key)

    def __contains__(self, key):
        return dict.__contains__(self, key) or (
            isinstance(key, str) and dict.__contains__(self, self._ALIASES.get(key, "\0"))
        )

    def get(self, key, default=None):
        return self[key] if key in self else default


class History(Callback):
    """Records ``logs`` of every epoch: ``history.history["loss"]``, ``["val_accuracy"]`` ... (Keras 2's
    ``"acc"`` answers too: :class:`HistoryDict`)."""

    def __init__(self):
        super().__init__()
        self.history = HistoryDict()
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
    """Keras-style output: a progress bar with ETA for ``verbose=1``, one line per epoch for ``verbose=2``.

    Where the bar goes decides how it moves. In a terminal it is redrawn in place with ``\\r``. In a Jupyter
    notebook (an ``ipykernel`` stream) it is one display that is updated in place, so the saved notebook holds
    the final bar of each epoch, not every redraw. Anywhere else (a pipe, a file, a CI log) only the final bar
    of each epoch is written.
    """

    def __init__(self, verbose=1, stream=None):
        super().__init__()
        self.verbose = 1 if verbose == "auto" else verbose  # Keras: "auto" is the progress bar
        self.stream = stream or sys.stdout
        self._notebook = type(self.stream).__module__.split(".")[0] == "ipykernel"
        isatty = getattr(self.stream, "isatty", None)
        self._live = self._notebook or bool(isatty and isatty())
        self._handle = None

    def _write(self, text):
        self.stream.write(text)
        self.stream.flush()

    def _bar(self, line):
        """Draw the bar's current line: in place in a terminal or a notebook."""
        if not self._notebook:
            self._write(f"\r{line}")
            return
        from IPython.display import display

        if self._handle is None:
            self._handle = display({"text/plain": line}, raw=True, display_id=True)
        else:
            self._handle.update({"text/plain": line}, raw=True)

    def on_epoch_begin(self, epoch, logs=None):
        self._start = self._last = time.perf_counter()
        self._steps = self.params.get("steps")
        self._handle = None
        if self.verbose:
            self._write(f"Epoch {epoch + 1}/{self.params.get('epochs')}\n")

    def on_train_batch_end(self, batch, logs=None):
        if self.verbose != 1 or not self._live:
            return
        now = time.perf_counter()
        done = batch + 1
        if done < self._steps and now - self._last < (0.5 if self._notebook else 0.1):
            return
        self._last = now
        width = 30
        filled = int(width * done / self._steps)
        bar = "=" * max(filled - 1, 0) + (">" if done < self._steps else "=") + "." * (width - filled)
        elapsed = now - self._start
        eta = elapsed / done * (self._steps - done)
        digits = len(str(self._steps))
        tail = f"ETA: {_fmt_time(eta)}" if done < self._steps else f"{_fmt_time(elapsed)}"
        self._bar(f"{done:>{digits}}/{self._steps} [{bar[:width]}] - {tail}{_fmt_logs(logs or {})}   ")

    def on_epoch_end(self, epoch, logs=None):
        elapsed = time.perf_counter() - self._start
        per_step = 1000 * elapsed / max(self._steps, 1)
        if self.verbose == 1:
            line = (
                f"{self._steps}/{self._steps} [{'=' * 30}] - {_fmt_time(elapsed)} {per_step:.0f}ms/step"
                f"{_fmt_logs(logs or {})}"
            )
            if self._notebook:
                self._bar(line)
            else:
                self._write(f"\r{line}\n" if self._live else f"{line}\n")
        elif self.verbose == 2:
            self._write(
                f"{self._steps}/{self._steps} - {_fmt_time(elapsed)} - {per_step:.0f}ms/step{_fmt_logs(logs or {})}\n"
            )


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
        monitor="val_loss",
        min_delta=0.0,
        patience=0,
        verbose=0,
        mode="auto",
        baseline=None,
        restore_best_weights=False,
        start_from_epoch=0,
    ):
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

    def on_train_begin(self, logs=None):
        self.wait = 0
        self.stopped_epoch = 0
        self.best = math.inf if self.mode == "min" else -math.inf
        self.best_weights = None
        self.best_epoch = 0

    def on_epoch_end(self, epoch, logs=None):
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

    def __init__(
        self,
        filepath,
        monitor="val_loss",
        verbose=0,
        save_best_only=False,
        save_weights_only=True,
        mode="auto",
        save_freq="epoch",
    ):
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

    def __init__(self, schedule, verbose=0):
        super().__init__()
        if not callable(schedule):
            raise InvalidArgumentError(
                f"LearningRateScheduler: schedule must be a function (epoch, lr) -> float, "
                f"got {type(schedule).__name__}"
            )
        self.schedule, self.verbose = schedule, verbose

    def on_epoch_begin(self, epoch, logs=None):
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

    def on_epoch_end(self, epoch, logs=None):
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
        monitor="val_loss",
        factor=0.1,
        patience=10,
        verbose=0,
        mode="auto",
        min_delta=1e-4,
        cooldown=0,
        min_lr=0.0,
        **kwargs,
    ):
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

    def in_cooldown(self):
        return self.cooldown_counter > 0

    def _improved(self, current):
        if self.best is None:
            return True
        if self.mode == "min":
            return current + self.min_delta < self.best
        return current - self.min_delta > self.best

    def on_train_begin(self, logs=None):
        self._reset()

    def on_epoch_end(self, epoch, logs=None):
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
class CSVLogger(Callback):
    """Write one CSV row per epoch: ``epoch`` then the logged values in sorted order, as
    ``keras.callbacks.CSVLogger``.

    The columns are fixed at the first epoch; without validation data Keras also adds ``val_<name>`` columns
    (left ``NA``). ``append=True`` adds to an existing file (the header only if the file is empty). The file
    is flushed after every row and closed when training ends.
    """

    def __init__(self, filename, separator=",", append=False):
        super().__init__()
        self.sep, self.filename, self.append = separator, os.fspath(filename), bool(append)
        self.writer = self.keys = self.csv_file = None
        self.append_header = True

    def on_train_begin(self, logs=None):
        mode = "w"
        if self.append:
            if os.path.exists(self.filename):
                with open(self.filename) as f:
                    self.append_header = not bool(len(f.readline()))
            mode = "a"
        if self.csv_file is not None and not self.csv_file.closed:
            self.csv_file.close()
        self.csv_file = open(self.filename, mode, newline="")
        self.writer = self.keys = None

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}

        def value(v):
            if isinstance(v, str):
                return v
            if isinstance(v, (list, tuple)) or (isinstance(v, np.ndarray) and v.ndim > 0):
                return f'"[{", ".join(map(str, v))}]"'
            return v

        if self.keys is None:
            self.keys = sorted(logs)
            if self.keys and not any(k.startswith("val_") for k in self.keys):
                self.keys.extend([f"val_{k}" for k in self.keys])
        if self.writer is None:

            class Dialect(csv.excel):
                delimiter = self.sep

            self.writer = csv.DictWriter(self.csv_file, fieldnames=["epoch"] + self.keys, dialect=Dialect)
            if self.append_header:
                self.writer.writeheader()
        row = {"epoch": epoch}
        row.update((k, value(logs.get(k, "NA"))) for k in self.keys)
        self.writer.writerow(row)
        self.csv_file.flush()

    def on_train_end(self, logs=None):
        if self.csv_file is not None and not self.csv_file.closed:
            self.csv_file.close()
        self.writer = None


class LambdaCallback(Callback):
    """A callback made of plain functions, as ``keras.callbacks.LambdaCallback``. They are called with Keras's
    positional arguments: ``on_epoch_begin(epoch, logs)``, ``on_epoch_end(epoch, logs)``,
    ``on_train_begin(logs)``, ``on_train_end(logs)``, ``on_train_batch_begin(batch, logs)``,
    ``on_train_batch_end(batch, logs)`` (also spelled ``on_batch_begin``/``on_batch_end``).

    >>> print_epochs = LambdaCallback(on_epoch_end=lambda epoch, logs: print(epoch, logs["loss"]))
    """

    def __init__(
        self,
        on_epoch_begin=None,
        on_epoch_end=None,
        on_train_begin=None,
        on_train_end=None,
        on_train_batch_begin=None,
        on_train_batch_end=None,
        **kwargs,
    ):
        super().__init__()
        on_train_batch_begin = on_train_batch_begin or kwargs.pop("on_batch_begin", None)
        on_train_batch_end = on_train_batch_end or kwargs.pop("on_batch_end", None)
        self.__dict__.update(kwargs)  # Keras keeps any other keyword as an attribute
        hooks = {
            "on_epoch_begin": on_epoch_begin,
            "on_epoch_end": on_epoch_end,
            "on_train_begin": on_train_begin,
            "on_train_end": on_train_end,
            "on_train_batch_begin": on_train_batch_begin,
            "on_train_batch_end": on_train_batch_end,
        }
        for name, fn in hooks.items():
            if fn is not None and not callable(fn):
                raise InvalidArgumentError(f"LambdaCallback {name} must be a function, got {type(fn).__name__}")
        self._fns = hooks

    def on_train_begin(self, logs=None):
        if self._fns["on_train_begin"]:
            self._fns["on_train_begin"](logs)

    def on_train_end(self, logs=None):
        if self._fns["on_train_end"]:
            self._fns["on_train_end"](logs)

    def on_epoch_begin(self, epoch, logs=None):
        if self._fns["on_epoch_begin"]:
            self._fns["on_epoch_begin"](epoch, logs)

    def on_epoch_end(self, epoch, logs=None):
        if self._fns["on_epoch_end"]:
            self._fns["on_epoch_end"](epoch, logs)

    def on_train_batch_begin(self, batch, logs=None):
        if self._fns["on_train_batch_begin"]:
            self._fns["on_train_batch_begin"](batch, logs)

    def on_train_batch_end(self, batch, logs=None):
        if self._fns["on_train_batch_end"]:
            self._fns["on_train_batch_end"](batch, logs)
