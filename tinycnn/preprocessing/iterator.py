"""``NumpyArrayIterator``: the batches of augmented images that :meth:`ImageDataGenerator.flow` returns."""

import numbers

import numpy as np

from ..errors import InvalidArgumentError, InvalidInputError
from ..utils import PyDataset


class NumpyArrayIterator(PyDataset):
    """The iterator :meth:`ImageDataGenerator.flow` returns: a :class:`~tinycnn.utils.PyDataset` of augmented batches.

    ``len(it)`` is ``ceil(n / batch_size)``; ``it[i]`` is batch ``i`` of the current epoch's order, freshly
    augmented at each call; ``on_epoch_end()`` draws a new order (when ``shuffle``); ``next(it)`` walks the
    batches and wraps around forever, as Keras's iterator does. Each batch is ``x``, ``(x, y)`` or
    ``(x, y, sample_weight)``; ``x`` has the generator's dtype (float32), ``y`` is returned as given.
    """

    def __init__(
        self,
        x,
        y,
        image_data_generator,
        batch_size=32,
        shuffle=False,
        sample_weight=None,
        seed=None,
        ignore_class_split=False,
        subset=None,
    ):
        super().__init__()
        x = np.asarray(x)
        if x.ndim != 4:
            hint = " (add the channel axis: x[..., None])" if x.ndim == 3 else ""
            raise InvalidInputError(f"flow expects images of shape (n, height, width, channels), got {x.shape}{hint}")
        if not (np.issubdtype(x.dtype, np.number) or x.dtype == bool):
            raise InvalidInputError(f"flow expects numeric images, got dtype {x.dtype}")
        if y is not None:
            y = np.asarray(y)
            if len(y) != len(x):
                raise InvalidInputError(f"x and y must have the same length, got {len(x)} images and {len(y)} labels")
        if sample_weight is not None:
            sample_weight = np.asarray(sample_weight)
            if len(sample_weight) != len(x):
                raise InvalidInputError(
                    f"x and sample_weight must have the same length, got {len(x)} and {len(sample_weight)}"
                )
        if not isinstance(batch_size, numbers.Integral) or batch_size < 1:
            raise InvalidArgumentError(f"batch_size must be a positive int, got {batch_size!r}")
        if subset is not None:
            if subset not in ("training", "validation"):
                raise InvalidArgumentError(f"subset must be 'training', 'validation' or None, got {subset!r}")
            split = int(len(x) * image_data_generator._validation_split)
            if not image_data_generator._validation_split:
                raise InvalidArgumentError(
                    "subset= needs ImageDataGenerator(validation_split=...) with a fraction in (0, 1)"
                )
            if (
                y is not None
                and not ignore_class_split
                and not np.array_equal(np.unique(y[:split]), np.unique(y[split:]))
            ):
                raise InvalidInputError(
                    "the training and validation subsets hold different classes after the split "
                    "(validation is the first validation_split of the samples); if the arrays "
                    "are sorted by label, shuffle them first, or pass ignore_class_split=True"
                )
            part = slice(None, split) if subset == "validation" else slice(split, None)
            x = x[part]
            y = y[part] if y is not None else None
            sample_weight = sample_weight[part] if sample_weight is not None else None
        self.x, self.y, self.sample_weight = x, y, sample_weight
        self.image_data_generator = image_data_generator
        self.n, self.batch_size, self.shuffle, self.seed = len(x), int(batch_size), bool(shuffle), seed
        self.dtype = image_data_generator.dtype
        self._rng = np.random.default_rng(seed)
        self.index_array = None
        self.batch_index = 0

    def __len__(self):
        return (self.n + self.batch_size - 1) // self.batch_size

    def _set_index_array(self):
        self.index_array = self._rng.permutation(self.n) if self.shuffle else np.arange(self.n)

    def __getitem__(self, idx):
        if not isinstance(idx, numbers.Integral) or not 0 <= idx < len(self):
            raise IndexError(f"batch index {idx!r} out of range: this iterator has {len(self)} batches")
        if self.index_array is None:
            self._set_index_array()
        return self._batch(self.index_array[self.batch_size * idx : self.batch_size * (idx + 1)])

    def on_epoch_end(self):
        """Draw a new order for the next epoch (when ``shuffle``)."""
        self._set_index_array()

    def reset(self):
        """Make ``next()`` start again from the first batch."""
        self.batch_index = 0

    def __iter__(self):
        return self

    def __next__(self):
        if self.n == 0:
            raise StopIteration
        if self.batch_index == 0 or self.index_array is None:
            self._set_index_array()
        batch = self[self.batch_index]
        self.batch_index = (self.batch_index + 1) % len(self)
        return batch

    def _batch(self, index_array):
        gen = self.image_data_generator
        batch_x = np.empty((len(index_array),) + self.x.shape[1:], dtype=self.dtype)
        for i, j in enumerate(index_array):
            image = self.x[j].astype(self.dtype)
            image = gen.apply_transform(image, gen.get_random_transform(image.shape, rng=self._rng))
            batch_x[i] = gen.standardize(image)
        if self.y is None:
            return batch_x
        if self.sample_weight is None:
            return batch_x, self.y[index_array]
        return batch_x, self.y[index_array], self.sample_weight[index_array]
