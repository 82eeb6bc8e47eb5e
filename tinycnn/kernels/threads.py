"""The engine's threads: which Numba threading layer runs the ``prange`` loops, when it starts, and ``fork``.

Every compiled kernel of the engine is a ``prange`` loop (``parallel=True``). Numba runs such loops on one of
three *threading layers*:

* ``omp``       -- the GNU OpenMP runtime (libgomp) on Linux;
* ``tbb``       -- Intel's oneTBB (a separate ``pip install tbb``);
* ``workqueue`` -- Numba's own small pool of POSIX threads (always there).

**What tinycnn asks for: ``tbb``, else ``workqueue``** (:data:`LAYER_PRIORITY`). The choice is made by
measurement (``benchmarks/threading_layers.py``; the figures, commands and conditions are in
``benchmarks/README.md``, "Threading layer"), against two requirements:

1. *Fork after training.* ``os.fork()`` in a process that has run a parallel loop on GNU OpenMP leaves the
   child unable to run one: Numba terminates such a child (``SIGTERM``, "fork() called from a process
   already using GNU OpenMP"), and a ``multiprocessing`` pool started by ``fork`` hangs. That is what
   tinycnn did before (it preferred ``omp``). ``tbb`` and ``workqueue`` reset their pools in the child, so
   a forked child, a fork-start pool and a spawn-start pool all work (``tests/test_processes.py``).
2. *The same training speed.* A training step of the course CNN is about a hundred kernel calls, so the
   cost of handing work to the threads matters as much as the arithmetic. ``tbb`` trained about as fast as
   OpenMP with its short spin (0.94-1.11x its step time in interleaved runs on the shared 2-core machine:
   within the noise, not shown to be within 5%), and far faster on a loaded machine, where spinning threads
   hold cores other processes need; ``workqueue``, whose threads sleep between loops, took 1.5-1.8x.

``tbb`` is the ``tbb`` package on PyPI (oneTBB). Numba loads ``libtbb.so.12`` by name, which the loader does not
look for in the virtual environment's ``lib/`` where pip puts it, so :func:`start` loads it from there first
(:func:`_load_tbb`). Without it Numba takes ``workqueue``: fork-safe, slower.

One limit of ``workqueue``: two Python threads may not run parallel loops at the same time (Numba aborts
the process). Every public kernel of the engine therefore runs under one lock, :data:`LOCK` (a model already
serialises its steps with its own lock; the kernels' lock also covers direct calls such as
``tinycnn.kernels.conv2d_forward`` from several threads).

**Nothing happens at import.** ``import tinycnn`` starts no thread, sets no environment variable and changes
no Numba setting. The first call of a compiled kernel calls :func:`start`, which

* leaves a layer chosen by the user alone (``NUMBA_THREADING_LAYER`` in the environment, read by Numba itself,
  or ``numba.config.THREADING_LAYER`` set in code), and leaves alone threads Numba has already started
  (another library's parallel code ran first): the engine then runs on those;
* otherwise makes oneTBB findable and sets ``numba.config.THREADING_LAYER_PRIORITY`` to
  :data:`LAYER_PRIORITY` before Numba launches its threads, which it does at that first call;
* registers a fork handler that gives the child a fresh :data:`LOCK` (a lock held by another thread at the
  moment of the fork would otherwise stay held for ever in the child).

:func:`info` reports the layer that runs, the thread count and who chose the layer (the benchmarks record it).
"""

from __future__ import annotations

import ctypes
import functools
import os
import sys
import threading
from collections.abc import Callable
from typing import Any, TypeVar

import numba

__all__ = ["LAYER_PRIORITY", "LOCK", "start", "info", "engine_call"]

_F = TypeVar("_F", bound=Callable[..., Any])

#: The layers tinycnn asks Numba for, best first, when nobody else has chosen one (see the module docstring):
#: Numba takes the first that loads.
LAYER_PRIORITY = ["tbb", "workqueue", "omp"]

#: File name of oneTBB's library, by platform (the one Numba loads).
_TBB_LIBRARY = {"linux": "libtbb.so.12", "darwin": "libtbb.12.dylib", "win32": "tbb12.dll"}

#: Held while a compiled kernel runs (``workqueue`` accepts one caller at a time). Re-entrant, so a kernel
#: may call another.
LOCK = threading.RLock()

_state = {"started": False, "chosen_by": None}
_start_lock = threading.Lock()


def _numba_threads_running() -> bool:
    """True when Numba has launched its threading layer in this process already."""
    from numba.np.ufunc import parallel

    return bool(getattr(parallel, "_is_initialized", False))


def _load_tbb() -> bool:
    """Make oneTBB findable by Numba; True if it loaded.

    ``pip install tbb`` puts ``libtbb.so.12`` in ``<environment>/lib``, which is not on the dynamic loader's
    path, and Numba loads it by its bare name: so it is loaded here from there first (once a library is
    loaded, the loader finds it by name).
    """
    name = _TBB_LIBRARY.get(sys.platform)
    if name is None:
        return False
    for prefix in dict.fromkeys((sys.prefix, sys.base_prefix)):
        folder = ("Library", "bin") if sys.platform == "win32" else ("lib",)
        path = os.path.join(prefix, *folder, name)
        if os.path.exists(path):
            try:
                ctypes.CDLL(path, mode=getattr(ctypes, "RTLD_GLOBAL", 0))
                return True
            except OSError:
                pass
    try:
        ctypes.CDLL(name)
        return True
    except OSError:
        return False


def _after_fork_in_child() -> None:
    global LOCK
    LOCK = threading.RLock()


def start() -> dict[str, Any]:
    """Choose the threading layer (unless someone else did) before Numba's first parallel loop; idempotent.

    Called by :func:`engine_call` on the first call of a compiled kernel, never at import. Returns
    :func:`info`'s dict.
    """
    if _state["started"]:
        return info()
    with _start_lock:
        if _state["started"]:
            return info()
        if numba.config.DISABLE_JIT:
            chosen_by = "none (NUMBA_DISABLE_JIT=1: plain Python, no threads)"
        elif _numba_threads_running():
            chosen_by = "already running when tinycnn's first kernel ran"
        elif os.environ.get("NUMBA_THREADING_LAYER") or numba.config.THREADING_LAYER != "default":
            chosen_by = "user (NUMBA_THREADING_LAYER or numba.config.THREADING_LAYER)"
        else:
            _load_tbb()
            numba.config.THREADING_LAYER_PRIORITY = list(LAYER_PRIORITY)
            chosen_by = "tinycnn"
        os.register_at_fork(after_in_child=_after_fork_in_child)
        _state.update(started=True, chosen_by=chosen_by)
    return info()


def info() -> dict[str, Any]:
    """``{"layer": ..., "threads": ..., "chosen_by": ...}``: the threading layer Numba runs (None before the
    first parallel loop), its thread count and who chose the layer (None before :func:`start`)."""
    layer = None
    if _numba_threads_running():
        try:
            layer = numba.threading_layer()
        except ValueError:  # launched but not yet reporting
            layer = None
    return {"layer": layer, "threads": numba.config.NUMBA_NUM_THREADS, "chosen_by": _state["chosen_by"]}


def engine_call(function: _F) -> _F:
    """Decorator for the engine's public kernels: :func:`start` on the first call, then run under :data:`LOCK`."""

    @functools.wraps(function)
    def call(*args: Any, **kwargs: Any) -> Any:
        if not _state["started"]:
            start()
        with LOCK:
            return function(*args, **kwargs)

    return call  # type: ignore[return-value]  # the same signature, by functools.wraps
