"""Preprocessing layers that live inside the model: ``Normalization`` and ``Rescaling``.

**Normalization** standardizes each feature with statistics computed once from the training data by
``adapt(x)`` (or given as ``mean=`` / ``variance=``), so the model takes raw inputs::

    y  = (x - mean) / max(sqrt(variance), 1e-7)          (invert=True: y = mean + x * max(sqrt(variance), 1e-7))
    dx = dy / max(sqrt(variance), 1e-7)                  (the statistics are constants: no weight gradients)

``axis`` names the axes that keep their own statistics (default ``-1``: one mean per feature / channel); the
mean and the *biased* variance (divided by the count) are taken over every other axis. ``axis=None`` means one
mean and one variance for everything. Unlike BatchNormalization nothing changes while training.

As Keras 3: after ``adapt`` the layer holds three non-trainable weights ``[mean, variance, count]`` (count, an
integer kept for old saved models, stays 0: Keras 3's ``adapt`` does not update it); with ``mean=`` and
``variance=`` given it holds none. The floor ``1e-7`` is Keras's ``backend.epsilon()``.

**Rescaling** is ``y = x * scale + offset`` (``Rescaling(1./255)`` maps pixels to ``[0, 1]``); ``dx = dy * scale``.

Mirror ``keras.layers.Normalization(axis=-1, mean=None, variance=None, invert=False)`` and
``keras.layers.Rescaling(scale, offset=0.0)``.

>>> import numpy as np
>>> norm = Normalization()
>>> norm.adapt(np.array([[1.0, 10.0], [3.0, 30.0]]))
>>> norm.forward(np.array([[2.0, 40.0]]))
array([[0., 2.]], dtype=float32)
>>> [w.tolist() for w in norm.get_weights()]
[[2.0, 20.0], [1.0, 100.0], 0]
>>> Rescaling(1 / 255).forward(np.array([[0.0, 255.0]]))
array([[0., 1.]], dtype=float32)
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from ..errors import InvalidArgumentError, InvalidInputError
from ..hints import Array, Config, ShapeLike
from .base import Layer
from .variables import Variable, weight_attribute

EPSILON = 1e-7


class Normalization(Layer):
    """Feature-wise standardization with fixed statistics, as ``keras.layers.Normalization``.

    Parameters
    ----------
    axis : int, tuple of ints or None, default -1
        The axes with their own mean and variance (``None``: a single pair for all values).
    mean, variance : array-like, optional
        Give both instead of calling :meth:`adapt`; scalars or arrays over the kept axes.
    invert : bool, default False
        Undo the normalization instead (``mean + x * std``).
    """

    def __init__(
        self,
        axis: int | tuple[int, ...] | list[int] | None = -1,
        mean: ArrayLike | None = None,
        variance: ArrayLike | None = None,
        invert: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if axis is None:
            axis = ()
        elif isinstance(axis, (int, np.integer)) and not isinstance(axis, bool):
            axis = (int(axis),)
        elif isinstance(axis, (tuple, list)) and all(isinstance(a, (int, np.integer)) for a in axis):
            axis = tuple(int(a) for a in axis)
        else:
            raise InvalidArgumentError(f"Normalization axis must be an int, a tuple of ints or None, got {axis!r}")
        self.axis = axis
        if (mean is None) != (variance is None):
            raise InvalidArgumentError("Normalization: give both mean= and variance=, or neither (then call adapt)")
        if mean is not None:
            mean, variance = np.asarray(mean, dtype=np.float64), np.asarray(variance, dtype=np.float64)
            if mean.shape != variance.shape:
                raise InvalidArgumentError(
                    f"Normalization: mean and variance must have the same shape, got {mean.shape} and {variance.shape}"
                )
            if mean.ndim > len(self.axis):
                raise InvalidArgumentError(
                    f"Normalization: mean has rank {mean.ndim}, more than the number of kept "
                    f"axes ({len(self.axis)}, axis={axis!r})"
                )
            if np.any(variance < 0) or not np.all(np.isfinite(mean)) or not np.all(np.isfinite(variance)):
                raise InvalidArgumentError("Normalization: mean must be finite and variance finite and >= 0")
        self.input_mean, self.input_variance = mean, variance
        self.invert = bool(invert)

    def build(self, input_shape: ShapeLike) -> None:
        ndim = len(input_shape)
        if any(not -ndim <= a < ndim for a in self.axis):
            raise InvalidInputError(f"{self.name}: axis {self.axis} out of range for inputs of rank {ndim}")
        self._keep = tuple(sorted(a % ndim for a in self.axis))
        if 0 in self._keep:
            raise InvalidInputError(f"{self.name}: axis 0 is the batch axis; it cannot keep its own statistics")
        if any(input_shape[a] is None for a in self._keep):
            raise InvalidInputError(
                f"{self.name}: the kept axes {self._keep} of input shape {tuple(input_shape)} must have known sizes"
            )
        self._reduce = tuple(a for a in range(ndim) if a not in self._keep)
        self._bshape = tuple(input_shape[a] if a in self._keep else 1 for a in range(ndim))
        stat_shape = tuple(input_shape[a] for a in self._keep)
        if self.input_mean is None:
            self.add_weight("mean", stat_shape, "zeros", trainable=False)
            self.add_weight("variance", stat_shape, "ones", trainable=False)
            self.add_weight("count", (), "zeros", trainable=False)
            self.state["count"] = np.zeros((), dtype=np.int64)  # an integer, as Keras's
        else:
            # Keras aligns a lower-rank mean with the kept axes from the right, then broadcasts
            shape = [1] * ndim
            for i in range(1, self.input_mean.ndim + 1):
                shape[self._keep[-i]] = self.input_mean.shape[-i]
            self._fixed = tuple(
                np.broadcast_to(v.reshape(shape), self._bshape).astype(self.dtype)
                for v in (self.input_mean, self.input_variance)
            )
        super().build(input_shape)

    def adapt(self, data: ArrayLike | Iterable[Any]) -> None:
        """Set ``mean`` and ``variance`` from ``data``: an array, or an iterable of batches (combined exactly,
        by the pooled-variance formula Keras uses).

        A rank-1 array with the default ``axis=-1`` is read as ``n`` samples of one feature (shape ``(n, 1)``),
        as tinycnn's ``fit`` reads a rank-1 ``x``; Keras would keep one statistic per *sample* there.
        """
        if hasattr(data, "shape"):
            batches = [np.asarray(data, dtype=np.float64)]
        elif isinstance(data, (list, tuple)) and data and all(hasattr(b, "shape") for b in data):
            batches = [np.asarray(b, dtype=np.float64) for b in data]  # a list of batches, as Keras
        elif isinstance(data, (list, tuple)):
            batches = [np.asarray(data, dtype=np.float64)]  # nested lists of numbers
        elif hasattr(data, "__iter__") or hasattr(data, "__getitem__"):
            batches = (np.asarray(b[0] if isinstance(b, tuple) else b, dtype=np.float64) for b in data)
        else:
            raise InvalidInputError(
                f"{self.name}: adapt takes an array or an iterable of batches, got {type(data).__name__}"
            )
        if self.input_mean is not None:
            raise InvalidArgumentError(
                f"{self.name}: mean and variance were given at construction; adapt would "
                f"ignore them -- create the layer without mean= and variance= to adapt it"
            )
        mean = var = None
        count = 0
        if not self.built and self.batch_input_shape is not None:
            self.build(self.batch_input_shape)  # Normalization(input_shape=[1,], axis=None): the shape is known
        for batch in batches:
            if batch.ndim == 1 and (
                (len(self.axis) == 1 and self.axis[0] in (-1, 1))
                or (self.built and tuple(self.input_shape[1:]) == (1,))
            ):
                batch = batch[:, None]  # Keras treats a rank-1 array as N samples of one feature
            if not np.all(np.isfinite(batch)):
                raise InvalidInputError(f"{self.name}: adapt data holds NaN or infinite values")
            if not self.built:
                self.build((None,) + batch.shape[1:])
            elif any(batch.shape[a] != self.input_shape[a] for a in self._keep):
                raise InvalidInputError(
                    f"{self.name}: built for inputs of shape {self.input_shape}, adapt got {batch.shape}"
                )
            b_mean, b_var = batch.mean(axis=self._reduce), batch.var(axis=self._reduce)
            n = int(np.prod([batch.shape[a] for a in self._reduce]))
            if mean is None:
                mean, var, count = b_mean, b_var, n
                continue
            count += n
            w = n / count
            new_mean = mean * (1 - w) + b_mean * w
            var = (var + (mean - new_mean) ** 2) * (1 - w) + (b_var + (b_mean - new_mean) ** 2) * w
            mean = new_mean
        if mean is None:
            raise InvalidInputError(f"{self.name}: adapt got no data")
        self.state["mean"][...] = mean
        self.state["variance"][...] = var

    def _stats(self):
        if not self.built:
            raise InvalidInputError(f"{self.name}: call adapt(x) (or build) before using the layer")
        if self.input_mean is not None:
            return self._fixed
        return self.state["mean"].reshape(self._bshape), self.state["variance"].reshape(self._bshape)

    @property
    def mean(self) -> Array:
        """The mean, shaped to broadcast against the input (as Keras's ``layer.mean``)."""
        return self._stats()[0].copy()

    @property
    def variance(self) -> Array:
        return self._stats()[1].copy()

    @property
    def adapt_mean(self) -> Variable | None:
        return weight_attribute(self, "mean")

    @property
    def adapt_variance(self) -> Variable | None:
        return weight_attribute(self, "variance")

    def _std(self):
        mean, var = self._stats()
        return mean, np.maximum(np.sqrt(var.astype(np.float64)), EPSILON).astype(self.dtype)

    def forward(self, x: ArrayLike, training: bool = False) -> Array:
        x = self._cast(x)
        mean, std = self._std()
        if self.invert:
            return (mean + x * std).astype(self.dtype, copy=False)
        return ((x - mean) / std).astype(self.dtype, copy=False)

    def backward(self, dy: Array) -> Array:
        _, std = self._std()
        return (dy * std if self.invert else dy / std).astype(self.dtype, copy=False)

    def get_config(self) -> Config:
        as_list = lambda v: None if v is None else v.tolist()
        return {
            **super().get_config(),
            "axis": self.axis,
            "invert": self.invert,
            "mean": as_list(self.input_mean),
            "variance": as_list(self.input_variance),
        }


class Rescaling(Layer):
    """``y = x * scale + offset``, as ``keras.layers.Rescaling(scale, offset=0.0)``; ``dx = dy * scale``.

    ``scale`` and ``offset`` are numbers or arrays that broadcast against a sample (e.g. one per channel).
    """

    def __init__(self, scale: ArrayLike, offset: ArrayLike = 0.0, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        for arg, value in (("scale", scale), ("offset", offset)):
            arr = np.asarray(value) if not isinstance(value, (str, bytes)) else None
            if (
                arr is None
                or isinstance(value, bool)
                or not np.issubdtype(arr.dtype, np.number)
                or not np.all(np.isfinite(arr))
            ):
                raise InvalidArgumentError(f"Rescaling {arg} must be a finite number (or array), got {value!r}")
        self.scale, self.offset = scale, offset

    def forward(self, x: ArrayLike, training: bool = False) -> Array:
        x = self._cast(x)
        return (x * np.asarray(self.scale, self.dtype) + np.asarray(self.offset, self.dtype)).astype(self.dtype)

    def backward(self, dy: Array) -> Array:
        return np.broadcast_to(dy * np.asarray(self.scale, self.dtype), dy.shape).astype(self.dtype)

    def get_config(self) -> Config:
        return {**super().get_config(), "scale": self.scale, "offset": self.offset}
