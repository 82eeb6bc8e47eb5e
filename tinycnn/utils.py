"""Small utilities the course uses: ``to_categorical``, ``set_random_seed``, ``PyDataset`` (Keras 2: ``Sequence``);
and atomic file writing."""

from __future__ import annotations

import contextlib
import os
import random
import tempfile
from collections.abc import Iterator
from typing import IO, TYPE_CHECKING, Any

import numpy as np
from numpy.typing import ArrayLike, DTypeLike

from .errors import InvalidArgumentError, InvalidInputError
from .hints import Array

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from .models.model import Model

__all__ = ["to_categorical", "set_random_seed", "atomic_open", "floatx", "set_floatx", "PyDataset", "Sequence"]

_FLOATX = {"value": "float32"}


def floatx() -> str:
    """The default float dtype of new layers (``"float32"``, as in Keras)."""
    return _FLOATX["value"]


def set_floatx(dtype: DTypeLike) -> None:
    """Set the default float dtype of new layers: ``"float32"`` or ``"float64"``."""
    name = np.dtype(dtype).name
    if name not in ("float32", "float64"):
        raise InvalidArgumentError(f"floatx must be 'float32' or 'float64', got {dtype!r}")
    _FLOATX["value"] = name


def to_categorical(y: ArrayLike, num_classes: int | None = None, dtype: DTypeLike = "float32") -> Array:
    """One-hot encode integer class labels, as ``keras.utils.to_categorical``.

    >>> to_categorical([0, 2, 1])
    array([[1., 0., 0.],
           [0., 0., 1.],
           [0., 1., 0.]], dtype=float32)
    """
    from .validation import check_int

    num_classes = check_int(num_classes, "num_classes", "to_categorical", low=1, allow_none=True)
    try:
        y = np.asarray(y)
    except (ValueError, TypeError) as e:
        raise InvalidInputError(f"to_categorical expects an array of integer class labels: {e}") from None
    if y.size and not np.issubdtype(y.dtype, np.integer):
        if not np.issubdtype(y.dtype, np.floating) or not np.all(np.isfinite(y)) or np.any(y != np.round(y)):
            raise InvalidInputError(f"to_categorical expects integer class labels, got dtype {y.dtype}")
        if np.max(np.abs(y)) >= 2**53:  # beyond this a float is no longer an exact integer (nor fits int64)
            raise InvalidInputError(
                f"to_categorical: label {np.max(np.abs(y)):g} is far too large to be a class "
                f"index; labels must be 0..num_classes-1"
            )
    y = y.astype(np.int64)
    if y.ndim > 1 and y.shape[-1] == 1:
        y = y.reshape(y.shape[:-1])
    if y.size and y.min() < 0:
        raise InvalidInputError(f"to_categorical got a negative label ({y.min()}); labels must be 0..num_classes-1")
    if num_classes is None:
        num_classes = int(y.max()) + 1 if y.size else 0
    elif y.size and y.max() >= num_classes:
        raise InvalidInputError(f"label {y.max()} does not fit num_classes={num_classes}")
    try:
        out = np.zeros(y.shape + (num_classes,), dtype=dtype)
    except MemoryError:
        raise InvalidInputError(
            f"to_categorical: {y.size} labels x {num_classes} classes do not fit in memory "
            f"(the largest label is {int(y.max()) if y.size else 0}); are these class "
            f"labels?"
        ) from None
    np.put_along_axis(out, y[..., None], 1, axis=-1)
    return out


def set_random_seed(seed: int | None) -> None:
    """Seed Python's, NumPy's and tinycnn's random generators (weight init, shuffling, dropout)."""
    random.seed(seed)
    np.random.seed(seed)
    from . import initializers

    initializers.set_seed(seed)


_TEMP_SUFFIX = ".tmp"
_active_temps = set()  # temporary files this process is writing now (never swept)


def _temp_prefix(path):
    return "." + os.path.basename(path) + "."


def _process_alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):
        return True  # someone else's process, or we cannot tell: keep its file
    return True


def _sweep_stale_temps(path):
    """Remove the temporary files that earlier saves of ``path`` left behind when their process was killed
    (SIGKILL, power loss): ``.<name>.<pid>.<random>.tmp`` whose process no longer runs, or ours that no save of
    this process is writing. A save still running in another process keeps its file."""
    folder = os.path.dirname(os.path.abspath(path))
    prefix = _temp_prefix(path)
    try:
        names = os.listdir(folder)
    except OSError:
        return
    for name in names:
        if not (name.startswith(prefix) and name.endswith(_TEMP_SUFFIX)):
            continue
        pid = name[len(prefix) : -len(_TEMP_SUFFIX)].split(".")[0]
        full = os.path.join(folder, name)
        if not pid.isdigit() or full in _active_temps:
            continue
        if int(pid) == os.getpid() or not _process_alive(int(pid)):
            with contextlib.suppress(OSError):
                os.remove(full)


def _umask():
    """The process's umask, read without changing it where Linux allows (``/proc/self/status``)."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)  # elsewhere: read it by setting it, and put it straight back
    os.umask(mask)
    return mask


def _write_error(e, path):
    """``e`` (an ``OSError`` about the hidden temporary file) as the same kind of error about the user's path."""
    error = type(e)(e.errno, f"cannot write {path!r}: {e.strerror or e}", path)
    return error


@contextlib.contextmanager
def atomic_open(path: str | os.PathLike[str], mode: str = "wb") -> Iterator[IO[Any]]:
    """Write a file so that readers see either the old file or the complete new one, never half.

    The data goes to a temporary file ``.<name>.<pid>.<random>.tmp`` in the same folder, is flushed and
    ``fsync``-ed, then ``os.replace`` swaps it in (atomic on POSIX and Windows). On any exception -- including
    ``KeyboardInterrupt`` -- the temporary file is removed and the old file is untouched. A process killed
    mid-save (SIGKILL) cannot clean up: the next save of the same path sweeps such leftovers (their process
    is gone). The file gets the mode an ordinary ``open`` would give it (``0o666`` less the umask; an existing
    file keeps its mode), not ``mkstemp``'s ``0o600``. Errors name ``path``, never the temporary file; a
    folder as ``path`` is an :class:`~tinycnn.errors.InvalidArgumentError`.
    """
    from .validation import check_path

    path = check_path(path, "save")
    if os.path.isdir(path):
        raise InvalidArgumentError(
            f"cannot write {path!r}: it is a folder; give a file name inside it, e.g. "
            f"{os.path.join(path, 'model.weights.h5')!r}"
        )
    folder = os.path.dirname(os.path.abspath(path))
    try:
        os.makedirs(folder, exist_ok=True)
        _sweep_stale_temps(path)
        fd, tmp = tempfile.mkstemp(prefix=f"{_temp_prefix(path)}{os.getpid()}.", suffix=_TEMP_SUFFIX, dir=folder)
    except OSError as e:
        raise _write_error(e, path) from None
    _active_temps.add(tmp)
    try:
        with os.fdopen(fd, mode) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        try:
            mode_bits = os.stat(path).st_mode & 0o7777
        except OSError:
            mode_bits = 0o666 & ~_umask()
        try:
            os.chmod(tmp, mode_bits)
            os.replace(tmp, path)
        except OSError as e:
            raise _write_error(e, path) from None
    except BaseException:
        with contextlib.suppress(OSError):
            os.remove(tmp)
        raise
    finally:
        _active_temps.discard(tmp)


class PyDataset:
    """Base class of a data set served in batches, as ``keras.utils.PyDataset`` (Keras 2: ``Sequence``).

    Subclass it and define ``__len__`` (the number of batches per epoch) and ``__getitem__(idx)``, which
    returns batch ``idx`` as ``(x, y)`` or ``(x, y, sample_weight)``: a whole batch, not one sample.
    ``on_epoch_end`` (and ``on_epoch_begin``) are called by ``fit`` around each epoch -- the place to
    reshuffle. ``fit``, ``evaluate`` and ``predict`` take such an object in place of ``x``; each epoch they ask
    for the batches ``0 .. len(self) - 1`` in order.

    ``workers``, ``use_multiprocessing`` and ``max_queue_size`` are accepted, kept as attributes and
    otherwise ignored: tinycnn reads batches in the training thread (its kernels already use every core).

    >>> import numpy as np
    >>> class Batches(PyDataset):
    ...     def __init__(self, x, y, batch_size, **kwargs):
    ...         super().__init__(**kwargs)
    ...         self.x, self.y, self.batch_size = x, y, batch_size
    ...     def __len__(self):
    ...         return -(-len(self.x) // self.batch_size)  # round up: the last batch may be smaller
    ...     def __getitem__(self, idx):
    ...         part = slice(idx * self.batch_size, (idx + 1) * self.batch_size)
    ...         return self.x[part], self.y[part]
    >>> data = Batches(np.arange(10.0).reshape(5, 2), np.arange(5), batch_size=2, workers=4)
    >>> len(data), data.num_batches, data.workers
    (3, 3, 4)
    >>> [y.tolist() for _, y in data]
    [[0, 1], [2, 3], [4]]
    """

    def __init__(self, workers: int = 1, use_multiprocessing: bool = False, max_queue_size: int = 10) -> None:
        self.workers = workers
        self.use_multiprocessing = use_multiprocessing
        self.max_queue_size = max_queue_size

    def __getitem__(self, index: int) -> tuple[Any, ...]:
        """Batch ``index``: ``(x, y)`` or ``(x, y, sample_weight)``."""
        raise NotImplementedError(
            f"{type(self).__name__} must define __getitem__(self, index), returning "
            "batch number index as (x, y) or (x, y, sample_weight)"
        )

    def __len__(self) -> int:
        raise NotImplementedError(f"{type(self).__name__} must define __len__(self), the number of batches per epoch")

    @property
    def num_batches(self) -> int:
        """The number of batches per epoch, ``len(self)`` (Keras 3's name)."""
        return len(self)

    def __iter__(self) -> Iterator[tuple[Any, ...]]:
        """The batches of one epoch, in order."""
        for index in range(len(self)):
            yield self[index]

    def on_epoch_begin(self) -> None:
        """Called by ``fit`` before each epoch; does nothing unless overridden."""

    def on_epoch_end(self) -> None:
        """Called by ``fit`` after each epoch; does nothing unless overridden (override it to reshuffle)."""


#: Keras 2's name of :class:`PyDataset` (``keras.utils.Sequence``).
Sequence = PyDataset


def plot_model(
    model: Model,
    to_file: str | os.PathLike[str] = "model.png",
    show_shapes: bool = True,
    show_layer_names: bool = True,
    **kwargs: Any,
) -> Figure:
    """A model's graph drawn with matplotlib (no Graphviz), as ``keras.utils.plot_model``; see
    :mod:`tinycnn.model_plot`."""
    from .model_plot import plot_model as _plot_model

    return _plot_model(model, to_file=to_file, show_shapes=show_shapes, show_layer_names=show_layer_names, **kwargs)


class EagerArray(np.ndarray):
    """The array ``layer(x)`` and ``model(x)`` return for array inputs: a NumPy array that also has Keras's
    ``.numpy()`` (TensorFlow's eager tensors have it; course scripts write ``model(x[:1]).numpy()``).

    >>> a = np.arange(3.0).view(EagerArray)
    >>> a.numpy()
    array([0., 1., 2.])
    """

    def numpy(self) -> Array:
        return np.asarray(self)

    def __repr__(self):
        return repr(np.asarray(self))


def as_eager(value: Array | list[Array]) -> Array | list[Array]:
    """``value`` (an array or a list of arrays) viewed as :class:`EagerArray`."""
    if isinstance(value, list):
        return [as_eager(v) for v in value]
    return value.view(EagerArray) if isinstance(value, np.ndarray) else value
