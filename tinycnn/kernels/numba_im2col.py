"""The im2col route's gathers: windows copied into the rows of a scratch matrix, and scattered back.

What it computes (the reference's ``im2col`` and col2im, compiled; ``reference.conv2d_forward`` and
``reference.conv2d_backward_input`` show them in NumPy):

* :func:`_im2col` -- ``cols[row (n, i, j), (a, b, c)] = xp[n, i*SH + a*DH, j*SW + b*DW, c]`` for a chunk of
  output rows, without making the padded ``xp`` (cells outside ``x`` are written as 0);
* :func:`_dy2col` -- the same gather of ``dy`` for the stride-1 input gradient, which is itself a
  convolution ("Input gradient without col2im" in :mod:`tinycnn.kernels.numba_conv`);
* :func:`_col2im` -- the transpose of :func:`_im2col`: every window's gradient added back into its pixels.

:mod:`tinycnn.kernels.numba_conv` multiplies these matrices (``cols @ kernel`` ...) chunk by chunk, in a
scratch array of bounded size (:mod:`tinycnn.kernels.scratch`).

**Copies as slices, whole kernel rows at a time.** Numba cannot prove that the two arrays of an element loop
``dst[k] = src[k]`` do not overlap, so it leaves the loop scalar; a slice assignment ``dst[a:b] = src`` (or a
ufunc with ``out=``) checks once and runs as a vector loop -- several times faster for 32 or 64 channels.
Below 8 numbers the slice machinery costs more than it saves and the element loop stays. Channels last
makes the ``KW`` taps of one kernel row (undilated) one contiguous block of ``KW*C`` numbers in the input
*and* in the im2col row, so im2col copies one block per kernel row instead of one per tap. (Figures:
``benchmarks/README.md``.)

Each kernel is a plain function ``_name`` compiled with ``njit`` next to it (minitorch style), so
``NUMBA_DISABLE_JIT=1`` runs the very same code as ordinary, debuggable Python.
"""

import numpy as np
from numba import njit, prange

__all__ = ["im2col_kernel", "dy2col_kernel", "col2im_kernel"]

#: Numbers from which a block is copied as one slice (see "Copies as slices" above).
_SLICE_COPY_MIN = 8


def _im2col(x, t0, kh, kw, sh, sw, pt, pl, dh, dw, oh, ow, cols):
    """Fill ``cols`` with the windows of output rows ``t0, t0 + 1, ...`` (a row ``t`` is ``(n, i) =
    divmod(t, OH)``; ``cols`` holds ``cols.shape[0] // OW`` of them).

    ``cols[(t - t0)*OW + j, (a*KW + b)*C + c] = xp[n, i*SH + a*DH, j*SW + b*DW, c]`` where ``xp`` is
    ``x`` padded with zeros: cells outside ``x`` are written as 0 (no padded copy of ``x`` is made).

    With ``DW == 1`` the ``KW`` taps of one kernel row read ``KW`` neighbouring pixels, which lie next to
    each other in memory (channels last): ``x[n, r, q:q + KW, :]`` is one block of ``KW*C`` numbers, and so
    is its destination. Such a row is copied as one block (see :func:`_copy_block`).
    """
    h, w, c = x.shape[1], x.shape[2], x.shape[3]
    xf = x.reshape(x.size)  # flat view: a block of pixels of one image row is a 1-D slice
    run = kw * c
    for u in prange(cols.shape[0] // ow):
        n, i = divmod(t0 + u, oh)
        for j in range(ow):
            row = u * ow + j
            q0 = j * sw - pl
            for a in range(kh):
                r = i * sh + a * dh - pt
                col = a * run
                if r < 0 or r >= h:  # a kernel row wholly in the top/bottom padding
                    _zero_block(cols, row, col, run)
                elif dw == 1 and q0 >= 0 and q0 + kw <= w:  # the common case: one block of KW*C
                    _copy_block(cols, row, col, xf, ((n * h + r) * w + q0) * c, run)
                else:  # the window crosses the left/right edge (or is dilated): tap by tap
                    for b in range(kw):
                        q = q0 + b * dw
                        if 0 <= q < w:
                            _copy_block(cols, row, col + b * c, xf, ((n * h + r) * w + q) * c, c)
                        else:
                            _zero_block(cols, row, col + b * c, c)


def _dy2col(dy, t0, kh, kw, pt, pl, dh, dw, h, w, cols):
    """Gather for the stride-1 input gradient ("full" convolution of ``dy``), input rows ``t0, ...``.

    A row ``t`` is ``(n, p) = divmod(t, H)``; with ``b' = KW - 1 - b`` (the taps of a kernel row in
    *reverse* order, so that they read ``dy`` left to right),
    ``cols[(t - t0)*W + q, (a*KW + b')*F + f] = dy[n, p + pt - a*DH, q + pl - b*DW, f]``
    (0 where that output position does not exist). With ``DW == 1`` a kernel row is then one block
    ``dy[n, i, j0:j0 + KW, :]`` (``j0 = q + pl - KW + 1``), copied at once as in :func:`_im2col`.
    """
    oh, ow, f = dy.shape[1], dy.shape[2], dy.shape[3]
    dyf = dy.reshape(dy.size)
    run = kw * f
    for u in prange(cols.shape[0] // w):
        n, p = divmod(t0 + u, h)
        for q in range(w):
            row = u * w + q
            j0 = q + pl - (kw - 1) * dw  # dy column read by the last tap (b = KW - 1, i.e. b' = 0)
            for a in range(kh):
                i = p + pt - a * dh
                col = a * run
                if i < 0 or i >= oh:
                    _zero_block(cols, row, col, run)
                elif dw == 1 and j0 >= 0 and j0 + kw <= ow:
                    _copy_block(cols, row, col, dyf, ((n * oh + i) * ow + j0) * f, run)
                else:
                    for bb in range(kw):  # bb = b' = KW - 1 - b
                        j = j0 + bb * dw
                        if 0 <= j < ow:
                            _copy_block(cols, row, col + bb * f, dyf, ((n * oh + i) * ow + j) * f, f)
                        else:
                            _zero_block(cols, row, col + bb * f, f)


def _copy_block(cols, row, col, src, start, length):
    """``cols[row, col:col + length] = src[start:start + length]``.

    A slice from ``_SLICE_COPY_MIN`` numbers on, an element loop below (see "Copies as slices" above).
    """
    if length >= _SLICE_COPY_MIN:
        cols[row, col : col + length] = src[start : start + length]
    else:
        for k in range(length):
            cols[row, col + k] = src[start + k]


def _zero_block(cols, row, col, length):
    """``cols[row, col:col + length] = 0`` (slice or element loop, as :func:`_copy_block`)."""
    if length >= _SLICE_COPY_MIN:
        cols[row, col : col + length] = 0
    else:
        for k in range(length):
            cols[row, col + k] = 0


def _col2im(dcols, t0, kh, kw, sh, sw, pt, pl, dh, dw, oh, ow, dx):
    """Scatter-add window gradients back to pixels: the transpose of :func:`_im2col` (same rows ``t``).

    ``dx[n, i*SH + a*DH - pt, j*SW + b*DW - pl, c] += dcols[(t - t0)*OW + j, (a*KW + b)*C + c]``,
    skipping padding cells. Windows of one image overlap, so the loop is parallel over *images* only
    (different images never share a pixel); ``dx`` is zero on the first call.
    """
    h, w, c = dx.shape[1], dx.shape[2], dx.shape[3]
    t1 = t0 + dcols.shape[0] // ow
    for n in prange(t0 // oh, (t1 - 1) // oh + 1):
        for t in range(max(t0, n * oh), min(t1, (n + 1) * oh)):
            i = t - n * oh
            for j in range(ow):
                row = (t - t0) * ow + j
                col = 0
                for a in range(kh):
                    r = i * sh + a * dh - pt
                    for b in range(kw):
                        q = j * sw + b * dw - pl
                        if 0 <= r < h and 0 <= q < w:
                            if c >= _SLICE_COPY_MIN:
                                np.add(dx[n, r, q], dcols[row, col : col + c], dx[n, r, q])
                            else:
                                for k in range(c):
                                    dx[n, r, q, k] += dcols[row, col + k]
                        col += c


# The two block helpers are compiled first and inlined into the kernels that call them.
_copy_block = njit(cache=True, inline="always")(_copy_block)
_zero_block = njit(cache=True, inline="always")(_zero_block)
# error_model="numpy": float division by zero gives inf/nan like NumPy instead of raising (and no checks).
_pjit = njit(cache=True, parallel=True, error_model="numpy")
im2col_kernel = _pjit(_im2col)
dy2col_kernel = _pjit(_dy2col)
col2im_kernel = _pjit(_col2im)
