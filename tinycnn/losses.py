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

>>> import numpy as np
>>> y = np.array([[0.0, 1.0]]); p = np.array([[0.2, 0.8]])
>>> round(float(categorical_crossentropy(y, p).mean()), 6)
0.223144
>>> mean_squared_error(np.array([[1.0], [3.0]]), np.array([[2.0], [3.0]]))
array([1., 0.])
"""
import numpy as np

from .errors import InvalidArgumentError, InvalidInputError

EPSILON = 1e-7


def _onehot_from_sparse(y_true, num_classes):
    labels = np.asarray(y_true).reshape(-1).astype(np.int64)
    if labels.size and (labels.min() < 0 or labels.max() >= num_classes):
        raise InvalidInputError(f"sparse labels must be in 0..{num_classes - 1}, got values "
                                f"{labels.min()}..{labels.max()}")
    onehot = np.zeros((labels.size, num_classes))
    onehot[np.arange(labels.size), labels] = 1.0
    return onehot


class Loss:
    """A loss: ``__call__`` gives the batch mean; ``per_sample``; ``gradient`` is ``d mean / d y_pred``."""

    name = None
    fuses_softmax = False

    def per_sample(self, y_true, y_pred):
        raise NotImplementedError

    def gradient(self, y_true, y_pred):
        raise NotImplementedError

    def __call__(self, y_true, y_pred):
        return float(np.mean(self.per_sample(y_true, y_pred)))

    def prepare_targets(self, y_true, y_pred):
        """Targets in the form ``gradient`` needs (sparse labels become one-hot here)."""
        return np.asarray(y_true, dtype=y_pred.dtype)


class CategoricalCrossentropy(Loss):
    name = "categorical_crossentropy"
    fuses_softmax = True

    def per_sample(self, y_true, y_pred):
        y = self.prepare_targets(y_true, y_pred)
        p = y_pred / y_pred.sum(axis=-1, keepdims=True)
        return -(y * np.log(np.clip(p, EPSILON, 1 - EPSILON))).sum(axis=-1)

    def gradient(self, y_true, y_pred):
        y = self.prepare_targets(y_true, y_pred)
        s = y_pred.sum(axis=-1, keepdims=True)
        p = y_pred / s
        inside = (p > EPSILON) & (p < 1 - EPSILON)
        # L = -sum_k y_k log(p_k / s): dL/dp_j = -y_j / p_j [unclipped] + sum_k y_k [unclipped] / s
        dq = np.where(inside, -y / np.where(inside, p, 1.0), 0.0)  # dL/dq with q = p/s
        dp = (dq - (dq * p).sum(axis=-1, keepdims=True)) / s
        return (dp / y_pred.shape[0]).astype(y_pred.dtype)

    def from_logits(self, y_true, z):
        """``(per-sample loss, dL/dz)`` for logits ``z``: the fused softmax + cross-entropy."""
        y = self.prepare_targets(y_true, z)
        shifted = z - z.max(axis=-1, keepdims=True)
        log_p = shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))
        per_sample = -(y * log_p).sum(axis=-1)
        dz = ((np.exp(log_p) * y.sum(axis=-1, keepdims=True) - y) / z.shape[0]).astype(z.dtype)
        # A confident model has p ~ exp(-100) for the wrong classes: subnormal floats, which make every
        # product they enter ~100x slower on x86. Flush them to zero, as TensorFlow's flush-to-zero mode does.
        dz[np.abs(dz) < np.finfo(dz.dtype).tiny] = 0
        return per_sample, dz


class SparseCategoricalCrossentropy(CategoricalCrossentropy):
    name = "sparse_categorical_crossentropy"

    def prepare_targets(self, y_true, y_pred):
        return _onehot_from_sparse(y_true, y_pred.shape[-1]).astype(y_pred.dtype)

    # Keras clips *before* normalizing here: L = -log softmax(log c)_label = -log c_label + log sum_k c_k,
    # c = clip(p). Same value as the categorical loss unless the clip is active; the gradient differs then.
    def per_sample(self, y_true, y_pred):
        y = self.prepare_targets(y_true, y_pred)
        c = np.clip(y_pred, EPSILON, 1 - EPSILON)
        return -(y * np.log(c)).sum(axis=-1) + np.log(c.sum(axis=-1))

    def gradient(self, y_true, y_pred):
        y = self.prepare_targets(y_true, y_pred)
        inside = (y_pred > EPSILON) & (y_pred < 1 - EPSILON)
        c = np.clip(y_pred, EPSILON, 1 - EPSILON)
        dc = 1.0 / c.sum(axis=-1, keepdims=True) - y / c  # dL/dc_j = -[j = label] / c_j + 1 / sum_k c_k
        return (np.where(inside, dc, 0.0) / y_pred.shape[0]).astype(y_pred.dtype)


class MeanSquaredError(Loss):
    name = "mean_squared_error"

    def per_sample(self, y_true, y_pred):
        d = y_pred - self.prepare_targets(y_true, y_pred).reshape(y_pred.shape)
        return np.mean(d * d, axis=-1)

    def gradient(self, y_true, y_pred):
        d = y_pred - self.prepare_targets(y_true, y_pred).reshape(y_pred.shape)
        return (2.0 * d / d.size).astype(y_pred.dtype)


class MeanAbsoluteError(Loss):
    name = "mean_absolute_error"

    def per_sample(self, y_true, y_pred):
        return np.mean(np.abs(y_pred - self.prepare_targets(y_true, y_pred).reshape(y_pred.shape)), axis=-1)

    def gradient(self, y_true, y_pred):
        d = y_pred - self.prepare_targets(y_true, y_pred).reshape(y_pred.shape)
        return (np.sign(d) / d.size).astype(y_pred.dtype)


class BinaryCrossentropy(Loss):
    name = "binary_crossentropy"

    def per_sample(self, y_true, y_pred):
        y = self.prepare_targets(y_true, y_pred).reshape(y_pred.shape)
        p = np.clip(y_pred, EPSILON, 1 - EPSILON)
        return -np.mean(y * np.log(p) + (1 - y) * np.log(1 - p), axis=-1)

    def gradient(self, y_true, y_pred):
        y = self.prepare_targets(y_true, y_pred).reshape(y_pred.shape)
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


def _fn(cls):
    def loss(y_true, y_pred):
        return cls().per_sample(y_true, np.asarray(y_pred))

    loss.__name__ = cls.name
    loss.__doc__ = f"Per-sample {cls.name} (``{cls.__name__}().per_sample``)."
    loss._loss_class = cls
    return loss


categorical_crossentropy = _fn(CategoricalCrossentropy)
sparse_categorical_crossentropy = _fn(SparseCategoricalCrossentropy)
mean_squared_error = mse = _fn(MeanSquaredError)
mean_absolute_error = mae = _fn(MeanAbsoluteError)
binary_crossentropy = _fn(BinaryCrossentropy)


def get(identifier):
    """A :class:`Loss` from a Keras name, a Loss instance, or one of the functions above."""
    if isinstance(identifier, Loss):
        return identifier
    if isinstance(identifier, type) and issubclass(identifier, Loss):
        return identifier()
    if callable(identifier) and hasattr(identifier, "_loss_class"):
        return identifier._loss_class()
    if isinstance(identifier, str) and identifier.lower() in _CLASSES:
        return _CLASSES[identifier.lower()]()
    raise InvalidArgumentError(f"unknown loss {identifier!r}; valid names: {sorted(_CLASSES)}")
