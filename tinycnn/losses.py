"""Losses, with Keras's names and numerics. Each loss is the *mean over the batch* of a per-sample value.

==========================================  =====================================  ===========================
name                                        per-sample loss                        gradient of the batch mean
==========================================  =====================================  ===========================
``categorical_crossentropy``                ``-sum_k y_k log p_k``                 see below
``sparse_categorical_crossentropy``         ``-log p_{label}``                     see below
``mean_squared_error`` / ``mse``            ``mean_k (p_k - y_k)^2``               ``2 (p - y) / (N K)``
``mean_absolute_error`` / ``mae``           ``mean_k |p_k - y_k|``                 ``sign(p - y) / (N K)``
``binary_crossentropy``                     ``-mean_k y log p + (1-y) log(1-p)``   from clipped ``p``
==========================================  =====================================  ===========================

**Cross-entropy from probabilities** (Keras): ``p`` is renormalized to sum to 1 and clipped to
``[1e-7, 1 - 1e-7]`` before the log, so a zero probability gives a large finite loss, not ``inf``; the
gradient is zero where the clip is active.

**Softmax fused with cross-entropy.** When the model's last step is a softmax, the loss is computed from the
logits ``z`` (``log p = z - logsumexp(z)``, no clipping needed, as Keras 3 does when it sees a softmax
output) and the gradient skips the softmax Jacobian entirely::

    dL/dz = (p - y) / N

(derivation: ``d/dz_j [-sum_k y_k (z_k - logsumexp z)] = -y_j + p_j sum_k y_k = p_j - y_j``).
The model calls :meth:`CategoricalCrossentropy.per_sample_and_gradient_from_logits` for it.

**``from_logits=True``** (``SparseCategoricalCrossentropy(from_logits=True)`` over a ``Dense(10)`` with no
activation): the model's output *is* ``z``, and the loss computes in the stable forms, never taking
``log`` of a rounded probability:

* categorical: ``log p_k = z_k - logsumexp(z)``, with ``logsumexp(z) = m + log sum_j exp(z_j - m)``,
  ``m = max_j z_j`` (every ``exp`` is at most 1, so nothing overflows; the largest term is ``exp(0) = 1``, so
  the log never sees 0). Loss ``-sum_k y_k log p_k``, gradient of the batch mean ``(p sum_k y_k - y) / N``
  (the fused gradient above);
* sparse: the same with ``y`` the one-hot of the label: ``logsumexp(z) - z_label``, gradient ``(p - onehot) / N``;
* binary: with ``s = sigmoid(z)``, ``-y log s - (1 - y) log(1 - s) = max(z, 0) - z y + log(1 + exp(-|z|))``
  (since ``log s = -softplus(-z)`` and ``log(1 - s) = -softplus(z)``, and ``softplus(z) = max(z, 0) +
  log(1 + exp(-|z|))``); derivative ``s - y``, so the gradient of the mean is ``(s - y) / (N K)``.

**Label smoothing** (Szegedy et al. 2016, sec. 7), as Keras: categorical ``y <- y (1 - a) + a / K``; binary
``y <- y (1 - a) + a / 2``.

Loss objects are callable as in Keras: ``loss_fn(y_true, y_pred)`` gives the batch mean (a float with a
``.numpy()`` method, so ``loss_fn(y, z).numpy()`` scripts run); ``sample_weight=`` weights each sample, and the
sum is divided by the number of samples, as Keras's ``"sum_over_batch_size"`` reduction.

>>> import numpy as np
>>> y = np.array([[0.0, 1.0]]); p = np.array([[0.2, 0.8]])
>>> round(float(categorical_crossentropy(y, p).mean()), 6)
0.223144
>>> mean_squared_error(np.array([[1.0], [3.0]]), np.array([[2.0], [3.0]]))
array([1., 0.])
>>> loss_fn = SparseCategoricalCrossentropy(from_logits=True)
>>> round(float(loss_fn(np.array([1]), np.array([[0.0, 0.0]]))), 6)      # log 2
0.693147
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Union

import numpy as np
from numpy.typing import ArrayLike, DTypeLike

from .errors import InvalidArgumentError, InvalidInputError
from .hints import Array, Config

EPSILON = 1e-7


def _onehot_from_sparse(y_true, num_classes):
    labels = np.asarray(y_true).reshape(-1).astype(np.int64)
    if labels.size and (labels.min() < 0 or labels.max() >= num_classes):
        raise InvalidInputError(
            f"sparse labels must be in 0..{num_classes - 1}, got values {labels.min()}..{labels.max()}"
        )
    onehot = np.zeros((labels.size, num_classes))
    onehot[np.arange(labels.size), labels] = 1.0
    return onehot


class LossValue(float):
    """A loss value: a Python float that also answers ``.numpy()`` (as the tensor a Keras loss returns)."""

    def numpy(self) -> np.float32:
        return np.float32(self)


class _FromLogitsFlag:
    """Transitional: ``loss.from_logits`` is Keras's flag (it behaves as the bool), and calling it still runs the
    old method of that name, now :meth:`CategoricalCrossentropy.per_sample_and_gradient_from_logits`.
    Remove once no caller uses ``loss.from_logits(y, z)``."""

    __slots__ = ("value", "_loss")

    def __init__(self, value: bool, loss: CategoricalCrossentropy) -> None:
        self.value, self._loss = bool(value), loss

    def __bool__(self):
        return self.value

    def __eq__(self, other):
        return self.value == other

    def __hash__(self):
        return hash(self.value)

    def __repr__(self):
        return repr(self.value)

    def __call__(self, y_true: ArrayLike, z: Array) -> tuple[Array, Array]:
        return self._loss.per_sample_and_gradient_from_logits(y_true, z)


def _check_flag(value, what):
    if not isinstance(value, (bool, np.bool_, _FromLogitsFlag)):
        raise InvalidArgumentError(f"{what} must be True or False, got {value!r}")
    return bool(value)


def _check_smoothing(value):
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)) or not 0 <= value <= 1:
        raise InvalidArgumentError(f"label_smoothing must be a number in [0, 1], got {value!r}")
    return float(value)


def _n_losses(y_pred):
    """How many per-position losses a cross-entropy averages: one per row of the class axis -- ``N`` for
    ``(N, classes)``, ``N * T`` for ``(N, T, classes)`` (Keras takes the mean over all of them)."""
    return max(y_pred.size // max(y_pred.shape[-1], 1), 1)


class Loss:
    """A loss: ``__call__`` gives the batch mean; ``per_sample``; ``gradient`` is ``d mean / d y_pred``.

    ``reduction`` (Keras's argument) must be ``"sum_over_batch_size"`` (the default, the batch mean) or
    ``"auto"``; ``name`` defaults to the Keras name.
    """

    name = None
    fuses_softmax = False

    def __init__(
        self, reduction: str = "sum_over_batch_size", name: str | None = None, dtype: DTypeLike = None
    ) -> None:
        if reduction not in ("sum_over_batch_size", "auto", "mean"):
            raise InvalidArgumentError(
                f"{type(self).__name__}: tinycnn computes the batch mean only; reduction must "
                f"be 'sum_over_batch_size' (the default), got {reduction!r}"
            )
        if name is not None:
            self.name = name
        self.reduction = "sum_over_batch_size"

    def per_sample(self, y_true: ArrayLike, y_pred: Array) -> Array:
        raise NotImplementedError

    def gradient(self, y_true: ArrayLike, y_pred: Array) -> Array:
        raise NotImplementedError

    def __call__(self, y_true: ArrayLike, y_pred: ArrayLike, sample_weight: ArrayLike | None = None) -> LossValue:
        y_pred = np.asarray(y_pred)
        if not np.issubdtype(y_pred.dtype, np.floating):
            y_pred = y_pred.astype(np.float32)
        values = np.asarray(self.per_sample(y_true, y_pred), dtype=np.float64)
        if sample_weight is not None:
            w = np.asarray(sample_weight, dtype=np.float64)
            if w.ndim == 1 and len(w) != len(values):
                raise InvalidInputError(f"sample_weight has {len(w)} values for a batch of {len(values)}")
            values = values * (w.reshape((-1,) + (1,) * (values.ndim - 1)) if w.ndim == 1 else w.reshape(values.shape))
        return LossValue(values.sum() / max(values.size, 1))

    def prepare_targets(self, y_true: ArrayLike, y_pred: Array) -> Array:
        """Targets in the form ``gradient`` needs (sparse labels become one-hot here)."""
        return np.asarray(y_true, dtype=y_pred.dtype)

    def get_config(self) -> Config:
        return {"name": self.name, "reduction": self.reduction}

    def __repr__(self):
        return f"<{type(self).__name__} {self.get_config()}>"


class _Crossentropy(Loss):
    """``from_logits`` and ``label_smoothing``, shared by the three cross-entropies."""

    def __init__(
        self,
        from_logits: bool = False,
        label_smoothing: float = 0.0,
        axis: int = -1,
        reduction: str = "sum_over_batch_size",
        name: str | None = None,
        dtype: DTypeLike = None,
    ) -> None:
        super().__init__(reduction=reduction, name=name, dtype=dtype)
        if axis not in (-1,):
            raise InvalidArgumentError(
                f"{type(self).__name__}: tinycnn computes along the last axis only; axis must be -1, got {axis!r}"
            )
        self.axis = -1
        self.from_logits = _FromLogitsFlag(_check_flag(from_logits, "from_logits"), self)
        self.label_smoothing = _check_smoothing(label_smoothing)

    def get_config(self) -> Config:
        return {
            **super().get_config(),
            "from_logits": bool(self.from_logits),
            "label_smoothing": self.label_smoothing,
            "axis": self.axis,
        }


class CategoricalCrossentropy(_Crossentropy):
    """``-sum_k y_k log p_k`` for one-hot (or soft) targets, as ``keras.losses.CategoricalCrossentropy(
    from_logits=False, label_smoothing=0.0)``."""

    name = "categorical_crossentropy"

    @property
    def fuses_softmax(self) -> bool:
        """True: a model ending in softmax may hand this loss the logits (not when the output already is logits)."""
        return not self.from_logits

    def prepare_targets(self, y_true: ArrayLike, y_pred: Array) -> Array:
        y = np.asarray(y_true, dtype=y_pred.dtype)
        if self.label_smoothing:
            y = y * (1 - self.label_smoothing) + self.label_smoothing / y_pred.shape[-1]
        return y

    def per_sample(self, y_true: ArrayLike, y_pred: Array) -> Array:
        if self.from_logits:
            return self.per_sample_and_gradient_from_logits(y_true, y_pred)[0]
        y = self.prepare_targets(y_true, y_pred)
        p = y_pred / y_pred.sum(axis=-1, keepdims=True)
        return -(y * np.log(np.clip(p, EPSILON, 1 - EPSILON))).sum(axis=-1)

    def gradient(self, y_true: ArrayLike, y_pred: Array) -> Array:
        if self.from_logits:
            return self.per_sample_and_gradient_from_logits(y_true, y_pred)[1]
        y = self.prepare_targets(y_true, y_pred)
        s = y_pred.sum(axis=-1, keepdims=True)
        p = y_pred / s
        inside = (p > EPSILON) & (p < 1 - EPSILON)
        # L = -sum_k y_k log(p_k / s): dL/dp_j = -y_j / p_j [unclipped] + sum_k y_k [unclipped] / s
        dq = np.where(inside, -y / np.where(inside, p, 1.0), 0.0)  # dL/dq with q = p/s
        dp = (dq - (dq * p).sum(axis=-1, keepdims=True)) / s
        return (dp / _n_losses(y_pred)).astype(y_pred.dtype)

    def per_sample_and_gradient_from_logits(self, y_true: ArrayLike, z: Array) -> tuple[Array, Array]:
        """``(per-sample loss, dL/dz)`` for logits ``z``: the stable log-softmax form and the fused gradient
        ``(p sum_k y_k - y) / N`` (module docstring). Used for ``from_logits=True`` and by the model's fused
        softmax + cross-entropy path (formerly the method ``from_logits``)."""
        y = self.prepare_targets(y_true, z)
        shifted = z - z.max(axis=-1, keepdims=True)
        log_p = shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))
        per_sample = -(y * log_p).sum(axis=-1)
        dz = ((np.exp(log_p) * y.sum(axis=-1, keepdims=True) - y) / _n_losses(z)).astype(z.dtype)
        # A confident model has p ~ exp(-100) for the wrong classes: subnormal floats, which make every
        # product they enter ~100x slower on x86. Flush them to zero, as TensorFlow's flush-to-zero mode does.
        dz[np.abs(dz) < np.finfo(dz.dtype).tiny] = 0
        return per_sample, dz


class SparseCategoricalCrossentropy(CategoricalCrossentropy):
    """``-log p_label`` for integer labels, as ``keras.losses.SparseCategoricalCrossentropy(from_logits=False)``
    (Keras has no label smoothing for it, nor does tinycnn; ``ignore_class`` is not supported)."""

    name = "sparse_categorical_crossentropy"

    def __init__(
        self,
        from_logits: bool = False,
        ignore_class: None = None,
        reduction: str = "sum_over_batch_size",
        name: str | None = None,
        dtype: DTypeLike = None,
    ) -> None:
        if ignore_class is not None:
            raise InvalidArgumentError(
                "SparseCategoricalCrossentropy: ignore_class is not supported by tinycnn; "
                "remove those samples from the data instead"
            )
        super().__init__(from_logits=from_logits, reduction=reduction, name=name, dtype=dtype)

    def prepare_targets(self, y_true: ArrayLike, y_pred: Array) -> Array:
        return _onehot_from_sparse(y_true, y_pred.shape[-1]).astype(y_pred.dtype)

    # Keras clips *before* normalizing here: L = -log softmax(log c)_label = -log c_label + log sum_k c_k,
    # c = clip(p). Same value as the categorical loss unless the clip is active; the gradient differs then.
    def per_sample(self, y_true: ArrayLike, y_pred: Array) -> Array:
        if self.from_logits:
            return self.per_sample_and_gradient_from_logits(y_true, y_pred)[0]
        y = self.prepare_targets(y_true, y_pred)
        c = np.clip(y_pred, EPSILON, 1 - EPSILON)
        return -(y * np.log(c)).sum(axis=-1) + np.log(c.sum(axis=-1))

    def gradient(self, y_true: ArrayLike, y_pred: Array) -> Array:
        if self.from_logits:
            return self.per_sample_and_gradient_from_logits(y_true, y_pred)[1]
        y = self.prepare_targets(y_true, y_pred)
        inside = (y_pred > EPSILON) & (y_pred < 1 - EPSILON)
        c = np.clip(y_pred, EPSILON, 1 - EPSILON)
        dc = 1.0 / c.sum(axis=-1, keepdims=True) - y / c  # dL/dc_j = -[j = label] / c_j + 1 / sum_k c_k
        return (np.where(inside, dc, 0.0) / _n_losses(y_pred)).astype(y_pred.dtype)

    def get_config(self) -> Config:
        config = super().get_config()
        del config["label_smoothing"]
        return {**config, "ignore_class": None}


class MeanSquaredError(Loss):
    name = "mean_squared_error"

    def per_sample(self, y_true: ArrayLike, y_pred: Array) -> Array:
        d = y_pred - self.prepare_targets(y_true, y_pred).reshape(y_pred.shape)
        return np.mean(d * d, axis=-1)

    def gradient(self, y_true: ArrayLike, y_pred: Array) -> Array:
        d = y_pred - self.prepare_targets(y_true, y_pred).reshape(y_pred.shape)
        return (2.0 * d / d.size).astype(y_pred.dtype)


class MeanAbsoluteError(Loss):
    name = "mean_absolute_error"

    def per_sample(self, y_true: ArrayLike, y_pred: Array) -> Array:
        return np.mean(np.abs(y_pred - self.prepare_targets(y_true, y_pred).reshape(y_pred.shape)), axis=-1)

    def gradient(self, y_true: ArrayLike, y_pred: Array) -> Array:
        d = y_pred - self.prepare_targets(y_true, y_pred).reshape(y_pred.shape)
        return (np.sign(d) / d.size).astype(y_pred.dtype)


class BinaryCrossentropy(_Crossentropy):
    """``-mean_k [y log p + (1 - y) log(1 - p)]``, as ``keras.losses.BinaryCrossentropy(from_logits=False,
    label_smoothing=0.0)``; with ``from_logits=True`` the stable softplus form (module docstring)."""

    name = "binary_crossentropy"

    def prepare_targets(self, y_true: ArrayLike, y_pred: Array) -> Array:
        y = np.asarray(y_true, dtype=y_pred.dtype).reshape(y_pred.shape)
        if self.label_smoothing:
            y = y * (1 - self.label_smoothing) + 0.5 * self.label_smoothing
        return y

    def per_sample(self, y_true: ArrayLike, y_pred: Array) -> Array:
        y = self.prepare_targets(y_true, y_pred)
        if self.from_logits:
            z = y_pred
            return np.mean(np.maximum(z, 0) - z * y + np.log1p(np.exp(-np.abs(z))), axis=-1)
        p = np.clip(y_pred, EPSILON, 1 - EPSILON)
        return -np.mean(y * np.log(p) + (1 - y) * np.log(1 - p), axis=-1)

    def gradient(self, y_true: ArrayLike, y_pred: Array) -> Array:
        y = self.prepare_targets(y_true, y_pred)
        if self.from_logits:
            from .activations import sigmoid

            return ((sigmoid(y_pred) - y) / y_pred.size).astype(y_pred.dtype)
        inside = (y_pred > EPSILON) & (y_pred < 1 - EPSILON)
        p = np.clip(y_pred, EPSILON, 1 - EPSILON)
        return np.where(inside, (p - y) / (p * (1 - p)), 0.0).astype(y_pred.dtype) / y_pred.size


_CLASSES = {
    "categorical_crossentropy": CategoricalCrossentropy,
    "sparse_categorical_crossentropy": SparseCategoricalCrossentropy,
    "mean_squared_error": MeanSquaredError,
    "mse": MeanSquaredError,
    "mean_absolute_error": MeanAbsoluteError,
    "mae": MeanAbsoluteError,
    "binary_crossentropy": BinaryCrossentropy,
}
_CLASSES.update({cls.__name__.lower(): cls for cls in set(_CLASSES.values())})


def _fn(cls):
    def loss(y_true: ArrayLike, y_pred: ArrayLike, **kwargs: Any) -> Array:
        y_pred = np.asarray(y_pred)
        if not np.issubdtype(y_pred.dtype, np.floating):
            y_pred = y_pred.astype(np.float32)
        return cls(**kwargs).per_sample(y_true, y_pred)

    loss.__name__ = cls.name
    loss.__doc__ = (
        f"Per-sample {cls.name} (``{cls.__name__}(**kwargs).per_sample``); keyword arguments as the "
        f"class (``from_logits=``, ``label_smoothing=`` where it has them)."
    )
    loss._loss_class = cls
    return loss


categorical_crossentropy = _fn(CategoricalCrossentropy)
sparse_categorical_crossentropy = _fn(SparseCategoricalCrossentropy)
mean_squared_error = mse = _fn(MeanSquaredError)
mean_absolute_error = mae = _fn(MeanAbsoluteError)
binary_crossentropy = _fn(BinaryCrossentropy)


#: What ``compile(loss=)`` takes: a Keras name, a :class:`Loss` or its class, one of the functions above, or a
#: Keras config dict.
LossLike = Union[str, Loss, type[Loss], Callable[..., Array], dict[str, Any]]


def get(identifier: LossLike) -> Loss:
    """A :class:`Loss` from a Keras name (``"categorical_crossentropy"`` or ``"CategoricalCrossentropy"``), a Loss
    instance or class, one of the functions above, or a Keras config dict
    (``{"class_name": "SparseCategoricalCrossentropy", "config": {"from_logits": True}}``)."""
    if isinstance(identifier, Loss):
        return identifier
    if isinstance(identifier, type) and issubclass(identifier, Loss):
        return identifier()
    if callable(identifier) and hasattr(identifier, "_loss_class"):
        return identifier._loss_class()
    if isinstance(identifier, dict) and isinstance(identifier.get("class_name"), str):
        cls = _CLASSES.get(identifier["class_name"].lower())
        if cls is None:
            raise InvalidArgumentError(
                f"unknown loss class {identifier['class_name']!r}; valid: "
                f"{sorted(c.__name__ for c in set(_CLASSES.values()))}"
            )
        config = {k: v for k, v in (identifier.get("config") or {}).items() if k != "dtype"}
        try:
            return cls(**config)
        except TypeError as e:
            raise InvalidArgumentError(f"loss config {identifier!r} does not fit {cls.__name__}: {e}") from None
    if isinstance(identifier, str) and identifier.lower() in _CLASSES:
        return _CLASSES[identifier.lower()]()
    if callable(identifier):
        raise InvalidArgumentError(
            f"loss {getattr(identifier, '__name__', identifier)!r} is a function whose gradient tinycnn does not "
            f"know; use a name such as 'categorical_crossentropy', a tinycnn.losses class, or subclass "
            f"tinycnn.losses.Loss with per_sample(y_true, y_pred) and gradient(y_true, y_pred)"
        )
    raise InvalidArgumentError(f"unknown loss {identifier!r}; valid names: {sorted(_CLASSES)}")
