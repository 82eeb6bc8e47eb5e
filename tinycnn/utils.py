"""Small utilities the course uses: ``to_categorical``, ``set_random_seed``; and atomic file writing."""
import contextlib
import os
import random
import tempfile

import numpy as np

from .errors import InvalidArgumentError, InvalidInputError

__all__ = ["to_categorical", "set_random_seed", "atomic_open", "floatx", "set_floatx"]

_FLOATX = {"value": "float32"}


def floatx():
    """The default float dtype of new layers (``"float32"``, as in Keras)."""
    return _FLOATX["value"]


def set_floatx(dtype):
    """Set the default float dtype of new layers: ``"float32"`` or ``"float64"``."""
    name = np.dtype(dtype).name
    if name not in ("float32", "float64"):
        raise InvalidArgumentError(f"floatx must be 'float32' or 'float64', got {dtype!r}")
    _FLOATX["value"] = name


def to_categorical(y, num_classes=None, dtype="float32"):
    """One-hot encode integer class labels, as ``keras.utils.to_categorical``.

    >>> to_categorical([0, 2, 1])
    array([[1., 0., 0.],
           [0., 0., 1.],
           [0., 1., 0.]], dtype=float32)
    """
    y = np.asarray(y)
    if y.size and not np.issubdtype(y.dtype, np.integer):
        if not np.issubdtype(y.dtype, np.floating) or not np.all(np.isfinite(y)) or np.any(y != np.round(y)):
            raise InvalidInputError(f"to_categorical expects integer class labels, got dtype {y.dtype}")
    y = y.astype(np.int64)
    if y.ndim > 1 and y.shape[-1] == 1:
        y = y.reshape(y.shape[:-1])
    if y.size and y.min() < 0:
        raise InvalidInputError(f"to_categorical got a negative label ({y.min()}); labels must be 0..num_classes-1")
    if num_classes is None:
        num_classes = int(y.max()) + 1 if y.size else 0
    elif y.size and y.max() >= num_classes:
        raise InvalidInputError(f"label {y.max()} does not fit num_classes={num_classes}")
    out = np.zeros(y.shape + (num_classes,), dtype=dtype)
    np.put_along_axis(out, y[..., None], 1, axis=-1)
    return out


def set_random_seed(seed):
    """Seed Python's, NumPy's and tinycnn's random generators (weight init, shuffling, dropout)."""
    random.seed(seed)
    np.random.seed(seed)
    from . import initializers

    initializers.set_seed(seed)


@contextlib.contextmanager
def atomic_open(path, mode="wb"):
    """Write a file so that readers see either the old file or the complete new one, never half.

    The data goes to a temporary file in the same folder, is flushed and ``fsync``-ed, then
    ``os.replace`` swaps it in (atomic on POSIX and Windows). On any exception -- including
    ``KeyboardInterrupt`` -- the temporary file is removed and the old file is untouched.
    """
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix="." + os.path.basename(path) + ".", suffix=".tmp", dir=folder)
    try:
        with os.fdopen(fd, mode) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.remove(tmp)
        raise
