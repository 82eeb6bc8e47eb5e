"""tinycnn's layers, with the names of ``tf.keras.layers``. One module per family; read them in this order:

``base`` (the contract) -> ``dense`` -> ``activation`` -> ``convolutional`` -> ``pooling`` ->
``normalization`` -> ``regularization`` (Dropout) -> ``reshaping`` (Flatten); then, for graphs,
``input_layer`` (symbolic tensors and ``Input``) -> ``merging`` (Add, Concatenate ...).

Then: ``global_pooling``, ``preprocessing`` (Normalization, Rescaling), ``variables`` (``layer.kernel``
and friends, weight regularizers).
"""

from .activation import Activation, LeakyReLU, ReLU, Softmax
from .augmentation import RandomFlip, RandomRotation, RandomTranslation, RandomZoom
from .base import Layer
from .convolutional import Conv1D, Conv2D, Convolution1D
from .dense import Dense
from .global_pooling import (
    GlobalAveragePooling1D,
    GlobalAveragePooling2D,
    GlobalAvgPool1D,
    GlobalAvgPool2D,
    GlobalMaxPool1D,
    GlobalMaxPool2D,
    GlobalMaxPooling1D,
    GlobalMaxPooling2D,
)
from .input_layer import Input, InputLayer, KerasTensor
from .merging import Add, Average, Concatenate, Maximum, Minimum, Multiply, Subtract, add, concatenate
from .normalization import BatchNormalization
from .pooling import (
    AveragePooling1D,
    AveragePooling2D,
    AvgPool1D,
    AvgPool2D,
    L2Pooling2D,
    MaxPool1D,
    MaxPool2D,
    MaxPooling1D,
    MaxPooling2D,
    Pooling2D,
)
from .preprocessing import Normalization, Rescaling
from .regularization import Dropout
from .reshaping import Flatten, Reshape, UpSampling2D, ZeroPadding2D

Convolution2D = Conv2D

__all__ = [
    "Layer",
    "Dense",
    "Activation",
    "ReLU",
    "Softmax",
    "Flatten",
    "Dropout",
    "Conv2D",
    "Convolution2D",
    "MaxPooling2D",
    "AveragePooling2D",
    "L2Pooling2D",
    "MaxPool2D",
    "AvgPool2D",
    "Pooling2D",
    "BatchNormalization",
    "Input",
    "InputLayer",
    "KerasTensor",
    "Add",
    "Subtract",
    "Multiply",
    "Average",
    "Maximum",
    "Minimum",
    "Concatenate",
    "add",
    "concatenate",
]
__all__ += [
    "LeakyReLU",
    "Conv1D",
    "Convolution1D",
    "MaxPooling1D",
    "AveragePooling1D",
    "MaxPool1D",
    "AvgPool1D",
    "GlobalAveragePooling2D",
    "GlobalMaxPooling2D",
    "GlobalAveragePooling1D",
    "GlobalMaxPooling1D",
    "GlobalAvgPool2D",
    "GlobalMaxPool2D",
    "GlobalAvgPool1D",
    "GlobalMaxPool1D",
    "Normalization",
    "Rescaling",
    "Reshape",
    "ZeroPadding2D",
    "UpSampling2D",
]
__all__ += ["RandomFlip", "RandomTranslation", "RandomRotation", "RandomZoom"]
