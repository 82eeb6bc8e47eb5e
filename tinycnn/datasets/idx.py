"""Read and write IDX files, the format of MNIST and Fashion-MNIST.

The IDX format (LeCun et al., *The MNIST database*, http://yann.lecun.com/exdb/mnist/) stores one
n-dimensional array with a tiny header, everything big-endian::

    offset  size         meaning
    0       2            0x00 0x00                    (magic, always zero)
    2       1            type code (table below)
    3       1            ndim, the number of dimensions
    4       4 * ndim     the dimensions, unsigned 32-bit big-endian integers, outermost first
    4+4*ndim prod(dims)*itemsize   the values, row-major (C order), big-endian

    type code   0x08     0x09    0x0B    0x0C    0x0D      0x0E
    dtype       uint8    int8    int16   int32   float32   float64

So ``train-images-idx3-ubyte`` starts ``00 00 08 03 | 00 00 EA 60 | 00 00 00 1C | 00 00 00 1C``:
unsigned bytes, 3 dimensions, shape ``(60000, 28, 28)``. The files are usually distributed
gzip-compressed (``.gz``); :func:`read_idx` recognises gzip by its own magic bytes ``1F 8B``.

Corrupted or truncated files are refused with :class:`~tinycnn.errors.DataFileError` naming the file:
the reader checks the magic number, the type code, that the header is complete, that the data has
exactly ``prod(dims) * itemsize`` bytes (no fewer: truncated; no more: trailing garbage), and that the
gzip stream is intact (its CRC-32 and length are checked when the end of the stream is reached).

>>> import os, tempfile
>>> import numpy as np
>>> path = os.path.join(tempfile.mkdtemp(), "demo-idx2-ubyte.gz")
>>> write_idx(path, np.arange(6, dtype=np.uint8).reshape(2, 3))
>>> read_idx(path)
array([[0, 1, 2],
       [3, 4, 5]], dtype=uint8)
"""

import gzip
import io
import os
import struct
import zlib

import numpy as np

from ..errors import DataFileError, InvalidArgumentError
from ..utils import atomic_open

__all__ = ["read_idx", "write_idx", "IDX_DTYPES"]

#: IDX type code -> NumPy dtype as stored in the file (big-endian).
IDX_DTYPES = {
    0x08: np.dtype("u1"),
    0x09: np.dtype("i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}

_CODE_OF = {dtype.newbyteorder("="): code for code, dtype in IDX_DTYPES.items()}
_GZIP_MAGIC = b"\x1f\x8b"
_CHUNK = 1 << 24  # read 16 MiB at a time, so a corrupted header claiming 100 GB fails cleanly


def _name_of(source):
    """A readable name for error messages: the path, or a file object's ``name``."""
    if isinstance(source, (str, bytes, os.PathLike)):
        return os.fsdecode(source)
    return str(getattr(source, "name", "<file object>"))


def _read_exactly(f, n):
    """Read up to ``n`` bytes, in chunks; fewer are returned only at the end of the stream."""
    buf = bytearray()
    while len(buf) < n:
        chunk = f.read(min(_CHUNK, n - len(buf)))
        if not chunk:
            break
        buf += chunk
    return buf


def _parse(f, name):
    """Parse one IDX stream from the binary file object ``f`` (already decompressed)."""
    header = _read_exactly(f, 4)
    if len(header) < 4:
        raise DataFileError(
            f"{name}: not an IDX file: it has only {len(header)} bytes, fewer than the 4-byte magic number"
        )
    zero, code, ndim = struct.unpack(">HBB", bytes(header))
    if zero != 0:
        raise DataFileError(
            f"{name}: not an IDX file: wrong magic number 0x{bytes(header).hex()} "
            "(an IDX file starts with two zero bytes, a type code and the number of "
            "dimensions)"
        )
    if code not in IDX_DTYPES:
        known = ", ".join(f"0x{c:02X}" for c in IDX_DTYPES)
        raise DataFileError(f"{name}: unknown IDX type code 0x{code:02X} (known codes: {known})")
    if ndim == 0:
        raise DataFileError(f"{name}: IDX header says the array has 0 dimensions")
    raw_dims = _read_exactly(f, 4 * ndim)
    if len(raw_dims) < 4 * ndim:
        raise DataFileError(
            f"{name}: truncated IDX header: {ndim} dimensions announced but only "
            f"{len(raw_dims)} of their {4 * ndim} bytes are present"
        )
    shape = struct.unpack(f">{ndim}I", bytes(raw_dims))
    dtype = IDX_DTYPES[code]
    nbytes = int(np.prod(shape, dtype=object)) * dtype.itemsize
    data = _read_exactly(f, nbytes)
    if len(data) < nbytes:
        raise DataFileError(
            f"{name}: truncated IDX file: the header announces shape {shape} of "
            f"{dtype.name} ({nbytes} bytes of data) but only {len(data)} bytes follow"
        )
    if f.read(1):
        raise DataFileError(
            f"{name}: trailing bytes after the IDX data: the header announces shape "
            f"{shape} of {dtype.name} ({nbytes} bytes) but the file is longer"
        )
    array = np.frombuffer(data, dtype=dtype).reshape(shape)  # writable: ``data`` is a bytearray
    if dtype.byteorder == ">":
        array = array.astype(dtype.newbyteorder("="))  # native byte order, as NumPy users expect
    return array


def read_idx(source):
    """Read one IDX file (raw or gzip-compressed) into a NumPy array.

    Parameters
    ----------
    source : str, os.PathLike or binary file object
        The file. Gzip compression is detected from the content (bytes ``1F 8B``); a file whose name
        ends in ``.gz`` must be gzip-compressed.

    Returns
    -------
    numpy.ndarray
        A writable array with the shape from the header and the dtype from the type code (uint8,
        int8, int16, int32, float32 or float64), in native byte order. For Fashion-MNIST:
        ``(60000, 28, 28)`` uint8 images or ``(60000,)`` uint8 labels.

    Raises
    ------
    DataFileError
        The file is missing or unreadable, is not gzip although named ``.gz``, has a corrupted or
        truncated gzip stream, a wrong magic number, an unknown type code, a truncated header or
        data, or bytes after the data. The message starts with the file name.
    """
    name = _name_of(source)
    opened = None
    try:
        if isinstance(source, (str, bytes, os.PathLike)):
            try:
                opened = f = open(source, "rb")
            except OSError as e:
                raise DataFileError(f"{name}: cannot open IDX file: {e.strerror or e}") from e
        else:
            f = source
        if hasattr(f, "peek"):
            start = f.peek(2)[:2]
        else:  # e.g. io.BytesIO: read it all (IDX files fit in memory anyway)
            data = f.read()
            f, start = io.BytesIO(data), data[:2]
        if start == _GZIP_MAGIC:
            try:
                with gzip.GzipFile(fileobj=f, mode="rb") as g:
                    return _parse(g, name)
            except (OSError, EOFError, zlib.error) as e:  # gzip.BadGzipFile is an OSError
                raise DataFileError(
                    f"{name}: corrupted gzip stream ({e}); delete the file and download it again"
                ) from e
        if name.endswith(".gz"):
            raise DataFileError(
                f"{name}: the name ends in .gz but the file is not gzip-compressed "
                f"(it starts with bytes {bytes(start).hex() or 'nothing'}, gzip "
                "starts with 1f8b)"
            )
        return _parse(f, name)
    finally:
        if opened is not None:
            opened.close()


def write_idx(path, array, compresslevel=6):
    """Write ``array`` as an IDX file, gzip-compressed when ``path`` ends in ``.gz``.

    The write is atomic (:func:`tinycnn.utils.atomic_open`): readers never see half a file. Gzip
    output is reproducible (the timestamp in the gzip header is set to 0).

    Parameters
    ----------
    path : str or os.PathLike
        Where to write.
    array : array_like
        At least one dimension, at most 255, each below 2**32; dtype uint8, int8, int16, int32,
        float32 or float64 (other dtypes are refused, not silently converted).
    compresslevel : int, default 6
        Gzip level, 0 (none) to 9 (smallest); ignored for a raw file.

    Raises
    ------
    InvalidArgumentError
        The dtype has no IDX type code, or the shape does not fit the header.
    """
    array = np.asarray(array)
    native = array.dtype.newbyteorder("=")
    if native not in _CODE_OF:
        raise InvalidArgumentError(
            f"IDX cannot store dtype {array.dtype}; use one of "
            + ", ".join(d.newbyteorder("=").name for d in IDX_DTYPES.values())
        )
    if not 1 <= array.ndim <= 255:
        raise InvalidArgumentError(f"IDX stores 1 to 255 dimensions, got an array of shape {array.shape}")
    if any(d >= 2**32 for d in array.shape):
        raise InvalidArgumentError(f"IDX dimensions must be below 2**32, got shape {array.shape}")
    code = _CODE_OF[native]
    header = struct.pack(f">HBB{array.ndim}I", 0, code, array.ndim, *array.shape)
    payload = np.ascontiguousarray(array, dtype=IDX_DTYPES[code]).tobytes()
    path = os.fspath(path)
    with atomic_open(path, "wb") as f:
        if os.fsdecode(path).endswith(".gz"):
            with gzip.GzipFile(filename="", fileobj=f, mode="wb", compresslevel=compresslevel, mtime=0) as g:
                g.write(header)
                g.write(payload)
        else:
            f.write(header)
            f.write(payload)
