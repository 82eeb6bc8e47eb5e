"""Checks at the model boundary, so a student's mistake gets a message that names it and the fix,
instead of a traceback from deep inside NumPy. Used by ``Sequential.fit/evaluate/predict``.

**Numbers.** Wherever tinycnn takes a Python number it takes every real number type: ``int`` and ``float``,
NumPy's scalars (``np.float32(0.25)``, ``np.int64(1)``), 0-d arrays and ``fractions.Fraction`` -- through one
checker, :func:`check_number` (:func:`check_int` for counts and axes). ``bool`` is refused (``True`` is not a
learning rate), so are strings, ``None``, NaN and infinities unless asked for. An integral float
(``epochs=2.0``) is not an int, as in Keras (``range(2.0)`` fails there with a raw ``TypeError``); the message
says to write ``2``.

>>> check_number(np.float32(0.25), "validation_split", "fit", low=0, high=1, high_open=True)
0.25
>>> check_int(np.int64(3), "epochs", "fit", low=0)
3
"""

import numbers
import os

import numpy as np

from . import losses
from .errors import InvalidArgumentError, InvalidInputError, InvalidTypeError


def _as_real(value):
    """``value`` as a Python number if it is a real number of any type (not bool), else None."""
    if isinstance(value, (bool, np.bool_)):
        return None
    if (
        isinstance(value, np.ndarray)
        and value.ndim == 0
        and (np.issubdtype(value.dtype, np.integer) or np.issubdtype(value.dtype, np.floating))
    ):
        value = value[()]
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, numbers.Real):
        return float(value)
    return None


def _prefix(where):
    return f"{where}: " if where else ""


def check_number(
    value, what, where, low=None, high=None, low_open=False, high_open=False, finite=True, allow_none=False
):
    """``value`` as a Python ``float`` (or ``int`` if it is one), refused with a clear error unless it is a real
    number in the range (``low``/``high`` bounds, inclusive unless ``*_open``)."""
    if value is None and allow_none:
        return None
    if low is not None and high is not None:
        bounds = f"in {'(' if low_open else '['}{low}, {high}{')' if high_open else ']'}"
    else:
        bounds = " and ".join(
            part
            for part in (
                None if low is None else f"{'>' if low_open else '>='} {low}",
                None if high is None else f"{'<' if high_open else '<='} {high}",
            )
            if part
        )
    number = _as_real(value)
    if number is None:
        raise InvalidArgumentError(
            f"{_prefix(where)}{what} must be a number{' ' + bounds if bounds else ''}, got "
            f"{value!r} ({type(value).__name__})"
        )
    if finite and not np.isfinite(number):
        raise InvalidArgumentError(f"{_prefix(where)}{what} must be a finite number, got {value!r}")
    if (low is not None and (number <= low if low_open else number < low)) or (
        high is not None and (number >= high if high_open else number > high)
    ):
        raise InvalidArgumentError(f"{_prefix(where)}{what} must be {bounds}, got {value!r}")
    return number


def check_int(value, what, where, low=None, high=None, allow_none=False):
    """``value`` as a Python ``int`` (any integer type: ``int``, ``np.int64`` ...), in ``[low, high]``."""
    if value is None and allow_none:
        return None
    number = _as_real(value)
    kind = (
        "a non-negative int"
        if low == 0 and high is None
        else "a positive int"
        if low == 1 and high is None
        else "an int"
    )
    if not isinstance(number, int):
        hint = (
            f"; write {int(number)}"
            if isinstance(number, float) and np.isfinite(number) and number == int(number)
            else ""
        )
        raise InvalidArgumentError(
            f"{_prefix(where)}{what} must be {kind}, got {value!r} ({type(value).__name__}){hint}"
        )
    if kind != "an int" and number < low:
        raise InvalidArgumentError(f"{_prefix(where)}{what} must be {kind}, got {value!r}")
    return check_number(number, what, where, low=low, high=high)


def check_path(filepath, where):
    """``filepath`` (``str``/``bytes``/``os.PathLike``) as a ``str``, or a clear error for ``None``, ``""``
    and other types."""
    try:
        path = os.fspath(filepath)
    except TypeError:
        raise InvalidTypeError(
            f"{where}: the file path must be a string or a pathlib.Path, got {type(filepath).__name__} {filepath!r}"
        ) from None
    if isinstance(path, bytes):
        path = os.fsdecode(path)
    if not path:
        raise InvalidArgumentError(f"{where}: the file path is empty; give a file name such as 'model.weights.h5'")
    return path


def check_verbose(verbose, where):
    """Keras's ``verbose``: 0 (silent), 1 (progress bar), 2 (one line per epoch), or ``"auto"`` (1)."""
    if isinstance(verbose, str) and verbose == "auto":
        return 1
    if isinstance(verbose, (bool, np.bool_)):
        return int(verbose)
    number = _as_real(verbose)
    if number not in (0, 1, 2):
        raise InvalidArgumentError(f"{where}: verbose must be 0, 1, 2 or 'auto', got {verbose!r}")
    return int(number)


def as_numeric_array(data, what, where):
    """``data`` as a NumPy array of numbers, or a clear error."""
    if data is None:
        raise InvalidInputError(f"{where}: {what} is missing (got None)")
    if isinstance(data, (str, bytes, dict, set)):
        raise InvalidTypeError(f"{where}: {what} must be a NumPy array of numbers, got {type(data).__name__}")
    try:
        arr = np.asarray(data)
    except (ValueError, TypeError) as e:
        raise InvalidTypeError(
            f"{where}: {what} cannot be turned into a NumPy array ({e}); are the samples of different shapes?"
        ) from None
    if arr.dtype == object or not (np.issubdtype(arr.dtype, np.number) or arr.dtype == bool):
        raise InvalidTypeError(
            f"{where}: {what} must hold numbers, got dtype {arr.dtype}; convert it with "
            f"np.asarray(..., dtype='float32') (are some entries strings or None?)"
        )
    if np.issubdtype(arr.dtype, np.complexfloating):
        raise InvalidTypeError(f"{where}: {what} must be real numbers, got complex dtype {arr.dtype}")
    if arr.ndim == 0:
        raise InvalidInputError(f"{where}: {what} must be an array with a batch axis, got a scalar")
    if arr.shape[0] == 0:
        raise InvalidInputError(f"{where}: {what} is empty (shape {arr.shape})")
    if np.issubdtype(arr.dtype, np.floating) and not np.all(np.isfinite(arr)):
        bad = int(np.size(arr) - np.count_nonzero(np.isfinite(arr)))
        raise InvalidInputError(
            f"{where}: {what} contains {bad} NaN or infinite values; clean or impute them "
            f"first (e.g. np.isfinite(x).all() must be True)"
        )
    return arr


def check_batch_size(batch_size, where="fit"):
    number = _as_real(batch_size)
    if not isinstance(number, int) or number <= 0:
        raise InvalidArgumentError(f"{where}: batch_size must be a positive int, got {batch_size!r}")
    return number


def _dtype(model):
    dtype = getattr(model, "compute_dtype", None)
    if dtype is not None:
        return dtype
    return model.layers[0].dtype if model.layers else "float32"


def check_x(model, x, where):
    """Check inputs against the model: numeric, finite, right rank, right sample shape."""
    if not model.layers:
        raise InvalidArgumentError(f"{where}: the model has no layers; add some with model.add(...)")
    x = as_numeric_array(x, "x", where)
    if x.ndim == 1 and not model.built:
        raise InvalidInputError(
            f"{where}: x has shape {x.shape}, but inputs need a batch axis and a feature axis; "
            f"for {len(x)} samples of one feature use x = x.reshape(-1, 1)"
        )
    first = model.layers[0]
    if not model.built and x.ndim == 3 and (hasattr(first, "kernel_size") or hasattr(first, "pool_size")):
        raise InvalidInputError(
            f"{where}: {type(first).__name__} layer {first.name!r} expects 4-D images "
            f"(batch, height, width, channels), got x with shape {x.shape}; images need a "
            f"channel axis: x = x.reshape({(-1,) + x.shape[1:] + (1,)}) or x[..., np.newaxis]"
        )
    if model.built:
        expected = tuple(model.input_shape[1:])
        got = tuple(x.shape[1:])
        if len(got) != len(expected):
            hint = ""
            if tuple(x.shape) == expected:
                hint = f"; x looks like one sample: add the batch axis with x[np.newaxis] (shape {(1,) + expected})"
            elif len(got) + 1 == len(expected) and expected[-1] == 1:
                hint = f"; images need a channel axis: x = x.reshape({(-1,) + got + (1,)}) or x[..., np.newaxis]"
            elif len(expected) == 1 and len(got) > 1:
                hint = "; add a Flatten() layer first, or reshape x to (n_samples, n_features)"
            raise InvalidInputError(
                f"{where}: the model expects inputs of shape {(None,) + expected} "
                f"({len(expected) + 1}-D), got x with shape {x.shape}{hint}"
            )
        for e, g in zip(expected, got):
            if e is not None and e != g:
                raise InvalidInputError(
                    f"{where}: layer {model.layers[0].name!r} expects samples of shape "
                    f"{expected}, got {got} (x.shape = {x.shape})"
                )
    return _cast_finite(x, _dtype(model), "x", where)


def _cast_finite(arr, dtype, what, where):
    """``arr`` as ``dtype``; refuses values that only become infinite in the cast (1e300 -> float32)."""
    with np.errstate(over="ignore"):
        out = np.asarray(arr, dtype=dtype)
    if out.dtype != arr.dtype:
        if not np.all(np.isfinite(out)):
            raise InvalidInputError(
                f"{where}: {what} holds values too large for {dtype} (largest magnitude "
                f"{float(np.max(np.abs(arr))):.3g}); rescale the data first, e.g. x / x.max()"
            )
    return out


def overflows(value, dtype):
    """True when the finite float ``value`` holds numbers beyond ``dtype``'s range (1e300 as float32), which a
    cast would silently turn into infinities."""
    value = np.asarray(value)
    if value.dtype.kind != "f" or np.dtype(dtype).itemsize >= value.dtype.itemsize or not value.size:
        return False
    return bool(np.max(np.abs(value)) > np.finfo(dtype).max)


def check_targets(model, y, n, where):
    """Check targets against the loss: one-hot for categorical, integer labels for sparse."""
    y = as_numeric_array(y, "y", where)
    if len(y) != n:
        raise InvalidInputError(f"{where}: x has {n} samples but y has {len(y)}; they must match")
    loss = model.loss
    out = model.output_shape
    n_out = out[-1] if out is not None else None
    sparse = isinstance(loss, losses.SparseCategoricalCrossentropy)
    if out is not None and len(out) > 2 and (sparse or tuple(y.shape[1:]) != tuple(out[1:])):
        raise InvalidInputError(
            f"{where}: the model's output has shape {out}, but y has shape {y.shape}; for "
            f"classification add a Flatten() layer before the Dense layers, so the output "
            f"is (None, classes)"
        )
    if sparse:
        if y.ndim == 2 and y.shape[1] > 1:
            raise InvalidInputError(
                f"{where}: sparse_categorical_crossentropy expects integer labels of shape "
                f"(n,), got y with shape {y.shape} (one-hot?); use "
                f"loss='categorical_crossentropy', or pass y.argmax(axis=1)"
            )
        flat = y.reshape(-1)
        if flat.size != n:
            raise InvalidInputError(
                f"{where}: sparse_categorical_crossentropy expects one integer label per "
                f"sample, shape ({n},), got y with shape {y.shape}"
            )
        if not np.all(flat == np.round(flat)):
            raise InvalidInputError(f"{where}: sparse_categorical_crossentropy expects integer class labels")
        if n_out is not None and (flat.min() < 0 or flat.max() >= n_out):
            raise InvalidInputError(
                f"{where}: labels must be in 0..{n_out - 1} for a model with {n_out} outputs, "
                f"got {flat.min():g}..{flat.max():g}"
            )
        return flat.astype(np.int64)
    if isinstance(loss, losses.CategoricalCrossentropy):
        if y.ndim == 1 or (y.ndim == 2 and y.shape[1] == 1 and n_out not in (None, 1)):
            raise InvalidInputError(
                f"{where}: categorical_crossentropy expects one-hot targets of shape "
                f"(n, {n_out if n_out else 'classes'}), got y with shape {y.shape} (integer "
                f"labels?); use y = to_categorical(y) from tinycnn.utils, or "
                f"loss='sparse_categorical_crossentropy'"
            )
    if out is not None and y.ndim > 2 and len(out) == 2:
        raise InvalidInputError(
            f"{where}: y has shape {y.shape}, the model's output has shape {out}; y must have shape ({n}, {n_out})"
        )
    if n_out is not None and y.ndim >= 2 and y.shape[-1] != n_out:
        raise InvalidInputError(
            f"{where}: the model has {n_out} outputs but y has shape {y.shape}; the last axis of y must be {n_out}"
        )
    if n_out is not None and y.ndim == 1 and n_out != 1 and not isinstance(loss, losses.CategoricalCrossentropy):
        raise InvalidInputError(f"{where}: the model has {n_out} outputs but y has shape {y.shape}")
    y = _cast_finite(y, _dtype(model), "y", where)
    return y.reshape(-1, 1) if y.ndim == 1 else y


def check_xy(model, x, y, where):
    x = check_x(model, x, where)
    if not model.built:
        model.build((None,) + x.shape[1:])
    return x, check_targets(model, y, len(x), where)
