"""The fused Numba kernels (BatchNorm, SGD) against their readable NumPy twins in ``reference``."""

import os
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tinycnn.kernels import numba_elementwise as fast
from tinycnn.kernels import numba_optimizers as fast_updates
from tinycnn.kernels import reference as ref

DTYPES = st.sampled_from([np.float32, np.float64])


def tol(dtype):
    return dict(rtol=2e-5, atol=2e-5) if dtype == np.float32 else dict(rtol=1e-10, atol=1e-12)


@settings(max_examples=25, deadline=None)
@given(st.integers(1, 300), st.integers(1, 40), DTYPES, st.integers(0, 2**31 - 1), st.floats(-50, 50))
def test_batchnorm_forward_and_backward_match_reference(m, c, dtype, seed, loc):
    rng = np.random.default_rng(seed)
    x = (rng.normal(loc, 2.0, size=(m, c))).astype(dtype)
    gamma, beta = rng.normal(size=c).astype(dtype), rng.normal(size=c).astype(dtype)
    out_ref = ref.batchnorm_forward(x, gamma, beta, 1e-3)
    out_fast = fast.batchnorm_forward(x, gamma, beta, 1e-3)
    for a, b in zip(out_fast, out_ref):
        assert a.dtype == b.dtype
        np.testing.assert_allclose(a, b, **tol(dtype))
    dy = rng.normal(size=(m, c)).astype(dtype)
    back_ref = ref.batchnorm_backward(dy, out_ref[1], gamma, out_ref[4])
    back_fast = fast.batchnorm_backward(dy, out_fast[1], gamma, out_fast[4])
    for a, b in zip(back_fast, back_ref):
        assert a.dtype == b.dtype
        np.testing.assert_allclose(a, b, rtol=tol(dtype)["rtol"], atol=tol(dtype)["atol"] * max(1, m))


@settings(max_examples=25, deadline=None)
@given(st.integers(1, 300), st.integers(1, 40), DTYPES, st.integers(0, 2**31 - 1))
def test_batchnorm_inference_matches_reference(m, c, dtype, seed):
    rng = np.random.default_rng(seed)
    x = rng.normal(3.0, 2.0, size=(m, c)).astype(dtype)
    scale, shift = rng.normal(size=c).astype(dtype), rng.normal(size=c).astype(dtype)
    y = fast.batchnorm_inference(x, scale, shift)
    assert y.dtype == np.dtype(dtype) and y.shape == (m, c)
    np.testing.assert_allclose(y, ref.batchnorm_inference(x, scale, shift), **tol(dtype))
    np.testing.assert_allclose(y[:, 0], x[:, 0] * scale[0] + shift[0], **tol(dtype))  # the formula, by hand


@settings(max_examples=25, deadline=None)
@given(st.integers(1, 500), DTYPES, st.floats(0.0, 0.99), st.booleans(), st.integers(0, 2**31 - 1))
def test_sgd_update_matches_reference(n, dtype, momentum, nesterov, seed):
    rng = np.random.default_rng(seed)
    w0, g, v0 = (rng.normal(size=(n,)).astype(dtype) for _ in range(3))
    w_ref, v_ref, w_fast, v_fast = w0.copy(), v0.copy(), w0.copy(), v0.copy()
    for _ in range(3):
        ref.sgd_update(w_ref, g, v_ref, 0.05, momentum, nesterov)
        fast_updates.sgd_update(w_fast, g, v_fast, 0.05, momentum, nesterov)
    np.testing.assert_allclose(w_fast, w_ref, **tol(dtype))
    np.testing.assert_allclose(v_fast, v_ref, **tol(dtype))


def test_batchnorm_statistics_exact_for_large_offsets_float32():
    x = (np.random.default_rng(0).normal(size=(32 * 784, 4)) + 1000.0).astype(np.float32)
    _, _, mean, var, _ = fast.batchnorm_forward(x, np.ones(4, np.float32), np.zeros(4, np.float32), 1e-3)
    exact = x.astype(np.float64)
    np.testing.assert_allclose(mean, exact.mean(axis=0), rtol=1e-12)
    np.testing.assert_allclose(var, exact.var(axis=0), rtol=1e-9)


def test_elementwise_kernels_run_without_jit():
    code = (
        "import numpy as np\n"
        "from tinycnn.kernels import numba_elementwise as f, reference as r\n"
        "x = np.random.default_rng(0).normal(size=(7, 3))\n"
        "g, b = np.ones(3), np.zeros(3)\n"
        "for a, c in zip(f.batchnorm_forward(x, g, b, 1e-3), r.batchnorm_forward(x, g, b, 1e-3)):\n"
        "    assert np.allclose(a, c)\n"
        "assert np.allclose(f.batchnorm_inference(x, g + 1, b + 2), r.batchnorm_inference(x, g + 1, b + 2))\n"
        "print('ok')\n"
    )
    env = dict(os.environ, NUMBA_DISABLE_JIT="1", TINYCNN_BACKEND="reference")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and "ok" in out.stdout, out.stderr


@settings(max_examples=25, deadline=None)
@given(st.integers(1, 2000), DTYPES, st.integers(0, 2**31 - 1))
def test_relu_matches_reference(n, dtype, seed):
    rng = np.random.default_rng(seed)
    z = rng.normal(size=(n,)).astype(dtype)
    z[::7] = 0.0  # the kink: derivative 0, as TensorFlow
    dy = rng.normal(size=(n,)).astype(dtype)
    np.testing.assert_array_equal(fast.relu_forward(z), ref.relu_forward(z))
    np.testing.assert_array_equal(fast.relu_backward(dy, z), ref.relu_backward(dy, z))
    assert fast.relu_backward(dy, z).dtype == dtype


# ------------------------------------------------------------------------------------------------------------
# Updates in place whatever the layout: a transposed or sliced weight (or slot) must be updated, as the
# reference updates it. The Numba sgd_update once wrote into the copy ``reshape(-1)`` makes of such an array
# and left the weight as it was.
# ------------------------------------------------------------------------------------------------------------
def _update_calls(dtype):
    """``{name: (arrays updated in place, call(kernels, *arrays))}`` for every update kernel; each call uses
    the same gradient and hyper-parameters on both backends."""
    g = np.random.default_rng(9).normal(size=(6, 4)).astype(dtype)
    return {
        "sgd plain": (1, lambda k, w, **kw: k.sgd_update(w, g, None, 0.1, 0.0, False, 0.01, **kw)),
        "sgd momentum": (2, lambda k, w, v, **kw: k.sgd_update(w, g, v, 0.1, 0.9, False, 0.0, **kw)),
        "sgd nesterov": (2, lambda k, w, v, **kw: k.sgd_update(w, g, v, 0.1, 0.9, True, 0.01, **kw)),
        "adam": (3, lambda k, w, m, v, **kw: k.adam_update(w, g, m, v, None, 0.01, 0.9, 0.999, 1e-7, 3, 0.0, **kw)),
        "adam amsgrad": (
            4,
            lambda k, w, m, v, vh, **kw: k.adam_update(w, g, m, v, vh, 0.01, 0.9, 0.999, 1e-7, 3, 1e-3, **kw),
        ),
        "adamax": (3, lambda k, w, m, u, **kw: k.adamax_update(w, g, m, u, 0.01, 0.9, 0.999, 1e-7, 2, 0.0, **kw)),
        "nadam": (
            3,
            lambda k, w, m, v, **kw: k.nadam_update(w, g, m, v, 0.01, 0.9, 0.999, 1e-7, 2, 0.8, 0.0, **kw),
        ),
        "rmsprop": (
            2,
            lambda k, w, v, **kw: k.rmsprop_update(w, g, v, None, None, 0.01, 0.9, 0.0, 1e-7, 0.0, **kw),
        ),
        "rmsprop centered momentum": (
            4,
            lambda k, w, v, mom, avg, **kw: k.rmsprop_update(w, g, v, mom, avg, 0.01, 0.9, 0.5, 1e-7, 0.0, **kw),
        ),
        "adagrad": (2, lambda k, w, acc, **kw: k.adagrad_update(w, g, acc, 0.1, 1e-7, 0.0, **kw)),
        "adadelta": (3, lambda k, w, ag, adx, **kw: k.adadelta_update(w, g, ag, adx, 1.0, 0.95, 1e-7, 0.0, **kw)),
    }


def _layouts(values):
    """The same (6, 4) values as a C-contiguous array, a transposed view, and a strided slice of a bigger one."""
    transposed = np.ascontiguousarray(values.T).T  # F-contiguous: reshape(-1) copies
    holder = np.zeros((12, 4), dtype=values.dtype)
    holder[::2] = values
    return {"contiguous": values.copy(), "transposed": transposed, "strided": holder[::2]}


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("layout", ["contiguous", "transposed", "strided"])
def test_every_update_kernel_updates_non_contiguous_arrays_in_place(dtype, layout):
    rng = np.random.default_rng(3)
    for name, (count, call) in _update_calls(dtype).items():
        start = [np.abs(rng.normal(size=(6, 4))).astype(dtype) + 0.1 for _ in range(count)]
        if name == "rmsprop centered momentum":  # keep v - avg_g^2 positive: no NaN to compare
            start[1] += 1
            start[3] *= 0.1
        on_reference = [a.copy() for a in start]
        call(ref, *on_reference)
        on_numba = [_layouts(a)[layout] for a in start]
        assert all(a.flags.c_contiguous == (layout == "contiguous") for a in on_numba)
        call(fast_updates, *on_numba)
        for k, (got, want, before) in enumerate(zip(on_numba, on_reference, start)):
            assert not np.array_equal(want, before), (name, k)  # the step changes every array it owns
            assert np.all(np.isfinite(want)), (name, k)
            np.testing.assert_allclose(got, want, err_msg=f"{name}: array {k} ({layout})", **tol(dtype))


@settings(max_examples=25, deadline=None)
@given(st.lists(st.integers(1, 40), min_size=1, max_size=3), st.integers(1, 70), DTYPES, st.integers(0, 2**31 - 1))
def test_bias_gradient_matches_reference(leading, f, dtype, seed):
    dz = np.random.default_rng(seed).normal(size=(*leading, f)).astype(dtype)
    got = fast.bias_gradient(dz)
    assert got.shape == (f,) and got.dtype == dtype
    rows = dz.astype(np.float64).reshape(-1, f)
    # the engine sums in float64: exact up to the final rounding to dz's dtype
    np.testing.assert_allclose(got, rows.sum(axis=0), rtol=1e-6 if dtype == np.float32 else 1e-12, atol=1e-12)
    # the reference sums in dz's dtype: equal up to that sum's rounding, which grows with the sum of |dz|
    eps = np.finfo(dtype).eps
    np.testing.assert_allclose(got, ref.bias_gradient(dz), rtol=0, atol=8 * eps * np.abs(rows).sum(axis=0).max())


def test_bias_gradient_of_a_conv_layer_is_its_sum_over_batch_and_pixels():
    dz = np.arange(2 * 3 * 4 * 5, dtype=np.float32).reshape(2, 3, 4, 5)
    np.testing.assert_array_equal(fast.bias_gradient(dz), dz.sum(axis=(0, 1, 2)))
    np.testing.assert_array_equal(fast.bias_gradient(dz[:, :, :, 1:4]), dz[..., 1:4].sum(axis=(0, 1, 2)))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("pool", [(2, 2), (3, 2), (1, 3)])
def test_tiled_max_pool_gradient_goes_to_the_first_maximum_even_with_ties_and_nan(dtype, pool):
    """Windows that tile the image take the one-pass route of numba_pool: same cells as the reference's argmax."""
    from tinycnn.kernels import numba_pool

    rng = np.random.default_rng(3)
    x = rng.integers(0, 3, size=(2, 7, 8, 19)).astype(dtype)  # many ties; 7 and 8 not always multiples
    x[0, 0, 1, 2] = np.nan
    x[1, 4, 4, :5] = -np.inf
    args = ("max", pool, pool, (0, 0, 0, 0))
    y = ref.pool2d_forward(x, *args)
    dy = rng.normal(size=y.shape).astype(dtype)
    dy[0, 1, 1, :3] = [np.inf, -np.inf, np.nan]  # a non-finite gradient reaches the winning cell only
    got = numba_pool.pool2d_backward(dy, x, numba_pool.pool2d_forward(x, *args), *args)
    np.testing.assert_array_equal(got, ref.pool2d_backward(dy, x, y, *args))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("layout", ["contiguous", "transposed"])
def test_every_update_kernel_keeps_the_old_values_and_reports_finite_weights(dtype, layout):
    """``keep=``: each kernel copies every array it updates into ``keep(array)`` (the training loop's undo), in
    the same pass on the engine, and returns whether the new weight is finite; a huge step returns False."""
    rng = np.random.default_rng(5)
    for name, (count, call) in _update_calls(dtype).items():
        start = [np.abs(rng.normal(size=(6, 4))).astype(dtype) + 0.1 for _ in range(count)]
        if name == "rmsprop centered momentum":
            start[1] += 1
            start[3] *= 0.1
        for backend in (ref, fast_updates):
            arrays = [_layouts(a)[layout] for a in start]
            buffers = {}

            def keep(a, buffers=buffers):
                buffers[id(a)] = np.full_like(a, np.nan)  # NaN where the kernel forgets to copy
                return buffers[id(a)]

            assert call(backend, *arrays, keep=keep) is True, (name, backend.__name__)
            assert len(buffers) == count, (name, backend.__name__)
            for a, before in zip(arrays, start):
                np.testing.assert_array_equal(buffers[id(a)], before, err_msg=f"{name} {backend.__name__}")
            broken = [a.copy() for a in start]
            broken[0][2, 3] = np.inf  # an infinite weight stays non-finite after any update
            with np.errstate(invalid="ignore", over="ignore"):  # inf - inf in the reference
                assert call(backend, *broken) is False, (name, backend.__name__)
            assert call(backend, *[a.copy() for a in start]) is True, (name, backend.__name__)
