"""``ProgbarLogger``: Keras's progress bar -- a bar redrawn in place on a terminal, one display updated in a
notebook, the final bar of each epoch in a log file."""

from __future__ import annotations

import sys
import time
from typing import TextIO

from ..hints import Logs
from .base import Callback


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

    def __init__(self, verbose: int | str = 1, stream: TextIO | None = None) -> None:
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

    def on_epoch_begin(self, epoch: int, logs: Logs | None = None) -> None:
        self._start = self._last = time.perf_counter()
        self._steps = self.params.get("steps")
        self._handle = None
        if self.verbose:
            self._write(f"Epoch {epoch + 1}/{self.params.get('epochs')}\n")

    def on_train_batch_end(self, batch: int, logs: Logs | None = None) -> None:
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

    def on_epoch_end(self, epoch: int, logs: Logs | None = None) -> None:
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
