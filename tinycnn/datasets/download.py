"""Where the image data sets are looked for, and how a missing file is downloaded and checked.

Shared by :mod:`tinycnn.datasets.mnist` and :mod:`tinycnn.datasets.cifar10` (Fashion-MNIST keeps its
own, older copy of the same logic).

* :func:`keras_dirs` -- the folders where Keras itself caches data sets: ``$KERAS_HOME/datasets`` (or
  ``~/.keras/datasets``), and ``/tmp/.keras/datasets``, where Keras falls back when the home folder is
  not writable. A machine that ran a Keras course script has the files there already.
* :func:`tinycnn_dir` -- tinycnn's own download cache: ``$TINYCNN_DATA/<name>`` if the environment variable
  is set, else ``~/.tinycnn/datasets/<name>``.
* :func:`download` -- fetch one URL into a file atomically (:func:`tinycnn.utils.atomic_open`) while
  hashing it; a checksum mismatch or an interrupted download leaves nothing behind.

No Debian package ships MNIST or CIFAR-10 (``apt-cache search mnist`` / ``cifar`` find only
``dataset-fashion-mnist``), so unlike Fashion-MNIST these loaders have no system folder.
"""

import hashlib
import os
import sys
import urllib.error

from ..errors import DataFileError
from ..utils import atomic_open

__all__ = ["keras_dirs", "tinycnn_dir", "download", "file_digest"]

_TIMEOUT_S = 60
_CHUNK = 1 << 20


def keras_dirs():
    """Keras's data set caches, in the order Keras itself uses them.

    >>> keras_dirs()[-1]
    '/tmp/.keras/datasets'
    """
    home = os.environ.get("KERAS_HOME") or os.path.join(os.path.expanduser("~"), ".keras")
    return [os.path.join(home, "datasets"), os.path.join("/tmp", ".keras", "datasets")]


def tinycnn_dir(name):
    """tinycnn's cache for data set ``name``: ``$TINYCNN_DATA/name`` if set, else ``~/.tinycnn/datasets/name``."""
    root = os.environ.get("TINYCNN_DATA")
    if root:
        return os.path.join(root, name)
    return os.path.join(os.path.expanduser("~"), ".tinycnn", "datasets", name)


def file_digest(path, algorithm):
    """Hex digest (``"md5"`` or ``"sha256"``) of a file, read in chunks."""
    digest = hashlib.new(algorithm, usedforsecurity=False)
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def download(url, dest, algorithm, expected, urlopen, by_hand):
    """Download ``url`` to ``dest`` atomically, checking its ``algorithm`` digest against ``expected``.

    Parameters
    ----------
    url, dest : str
        Source and destination file.
    algorithm : {"md5", "sha256"}
        The checksum the publisher gives.
    expected : str
        Its hex value.
    urlopen : callable
        ``urllib.request.urlopen`` (the loaders pass their module's ``_urlopen``, which tests replace).
    by_hand : str
        The end of the error message when the download fails: what to put where instead.

    Raises
    ------
    DataFileError
        Network error, or checksum mismatch; ``dest`` is then not created.
    """
    print(f"tinycnn: downloading {url} -> {dest}", file=sys.stderr)
    try:
        with urlopen(url, timeout=_TIMEOUT_S) as response, atomic_open(dest, "wb") as f:
            digest = hashlib.new(algorithm, usedforsecurity=False)
            while True:
                chunk = response.read(_CHUNK)
                if not chunk:
                    break
                digest.update(chunk)
                f.write(chunk)
            if digest.hexdigest() != expected:  # raised inside atomic_open: nothing is kept
                raise DataFileError(
                    f"{url}: checksum mismatch: {algorithm.upper()} {digest.hexdigest()}, "
                    f"expected {expected}; the download is corrupted (nothing was saved). "
                    "Try again later."
                )
    except (urllib.error.URLError, OSError) as e:
        raise DataFileError(
            f"could not download {url} ({e}); nothing was saved. Check the network, or " + by_hand
        ) from e
