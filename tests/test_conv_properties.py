"""Hand-computed convolution and pooling cases, and Hypothesis properties of the layers."""

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from tinycnn.kernels import conv_geometry
from tinycnn.layers import AveragePooling2D, BatchNormalization, Conv2D, Dropout, L2Pooling2D, MaxPooling2D

SETTINGS = settings(max_examples=30, deadline=None)


def conv_layer(kernel, bias=None, **kwargs):
    kh, kw, c, f = kernel.shape
    layer = Conv2D(f, (kh, kw), use_bias=bias is not None, dtype="float64", **kwargs)
    layer.build((None, None, None, c))
    layer.set_weights([kernel] if bias is None else [kernel, bias])
    return layer


def test_spike_detector_1d():
    """A 1-D signal as a 1 x W image; the kernel is the pattern it looks for, [-1, 2, -1]."""
    signal = np.zeros(9)
    signal[4] = 1.0  # one spike
    layer = conv_layer(np.array([-1.0, 2.0, -1.0]).reshape(1, 3, 1, 1))
    response = layer.forward(signal.reshape(1, 1, 9, 1))[0, 0, :, 0]
    # windows start at 0..6; the window starting at 3 is centred on the spike
    np.testing.assert_array_equal(response, [0, 0, -1, 2, -1, 0, 0])
    assert int(np.argmax(response)) + 1 == 4  # the peak sits at the spike (offset by the kernel's centre)


def test_edge_kernel_3x3_on_5x5_image():
    image = np.array([[0, 0, 0, 9, 9], [0, 0, 0, 9, 9], [0, 0, 0, 9, 9], [0, 0, 0, 9, 9], [0, 0, 0, 9, 9]], dtype=float)
    sobel_x = np.array([[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]], dtype=float)
    layer = conv_layer(sobel_x.reshape(3, 3, 1, 1), bias=np.array([1.0]))
    out = layer.forward(image.reshape(1, 5, 5, 1))[0, :, :, 0]
    # by hand: windows over columns 0-2 see no edge (0); 1-3 and 2-4 see the 0 -> 9 step: (9+18+9) = 36
    expected = np.array([[0, 36, 36]] * 3) + 1.0
    np.testing.assert_array_equal(out, expected)
    same = conv_layer(sobel_x.reshape(3, 3, 1, 1), padding="same").forward(image.reshape(1, 5, 5, 1))[0, :, :, 0]
    # "same": zero padding; the top row misses the row above: (0*... ) -> 9 + 18 = 27 at column 2
    np.testing.assert_array_equal(same[0], [0, 0, 27, 27, -27])
    np.testing.assert_array_equal(same[2], [0, 0, 36, 36, -36])


def test_same_padding_follows_tensorflow():
    assert conv_geometry((28, 28), (3, 3), (1, 1), (1, 1), "same") == ((28, 28), (1, 1, 1, 1))
    assert conv_geometry((5, 6), (2, 2), (2, 2), (1, 1), "same") == ((3, 3), (0, 1, 0, 0))
    assert conv_geometry((7, 7), (4, 4), (1, 1), (1, 1), "same") == ((7, 7), (1, 2, 1, 2))
    assert conv_geometry((7, 7), (3, 3), (1, 1), (2, 2), "same") == ((7, 7), (2, 2, 2, 2))
    assert conv_geometry((7, 8), (3, 3), (3, 3), (1, 1), "valid") == ((2, 2), (0, 0, 0, 0))


def test_max_pool_ties_go_to_the_first_maximum():
    x = np.array([[1.0, 1.0], [1.0, 0.0]]).reshape(1, 2, 2, 1)
    layer = MaxPooling2D(dtype="float64")
    layer.forward(x)
    dx = layer.backward(np.ones((1, 1, 1, 1)))
    np.testing.assert_array_equal(dx[0, :, :, 0], [[1, 0], [0, 0]])


def test_overlapping_max_pool_routes_to_shared_winner_twice():
    x = np.array(
        [[0, 0, 0, 0, 0], [0, 0, 0, 0, 0], [0, 0, 9, 0, 0], [0, 0, 0, 0, 0], [0, 0, 0, 0, 0]], dtype=float
    ).reshape(1, 5, 5, 1)
    layer = MaxPooling2D(pool_size=3, strides=2, dtype="float64")
    y = layer.forward(x)
    assert y.shape == (1, 2, 2, 1) and np.all(y == 9)  # the centre pixel wins all four windows
    dx = layer.backward(np.array([1.0, 2.0, 3.0, 4.0]).reshape(1, 2, 2, 1))
    assert dx[0, 2, 2, 0] == 10 and dx.sum() == 10


def test_same_average_pool_ignores_padding():
    x = np.ones((1, 3, 3, 1))
    y = AveragePooling2D(pool_size=2, padding="same", dtype="float64").forward(x)
    np.testing.assert_array_equal(y[0, :, :, 0], np.ones((2, 2)))  # not 0.5 / 0.25 at the border


def test_l2_pool_of_zeros_has_zero_gradient():
    layer = L2Pooling2D(dtype="float64")
    layer.forward(np.zeros((1, 2, 2, 1)))
    assert np.all(layer.backward(np.ones((1, 1, 1, 1))) == 0)


@st.composite
def conv_setup(draw):
    h, w = draw(st.integers(3, 12)), draw(st.integers(3, 12))
    kh, kw = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    padding = draw(st.sampled_from(["valid", "same"]))
    dilate = draw(st.booleans())
    strides = (1, 1) if dilate else (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    dilation = (draw(st.integers(1, 2)), draw(st.integers(1, 2))) if dilate else (1, 1)
    if padding == "valid" and ((kh - 1) * dilation[0] + 1 > h or (kw - 1) * dilation[1] + 1 > w):
        padding = "same"
    return h, w, kh, kw, strides, dilation, padding


@SETTINGS
@given(conv_setup(), st.integers(1, 3), st.integers(1, 4))
def test_conv_output_shape(setup, c, f):
    h, w, kh, kw, strides, dilation, padding = setup
    layer = Conv2D(f, (kh, kw), strides=strides, dilation_rate=dilation, padding=padding, dtype="float64")
    layer.build((None, h, w, c))
    y = layer.forward(np.random.default_rng(0).normal(size=(2, h, w, c)))
    keh, kew = (kh - 1) * dilation[0] + 1, (kw - 1) * dilation[1] + 1
    if padding == "same":
        expected = (2, -(-h // strides[0]), -(-w // strides[1]), f)
    else:
        expected = (2, (h - keh) // strides[0] + 1, (w - kew) // strides[1] + 1, f)
    assert y.shape == expected == layer.compute_output_shape((2, h, w, c))


@SETTINGS
@given(
    st.integers(4, 12),
    st.integers(4, 12),
    st.integers(1, 3),
    st.integers(1, 3),
    st.sampled_from(["valid", "same"]),
    st.sampled_from([MaxPooling2D, AveragePooling2D, L2Pooling2D]),
)
def test_pool_output_shape(h, w, p, s, padding, cls):
    layer = cls(pool_size=p, strides=s, padding=padding, dtype="float64")
    layer.build((None, h, w, 2))
    y = layer.forward(np.random.default_rng(0).normal(size=(1, h, w, 2)))
    expected = (1, -(-h // s), -(-w // s), 2) if padding == "same" else (1, (h - p) // s + 1, (w - p) // s + 1, 2)
    assert y.shape == expected == layer.compute_output_shape((1, h, w, 2))


@SETTINGS
@given(st.integers(0, 2**31 - 1), st.integers(1, 3), st.integers(0, 3), st.integers(0, 3))
def test_convolution_is_translation_equivariant(seed, k, dr, dc):
    """Shift the image by (dr, dc): the stride-1 feature map shifts by (dr, dc), away from the borders."""
    rng = np.random.default_rng(seed)
    image = np.zeros((1, 16, 16, 1))
    image[0, 4:10, 4:10, 0] = rng.normal(size=(6, 6))  # an object well inside the frame
    shifted = np.roll(image, (dr, dc), axis=(1, 2))
    layer = conv_layer(rng.normal(size=(2 * k - 1, 2 * k - 1, 1, 2)), padding="same")
    a = layer.forward(image)
    b = layer.forward(shifted)
    np.testing.assert_allclose(np.roll(a, (dr, dc), axis=(1, 2)), b, atol=1e-12)


@SETTINGS
@given(st.integers(0, 2**31 - 1))
def test_max_pool_output_unchanged_by_a_shift_inside_the_window(seed):
    """If every window's maximum moves but stays inside its window, the pooled output does not change."""
    rng = np.random.default_rng(seed)
    x = rng.uniform(0, 1, size=(1, 8, 8, 1))
    x[0, 0::2, 0::2, 0] = 2 + rng.uniform(0, 1, size=(4, 4))  # each 2x2 window's max sits at its top-left
    shifted = np.roll(x, 1, axis=2)  # one pixel right: each max moves to its window's top-right
    layer = MaxPooling2D(dtype="float64")
    np.testing.assert_array_equal(layer.forward(x), layer.forward(shifted))


@SETTINGS
@given(st.integers(0, 2**31 - 1), st.sampled_from([(16, 3), (4, 5, 5, 3)]), st.floats(-5, 5), st.floats(0.1, 10))
def test_batchnorm_training_output_has_zero_mean_unit_variance(seed, shape, loc, scale):
    x = np.random.default_rng(seed).normal(loc, scale, size=shape)
    bn = BatchNormalization(dtype="float64", epsilon=1e-9)
    bn.build((None,) + shape[1:])
    y = bn.forward(x, training=True)
    axes = tuple(range(len(shape) - 1))
    np.testing.assert_allclose(y.mean(axis=axes), 0, atol=1e-9)
    np.testing.assert_allclose(y.var(axis=axes), 1, rtol=1e-6)


def test_batchnorm_float32_statistics_are_accumulated_precisely():
    rng = np.random.default_rng(0)
    x = (rng.normal(size=(64, 28, 28, 4)) + 300).astype(np.float32)
    bn = BatchNormalization(momentum=0.0)
    bn.build((None, 28, 28, 4))
    bn.forward(x, training=True)
    exact = x.astype(np.float64)
    np.testing.assert_allclose(bn.state["moving_mean"], exact.mean(axis=(0, 1, 2)), rtol=1e-7)
    np.testing.assert_allclose(bn.state["moving_variance"], exact.var(axis=(0, 1, 2)), rtol=1e-4)


@SETTINGS
@given(st.floats(0.0, 0.9), st.integers(0, 1000))
def test_dropout_keeps_the_expectation(rate, seed):
    layer = Dropout(rate, seed=seed)
    y = layer.forward(np.ones((400, 250), dtype=np.float32), training=True)
    assert abs(float(y.mean()) - 1.0) < 0.05 * max(1.0, rate / (1 - rate))
    assert set(np.unique(y)).issubset({0.0, np.float32(1 / (1 - rate))})


@SETTINGS
@given(st.integers(1, 20), st.integers(1, 12), st.floats(0.01, 30.0), st.integers(0, 2**31 - 1))
def test_softmax_rows_sum_to_one_and_keep_the_order(n, k, scale, seed):
    from tinycnn.activations import softmax

    z = np.random.default_rng(seed).normal(size=(n, k)) * scale
    p = softmax(z)
    np.testing.assert_allclose(p.sum(axis=1), 1.0, rtol=1e-12)
    assert np.all(p >= 0) and np.all(np.argmax(p, axis=1) == np.argmax(z, axis=1))


@SETTINGS
@given(st.integers(1, 6), st.lists(st.integers(1, 5), min_size=1, max_size=3), st.integers(1, 7))
def test_dense_output_shape_acts_on_the_last_axis(n, inner, units):
    from tinycnn.layers import Dense

    shape = (n, *inner)
    layer = Dense(units, dtype="float64")
    layer.build((None, *inner))
    y = layer.forward(np.ones(shape))
    assert y.shape == shape[:-1] + (units,) == layer.compute_output_shape(shape)
    assert layer.count_params() == inner[-1] * units + units
