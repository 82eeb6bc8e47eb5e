"""Fashion-MNIST: 70,000 grayscale 28x28 images of clothing in 10 classes, as ``keras.datasets.fashion_mnist``.

Xiao, Rasul & Vollgraf (2017), *Fashion-MNIST: a novel image dataset for benchmarking machine learning
algorithms*, arXiv:1708.07747. A drop-in replacement for MNIST: same sizes, same file format (IDX, see
:mod:`tinycnn.datasets.idx`), same split -- 60,000 training and 10,000 test images, 6,000 and 1,000 per
class -- but much harder to classify than handwritten digits.

Where the files come from
-------------------------
:func:`load_data` reads the four original files (:data:`FILES`) from the first folder that has all four:

1. the ``path=`` argument, if given (then no other folder is tried: missing files are an error);
2. ``$TINYCNN_DATA/fashion-mnist``, if the environment variable ``TINYCNN_DATA`` is set;
3. ``~/.tinycnn/datasets/fashion-mnist``, the download cache;
4. ``/usr/share/datasets/fashion-mnist``, where Debian's package ``dataset-fashion-mnist`` installs them.

If none has them, the missing files are downloaded from :data:`BASE_URL` into the cache
(``$TINYCNN_DATA/fashion-mnist`` if set, else ``~/.tinycnn/datasets/fashion-mnist``) and their MD5
checksums compared with :data:`MD5`, the values the Fashion-MNIST authors publish. Each file is written
atomically (:func:`tinycnn.utils.atomic_open`): an interrupted download or a checksum mismatch leaves
nothing in the cache, so the next call starts clean.

Debian recompresses the ``.gz`` files, so their MD5 differs from :data:`MD5`; the uncompressed
contents are the originals (:data:`RAW_MD5`, checked in the tests).

Every file is checked when read: images must be ``(n, 28, 28)`` uint8 and labels ``(n,)`` uint8 in
0..9, with n = 60,000 (train) or 10,000 (test). A labels file put where an images file should be, or the
test set where the training set should be, is refused with an error naming the file.

>>> (x_train, y_train), (x_test, y_test) = load_data()
>>> x_train.shape, x_train.dtype, y_train.shape, x_test.shape
((60000, 28, 28), dtype('uint8'), (60000,), (10000, 28, 28))
>>> CLASS_NAMES[y_train[0]]
'Ankle boot'
>>> x_train = x_train.reshape(-1, 28, 28, 1).astype("float32") / 255
"""

import hashlib
import os
import sys
import urllib.error
import urllib.request

import numpy as np

from ..errors import DataFileError
from ..utils import atomic_open
from .idx import read_idx

__all__ = ["load_data", "CLASS_NAMES", "FILES", "MD5", "RAW_MD5", "BASE_URL", "search_dirs", "cache_dir"]

#: Label ``i`` means ``CLASS_NAMES[i]``.
CLASS_NAMES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot")

#: The four files, by the role they play.
FILES = {
    "x_train": "train-images-idx3-ubyte.gz",
    "y_train": "train-labels-idx1-ubyte.gz",
    "x_test": "t10k-images-idx3-ubyte.gz",
    "y_test": "t10k-labels-idx1-ubyte.gz",
}

#: MD5 of each ``.gz`` file as published by the authors (README of zalandoresearch/fashion-mnist).
MD5 = {
    "train-images-idx3-ubyte.gz": "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
    "train-labels-idx1-ubyte.gz": "25c81989df183df01b3e8a0aad5dffbe",
    "t10k-images-idx3-ubyte.gz": "bef4ecab320f06d8554ea6380940ec79",
    "t10k-labels-idx1-ubyte.gz": "bb300cfdad3c16e7a12a480ee83cd310",
}

#: MD5 of each file's *uncompressed* content (the same for every copy, however it was gzip-ed).
RAW_MD5 = {
    "train-images-idx3-ubyte.gz": "f4a8712d7a061bf5bd6d2ca38dc4d50a",
    "train-labels-idx1-ubyte.gz": "9018921c3c673c538a1fc5bad174d6f9",
    "t10k-images-idx3-ubyte.gz": "8181f5470baa50b63fa0f6fddb340f0a",
    "t10k-labels-idx1-ubyte.gz": "15d484375f8d13e6eb1aabb0c3f46965",
}

#: Where the authors publish the files.
BASE_URL = "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"

#: Where Debian's ``dataset-fashion-mnist`` package installs the files.
SYSTEM_DIR = "/usr/share/datasets/fashion-mnist"

#: Number of images in each split, and the image size.
SPLIT_SIZES = {"train": 60000, "test": 10000}
IMAGE_SHAPE = (28, 28)
NUM_CLASSES = 10

# The function that opens a URL; tests replace it so that they never touch the network.
_urlopen = urllib.request.urlopen
_TIMEOUT_S = 60
_CHUNK = 1 << 20


def cache_dir():
    """The download cache: ``$TINYCNN_DATA/fashion-mnist`` if set, else ``~/.tinycnn/datasets/fashion-mnist``."""
    root = os.environ.get("TINYCNN_DATA")
    if root:
        return os.path.join(root, "fashion-mnist")
    return os.path.join(os.path.expanduser("~"), ".tinycnn", "datasets", "fashion-mnist")


def search_dirs():
    """The folders :func:`load_data` tries when no ``path`` is given, in order (see the module docstring)."""
    dirs = []
    root = os.environ.get("TINYCNN_DATA")
    if root:
        dirs.append(os.path.join(root, "fashion-mnist"))
    dirs.append(os.path.join(os.path.expanduser("~"), ".tinycnn", "datasets", "fashion-mnist"))
    dirs.append(SYSTEM_DIR)
    return dirs


def _missing(folder):
    return [name for name in FILES.values() if not os.path.isfile(os.path.join(folder, name))]


def _download(name, folder):
    """Download one file into ``folder`` atomically, checking its MD5 against :data:`MD5`."""
    url = BASE_URL + name
    dest = os.path.join(folder, name)
    print(f"tinycnn: downloading {url} -> {dest}", file=sys.stderr)
    try:
        with _urlopen(url, timeout=_TIMEOUT_S) as response, atomic_open(dest, "wb") as f:
            digest = hashlib.md5(usedforsecurity=False)
            while True:
                chunk = response.read(_CHUNK)
                if not chunk:
                    break
                digest.update(chunk)
                f.write(chunk)
            if digest.hexdigest() != MD5[name]:  # raised inside atomic_open: nothing is kept
                raise DataFileError(
                    f"{url}: checksum mismatch: MD5 {digest.hexdigest()}, expected "
                    f"{MD5[name]}; the download is corrupted (nothing was saved). "
                    "Try again later."
                )
    except (urllib.error.URLError, OSError) as e:
        raise DataFileError(
            f"could not download {url} ({e}); nothing was saved. Check the network, or put "
            f"the four files ({', '.join(FILES.values())}) into {folder} by hand, or "
            "install Debian's dataset-fashion-mnist, or pass path="
        ) from e


def _check(x, y, split, folder):
    """Check that images ``x`` and labels ``y`` are one split of Fashion-MNIST."""
    n = SPLIT_SIZES[split]
    x_file = os.path.join(folder, FILES["x_" + split])
    y_file = os.path.join(folder, FILES["y_" + split])
    if x.dtype != np.uint8 or x.shape != (n,) + IMAGE_SHAPE:
        raise DataFileError(
            f"{x_file}: expected the {split} images, uint8 of shape {(n,) + IMAGE_SHAPE}, "
            f"got {x.dtype} of shape {x.shape}; is it the right file?"
        )
    if y.dtype != np.uint8 or y.shape != (n,):
        raise DataFileError(
            f"{y_file}: expected the {split} labels, uint8 of shape {(n,)}, got {y.dtype} "
            f"of shape {y.shape}; is it the right file?"
        )
    if y.max() >= NUM_CLASSES:
        raise DataFileError(
            f"{y_file}: label {int(y.max())} is out of range; Fashion-MNIST labels are 0..{NUM_CLASSES - 1}"
        )


def load_data(path=None):
    """Load Fashion-MNIST as ``keras.datasets.fashion_mnist.load_data()`` does.

    Parameters
    ----------
    path : str or os.PathLike, optional
        A folder holding the four files (:data:`FILES`). If given, only this folder is used. If not,
        the folders of :func:`search_dirs` are tried and the files downloaded as a last resort (see the
        module docstring).

    Returns
    -------
    (x_train, y_train), (x_test, y_test)
        ``x_train``: uint8, shape (60000, 28, 28), pixel values 0..255 (0 = background);
        ``y_train``: uint8, shape (60000,), class indices 0..9 (names in :data:`CLASS_NAMES`);
        ``x_test``: uint8, shape (10000, 28, 28); ``y_test``: uint8, shape (10000,).

    Raises
    ------
    DataFileError
        ``path`` lacks a file; a file is corrupted, truncated or not the file its name says; or the
        download failed (network error or checksum mismatch).
    """
    if path is not None:
        folder = os.fspath(path)
        missing = _missing(folder)
        if missing:
            raise DataFileError(
                f"{folder}: missing Fashion-MNIST file(s) {', '.join(missing)}; the folder "
                f"must hold all four: {', '.join(FILES.values())}"
            )
    else:
        folder = next((d for d in search_dirs() if not _missing(d)), None)
        if folder is None:
            folder = cache_dir()
            for name in _missing(folder):
                _download(name, folder)
    arrays = {role: read_idx(os.path.join(folder, name)) for role, name in FILES.items()}
    _check(arrays["x_train"], arrays["y_train"], "train", folder)
    _check(arrays["x_test"], arrays["y_test"], "test", folder)
    return (arrays["x_train"], arrays["y_train"]), (arrays["x_test"], arrays["y_test"])


def example_image(index=0):
    """Test image ``index`` scaled to [0, 1] (float64, ``(28, 28)``) and its class name, for the teaching
    examples.

    Only a local copy is used, never a download; without one, a drawn T-shirt stands in (class name
    ``"synthetic T-shirt"``), so the examples run anywhere.
    """
    if any(all(os.path.isfile(os.path.join(d, f)) for f in FILES.values()) for d in search_dirs()):
        _, (x_test, y_test) = load_data()
        return x_test[index].astype(np.float64) / 255.0, CLASS_NAMES[y_test[index]]
    print("Fashion-MNIST is not on this machine: using a synthetic image instead")
    image = np.zeros((28, 28))
    image[6:25, 9:19] = 0.8  # body
    image[6:12, 4:24] = 0.8  # sleeves
    image[6:9, 12:16] = 0.0  # neckline
    return image, "synthetic T-shirt"
