"""The readable kernels: convolution and pooling in plain NumPy, written to be read in class.

Every kernel here has a twin with the same name and signature in the Numba engine (listed in
:mod:`tinycnn.kernels.numba_kernels`). Layers never import either: they call :mod:`tinycnn.kernels`, which
dispatches to the backend in force (:func:`tinycnn.kernels.use`, :func:`tinycnn.kernels.set_backend`, or
``TINYCNN_BACKEND`` read at import).

A convolution is read here in three steps of one idea: :func:`conv2d_forward` (im2col and one matrix
product), :func:`conv2d_forward_direct` (the same multiply-adds as plain loops over a tile of output pixels,
the kernel taps and the channels, read straight from the image), then the engine's SIMD tiles
(:mod:`tinycnn.kernels.simd`, whose NumPy twin ``simd.tile_numpy`` is the same loop nest once more), which
run those loops with the accumulators in registers.

Conventions (the same as Keras/TensorFlow, "channels last")
------------------------------------------------------------
* ``x``      input,  shape ``(N, H, W, C)``
* ``kernel`` weights, shape ``(KH, KW, C, F)``  (F = number of filters)
* ``bias``   shape ``(F,)`` or ``None``
* ``y``      output, shape ``(N, OH, OW, F)`` (convolution) or ``(N, OH, OW, C)`` (pooling)
* ``strides = (SH, SW)``, ``dilation = (DH, DW)``
* ``pads = (top, bottom, left, right)``: zero rows/columns added around the image before the kernel
  slides. :func:`conv_geometry` computes them from ``padding="valid" | "same"`` as TensorFlow does.

Convolution as deep-learning libraries compute it (Goodfellow et al., *Deep Learning*, ch. 9.1)
----------------------------------------------------------------------------------------------
The convolution of a signal ``x`` with a kernel ``w`` integrates their product after *flipping* and
*shifting* the kernel, ``s(t) = integral x(a) w(t - a) da``; on a grid the integral becomes a sum,
``s(t) = sum_a x(a) w(t - a)``, and in 2-D ``S(i, j) = sum_{m,n} I(m, n) K(i - m, j - n)``.
Neural-network libraries skip the flip and compute the *cross-correlation*; the kernel is learned, so the
flip does not matter::

    y[n, i, j, f] = bias[f] + sum_{a, b, c} xp[n, i*SH + a*DH, j*SW + b*DW, c] * kernel[a, b, c, f]

where ``xp`` is ``x`` with ``pads`` zeros around it.

**im2col.** Gather every window of ``xp`` into one row ("image to columns"): a matrix ``cols`` of shape
``(N*OH*OW, KH*KW*C)``. The sum above is then a single matrix product with the kernel flattened to
``(KH*KW*C, F)``::

    y = cols @ kernel.reshape(KH*KW*C, F) + bias

**Backward.** Write ``K = kernel.reshape(KH*KW*C, F)`` and ``dY = dy.reshape(N*OH*OW, F)``. Since
``Y = cols @ K``, the chain rule gives two more matrix products::

    dK    = cols.T @ dY                       (KH*KW*C, F)       -> kernel gradient
    dcols = dY @ K.T                          (N*OH*OW, KH*KW*C) -> gradient of every window
    dbias = dY.sum(axis=0)

and ``dx`` is ``dcols`` scattered back ("col2im"): every window adds its gradient into the pixels it
read. Pixels read by several windows (overlap) receive the *sum* of their gradients, which is exactly
what the chain rule asks for.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from ..hints import Array, Pads

__all__ = [
    "conv_geometry",
    "pad_nhwc",
    "im2col",
    "conv2d_forward",
    "conv2d_forward_direct",
    "conv2d_backward_input",
    "conv2d_backward_kernel",
    "pool2d_forward",
    "pool2d_backward",
    "dense_forward",
    "dense_backward_input",
    "dense_backward_kernel",
]

POOL_MODES = ("max", "avg", "l2")


def _out_and_pads(size, k, stride, dilation, padding):
    """One spatial axis of :func:`conv_geometry`: returns ``(out, pad_before, pad_after)``."""
    k_eff = (k - 1) * dilation + 1
    if padding == "valid":
        out = (size - k_eff) // stride + 1
        return out, 0, 0
    # TensorFlow "same": out = ceil(size / stride); the odd pixel of padding goes bottom/right.
    out = -(-size // stride)
    total = max((out - 1) * stride + k_eff - size, 0)
    return out, total // 2, total - total // 2


def conv_geometry(
    in_hw: Sequence[int], kernel_hw: Sequence[int], strides: Sequence[int], dilation: Sequence[int], padding: str
) -> tuple[tuple[int, int], Pads]:
    """Output size and padding of a 2-D sliding window, exactly as TensorFlow computes them.

    ``valid``: ``out = floor((in - k_eff) / stride) + 1`` with ``k_eff = (k - 1) * dilation + 1``.
    ``same``: ``out = ceil(in / stride)``; total padding ``max((out - 1) * stride + k_eff - in, 0)``,
    split with the extra pixel of an odd total at the bottom/right.

    Returns ``((OH, OW), (top, bottom, left, right))``.

    >>> conv_geometry((28, 28), (3, 3), (1, 1), (1, 1), "same")
    ((28, 28), (1, 1, 1, 1))
    >>> conv_geometry((5, 5), (2, 2), (2, 2), (1, 1), "same")   # odd total: extra pixel bottom/right
    ((3, 3), (0, 1, 0, 1))
    """
    oh, pt, pb = _out_and_pads(in_hw[0], kernel_hw[0], strides[0], dilation[0], padding)
    ow, pl, pr = _out_and_pads(in_hw[1], kernel_hw[1], strides[1], dilation[1], padding)
    return (oh, ow), (pt, pb, pl, pr)


def pad_nhwc(x: Array, pads: Pads, value: float = 0.0) -> Array:
    """Pad the two spatial axes of an NHWC array: ``pads = (top, bottom, left, right)``."""
    pt, pb, pl, pr = pads
    if not (pt or pb or pl or pr):
        return x
    return np.pad(x, ((0, 0), (pt, pb), (pl, pr), (0, 0)), constant_values=value)


def _windows(xp, kernel_hw, strides, dilation):
    """A *view* (no copy) of every window: shape ``(N, OH, OW, C, KH, KW)``."""
    kh, kw = kernel_hw
    keh, kew = (kh - 1) * dilation[0] + 1, (kw - 1) * dilation[1] + 1
    win = sliding_window_view(xp, (keh, kew), axis=(1, 2))
    return win[:, :: strides[0], :: strides[1], :, :: dilation[0], :: dilation[1]]


def im2col(
    x: Array, kernel_hw: tuple[int, int], strides: tuple[int, int], pads: Pads, dilation: tuple[int, int]
) -> Array:
    """Gather every receptive field into one row.

    Parameters
    ----------
    x : (N, H, W, C) array
    Returns
    -------
    cols : (N, OH, OW, KH*KW*C) array, row order ``(a, b, c)`` = the order of ``kernel.reshape(-1, F)``.
    """
    win = _windows(pad_nhwc(x, pads), kernel_hw, strides, dilation)  # (N, OH, OW, C, KH, KW)
    n, oh, ow, c, kh, kw = win.shape
    return win.transpose(0, 1, 2, 4, 5, 3).reshape(n, oh, ow, kh * kw * c)


def conv2d_forward(
    x: Array, kernel: Array, bias: Array | None, strides: tuple[int, int], pads: Pads, dilation: tuple[int, int]
) -> Array:
    """``y = im2col(x) @ kernel + bias``.

    Parameters
    ----------
    x : (N, H, W, C)
    kernel : (KH, KW, C, F)
    bias : (F,) or None
    strides, dilation : (int, int)
    pads : (top, bottom, left, right)

    Returns
    -------
    y : (N, OH, OW, F), same dtype as ``x``.

    >>> x = np.arange(25.0).reshape(1, 5, 5, 1)
    >>> left_difference = np.array([[-1.0, 1.0]]).reshape(1, 2, 1, 1)   # x[i, j] - x[i, j-1]
    >>> conv2d_forward(x, left_difference, None, (1, 1), (0, 0, 0, 0), (1, 1))[0, :, :, 0]
    array([[1., 1., 1., 1.],
           [1., 1., 1., 1.],
           [1., 1., 1., 1.],
           [1., 1., 1., 1.],
           [1., 1., 1., 1.]])
    """
    kh, kw, c, f = kernel.shape
    cols = im2col(x, (kh, kw), strides, pads, dilation)
    y = cols @ kernel.reshape(kh * kw * c, f)
    if bias is not None:
        y += bias
    return y


def conv2d_forward_direct(
    x: Array,
    kernel: Array,
    bias: Array | None,
    strides: tuple[int, int],
    pads: Pads,
    dilation: tuple[int, int],
    tile_rows: int = 14,
) -> Array:
    """The same convolution as :func:`conv2d_forward`, computed directly: plain loops, no im2col matrix.

    This is the algorithm the engine's SIMD tiles vectorise (:mod:`tinycnn.kernels.numba_direct`), written
    to be read: for every block ("tile") of ``tile_rows`` neighbouring output pixels of one output row, a
    block of accumulators ``acc`` (``tile_rows x F``) starts at the bias, and the loop over the kernel taps
    ``(a, b)`` and the input channels ``c`` adds, for each pixel ``p`` of the tile, one input number times
    one row of the kernel::

        acc[p, :] += xp[n, i*SH + a*DH, (j0 + p)*SW + b*DW, c] * kernel[a, b, c, :]

    Nothing is gathered: every number is read from the padded image where it lies. The engine does exactly
    this, with ``acc`` held in SIMD registers (one row of ``F`` filters is one or two vectors) and the
    ``(a, b, c)`` loop inside the compiled tile; im2col instead copies every window into a row first, so
    that one matrix product can do the same multiply-adds.

    Parameters
    ----------
    x, kernel, bias, strides, pads, dilation
        As :func:`conv2d_forward`.
    tile_rows : int
        Output pixels computed together (the engine's tiles hold 14 on AVX-512); any value gives the same
        result, it only changes the order of the loops.

    Returns
    -------
    y : (N, OH, OW, F), the dtype of ``x @ kernel``.

    >>> x = np.arange(25.0).reshape(1, 5, 5, 1)
    >>> left_difference = np.array([[-1.0, 1.0]]).reshape(1, 2, 1, 1)
    >>> conv2d_forward_direct(x, left_difference, None, (1, 1), (0, 0, 0, 0), (1, 1))[0, 0, :, 0]
    array([1., 1., 1., 1.])
    """
    kh, kw, c, f = kernel.shape
    sh, sw = strides
    dh, dw = dilation
    xp = pad_nhwc(x, pads)
    n, hp, wp, _ = xp.shape
    oh = (hp - (kh - 1) * dh - 1) // sh + 1
    ow = (wp - (kw - 1) * dw - 1) // sw + 1
    dtype = np.result_type(x, kernel)
    y = np.empty((n, oh, ow, f), dtype=dtype)
    for m in range(n):  # every image
        for i in range(oh):  # every output row
            for j0 in range(0, ow, tile_rows):  # every tile of output pixels j0 .. j0 + rows - 1
                rows = min(tile_rows, ow - j0)
                acc = np.zeros((rows, f), dtype=dtype)
                if bias is not None:
                    acc += bias
                for a in range(kh):  # every kernel tap (a, b) ...
                    for b in range(kw):
                        for ch in range(c):  # ... and input channel: one row of the kernel
                            k_row = kernel[a, b, ch, :]
                            for p in range(rows):  # times one input number per pixel of the tile
                                acc[p] += xp[m, i * sh + a * dh, (j0 + p) * sw + b * dw, ch] * k_row
                y[m, i, j0 : j0 + rows] = acc
    return y


def conv2d_backward_kernel(
    dy: Array,
    x: Array,
    kernel_shape: tuple[int, int, int, int],
    strides: tuple[int, int],
    pads: Pads,
    dilation: tuple[int, int],
) -> Array:
    """Kernel gradient ``dK = cols.T @ dY``.

    Parameters
    ----------
    dy : (N, OH, OW, F) upstream gradient
    x : (N, H, W, C) the forward input
    kernel_shape : (KH, KW, C, F)

    Returns
    -------
    dkernel : (KH, KW, C, F)
    """
    kh, kw, c, f = kernel_shape
    cols = im2col(x, (kh, kw), strides, pads, dilation).reshape(-1, kh * kw * c)
    return (cols.T @ dy.reshape(-1, f)).reshape(kernel_shape)


def conv2d_backward_input(
    dy: Array, kernel: Array, x_shape: tuple[int, ...], strides: tuple[int, int], pads: Pads, dilation: tuple[int, int]
) -> Array:
    """Input gradient: ``dcols = dY @ K.T``, then col2im.

    col2im, written as a loop over the ``KH*KW`` kernel taps: tap ``(a, b)`` read the pixels
    ``xp[:, a*DH + i*SH, b*DW + j*SW, :]`` for every output position ``(i, j)``, so that strided slice of
    ``dxp`` receives ``dcols[:, :, :, a, b, :]``. ``+=`` accumulates where windows overlap. The padding
    rows and columns are cut off at the end (their gradient goes nowhere).

    Parameters
    ----------
    dy : (N, OH, OW, F)
    kernel : (KH, KW, C, F)
    x_shape : (N, H, W, C)

    Returns
    -------
    dx : (N, H, W, C)
    """
    kh, kw, c, f = kernel.shape
    n, oh, ow, _ = dy.shape
    pt, pb, pl, pr = pads
    sh, sw = strides
    dh, dw = dilation
    dcols = (dy.reshape(-1, f) @ kernel.reshape(kh * kw * c, f).T).reshape(n, oh, ow, kh, kw, c)
    dxp = np.zeros((n, x_shape[1] + pt + pb, x_shape[2] + pl + pr, c), dtype=dy.dtype)
    for a in range(kh):
        for b in range(kw):
            r0, c0 = a * dh, b * dw
            dxp[:, r0 : r0 + sh * (oh - 1) + 1 : sh, c0 : c0 + sw * (ow - 1) + 1 : sw, :] += dcols[:, :, :, a, b, :]
    return dxp[:, pt : pt + x_shape[1], pl : pl + x_shape[2], :]


def _check_mode(mode):
    if mode not in POOL_MODES:
        raise ValueError(f"unknown pooling mode {mode!r}; expected one of {POOL_MODES}")


def _window_counts(x_shape, pool, strides, pads, dtype):
    """How many *real* (non-padding) cells each pooling window covers: shape ``(1, OH, OW, 1)``."""
    ones = pad_nhwc(np.ones((1, x_shape[1], x_shape[2], 1), dtype=dtype), pads)
    return _windows(ones, pool, strides, (1, 1)).sum(axis=(-2, -1))


def pool2d_forward(x: Array, mode: str, pool: tuple[int, int], strides: tuple[int, int], pads: Pads) -> Array:
    """Max, average or L2-norm pooling over ``pool = (PH, PW)`` windows.

    Output size (as :func:`conv_geometry` with kernel ``pool``): ``OH = floor((H - PH) / SH) + 1`` for
    "valid" padding, ``ceil(H / SH)`` for "same".

    ``max``:  ``y = max_{a,b} x[i*SH + a, j*SW + b]``  (padding cells are ``-inf``, so they never win)
    ``avg``:  ``y = sum_{a,b} x[...] / count``  where ``count`` counts only real cells (TensorFlow's "same")
    ``l2``:   ``y = sqrt(sum_{a,b} x[...]**2)``  (Goodfellow et al. 9.3; padding cells add 0)

    Parameters
    ----------
    x : (N, H, W, C)
    mode : "max" | "avg" | "l2"
    pool, strides : (int, int)
    pads : (top, bottom, left, right)

    Returns
    -------
    y : (N, OH, OW, C)
    """
    _check_mode(mode)
    fill = -np.inf if mode == "max" else 0.0
    win = _windows(pad_nhwc(x, pads, fill), pool, strides, (1, 1))  # (N, OH, OW, C, PH, PW)
    if mode == "max":
        return win.max(axis=(-2, -1))
    if mode == "avg":
        return (win.sum(axis=(-2, -1)) / _window_counts(x.shape, pool, strides, pads, x.dtype)).astype(x.dtype)
    return np.sqrt((win * win).sum(axis=(-2, -1)))


def pool2d_backward(
    dy: Array, x: Array, y: Array, mode: str, pool: tuple[int, int], strides: tuple[int, int], pads: Pads
) -> Array:
    """Gradient of :func:`pool2d_forward` with respect to ``x``.

    ``max``:  each window sends its whole ``dy`` to the cell that won. **Ties** go to the *first*
              maximum in row-major order inside the window (as ``np.argmax``, TensorFlow's CPU kernel and
              PyTorch do); the other tied cells get nothing.
    ``avg``:  each real cell of a window gets ``dy / count``.
    ``l2``:   ``dy * x / y`` (the derivative of ``sqrt(sum x^2)``), and 0 where ``y == 0``.

    Overlapping windows (stride < pool) are handled by accumulating each tap's contribution with ``+=``,
    so a cell that won (or belongs to) several windows receives the sum of their gradients.

    Parameters
    ----------
    dy, y : (N, OH, OW, C)
    x : (N, H, W, C)

    Returns
    -------
    dx : (N, H, W, C)
    """
    _check_mode(mode)
    ph, pw = pool
    sh, sw = strides
    pt, pb, pl, pr = pads
    n, oh, ow, c = dy.shape
    fill = -np.inf if mode == "max" else 0.0
    xp = pad_nhwc(x, pads, fill)
    if mode == "max":
        win = _windows(xp, pool, strides, (1, 1)).reshape(n, oh, ow, c, ph * pw)
        winner = win.argmax(axis=-1)  # first maximum in row-major order
    elif mode == "avg":
        share = dy / _window_counts(x.shape, pool, strides, pads, x.dtype)
    else:
        with np.errstate(divide="ignore", invalid="ignore"):
            share = np.where(y > 0, dy / y, 0.0).astype(dy.dtype)
    dxp = np.zeros(xp.shape, dtype=dy.dtype)
    for a in range(ph):
        for b in range(pw):
            rows = slice(a, a + sh * (oh - 1) + 1, sh)
            cols = slice(b, b + sw * (ow - 1) + 1, sw)
            if mode == "max":
                dxp[:, rows, cols, :] += np.where(winner == a * pw + b, dy, 0)
            elif mode == "avg":
                dxp[:, rows, cols, :] += share
            else:
                dxp[:, rows, cols, :] += share * xp[:, rows, cols, :]
    return dxp[:, pt : pt + x.shape[1], pl : pl + x.shape[2], :]


# --------------------------------------------------------------------------------------------------------------
# Dense (fully connected): three matrix products
# --------------------------------------------------------------------------------------------------------------
def dense_forward(x: Array, kernel: Array, bias: Array | None) -> Array:
    """``z = x @ kernel + bias`` (Goodfellow et al., *Deep Learning*, 6.1).

    Parameters
    ----------
    x : (N, D_in)
    kernel : (D_in, units)
    bias : (units,) or None

    Returns
    -------
    z : (N, units)
    """
    z = x @ kernel
    if bias is not None:
        z += bias
    return z


def dense_backward_input(dz: Array, kernel: Array) -> Array:
    """``dx = dz @ kernel.T``: input ``i`` fed every unit ``j`` through ``kernel[i, j]``.

    Parameters
    ----------
    dz : (N, units)
    kernel : (D_in, units)

    Returns
    -------
    dx : (N, D_in)
    """
    return dz @ kernel.T


def dense_backward_kernel(dz: Array, x: Array) -> Array:
    """``dkernel = x.T @ dz``: weight ``(i, j)`` collects ``x[n, i] * dz[n, j]`` over the batch.

    Parameters
    ----------
    dz : (N, units)
    x : (N, D_in)

    Returns
    -------
    dkernel : (D_in, units)
    """
    return x.T @ dz


# The element-wise kernels (BatchNorm, ReLU, the optimizers' updates) are in their own file.
from .reference_elementwise import *  # noqa: E402,F401,F403
from .reference_elementwise import __all__ as _elementwise_names  # noqa: E402

__all__ += _elementwise_names
