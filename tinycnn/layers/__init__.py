"""tinycnn's layers, with the names of ``tf.keras.layers``. One module per family; read them in this order:

``base`` (the contract) -> ``dense`` -> ``activation`` -> ``convolutional`` -> ``pooling`` ->
``normalization`` -> ``regularization`` (Dropout) -> ``reshaping`` (Flatten).
"""
from .activation import Activation, ReLU, Softmax
from .base import Layer
from .convolutional import Conv2D
from .dense import Dense
from .normalization import BatchNormalization
from .pooling import AveragePooling2D, AvgPool2D, L2Pooling2D, MaxPool2D, MaxPooling2D, Pooling2D
from .regularization import Dropout
from .reshaping import Flatten

Convolution2D = Conv2D

__all__ = ["Layer", "Dense", "Activation", "ReLU", "Softmax", "Flatten", "Dropout", "Conv2D", "Convolution2D",
           "MaxPooling2D", "AveragePooling2D", "L2Pooling2D", "MaxPool2D", "AvgPool2D", "Pooling2D",
           "BatchNormalization"]
