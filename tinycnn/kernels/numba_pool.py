"""Pooling, compiled: max, average and L2-norm pooling forward and backward.

* :func:`pool2d_forward`  -- same math as ``reference.pool2d_forward``
* :func:`pool2d_backward` -- same math as ``reference.pool2d_backward`` (max: the first maximum of a window
  in row-major order takes the whole gradient, as ``np.argmax`` and TensorFlow). When the windows tile the
  image (the usual ``MaxPooling2D((2, 2))``), :func:`_max_pool_backward_tiled` writes each cell once instead of
  searching and scattering.

Read the reference first: it builds every window as a view and reduces it. Here a pooling layer is a
direct loop (there is no matrix product to win): one pass over the windows, parallel over output rows
``(n, i)`` in the forward pass and over images in the backward pass (overlapping windows of one image add
into the same cells, so one image belongs to one thread). The per-channel work is a ufunc with ``out=``
on a ``(C,)`` row, which Numba runs as a vector loop.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from ..hints import Array, Pads
from .reference import POOL_MODES
from .threads import engine_call

__all__ = ["pool2d_forward", "pool2d_backward"]


def _pool_forward(x, mode, ph, pw, sh, sw, pt, pl, y):
    """``y[n, i, j, c]`` = max / mean / L2 norm of the real cells of window ``(i, j)``; ``mode`` 0/1/2.

    Padding cells are simply skipped: for max they are ``-inf`` in the reference (never win), for the sum
    and the L2 norm they add 0, and the mean divides by the number of real cells.
    """
    n_img, h, w, c = x.shape
    oh, ow = y.shape[1], y.shape[2]
    for t in prange(n_img * oh):
        n = t // oh
        i = t % oh
        for j in range(ow):
            acc = y[n, i, j]  # (C,) view: accumulate in place. The ufuncs with out= run as vector loops.
            acc[:] = -np.inf if mode == 0 else 0.0
            count = 0
            for a in range(ph):
                r = i * sh + a - pt
                if r < 0 or r >= h:
                    continue
                for b in range(pw):
                    q = j * sw + b - pl
                    if q < 0 or q >= w:
                        continue
                    count += 1
                    if mode == 0:
                        np.maximum(acc, x[n, r, q], acc)
                    elif mode == 1:
                        np.add(acc, x[n, r, q], acc)
                    else:
                        for k in range(c):
                            v = x[n, r, q, k]
                            acc[k] += v * v
            if mode == 1:
                acc /= count
            elif mode == 2:
                np.sqrt(acc, acc)


def _pool_backward(dy, x, y, mode, ph, pw, sh, sw, pt, pl, dx):
    """Route ``dy`` back through the windows (``dx`` zero on entry); ``mode`` 0/1/2 = max/avg/l2.

    max: the whole ``dy`` goes to the first strict maximum in row-major window order (ties: first wins).
    avg: every real cell gets ``dy / count``.  l2: every cell gets ``dy * x / y`` (nothing where ``y == 0``).
    Parallel over images: overlapping windows of one image add into the same cells, so one thread per image.
    """
    n_img, h, w, c = x.shape
    oh, ow = dy.shape[1], dy.shape[2]
    for n in prange(n_img):
        best = np.empty(c, dtype=x.dtype)  # running max of the window, per channel
        where = np.empty(c, dtype=np.int64)  # flat (r*W + q) index of the first maximum
        share = np.empty(c, dtype=dy.dtype)  # per-cell gradient for avg / l2
        for i in range(oh):
            for j in range(ow):
                if mode == 0:
                    for k in range(c):
                        best[k] = -np.inf
                        where[k] = -1
                    for a in range(ph):
                        r = i * sh + a - pt
                        if r < 0 or r >= h:
                            continue
                        for b in range(pw):
                            q = j * sw + b - pl
                            if q < 0 or q >= w:
                                continue
                            for k in range(c):
                                v = x[n, r, q, k]
                                if v > best[k] or where[k] < 0:
                                    best[k] = v
                                    where[k] = r * w + q
                    for k in range(c):
                        if where[k] >= 0:
                            dx[n, where[k] // w, where[k] % w, k] += dy[n, i, j, k]
                    continue
                if mode == 1:
                    count = 0
                    for a in range(ph):
                        r = i * sh + a - pt
                        if 0 <= r < h:
                            for b in range(pw):
                                q = j * sw + b - pl
                                if 0 <= q < w:
                                    count += 1
                    for k in range(c):
                        share[k] = dy[n, i, j, k] / count
                else:
                    for k in range(c):
                        yv = y[n, i, j, k]
                        share[k] = dy[n, i, j, k] / yv if yv > 0 else 0.0
                for a in range(ph):
                    r = i * sh + a - pt
                    if r < 0 or r >= h:
                        continue
                    for b in range(pw):
                        q = j * sw + b - pl
                        if q < 0 or q >= w:
                            continue
                        if mode == 1:
                            np.add(dx[n, r, q], share, dx[n, r, q])
                        else:
                            for k in range(c):
                                dx[n, r, q, k] += share[k] * x[n, r, q, k]


def _max_pool_backward_tiled(dy, x, y, ph, pw, dx):
    """Max pooling's gradient when the windows tile the image (strides = pool size, no padding).

    Each cell of ``x`` lies in at most one window, so every cell of ``dx`` is written once: ``dy`` of its window
    where it is the window's *first* cell (row-major) equal to the window's maximum ``y``, else 0. No search
    for the argmax and no scatter: one pass, parallel over output rows ``(n, i)``, vectorised over channels.
    (A NaN maximum is "equal" to the first NaN cell, the cell ``np.argmax`` picks.) Cells beyond the last
    whole window are left to the caller.
    """
    n_img, h, w, c = x.shape
    oh, ow = dy.shape[1], dy.shape[2]
    for t in prange(n_img * oh):
        n = t // oh
        i = t % oh
        open_ = np.empty(c, dtype=x.dtype)  # 1 while channel k's maximum has not been found in this window
        for j in range(ow):
            open_[:] = 1
            for a in range(ph):
                for b in range(pw):
                    r, q = i * ph + a, j * pw + b
                    for k in range(c):
                        v, m = x[n, r, q, k], y[n, i, j, k]
                        hit = open_[k] * ((v == m) | ((v != v) & (m != m)))
                        dx[n, r, q, k] = dy[n, i, j, k] if hit != 0 else 0  # a select: 0 * inf would be NaN
                        open_[k] -= hit


# error_model="numpy": float division by zero gives inf/nan like NumPy instead of raising (and no checks).
_pjit = njit(cache=True, parallel=True, error_model="numpy")
pool_forward_kernel = _pjit(_pool_forward)
pool_backward_kernel = _pjit(_pool_backward)
max_pool_backward_tiled_kernel = _pjit(_max_pool_backward_tiled)


def _mode_code(mode: str) -> int:
    if mode not in POOL_MODES:
        raise ValueError(f"unknown pooling mode {mode!r}; expected one of {POOL_MODES}")
    return POOL_MODES.index(mode)  # 0 max, 1 avg, 2 l2


@engine_call
def pool2d_forward(x: Array, mode: str, pool: tuple[int, int], strides: tuple[int, int], pads: Pads) -> Array:
    """Same math as ``reference.pool2d_forward`` (max / avg / l2 over ``pool`` windows).

    Parameters
    ----------
    x : (N, H, W, C)
    mode : "max" | "avg" | "l2"
    pool, strides : (int, int)
    pads : (top, bottom, left, right)

    Returns
    -------
    y : (N, OH, OW, C), dtype of ``x``.
    """
    code = _mode_code(mode)
    x = np.ascontiguousarray(x)
    if x.dtype.kind != "f":
        x = x.astype(np.float64)
    n, h, w, c = x.shape
    (ph, pw), (sh, sw) = pool, strides
    pt, pb, pl, pr = pads
    oh = (h + pt + pb - ph) // sh + 1
    ow = (w + pl + pr - pw) // sw + 1
    y = np.empty((n, oh, ow, c), dtype=x.dtype)
    pool_forward_kernel(x, code, ph, pw, sh, sw, pt, pl, y)
    return y


@engine_call
def pool2d_backward(
    dy: Array, x: Array, y: Array, mode: str, pool: tuple[int, int], strides: tuple[int, int], pads: Pads
) -> Array:
    """Same math as ``reference.pool2d_backward``.

    Parameters
    ----------
    dy, y : (N, OH, OW, C)
    x : (N, H, W, C)

    Returns
    -------
    dx : (N, H, W, C), dtype of ``dy``.
    """
    code = _mode_code(mode)
    dtype = dy.dtype if dy.dtype.kind == "f" else np.dtype(np.float64)
    dy = np.ascontiguousarray(dy, dtype=dtype)
    x = np.ascontiguousarray(x)
    y = np.ascontiguousarray(y)
    (ph, pw), (sh, sw) = pool, strides
    pt, _, pl, _ = pads
    if code == 0 and (sh, sw) == (ph, pw) and not any(pads) and x.dtype == dtype:
        dx = np.empty(x.shape, dtype=dtype)
        max_pool_backward_tiled_kernel(dy, x, y.astype(dtype, copy=False), ph, pw, dx)
        dx[:, dy.shape[1] * ph :] = 0  # rows and columns no window covers (H or W not a multiple of the pool)
        dx[:, :, dy.shape[2] * pw :] = 0
        return dx
    dx = np.zeros(x.shape, dtype=dtype)
    pool_backward_kernel(dy, x, y, code, ph, pw, sh, sw, pt, pl, dx)
    return dx
