"""What keeps a training step all or nothing and safe to share: the engine lock, Ctrl-C held until a step ends,
and the copies that undo a refused step.

* **Threads.** Layers keep the cache of their last ``forward`` on themselves, so two threads using the same
  layers at once would mix their caches. :data:`ENGINE_LOCK` is held around each training step and each batch of
  ``predict``/``evaluate`` (and ``model(x)``, ``layer(x)``): a ``predict`` in another thread waits for the step.
* **Ctrl-C.** While a step runs, SIGINT only sets a flag (:class:`_Interrupts`); training stops cleanly between
  steps. An optimizer step is applied to all weights or to none.
* **Undo.** :class:`_Undo` copies the arrays a step may change (weights, optimizer slots, moving statistics)
  into buffers kept from step to step, and puts them back when the step is refused (a NaN or infinite loss,
  gradient or weight).
"""

import contextlib
import signal
import threading

import numpy as np

#: Held around every use of layers' caches: a training step, a batch of predict/evaluate, ``model(x)``
#: (module docstring, "Threads"). Re-entrant, so a step may call ``forward`` which takes it again.
ENGINE_LOCK = threading.RLock()


class _Interrupts:
    """Ctrl-C as a flag (module docstring, "Ctrl-C"): ``with _INTERRUPTS.deferred():`` installs a SIGINT
    handler that only records the signal; :meth:`check` raises ``KeyboardInterrupt`` at a point the caller
    chooses (between steps). Nested blocks share the outermost handler; leaving the outermost block puts the
    previous handler back and raises ``KeyboardInterrupt`` if a signal is still unanswered. Outside the main
    thread (where Python delivers no signals) it does nothing."""

    def __init__(self):
        self.pending = False
        self._depth = 0
        self._previous = None

    def _handler(self, signum, frame):
        self.pending = True

    def check(self):
        """Raise ``KeyboardInterrupt`` if Ctrl-C came since the last check."""
        if self.pending:
            self.pending = False
            raise KeyboardInterrupt

    @contextlib.contextmanager
    def deferred(self):
        if threading.current_thread() is not threading.main_thread():
            yield self
            return
        if self._depth == 0:
            try:
                self._previous = signal.signal(signal.SIGINT, self._handler)
            except ValueError:  # not the main interpreter: leave signals alone
                yield self
                return
            self.pending = False
        self._depth += 1
        try:
            yield self
        finally:
            self._depth -= 1
            if self._depth == 0:
                previous = self._previous if self._previous is not None else signal.default_int_handler
                signal.signal(signal.SIGINT, previous)
                self._previous = None
                if self.pending:
                    self.pending = False
                    raise KeyboardInterrupt


_INTERRUPTS = _Interrupts()


def _defer_keyboard_interrupt():
    """Hold Ctrl-C until the block ends, so an optimizer step is applied to all weights or to none."""
    return _INTERRUPTS.deferred()


class _Undo:
    """Copies of arrays taken before a training step, so a refused step can be undone exactly.

    The copies go into buffers kept from step to step (no allocation per step).
    """

    def __init__(self):
        self._buffers = {}
        self._taken = []

    def take(self, arrays):
        """Copy ``arrays`` now, to be restored if the step is refused."""
        for a in arrays:
            entry = self._buffer(a)
            np.copyto(entry[1], a)
            self._taken.append(entry)

    def _buffer(self, a):
        entry = self._buffers.get(id(a))
        if entry is None or entry[0] is not a:
            entry = (a, np.empty_like(a))
            self._buffers[id(a)] = entry
        return entry

    def __call__(self, a):
        """The buffer that is to receive ``a``'s values from before the step (an update kernel fills it in the
        same pass as the update: ``keep=`` of ``tinycnn.kernels.sgd_update`` ...); :meth:`kept` then marks it."""
        return self._buffer(a)[1]

    def kept(self, arrays):
        """Mark ``arrays``, whose buffers a kernel has filled, to be restored if the step is refused."""
        self._taken.extend(self._buffer(a) for a in arrays)

    def restore(self):
        for a, copy in self._taken:
            np.copyto(a, copy)

    def clear(self):
        self._taken = []
