"""The engine: the convolution, pooling and Dense kernels of :mod:`tinycnn.kernels.reference`, compiled with Numba.

Same functions, same signatures, same return shapes and dtypes (float32 and float64):

* :func:`conv2d_forward`         -- same math as ``reference.conv2d_forward``
* :func:`conv2d_backward_input`  -- same math as ``reference.conv2d_backward_input``
* :func:`conv2d_backward_kernel` -- same math as ``reference.conv2d_backward_kernel``
* :func:`pool2d_forward`         -- same math as ``reference.pool2d_forward``
* :func:`pool2d_backward`        -- same math as ``reference.pool2d_backward``
* :func:`dense_forward`, :func:`dense_backward_input`, :func:`dense_backward_kernel` -- ``reference.dense_*``

Read the reference module first: the equations are there. This module only changes *how* they run.

Design (measured on the 2-core development machine, float32, batch 32; ``benchmarks/bench_layers.py``)
----------------------------------------------------------------------------------------------------
**Direct convolutions (the default route).** Each output is computed straight from the zero-padded image
by register tiles (:mod:`tinycnn.kernels.simd`): 14 neighbouring output pixels x 32 filters held in 28 SIMD
registers while the loop runs over the kernel taps and channels, so no im2col matrix is ever written
(:func:`_conv_tiles`). The stride-1 input gradient is the same kind of convolution, of ``dy`` with the
flipped kernel (see "Input gradient without col2im" below), and the kernel gradient tiles 8 rows ``(a, b, c)``
x 32 filters over the output pixels (:func:`_kernel_grad_tiles`). On the course's 32- and 64-channel layers
forward + both gradients run at 380-470 GFLOP/s, 84-100% of the best 2048^3 matrix product this CPU ran
(OpenBLAS's AVX-512 kernels, ~470 GFLOP/s), against 123-170 GFLOP/s for the im2col route below. The route
applies where the output channels of the convolution are a whole number of vectors (16 float32 or 8 float64
with AVX-512: the course's 32 and 64), the JIT is on, and, for the input gradient, the stride is 1.

**Convolution as im2col + one matrix product (the fallback).** Elsewhere Numba gathers the windows into rows
and one matrix product per chunk does the arithmetic::

    forward          cols(x)  (rows_y, KH*KW*C) @ K  (KH*KW*C, F)  -> y
    backward kernel  cols(x).T                  @ dY (rows_y, F)   -> dK   (summed over chunks)
    backward input   cols(dy) (rows_x, KH*KW*F) @ Kt (KH*KW*F, C)  -> dx   (stride 1 and F <= C)

The products run on the same tiles (:func:`_gemm_tiles`; columns padded to whole vectors), and so do the
Dense layer's three (:func:`dense_forward` ...): the engine calls no BLAS. ``TINYCNN_DIRECT=0`` (read at
import) or ``DIRECT = False`` switches all of it back to the engine as it was before the tiles: im2col
everywhere and NumPy's ``matmul`` (OpenBLAS) for every product, for comparison (``bench_train.py
--tinycnn-im2col``).

**Input gradient without col2im.** With stride 1 the input gradient is itself a convolution: pixel
``(p, q)`` of the padded input was read by output ``(p - a*DH, q - b*DW)`` through tap ``(a, b)``, so::

    dx[n, p, q, c] = sum_{a, b, f} dy[n, p + pt - a*DH, q + pl - b*DW, f] * kernel[a, b, c, f]

(out-of-range ``dy`` counts as 0): a "full" convolution of ``dy`` with the flipped, transposed kernel. We
gather it like the forward im2col (:func:`_dy2col`) and finish with one GEMM shaped like the forward one,
instead of a scatter-add (col2im) into ``dx`` whose parallel loop can only split work by images. Once
col2im's adds were vectorised the two measured about even when ``F <= C`` (the gather is used there)
and col2im won clearly when ``F > C`` (it is used there, and for strides > 1): see
:func:`conv2d_backward_input` for the numbers.

**Bounded, cache-sized buffers.** The direct route's only temporary is a zero-padded copy of the images
(``x`` for the forward pass and the kernel gradient, ``dy`` for the input gradient), made a chunk of images
at a time in the scratch array below, at most ``IM2COL_LIMIT_BYTES``. On the im2col route the im2col matrix
is the only big temporary. It lives in one flat scratch
array per dtype (and per thread), reused across calls, and never larger than ``IM2COL_LIMIT_BYTES``
(2 MiB): a batch is processed a chunk of image rows at a time, so ``predict`` on 10,000 images needs the
same scratch memory as on 10. The small chunk is also the fast choice: gathered and multiplied while it
is still in cache, the course layers ran ~30% faster (single thread, 32->32 forward + backward: 38 -> 26
ms) than with one 29 MB matrix; 1-4 MiB all measured the same. :func:`buffer_info` reports the
chunking of the last call (the tests use it).

**Threads.** The tiles, the gathers and the pooling loops are ``prange`` loops (``parallel=True``) on
Numba's OpenMP threading layer (im2col 2.4-2.8 ms vs 3.3-4.0 ms with ``workqueue``; TBB is not installed).
How idle OpenMP threads wait decides a lot on 2 cores, and the answer depends on whether BLAS runs in
between:

* *With BLAS in between* (the im2col route), OpenMP's default spin-waiting starves the BLAS threads that
  start right after a Numba loop (measured 4-30x slower), so idle threads must sleep at once:
  ``OMP_WAIT_POLICY=passive``.
* *Without BLAS* (the default route), sleeping at once costs more than it saves: a parallel loop that
  starts after a pause of ~10 ms or more, or right after a multi-threaded BLAS call, ran at one core's speed
  (32->32 forward 2.0-2.2 ms instead of 1.05-1.3 ms: the woken thread was not running on the other core
  when the work was split). A short spin keeps the thread on its core between the kernels of a training
  step: ``GOMP_SPINCOUNT=100000``, about 4 ms of CPU after each parallel loop (3.8 ms measured in a 0.5 s
  pause). Training step of the course CNN, 100 steps: 17.5-18.7 ms with spinning against 22.9-24.3 ms
  passive (``benchmarks/profile_step.py``).

Either setting is in the environment only while Numba starts its threads, at import (:func:`_start_threads`):
a value the user set wins, and child processes do not inherit tinycnn's.

**Copies as slices, whole kernel rows at a time.** Numba cannot prove that the two arrays of an element loop
``dst[k] = src[k]`` do not overlap, so it leaves the loop scalar; a slice assignment ``dst[a:b] = src`` (or a
ufunc with ``out=``) checks once and runs as a vector loop -- 2-3x faster for 32 or 64 channels. Below 8
numbers the slice machinery costs more than it saves and the element loop stays. Channels last makes the
``KW`` taps of one kernel row (undilated) one contiguous block of ``KW*C`` numbers in the input *and* in the
im2col row, so im2col copies one block per kernel row instead of one per tap: 3x fewer copies for 3x3
kernels. Forward and both gradients, median of 6 alternating ``benchmarks/bench_layers.py`` runs before and
after that change: 32->32 layer 9% faster, 64-channel layers 5-6%, the 1->32 layer (3-number blocks, element
loops) 4% slower.

**Pooling** is a direct loop (no GEMM to win): one pass over the windows, parallel over output rows
(forward) or images (backward, where overlapping windows of one image add into the same cells).

Every kernel is written as a plain Python function ``_name`` and compiled with ``njit`` next to it
(minitorch style), so ``NUMBA_DISABLE_JIT=1`` runs the very same code as ordinary, debuggable Python --
except the tiles, which are LLVM IR: without the JIT every convolution takes the im2col route and every
product NumPy's ``matmul``.
"""
import os

import threading

import numba
import numpy as np
from numba import njit, prange

from . import simd
from .reference import POOL_MODES
from .simd import INIT_BIAS, INIT_LOAD, INIT_ZERO, TILE_ROWS, VECTOR_BYTES, tile

# Prefer OpenMP over TBB/workqueue when Numba has not chosen yet (TBB is absent on most installs anyway).
if numba.config.THREADING_LAYER == "default":
    numba.config.THREADING_LAYER_PRIORITY = ["omp", "tbb", "workqueue"]


#: The OpenMP settings Numba's threads started with (the user's value where one was set), for the benchmarks.
OPENMP_SETTINGS = {}


def _start_threads(settings):
    """Start Numba's threading layer with the OpenMP ``settings`` (see "Threads" above), then put the
    environment back as it was.

    OpenMP reads its environment once, when its library loads, and Numba loads it when it starts its threads;
    so the settings are placed in the environment just for that moment. They must not stay there: every
    child process would inherit them, e.g. a PyTorch worker of ``benchmarks/bench_train.py``, whose own
    OpenMP would then wait in tinycnn's way. A value the user set is left as it is and wins.
    """
    OPENMP_SETTINGS.update({key: os.environ.get(key, value) for key, value in settings.items()})
    if numba.config.DISABLE_JIT:
        return
    added = [key for key in settings if key not in os.environ]
    for key in added:
        os.environ[key] = settings[key]
    try:
        from numba.np.ufunc import parallel

        parallel._launch_threads()
    finally:
        for key in added:
            os.environ.pop(key, None)


_DIRECT_REQUESTED = os.environ.get("TINYCNN_DIRECT", "1").strip() != "0"
_start_threads({"GOMP_SPINCOUNT": "100000"}  # the engine calls no BLAS: idle threads spin ~4 ms, then sleep
               if _DIRECT_REQUESTED
               else {"OMP_WAIT_POLICY": "passive"})  # im2col + BLAS: idle threads must sleep at once

__all__ = [
    "conv2d_forward",
    "conv2d_backward_input",
    "conv2d_backward_kernel",
    "pool2d_forward",
    "pool2d_backward",
    "dense_forward",
    "dense_backward_input",
    "dense_backward_kernel",
    "buffer_info",
    "IM2COL_LIMIT_BYTES",
    "DIRECT",
]

#: Largest im2col scratch matrix (bytes); a bigger batch is processed in chunks of image rows. 2 MiB is
#: both the memory bound and the speed optimum measured here (see "Bounded, cache-sized buffers").
IM2COL_LIMIT_BYTES = 2 * 2**20

#: Use the direct (register-tiled, no im2col) convolutions where they apply (see "Direct convolutions"
#: above). ``TINYCNN_DIRECT=0`` in the environment, or setting this to False, forces the im2col + BLAS route
#: everywhere; ``NUMBA_DISABLE_JIT=1`` forces it too (the tiles are LLVM IR, which plain Python cannot run).
DIRECT = simd.enabled() and _DIRECT_REQUESTED

# error_model="numpy": float division by zero gives inf/nan like NumPy instead of raising (and no checks).
_pjit = njit(cache=True, parallel=True, error_model="numpy")


#: Tallest tile of the kernel gradient. Its tiles broadcast one number of ``x`` per row and FMA (``dy`` is the
#: vector), and 8 rows ran faster than 14 there: 395-409 against 300-326 GFLOP/s for the course's 32- and
#: 64-channel layers (float32, batch 32; the forward and input gradient keep 14).
KGRAD_TILE_ROWS = 8

#: Channel count from which a pixel is copied as one slice (see "Copies as slices" above): 2-3x faster for
#: C = 32, 64; for C = 1 the slice costs more than the element loop (1.8 vs 0.6 ms for the first layer).
_SLICE_COPY_MIN = 8


# ----------------------------------------------------------------------------------------------------
# Compiled kernels. Each is a plain function first, then compiled (so NUMBA_DISABLE_JIT=1 can debug it).
# ----------------------------------------------------------------------------------------------------
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

    Numba cannot prove that two arrays of an element loop do not overlap, so it leaves such a loop scalar;
    a slice assignment checks once and runs as a vector copy -- 2-3x faster from about 8 numbers on. Below
    that the slice machinery costs more than it saves and the element loop stays.
    """
    if length >= _SLICE_COPY_MIN:
        cols[row, col:col + length] = src[start:start + length]
    else:
        for k in range(length):
            cols[row, col + k] = src[start + k]


def _zero_block(cols, row, col, length):
    """``cols[row, col:col + length] = 0`` (slice or element loop, as :func:`_copy_block`)."""
    if length >= _SLICE_COPY_MIN:
        cols[row, col:col + length] = 0
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
                                np.add(dx[n, r, q], dcols[row, col:col + c], dx[n, r, q])
                            else:
                                for k in range(c):
                                    dx[n, r, q, k] += dcols[row, col + k]
                        col += c


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
        best = np.empty(c, dtype=x.dtype)       # running max of the window, per channel
        where = np.empty(c, dtype=np.int64)      # flat (r*W + q) index of the first maximum
        share = np.empty(c, dtype=dy.dtype)      # per-cell gradient for avg / l2
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


# ----------------------------------------------------------------------------------------------------
# Direct convolutions: register tiles read straight from the (padded) image; see "Direct convolutions".
# ----------------------------------------------------------------------------------------------------
def _rows_for(remaining):
    """The tallest tile in ``simd.TILE_ROWS`` with at most ``remaining`` rows (rows are split greedily)."""
    for rows in TILE_ROWS:
        if rows <= remaining:
            return rows
    return 1


def _pad(x, n0, pt, pl, xp):
    """``xp[m] = x[n0 + m]`` shifted down by ``pt`` rows and right by ``pl`` columns, zeros all around."""
    h, w = x.shape[1], x.shape[2]
    hp = xp.shape[1]
    for t in prange(xp.shape[0] * hp):
        m, r = t // hp, t % hp
        row = xp[m, r]  # (Wp, C)
        if r < pt or r >= pt + h:
            row[:, :] = 0
        else:
            row[:pl, :] = 0
            row[pl:pl + w, :] = x[n0 + m, r - pt]
            row[pl + w:, :] = 0


def _conv_tiles(xp, kernel, bias, init, sh, sw, dh, dw, y):
    """``y[m, i, j, :] = sum_{a, b, c} xp[m, i*SH + a*DH, j*SW + b*DW, c] * kernel[a, b, c, :]`` (+ bias).

    The convolution of an already padded ``xp`` as a matrix product whose rows are output pixels and whose
    columns are ``(a, b, c)``, computed tile by tile (:func:`simd.tile`): a tile is ``MR`` neighbouring pixels
    of one output row (``MR`` from ``TILE_ROWS``, greedily: a row of 28 is two tiles of 14) times one or two
    vectors of filters. Its loop nest runs over ``a`` (stride ``DH`` rows of ``xp``; ``KW*C*F`` in
    ``kernel``), ``b`` (``DW`` pixels; ``C*F``) and ``c`` (1; ``F``); its rows lie ``SW`` pixels apart.
    ``init`` is ``INIT_BIAS`` (start from ``bias``) or ``INIT_ZERO``. ``F`` must be a multiple of the
    vector length. Parallel over output rows ``(m, i)``.
    """
    n_img, oh, ow, f = y.shape
    hp, wp, c = xp.shape[1], xp.shape[2], xp.shape[3]
    kh, kw = kernel.shape[0], kernel.shape[1]
    xf, kf, yf = xp.reshape(xp.size), kernel.reshape(kernel.size), y.reshape(y.size)
    vl = VECTOR_BYTES // xp.itemsize
    for t in prange(n_img * oh):
        m, i = t // oh, t % oh
        j0 = 0
        while j0 < ow:
            mr = _rows_for(ow - j0)
            x0 = ((m * hp + i * sh) * wp + j0 * sw) * c
            y0 = ((m * oh + i) * ow + j0) * f
            f0 = 0
            while f0 < f:
                nv = 2 if f - f0 >= 2 * vl else 1
                tile(mr, nv, xf, x0, sw * c, dh * wp * c, dw * c, 1, kh, kw, c,
                     kf, f0, kw * c * f, c * f, f,
                     yf, y0 + f0, f, init, bias, f0)
                f0 += nv * vl
            j0 += mr


def _kernel_grad_tiles(xp, dy, sh, sw, dh, dw, parts):
    """``parts[t, a, b, c, :] += sum_{m, i, j} xp[m, i*SH + a*DH, j*SW + b*DW, c] * dy[m, i, j, :]``.

    The kernel gradient as a matrix product whose rows are ``(a, b, c)`` and whose long inner dimension is
    the output pixels ``(i, j)``: a tile is up to ``KGRAD_TILE_ROWS`` neighbouring rows times one or two
    vectors of filters, its loop nest running over ``i`` and ``j``. Undilated (``DW == 1``), the ``KW*C``
    rows ``(b, c)`` of one kernel row ``a`` lie next to each other in ``xp`` as in ``parts`` (channels last),
    so they are tiled as one block (for ``C = 1``: 3 rows instead of 1 per tile). Thread ``t`` of ``T =
    parts.shape[0]`` takes the images ``m = t, t + T, ...`` into its own partial sum (the caller adds the
    ``T`` parts); one image's ``xp`` and ``dy`` stay in cache while all its tiles run.
    """
    n_img, oh, ow, f = dy.shape
    hp, wp, c = xp.shape[1], xp.shape[2], xp.shape[3]
    threads, kh, kw = parts.shape[0], parts.shape[1], parts.shape[2]
    xf, dyf = xp.reshape(xp.size), dy.reshape(dy.size)
    vl = VECTOR_BYTES // xp.itemsize
    taps = kw if dw == 1 else 1  # kernel columns tiled together
    rows = taps * c
    for t in prange(threads):
        part = parts[t].reshape(kh * kw * c * f)
        for m in range(t, n_img, threads):
            for a in range(kh):
                for b in range(0, kw, taps):
                    r0 = 0
                    while r0 < rows:
                        mr = _rows_for(min(rows - r0, KGRAD_TILE_ROWS))
                        x0 = ((m * hp + a * dh) * wp + b * dw) * c + r0
                        k0 = ((a * kw + b) * c + r0) * f
                        f0 = 0
                        while f0 < f:
                            nv = 2 if f - f0 >= 2 * vl else 1
                            tile(mr, nv, xf, x0, 1, sh * wp * c, sw * c, 0, oh, ow, 1,
                                 dyf, m * oh * ow * f + f0, ow * f, f, 0,
                                 part, k0 + f0, f, INIT_LOAD, part, 0)
                            f0 += nv * vl
                        r0 += mr


def _gemm_tiles(a, a_row, a_k, m, k, b, c, bias, init):
    """``c[i, :] = sum_q a[i*a_row + q*a_k] * b[q, :]`` (+ ``bias``) for ``i < M``: a matrix product by tiles.

    ``a`` is a flat array read with strides, so a transposed matrix is read in place (``a_row = 1``);
    ``b`` is ``(K, N)`` and ``c`` ``(M, N)``, both C-contiguous, ``N`` a multiple of the vector length. The
    work items are (block of two vectors of columns, band of ``TILE_ROWS[0]`` rows); a thread takes a run of
    neighbouring items, so the rows of one column block follow each other while ``b``'s block is in cache.
    """
    n = c.shape[1]
    vl = VECTOR_BYTES // c.itemsize
    bf, cf = b.reshape(b.size), c.reshape(c.size)
    band = TILE_ROWS[0]
    bands = (m + band - 1) // band
    blocks = (n + 2 * vl - 1) // (2 * vl)
    for t in prange(blocks * bands):
        f0 = (t // bands) * 2 * vl
        nv = 2 if n - f0 >= 2 * vl else 1
        i0 = (t % bands) * band
        i1 = min(i0 + band, m)
        while i0 < i1:
            mr = _rows_for(i1 - i0)
            tile(mr, nv, a, i0 * a_row, a_row, 0, 0, a_k, 1, 1, k,
                 bf, f0, 0, 0, n,
                 cf, i0 * n + f0, n, init, bias, f0)
            i0 += mr


# The two block helpers are compiled first and inlined into the kernels that call them.
_copy_block = njit(cache=True, inline="always")(_copy_block)
_zero_block = njit(cache=True, inline="always")(_zero_block)
im2col_kernel = _pjit(_im2col)
dy2col_kernel = _pjit(_dy2col)
col2im_kernel = _pjit(_col2im)
pool_forward_kernel = _pjit(_pool_forward)
pool_backward_kernel = _pjit(_pool_backward)
_rows_for = njit(cache=True, inline="always")(_rows_for)
pad_kernel = _pjit(_pad)
conv_tiles_kernel = _pjit(_conv_tiles)
kernel_grad_tiles_kernel = _pjit(_kernel_grad_tiles)
gemm_tiles_kernel = _pjit(_gemm_tiles)


# ----------------------------------------------------------------------------------------------------
# Scratch buffer: one flat array per (thread, dtype), at most IM2COL_LIMIT_BYTES, reused across calls.
# ----------------------------------------------------------------------------------------------------
_local = threading.local()


def _scratch(rows, width, dtype):
    """A ``(rows, width)`` view of this thread's reusable scratch array (contents undefined).

    The array grows to the largest chunk asked for and is replaced by a smaller one if it exceeds both the
    current request and ``IM2COL_LIMIT_BYTES`` (after the limit was lowered, or a one-off huge row).
    """
    buffers = _local.__dict__.setdefault("buffers", {})
    size = rows * width
    flat = buffers.get(dtype)
    if flat is None or flat.size < size or flat.nbytes > max(flat.itemsize * size, IM2COL_LIMIT_BYTES):
        buffers[dtype] = flat = np.empty(size, dtype=dtype)
    return flat[:size].reshape(rows, width)


def _chunks(lines, line_elements, itemsize, kernel):
    """Split ``lines`` scratch-matrix lines into chunks whose matrix fits in ``IM2COL_LIMIT_BYTES``.

    A *line* is one output row ``(n, i)`` of the image: ``line_elements`` = (pixels in a row) x (matrix
    width). Returns the list of ``(t0, t1)`` ranges (at least one line per chunk) and records it for
    :func:`buffer_info`.
    """
    line_bytes = max(line_elements * itemsize, 1)
    step = int(max(1, min(lines, IM2COL_LIMIT_BYTES // line_bytes)))
    empty = lines == 0 or line_elements == 0  # an empty output (e.g. OW = 0): nothing to gather
    ranges = [] if empty else [(t0, min(t0 + step, lines)) for t0 in range(0, lines, step)]
    _local.last = {
        "kernel": kernel,
        "route": "im2col",
        "lines": lines,
        "chunk_lines": step,
        "chunks": len(ranges),
        "chunk_bytes": step * line_bytes,
        "limit_bytes": IM2COL_LIMIT_BYTES,
    }
    return ranges


def buffer_info():
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


def _float_dtype(*arrays):
    dtype = np.result_type(*arrays)
    return dtype if dtype.kind == "f" else np.dtype(np.float64)


def _tiles_apply(dtype):
    """The SIMD tiles can run: ``DIRECT`` is on (compiled kernels) and the dtype is float32 or float64."""
    return DIRECT and dtype in (np.float32, np.float64)


def _direct_applies(dtype, channels_out):
    """The direct route applies: tiles on, and the output channels a whole number of vectors."""
    return _tiles_apply(dtype) and channels_out % (VECTOR_BYTES // dtype.itemsize) == 0


def _image_chunks(n, image_bytes, kernel):
    """Split ``n`` images into chunks whose padded copy fits in ``IM2COL_LIMIT_BYTES`` (at least one image).

    The direct route's only big temporary is a zero-padded copy of a chunk of images (about the size of
    the input, not ``KH*KW`` times it as an im2col matrix). Records the split for :func:`buffer_info`.
    """
    step = int(max(1, min(n, IM2COL_LIMIT_BYTES // max(image_bytes, 1))))
    ranges = [(n0, min(n0 + step, n)) for n0 in range(0, n, step)]
    _local.last = {"kernel": kernel, "route": "direct", "images": n, "chunk_images": step,
                   "chunks": len(ranges), "chunk_bytes": step * image_bytes, "limit_bytes": IM2COL_LIMIT_BYTES}
    return ranges


def _padded(x, n0, n1, pads_before, size, dtype):
    """Images ``x[n0:n1]`` zero-padded to ``size = (Hp, Wp)``, ``pads_before = (top, left)``: a view of
    ``x`` when nothing needs padding, else this thread's scratch buffer filled by :func:`_pad`."""
    (pt, pl), (hp, wp) = pads_before, size
    if pt == 0 and pl == 0 and (hp, wp) == x.shape[1:3]:
        return x[n0:n1]
    xp = _scratch((n1 - n0) * hp, wp * x.shape[3], dtype).reshape(n1 - n0, hp, wp, x.shape[3])
    pad_kernel(x, n0, pt, pl, xp)
    return xp


def _direct_conv(x, kernel, bias, strides, dilation, pads_before, size, y, kernel_name):
    """``y = conv(pad(x), kernel) (+ bias)`` by :func:`_conv_tiles`, a chunk of images at a time."""
    dtype = y.dtype
    init = INIT_ZERO if bias is None else INIT_BIAS
    bias = kernel.reshape(kernel.size) if bias is None else np.ascontiguousarray(bias, dtype=dtype)
    image_bytes = size[0] * size[1] * x.shape[3] * dtype.itemsize
    for n0, n1 in _image_chunks(x.shape[0], image_bytes, kernel_name):
        xp = _padded(x, n0, n1, pads_before, size, dtype)
        conv_tiles_kernel(xp, kernel, bias, init, strides[0], strides[1], dilation[0], dilation[1], y[n0:n1])
    return y


# ----------------------------------------------------------------------------------------------------
# The public kernels (same signatures as reference.py)
# ----------------------------------------------------------------------------------------------------
def conv2d_forward(x, kernel, bias, strides, pads, dilation):
    """Same math as ``reference.conv2d_forward``: direct tiles (:func:`_conv_tiles`) when ``F`` is a whole number
    of vectors, else ``y = im2col(x) @ kernel + bias``, chunk by chunk.

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
        return _direct_conv(x, kernel, bias, (sh, sw), (dh, dw), (pt, pl), (h + pt + pb, w + pl + pr), y,
                            "conv2d_forward")
    k2d = kernel.reshape(kh * kw * c, f)
    y2d = y.reshape(n * oh * ow, f)
    width = kh * kw * c
    for t0, t1 in _chunks(n * oh, ow * width, dtype.itemsize, "conv2d_forward"):
        cols = _scratch((t1 - t0) * ow, width, dtype)
        im2col_kernel(x, t0, kh, kw, sh, sw, pt, pl, dh, dw, oh, ow, cols)
        y_part = y2d[t0 * ow : t1 * ow]
        _matmul(cols, k2d, bias, out=y_part)
    return y


def conv2d_backward_kernel(dy, x, kernel_shape, strides, pads, dilation):
    """Same math as ``reference.conv2d_backward_kernel``: direct tiles (:func:`_kernel_grad_tiles`) when ``F`` is a
    whole number of vectors, else ``dK = cols.T @ dY``, summed over chunks.

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
        for n0, n1 in _image_chunks(n, hp * wp * c * dtype.itemsize, "conv2d_backward_kernel"):
            xp = _padded(x, n0, n1, (pt, pl), (hp, wp), dtype)
            kernel_grad_tiles_kernel(xp, dy[n0:n1], sh, sw, dh, dw, parts)
        return parts.sum(axis=0)
    width = kh * kw * c
    dk = np.zeros((width, f), dtype=dtype)
    part = np.empty((width, f), dtype=dtype)
    for t0, t1 in _chunks(n * oh, ow * width, dtype.itemsize, "conv2d_backward_kernel"):
        cols = _scratch((t1 - t0) * ow, width, dtype)
        im2col_kernel(x, t0, kh, kw, sh, sw, pt, pl, dh, dw, oh, ow, cols)
        _matmul(cols.T, dy2d[t0 * ow : t1 * ow], out=part)  # cols.T is read without a copy
        dk += part
    return dk.reshape(kernel_shape)


def conv2d_backward_input(dy, kernel, x_shape, strides, pads, dilation):
    """Same math as ``reference.conv2d_backward_input``.

    Stride 1 and ``C`` a whole number of vectors: the direct route, :func:`_conv_tiles` on ``dy`` padded by
    ``(KH - 1)*DH - pt`` rows on top (and so on) with the flipped, transposed kernel. Else, stride 1 and
    ``F <= C``: ``dx = cols(dy) @ Kt``, the "full" convolution of ``dy`` (see the module
    docstring). Otherwise the reference's route: ``dcols = dY @ K.T``, then col2im.

    The gather and col2im do the same multiply-adds; they differ in the matrix they write and read:
    ``(N*H*W, KH*KW*F)`` for the gather, ``(N*OH*OW, KH*KW*C)`` plus a read-modify-write of ``dx`` for
    col2im. Measured (float32, batch 32, products on BLAS, before the direct route; gather vs col2im):

    ============  ====================  ==================
    layer         1 thread (CPU time)   2 threads (wall)
    ============  ====================  ==================
    1 -> 32 @28   3.4 vs 1.1 ms         3.4 vs 1.0 ms
    32 -> 64 @14  4.1 vs 3.7 ms         3.6 vs 3.0 ms
    32 -> 32 @28  8.8 vs 9.2 ms         8.4 vs 8.0 ms
    64 -> 64 @14  6.9 vs 7.2 ms         5.5 vs 5.2 ms
    ============  ====================  ==================

    col2im clearly wins when ``F > C``; for ``F <= C`` it is a tie, and the gather gets it because its
    parallel loop runs over image rows, race-free, while col2im can only split a chunk by *images*
    (windows of one image overlap), which leaves one thread idle when a chunk holds a single big image.
    Strides > 1 always take col2im (the gather would multiply the zeros between strided outputs).

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
    if (sh == 1 and sw == 1 and _direct_applies(dtype, c) and min(top, left) >= 0
            and size[0] - top - oh >= 0 and size[1] - left - ow >= 0):
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
        for t0, t1 in _chunks(n * h, w * width, dtype.itemsize, "conv2d_backward_input"):
            cols = _scratch((t1 - t0) * w, width, dtype)
            dy2col_kernel(dy, t0, kh, kw, pt, pl, dh, dw, h, w, cols)
            _matmul(cols, kt, out=dx2d[t0 * w : t1 * w])
        return dx
    k2d_t = np.ascontiguousarray(kernel.reshape(kh * kw * c, f).T)
    dy2d = dy.reshape(n * oh * ow, f)
    dx = np.zeros((n, h, w, c), dtype=dtype)
    width = kh * kw * c
    for t0, t1 in _chunks(n * oh, ow * width, dtype.itemsize, "conv2d_backward_input"):
        dcols = _scratch((t1 - t0) * ow, width, dtype)
        _matmul(dy2d[t0 * ow : t1 * ow], k2d_t, out=dcols)
        col2im_kernel(dcols, t0, kh, kw, sh, sw, pt, pl, dh, dw, oh, ow, dx)
    return dx


# ----------------------------------------------------------------------------------------------------
# Dense: the three matrix products of reference.dense_*, by the same tiles (no BLAS; see "Threads")
# ----------------------------------------------------------------------------------------------------
def _matmul(a, b, bias=None, out=None):
    """``a @ b (+ bias)`` by :func:`_gemm_tiles`, into ``out`` if given; ``a`` ``(M, K)`` is read in place if
    C- or F-contiguous (a transposed matrix costs no copy).

    Columns are padded with zeros to a whole number of vectors (and cut off again) when ``N`` is not one.
    With ``DIRECT`` off (or the JIT disabled, or dtypes other than one float32/float64) it is NumPy's
    ``matmul``, i.e. BLAS: the engine as it was before the tiles, kept for comparison.
    """
    dtype = np.result_type(a, b)
    if not (_tiles_apply(dtype) and a.dtype == b.dtype == dtype
            and (bias is None or bias.dtype == dtype) and (out is None or out.dtype == dtype)):
        out = np.matmul(a, b, out=out)
        if bias is not None:
            out += bias
        return out
    m, k = a.shape
    n = b.shape[1]
    if a.flags.c_contiguous:
        flat, a_row, a_k = a.reshape(a.size), k, 1
    elif a.flags.f_contiguous:  # e.g. x.T: read the rows of x as columns
        flat, a_row, a_k = a.T.reshape(a.size), 1, m
    else:
        flat, a_row, a_k = np.ascontiguousarray(a).reshape(a.size), k, 1
    vl = VECTOR_BYTES // dtype.itemsize
    n_pad = -(-n // vl) * vl
    b = np.ascontiguousarray(b)
    if n_pad != n:
        b = np.concatenate([b, np.zeros((k, n_pad - n), dtype)], axis=1)
        if bias is not None:
            bias = np.concatenate([bias, np.zeros(n_pad - n, dtype)])
    init = INIT_ZERO if bias is None else INIT_BIAS
    bias = b.reshape(b.size) if bias is None else np.ascontiguousarray(bias)
    if out is not None and n_pad == n and out.flags.c_contiguous:
        c = out
    else:
        c = np.empty((m, n_pad), dtype=dtype)
    gemm_tiles_kernel(flat, a_row, a_k, m, k, b, c, bias, init)
    if out is None:
        return c if n_pad == n else np.ascontiguousarray(c[:, :n])
    if c is not out:
        out[...] = c[:, :n]
    return out


def dense_forward(x, kernel, bias):
    """Same math as ``reference.dense_forward``: ``z = x @ kernel (+ bias)``, by tiles of rows of ``x``.

    Parameters
    ----------
    x : (N, D_in)
    kernel : (D_in, units)
    bias : (units,) or None

    Returns
    -------
    z : (N, units)
    """
    return _matmul(x, kernel, bias)


def dense_backward_input(dz, kernel):
    """Same math as ``reference.dense_backward_input``: ``dx = dz @ kernel.T``.

    Computed as ``dx.T = kernel @ dz.T``: ``kernel`` is read in place (its rows are the ``D_in`` outputs),
    and only the small ``dz`` (``N x units``) and the result are transposed, never the big kernel.

    Parameters
    ----------
    dz : (N, units)
    kernel : (D_in, units)

    Returns
    -------
    dx : (N, D_in)
    """
    return np.ascontiguousarray(_matmul(kernel, np.ascontiguousarray(dz.T)).T)


def dense_backward_kernel(dz, x):
    """Same math as ``reference.dense_backward_kernel``: ``dkernel = x.T @ dz`` (``x.T`` read in place).

    Parameters
    ----------
    dz : (N, units)
    x : (N, D_in)

    Returns
    -------
    dkernel : (D_in, units)
    """
    return _matmul(x.T, dz)


def _mode_code(mode):
    if mode not in POOL_MODES:
        raise ValueError(f"unknown pooling mode {mode!r}; expected one of {POOL_MODES}")
    return POOL_MODES.index(mode)  # 0 max, 1 avg, 2 l2


def pool2d_forward(x, mode, pool, strides, pads):
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


def pool2d_backward(dy, x, y, mode, pool, strides, pads):
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
    dx = np.zeros(x.shape, dtype=dtype)
    pool_backward_kernel(dy, x, y, code, ph, pw, sh, sw, pt, pl, dx)
    return dx
