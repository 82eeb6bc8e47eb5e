"""Data sets for the course, loaded the way ``keras.datasets`` loads them.

* :mod:`tinycnn.datasets.fashion_mnist` -- 28x28 clothing images in 10 classes (classification);
  ``(x_train, y_train), (x_test, y_test) = fashion_mnist.load_data()``.
* :mod:`tinycnn.datasets.auto_mpg` -- fuel consumption of 392 cars (regression);
  ``data = auto_mpg.load_data()``, a ``(392, 8)`` float64 array.
* :mod:`tinycnn.datasets.idx` -- reader and writer of the IDX file format used by (Fashion-)MNIST.

>>> from tinycnn.datasets import auto_mpg, fashion_mnist
"""
from . import auto_mpg, fashion_mnist, idx

__all__ = ["auto_mpg", "fashion_mnist", "idx"]
