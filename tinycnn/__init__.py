"""tinycnn: a from-scratch deep-learning engine in NumPy (with Numba kernels), mirroring ``tf.keras``.

Change the imports of a Keras course script and it runs here::

    from tinycnn.models import Sequential
    from tinycnn.layers import Conv2D, MaxPooling2D, Activation, BatchNormalization, Flatten, Dense, Dropout
    from tinycnn.optimizers import SGD
    from tinycnn.utils import to_categorical
    from tinycnn.datasets import fashion_mnist
"""
from . import activations, callbacks, errors, initializers, kernels, layers, losses, metrics, models, optimizers, utils

__version__ = "0.1.0"
__all__ = ["activations", "callbacks", "errors", "initializers", "kernels", "layers", "losses", "metrics",
           "models", "optimizers", "utils", "__version__"]
