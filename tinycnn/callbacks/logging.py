"""``CSVLogger`` (one row per epoch, Keras's columns) and ``LambdaCallback`` (hooks from plain functions)."""

from __future__ import annotations

import csv
import os
from collections.abc import Callable
from typing import Any

import numpy as np

from ..errors import InvalidArgumentError
from ..hints import Logs
from .base import Callback


class CSVLogger(Callback):
    """Write one CSV row per epoch: ``epoch`` then the logged values in sorted order, as
    ``keras.callbacks.CSVLogger``.

    The columns are fixed at the first epoch; without validation data Keras also adds ``val_<name>`` columns
    (left ``NA``). ``append=True`` adds to an existing file (the header only if the file is empty). The file
    is flushed after every row and closed when training ends.
    """

    def __init__(self, filename: str | os.PathLike[str], separator: str = ",", append: bool = False) -> None:
        super().__init__()
        self.sep, self.filename, self.append = separator, os.fspath(filename), bool(append)
        self.writer = self.keys = self.csv_file = None
        self.append_header = True

    def on_train_begin(self, logs: Logs | None = None) -> None:
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

    def on_epoch_end(self, epoch: int, logs: Logs | None = None) -> None:
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

    def on_train_end(self, logs: Logs | None = None) -> None:
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
        on_epoch_begin: Callable[[int, Logs], Any] | None = None,
        on_epoch_end: Callable[[int, Logs], Any] | None = None,
        on_train_begin: Callable[[Logs], Any] | None = None,
        on_train_end: Callable[[Logs], Any] | None = None,
        on_train_batch_begin: Callable[[int, Logs], Any] | None = None,
        on_train_batch_end: Callable[[int, Logs], Any] | None = None,
        **kwargs: Any,
    ) -> None:
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

    def on_train_begin(self, logs: Logs | None = None) -> None:
        if self._fns["on_train_begin"]:
            self._fns["on_train_begin"](logs)

    def on_train_end(self, logs: Logs | None = None) -> None:
        if self._fns["on_train_end"]:
            self._fns["on_train_end"](logs)

    def on_epoch_begin(self, epoch: int, logs: Logs | None = None) -> None:
        if self._fns["on_epoch_begin"]:
            self._fns["on_epoch_begin"](epoch, logs)

    def on_epoch_end(self, epoch: int, logs: Logs | None = None) -> None:
        if self._fns["on_epoch_end"]:
            self._fns["on_epoch_end"](epoch, logs)

    def on_train_batch_begin(self, batch: int, logs: Logs | None = None) -> None:
        if self._fns["on_train_batch_begin"]:
            self._fns["on_train_batch_begin"](batch, logs)

    def on_train_batch_end(self, batch: int, logs: Logs | None = None) -> None:
        if self._fns["on_train_batch_end"]:
            self._fns["on_train_batch_end"](batch, logs)
