"""Three steps of one idea: im2col (``reference.conv2d_forward``), the direct loops
(``reference.conv2d_forward_direct``) and the SIMD tile (``simd.tile``, with its NumPy twin ``simd.tile_numpy``).

* the direct loops compute the reference's convolution, for any tile height;
* the NumPy twin of the tile and the compiled tile write the same numbers, for every tile shape compiled,
  every ``init`` and both dtypes, on walks like the ones the engine's drivers make;
* the twin, walked over an image exactly as ``numba_direct._conv_tiles`` walks the compiled tile, computes
  the reference's convolution: the tile is that loop nest and nothing else;
* a tile shape that was not compiled raises, in the twin and in compiled code (it used to do nothing).
"""

import numpy as np
import pytest

from tinycnn.kernels import reference, simd
from tinycnn.kernels.simd import INIT_BIAS, INIT_LOAD, INIT_ZERO, TILE_ROWS, TILE_VECTORS, TileWalk

needs_jit = pytest.mark.skipif(not simd.enabled(), reason="the tile is compiled LLVM IR")
TOL = {np.float32: 2e-5, np.float64: 1e-12}


@pytest.mark.parametrize("tile_rows", [1, 4, 14, 100])
@pytest.mark.parametrize(
    "strides, dilation, padding", [((1, 1), (1, 1), "same"), ((2, 1), (1, 2), "valid"), ((2, 2), (2, 1), "same")]
)
def test_direct_loops_compute_the_im2col_convolution(tile_rows, strides, dilation, padding):
    rng = np.random.default_rng(tile_rows)
    x = rng.standard_normal((2, 9, 11, 3))
    kernel = rng.standard_normal((3, 2, 3, 5))
    bias = rng.standard_normal(5)
    _, pads = reference.conv_geometry((9, 11), (3, 2), strides, dilation, padding)
    expected = reference.conv2d_forward(x, kernel, bias, strides, pads, dilation)
    actual = reference.conv2d_forward_direct(x, kernel, bias, strides, pads, dilation, tile_rows=tile_rows)
    assert actual.shape == expected.shape and actual.dtype == expected.dtype
    np.testing.assert_allclose(actual, expected, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(
        reference.conv2d_forward_direct(x, kernel, None, strides, pads, dilation),
        reference.conv2d_forward(x, kernel, None, strides, pads, dilation),
        rtol=1e-12,
        atol=1e-12,
    )


def _random_walk(rng, rows, vectors, vl):
    """A walk over a small strided product: counts 2 x 3 x 4 steps, rows ``a_row`` apart."""
    counts = (2, 3, 4)
    a_steps = (40, 7, 1)
    a_row = 11
    b_steps = (counts[1] * counts[2] * 3 * vl, counts[2] * 3 * vl, 3 * vl)
    a_size = a_steps[0] * counts[0] + a_row * rows + 8
    b_size = b_steps[0] * counts[0] + 3 * vl
    c_row = 3 * vl
    walk = dict(
        a_start=2,
        a_row=a_row,
        a_step1=a_steps[0],
        a_step2=a_steps[1],
        a_step3=a_steps[2],
        count1=counts[0],
        count2=counts[1],
        count3=counts[2],
        b_start=vl,
        b_step1=b_steps[0],
        b_step2=b_steps[1],
        b_step3=b_steps[2],
        c_start=c_row + vl // 2,
        c_row=c_row,
        bias_start=vl,
    )
    return walk, a_size, b_size, c_row * (rows + 2)


@needs_jit
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("init", [INIT_ZERO, INIT_LOAD, INIT_BIAS])
def test_numpy_twin_matches_the_compiled_tile(dtype, init):
    rng = np.random.default_rng(init)
    vl = simd.lanes(np.dtype(dtype).itemsize)
    for rows in TILE_ROWS:
        for vectors in TILE_VECTORS:
            fields, a_size, b_size, c_size = _random_walk(rng, rows, vectors, vl)
            walk = TileWalk(init=init, **fields)
            a, b = rng.standard_normal(a_size).astype(dtype), rng.standard_normal(b_size).astype(dtype)
            bias = rng.standard_normal(3 * vl).astype(dtype)
            c_start = rng.standard_normal(c_size).astype(dtype)
            compiled, twin = c_start.copy(), c_start.copy()
            simd.run_tile(rows, vectors, a, b, compiled, bias, walk)
            simd.tile_numpy(rows, vectors, a, b, twin, bias, walk)
            np.testing.assert_allclose(
                compiled,
                twin,
                rtol=TOL[dtype],
                atol=TOL[dtype] * np.abs(twin).max(),
                err_msg=f"rows={rows} vectors={vectors}",
            )
            assert not np.array_equal(twin, c_start)  # the tile wrote something


def _conv_by_numpy_tiles(xp, kernel, strides, dilation, out_hw, vl):
    """``numba_direct._conv_tiles`` with the NumPy twin in place of the compiled tile (same walks)."""
    n, hp, wp, c = xp.shape
    kh, kw, _, f = kernel.shape
    (sh, sw), (dh, dw), (oh, ow) = strides, dilation, out_hw
    xf, kf = xp.reshape(-1), kernel.reshape(-1)
    y = np.zeros(n * oh * ow * f, dtype=xp.dtype)
    for m in range(n):
        for i in range(oh):
            j0 = 0
            while j0 < ow:
                mr = simd._rows_for(ow - j0)
                f0 = 0
                while f0 < f:
                    nv = 2 if f - f0 >= 2 * vl else 1
                    walk = TileWalk(
                        a_start=((m * hp + i * sh) * wp + j0 * sw) * c,
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
                        c_start=((m * oh + i) * ow + j0) * f + f0,
                        c_row=f,
                        init=INIT_ZERO,
                        bias_start=0,
                    )
                    simd.tile_numpy(mr, nv, xf, kf, y, kf, walk, vector_length=vl)
                    f0 += nv * vl
                j0 += mr
    return y.reshape(n, oh, ow, f)


@pytest.mark.parametrize("strides, dilation", [((1, 1), (1, 1)), ((2, 1), (1, 2))])
def test_numpy_tiles_walked_like_the_engine_compute_the_convolution(strides, dilation):
    rng = np.random.default_rng(7)
    vl = simd.lanes(8)
    x = rng.standard_normal((2, 7, 30, 3))
    kernel = rng.standard_normal((3, 3, 3, 3 * vl))  # two vectors, then one: both tile widths
    (oh, ow), pads = reference.conv_geometry((7, 30), (3, 3), strides, dilation, "same")
    y = _conv_by_numpy_tiles(reference.pad_nhwc(x, pads), kernel, strides, dilation, (oh, ow), vl)
    np.testing.assert_allclose(
        y, reference.conv2d_forward_direct(x, kernel, None, strides, pads, dilation), rtol=1e-12, atol=1e-12
    )


def test_unsupported_tile_shape_raises_in_the_twin():
    walk = TileWalk(*([0] * 16))
    c = np.zeros(64)
    with pytest.raises(ValueError, match="unsupported tile shape"):
        simd.tile_numpy(max(TILE_ROWS) + 1, 1, c, c, c, c, walk)
    with pytest.raises(ValueError, match="unsupported tile shape"):
        simd.tile_numpy(TILE_ROWS[0], 3, c, c, c, c, walk)


def test_numpy_twin_refuses_to_write_past_the_end():
    walk = TileWalk(0, 1, 0, 0, 0, 1, 1, 1, 0, 0, 0, 0, 60, 1, INIT_ZERO, 0)
    c = np.zeros(64)
    with pytest.raises(ValueError, match="outside"):
        simd.tile_numpy(1, 1, c, c, c, c, walk, vector_length=8)


@needs_jit
@pytest.mark.parametrize("rows, vectors", [(max(TILE_ROWS) + 1, 1), (3, 1), (TILE_ROWS[0], 3), (1, 0)])
def test_unsupported_tile_shape_raises_in_compiled_code(rows, vectors):
    vl = simd.lanes(8)
    a = np.zeros(64)
    c = np.full(64 * vl, 5.0)
    walk = TileWalk(0, 1, 0, 0, 1, 1, 1, 1, 0, 0, 0, vl, 0, vl, INIT_ZERO, 0)
    with pytest.raises(ValueError, match="unsupported tile shape"):
        simd.run_tile(rows, vectors, a, c, c, c, walk)
    assert np.all(c == 5.0)
