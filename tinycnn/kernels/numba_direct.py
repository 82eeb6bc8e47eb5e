"""Direct convolutions: register tiles read straight from the zero-padded image (the engine's default route).

What it computes: the loops of ``reference.conv2d_forward_direct`` (output pixels x taps x channels, read from
the padded image; no im2col matrix), run by the SIMD tile of :mod:`tinycnn.kernels.simd`, and the kernel
gradient of ``reference.conv2d_backward_kernel`` the same way. :mod:`tinycnn.kernels.numba_conv` calls these
drivers; read that module for when the route applies.

From the readable loops to the tiles, the reorderings are:

* ``reference.conv2d_forward_direct`` loops ``for each output pixel (i, j): for a, b, c: y[i, j, :] +=
  xp[i + a, j + b, c] * kernel[a, b, c, :]``, with the filters ``:`` as one NumPy row;
* :func:`_conv_tiles` *blocks* the output-pixel loop: ``MR`` neighbouring pixels of one output row at once
  (14 on AVX-512: a row of 28 is two tiles of 14), and the filter loop into one or two SIMD vectors, so that
  ``MR x NV`` accumulators stay in registers while the loop over ``(a, b, c)`` runs inside the tile; the
  output rows ``(m, i)`` are split over the threads (``prange``);
* :func:`_kernel_grad_tiles` *exchanges* the loops: its tile rows are the kernel rows ``(a, b, c)`` and its
  inner loop runs over the output pixels ``(i, j)`` (the long sum of the kernel gradient); each thread sums
  its own images into its own copy of the gradient.

Each kernel is a plain function ``_name`` compiled with ``njit`` next to it, as in the rest of the engine;
these call the LLVM IR tile, so unlike the others they cannot run with ``NUMBA_DISABLE_JIT=1`` (the engine
then takes the im2col route).
"""

from numba import njit, prange

from .simd import INIT_LOAD, VECTOR_BYTES, TileWalk, rows_for, tile

__all__ = ["pad_kernel", "conv_tiles_kernel", "kernel_grad_tiles_kernel", "KGRAD_TILE_ROWS"]

#: Tallest tile of the kernel gradient. Its tiles broadcast one number of ``x`` per row and FMA (``dy`` is the
#: vector), and 8 rows ran faster than 14 there (``benchmarks/README.md``); the forward keeps 14.
KGRAD_TILE_ROWS = 8


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
            row[pl : pl + w, :] = x[n0 + m, r - pt]
            row[pl + w :, :] = 0


def _conv_tiles(xp, kernel, bias, init, sh, sw, dh, dw, y):
    """``y[m, i, j, :] = sum_{a, b, c} xp[m, i*SH + a*DH, j*SW + b*DW, c] * kernel[a, b, c, :]`` (+ bias).

    The convolution of an already padded ``xp`` as a matrix product whose rows are output pixels and whose
    columns are ``(a, b, c)``, computed tile by tile (:func:`simd.tile`): a tile is ``MR`` neighbouring pixels
    of one output row (``MR`` from ``TILE_ROWS``, greedily) times one or two vectors of filters. Its loop nest
    runs over ``a`` (stride ``DH`` rows of ``xp``; ``KW*C*F`` in ``kernel``), ``b`` (``DW`` pixels; ``C*F``)
    and ``c`` (1; ``F``); its rows lie ``SW`` pixels apart. ``init`` is ``INIT_BIAS`` (start from ``bias``)
    or ``INIT_ZERO``. ``F`` must be a multiple of the vector length. Parallel over output rows ``(m, i)``.
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
            mr = rows_for(ow - j0)
            x0 = ((m * hp + i * sh) * wp + j0 * sw) * c
            y0 = ((m * oh + i) * ow + j0) * f
            f0 = 0
            while f0 < f:
                nv = 2 if f - f0 >= 2 * vl else 1
                tile(
                    mr,
                    nv,
                    xf,
                    kf,
                    yf,
                    bias,
                    TileWalk(
                        a_start=x0,
                        a_row=sw * c,
                        a_step1=dh * wp * c,
                        a_step2=dw * c,
                        a_step3=1,
                        count1=kh,
                        count2=kw,
                        count3=c,
                        b_start=f0,
                        b_step1=kw * c * f,
                        b_step2=c * f,
                        b_step3=f,
                        c_start=y0 + f0,
                        c_row=f,
                        init=init,
                        bias_start=f0,
                    ),
                )
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
                        mr = rows_for(min(rows - r0, KGRAD_TILE_ROWS))
                        x0 = ((m * hp + a * dh) * wp + b * dw) * c + r0
                        k0 = ((a * kw + b) * c + r0) * f
                        f0 = 0
                        while f0 < f:
                            nv = 2 if f - f0 >= 2 * vl else 1
                            tile(
                                mr,
                                nv,
                                xf,
                                dyf,
                                part,
                                part,
                                TileWalk(
                                    a_start=x0,
                                    a_row=1,
                                    a_step1=sh * wp * c,
                                    a_step2=sw * c,
                                    a_step3=0,
                                    count1=oh,
                                    count2=ow,
                                    count3=1,
                                    b_start=m * oh * ow * f + f0,
                                    b_step1=ow * f,
                                    b_step2=f,
                                    b_step3=0,
                                    c_start=k0 + f0,
                                    c_row=f,
                                    init=INIT_LOAD,
                                    bias_start=0,
                                ),
                            )
                            f0 += nv * vl
                        r0 += mr


# error_model="numpy": float division by zero gives inf/nan like NumPy instead of raising (and no checks).
_pjit = njit(cache=True, parallel=True, error_model="numpy")
pad_kernel = _pjit(_pad)
conv_tiles_kernel = _pjit(_conv_tiles)
kernel_grad_tiles_kernel = _pjit(_kernel_grad_tiles)
