"""tinycnn: a from-scratch deep-learning engine in NumPy (with Numba kernels), mirroring Keras.

The top-level package is a Keras face: ``import tinycnn as keras`` and a course script's ``keras.Sequential``,
``keras.Model``, ``keras.Input``, ``keras.layers``, ``keras.datasets`` ... resolve; ``tinycnn.keras`` is
tinycnn itself, so ``import tinycnn as tf`` serves scripts written against ``tf.keras.layers.Dense(...)``::

    import tinycnn as keras
    from tinycnn import layers

    inputs = keras.Input(shape=(28, 28, 1))
    x = layers.Conv2D(32, 3, activation="relu")(inputs)
    outputs = layers.Dense(10, activation="softmax")(layers.Flatten()(x))
    model = keras.Model(inputs, outputs)

>>> import tinycnn as tf
>>> tf.keras.layers.Dense is tf.layers.Dense
True
"""

import importlib
import sys

from . import (
    activations,
    backend,
    callbacks,
    errors,
    initializers,
    kernels,
    layers,
    losses,
    metrics,
    models,
    optimizers,
    utils,
)
from .layers import Input, InputLayer, Layer
from .models import Model, Sequential

__version__ = "0.1.0"

#: ``tinycnn.keras`` is tinycnn: ``import tinycnn as tf; tf.keras.layers.Dense(...)``.
keras = sys.modules[__name__]

# Loaded on first use (``keras.datasets.mnist``), so ``import tinycnn`` stays light.
_LAZY = ("datasets", "nn", "regularizers", "preprocessing", "saving", "gradcheck", "plot")


def __getattr__(name):
    if name in _LAZY:
        return importlib.import_module(f".{name}", __name__)
    raise AttributeError(f"module 'tinycnn' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_LAZY))


__all__ = [
    "activations",
    "backend",
    "callbacks",
    "errors",
    "initializers",
    "kernels",
    "layers",
    "losses",
    "metrics",
    "models",
    "optimizers",
    "utils",
    "datasets",
    "nn",
    "regularizers",
    "preprocessing",
    "Input",
    "InputLayer",
    "Layer",
    "Model",
    "Sequential",
    "keras",
    "__version__",
]
