"""Checks at the model boundary, so a student's mistake gets a message that names it and the fix,
instead of a traceback from deep inside NumPy. Used by ``Sequential.fit/evaluate/predict``."""
import numpy as np

from . import losses
from .errors import InvalidArgumentError, InvalidInputError, InvalidTypeError


def as_numeric_array(data, what, where):
    """``data`` as a NumPy array of numbers, or a clear error."""
    if data is None:
        raise InvalidInputError(f"{where}: {what} is missing (got None)")
    if isinstance(data, (str, bytes, dict, set)):
        raise InvalidTypeError(f"{where}: {what} must be a NumPy array of numbers, got {type(data).__name__}")
    try:
        arr = np.asarray(data)
    except (ValueError, TypeError) as e:
        raise InvalidTypeError(f"{where}: {what} cannot be turned into a NumPy array ({e}); are the samples "
                               f"of different shapes?") from None
    if arr.dtype == object or not (np.issubdtype(arr.dtype, np.number) or arr.dtype == bool):
        raise InvalidTypeError(f"{where}: {what} must hold numbers, got dtype {arr.dtype}; convert it with "
                               f"np.asarray(..., dtype='float32') (are some entries strings or None?)")
    if np.issubdtype(arr.dtype, np.complexfloating):
        raise InvalidTypeError(f"{where}: {what} must be real numbers, got complex dtype {arr.dtype}")
    if arr.ndim == 0:
        raise InvalidInputError(f"{where}: {what} must be an array with a batch axis, got a scalar")
    if arr.shape[0] == 0:
        raise InvalidInputError(f"{where}: {what} is empty (shape {arr.shape})")
    if np.issubdtype(arr.dtype, np.floating) and not np.all(np.isfinite(arr)):
        bad = int(np.size(arr) - np.count_nonzero(np.isfinite(arr)))
        raise InvalidInputError(f"{where}: {what} contains {bad} NaN or infinite values; clean or impute them "
                                f"first (e.g. np.isfinite(x).all() must be True)")
    return arr


def check_batch_size(batch_size):
    if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) or batch_size <= 0:
        raise InvalidArgumentError(f"batch_size must be a positive int, got {batch_size!r}")
    return int(batch_size)


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
        raise InvalidInputError(f"{where}: x has shape {x.shape}, but inputs need a batch axis and a feature axis; "
                                f"for {len(x)} samples of one feature use x = x.reshape(-1, 1)")
    first = model.layers[0]
    if not model.built and x.ndim == 3 and (hasattr(first, "kernel_size") or hasattr(first, "pool_size")):
        raise InvalidInputError(f"{where}: {type(first).__name__} layer {first.name!r} expects 4-D images "
                                f"(batch, height, width, channels), got x with shape {x.shape}; images need a "
                                f"channel axis: x = x.reshape({(-1,) + x.shape[1:] + (1,)}) or x[..., np.newaxis]")
    if model.built:
        expected = tuple(model.input_shape[1:])
        got = tuple(x.shape[1:])
        if len(got) != len(expected):
            hint = ""
            if tuple(x.shape) == expected:
                hint = f"; x looks like one sample: add the batch axis with x[np.newaxis] (shape {(1,) + expected})"
            elif len(got) + 1 == len(expected) and expected[-1] == 1:
                hint = (f"; images need a channel axis: x = x.reshape({(-1,) + got + (1,)}) "
                        f"or x[..., np.newaxis]")
            elif len(expected) == 1 and len(got) > 1:
                hint = "; add a Flatten() layer first, or reshape x to (n_samples, n_features)"
            raise InvalidInputError(f"{where}: the model expects inputs of shape {(None,) + expected} "
                                    f"({len(expected) + 1}-D), got x with shape {x.shape}{hint}")
        for e, g in zip(expected, got):
            if e is not None and e != g:
                raise InvalidInputError(f"{where}: layer {model.layers[0].name!r} expects samples of shape "
                                        f"{expected}, got {got} (x.shape = {x.shape})")
    return _cast_finite(x, _dtype(model), "x", where)


def _cast_finite(arr, dtype, what, where):
    """``arr`` as ``dtype``; refuses values that only become infinite in the cast (1e300 -> float32)."""
    with np.errstate(over="ignore"):
        out = np.asarray(arr, dtype=dtype)
    if out.dtype != arr.dtype:
        if not np.all(np.isfinite(out)):
            raise InvalidInputError(f"{where}: {what} holds values too large for {dtype} (largest magnitude "
                                    f"{float(np.max(np.abs(arr))):.3g}); rescale the data first, e.g. x / x.max()")
    return out


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
        raise InvalidInputError(f"{where}: the model's output has shape {out}, but y has shape {y.shape}; for "
                                f"classification add a Flatten() layer before the Dense layers, so the output "
                                f"is (None, classes)")
    if sparse:
        if y.ndim == 2 and y.shape[1] > 1:
            raise InvalidInputError(f"{where}: sparse_categorical_crossentropy expects integer labels of shape "
                                    f"(n,), got y with shape {y.shape} (one-hot?); use "
                                    f"loss='categorical_crossentropy', or pass y.argmax(axis=1)")
        flat = y.reshape(-1)
        if flat.size != n:
            raise InvalidInputError(f"{where}: sparse_categorical_crossentropy expects one integer label per "
                                    f"sample, shape ({n},), got y with shape {y.shape}")
        if not np.all(flat == np.round(flat)):
            raise InvalidInputError(f"{where}: sparse_categorical_crossentropy expects integer class labels")
        if n_out is not None and (flat.min() < 0 or flat.max() >= n_out):
            raise InvalidInputError(f"{where}: labels must be in 0..{n_out - 1} for a model with {n_out} outputs, "
                                    f"got {flat.min():g}..{flat.max():g}")
        return flat.astype(np.int64)
    if isinstance(loss, losses.CategoricalCrossentropy):
        if y.ndim == 1 or (y.ndim == 2 and y.shape[1] == 1 and n_out not in (None, 1)):
            raise InvalidInputError(f"{where}: categorical_crossentropy expects one-hot targets of shape "
                                    f"(n, {n_out if n_out else 'classes'}), got y with shape {y.shape} (integer "
                                    f"labels?); use y = to_categorical(y) from tinycnn.utils, or "
                                    f"loss='sparse_categorical_crossentropy'")
    if out is not None and y.ndim > 2 and len(out) == 2:
        raise InvalidInputError(f"{where}: y has shape {y.shape}, the model's output has shape {out}; "
                                f"y must have shape ({n}, {n_out})")
    if n_out is not None and y.ndim >= 2 and y.shape[-1] != n_out:
        raise InvalidInputError(f"{where}: the model has {n_out} outputs but y has shape {y.shape}; "
                                f"the last axis of y must be {n_out}")
    if n_out is not None and y.ndim == 1 and n_out != 1 and not isinstance(loss, losses.CategoricalCrossentropy):
        raise InvalidInputError(f"{where}: the model has {n_out} outputs but y has shape {y.shape}")
    y = _cast_finite(y, _dtype(model), "y", where)
    return y.reshape(-1, 1) if y.ndim == 1 else y


def check_xy(model, x, y, where):
    x = check_x(model, x, where)
    if not model.built:
        model.build((None,) + x.shape[1:])
    return x, check_targets(model, y, len(x), where)
