"""Convolutions, compiled: the forward pass and both gradients of ``reference.conv2d_*``, by two routes.

* :func:`conv2d_forward`         -- same math as ``reference.conv2d_forward``
* :func:`conv2d_backward_input`  -- same math as ``reference.conv2d_backward_input``
* :func:`conv2d_backward_kernel` -- same math as ``reference.conv2d_backward_kernel``

Same signatures, same return shapes and dtypes (float32 and float64). Read the reference first: the
equations are there, and ``reference.conv2d_forward_direct`` is the convolution as plain loops over output
pixels, taps and channels. This module only chooses *how* to run them.

**The direct route** (the default; :mod:`tinycnn.kernels.numba_direct`): each output is computed straight
from the zero-padded image by register tiles (:mod:`tinycnn.kernels.simd`), so no im2col matrix is written.
The stride-1 input gradient is the same kind of convolution, of ``dy`` with the flipped kernel (below), and
the kernel gradient tiles ``(a, b, c)`` rows x filters over the output pixels. The route applies where the
output channels of the convolution are a whole number of SIMD vectors (16 float32 or 8 float64 with
AVX-512: the course's 32 and 64), the backend's route is ``"direct"``, and, for the input gradient, the
stride is 1. Its only temporary is a zero-padded copy of a chunk of images (:mod:`tinycnn.kernels.scratch`).

**The im2col route** (elsewhere, or with ``use(route="im2col")``; :mod:`tinycnn.kernels.numba_im2col`):
the windows are gathered into rows and one matrix product per chunk does the arithmetic::

    forward          cols(x)  (rows_y, KH*KW*C) @ K  (KH*KW*C, F)  -> y
    backward kernel  cols(x).T                  @ dY (rows_y, F)   -> dK   (summed over chunks)
    backward input   cols(dy) (rows_x, KH*KW*F) @ Kt (KH*KW*F, C)  -> dx   (stride 1 and F <= C)
                     dY @ K.T, then col2im                         -> dx   (otherwise)

The products run on :func:`tinycnn.kernels.numba_dense.matmul` (tiles where the route is direct, NumPy's
``matmul`` on the im2col route).

**Input gradient without col2im.** With stride 1 the input gradient is itself a convolution: pixel
``(p, q)`` of the padded input was read by output ``(p - a*DH, q - b*DW)`` through tap ``(a, b)``, so::

    dx[n, p, q, c] = sum_{a, b, f} dy[n, p + pt - a*DH, q + pl - b*DW, f] * kernel[a, b, c, f]

(out-of-range ``dy`` counts as 0): a "full" convolution of ``dy`` with the flipped, transposed kernel. The
direct route runs it on the tiles; the im2col route gathers it (:func:`numba_im2col._dy2col`) and finishes
with one product shaped like the forward one, instead of col2im's scatter-add, whose parallel loop can only
split work by images. Measured, the gather and col2im are even when ``F <= C`` (the gather is used there)
and col2im wins when ``F > C`` (used there, and for strides > 1, where the gather would multiply the zeros
between strided outputs); the figures are in ``benchmarks/README.md``.
"""

from __future__ import annotations

import numba
import numpy as np

from ..hints import Array, Pads
from .numba_dense import matmul, tiles_apply
from .numba_direct import conv_tiles_kernel, kernel_grad_tiles_kernel, pad_kernel
from .numba_im2col import col2im_kernel, dy2col_kernel, im2col_kernel
from .scratch import image_chunks, line_chunks, scratch
from .simd import INIT_BIAS, INIT_ZERO, VECTOR_BYTES
from .threads import engine_call

__all__ = ["conv2d_forward", "conv2d_backward_input", "conv2d_backward_kernel"]


def _float_dtype(*arrays: Array) -> np.dtype:
    dtype = np.result_type(*arrays)
    return dtype if dtype.kind == "f" else np.dtype(np.float64)


def _direct_applies(dtype: np.dtype, channels_out: int) -> bool:
    """The direct route applies: tiles on, and the output channels a whole number of vectors."""
    return tiles_apply(dtype) and channels_out % (VECTOR_BYTES // dtype.itemsize) == 0


def _direct_conv(
    x: Array,
    kernel: Array,
    bias: Array | None,
    strides: tuple[int, int],
    dilation: tuple[int, int],
    pads_before: tuple[int, int],
    size: tuple[int, int],
    y: Array,
    kernel_name: str,
) -> Array:
    """``y = conv(pad(x), kernel) (+ bias)`` by ``numba_direct._conv_tiles``, a chunk of images at a time."""
    dtype = y.dtype
    init = INIT_ZERO if bias is None else INIT_BIAS
    bias = kernel.reshape(kernel.size) if bias is None else np.ascontiguousarray(bias, dtype=dtype)
    image_bytes = size[0] * size[1] * x.shape[3] * dtype.itemsize
    for n0, n1 in image_chunks(x.shape[0], image_bytes, kernel_name):
        xp = _padded(x, n0, n1, pads_before, size, dtype)
        conv_tiles_kernel(xp, kernel, bias, init, strides[0], strides[1], dilation[0], dilation[1], y[n0:n1])
    return y


def _padded(x: Array, n0: int, n1: int, pads_before: tuple[int, int], size: tuple[int, int], dtype: np.dtype) -> Array:
    """Images ``x[n0:n1]`` zero-padded to ``size = (Hp, Wp)``, ``pads_before = (top, left)``: a view of
    ``x`` when nothing needs padding, else this thread's scratch buffer filled by :func:`_pad`."""
    (pt, pl), (hp, wp) = pads_before, size
    if pt == 0 and pl == 0 and (hp, wp) == x.shape[1:3]:
        return x[n0:n1]
    xp = scratch((n1 - n0) * hp, wp * x.shape[3], dtype).reshape(n1 - n0, hp, wp, x.shape[3])
    pad_kernel(x, n0, pt, pl, xp)
    return xp


@engine_call
def conv2d_forward(
    x: Array, kernel: Array, bias: Array | None, strides: tuple[int, int], pads: Pads, dilation: tuple[int, int]
) -> Array:
    """Same math as ``reference.conv2d_forward``: direct tiles (``numba_direct._conv_tiles``) when ``F`` is a
    whole number of vectors, else ``y = im2col(x) @ kernel + bias``, chunk by chunk.

    Parameters
    ----------
    x : (N, H, W, C)
    kernel : (KH, KW, C, F)
    bias : (F,) or None
    strides, dilation : (int, int)
    pads : (top, bottom, left, right)

    Returns
    -------
    y : (N, OH, OW, F), dtype of ``x @ kernel``.
    """
    dtype = _float_dtype(x, kernel)
    x = np.ascontiguousarray(x, dtype=dtype)
    kernel = np.ascontiguousarray(kernel, dtype=dtype)
    kh, kw, c, f = kernel.shape
    n, h, w, _ = x.shape
    (sh, sw), (dh, dw) = strides, dilation
    pt, pb, pl, pr = pads
    oh = (h + pt + pb - (kh - 1) * dh - 1) // sh + 1
    ow = (w + pl + pr - (kw - 1) * dw - 1) // sw + 1
    y = np.empty((n, oh, ow, f), dtype=dtype)
    if _direct_applies(dtype, f):
        return _direct_conv(
            x, kernel, bias, (sh, sw), (dh, dw), (pt, pl), (h + pt + pb, w + pl + pr), y, "conv2d_forward"
        )
    k2d = kernel.reshape(kh * kw * c, f)
    y2d = y.reshape(n * oh * ow, f)
    width = kh * kw * c
    for t0, t1 in line_chunks(n * oh, ow * width, dtype.itemsize, "conv2d_forward"):
        cols = scratch((t1 - t0) * ow, width, dtype)
        im2col_kernel(x, t0, kh, kw, sh, sw, pt, pl, dh, dw, oh, ow, cols)
        y_part = y2d[t0 * ow : t1 * ow]
        matmul(cols, k2d, bias, out=y_part)
    return y


@engine_call
def conv2d_backward_kernel(
    dy: Array,
    x: Array,
    kernel_shape: tuple[int, int, int, int],
    strides: tuple[int, int],
    pads: Pads,
    dilation: tuple[int, int],
) -> Array:
    """Same math as ``reference.conv2d_backward_kernel``: direct tiles (``numba_direct._kernel_grad_tiles``) when
    ``F`` is a whole number of vectors, else ``dK = cols.T @ dY``, summed over chunks.

    Parameters
    ----------
    dy : (N, OH, OW, F)
    x : (N, H, W, C)
    kernel_shape : (KH, KW, C, F)

    Returns
    -------
    dkernel : (KH, KW, C, F)
    """
    dtype = _float_dtype(dy, x)
    x = np.ascontiguousarray(x, dtype=dtype)
    kh, kw, c, f = kernel_shape
    n, oh, ow, _ = dy.shape
    dy2d = np.ascontiguousarray(dy, dtype=dtype).reshape(n * oh * ow, f)
    (sh, sw), (dh, dw) = strides, dilation
    pt, pb, pl, pr = pads
    if _direct_applies(dtype, f):
        dy = np.ascontiguousarray(dy, dtype=dtype)
        hp, wp = x.shape[1] + pt + pb, x.shape[2] + pl + pr
        parts = np.zeros((numba.get_num_threads(), kh, kw, c, f), dtype=dtype)
        for n0, n1 in image_chunks(n, hp * wp * c * dtype.itemsize, "conv2d_backward_kernel"):
            xp = _padded(x, n0, n1, (pt, pl), (hp, wp), dtype)
            kernel_grad_tiles_kernel(xp, dy[n0:n1], sh, sw, dh, dw, parts)
        return parts.sum(axis=0)
    width = kh * kw * c
    dk = np.zeros((width, f), dtype=dtype)
    part = np.empty((width, f), dtype=dtype)
    for t0, t1 in line_chunks(n * oh, ow * width, dtype.itemsize, "conv2d_backward_kernel"):
        cols = scratch((t1 - t0) * ow, width, dtype)
        im2col_kernel(x, t0, kh, kw, sh, sw, pt, pl, dh, dw, oh, ow, cols)
        matmul(cols.T, dy2d[t0 * ow : t1 * ow], out=part)  # cols.T is read without a copy
        dk += part
    return dk.reshape(kernel_shape)


@engine_call
def conv2d_backward_input(
    dy: Array, kernel: Array, x_shape: tuple[int, ...], strides: tuple[int, int], pads: Pads, dilation: tuple[int, int]
) -> Array:
    """Same math as ``reference.conv2d_backward_input``.

    Stride 1 and ``C`` a whole number of vectors: the direct route, ``numba_direct._conv_tiles`` on ``dy`` padded by
    ``(KH - 1)*DH - pt`` rows on top (and so on) with the flipped, transposed kernel. Else, stride 1 and
    ``F <= C``: ``dx = cols(dy) @ Kt``, the "full" convolution of ``dy`` (see the module
    docstring). Otherwise the reference's route: ``dcols = dY @ K.T``, then col2im.

    The gather and col2im do the same multiply-adds; they differ in the matrix they write and read:
    ``(N*H*W, KH*KW*F)`` for the gather, ``(N*OH*OW, KH*KW*C)`` plus a read-modify-write of ``dx`` for
    col2im. For ``F <= C`` they measured even and the gather gets it, because its parallel loop runs over
    image rows, race-free, while col2im can only split a chunk by *images* (windows of one image overlap);
    for ``F > C`` col2im wins (figures: ``benchmarks/README.md``, "Input gradient: gather or col2im").

    Parameters
    ----------
    dy : (N, OH, OW, F)
    kernel : (KH, KW, C, F)
    x_shape : (N, H, W, C)

    Returns
    -------
    dx : (N, H, W, C), dtype of ``dy`` (as the reference, which accumulates into a ``dy``-typed array).
    """
    dtype = _float_dtype(dy)
    kh, kw, c, f = kernel.shape
    n, oh, ow, _ = dy.shape
    h, w = x_shape[1], x_shape[2]
    dy = np.ascontiguousarray(dy, dtype=dtype)
    kernel = np.ascontiguousarray(kernel, dtype=dtype)
    (sh, sw), (dh, dw) = strides, dilation
    pt, _, pl, _ = pads
    # Stride 1: dx is the forward convolution of dy, zero-padded by (KH-1)*DH - pt on top (and so on), with
    # the flipped, transposed kernel kt[a', b', f, c] = kernel[KH-1-a', KW-1-b', c, f] (module docstring).
    top, left = (kh - 1) * dh - pt, (kw - 1) * dw - pl
    size = (h + (kh - 1) * dh, w + (kw - 1) * dw)
    if (
        sh == 1
        and sw == 1
        and _direct_applies(dtype, c)
        and min(top, left) >= 0
        and size[0] - top - oh >= 0
        and size[1] - left - ow >= 0
    ):
        kt = np.ascontiguousarray(kernel[::-1, ::-1].transpose(0, 1, 3, 2))
        dx = np.empty((n, h, w, c), dtype=dtype)
        return _direct_conv(dy, kt, None, (1, 1), (dh, dw), (top, left), size, dx, "conv2d_backward_input")
    if sh == 1 and sw == 1 and f <= c:
        # Kt[(a, b', f), c] = kernel[a, KW - 1 - b', c, f]: the transposed taps, rows in the order of
        # _dy2col's columns (each kernel row reversed).
        kt = np.ascontiguousarray(kernel[:, ::-1].transpose(0, 1, 3, 2)).reshape(kh * kw * f, c)
        dx = np.empty((n, h, w, c), dtype=dtype)
        dx2d = dx.reshape(n * h * w, c)
        width = kh * kw * f
        for t0, t1 in line_chunks(n * h, w * width, dtype.itemsize, "conv2d_backward_input"):
            cols = scratch((t1 - t0) * w, width, dtype)
            dy2col_kernel(dy, t0, kh, kw, pt, pl, dh, dw, h, w, cols)
            matmul(cols, kt, out=dx2d[t0 * w : t1 * w])
        return dx
    k2d_t = np.ascontiguousarray(kernel.reshape(kh * kw * c, f).T)
    dy2d = dy.reshape(n * oh * ow, f)
    dx = np.zeros((n, h, w, c), dtype=dtype)
    width = kh * kw * c
    for t0, t1 in line_chunks(n * oh, ow * width, dtype.itemsize, "conv2d_backward_input"):
        dcols = scratch((t1 - t0) * ow, width, dtype)
        matmul(dy2d[t0 * ow : t1 * ow], k2d_t, out=dcols)
        col2im_kernel(dcols, t0, kh, kw, sh, sw, pt, pl, dh, dw, oh, ow, dx)
    return dx
