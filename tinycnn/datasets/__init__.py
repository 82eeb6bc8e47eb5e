"""Data sets for the course, loaded the way ``keras.datasets`` loads them.

* :mod:`tinycnn.datasets.fashion_mnist` -- 28x28 clothing images in 10 classes (classification);
  ``(x_train, y_train), (x_test, y_test) = fashion_mnist.load_data()``.
* :mod:`tinycnn.datasets.mnist` -- 28x28 handwritten digits (classification), as ``keras.datasets.mnist``.
* :mod:`tinycnn.datasets.cifar10` -- 32x32 colour images in 10 classes, as ``keras.datasets.cifar10``.
* :mod:`tinycnn.datasets.auto_mpg` -- fuel consumption of 392 cars (regression);
  ``data = auto_mpg.load_data()``, a ``(392, 8)`` float64 array.
* :mod:`tinycnn.datasets.idx` -- reader and writer of the IDX file format used by (Fashion-)MNIST;
  :mod:`tinycnn.datasets.safe_pickle` -- a pickle reader that builds only arrays (CIFAR's python batches);
  :mod:`tinycnn.datasets.download` -- where the files are looked for, and checked downloads.

>>> from tinycnn.datasets import auto_mpg, cifar10, fashion_mnist, mnist
"""

from . import auto_mpg, cifar10, download, fashion_mnist, idx, mnist, safe_pickle

__all__ = ["auto_mpg", "cifar10", "download", "fashion_mnist", "idx", "mnist", "safe_pickle"]
