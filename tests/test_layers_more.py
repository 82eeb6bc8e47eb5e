"""Gradient checks (float64, random upstream gradient, tolerance 1e-7) and hand-computed cases for the layers
and activations of issue 14: Conv1D, 1-D pooling, global pooling, LeakyReLU, Normalization, Rescaling,
Reshape, ZeroPadding2D, UpSampling2D, the new activation functions, ``tinycnn.nn``, and the Keras weight
attributes (``layer.kernel`` ...)."""

import functools

import numpy as np
import pytest

from tinycnn import activations, gradcheck, kernels, nn
from tinycnn import layers as tl
from tinycnn.errors import InvalidArgumentError, InvalidInputError

TOL = 1e-7


@pytest.fixture(params=list(kernels.ENGINES))
def backend(request):
    """Run the test once on each engine: the reference, the Numba engine's direct and im2col routes."""
    with kernels.use(**kernels.ENGINES[request.param]):
        yield request.param


def check(layer, input_shape, training=True, seed=0, x=None):
    layer.build((None,) + tuple(input_shape[1:]))
    rng = np.random.default_rng(seed)
    for w in layer.params.values():
        w[...] = rng.normal(size=w.shape) * 0.5
    if x is None:
        x = rng.normal(size=input_shape)
    report = gradcheck.check_layer(layer, x, training=training, seed=seed + 1)
    assert report.max_error < TOL, f"{layer.name}:\n{report}"
    return report


# ------------------------------------------------------------------------------------------ Conv1D
CONV1D_CASES = [  # length, channels, filters, kernel, strides, padding, dilation
    (9, 2, 3, 3, 1, "valid", 1),
    (9, 2, 3, 3, 1, "same", 1),
    (9, 2, 3, 3, 1, "causal", 1),
    (10, 3, 2, 4, 2, "same", 1),
    (11, 2, 2, 3, 3, "causal", 1),
    (12, 1, 2, 3, 1, "causal", 2),
    (12, 2, 2, 2, 1, "same", 3),
    (8, 2, 2, 3, 2, "valid", 1),
]


@pytest.mark.parametrize("case", CONV1D_CASES, ids=str)
def test_conv1d_gradients(backend, case):
    length, c, f, k, s, padding, d = case
    layer = tl.Conv1D(f, k, strides=s, padding=padding, dilation_rate=d, activation="tanh", dtype="float64")
    check(layer, (2, length, c))
    assert layer.kernel.shape == (k, c, f)


def test_conv1d_causal_never_sees_the_future():
    layer = tl.Conv1D(2, 3, padding="causal", dilation_rate=2, dtype="float64")
    layer.build((None, 10, 1))
    x = np.random.default_rng(0).normal(size=(1, 10, 1))
    y = layer.forward(x)
    x2 = x.copy()
    x2[0, 6:] += 5.0  # change the future from t = 6 on
    y2 = layer.forward(x2)
    np.testing.assert_array_equal(y[0, :6], y2[0, :6])
    assert not np.allclose(y[0, 6:], y2[0, 6:])
    assert y.shape == (1, 10, 2)


def test_conv1d_output_shapes_and_errors():
    assert tl.Conv1D(4, 3).compute_output_shape((None, 10, 2)) == (None, 8, 4)
    assert tl.Conv1D(4, 3, strides=2, padding="same").compute_output_shape((None, 11, 2)) == (None, 6, 4)
    assert tl.Conv1D(4, 3, strides=3, padding="causal").compute_output_shape((None, 10, 2)) == (None, 4, 4)
    with pytest.raises(InvalidArgumentError, match="padding"):
        tl.Conv1D(2, 3, padding="full")
    with pytest.raises(InvalidArgumentError, match="dilation"):
        tl.Conv1D(2, 3, strides=2, dilation_rate=2)
    with pytest.raises(InvalidInputError, match="3-D"):
        tl.Conv1D(2, 3).build((None, 5, 5, 1))
    with pytest.raises(InvalidInputError, match="longer"):
        tl.Conv1D(2, 5).build((None, 3, 1))


# ------------------------------------------------------------------------------------------ pooling
@pytest.mark.parametrize("cls", [tl.MaxPooling1D, tl.AveragePooling1D])
@pytest.mark.parametrize(
    "pool, strides, padding", [(2, None, "valid"), (3, 2, "same"), (3, 1, "valid"), (2, None, "same")]
)
def test_pooling1d_gradients(backend, cls, pool, strides, padding):
    check(cls(pool, strides, padding, dtype="float64"), (2, 7, 3))


def test_pooling1d_by_hand():
    x = np.array([1.0, 3.0, 2.0, 5.0, 4.0]).reshape(1, 5, 1)
    assert tl.MaxPooling1D().forward(x)[0, :, 0].tolist() == [3.0, 5.0]
    assert tl.AveragePooling1D(padding="same").forward(x)[0, :, 0].tolist() == [2.0, 3.5, 4.0]


@pytest.mark.parametrize(
    "cls, shape",
    [
        (tl.GlobalAveragePooling2D, (2, 3, 4, 3)),
        (tl.GlobalMaxPooling2D, (2, 3, 4, 3)),
        (tl.GlobalAveragePooling1D, (2, 5, 3)),
        (tl.GlobalMaxPooling1D, (2, 5, 3)),
    ],
)
@pytest.mark.parametrize("keepdims", [False, True])
def test_global_pooling_gradients(cls, shape, keepdims):
    layer = cls(keepdims=keepdims, dtype="float64")
    check(layer, shape)
    out = layer.compute_output_shape((None,) + shape[1:])
    assert out == ((None,) + (1,) * (len(shape) - 2) + (3,) if keepdims else (None, 3))


def test_global_max_pooling_splits_ties_equally():
    x = np.array([[[1.0], [3.0], [3.0]]])  # (1, 3, 1): two tied maxima
    layer = tl.GlobalMaxPooling1D()
    assert layer.forward(x).tolist() == [[3.0]]
    assert layer.backward(np.array([[1.0]]))[0, :, 0].tolist() == [0.0, 0.5, 0.5]


# ------------------------------------------------------------------------------------------ element-wise
@pytest.mark.parametrize("kwargs", [{}, {"negative_slope": 0.1}, {"alpha": 0.05}])
def test_leaky_relu_layer(kwargs):
    layer = tl.LeakyReLU(dtype="float64", **kwargs)
    x = np.random.default_rng(0).normal(size=(4, 6))
    x[np.abs(x) < 1e-3] = 0.5  # keep away from the kink
    check(layer, x.shape, x=x)
    assert layer.negative_slope == kwargs.get("alpha", kwargs.get("negative_slope", 0.3))


def test_leaky_relu_refuses_negative_slope():
    with pytest.raises(InvalidArgumentError, match="negative_slope"):
        tl.LeakyReLU(-0.1)


NEW_ACTIVATIONS = [
    "elu",
    "selu",
    "gelu",
    "softplus",
    "softsign",
    "swish",
    "silu",
    "leaky_relu",
    "exponential",
    "hard_sigmoid",
]


@pytest.mark.parametrize("name", NEW_ACTIVATIONS)
def test_activation_gradients(name):
    x = np.random.default_rng(1).normal(size=(3, 7)) * 2
    x[np.abs(x) < 1e-3] = 0.5
    x[np.abs(np.abs(x) - 3) < 1e-3] = 1.0  # hard_sigmoid's kinks
    check(tl.Activation(name, dtype="float64"), x.shape, x=x)
    check(tl.Dense(4, activation=name, dtype="float64"), (3, 5))


def test_gelu_approximate_gradient():
    layer = tl.Dense(4, activation=functools.partial(activations.gelu, approximate=True), dtype="float64")
    check(layer, (3, 5))
    assert layer.activation.params == {"approximate": True}


@pytest.mark.parametrize(
    "fn",
    [nn.relu, nn.sigmoid, nn.tanh, nn.softmax, nn.leaky_relu, nn.elu, nn.gelu, nn.silu, nn.swish, nn.softplus, nn.selu],
)
def test_nn_functions_as_activation(fn):
    layer = tl.Dense(4, activation=fn, dtype="float64")
    check(layer, (3, 5))
    assert layer.get_config()["activation"] == fn.name


def test_nn_softmax_keeps_the_fused_path():
    assert tl.Dense(3, activation=nn.softmax).ends_with_softmax
    assert not tl.Dense(3, activation=functools.partial(nn.softmax, axis=0)).ends_with_softmax


def test_activation_values_by_hand():
    z = np.array([-1.0, 0.0, 2.0])
    np.testing.assert_allclose(activations.softplus(z), np.log1p(np.exp(z)))
    np.testing.assert_allclose(activations.softsign(z), [-0.5, 0.0, 2 / 3])
    np.testing.assert_allclose(activations.silu(z), z / (1 + np.exp(-z)))
    np.testing.assert_allclose(activations.hard_sigmoid(np.array([-4.0, 0.0, 1.5, 4.0])), [0.0, 0.5, 0.75, 1.0])
    np.testing.assert_allclose(activations.gelu(np.array([0.0, 1.0])), [0.0, 0.8413447460685429])
    np.testing.assert_allclose(activations.selu(np.array([1.0])), [activations.SELU_SCALE])
    assert activations.leaky_relu(np.array([-1.0])).tolist() == [-0.2]  # Keras 3 function default
    assert nn.leaky_relu(np.array([-1.0])).tolist() == [-0.2]  # tf.nn default alpha
    assert activations.softplus(np.array([1000.0, -1000.0])).tolist() == [1000.0, 0.0]  # no overflow


def test_unknown_callable_refused_with_the_fix():
    with pytest.raises(InvalidArgumentError, match="ActivationFunction"):
        tl.Dense(3, activation=lambda x: x * 2)
    square = activations.ActivationFunction("square", lambda z: z * z, lambda dy, z, a: 2 * z * dy)
    check(tl.Dense(3, activation=square, dtype="float64"), (2, 4))
    with pytest.raises(InvalidArgumentError, match="valid names"):
        tl.Dense(3, activation="swishy")


# ------------------------------------------------------------------------------------------ preprocessing
def test_normalization_adapt_and_gradient():
    rng = np.random.default_rng(0)
    data = rng.normal(3.0, 2.0, size=(50, 4))
    layer = tl.Normalization(dtype="float64")
    layer.adapt(data)
    np.testing.assert_allclose(layer.get_weights()[0], data.mean(axis=0))
    np.testing.assert_allclose(layer.get_weights()[1], data.var(axis=0))
    y = layer.forward(data)
    np.testing.assert_allclose(y.mean(axis=0), 0, atol=1e-12)
    np.testing.assert_allclose(y.std(axis=0), 1, atol=1e-12)
    report = gradcheck.check_layer(layer, data[:3])
    assert report.max_error < TOL, str(report)
    assert layer.weight_names == ["mean", "variance", "count"] and not layer.params


def test_normalization_batches_equal_one_array():
    rng = np.random.default_rng(1)
    data = rng.normal(size=(30, 3, 2))
    whole, parts = tl.Normalization(axis=(1, 2)), tl.Normalization(axis=(1, 2))
    whole.adapt(data)
    parts.adapt([data[:7], data[7:20], data[20:]])
    for a, b in zip(whole.get_weights(), parts.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-6)


def test_normalization_given_statistics_and_invert():
    layer = tl.Normalization(mean=[1.0, 2.0], variance=[4.0, 9.0])
    layer.build((None, 2))
    assert layer.get_weights() == []
    y = layer.forward(np.array([[3.0, 2.0]]))
    assert y.tolist() == [[1.0, 0.0]]
    inv = tl.Normalization(mean=[1.0, 2.0], variance=[4.0, 9.0], invert=True)
    inv.build((None, 2))
    assert inv.forward(y).tolist() == [[3.0, 2.0]]
    scalar = tl.Normalization(axis=None, mean=5.0, variance=4.0)
    scalar.build((None, 3))
    assert scalar.forward(np.array([[5.0, 7.0, 9.0]])).tolist() == [[0.0, 1.0, 2.0]]
    with pytest.raises(InvalidArgumentError, match="both"):
        tl.Normalization(mean=1.0)


def test_rescaling():
    layer = tl.Rescaling(1 / 127.5, offset=-1, dtype="float64")
    check(layer, (2, 3, 3, 1))
    assert layer.forward(np.array([[0.0, 255.0]])).tolist() == [[-1.0, 1.0]]


# ------------------------------------------------------------------------------------------ reshaping
def test_reshape():
    layer = tl.Reshape((4, -1), dtype="float64")
    check(layer, (2, 3, 4))
    assert layer.compute_output_shape((None, 3, 4)) == (None, 4, 3)
    with pytest.raises(InvalidInputError, match="cannot reshape"):
        tl.Reshape((5,)).compute_output_shape((None, 3, 4))
    with pytest.raises(InvalidArgumentError, match="-1"):
        tl.Reshape((-1, -1))


@pytest.mark.parametrize("padding", [1, (1, 2), ((0, 1), (2, 0))])
def test_zero_padding2d(padding):
    layer = tl.ZeroPadding2D(padding, dtype="float64")
    check(layer, (2, 3, 4, 2))


@pytest.mark.parametrize(
    "size, interpolation", [(2, "nearest"), ((2, 3), "nearest"), (2, "bilinear"), ((3, 2), "bilinear")]
)
def test_upsampling2d(size, interpolation):
    layer = tl.UpSampling2D(size, interpolation=interpolation, dtype="float64")
    check(layer, (2, 3, 4, 2))


# ------------------------------------------------------------------------------------------ weight attributes
def test_keras_weight_attributes():
    dense = tl.Dense(3)
    with pytest.raises(AttributeError, match="built"):
        _ = dense.kernel
    dense.build((None, 2))
    assert dense.kernel.shape == (2, 3) and dense.bias.shape == (3,)
    assert np.shares_memory(dense.kernel, dense.params["kernel"])
    dense.kernel.assign(np.ones((2, 3)))
    assert dense.get_weights()[0].sum() == 6.0
    assert type(dense.kernel + 1) is np.ndarray and type(dense.kernel.numpy()) is np.ndarray
    conv = tl.Conv2D(2, 3, use_bias=False)
    conv.build((None, 5, 5, 1))
    assert conv.kernel.shape == (3, 3, 1, 2) and conv.bias is None
    bn = tl.BatchNormalization(scale=False)
    bn.build((None, 4))
    assert bn.gamma is None and bn.beta.shape == bn.moving_mean.shape == bn.moving_variance.shape == (4,)
    norm = tl.Normalization()
    norm.adapt(np.arange(6.0).reshape(3, 2))
    assert norm.mean.shape == (1, 2) and norm.adapt_mean.shape == (2,)
