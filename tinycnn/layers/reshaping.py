"""Flatten: ``(N, H, W, C) -> (N, H*W*C)``, the bridge from the convolutional feature volume to the Dense
classifier (Goodfellow et al., *Deep Learning*, 9.10 and fig. 9.11), in channels-last (C-order) order, exactly as Keras flattens,
so the weights of a Keras Dense layer after a Flatten load unchanged. Backward is the inverse reshape::

    y = x.reshape(N, -1)        dx = dy.reshape(x.shape)

tinycnn is channels-last only, so unlike ``keras.layers.Flatten`` it takes no ``data_format`` argument.

>>> import numpy as np
>>> Flatten().forward(np.zeros((2, 7, 7, 64))).shape
(2, 3136)
"""
import numpy as np

from .base import Layer


class Flatten(Layer):
    """Reshape every sample to one vector (C order), keeping the batch axis."""

    def compute_output_shape(self, input_shape):
        rest = input_shape[1:]
        size = None if any(d is None for d in rest) else int(np.prod(rest, dtype=np.int64))
        return (input_shape[0], size)

    def forward(self, x, training=False):
        x = self._cast(x)
        self._shape = x.shape
        return x.reshape(x.shape[0], -1)

    def backward(self, dy):
        return dy.reshape(self._shape)
