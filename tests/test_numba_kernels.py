"""The Numba engine computes the same numbers as the readable reference kernels.

Every kernel of :mod:`tinycnn.kernels.numba_kernels` is compared with its twin in
:mod:`tinycnn.kernels.reference` on random shapes, strides, dilations and paddings (Hypothesis), in float32
and float64. Two implementations of ours agreeing proves nothing about the math itself (the Keras parity
tests do that); these tests prove the fast engine is a faithful copy of the textbook one.

The convolutions have two routes (``tinycnn.kernels.use(route=...)``): direct register tiles
(:mod:`tinycnn.kernels.simd`) where the output channels are whole vectors, im2col + BLAS elsewhere. The random
cases run under both.

Tolerances: the two sides sum the same products in different orders (BLAS blocking, chunks), so they
differ by rounding only. We allow ``rtol`` plus an ``atol`` relative to the largest value of the result
(an element that cancels to ~0 carries the rounding error of its large terms).
"""

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tinycnn import kernels
from tinycnn.kernels import numba_kernels, reference, simd

REPO = Path(__file__).resolve().parents[1]
RTOL = {np.float32: 1e-5, np.float64: 1e-12}
SETTINGS = settings(max_examples=25, deadline=None)
ROUTES = ["direct", "im2col"]
needs_jit = pytest.mark.skipif(not simd.enabled(), reason="the direct route is compiled LLVM IR")


def route(name, scratch_bytes=None):
    """Run the convolutions on one route: ``"direct"`` (where it applies) or ``"im2col"`` (everywhere)."""
    return kernels.use("numba", route=name, scratch_bytes=scratch_bytes)


def assert_close(actual, expected, dtype):
    """Same shape, same dtype, values equal up to rounding (see module docstring)."""
    assert actual.shape == expected.shape
    assert actual.dtype == expected.dtype == np.dtype(dtype)
    rtol = RTOL[dtype]
    scale = float(np.max(np.abs(expected))) if expected.size else 0.0
    np.testing.assert_allclose(actual, expected, rtol=rtol, atol=rtol * max(scale, 1e-30))


# ----------------------------------------------------------------------------------------------------
# Convolution
# ----------------------------------------------------------------------------------------------------
@st.composite
def conv_cases(draw):
    """A convolution problem: arrays, strides, pads, dilation. Channels cross the slice-copy threshold."""
    dtype = draw(st.sampled_from([np.float32, np.float64]))
    kh, kw = draw(st.integers(1, 4)), draw(st.integers(1, 4))  # includes even kernels
    # Stride 1 twice as likely: it takes the gather path of the input gradient, other strides col2im.
    strides = draw(st.sampled_from([(1, 1), (1, 1), (1, 2), (2, 1), (2, 2), (3, 3)]))
    dilation = draw(st.sampled_from([(1, 1), (1, 1), (2, 1), (1, 2), (2, 2)]))
    padding = draw(st.sampled_from(["valid", "same"]))
    k_eff = ((kh - 1) * dilation[0] + 1, (kw - 1) * dilation[1] + 1)
    lo = k_eff if padding == "valid" else (1, 1)  # "valid" needs the window to fit
    h = draw(st.integers(lo[0], lo[0] + 8))
    w = draw(st.integers(lo[1], lo[1] + 8))
    n = draw(st.integers(1, 3))
    # < 8 and >= 8: both copy paths of the gathers; multiples of 16 (8 in float64): the direct route,
    # with one or two vectors per tile (48 = 2 + 1 vectors of 16).
    c = draw(st.sampled_from([1, 3, 8, 11, 16, 32]))
    f = draw(st.sampled_from([1, 4, 8, 13, 16, 32, 48]))
    (oh, ow), pads = reference.conv_geometry((h, w), (kh, kw), strides, dilation, padding)
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    x = rng.standard_normal((n, h, w, c)).astype(dtype)
    kernel = rng.standard_normal((kh, kw, c, f)).astype(dtype)
    bias = draw(st.sampled_from([None, rng.standard_normal(f).astype(dtype)]))
    dy = rng.standard_normal((n, oh, ow, f)).astype(dtype)
    return dtype, x, kernel, bias, dy, strides, pads, dilation


@pytest.mark.parametrize("path", ROUTES)
@SETTINGS
@given(case=conv_cases())
def test_conv2d_forward_matches_reference(path, case):
    dtype, x, kernel, bias, _, strides, pads, dilation = case
    expected = reference.conv2d_forward(x, kernel, bias, strides, pads, dilation)
    with route(path):
        actual = numba_kernels.conv2d_forward(x, kernel, bias, strides, pads, dilation)
    assert_close(actual, expected, dtype)


@pytest.mark.parametrize("path", ROUTES)
@SETTINGS
@given(case=conv_cases())
def test_conv2d_backward_input_matches_reference(path, case):
    dtype, x, kernel, _, dy, strides, pads, dilation = case
    expected = reference.conv2d_backward_input(dy, kernel, x.shape, strides, pads, dilation)
    with route(path):
        actual = numba_kernels.conv2d_backward_input(dy, kernel, x.shape, strides, pads, dilation)
    assert_close(actual, expected, dtype)


@pytest.mark.parametrize("path", ROUTES)
@SETTINGS
@given(case=conv_cases())
def test_conv2d_backward_kernel_matches_reference(path, case):
    dtype, x, kernel, _, dy, strides, pads, dilation = case
    expected = reference.conv2d_backward_kernel(dy, x, kernel.shape, strides, pads, dilation)
    with route(path):
        actual = numba_kernels.conv2d_backward_kernel(dy, x, kernel.shape, strides, pads, dilation)
    assert_close(actual, expected, dtype)


@pytest.mark.parametrize("path", ROUTES)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("c, f", [(1, 8), (8, 8), (8, 16), (16, 12), (1, 32), (32, 32), (32, 64), (64, 64)])
def test_conv2d_course_shapes_match_reference(path, dtype, c, f):
    """The shapes the course trains (3x3, "same", stride 1), small: both input-gradient routes (F <= C
    gathers, F > C scatters) and both copy paths (C < 8 element loops, C >= 8 slices)."""
    rng = np.random.default_rng(c * f)
    x = rng.standard_normal((3, 10, 10, c)).astype(dtype)
    kernel = rng.standard_normal((3, 3, c, f)).astype(dtype)
    bias = rng.standard_normal(f).astype(dtype)
    dy = rng.standard_normal((3, 10, 10, f)).astype(dtype)
    args = ((1, 1), (1, 1, 1, 1), (1, 1))
    with route(path):
        assert_close(
            numba_kernels.conv2d_forward(x, kernel, bias, *args),
            reference.conv2d_forward(x, kernel, bias, *args),
            dtype,
        )
        assert_close(
            numba_kernels.conv2d_backward_input(dy, kernel, x.shape, *args),
            reference.conv2d_backward_input(dy, kernel, x.shape, *args),
            dtype,
        )
        assert_close(
            numba_kernels.conv2d_backward_kernel(dy, x, kernel.shape, *args),
            reference.conv2d_backward_kernel(dy, x, kernel.shape, *args),
            dtype,
        )


@needs_jit
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_course_convolutions_take_the_direct_route(dtype):
    """The course's layers (32 and 64 filters) must not silently fall back to im2col: it is 2-3x slower."""
    rng = np.random.default_rng(5)
    x = rng.standard_normal((2, 14, 14, 32)).astype(dtype)
    kernel = rng.standard_normal((3, 3, 32, 64)).astype(dtype)
    dy = rng.standard_normal((2, 14, 14, 64)).astype(dtype)
    args = ((1, 1), (1, 1, 1, 1), (1, 1))
    calls = {
        "conv2d_forward": lambda: numba_kernels.conv2d_forward(x, kernel, None, *args),
        "conv2d_backward_input": lambda: numba_kernels.conv2d_backward_input(dy, kernel, x.shape, *args),
        "conv2d_backward_kernel": lambda: numba_kernels.conv2d_backward_kernel(dy, x, kernel.shape, *args),
    }
    for name, call in calls.items():
        call()
        info = numba_kernels.buffer_info()
        assert (info["kernel"], info["route"]) == (name, "direct")


def test_direct_route_is_off_without_the_jit_or_when_switched_off():
    """``TINYCNN_DIRECT=0`` selects im2col everywhere (a fresh interpreter reads it at import)."""
    script = (
        "import numpy as np; from tinycnn.kernels import numba_kernels as nk; assert not nk.DIRECT; "
        "x = np.ones((1, 4, 4, 16), np.float32); k = np.ones((3, 3, 16, 16), np.float32); "
        "nk.conv2d_forward(x, k, None, (1, 1), (1, 1, 1, 1), (1, 1)); "
        "assert nk.buffer_info()['route'] == 'im2col'"
    )
    env = {**os.environ, "TINYCNN_DIRECT": "0"}
    subprocess.run([sys.executable, "-c", script], check=True, env=env, cwd=REPO)


def test_conv2d_accepts_non_contiguous_inputs():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 6, 5, 9)).transpose(0, 2, 1, 3)  # a strided view
    kernel = rng.standard_normal((3, 3, 9, 8))[::-1]
    dy = rng.standard_normal((2, 5, 6, 8))[..., ::-1]
    args = ((1, 1), (1, 1, 1, 1), (1, 1))
    assert_close(
        numba_kernels.conv2d_forward(x, kernel, None, *args),
        reference.conv2d_forward(x, kernel, None, *args),
        np.float64,
    )
    assert_close(
        numba_kernels.conv2d_backward_input(dy, kernel, x.shape, *args),
        reference.conv2d_backward_input(dy, kernel, x.shape, *args),
        np.float64,
    )
    assert_close(
        numba_kernels.conv2d_backward_kernel(dy, x, kernel.shape, *args),
        reference.conv2d_backward_kernel(dy, x, kernel.shape, *args),
        np.float64,
    )


# ----------------------------------------------------------------------------------------------------
# Pooling
# ----------------------------------------------------------------------------------------------------
@st.composite
def pool_cases(draw):
    """A pooling problem whose input has no ties (distinct values), so max-pool's winner is unique."""
    dtype = draw(st.sampled_from([np.float32, np.float64]))
    mode = draw(st.sampled_from(["max", "avg", "l2"]))
    pool = draw(st.sampled_from([(1, 1), (2, 2), (3, 3), (2, 3), (3, 1)]))
    strides = draw(st.sampled_from([(1, 1), (2, 2), (1, 2), (3, 3)]))  # includes overlap: pool 3, stride 2
    padding = draw(st.sampled_from(["valid", "same"]))
    h = draw(st.integers(pool[0], pool[0] + 7))
    w = draw(st.integers(pool[1], pool[1] + 7))
    n, c = draw(st.integers(1, 3)), draw(st.sampled_from([1, 3, 8, 17]))
    _, pads = reference.conv_geometry((h, w), pool, strides, (1, 1), padding)
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    x = (rng.permutation(n * h * w * c).reshape(n, h, w, c) - n * h * w * c / 2).astype(dtype) / 7.0
    return dtype, x, mode, pool, strides, pads, rng


@SETTINGS
@given(pool_cases())
def test_pool2d_forward_and_backward_match_reference(case):
    dtype, x, mode, pool, strides, pads, rng = case
    y = reference.pool2d_forward(x, mode, pool, strides, pads)
    assert_close(numba_kernels.pool2d_forward(x, mode, pool, strides, pads), y, dtype)
    dy = rng.standard_normal(y.shape).astype(dtype)
    expected = reference.pool2d_backward(dy, x, y, mode, pool, strides, pads)
    assert_close(numba_kernels.pool2d_backward(dy, x, y, mode, pool, strides, pads), expected, dtype)


def test_max_pool_ties_go_to_the_first_maximum_like_the_reference():
    x = np.zeros((1, 5, 5, 2))
    x[0, 1:3, 1:3, 1] = 4.0  # a 2x2 plateau of equal maxima, inside overlapping 3x3 windows
    dy = np.arange(1.0, 9.0).reshape(1, 2, 2, 2)
    args = ("max", (3, 3), (2, 2), (0, 0, 0, 0))
    y = reference.pool2d_forward(x, *args)
    np.testing.assert_array_equal(numba_kernels.pool2d_forward(x, *args), y)
    np.testing.assert_array_equal(
        numba_kernels.pool2d_backward(dy, x, y, *args), reference.pool2d_backward(dy, x, y, *args)
    )


def test_l2_pool_gradient_is_zero_where_the_window_is_zero():
    x = np.zeros((1, 4, 4, 1))
    x[0, 2:, 2:, 0] = [[1.0, 2.0], [2.0, 4.0]]
    args = ("l2", (2, 2), (2, 2), (0, 0, 0, 0))
    y = reference.pool2d_forward(x, *args)
    dy = np.ones_like(y)
    dx = numba_kernels.pool2d_backward(dy, x, y, *args)
    np.testing.assert_allclose(dx, reference.pool2d_backward(dy, x, y, *args), rtol=1e-12)
    assert np.all(dx[0, :2, :2] == 0.0)


def test_pool2d_rejects_unknown_mode():
    with pytest.raises(ValueError, match="unknown pooling mode"):
        numba_kernels.pool2d_forward(np.zeros((1, 2, 2, 1)), "median", (2, 2), (2, 2), (0, 0, 0, 0))


# ----------------------------------------------------------------------------------------------------
# The im2col scratch buffer stays bounded, and results never alias it
# ----------------------------------------------------------------------------------------------------
def test_large_batch_is_processed_in_bounded_chunks():
    """A batch whose im2col matrix exceeds the limit is cut into chunks no bigger than the limit."""
    limit = numba_kernels.IM2COL_LIMIT_BYTES
    per_image = 12 * 12 * 3 * 3 * 8 * 4  # rows (OH*OW) x width (KH*KW*C) x float32
    n = 2 * (limit // per_image) + 3  # more than twice the limit
    rng = np.random.default_rng(1)
    x = rng.standard_normal((n, 12, 12, 8)).astype(np.float32)
    kernel = rng.standard_normal((3, 3, 8, 8)).astype(np.float32)
    args = ((1, 1), (1, 1, 1, 1), (1, 1))
    with route("im2col"):
        y = numba_kernels.conv2d_forward(x, kernel, None, *args)
    info = numba_kernels.buffer_info()
    assert info["kernel"] == "conv2d_forward" and info["lines"] == n * 12  # rows (n, i) of the output
    assert info["chunks"] >= 3
    assert info["chunk_bytes"] <= limit
    assert all(size <= limit for size in info["scratch_bytes"].values())
    assert_close(y, reference.conv2d_forward(x, kernel, None, *args), np.float32)


@pytest.mark.parametrize("strides", [(1, 1), (2, 2)])  # (2, 2): the col2im path of the input gradient
def test_every_conv_kernel_chunks_under_a_small_limit(strides):
    rng = np.random.default_rng(2)
    x = rng.standard_normal((5, 6, 6, 8))
    kernel = rng.standard_normal((3, 3, 8, 9))
    (oh, ow), pads = reference.conv_geometry((6, 6), (3, 3), strides, (1, 1), "same")
    dy = rng.standard_normal((5, oh, ow, 9))
    calls = {
        "conv2d_forward": lambda m: m.conv2d_forward(x, kernel, None, strides, pads, (1, 1)),
        "conv2d_backward_input": lambda m: m.conv2d_backward_input(dy, kernel, x.shape, strides, pads, (1, 1)),
        "conv2d_backward_kernel": lambda m: m.conv2d_backward_kernel(dy, x, kernel.shape, strides, pads, (1, 1)),
    }
    for name, call in calls.items():
        with route("im2col", scratch_bytes=4096):
            actual = call(numba_kernels)
        info = numba_kernels.buffer_info()
        assert info["kernel"] == name and info["limit_bytes"] == 4096
        gathers_dx_rows = name == "conv2d_backward_input" and strides == (1, 1)  # the "full"-convolution path
        lines, width = (5 * 6, 6) if gathers_dx_rows else (5 * oh, ow)  # image rows and pixels per row
        per_chunk = 4096 // (width * 3 * 3 * 8 * 8)  # rows whose (pixels, KH*KW*channels) float64 matrix fits
        assert info["lines"] == lines and info["chunk_lines"] == per_chunk
        assert info["chunks"] == -(-lines // per_chunk) >= 2 and info["chunk_bytes"] <= 4096
        assert_close(actual, call(reference), np.float64)


@needs_jit
@pytest.mark.parametrize("strides", [(1, 1), (2, 2)])
def test_direct_route_pads_in_bounded_chunks(strides):
    """The direct route's only temporary, the zero-padded copy of the images, is cut into chunks too."""
    rng = np.random.default_rng(4)
    x = rng.standard_normal((7, 6, 6, 16)).astype(np.float32)
    kernel = rng.standard_normal((3, 3, 16, 16)).astype(np.float32)
    (oh, ow), pads = reference.conv_geometry((6, 6), (3, 3), strides, (1, 1), "same")
    dy = rng.standard_normal((7, oh, ow, 16)).astype(np.float32)
    padded_image = 8 * 8 * 16 * 4  # (6 + 2) x (6 + 2) pixels x 16 channels x float32 (x, or dy at stride 1)
    if strides == (2, 2):  # "same" at stride 2 pads 6 -> 7 (0 before, 1 after)
        padded_image = 7 * 7 * 16 * 4
    calls = {
        "conv2d_forward": lambda m: m.conv2d_forward(x, kernel, None, strides, pads, (1, 1)),
        "conv2d_backward_kernel": lambda m: m.conv2d_backward_kernel(dy, x, kernel.shape, strides, pads, (1, 1)),
    }
    if strides == (1, 1):
        calls["conv2d_backward_input"] = lambda m: m.conv2d_backward_input(dy, kernel, x.shape, strides, pads, (1, 1))
    for name, call in calls.items():
        with route("direct", scratch_bytes=3 * padded_image):
            actual = call(numba_kernels)
        info = numba_kernels.buffer_info()
        assert (info["kernel"], info["route"], info["images"]) == (name, "direct", 7)
        assert info["chunk_images"] == 3 and info["chunks"] == 3 and info["chunk_bytes"] == 3 * padded_image
        assert all(size <= 3 * padded_image for size in info["scratch_bytes"].values())
        assert_close(actual, call(reference), np.float32)


def test_results_do_not_alias_the_scratch_buffer():
    rng = np.random.default_rng(3)
    x1, x2 = rng.standard_normal((2, 2, 5, 5, 8))
    kernel = rng.standard_normal((3, 3, 8, 8))
    args = ((1, 1), (1, 1, 1, 1), (1, 1))
    y1 = numba_kernels.conv2d_forward(x1, kernel, None, *args)
    kept = y1.copy()
    numba_kernels.conv2d_forward(x2, kernel, None, *args)
    numba_kernels.conv2d_backward_input(y1, kernel, x1.shape, *args)
    np.testing.assert_array_equal(y1, kept)


# ----------------------------------------------------------------------------------------------------
# The same code runs as plain Python (NUMBA_DISABLE_JIT=1), e.g. under a debugger
# ----------------------------------------------------------------------------------------------------
_PURE_PYTHON_SCRIPT = textwrap.dedent("""
    import numba
    import numpy as np
    assert numba.config.DISABLE_JIT
    from tinycnn.kernels import numba_kernels as nk, numba_im2col, reference as ref
    assert not hasattr(numba_im2col.im2col_kernel, "py_func")  # really the plain Python function
    assert not nk.DIRECT  # the tiles are LLVM IR: without the JIT the engine takes the im2col route
    rng = np.random.default_rng(0)
    def close(a, b):
        assert a.shape == b.shape and a.dtype == b.dtype, (a.shape, b.shape, a.dtype, b.dtype)
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12 * np.abs(b).max())
    for c, f, strides in [(3, 2, (1, 1)), (8, 8, (1, 1)), (2, 3, (1, 1)), (8, 9, (2, 1))]:
        (oh, ow), pads = ref.conv_geometry((5, 4), (3, 2), strides, (1, 1), "same")
        x = rng.standard_normal((2, 5, 4, c)); kernel = rng.standard_normal((3, 2, c, f))
        bias = rng.standard_normal(f); dy = rng.standard_normal((2, oh, ow, f))
        a = (strides, pads, (1, 1))
        close(nk.conv2d_forward(x, kernel, bias, *a), ref.conv2d_forward(x, kernel, bias, *a))
        close(nk.conv2d_backward_input(dy, kernel, x.shape, *a), ref.conv2d_backward_input(dy, kernel, x.shape, *a))
        close(nk.conv2d_backward_kernel(dy, x, kernel.shape, *a), ref.conv2d_backward_kernel(dy, x, kernel.shape, *a))
    x = rng.permutation(2 * 5 * 5 * 3).reshape(2, 5, 5, 3) / 3.0
    for mode in ("max", "avg", "l2"):
        _, pads = ref.conv_geometry((5, 5), (3, 3), (2, 2), (1, 1), "same")
        y = ref.pool2d_forward(x, mode, (3, 3), (2, 2), pads)
        close(nk.pool2d_forward(x, mode, (3, 3), (2, 2), pads), y)
        dy = rng.standard_normal(y.shape)
        a = (mode, (3, 3), (2, 2), pads)
        close(nk.pool2d_backward(dy, x, y, *a), ref.pool2d_backward(dy, x, y, *a))
    print("ok")
""")


def test_kernels_run_as_plain_python_with_jit_disabled():
    env = dict(os.environ, NUMBA_DISABLE_JIT="1", PYTHONPATH=str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    done = subprocess.run(
        [sys.executable, "-c", _PURE_PYTHON_SCRIPT], env=env, cwd=REPO, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.strip() == "ok"


def test_output_dtypes_follow_the_reference_for_mixed_inputs():
    rng = np.random.default_rng(4)
    x = rng.standard_normal((2, 5, 5, 8)).astype(np.float32)
    kernel = rng.standard_normal((3, 3, 8, 8))  # float64
    dy = rng.standard_normal((2, 5, 5, 8)).astype(np.float32)
    args = ((1, 1), (1, 1, 1, 1), (1, 1))
    pairs = [
        (numba_kernels.conv2d_forward(x, kernel, None, *args), reference.conv2d_forward(x, kernel, None, *args)),
        (
            numba_kernels.conv2d_backward_input(dy, kernel, x.shape, *args),
            reference.conv2d_backward_input(dy, kernel, x.shape, *args),
        ),
        (
            numba_kernels.conv2d_backward_kernel(dy, x.astype(np.float64), kernel.shape, *args),
            reference.conv2d_backward_kernel(dy, x.astype(np.float64), kernel.shape, *args),
        ),
    ]
    for actual, expected in pairs:
        assert actual.dtype == expected.dtype
        np.testing.assert_allclose(actual, expected, rtol=1e-5, atol=1e-5 * np.abs(expected).max())


# ----------------------------------------------------------------------------------------------------
# Which BLAS kernels the GEMMs run on (the benchmarks record it)
# ----------------------------------------------------------------------------------------------------
def _cpu_flags():
    try:
        with open("/proc/cpuinfo") as f:
            return next((set(line.split(":", 1)[1].split()) for line in f if line.startswith("flags")), set())
    except OSError:
        return set()


@pytest.mark.skipif("avx2" not in _cpu_flags(), reason="forcing OpenBLAS's Haswell kernels needs AVX2")
@pytest.mark.parametrize("coretype, expected", [("Haswell", "Haswell"), ("SKYLAKEX", "SkylakeX")])
def test_blas_info_reports_the_openblas_kernels_in_use(coretype, expected):
    if expected == "SkylakeX" and not {"avx512f", "avx512bw", "avx512dq", "avx512vl", "avx512cd"} <= _cpu_flags():
        pytest.skip("OpenBLAS's SkylakeX kernels need AVX-512")
    pytest.importorskip("threadpoolctl")
    code = "import json, tinycnn.kernels as k; print(json.dumps(k.blas_info()))"
    env = dict(os.environ, OPENBLAS_CORETYPE=coretype)
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120, cwd=REPO)
    assert out.returncode == 0, out.stderr
    import json

    info = json.loads(out.stdout.strip().splitlines()[-1])
    assert info["OPENBLAS_CORETYPE"] == coretype
    assert info["openblas_coretype"] == expected
    assert info["blas_threads"] >= 1


# ----------------------------------------------------------------------------------------------------
# Dense: the matrix products by tiles (columns padded to whole vectors), or BLAS with DIRECT off
# ----------------------------------------------------------------------------------------------------
@st.composite
def dense_cases(draw):
    dtype = draw(st.sampled_from([np.float32, np.float64]))
    n = draw(st.sampled_from([0, 1, 3, 14, 15, 32, 33]))  # row bands of 14: whole, partial, empty
    d_in = draw(st.sampled_from([0, 1, 5, 64, 100]))
    units = draw(st.sampled_from([1, 10, 16, 32, 48, 512]))  # padded to vectors or not, 1 or 2 per tile
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    x = rng.standard_normal((n, d_in)).astype(dtype)
    kernel = rng.standard_normal((d_in, units)).astype(dtype)
    bias = draw(st.sampled_from([None, rng.standard_normal(units).astype(dtype)]))
    dz = rng.standard_normal((n, units)).astype(dtype)
    return dtype, x, kernel, bias, dz


@pytest.mark.parametrize("path", ROUTES)
@SETTINGS
@given(case=dense_cases())
def test_dense_kernels_match_reference(path, case):
    dtype, x, kernel, bias, dz = case
    with route(path):
        forward = numba_kernels.dense_forward(x, kernel, bias)
        d_input = numba_kernels.dense_backward_input(dz, kernel)
        d_kernel = numba_kernels.dense_backward_kernel(dz, x)
    assert_close(forward, reference.dense_forward(x, kernel, bias), dtype)
    assert_close(d_input, reference.dense_backward_input(dz, kernel), dtype)
    assert_close(d_kernel, reference.dense_backward_kernel(dz, x), dtype)
    assert d_input.flags.c_contiguous and forward.flags.c_contiguous


_NARROW_VECTORS_SCRIPT = textwrap.dedent("""
    import importlib.util, sys
    import numpy as np
    # Load simd.py on its own and narrow its vectors before tinycnn's kernels are imported and compiled.
    spec = importlib.util.spec_from_file_location("tinycnn.kernels.simd", sys.argv[1])
    simd = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(simd)
    simd.VECTOR_BYTES, simd.TILE_ROWS = 32, (6, 4, 2, 1)   # what an AVX2 CPU gets
    sys.modules["tinycnn.kernels.simd"] = simd
    from tinycnn.kernels import numba_kernels as nk, reference as ref
    assert nk.simd.VECTOR_BYTES == 32
    rng = np.random.default_rng(0)
    def close(a, b, dtype):
        assert a.shape == b.shape and a.dtype == b.dtype
        tol = 1e-5 if dtype == np.float32 else 1e-12
        np.testing.assert_allclose(a, b, rtol=tol, atol=tol * np.abs(b).max())
    for dtype in (np.float32, np.float64):
        for n, h, w, c, f, s, padding in [(2, 9, 11, 8, 16, 1, "same"), (2, 10, 13, 16, 24, 2, "same"),
                                          (1, 7, 9, 32, 8, 1, "valid")]:
            (oh, ow), pads = ref.conv_geometry((h, w), (3, 3), (s, s), (1, 1), padding)
            x = rng.standard_normal((n, h, w, c)).astype(dtype)
            kernel = rng.standard_normal((3, 3, c, f)).astype(dtype)
            bias = rng.standard_normal(f).astype(dtype)
            dy = rng.standard_normal((n, oh, ow, f)).astype(dtype)
            a = ((s, s), pads, (1, 1))
            close(nk.conv2d_forward(x, kernel, bias, *a), ref.conv2d_forward(x, kernel, bias, *a), dtype)
            assert nk.buffer_info()["route"] == "direct"   # f = 8, 16, 24: whole 32-byte vectors
            close(nk.conv2d_backward_kernel(dy, x, kernel.shape, *a),
                  ref.conv2d_backward_kernel(dy, x, kernel.shape, *a), dtype)
            close(nk.conv2d_backward_input(dy, kernel, x.shape, *a),
                  ref.conv2d_backward_input(dy, kernel, x.shape, *a), dtype)
            w2 = rng.standard_normal((h * w * c, f)).astype(dtype)
            close(nk.dense_forward(x.reshape(n, -1), w2, bias), ref.dense_forward(x.reshape(n, -1), w2, bias), dtype)
    print("ok")
""")


@needs_jit
def test_tiles_are_right_with_narrower_vectors(tmp_path):
    """A CPU without AVX-512 compiles the tiles with 32-byte vectors and 6-row tiles (``simd.VECTOR_BYTES``):
    the same kernels, compiled that way here (in a fresh process with its own Numba cache), still match the
    reference -- including F = 8 and 24, which take the direct route only with 8-float vectors."""
    env = {**os.environ, "NUMBA_CACHE_DIR": str(tmp_path / "numba-cache")}
    env.pop("TINYCNN_DIRECT", None)
    out = subprocess.run(
        [sys.executable, "-c", _NARROW_VECTORS_SCRIPT, str(REPO / "tinycnn" / "kernels" / "simd.py")],
        capture_output=True,
        text=True,
        env=env,
        cwd=REPO,
    )
    assert out.returncode == 0 and out.stdout.strip().endswith("ok"), out.stderr[-3000:]
