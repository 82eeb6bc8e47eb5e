"""CIFAR-10: 60,000 colour 32x32 images in 10 classes, as ``keras.datasets.cifar10``.

Krizhevsky (2009), *Learning Multiple Layers of Features from Tiny Images*, tech. report, University of
Toronto (https://www.cs.toronto.edu/~kriz/cifar.html). 50,000 training images in five batches of 10,000 and
10,000 test images, 6,000 per class in all.

File formats
------------
The authors publish the same batches in two formats, and :func:`load_data` reads both, from the ``.tar.gz``
archive directly (nothing is extracted to disk) or from an already extracted folder:

* the **binary version** (``cifar-10-binary.tar.gz``, folder ``cifar-10-batches-bin``): files
  ``data_batch_1.bin`` ... ``data_batch_5.bin`` and ``test_batch.bin``, each 10,000 records of 3,073 bytes::

      <1 byte label 0..9><1024 bytes red><1024 bytes green><1024 bytes blue>

  each colour plane 32 rows of 32 pixels, row-major. This is what tinycnn downloads.
* the **python version** (``cifar-10-python.tar.gz``, folder ``cifar-10-batches-py``, what Keras downloads
  and caches): files ``data_batch_1`` ... ``test_batch``, each a pickled dict with ``b"data"`` (a
  (10000, 3072) uint8 array, the same plane order) and ``b"labels"`` (a list of ints). tinycnn never
  unpickles: these are decoded by :mod:`tinycnn.datasets.safe_pickle`, which builds only arrays and lists and
  refuses anything else.

Either way a record is reshaped to (3, 32, 32) and transposed to Keras's channels-last (32, 32, 3); labels
come back with shape (n, 1), as Keras returns them.

Where the files come from
-------------------------
Without ``path=``, the first of these that has the data is used:

1. ``$TINYCNN_DATA/cifar-10``, if the environment variable is set;
2. Keras's own cache (:func:`tinycnn.datasets.download.keras_dirs`, ``~/.keras/datasets``): the folders
   ``cifar-10-batches-py-target/cifar-10-batches-py`` (Keras 3), ``cifar-10-batches-py`` (Keras 2; also
   its nested form), or the downloaded archives ``cifar-10-batches-py-target_archive``,
   ``cifar-10-batches-py.tar.gz``;
3. ``~/.tinycnn/datasets/cifar-10``;
4. a download of :data:`URL` (the binary version) into tinycnn's cache, checked against :data:`MD5`, the
   checksum the authors publish. Offline, the error says which file to put where.

In a tinycnn folder (1, 3, or ``path=``) any of these is accepted: ``cifar-10-binary.tar.gz``,
``cifar-10-python.tar.gz``, a ``cifar-10-batches-bin`` or ``cifar-10-batches-py`` folder, or the batch
files themselves. Debian has no CIFAR package. Every batch is checked (record count, labels 0..9) and a
wrong file is refused with an error naming it.

>>> from tinycnn.datasets import cifar10
>>> cifar10.CLASS_NAMES[:3], cifar10.RECORD_BYTES
(('airplane', 'automobile', 'bird'), 3073)
"""

import os
import tarfile
import urllib.request

import numpy as np

from ..errors import DataFileError
from . import safe_pickle
from .download import download, keras_dirs, tinycnn_dir

__all__ = [
    "load_data",
    "CLASS_NAMES",
    "URL",
    "MD5",
    "ARCHIVE",
    "BIN_FILES",
    "PY_FILES",
    "search_dirs",
    "cache_dir",
    "read_binary_batch",
    "read_python_batch",
]

#: Label ``i`` means ``CLASS_NAMES[i]``.
CLASS_NAMES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")

#: The binary version, which tinycnn downloads, and its MD5 as published on the CIFAR page.
URL = "https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz"
ARCHIVE = "cifar-10-binary.tar.gz"
MD5 = "c32a1d4ab5d03f1284b67883e8d87530"

#: The python version (Keras's download) and its MD5 (CIFAR page) and SHA-256 (Keras's source).
PY_URL = "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"
PY_ARCHIVE = "cifar-10-python.tar.gz"
PY_MD5 = "c58f30108f718f92721af3b95e74349a"
PY_SHA256 = "6d958be074577803d12ecdefd02955f39262c83c16fe9348329d7fe0b5c001ce"

BIN_DIR = "cifar-10-batches-bin"
PY_DIR = "cifar-10-batches-py"
#: Batch files, training then test, in each format.
BIN_FILES = [f"data_batch_{i}.bin" for i in range(1, 6)] + ["test_batch.bin"]
PY_FILES = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]

BATCH_SIZE = 10000
IMAGE_SHAPE = (32, 32, 3)
RECORD_BYTES = 1 + 32 * 32 * 3
NUM_CLASSES = 10
_DIRNAME = "cifar-10"

# The function that opens a URL; tests replace it so that they never touch the network.
_urlopen = urllib.request.urlopen


def cache_dir():
    """tinycnn's download cache: ``$TINYCNN_DATA/cifar-10`` if set, else ``~/.tinycnn/datasets/cifar-10``."""
    return tinycnn_dir(_DIRNAME)


def search_dirs():
    """The folders :func:`load_data` tries when no ``path`` is given, in order (see the module docstring)."""
    dirs = []
    if os.environ.get("TINYCNN_DATA"):
        dirs.append(tinycnn_dir(_DIRNAME))
    for base in keras_dirs():
        dirs += [os.path.join(base, "cifar-10-batches-py-target"), base, os.path.join(base, PY_DIR)]
    dirs.append(os.path.join(os.path.expanduser("~"), ".tinycnn", "datasets", _DIRNAME))
    return dirs


# ----------------------------------------------------------------------------------------- one batch
def read_binary_batch(content, name):
    """Decode one binary-version batch.

    Parameters
    ----------
    content : bytes
        The file's bytes: ``n`` records of :data:`RECORD_BYTES`.
    name : str
        The file's name, for error messages.

    Returns
    -------
    x : uint8 array (n, 32, 32, 3)
    y : uint8 array (n,)
    """
    if len(content) == 0 or len(content) % RECORD_BYTES:
        raise DataFileError(
            f"{name}: {len(content)} bytes is not a whole number of CIFAR-10 records of "
            f"{RECORD_BYTES} bytes (1 label + 3072 pixels); is it the right file?"
        )
    records = np.frombuffer(content, dtype=np.uint8).reshape(-1, RECORD_BYTES)
    x = records[:, 1:].reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1).copy()
    return x, records[:, 0].copy()


def read_python_batch(content, name):
    """Decode one python-version batch (a pickle) with :func:`tinycnn.datasets.safe_pickle.loads`.

    Returns the same as :func:`read_binary_batch`.
    """
    d = safe_pickle.loads(content, name)
    if not isinstance(d, dict):
        raise DataFileError(f"{name}: not a CIFAR batch: the pickle holds a {type(d).__name__}, not a dict")
    d = {k.decode("utf-8") if isinstance(k, bytes) else k: v for k, v in d.items()}
    if "data" not in d or "labels" not in d:
        raise DataFileError(
            f"{name}: not a CIFAR-10 batch: it lacks 'data' or 'labels' (keys: "
            f"{', '.join(map(str, d)) or 'none'}); a CIFAR-100 file has 'fine_labels'"
        )
    data = d["data"]
    if not isinstance(data, np.ndarray) or data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3072:
        what = f"{data.dtype} of shape {data.shape}" if isinstance(data, np.ndarray) else type(data).__name__
        raise DataFileError(f"{name}: 'data' must be uint8 of shape (n, 3072), got {what}")
    labels = d["labels"]
    if not isinstance(labels, (list, np.ndarray)) or len(labels) != len(data):
        raise DataFileError(f"{name}: 'labels' must be a list of {len(data)} ints")
    labels = np.asarray(labels)
    if labels.dtype.kind not in "iu" or (labels.size and (labels.min() < 0 or labels.max() > 255)):
        raise DataFileError(f"{name}: 'labels' must hold small non-negative ints")
    x = data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1).copy()
    return x, labels.astype(np.uint8)


# ----------------------------------------------------------------------------------------- sources
class _Folder:
    """Batch files in a folder; ``kind`` is ``"bin"`` or ``"py"``."""

    def __init__(self, folder, kind):
        self.folder, self.kind, self.where = folder, kind, folder

    def batches(self):
        for name in BIN_FILES if self.kind == "bin" else PY_FILES:
            path = os.path.join(self.folder, name)
            try:
                with open(path, "rb") as f:
                    yield path, f.read()
            except OSError as e:
                raise DataFileError(f"{path}: cannot read CIFAR-10 batch: {e.strerror or e}") from e


class _Archive:
    """Batch files read straight out of a ``.tar.gz`` archive (the folder inside is found by its name)."""

    def __init__(self, path):
        self.path, self.where = path, path

    def batches(self):
        try:
            with tarfile.open(self.path, "r:*") as tar:
                names = {m.name: m for m in tar.getmembers()}
                for kind, folder, files in (("bin", BIN_DIR, BIN_FILES), ("py", PY_DIR, PY_FILES)):  # noqa: B007 (kind is read after the loop)
                    if f"{folder}/{files[0]}" in names:
                        break
                else:
                    raise DataFileError(
                        f"{self.path}: not a CIFAR-10 archive: it has neither "
                        f"{BIN_DIR}/{BIN_FILES[0]} nor {PY_DIR}/{PY_FILES[0]}"
                    )
                self.kind = kind
                for name in files:
                    member = names.get(f"{folder}/{name}")
                    where = f"{self.path}:{folder}/{name}"
                    if member is None or not member.isfile():
                        raise DataFileError(
                            f"{where}: missing from the archive (or not a regular file); the "
                            "archive is incomplete: delete it and download it again"
                        )
                    yield where, tar.extractfile(member).read()
        except (tarfile.TarError, EOFError, OSError) as e:
            raise DataFileError(f"{self.path}: corrupted archive ({e}); delete it and download it again") from e


def _source_in(folder):
    """A readable CIFAR-10 source in ``folder``, or None."""
    if not os.path.isdir(folder):
        return None
    for sub, kind, files in (
        ("", "bin", BIN_FILES),
        (BIN_DIR, "bin", BIN_FILES),
        ("", "py", PY_FILES),
        (PY_DIR, "py", PY_FILES),
    ):
        d = os.path.join(folder, sub)
        if all(os.path.isfile(os.path.join(d, f)) for f in files):
            return _Folder(d, kind)
    for name in (
        ARCHIVE,
        PY_ARCHIVE,
        "cifar-10-batches-py-target_archive",
        "cifar-10-batches-py.tar.gz",
        "cifar-10-batches-py_archive",
    ):
        if os.path.isfile(os.path.join(folder, name)):
            return _Archive(os.path.join(folder, name))
    return None


def _load(source):
    xs, ys = [], []
    for name, content in source.batches():
        kind = getattr(source, "kind", "bin")
        x, y = (read_binary_batch if kind == "bin" else read_python_batch)(content, name)
        if len(x) != BATCH_SIZE:
            raise DataFileError(f"{name}: {len(x)} images; a CIFAR-10 batch has {BATCH_SIZE}; is it the right file?")
        if y.max() >= NUM_CLASSES:
            raise DataFileError(
                f"{name}: label {int(y.max())} is out of range; CIFAR-10 labels are "
                f"0..{NUM_CLASSES - 1} (a CIFAR-100 file?)"
            )
        xs.append(x)
        ys.append(y)
    x_train, y_train = np.concatenate(xs[:5]), np.concatenate(ys[:5]).reshape(-1, 1)
    return (x_train, y_train), (xs[5], ys[5].reshape(-1, 1))


def load_data(path=None):
    """Load CIFAR-10 as ``keras.datasets.cifar10.load_data()`` does.

    Parameters
    ----------
    path : str or os.PathLike, optional
        A ``.tar.gz`` archive of either version, or a folder holding one, or the extracted batches (see the
        module docstring). If given, nothing else is tried. If not, the folders of :func:`search_dirs` are
        tried and :data:`URL` downloaded as a last resort.

    Returns
    -------
    (x_train, y_train), (x_test, y_test)
        ``x_train``: uint8, shape (50000, 32, 32, 3), RGB values 0..255 (channels last);
        ``y_train``: uint8, shape (50000, 1), class indices 0..9 (names in :data:`CLASS_NAMES`);
        ``x_test``: uint8, shape (10000, 32, 32, 3); ``y_test``: uint8, shape (10000, 1).

    Raises
    ------
    DataFileError
        ``path`` holds no CIFAR-10; a batch is truncated, corrupted, refused by the safe pickle reader or
        not a CIFAR-10 batch; or the download failed (the message then says which file to put where).
    """
    if path is not None:
        path = os.fspath(path)
        source = _Archive(path) if os.path.isfile(path) else _source_in(path)
        if source is None:
            raise DataFileError(
                f"{path}: no CIFAR-10 here: pass {ARCHIVE} or {PY_ARCHIVE}, or a folder holding "
                f"one of them, a {BIN_DIR} or {PY_DIR} folder, or the six batch files"
            )
        return _load(source)
    for folder in search_dirs():
        source = _source_in(folder)
        if source is not None:
            return _load(source)
    dest = os.path.join(cache_dir(), ARCHIVE)
    download(
        URL,
        dest,
        "md5",
        MD5,
        _urlopen,
        by_hand=f"put {ARCHIVE} (from {URL}) into {cache_dir()}, or Keras's {PY_ARCHIVE} (from {PY_URL}) "
        f"into {cache_dir()}, or pass path=",
    )
    return _load(_Archive(dest))
