"""Tests of the MNIST and CIFAR-10 loaders and of the safe pickle reader.

The files are written here in the real formats -- Keras's ``mnist.npz``, LeCun's gzip-ed IDX files, the
CIFAR-10 binary tarball, the python-version batches as Python 2's cPickle and Python 3 write them -- at full
size (mostly zeros, so they compress to little), with a marker in the first training label so each test
can tell which copy was read. No test touches the network, the real ``~``, or the real Keras cache.
"""

import gzip
import hashlib
import io
import os
import pickle
import struct
import tarfile
import urllib.error

import numpy as np
import pytest

from tinycnn.datasets import cifar10, mnist, safe_pickle
from tinycnn.datasets.idx import write_idx
from tinycnn.errors import DataFileError


def _no_network(url, *args, **kwargs):
    raise AssertionError(f"a test tried to open {url}")


@pytest.fixture
def isolated(tmp_path, monkeypatch):
    """HOME, TINYCNN_DATA, KERAS_HOME and Keras's /tmp fallback all inside tmp_path; no network."""
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("USERPROFILE", str(home))
    monkeypatch.delenv("TINYCNN_DATA", raising=False)
    monkeypatch.delenv("KERAS_HOME", raising=False)
    import tinycnn.datasets.download as dl

    real = dl.keras_dirs
    tmp_keras = str(tmp_path / "tmp" / ".keras" / "datasets")

    def keras_dirs():
        return [real()[0], tmp_keras]

    for module in (mnist, cifar10):
        monkeypatch.setattr(module, "keras_dirs", keras_dirs)
        monkeypatch.setattr(module, "_urlopen", _no_network)
    return {
        "keras": str(home / ".keras" / "datasets"),
        "tmp_keras": tmp_keras,
        "mnist_cache": str(home / ".tinycnn" / "datasets" / "mnist"),
        "cifar_cache": str(home / ".tinycnn" / "datasets" / "cifar-10"),
        "env_root": str(tmp_path / "env"),
        "tmp": tmp_path,
    }


class _FakeResponse(io.BytesIO):
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def _serve(content, requested):
    def urlopen(url, timeout=None):
        requested.append(url)
        return _FakeResponse(content)

    return urlopen


def _refuse(url, timeout=None):
    raise urllib.error.URLError(OSError(101, "Network is unreachable"))


# ---------------------------------------------------------------------------------------------------
# MNIST
# ---------------------------------------------------------------------------------------------------


def _mnist_arrays(marker):
    arrays = {
        "x_train": np.zeros((60000, 28, 28), np.uint8),
        "y_train": (np.arange(60000) % 10).astype(np.uint8),
        "x_test": np.zeros((10000, 28, 28), np.uint8),
        "y_test": (np.arange(10000) % 10).astype(np.uint8),
    }
    arrays["y_train"][0] = marker
    arrays["x_train"][0, 3, 5] = 255
    arrays["x_test"][-1, 27, 0] = 17
    return arrays


@pytest.fixture(scope="session")
def npz_bytes():
    """Keras's mnist.npz layout, full size, per marker (made once)."""
    cache = {}

    def make(marker):
        if marker not in cache:
            buf = io.BytesIO()
            np.savez_compressed(buf, **_mnist_arrays(marker))
            cache[marker] = buf.getvalue()
        return cache[marker]

    return make


def _write_npz(folder, content, name="mnist.npz"):
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, name), "wb") as f:
        f.write(content)
    return os.path.join(folder, name)


def _write_mnist_idx(folder, marker):
    os.makedirs(folder, exist_ok=True)
    for key, array in _mnist_arrays(marker).items():
        write_idx(os.path.join(folder, mnist.FILES[key]), array, compresslevel=1)
    return folder


def _mnist_marker(**kwargs):
    (x_train, y_train), (x_test, y_test) = mnist.load_data(**kwargs)
    assert x_train.shape == (60000, 28, 28) and x_test.shape == (10000, 28, 28)
    assert y_train.shape == (60000,) and y_test.shape == (10000,)
    assert x_train.dtype == y_train.dtype == x_test.dtype == y_test.dtype == np.uint8
    assert x_train[0, 3, 5] == 255 and x_test[-1, 27, 0] == 17 and x_train.sum() == 255
    np.testing.assert_array_equal(y_test, np.arange(10000) % 10)
    return int(y_train[0])


def test_mnist_search_order(isolated, npz_bytes, monkeypatch):
    _write_npz(os.path.join(isolated["env_root"], "mnist"), npz_bytes(1))
    _write_npz(isolated["keras"], npz_bytes(2))
    _write_npz(isolated["tmp_keras"], npz_bytes(3))
    _write_mnist_idx(isolated["mnist_cache"], marker=4)
    monkeypatch.setenv("TINYCNN_DATA", isolated["env_root"])
    assert _mnist_marker() == 1  # $TINYCNN_DATA/mnist
    monkeypatch.delenv("TINYCNN_DATA")
    assert _mnist_marker() == 2  # ~/.keras/datasets/mnist.npz
    os.remove(os.path.join(isolated["keras"], "mnist.npz"))
    assert _mnist_marker() == 3  # /tmp/.keras/datasets/mnist.npz
    os.remove(os.path.join(isolated["tmp_keras"], "mnist.npz"))
    assert _mnist_marker() == 4  # ~/.tinycnn/datasets/mnist, IDX files


def test_mnist_keras_home(isolated, npz_bytes, monkeypatch):
    import tinycnn.datasets.download as dl

    monkeypatch.setattr(mnist, "keras_dirs", dl.keras_dirs)
    monkeypatch.setenv("KERAS_HOME", str(isolated["tmp"] / "kh"))
    _write_npz(str(isolated["tmp"] / "kh" / "datasets"), npz_bytes(5))
    assert _mnist_marker() == 5


def test_mnist_explicit_paths(isolated, npz_bytes):
    folder = _write_mnist_idx(str(isolated["tmp"] / "idx"), marker=6)
    assert _mnist_marker(path=folder) == 6
    npz = _write_npz(str(isolated["tmp"] / "npz"), npz_bytes(7), name="digits.npz")
    assert _mnist_marker(path=npz) == 7
    _write_npz(isolated["keras"], npz_bytes(8))
    assert _mnist_marker(path="mnist.npz") == 8  # Keras's meaning: a name in its cache
    with pytest.raises(DataFileError, match="no MNIST here") as info:
        mnist.load_data(path=str(isolated["tmp"]))  # a folder without the files: no fall-through
    assert "mnist.npz" in str(info.value) and "train-images-idx3-ubyte.gz" in str(info.value)


def test_mnist_offline_message(isolated, monkeypatch):
    monkeypatch.setattr(mnist, "_urlopen", _refuse)
    with pytest.raises(DataFileError, match="could not download") as info:
        mnist.load_data()
    message = str(info.value)
    assert mnist.NPZ_URL in message and "mnist.npz" in message
    assert isolated["keras"] in message and isolated["mnist_cache"] in message
    assert not os.path.exists(isolated["mnist_cache"]) or os.listdir(isolated["mnist_cache"]) == []


def test_mnist_download_checked(isolated, npz_bytes, monkeypatch):
    content = npz_bytes(9)
    requested = []
    monkeypatch.setattr(mnist, "_urlopen", _serve(content, requested))
    monkeypatch.setattr(mnist, "NPZ_SHA256", "0" * 64)
    with pytest.raises(DataFileError, match="checksum mismatch"):
        mnist.load_data()
    assert os.listdir(isolated["mnist_cache"]) == []  # nothing kept, not even a temporary file
    monkeypatch.setattr(mnist, "NPZ_SHA256", hashlib.sha256(content).hexdigest())
    assert _mnist_marker() == 9
    assert requested == [mnist.NPZ_URL] * 2
    assert os.listdir(isolated["mnist_cache"]) == ["mnist.npz"]
    assert _mnist_marker() == 9 and len(requested) == 2  # found in the cache: no second download


def test_mnist_npz_with_object_array_is_refused_not_unpickled(isolated, npz_bytes):
    arrays = _mnist_arrays(0)
    arrays["y_train"] = np.array([Exploding()] * 3, dtype=object)
    path = str(isolated["tmp"] / "evil.npz")
    np.savez(path, **arrays)
    with pytest.raises(DataFileError, match="refused") as info:
        mnist.load_data(path=path)
    assert "evil.npz" in str(info.value)
    assert not (isolated["tmp"] / "exploded").exists()


class Exploding:
    """An object whose unpickling would create a file: proof that nothing was unpickled."""

    def __reduce__(self):
        return (open, (os.path.join(os.environ["HOME"], "..", "exploded"), "w"))


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda a: a.pop("y_test"), "lacks the array"),
        (lambda a: a.update(x_train=a["x_train"][:100]), r"expected the train images.*\(100, 28, 28\)"),
        (lambda a: a.update(y_train=a["y_train"].astype(np.int64)), "got int64"),
        (lambda a: a.update(y_test=np.full(10000, 10, np.uint8)), "label 10 is out of range"),
        (lambda a: a.update(x_test=a["x_train"], x_train=a["x_test"]), "expected the train images"),
    ],
)
def test_mnist_refuses_wrong_npz(isolated, change, message):
    arrays = _mnist_arrays(0)
    change(arrays)
    path = str(isolated["tmp"] / "bad.npz")
    np.savez(path, **arrays)
    with pytest.raises(DataFileError, match=message) as info:
        mnist.load_data(path=path)
    assert "bad.npz" in str(info.value)


def test_mnist_refuses_corrupted_npz(isolated, npz_bytes):
    path = _write_npz(str(isolated["tmp"] / "cut"), npz_bytes(0)[: len(npz_bytes(0)) // 2])
    with pytest.raises(DataFileError, match="not a readable .npz") as info:
        mnist.load_data(path=path)
    assert path in str(info.value)


def test_mnist_idx_wrong_file(isolated):
    folder = _write_mnist_idx(str(isolated["tmp"] / "idx"), marker=0)
    os.replace(os.path.join(folder, "t10k-labels-idx1-ubyte.gz"), os.path.join(folder, "t10k-images-idx3-ubyte.gz"))
    write_idx(os.path.join(folder, "t10k-labels-idx1-ubyte.gz"), np.zeros(10000, np.uint8))
    with pytest.raises(DataFileError, match="expected the test images") as info:
        mnist.load_data(path=folder)
    assert os.path.join(folder, "t10k-images-idx3-ubyte.gz") in str(info.value)


# ---------------------------------------------------------------------------------------------------
# CIFAR-10
# ---------------------------------------------------------------------------------------------------


def _cifar_batches(marker):
    """Six batches as (data (10000, 3072) uint8, labels (10000,) uint8); the first record has a pattern."""
    out = []
    for i in range(6):
        data = np.zeros((10000, 3072), np.uint8)
        labels = ((np.arange(10000) + i) % 10).astype(np.uint8)
        out.append((data, labels))
    data, labels = out[0]
    data[0, :1024] = np.arange(1024) % 256  # red plane
    data[0, 1024:2048] = 7  # green
    data[0, 2048:] = 200  # blue
    labels[0] = marker
    out[5][0][-1, 3072 - 1] = 99  # test set: last pixel's blue value
    return out


def _bin_content(data, labels):
    return np.concatenate([labels[:, None], data], axis=1).tobytes()


def _add(tar, name, content):
    info = tarfile.TarInfo(name)
    info.size = len(content)
    tar.addfile(info, io.BytesIO(content))


def _tarball(members):
    buf = io.BytesIO()
    with gzip.GzipFile(fileobj=buf, mode="wb", compresslevel=1, mtime=0) as g:
        with tarfile.open(fileobj=g, mode="w") as tar:
            for name, content in members:
                _add(tar, name, content)
    return buf.getvalue()


def py2_pickle(data, labels, batch_label=b"training batch 1 of 5", filenames=None):
    """The opcodes Python 2's cPickle (protocol 2) writes for a CIFAR batch, as in the original files."""

    def string(b):
        return (b"U" + bytes([len(b)]) + b) if len(b) < 256 else (b"T" + struct.pack("<i", len(b)) + b)

    filenames = filenames if filenames is not None else [b"img_%d.png" % i for i in range(len(labels))]
    out = [
        b"\x80\x02}q\x01(",
        string(b"batch_label"),
        b"q\x02",
        string(batch_label),
        b"q\x03",
        string(b"labels"),
        b"q\x04]q\x05",
    ]
    for start in range(0, len(labels), 1000):  # cPickle appends in batches of 1000
        out.append(b"(")
        out += [b"K" + bytes([int(v)]) for v in labels[start : start + 1000]]
        out.append(b"e")
    out += [
        string(b"data"),
        b"q\x06cnumpy.core.multiarray\n_reconstruct\nq\x07cnumpy\nndarray\nq\x08K\x00\x85",
        string(b"b"),
        b"\x87Rq\t(K\x01",
        b"M" + struct.pack("<H", data.shape[0]),
        b"M" + struct.pack("<H", data.shape[1]),
        b"\x86cnumpy\ndtype\nq\n",
        string(b"u1"),
        b"K\x00K\x01\x87Rq\x0b(K\x03",
        string(b"|"),
        b"NNNJ\xff\xff\xff\xffJ\xff\xff\xff\xffK\x00tb\x89",
        string(data.tobytes()),
        b"tbU\tfilenamesq\x0c]q\r(",
    ]
    out += [string(f) for f in filenames]
    out.append(b"eu.")
    return b"".join(out)


@pytest.fixture(scope="session")
def cifar_files():
    """Full-size CIFAR-10 files in every format, made once: {format: bytes or {name: bytes}}."""
    batches = _cifar_batches(marker=3)
    binary = {name: _bin_content(*b) for name, b in zip(cifar10.BIN_FILES, batches)}
    py2 = {name: py2_pickle(*b) for name, b in zip(cifar10.PY_FILES, batches)}
    py3 = {
        name: pickle.dumps({b"data": d, b"labels": [int(v) for v in y]}, protocol=4)
        for name, (d, y) in zip(cifar10.PY_FILES, batches)
    }
    return {
        "bin": binary,
        "py2": py2,
        "py3": py3,
        "bin.tar.gz": _tarball(
            [("cifar-10-batches-bin/batches.meta.txt", b"airplane\n")]
            + [(f"cifar-10-batches-bin/{n}", c) for n, c in binary.items()]
        ),
        "py.tar.gz": _tarball([(f"cifar-10-batches-py/{n}", c) for n, c in py2.items()]),
    }


def _write_files(folder, files):
    os.makedirs(folder, exist_ok=True)
    for name, content in files.items():
        with open(os.path.join(folder, name), "wb") as f:
            f.write(content)
    return folder


def _cifar_check(**kwargs):
    (x_train, y_train), (x_test, y_test) = cifar10.load_data(**kwargs)
    assert x_train.shape == (50000, 32, 32, 3) and x_test.shape == (10000, 32, 32, 3)
    assert y_train.shape == (50000, 1) and y_test.shape == (10000, 1)
    assert x_train.dtype == y_train.dtype == x_test.dtype == y_test.dtype == np.uint8
    # Channels last: the red plane of record 0 is row-major over (row, column).
    np.testing.assert_array_equal(x_train[0, :, :, 0], (np.arange(1024) % 256).reshape(32, 32))
    assert np.all(x_train[0, :, :, 1] == 7) and np.all(x_train[0, :, :, 2] == 200)
    assert x_train[1:].sum() == 0 and x_test[-1, 31, 31, 2] == 99 and x_test.sum() == 99
    np.testing.assert_array_equal(y_train[1:10000, 0], np.arange(1, 10000) % 10)
    np.testing.assert_array_equal(y_train[10000:20000, 0], (np.arange(10000) + 1) % 10)
    np.testing.assert_array_equal(y_test[:, 0], (np.arange(10000) + 5) % 10)
    return int(y_train[0, 0])


@pytest.mark.parametrize("layout", ["bin.tar.gz", "py.tar.gz", "bin-dir", "py2-dir", "py3-dir", "bin-flat"])
def test_cifar_formats(isolated, cifar_files, layout):
    tmp = isolated["tmp"]
    if layout == "bin.tar.gz":
        path = _write_files(str(tmp / "a"), {cifar10.ARCHIVE: cifar_files["bin.tar.gz"]})
        assert _cifar_check(path=os.path.join(path, cifar10.ARCHIVE)) == 3  # the archive itself
    elif layout == "py.tar.gz":
        path = _write_files(str(tmp / "a"), {cifar10.PY_ARCHIVE: cifar_files["py.tar.gz"]})
    elif layout == "bin-dir":
        path = str(tmp / "a")
        _write_files(os.path.join(path, cifar10.BIN_DIR), cifar_files["bin"])
    elif layout == "bin-flat":
        path = _write_files(str(tmp / "a"), cifar_files["bin"])
    else:
        path = str(tmp / "a")
        _write_files(os.path.join(path, cifar10.PY_DIR), cifar_files[layout[:3]])
    assert _cifar_check(path=path) == 3


def test_cifar_search_order(isolated, cifar_files, monkeypatch):
    _write_files(os.path.join(isolated["env_root"], "cifar-10"), {cifar10.ARCHIVE: cifar_files["bin.tar.gz"]})
    keras3 = os.path.join(isolated["keras"], "cifar-10-batches-py-target", cifar10.PY_DIR)
    _write_files(keras3, cifar_files["py2"])
    _write_files(os.path.join(isolated["keras"], "cifar-10-batches-py"), {"data_batch_1": b"not complete"})
    _write_files(isolated["tmp_keras"], {"cifar-10-batches-py-target_archive": cifar_files["py.tar.gz"]})
    _write_files(os.path.join(isolated["cifar_cache"], cifar10.BIN_DIR), cifar_files["bin"])
    log = []
    real_load = cifar10._load
    monkeypatch.setattr(cifar10, "_load", lambda source: log.append(source.where) or real_load(source))

    monkeypatch.setenv("TINYCNN_DATA", isolated["env_root"])
    _cifar_check()
    monkeypatch.delenv("TINYCNN_DATA")
    _cifar_check()
    import shutil

    shutil.rmtree(os.path.join(isolated["keras"], "cifar-10-batches-py-target"))
    _cifar_check()
    os.remove(os.path.join(isolated["tmp_keras"], "cifar-10-batches-py-target_archive"))
    _cifar_check()
    assert log == [
        os.path.join(isolated["env_root"], "cifar-10", cifar10.ARCHIVE),
        keras3,
        os.path.join(isolated["tmp_keras"], "cifar-10-batches-py-target_archive"),
        os.path.join(isolated["cifar_cache"], cifar10.BIN_DIR),
    ]


def test_cifar_offline_message(isolated, monkeypatch):
    monkeypatch.setattr(cifar10, "_urlopen", _refuse)
    with pytest.raises(DataFileError, match="could not download") as info:
        cifar10.load_data()
    message = str(info.value)
    assert cifar10.URL in message and cifar10.ARCHIVE in message and isolated["cifar_cache"] in message
    assert cifar10.PY_ARCHIVE in message


def test_cifar_download_checked(isolated, cifar_files, monkeypatch):
    content = cifar_files["bin.tar.gz"]
    requested = []
    monkeypatch.setattr(cifar10, "_urlopen", _serve(content, requested))
    with pytest.raises(DataFileError, match="checksum mismatch"):  # the real MD5 does not match ours
        cifar10.load_data()
    assert os.listdir(isolated["cifar_cache"]) == []
    monkeypatch.setattr(cifar10, "MD5", hashlib.md5(content).hexdigest())
    assert _cifar_check() == 3
    assert requested == [cifar10.URL] * 2 and os.listdir(isolated["cifar_cache"]) == [cifar10.ARCHIVE]


def test_cifar_refuses_wrong_files(isolated, cifar_files):
    folder = _write_files(str(isolated["tmp"] / "a"), dict(cifar_files["bin"]))
    with open(os.path.join(folder, "data_batch_3.bin"), "wb") as f:
        f.write(cifar_files["bin"]["data_batch_3.bin"][:-1])
    with pytest.raises(DataFileError, match="not a whole number of CIFAR-10 records") as info:
        cifar10.load_data(path=folder)
    assert "data_batch_3.bin" in str(info.value)
    with open(os.path.join(folder, "data_batch_3.bin"), "wb") as f:
        f.write(cifar_files["bin"]["data_batch_3.bin"][: cifar10.RECORD_BYTES * 9999])
    with pytest.raises(DataFileError, match="9999 images"):
        cifar10.load_data(path=folder)
    bad = bytearray(cifar_files["bin"]["test_batch.bin"])
    bad[0] = 42
    _write_files(folder, {"data_batch_3.bin": cifar_files["bin"]["data_batch_3.bin"], "test_batch.bin": bytes(bad)})
    with pytest.raises(DataFileError, match="label 42 is out of range") as info:
        cifar10.load_data(path=folder)
    assert "test_batch.bin" in str(info.value)


def test_cifar_refuses_broken_archives(isolated, cifar_files):
    tmp = isolated["tmp"]
    cut = _write_files(str(tmp / "cut"), {"x.tar.gz": cifar_files["bin.tar.gz"][:50000]})
    with pytest.raises(DataFileError, match="corrupted archive"):
        cifar10.load_data(path=os.path.join(cut, "x.tar.gz"))
    partial = _tarball([(f"cifar-10-batches-bin/{n}", c) for n, c in list(cifar_files["bin"].items())[:4]])
    path = _write_files(str(tmp / "partial"), {"p.tar.gz": partial})
    with pytest.raises(DataFileError, match="data_batch_5.bin: missing from the archive"):
        cifar10.load_data(path=os.path.join(path, "p.tar.gz"))
    other = _tarball([("something/else", b"x")])
    path = _write_files(str(tmp / "other"), {"o.tar.gz": other})
    with pytest.raises(DataFileError, match="not a CIFAR-10 archive"):
        cifar10.load_data(path=os.path.join(path, "o.tar.gz"))
    with pytest.raises(DataFileError, match="no CIFAR-10 here"):
        cifar10.load_data(path=str(tmp / "cut"))


def test_cifar_python_batch_matches_keras(cifar_files, tmp_path):
    """Our safe reader and Keras's own loader (its RestrictedUnpickler) read the same arrays."""
    cifar = pytest.importorskip("keras.src.datasets.cifar")
    for flavour in ("py2", "py3"):
        path = tmp_path / f"{flavour}_batch"
        path.write_bytes(cifar_files[flavour]["data_batch_1"])
        data, labels = cifar.load_batch(str(path))  # Keras: (n, 3, 32, 32), list of labels
        x, y = cifar10.read_python_batch(cifar_files[flavour]["data_batch_1"], str(path))
        np.testing.assert_array_equal(x, data.transpose(0, 2, 3, 1))
        np.testing.assert_array_equal(y, labels)


# ---------------------------------------------------------------------------------------------------
# The safe pickle reader
# ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("protocol", [2, 3, 4, 5])
def test_safe_pickle_reads_what_python_writes(protocol):
    value = {
        b"data": np.arange(24, dtype=np.uint8).reshape(4, 6),
        "f": np.linspace(0, 1, 5).astype(">f4"),
        "fortran": np.asfortranarray(np.arange(6, dtype=np.int16).reshape(2, 3)),
        b"labels": list(range(300)),
        "t": (1, -2, 2**40, None, True, False),
        "s": "é",
        "b": b"x" * 300,
    }
    back = safe_pickle.loads(pickle.dumps(value, protocol=protocol))
    assert back.keys() == value.keys()
    for key, v in value.items():
        if isinstance(v, np.ndarray):
            assert back[key].dtype == v.dtype and back[key].flags.writeable
            np.testing.assert_array_equal(back[key], v)
        else:
            assert back[key] == v


def test_safe_pickle_reads_python2_cifar_batch():
    data = np.arange(2 * 3072, dtype=np.int64).reshape(2, 3072).astype(np.uint8)
    d = safe_pickle.loads(py2_pickle(data, [4, 9], filenames=[b"a.png", b"b.png"]))
    assert d[b"labels"] == [4, 9] and d[b"filenames"] == [b"a.png", b"b.png"]
    assert d[b"batch_label"] == b"training batch 1 of 5"
    np.testing.assert_array_equal(d[b"data"], data)


class _Touch:
    def __init__(self, path):
        self.path = path

    def __reduce__(self):
        return (open, (self.path, "w"))


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda p: pickle.dumps(_Touch(p), protocol=2), r"names (io|builtins)\.open"),
        (lambda p: pickle.dumps({b"data": _Touch(p)}, protocol=4), r"names (io|builtins)\.open"),
        (lambda p: pickle.dumps(np.array(["a"], dtype=object), protocol=2), "dtype 'O8'"),
        (
            lambda p: b"\x80\x02cnumpy\ndtype\nq\x00X\x02\x00\x00\x00u1K\x00K\x01\x87R(K\x03X\x01\x00\x00\x00|tb)R.",
            "REDUCE on something other than a recognised global",
        ),
        (lambda p: b"\x80\x02}(K\x01c__builtin__\neval\nu.", "names __builtin__.eval"),
        (lambda p: b"\x80\x02S'hello'\n.", "unknown pickle opcode b'S'"),
        (lambda p: b"\x80\x02]q\x00(K\x01K\x02", "truncated pickle"),
        (lambda p: b"\x80\x02h\x05.", "GET of memo 5"),
        (lambda p: pickle.dumps({1: 2}, protocol=2)[:-1] + b"K\x01.", "STOP with a malformed stack"),
    ],
)
def test_safe_pickle_refuses(tmp_path, make, message):
    target = tmp_path / "created"
    with pytest.raises(DataFileError, match=message):
        safe_pickle.loads(make(str(target)), "evil")
    assert not target.exists()


def test_cifar_refuses_malicious_python_batch(isolated, cifar_files, tmp_path):
    folder = _write_files(str(tmp_path / "py"), dict(cifar_files["py3"]))
    _write_files(folder, {"data_batch_2": pickle.dumps(_Touch(str(tmp_path / "created")), protocol=2)})
    with pytest.raises(DataFileError, match="data_batch_2: refused") as info:
        cifar10.load_data(path=tmp_path / "py")
    assert "open" in str(info.value)
    assert not (tmp_path / "created").exists()
