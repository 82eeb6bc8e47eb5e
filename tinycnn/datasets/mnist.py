"""MNIST: 70,000 grayscale 28x28 images of handwritten digits, as ``keras.datasets.mnist``.

LeCun, Bottou, Bengio & Haffner (1998), *Gradient-based learning applied to document recognition*,
Proc. IEEE 86(11). 60,000 training and 10,000 test images of the digits 0..9, written by about 500
people; the training and test writers are disjoint.

The same arrays come in two file formats, and :func:`load_data` reads both:

* Keras's ``mnist.npz`` (:data:`NPZ_NAME`): a NumPy ``.npz`` archive with the four arrays ``x_train``,
  ``y_train``, ``x_test``, ``y_test``. It is read with ``allow_pickle=False``: an archive holding object
  arrays (which only a pickle can rebuild) is refused, never unpickled.
* LeCun's four IDX files (:data:`FILES`, format in :mod:`tinycnn.datasets.idx`), gzip-compressed, as
  mirrors such as torchvision's distribute them.

Where the files come from
-------------------------
Without ``path=``, the first of these that has the data is used:

1. ``$TINYCNN_DATA/mnist`` (``mnist.npz`` or the four IDX files), if the environment variable is set;
2. Keras's own cache (:func:`tinycnn.datasets.download.keras_dirs`): ``~/.keras/datasets/mnist.npz``
   (``$KERAS_HOME/datasets`` if set), then ``/tmp/.keras/datasets/mnist.npz``;
3. ``~/.tinycnn/datasets/mnist`` (``mnist.npz`` or the four IDX files);
4. a download of :data:`NPZ_URL` (the file Keras downloads) into tinycnn's cache, checked against
   :data:`NPZ_SHA256`, the checksum in Keras's source. Offline, the error says which file to put where.

Debian has no MNIST package. Files found on disk are not checksummed (Debian and mirrors recompress them)
but every array is checked: images ``(n, 28, 28)`` uint8, labels ``(n,)`` uint8 in 0..9, n = 60,000 or
10,000; anything else is refused with an error naming the file.

>>> from tinycnn.datasets import mnist
>>> mnist.NPZ_NAME, mnist.SPLIT_SIZES
('mnist.npz', {'train': 60000, 'test': 10000})
"""

import os
import urllib.request
import zipfile

import numpy as np

from ..errors import DataFileError
from .download import download, keras_dirs, tinycnn_dir
from .idx import read_idx

__all__ = ["load_data", "FILES", "NPZ_NAME", "NPZ_URL", "NPZ_SHA256", "MD5", "search_dirs", "cache_dir"]

#: LeCun's four IDX files, by the role they play (the same names as Fashion-MNIST's).
FILES = {
    "x_train": "train-images-idx3-ubyte.gz",
    "y_train": "train-labels-idx1-ubyte.gz",
    "x_test": "t10k-images-idx3-ubyte.gz",
    "y_test": "t10k-labels-idx1-ubyte.gz",
}

#: MD5 of LeCun's original ``.gz`` files (for reference: tinycnn downloads :data:`NPZ_URL`).
MD5 = {
    "train-images-idx3-ubyte.gz": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
    "train-labels-idx1-ubyte.gz": "d53e105ee54ea40749a09fcbcd1e9432",
    "t10k-images-idx3-ubyte.gz": "9fb629c4189551a2d022fa330f9573f3",
    "t10k-labels-idx1-ubyte.gz": "ec29112dd5afa0611ce80d1b7f02629c",
}

#: Keras's file name, URL and SHA-256 (``keras/src/datasets/mnist.py``).
NPZ_NAME = "mnist.npz"
NPZ_URL = "https://storage.googleapis.com/tensorflow/tf-keras-datasets/mnist.npz"
NPZ_SHA256 = "731c5ac602752760c8e48fbffcf8c3b850d9dc2a2aedcf2cc48468fc17b673d1"

SPLIT_SIZES = {"train": 60000, "test": 10000}
IMAGE_SHAPE = (28, 28)
NUM_CLASSES = 10
_DIRNAME = "mnist"

# The function that opens a URL; tests replace it so that they never touch the network.
_urlopen = urllib.request.urlopen


def cache_dir():
    """tinycnn's download cache: ``$TINYCNN_DATA/mnist`` if set, else ``~/.tinycnn/datasets/mnist``."""
    return tinycnn_dir(_DIRNAME)


def search_dirs():
    """The folders :func:`load_data` tries when no ``path`` is given, in order (see the module docstring)."""
    dirs = []
    if os.environ.get("TINYCNN_DATA"):
        dirs.append(tinycnn_dir(_DIRNAME))
    dirs.extend(keras_dirs())
    dirs.append(os.path.join(os.path.expanduser("~"), ".tinycnn", "datasets", _DIRNAME))
    return dirs


def _source_in(folder):
    """``("npz", file)`` or ``("idx", folder)`` if ``folder`` holds MNIST, else None."""
    npz = os.path.join(folder, NPZ_NAME)
    if os.path.isfile(npz):
        return "npz", npz
    if all(os.path.isfile(os.path.join(folder, name)) for name in FILES.values()):
        return "idx", folder
    return None


def _read_npz(path):
    """The four arrays of a Keras ``mnist.npz``, read without unpickling anything."""
    try:
        with np.load(path, allow_pickle=False) as f:
            missing = [k for k in FILES if k not in f.files]
            if missing:
                raise DataFileError(
                    f"{path}: not Keras's mnist.npz: it lacks the array(s) {', '.join(missing)} "
                    f"(it holds {', '.join(f.files) or 'nothing'})"
                )
            return {k: f[k] for k in FILES}
    except DataFileError:
        raise
    except ValueError as e:  # object arrays: they would need a pickle, which tinycnn never loads
        raise DataFileError(
            f"{path}: refused: {e}. Keras's mnist.npz holds plain uint8 arrays; this file "
            "does not, so it is not the original: delete it and download it again"
        ) from e
    except (OSError, zipfile.BadZipFile, EOFError) as e:
        raise DataFileError(f"{path}: not a readable .npz archive ({e}); delete it and download it again") from e


def _check(arrays, split, where):
    """Check the images and labels of one split; ``where`` names the file(s) in messages."""
    n = SPLIT_SIZES[split]
    x, y = arrays["x_" + split], arrays["y_" + split]
    if x.dtype != np.uint8 or x.shape != (n,) + IMAGE_SHAPE:
        raise DataFileError(
            f"{where['x_' + split]}: expected the {split} images, uint8 of shape "
            f"{(n,) + IMAGE_SHAPE}, got {x.dtype} of shape {x.shape}; is it the right file?"
        )
    if y.dtype != np.uint8 or y.shape != (n,):
        raise DataFileError(
            f"{where['y_' + split]}: expected the {split} labels, uint8 of shape {(n,)}, got "
            f"{y.dtype} of shape {y.shape}; is it the right file?"
        )
    if y.max() >= NUM_CLASSES:
        raise DataFileError(
            f"{where['y_' + split]}: label {int(y.max())} is out of range; MNIST labels are 0..{NUM_CLASSES - 1}"
        )


def _load(kind, location):
    if kind == "npz":
        arrays = _read_npz(location)
        where = {k: f"{location} (array {k!r})" for k in FILES}
    else:
        arrays = {k: read_idx(os.path.join(location, name)) for k, name in FILES.items()}
        where = {k: os.path.join(location, name) for k, name in FILES.items()}
    _check(arrays, "train", where)
    _check(arrays, "test", where)
    return (arrays["x_train"], arrays["y_train"]), (arrays["x_test"], arrays["y_test"])


def _resolve_path(path):
    """What the ``path=`` argument names: a folder, an ``.npz`` file, or a file name in Keras's cache."""
    path = os.fspath(path)
    if os.path.isdir(path):
        found = _source_in(path)
        if found is None:
            raise DataFileError(
                f"{path}: no MNIST here: the folder must hold {NPZ_NAME} (Keras's file) or all "
                f"four IDX files {', '.join(FILES.values())}"
            )
        return found
    if os.path.isfile(path):
        return "npz", path
    if os.sep not in path and (os.altsep is None or os.altsep not in path):  # Keras: relative to its cache
        for folder in keras_dirs():
            if os.path.isfile(os.path.join(folder, path)):
                return "npz", os.path.join(folder, path)
    raise DataFileError(
        f"{path}: no such file or folder (looked also in Keras's cache: "
        f"{', '.join(keras_dirs())}); pass a folder holding {NPZ_NAME} or the four IDX files, "
        "or the .npz file itself"
    )


def load_data(path=None):
    """Load MNIST as ``keras.datasets.mnist.load_data()`` does.

    Parameters
    ----------
    path : str or os.PathLike, optional
        A folder holding ``mnist.npz`` or the four IDX files (:data:`FILES`), an ``.npz`` file, or -- as
        Keras's ``path="mnist.npz"`` -- a file name in Keras's cache. If given, nothing else is tried. If
        not, the folders of :func:`search_dirs` are tried and :data:`NPZ_URL` downloaded as a last resort.

    Returns
    -------
    (x_train, y_train), (x_test, y_test)
        ``x_train``: uint8, shape (60000, 28, 28), pixel values 0..255 (0 = background);
        ``y_train``: uint8, shape (60000,), the digits 0..9;
        ``x_test``: uint8, shape (10000, 28, 28); ``y_test``: uint8, shape (10000,).

    Raises
    ------
    DataFileError
        ``path`` holds no MNIST; a file is corrupted, truncated, not the file its name says, or holds
        object arrays; or the download failed (the message then says which file to put where).
    """
    if path is not None:
        return _load(*_resolve_path(path))
    for folder in search_dirs():
        found = _source_in(folder)
        if found is not None:
            return _load(*found)
    dest = os.path.join(cache_dir(), NPZ_NAME)
    download(
        NPZ_URL,
        dest,
        "sha256",
        NPZ_SHA256,
        _urlopen,
        by_hand=f"put Keras's {NPZ_NAME} (from {NPZ_URL}) into {keras_dirs()[0]} or {cache_dir()}, or the "
        f"four IDX files {', '.join(FILES.values())} into {cache_dir()}, or pass path=",
    )
    return _load("npz", dest)
