"""Metrics, with Keras's names. Each function returns one value per sample; ``fit`` averages them over the epoch
(weighted by batch size), as Keras reports them.

==================================================  ==========================================================
name                                                per-sample value
==================================================  ==========================================================
``categorical_accuracy``                            ``argmax(y_pred) == argmax(y_true)`` (one-hot targets)
``sparse_categorical_accuracy``                     ``argmax(y_pred) == label``
``binary_accuracy`` (threshold 0.5)                 ``mean_k [(y_pred_k > 0.5) == y_true_k]``
``top_k_categorical_accuracy`` (k=5)                the true class is among the ``k`` highest predictions
``sparse_top_k_categorical_accuracy`` (k=5)         the same with an integer label
``mean_absolute_percentage_error`` / ``mape``       ``100 * mean_k |y - p| / max(|y|, 1e-7)``
``mean_squared_error`` / ``mse``, ``mae``           as the losses
==================================================  ==========================================================

Top-k ties are counted as TensorFlow's ``in_top_k`` counts them: the true class is in the top ``k`` when fewer
than ``k`` classes score *strictly* higher (so a tie at the boundary counts as a hit).

``"accuracy"`` / ``"acc"`` is resolved as Keras 3 resolves it, from the shapes of the targets and outputs (the
loss plays no part): **binary** accuracy if the output has one unit (``y_pred.shape[-1] == 1``, a sigmoid
output); else **sparse categorical** if the targets have fewer axes than the outputs, or one column against
several outputs (integer labels); else **categorical** (one-hot targets). The choice is made on each call from the
shapes of that batch, which never change during a fit.

Metric objects as ``keras.metrics``: ``CategoricalAccuracy()``, ``SparseCategoricalAccuracy()``,
``BinaryAccuracy(threshold=0.5)``, ``TopKCategoricalAccuracy(k=5)``, ``SparseTopKCategoricalAccuracy(k=5)``,
``MeanAbsolutePercentageError()``, ``MeanSquaredError()``, ``MeanAbsoluteError()``, each with
``update_state`` / ``result`` / ``reset_state``, and usable in ``compile(metrics=[...])``.

>>> import numpy as np
>>> categorical_accuracy(np.array([[0, 1], [1, 0]]), np.array([[0.3, 0.7], [0.2, 0.8]]))
array([1., 0.])
>>> accuracy(np.array([2, 0]), np.array([[0.1, 0.2, 0.7], [0.5, 0.4, 0.1]]))     # integer labels: sparse
array([1., 1.])
>>> m = SparseCategoricalAccuracy()
>>> m.update_state(np.array([2, 1]), np.array([[0.1, 0.2, 0.7], [0.5, 0.4, 0.1]]))
>>> float(m.result())
0.5
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Union

import numpy as np
from numpy.typing import ArrayLike, DTypeLike

from . import losses
from .errors import InvalidArgumentError, InvalidInputError
from .hints import Array, Config

EPSILON = 1e-7


def _pred(y_pred):
    y_pred = np.asarray(y_pred)
    return y_pred if np.issubdtype(y_pred.dtype, np.floating) else y_pred.astype(np.float64)


def _labels(y_true, y_pred):
    """Integer labels shaped as ``y_pred`` without its class axis (``(N,)`` or ``(N, 1)`` -> ``(N,)``)."""
    y = np.asarray(y_true)
    return y.reshape(y_pred.shape[:-1])


def categorical_accuracy(y_true: ArrayLike, y_pred: ArrayLike) -> Array:
    y_pred = _pred(y_pred)
    return (np.argmax(y_true, axis=-1) == np.argmax(y_pred, axis=-1)).astype(np.float64)


def sparse_categorical_accuracy(y_true: ArrayLike, y_pred: ArrayLike) -> Array:
    y_pred = _pred(y_pred)
    return (_labels(y_true, y_pred) == np.argmax(y_pred, axis=-1)).astype(np.float64)


def binary_accuracy(y_true: ArrayLike, y_pred: ArrayLike, threshold: float = 0.5) -> Array:
    y_pred = _pred(y_pred)
    y_true = np.asarray(y_true).reshape(y_pred.shape)
    return np.mean(y_true == (y_pred > threshold), axis=-1).astype(np.float64)


def _in_top_k(labels, y_pred, k):
    labels = labels.astype(np.int64)
    rows = y_pred.reshape(-1, y_pred.shape[-1])
    flat = labels.reshape(-1)
    if flat.size and (flat.min() < 0 or flat.max() >= rows.shape[1]):
        raise InvalidInputError(
            f"top-k accuracy: labels must be in 0..{rows.shape[1] - 1}, got {flat.min()}..{flat.max()}"
        )
    target = rows[np.arange(len(flat)), flat]
    higher = (rows > target[:, None]).sum(axis=1)
    hit = (higher < k) & np.isfinite(target)
    return hit.reshape(labels.shape).astype(np.float64)


def top_k_categorical_accuracy(y_true: ArrayLike, y_pred: ArrayLike, k: int = 5) -> Array:
    y_pred = _pred(y_pred)
    return _in_top_k(np.argmax(y_true, axis=-1), y_pred, k)


def sparse_top_k_categorical_accuracy(y_true: ArrayLike, y_pred: ArrayLike, k: int = 5) -> Array:
    y_pred = _pred(y_pred)
    return _in_top_k(_labels(y_true, y_pred), y_pred, k)


def mean_absolute_percentage_error(y_true: ArrayLike, y_pred: ArrayLike) -> Array:
    y_pred = _pred(y_pred)
    y_true = np.asarray(y_true, dtype=y_pred.dtype).reshape(y_pred.shape)
    return 100.0 * np.mean(np.abs((y_true - y_pred) / np.maximum(np.abs(y_true), EPSILON)), axis=-1)


def mean_squared_error(y_true: ArrayLike, y_pred: ArrayLike) -> Array:
    return losses.mean_squared_error(y_true, y_pred)


def mean_absolute_error(y_true: ArrayLike, y_pred: ArrayLike) -> Array:
    return losses.mean_absolute_error(y_true, y_pred)


mse, mae, mape = mean_squared_error, mean_absolute_error, mean_absolute_percentage_error


def resolve_accuracy(
    y_true_shape: Sequence[int | None], y_pred_shape: Sequence[int | None]
) -> Callable[[ArrayLike, ArrayLike], Array]:
    """The accuracy Keras 3 picks for ``"accuracy"`` from the target and output shapes (module docstring)."""
    if y_pred_shape[-1] == 1:
        return binary_accuracy
    if len(y_true_shape) < len(y_pred_shape) or (y_true_shape[-1] == 1 and y_pred_shape[-1] > 1):
        return sparse_categorical_accuracy
    return categorical_accuracy


def accuracy(y_true: ArrayLike, y_pred: ArrayLike) -> Array:
    """``"accuracy"``: binary, sparse categorical or categorical accuracy, chosen from the shapes as Keras 3."""
    y_true, y_pred = np.asarray(y_true), _pred(y_pred)
    return resolve_accuracy(y_true.shape, y_pred.shape)(y_true, y_pred)


_BY_NAME = {
    "categorical_accuracy": categorical_accuracy,
    "sparse_categorical_accuracy": sparse_categorical_accuracy,
    "binary_accuracy": binary_accuracy,
    "top_k_categorical_accuracy": top_k_categorical_accuracy,
    "sparse_top_k_categorical_accuracy": sparse_top_k_categorical_accuracy,
    "mean_absolute_percentage_error": mean_absolute_percentage_error,
    "mape": mean_absolute_percentage_error,
    "mean_squared_error": mean_squared_error,
    "mse": mean_squared_error,
    "mean_absolute_error": mean_absolute_error,
    "mae": mean_absolute_error,
}


# ------------------------------------------------------------------------------------------ metric objects
class MeanMetricWrapper:
    """A metric object: the running mean of a per-sample function, as ``keras.metrics.MeanMetricWrapper``.

    ``update_state(y_true, y_pred, sample_weight=None)`` adds a batch; ``result()`` is the weighted mean so far;
    ``reset_state()`` starts again; calling the object updates and returns the result, as in Keras.
    """

    def __init__(
        self, fn: Callable[..., ArrayLike], name: str | None = None, dtype: DTypeLike = None, **kwargs: Any
    ) -> None:
        self._fn, self._kwargs = fn, kwargs
        self.name = name or getattr(fn, "__name__", "metric")
        self.reset_state()

    def per_sample(self, y_true: ArrayLike, y_pred: ArrayLike) -> ArrayLike:
        """The per-sample values (what ``compile(metrics=[...])`` averages over the epoch)."""
        return self._fn(y_true, y_pred, **self._kwargs)

    def update_state(self, y_true: ArrayLike, y_pred: ArrayLike, sample_weight: ArrayLike | None = None) -> None:
        values = np.asarray(self.per_sample(y_true, y_pred), dtype=np.float64)
        w = (
            np.ones_like(values)
            if sample_weight is None
            else np.broadcast_to(
                np.asarray(sample_weight, dtype=np.float64).reshape((-1,) + (1,) * (values.ndim - 1)), values.shape
            )
        )
        self._total += float((values * w).sum())
        self._count += float(w.sum())

    def result(self) -> losses.LossValue:
        return losses.LossValue(self._total / self._count if self._count else 0.0)

    def reset_state(self) -> None:
        self._total, self._count = 0.0, 0.0

    reset_states = reset_state

    def __call__(
        self, y_true: ArrayLike, y_pred: ArrayLike, sample_weight: ArrayLike | None = None
    ) -> losses.LossValue:
        self.update_state(y_true, y_pred, sample_weight)
        return self.result()

    def get_config(self) -> Config:
        return {"name": self.name, **self._kwargs}

    def __repr__(self):
        return f"<{type(self).__name__} name={self.name!r}>"


def _metric_class(class_name, fn, default_name, **defaults):
    def __init__(self, name: str = default_name, dtype: DTypeLike = None, **kwargs: Any) -> None:
        unknown = sorted(set(kwargs) - set(defaults))
        if unknown:
            raise InvalidArgumentError(f"{class_name} got unexpected arguments {unknown}")
        MeanMetricWrapper.__init__(self, fn, name=name, **{**defaults, **kwargs})

    return type(
        class_name,
        (MeanMetricWrapper,),
        {
            "__init__": __init__,
            "__doc__": f"``keras.metrics.{class_name}``: the running mean of :func:`{fn.__name__}`.",
        },
    )


CategoricalAccuracy = _metric_class("CategoricalAccuracy", categorical_accuracy, "categorical_accuracy")
SparseCategoricalAccuracy = _metric_class(
    "SparseCategoricalAccuracy", sparse_categorical_accuracy, "sparse_categorical_accuracy"
)
BinaryAccuracy = _metric_class("BinaryAccuracy", binary_accuracy, "binary_accuracy", threshold=0.5)
TopKCategoricalAccuracy = _metric_class(
    "TopKCategoricalAccuracy", top_k_categorical_accuracy, "top_k_categorical_accuracy", k=5
)
SparseTopKCategoricalAccuracy = _metric_class(
    "SparseTopKCategoricalAccuracy", sparse_top_k_categorical_accuracy, "sparse_top_k_categorical_accuracy", k=5
)
MeanAbsolutePercentageError = _metric_class(
    "MeanAbsolutePercentageError", mean_absolute_percentage_error, "mean_absolute_percentage_error"
)
MeanSquaredError = _metric_class("MeanSquaredError", mean_squared_error, "mean_squared_error")
MeanAbsoluteError = _metric_class("MeanAbsoluteError", mean_absolute_error, "mean_absolute_error")
_CLASSES = {
    cls.__name__: cls
    for cls in (
        CategoricalAccuracy,
        SparseCategoricalAccuracy,
        BinaryAccuracy,
        TopKCategoricalAccuracy,
        SparseTopKCategoricalAccuracy,
        MeanAbsolutePercentageError,
        MeanSquaredError,
        MeanAbsoluteError,
    )
}
VALID_NAMES = sorted(set(_BY_NAME) | {"accuracy", "acc"} | set(_CLASSES))


#: What ``compile(metrics=[...])`` takes: a name, a per-sample function ``(y_true, y_pred) -> values``, or a
#: metric object or class.
MetricLike = Union[str, Callable[..., ArrayLike], MeanMetricWrapper, type[MeanMetricWrapper]]


def get(identifier: MetricLike, loss: losses.Loss | None = None) -> tuple[str, Callable[..., ArrayLike]]:
    """``(name, per-sample function)`` of a metric given by name, function or metric object.

    ``"accuracy"``/``"acc"`` gives :func:`accuracy`, which picks binary, sparse or categorical accuracy from the
    shapes as Keras 3 does; with a sparse categorical ``loss`` it is :func:`sparse_categorical_accuracy` at once
    (the shapes of integer labels would choose it anyway). The name is the one the
    script wrote (``"acc"`` stays ``"acc"``).
    """
    if isinstance(identifier, MeanMetricWrapper):
        return identifier.name, identifier.per_sample
    if isinstance(identifier, type) and issubclass(identifier, MeanMetricWrapper):
        instance = identifier()
        return instance.name, instance.per_sample
    if callable(identifier):
        return getattr(identifier, "__name__", "metric"), identifier
    if not isinstance(identifier, str):
        raise InvalidArgumentError(f"a metric must be a name, a function or a metric object, got {identifier!r}")
    key = identifier.lower()
    if key in ("accuracy", "acc"):
        if isinstance(loss, losses.SparseCategoricalCrossentropy):
            return identifier, sparse_categorical_accuracy  # what the shapes give with integer labels
        return identifier, accuracy
    if identifier in _CLASSES:
        return identifier, _CLASSES[identifier]().per_sample
    if key not in _BY_NAME:
        raise InvalidArgumentError(f"unknown metric {identifier!r}; valid names: {VALID_NAMES}")
    return identifier, _BY_NAME[key]
