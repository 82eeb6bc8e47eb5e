"""Tests of tinycnn.datasets: Auto MPG, the IDX reader/writer and the Fashion-MNIST loader.

No test touches the network or the real ``~/.tinycnn``: every Fashion-MNIST test runs with ``HOME``,
``TINYCNN_DATA`` and the system folder pointed into ``tmp_path``, and ``_urlopen`` replaced by a fake.
"""

import collections
import gzip
import hashlib
import importlib.util
import io
import os
import shutil
import struct
import tempfile
import urllib.error

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from tinycnn.datasets import auto_mpg, fashion_mnist
from tinycnn.datasets.idx import read_idx, write_idx
from tinycnn.errors import DataFileError, InvalidArgumentError

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
REAL_FASHION_DIR = fashion_mnist.SYSTEM_DIR  # captured before any test monkeypatches it


# ---------------------------------------------------------------------------------------------------
# Auto MPG
# ---------------------------------------------------------------------------------------------------


def test_auto_mpg_shape_dtype_and_first_row():
    data = auto_mpg.load_data()
    assert data.shape == (392, 8) and data.dtype == np.float64
    assert len(auto_mpg.COLUMNS) == 8 and auto_mpg.COLUMNS[0] == "mpg" and auto_mpg.COLUMNS[-1] == "origin"
    # UCI's first row: chevrolet chevelle malibu; last row: chevy s-10.
    np.testing.assert_array_equal(data[0], [18, 8, 307, 130, 3504, 12, 70, 1])
    np.testing.assert_array_equal(data[-1], [31, 4, 119, 82, 2720, 19.4, 82, 1])


def test_auto_mpg_matches_uci_summary():
    """Counts and sums of UCI's 392 complete rows (the same numbers as ISLP's ``Auto.csv``)."""
    data = auto_mpg.load_data()
    assert set(np.unique(data[:, 7])) == {1, 2, 3}
    assert collections.Counter(data[:, 7].astype(int).tolist()) == {1: 245, 2: 68, 3: 79}
    years = collections.Counter(data[:, 6].astype(int).tolist())
    assert years == {
        70: 29,
        71: 27,
        72: 28,
        73: 40,
        74: 26,
        75: 30,
        76: 34,
        77: 28,
        78: 36,
        79: 29,
        80: 27,
        81: 28,
        82: 30,
    }
    np.testing.assert_allclose(data.sum(axis=0), [9190.8, 2145, 76209.5, 40952, 1167213, 6092.2, 29784, 618])
    assert np.all(np.isfinite(data))


def test_auto_mpg_tsv_round_trips_through_loadtxt():
    path = auto_mpg.tsv_path()
    assert os.path.isfile(path) and os.path.basename(path) == "AutoMPG.tsv"
    with open(path, encoding="utf-8") as f:
        header = f.readline().rstrip("\n").split("\t")
    assert tuple(header) == auto_mpg.COLUMNS
    np.testing.assert_array_equal(np.loadtxt(path, skiprows=1), auto_mpg.load_data())
    np.testing.assert_array_equal(auto_mpg.load_data(path), auto_mpg.load_data())


def _load_script():
    spec = importlib.util.spec_from_file_location(
        "make_auto_mpg_tsv", os.path.join(REPO, "scripts", "make_auto_mpg_tsv.py")
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_derivation_script_reproduces_shipped_tsv(tmp_path):
    pytest.importorskip("vega_datasets", reason="the derivation script reads vega_datasets' cars.json")
    script = _load_script()
    out = script.main(tmp_path / "AutoMPG.tsv")
    with open(out, "rb") as f, open(auto_mpg.tsv_path(), "rb") as g:
        assert f.read() == g.read()


def test_derivation_script_refuses_unexpected_source(tmp_path):
    script = _load_script()
    with pytest.raises(ValueError, match="406"):
        script.make_tsv_text([])


@pytest.mark.parametrize(
    "body, line, what",
    [
        ("18\t8\t307\t130\t3504\t12\t70\n", 2, "7 values"),
        ("18\t8\t307\t130\t3504\t12\t70\t1\t5\n", 2, "9 values"),
        ("18\t8\t307\t130\t3504\t12\t70\t1\n15\t8\t350\t?\t3693\t11.5\t70\t1\n", 3, "horsepower is '?'"),
        ("18\t8\t307\t130\t3504\t12\t70\t1\n\n15\t8\t350\tnan\t3693\t11.5\t70\t1\n", 4, "not a finite"),
        ("inf\t8\t307\t130\t3504\t12\t70\t1\n", 2, "mpg is 'inf'"),
    ],
)
def test_auto_mpg_corrupted_tsv(tmp_path, body, line, what):
    path = tmp_path / "broken.tsv"
    path.write_text("\t".join(auto_mpg.COLUMNS) + "\n" + body, encoding="utf-8")
    with pytest.raises(DataFileError, match=f"broken.tsv, line {line}") as info:
        auto_mpg.load_data(path)
    assert what in str(info.value)


@pytest.mark.parametrize("content", [b"", b"mpg\tcylinders\n", b"\xff\xfe\x00garbage"])
def test_auto_mpg_empty_or_binary_file(tmp_path, content):
    path = tmp_path / "bad.tsv"
    path.write_bytes(content)
    with pytest.raises(DataFileError, match="bad.tsv"):
        auto_mpg.load_data(path)


def test_auto_mpg_missing_file(tmp_path):
    with pytest.raises(DataFileError, match="nope.tsv"):
        auto_mpg.load_data(tmp_path / "nope.tsv")


# ---------------------------------------------------------------------------------------------------
# IDX
# ---------------------------------------------------------------------------------------------------

IDX_DTYPES = [np.uint8, np.int8, np.int16, np.int32, np.float32, np.float64]


@settings(max_examples=60, deadline=None)
@given(data=st.data(), dtype=st.sampled_from(IDX_DTYPES), gz=st.booleans())
def test_idx_round_trip(data, dtype, gz):
    shape = data.draw(hnp.array_shapes(min_dims=1, max_dims=4, min_side=0, max_side=5))
    array = data.draw(hnp.arrays(dtype, shape))
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "a-idx.gz" if gz else "a-idx")
        write_idx(path, array)
        back = read_idx(path)
        with open(path, "rb") as f:
            from_fileobj = read_idx(io.BytesIO(f.read()))
    assert back.dtype == np.dtype(dtype) and back.shape == array.shape
    np.testing.assert_array_equal(back, array)  # NaNs compare equal here
    np.testing.assert_array_equal(from_fileobj, array)
    assert back.flags.writeable and back.dtype.isnative


def test_idx_header_layout(tmp_path):
    """The bytes are those of the MNIST format: 00 00 type ndim, big-endian dims, big-endian data."""
    write_idx(tmp_path / "x", np.array([[1, 2, 3], [4, 5, 6]], dtype=np.int16))
    raw = (tmp_path / "x").read_bytes()
    assert raw[:4] == b"\x00\x00\x0b\x02"
    assert struct.unpack(">II", raw[4:12]) == (2, 3)
    assert struct.unpack(">6h", raw[12:]) == (1, 2, 3, 4, 5, 6)
    write_idx(tmp_path / "x.gz", np.zeros(3, np.uint8))
    assert gzip.decompress((tmp_path / "x.gz").read_bytes()) == b"\x00\x00\x08\x01\x00\x00\x00\x03" + bytes(3)


@pytest.mark.parametrize(
    "array", [np.zeros(3, np.int64), np.zeros(3, bool), np.zeros(3, np.float16), np.array(5, np.uint8)]
)
def test_write_idx_refuses_what_idx_cannot_store(tmp_path, array):
    with pytest.raises(InvalidArgumentError):
        write_idx(tmp_path / "x", array)
    assert not os.listdir(tmp_path)


def _idx_bytes(array):
    buf = io.BytesIO()
    with tempfile.TemporaryDirectory() as folder:
        write_idx(os.path.join(folder, "t"), array)
        with open(os.path.join(folder, "t"), "rb") as f:
            buf.write(f.read())
    return buf.getvalue()


GOOD = _idx_bytes(np.arange(24, dtype=np.uint8).reshape(2, 3, 4))


@pytest.mark.parametrize(
    "content, message",
    [
        (GOOD[:-1], "truncated IDX file"),
        (GOOD[:14], "truncated IDX header"),
        (GOOD[:2], "fewer than the 4-byte magic"),
        (b"", "fewer than the 4-byte magic"),
        (GOOD + b"\x00", "trailing bytes"),
        (b"\x01" + GOOD[1:], "wrong magic number"),
        (b"PK\x03\x04" + GOOD[4:], "wrong magic number"),
        (GOOD[:2] + b"\x0a" + GOOD[3:], "unknown IDX type code 0x0A"),
        (GOOD[:3] + b"\x00" + GOOD[4:], "0 dimensions"),
        (b"\x00\x00\x08\x02\xff\xff\xff\xff\xff\xff\xff\xff" + bytes(10), "truncated IDX file"),  # 16 EB claimed
    ],
)
@pytest.mark.parametrize("gz", [False, True])
def test_idx_corrupt_content(tmp_path, content, message, gz):
    path = tmp_path / ("bad-idx3-ubyte.gz" if gz else "bad-idx3-ubyte")
    path.write_bytes(gzip.compress(content) if gz else content)
    with pytest.raises(DataFileError, match=message) as info:
        read_idx(path)
    assert str(path) in str(info.value)


def test_idx_corrupted_gzip_streams(tmp_path):
    packed = gzip.compress(GOOD)
    cases = {
        "cut.gz": packed[:-6],  # stream ends early
        "crc.gz": packed[:-8] + bytes([packed[-8] ^ 0xFF]) + packed[-7:],  # CRC-32 wrong
        "deflate.gz": packed[:12] + bytes([packed[12] ^ 0xFF]) + packed[13:],  # compressed data damaged
        "garbage-after.gz": packed + b"this is not gzip",
        "not-gzip.gz": GOOD,  # raw IDX but named .gz
        "header-only.gz": packed[:5],
    }
    for name, content in cases.items():
        path = tmp_path / name
        path.write_bytes(content)
        with pytest.raises(DataFileError) as info:
            read_idx(path)
        assert str(path) in str(info.value), name
    with pytest.raises(DataFileError, match="not gzip-compressed"):
        read_idx(tmp_path / "not-gzip.gz")


def test_idx_missing_file(tmp_path):
    with pytest.raises(DataFileError, match="absent-idx1-ubyte.gz"):
        read_idx(tmp_path / "absent-idx1-ubyte.gz")


# ---------------------------------------------------------------------------------------------------
# Fashion-MNIST: synthetic full-size files (all-zero images gzip to ~200 KB in a fraction of a second)
# ---------------------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def synthetic_images(tmp_path_factory):
    """Full-size valid image files, made once: {file name: bytes}."""
    folder = tmp_path_factory.mktemp("fashion-images")
    out = {}
    for split, n in fashion_mnist.SPLIT_SIZES.items():
        name = fashion_mnist.FILES["x_" + split]
        write_idx(folder / name, np.zeros((n, 28, 28), np.uint8), compresslevel=1)
        out[name] = (folder / name).read_bytes()
    return out


def _labels(n, marker):
    y = (np.arange(n) % 10).astype(np.uint8)
    y[0] = marker
    return y


@pytest.fixture
def make_fashion_dir(synthetic_images):
    """Write a valid synthetic Fashion-MNIST folder whose first training label is ``marker``."""

    def make(folder, marker, skip=()):
        os.makedirs(folder, exist_ok=True)
        for name, content in synthetic_images.items():
            if name not in skip:
                with open(os.path.join(folder, name), "wb") as f:
                    f.write(content)
        for split, n in fashion_mnist.SPLIT_SIZES.items():
            name = fashion_mnist.FILES["y_" + split]
            if name not in skip:
                write_idx(os.path.join(folder, name), _labels(n, marker))
        return folder

    return make


def _no_network(url, *args, **kwargs):
    raise AssertionError(f"a test tried to open {url}")


@pytest.fixture
def isolated(tmp_path, monkeypatch):
    """HOME, TINYCNN_DATA and the system folder all inside tmp_path; no network."""
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("USERPROFILE", str(home))
    monkeypatch.delenv("TINYCNN_DATA", raising=False)
    monkeypatch.setattr(fashion_mnist, "SYSTEM_DIR", str(tmp_path / "system"))
    monkeypatch.setattr(fashion_mnist, "_urlopen", _no_network)
    return {
        "home_cache": str(home / ".tinycnn" / "datasets" / "fashion-mnist"),
        "env_root": str(tmp_path / "env"),
        "system": str(tmp_path / "system"),
        "tmp": tmp_path,
    }


def _first_label(**kwargs):
    (x_train, y_train), (x_test, y_test) = fashion_mnist.load_data(**kwargs)
    assert x_train.shape == (60000, 28, 28) and x_test.shape == (10000, 28, 28)
    assert y_train.shape == (60000,) and y_test.shape == (10000,)
    assert x_train.dtype == y_train.dtype == x_test.dtype == y_test.dtype == np.uint8
    return int(y_train[0])


def test_fashion_search_order(isolated, make_fashion_dir, monkeypatch):
    explicit = make_fashion_dir(str(isolated["tmp"] / "explicit"), marker=1)
    make_fashion_dir(os.path.join(isolated["env_root"], "fashion-mnist"), marker=2)
    make_fashion_dir(isolated["home_cache"], marker=3)
    make_fashion_dir(isolated["system"], marker=4)
    monkeypatch.setenv("TINYCNN_DATA", isolated["env_root"])

    assert _first_label(path=explicit) == 1
    assert _first_label() == 2  # $TINYCNN_DATA/fashion-mnist
    monkeypatch.delenv("TINYCNN_DATA")
    assert _first_label() == 3  # ~/.tinycnn/datasets/fashion-mnist
    shutil.rmtree(isolated["home_cache"])
    assert _first_label() == 4  # /usr/share/datasets/fashion-mnist


def test_fashion_incomplete_folder_is_skipped(isolated, make_fashion_dir, monkeypatch):
    make_fashion_dir(os.path.join(isolated["env_root"], "fashion-mnist"), marker=2, skip=("t10k-labels-idx1-ubyte.gz",))
    make_fashion_dir(isolated["system"], marker=4)
    monkeypatch.setenv("TINYCNN_DATA", isolated["env_root"])
    assert fashion_mnist.search_dirs()[0] == os.path.join(isolated["env_root"], "fashion-mnist")
    assert _first_label() == 4


def test_fashion_explicit_path_does_not_fall_through(isolated, make_fashion_dir):
    make_fashion_dir(isolated["system"], marker=4)
    partial = make_fashion_dir(str(isolated["tmp"] / "partial"), marker=1, skip=("train-images-idx3-ubyte.gz",))
    with pytest.raises(DataFileError, match="train-images-idx3-ubyte.gz") as info:
        fashion_mnist.load_data(path=partial)
    assert partial in str(info.value)


# --- downloads (mocked) ----------------------------------------------------------------------------


class _FakeResponse:
    """Stands in for the object ``urllib.request.urlopen`` returns; ``fail_after`` bytes, then an error."""

    def __init__(self, content, fail_after=None, error=None):
        self._stream = io.BytesIO(content)
        self._fail_after, self._error, self._sent = fail_after, error, 0

    def read(self, n=-1):
        if self._fail_after is not None and self._sent >= self._fail_after:
            raise self._error
        chunk = self._stream.read(n if self._fail_after is None else min(n, self._fail_after - self._sent))
        self._sent += len(chunk)
        return chunk

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


@pytest.fixture
def served(isolated, make_fashion_dir, monkeypatch):
    """Synthetic files as a fake server would send them, with the MD5 table set to match them."""
    folder = make_fashion_dir(str(isolated["tmp"] / "server"), marker=7)
    content = {}
    for name in fashion_mnist.FILES.values():
        with open(os.path.join(folder, name), "rb") as f:
            content[name] = f.read()
    monkeypatch.setattr(fashion_mnist, "MD5", {n: hashlib.md5(c).hexdigest() for n, c in content.items()})
    return content


def _serve(content, requested, **failure):
    def urlopen(url, timeout=None):
        assert url.startswith(fashion_mnist.BASE_URL) and timeout
        name = url[len(fashion_mnist.BASE_URL) :]
        requested.append(name)
        return _FakeResponse(content[name], **failure.get(name, {}))

    return urlopen


def test_fashion_download_success(isolated, served, monkeypatch):
    requested = []
    monkeypatch.setattr(fashion_mnist, "_urlopen", _serve(served, requested))
    assert _first_label() == 7
    assert sorted(requested) == sorted(fashion_mnist.FILES.values())
    cache = isolated["home_cache"]
    assert sorted(os.listdir(cache)) == sorted(fashion_mnist.FILES.values())  # no temporary files left
    for name, content in served.items():
        with open(os.path.join(cache, name), "rb") as f:
            assert f.read() == content
    monkeypatch.setattr(fashion_mnist, "_urlopen", _no_network)  # second call: from the cache
    assert _first_label() == 7


def test_fashion_download_goes_to_tinycnn_data(isolated, served, monkeypatch):
    monkeypatch.setenv("TINYCNN_DATA", isolated["env_root"])
    monkeypatch.setattr(fashion_mnist, "_urlopen", _serve(served, []))
    assert fashion_mnist.cache_dir() == os.path.join(isolated["env_root"], "fashion-mnist")
    assert _first_label() == 7
    assert sorted(os.listdir(fashion_mnist.cache_dir())) == sorted(fashion_mnist.FILES.values())
    assert not os.path.exists(isolated["home_cache"])


def test_fashion_download_only_missing_files(isolated, served, monkeypatch):
    os.makedirs(isolated["home_cache"])
    for name in ("train-images-idx3-ubyte.gz", "t10k-images-idx3-ubyte.gz"):
        with open(os.path.join(isolated["home_cache"], name), "wb") as f:
            f.write(served[name])
    requested = []
    monkeypatch.setattr(fashion_mnist, "_urlopen", _serve(served, requested))
    assert _first_label() == 7
    assert sorted(requested) == ["t10k-labels-idx1-ubyte.gz", "train-labels-idx1-ubyte.gz"]


def _cache_files(isolated):
    cache = isolated["home_cache"]
    return sorted(os.listdir(cache)) if os.path.isdir(cache) else []


@pytest.mark.parametrize(
    "error", [ConnectionResetError("connection reset by peer"), urllib.error.URLError("timed out")]
)
def test_fashion_download_fails_midway(isolated, served, monkeypatch, error):
    bad = "train-images-idx3-ubyte.gz"
    failure = {bad: {"fail_after": 1000, "error": error}}
    monkeypatch.setattr(fashion_mnist, "_urlopen", _serve(served, [], **failure))
    with pytest.raises(DataFileError, match="could not download .*train-images-idx3-ubyte.gz"):
        fashion_mnist.load_data()
    assert bad not in _cache_files(isolated)
    assert not any(name.endswith(".tmp") for name in _cache_files(isolated))


def test_fashion_download_interrupted_leaves_nothing(isolated, served, monkeypatch):
    failure = {name: {"fail_after": 1000, "error": KeyboardInterrupt()} for name in served}
    monkeypatch.setattr(fashion_mnist, "_urlopen", _serve(served, [], **failure))
    with pytest.raises(KeyboardInterrupt):
        fashion_mnist.load_data()
    assert _cache_files(isolated) == []


def test_fashion_download_checksum_mismatch(isolated, served, monkeypatch):
    bad = "train-labels-idx1-ubyte.gz"
    monkeypatch.setitem(fashion_mnist.MD5, bad, "0" * 32)
    monkeypatch.setattr(fashion_mnist, "_urlopen", _serve(served, []))
    with pytest.raises(DataFileError, match="checksum mismatch") as info:
        fashion_mnist.load_data()
    assert bad in str(info.value)
    assert bad not in _cache_files(isolated)
    assert not any(name.endswith(".tmp") for name in _cache_files(isolated))


def test_fashion_download_connection_refused(isolated, monkeypatch):
    def refuse(url, timeout=None):
        raise urllib.error.URLError(ConnectionRefusedError(111, "Connection refused"))

    monkeypatch.setattr(fashion_mnist, "_urlopen", refuse)
    with pytest.raises(DataFileError, match="could not download") as info:
        fashion_mnist.load_data()
    assert isolated["home_cache"] in str(info.value)  # the message says where to put the files by hand
    assert _cache_files(isolated) == []


# --- files that are not what their names say -------------------------------------------------------


def _swap(folder, dest, src):
    shutil.copyfile(os.path.join(folder, src), os.path.join(folder, dest))


@pytest.mark.parametrize(
    "dest, src_or_array, message",
    [
        ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz", "expected the train images"),
        ("t10k-labels-idx1-ubyte.gz", "t10k-images-idx3-ubyte.gz", "expected the test labels"),
        ("train-images-idx3-ubyte.gz", "t10k-images-idx3-ubyte.gz", r"\(10000, 28, 28\)"),
        ("t10k-labels-idx1-ubyte.gz", "train-labels-idx1-ubyte.gz", r"shape \(60000,\)"),
        ("train-labels-idx1-ubyte.gz", np.full(60000, 10, np.uint8), "label 10 is out of range"),
        ("train-labels-idx1-ubyte.gz", np.zeros(60000, np.int32), "got int32"),
        ("t10k-images-idx3-ubyte.gz", np.zeros((10000, 28, 27), np.uint8), r"\(10000, 28, 27\)"),
    ],
)
def test_fashion_refuses_mislabeled_files(isolated, make_fashion_dir, dest, src_or_array, message):
    folder = make_fashion_dir(str(isolated["tmp"] / "data"), marker=0)
    if isinstance(src_or_array, str):
        _swap(folder, dest, src_or_array)
    else:
        write_idx(os.path.join(folder, dest), src_or_array)
    with pytest.raises(DataFileError, match=message) as info:
        fashion_mnist.load_data(path=folder)
    assert os.path.join(folder, dest) in str(info.value)


def test_fashion_refuses_corrupted_file(isolated, make_fashion_dir):
    folder = make_fashion_dir(str(isolated["tmp"] / "data"), marker=0)
    path = os.path.join(folder, "t10k-images-idx3-ubyte.gz")
    with open(path, "rb") as f:
        content = f.read()
    with open(path, "wb") as f:
        f.write(content[: len(content) // 2])
    with pytest.raises(DataFileError, match="corrupted gzip") as info:
        fashion_mnist.load_data(path=folder)
    assert path in str(info.value)


# --- the real files ---------------------------------------------------------------------------------


def test_fashion_class_names():
    assert fashion_mnist.CLASS_NAMES == (
        "T-shirt/top",
        "Trouser",
        "Pullover",
        "Dress",
        "Coat",
        "Sandal",
        "Shirt",
        "Sneaker",
        "Bag",
        "Ankle boot",
    )


@pytest.mark.skipif(
    not os.path.isdir(REAL_FASHION_DIR), reason=f"{REAL_FASHION_DIR} is absent: install Debian's dataset-fashion-mnist"
)
def test_fashion_real_files(isolated, monkeypatch):
    for name, md5 in fashion_mnist.RAW_MD5.items():  # Debian recompressed them; the content is original
        with gzip.open(os.path.join(REAL_FASHION_DIR, name), "rb") as f:
            assert hashlib.md5(f.read()).hexdigest() == md5, name
    monkeypatch.setattr(fashion_mnist, "SYSTEM_DIR", REAL_FASHION_DIR)  # found by the search, no download
    (x_train, y_train), (x_test, y_test) = fashion_mnist.load_data()
    assert x_train.shape == (60000, 28, 28) and x_test.shape == (10000, 28, 28)
    assert y_train.shape == (60000,) and y_test.shape == (10000,)
    assert x_train.dtype == y_train.dtype == x_test.dtype == y_test.dtype == np.uint8
    np.testing.assert_array_equal(np.bincount(y_train, minlength=10), [6000] * 10)
    np.testing.assert_array_equal(np.bincount(y_test, minlength=10), [1000] * 10)
    assert fashion_mnist.CLASS_NAMES[y_train[0]] == "Ankle boot"
    assert x_train.min() == 0 and x_train.max() == 255
