"""Metrics, with Keras's names. Each returns one value per sample; ``fit`` averages them over the epoch
(weighted by batch size), as Keras reports them.

``"accuracy"``/``"acc"`` is resolved as Keras resolves it, from the loss: categorical accuracy (arg-max of
prediction equals arg-max of the one-hot target), sparse categorical accuracy (arg-max equals the integer
label), or binary accuracy (prediction > 0.5 equals the target).

>>> import numpy as np
>>> categorical_accuracy(np.array([[0, 1], [1, 0]]), np.array([[0.3, 0.7], [0.2, 0.8]]))
array([1., 0.])
"""
import numpy as np

from . import losses
from .errors import InvalidArgumentError


def categorical_accuracy(y_true, y_pred):
    return (np.argmax(y_true, axis=-1) == np.argmax(y_pred, axis=-1)).astype(np.float64)


def sparse_categorical_accuracy(y_true, y_pred):
    return (np.asarray(y_true).reshape(-1) == np.argmax(y_pred, axis=-1)).astype(np.float64)


def binary_accuracy(y_true, y_pred, threshold=0.5):
    y_true = np.asarray(y_true).reshape(y_pred.shape)
    return np.mean(y_true == (y_pred > threshold), axis=-1).astype(np.float64)


def mean_squared_error(y_true, y_pred):
    return losses.mean_squared_error(y_true, y_pred)


def mean_absolute_error(y_true, y_pred):
    return losses.mean_absolute_error(y_true, y_pred)


mse, mae = mean_squared_error, mean_absolute_error

_BY_NAME = {
    "categorical_accuracy": categorical_accuracy,
    "sparse_categorical_accuracy": sparse_categorical_accuracy,
    "binary_accuracy": binary_accuracy,
    "mean_squared_error": mean_squared_error,
    "mse": mean_squared_error,
    "mean_absolute_error": mean_absolute_error,
    "mae": mean_absolute_error,
}
VALID_NAMES = sorted(set(_BY_NAME) | {"accuracy", "acc"})


def get(identifier, loss=None):
    """``(name, function)`` of a metric; ``"accuracy"`` is resolved from ``loss`` as Keras does."""
    if callable(identifier):
        return getattr(identifier, "__name__", "metric"), identifier
    if not isinstance(identifier, str):
        raise InvalidArgumentError(f"a metric must be a name or a function, got {identifier!r}")
    name = identifier
    key = identifier.lower()
    if key in ("accuracy", "acc"):
        if isinstance(loss, losses.SparseCategoricalCrossentropy):
            return name, sparse_categorical_accuracy
        if isinstance(loss, losses.BinaryCrossentropy):
            return name, binary_accuracy
        return name, categorical_accuracy
    if key not in _BY_NAME:
        raise InvalidArgumentError(f"unknown metric {identifier!r}; valid names: {VALID_NAMES}")
    return name, _BY_NAME[key]
