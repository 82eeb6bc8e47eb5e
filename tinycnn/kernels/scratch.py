"""Scratch memory of the Numba engine: one reusable flat array per thread and dtype, and the chunking that
keeps every temporary under a bound.

Not a kernel: :mod:`~tinycnn.kernels.numba_im2col` keeps its im2col matrix here, and
:mod:`~tinycnn.kernels.numba_direct` its zero-padded copy of a chunk of images. The reference
(:mod:`tinycnn.kernels.reference`) simply allocates; the engine bounds its temporaries instead:

* a batch is processed a chunk at a time, so that the chunk's temporary is at most the backend's
  ``scratch_bytes`` (:data:`tinycnn.kernels.backend.SCRATCH_LIMIT_BYTES`, 2 MiB): ``predict`` on 10,000
  images needs the same scratch memory as on 10; and the small chunk is also the fast choice, as it is
  gathered and multiplied while it is still in cache (figures in ``benchmarks/README.md``);
* the array is kept between calls (one per thread and dtype) and only grows, or shrinks when it exceeds
  both the request and the bound.

:func:`buffer_info` tells what the last convolution on this thread did (the tests use it).
"""

from __future__ import annotations

import threading
from typing import Any

import numpy as np
from numpy.typing import DTypeLike

from ..hints import Array
from .backend import current

__all__ = ["scratch", "line_chunks", "image_chunks", "buffer_info", "limit_bytes"]

_local = threading.local()


def limit_bytes() -> int:
    """The scratch bound of the backend in force (``Backend.scratch_bytes``)."""
    return current().scratch_bytes


def scratch(rows: int, width: int, dtype: DTypeLike) -> Array:
    """A ``(rows, width)`` view of this thread's reusable scratch array (contents undefined).

    The array grows to the largest chunk asked for and is replaced by a smaller one if it exceeds both the
    current request and the bound (after the bound was lowered, or a one-off huge row).
    """
    buffers = _local.__dict__.setdefault("buffers", {})
    size = rows * width
    flat = buffers.get(dtype)
    if flat is None or flat.size < size or flat.nbytes > max(flat.itemsize * size, limit_bytes()):
        buffers[dtype] = flat = np.empty(size, dtype=dtype)
    return flat[:size].reshape(rows, width)


def line_chunks(lines: int, line_elements: int, itemsize: int, kernel: str) -> list[tuple[int, int]]:
    """Split ``lines`` scratch-matrix lines into chunks whose matrix fits the bound (im2col route).

    A *line* is one output row ``(n, i)`` of the image: ``line_elements`` = (pixels in a row) x (matrix
    width). Returns the list of ``(t0, t1)`` ranges (at least one line per chunk) and records it for
    :func:`buffer_info`.
    """
    limit = limit_bytes()
    line_bytes = max(line_elements * itemsize, 1)
    step = int(max(1, min(lines, limit // line_bytes)))
    empty = lines == 0 or line_elements == 0  # an empty output (e.g. OW = 0): nothing to gather
    ranges = [] if empty else [(t0, min(t0 + step, lines)) for t0 in range(0, lines, step)]
    _local.last = {
        "kernel": kernel,
        "route": "im2col",
        "lines": lines,
        "chunk_lines": step,
        "chunks": len(ranges),
        "chunk_bytes": step * line_bytes,
        "limit_bytes": limit,
    }
    return ranges


def image_chunks(n: int, image_bytes: int, kernel: str) -> list[tuple[int, int]]:
    """Split ``n`` images into chunks whose padded copy fits the bound (at least one image; direct route).

    The direct route's only big temporary is a zero-padded copy of a chunk of images (about the size of the
    input, not ``KH*KW`` times it as an im2col matrix). Records the split for :func:`buffer_info`.
    """
    limit = limit_bytes()
    step = int(max(1, min(n, limit // max(image_bytes, 1))))
    ranges = [(n0, min(n0 + step, n)) for n0 in range(0, n, step)]
    _local.last = {
        "kernel": kernel,
        "route": "direct",
        "images": n,
        "chunk_images": step,
        "chunks": len(ranges),
        "chunk_bytes": step * image_bytes,
        "limit_bytes": limit,
    }
    return ranges


def buffer_info() -> dict[str, Any]:
    """What the last convolution call on this thread did with its scratch matrix, and the scratch sizes.

    Returns a dict: ``kernel`` (its name), ``route`` (``"direct"`` or ``"im2col"``), ``chunks``,
    ``chunk_bytes`` (size of one chunk's temporary), ``limit_bytes``, ``scratch_bytes`` (bytes held by this
    thread's reusable scratch arrays, by dtype name), and by route: ``images`` and ``chunk_images`` (direct:
    images padded, images per chunk) or ``lines`` and ``chunk_lines`` (im2col: image rows ``(n, i)``
    gathered, rows per chunk).
    """
    info = dict(getattr(_local, "last", {}))
    info["scratch_bytes"] = {np.dtype(d).name: a.nbytes for d, a in _local.__dict__.get("buffers", {}).items()}
    return info
