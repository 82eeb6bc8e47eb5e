"""Preprocessing of image data, as ``keras.preprocessing`` (Keras 2's API, still shipped by Keras 3).

* :mod:`tinycnn.preprocessing.image` -- ``ImageDataGenerator``: random rotations, shifts, zooms and flips
  of NumPy image batches, served as a :class:`tinycnn.utils.PyDataset` by ``flow``.

Keras 3's augmentation *layers* (``RandomFlip``, ``RandomRotation`` ...) are in
:mod:`tinycnn.layers.augmentation`.

>>> from tinycnn.preprocessing.image import ImageDataGenerator
"""

from . import image

__all__ = ["image"]
