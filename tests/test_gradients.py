"""Finite-difference gradient checks (float64, random upstream gradient) for every layer, activation and loss.

Each check compares ``dx`` and every parameter gradient with central differences; the tolerance is 1e-7 on
the worst relative error. A failure prints the worst coordinate with both values.

Every check runs on every engine (``tinycnn.kernels.ENGINES``: the reference, the Numba engine's direct route
and its im2col route); the ``TILE_CONV_CASES`` have channel counts that reach the SIMD tiles (16, 32, 64
filters: whole vectors of float64), so the direct route really runs there.
"""

import numpy as np
import pytest

from tinycnn import gradcheck, kernels, losses
from tinycnn.layers import (
    Activation,
    AveragePooling2D,
    BatchNormalization,
    Conv2D,
    Dense,
    Dropout,
    Flatten,
    L2Pooling2D,
    MaxPooling2D,
    ReLU,
    Softmax,
)

TOL = 1e-7


@pytest.fixture(autouse=True, params=list(kernels.ENGINES))
def engine(request):
    """Run every check once on each engine."""
    with kernels.use(**kernels.ENGINES[request.param]) as backend:
        yield backend


def check(layer, input_shape, training=True, seed=0, x=None):
    layer.build((None,) + tuple(input_shape[1:]))
    rng = np.random.default_rng(seed)
    # randomize biases/BN parameters so zero-initialized weights do not hide bugs
    for name, w in layer.params.items():
        w[...] = rng.normal(size=w.shape) * (0.5 if name != "gamma" else 1.0) + (1.0 if name == "gamma" else 0.0)
    for name, w in layer.state.items():
        w[...] = rng.normal(size=w.shape) * 0.1 + (1.0 if name == "moving_variance" else 0.0)
    if x is None:
        x = rng.normal(size=input_shape)
    report = gradcheck.check_layer(layer, x, training=training, seed=seed + 1)
    assert report.max_error < TOL, f"{layer.name}:\n{report}"
    return report


@pytest.mark.parametrize("activation", ["linear", "relu", "sigmoid", "tanh", "softmax"])
def test_dense(activation):
    check(Dense(5, activation=activation, dtype="float64"), (4, 3))


def test_dense_on_3d_input_acts_on_last_axis():
    check(Dense(3, dtype="float64"), (2, 4, 5))


def test_dense_without_bias():
    layer = Dense(3, use_bias=False, dtype="float64")
    check(layer, (4, 6))
    assert set(layer.grads) == {"kernel"}


@pytest.mark.parametrize("name", ["linear", "relu", "sigmoid", "tanh", "softmax"])
def test_activation_layer(name):
    check(Activation(name, dtype="float64"), (3, 7))


@pytest.mark.parametrize("kwargs", [{}, {"negative_slope": 0.1}, {"max_value": 0.8}, {"threshold": 0.3}])
def test_relu_layer(kwargs):
    check(ReLU(dtype="float64", **kwargs), (4, 9))


def test_softmax_layer_4d():
    check(Softmax(dtype="float64"), (2, 3, 3, 5))


def test_flatten():
    check(Flatten(dtype="float64"), (2, 3, 4, 5))


def test_dropout_with_fixed_mask_4d():
    rng = np.random.default_rng(3)
    layer = Dropout(0.4, dtype="float64")
    layer.fixed_mask = (rng.random((2, 4, 4, 3)) >= 0.4) / 0.6
    report = check(layer, (2, 4, 4, 3))
    assert report.max_error < TOL


CONV_CASES = [
    dict(kernel_size=3, padding="valid"),
    dict(kernel_size=3, padding="same"),
    dict(kernel_size=(3, 2), strides=(2, 1), padding="same"),  # odd "same" totals, even kernel width
    dict(kernel_size=2, strides=2, padding="same"),
    dict(kernel_size=4, padding="same"),  # even kernel: extra pixel bottom/right
    dict(kernel_size=3, strides=(2, 3), padding="valid"),
    dict(kernel_size=3, dilation_rate=2, padding="valid"),
    dict(kernel_size=(2, 3), dilation_rate=(2, 1), padding="same"),
    dict(kernel_size=3, padding="same", activation="relu"),
    dict(kernel_size=1, padding="valid", use_bias=False),
]


@pytest.mark.parametrize("kwargs", CONV_CASES, ids=[str(c) for c in CONV_CASES])
def test_conv2d(kwargs):
    check(Conv2D(3, dtype="float64", **kwargs), (2, 7, 6, 2))


# Channel counts the tiles take (float64: vectors of 8 on AVX-512, 4 on AVX2): the direct route's forward,
# its kernel gradient and (C a whole number of vectors, stride 1) its input gradient; stride 2 takes col2im.
TILE_CONV_CASES = [
    (16, (2, 4, 5, 8), dict(kernel_size=3, padding="same", activation="relu")),
    (32, (1, 3, 4, 8), dict(kernel_size=3, padding="same")),
    (64, (2, 3, 3, 8), dict(kernel_size=2, padding="valid", use_bias=False)),
    (32, (1, 5, 5, 8), dict(kernel_size=3, strides=2, padding="same")),
]


@pytest.mark.parametrize(
    "filters, input_shape, kwargs", TILE_CONV_CASES, ids=[f"{f}-{s}-{k}" for f, s, k in TILE_CONV_CASES]
)
def test_conv2d_tile_sized(engine, filters, input_shape, kwargs):
    from tinycnn.kernels import numba_kernels, simd

    check(Conv2D(filters, dtype="float64", **kwargs), input_shape)
    if engine.name == "numba" and simd.enabled():  # the last convolution ran took the engine's route
        assert numba_kernels.buffer_info()["route"] == engine.route


def test_dense_tile_sized():
    check(Dense(32, activation="tanh", dtype="float64"), (3, 12))


POOL_CASES = [
    dict(pool_size=2),
    dict(pool_size=2, padding="same"),
    dict(pool_size=3, strides=2),  # overlapping windows
    dict(pool_size=3, strides=2, padding="same"),
    dict(pool_size=(2, 3), strides=(1, 2), padding="same"),
]


@pytest.mark.parametrize("cls", [MaxPooling2D, AveragePooling2D, L2Pooling2D])
@pytest.mark.parametrize("kwargs", POOL_CASES, ids=[str(c) for c in POOL_CASES])
def test_pooling(cls, kwargs):
    check(cls(dtype="float64", **kwargs), (2, 7, 6, 3))


@pytest.mark.parametrize("shape", [(6, 4), (3, 4, 5, 2)], ids=["2d", "4d"])
@pytest.mark.parametrize("training", [True, False], ids=["training", "inference"])
def test_batch_normalization(shape, training):
    check(BatchNormalization(dtype="float64"), shape, training=training)


@pytest.mark.parametrize("center,scale", [(False, True), (True, False), (False, False)])
def test_batch_normalization_without_center_or_scale(center, scale):
    check(BatchNormalization(center=center, scale=scale, dtype="float64"), (5, 3))


def test_batch_normalization_other_axis():
    check(BatchNormalization(axis=1, dtype="float64"), (3, 4, 5))


def _probs(rng, n, k):
    z = rng.normal(size=(n, k))
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


@pytest.mark.parametrize("name", ["categorical_crossentropy", "mse", "mae", "binary_crossentropy"])
def test_loss_gradient(name):
    rng = np.random.default_rng(0)
    y_pred = _probs(rng, 5, 4) if name != "binary_crossentropy" else rng.uniform(0.05, 0.95, size=(5, 4))
    if name == "categorical_crossentropy":
        y_true = np.eye(4)[rng.integers(0, 4, 5)]
    elif name == "binary_crossentropy":
        y_true = rng.integers(0, 2, size=(5, 4)).astype(float)
    else:
        y_true = y_pred + rng.normal(size=y_pred.shape)  # away from the kink of |.|
    report = gradcheck.check_loss(losses.get(name), y_true, y_pred)
    assert report.max_error < TOL, str(report)


def test_categorical_crossentropy_gradient_with_unnormalized_probabilities():
    rng = np.random.default_rng(1)
    y_pred = rng.uniform(0.1, 2.0, size=(3, 5))
    y_true = rng.dirichlet(np.ones(5), size=3)  # soft labels
    report = gradcheck.check_loss(losses.get("categorical_crossentropy"), y_true, y_pred)
    assert report.max_error < TOL, str(report)


def test_sparse_categorical_crossentropy_gradient():
    rng = np.random.default_rng(2)
    report = gradcheck.check_loss(
        losses.get("sparse_categorical_crossentropy"), rng.integers(0, 4, 6), _probs(rng, 6, 4)
    )
    assert report.max_error < TOL, str(report)


@pytest.mark.parametrize("name", ["categorical_crossentropy", "sparse_categorical_crossentropy"])
def test_fused_softmax_crossentropy_gradient_is_p_minus_y_over_n(name):
    rng = np.random.default_rng(4)
    z = rng.normal(size=(6, 5))
    labels = rng.integers(0, 5, 6)
    y = np.eye(5)[labels] if name == "categorical_crossentropy" else labels
    loss = losses.get(name)
    report = gradcheck.check_fused_softmax_loss(loss, y, z)
    assert report.max_error < TOL, str(report)
    p = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)
    np.testing.assert_allclose(loss.from_logits(y, z)[1], (p - np.eye(5)[labels]) / 6, rtol=1e-12)


def test_crossentropy_clips_probabilities_like_keras():
    loss = losses.get("categorical_crossentropy")
    value = loss(np.array([[1.0, 0.0]]), np.array([[0.0, 1.0]]))
    assert np.isclose(value, -np.log(1e-7))
    grad = loss.gradient(np.array([[1.0, 0.0]]), np.array([[0.0, 1.0]]))
    assert np.all(np.isfinite(grad)) and np.all(grad == 0)  # the clip is active: no gradient flows


def test_gradcheck_catches_a_wrong_backward():
    layer = Dense(3, dtype="float64")
    layer.build((None, 4))
    layer.backward_logits = lambda dz: dz @ layer.params["kernel"].T * 1.01  # 1% wrong dx
    original = Dense.backward_logits

    def wrong(self, dz):
        dx = original(self, dz)
        return dx * 1.01

    layer.backward = lambda dy: wrong(layer, dy)
    report = gradcheck.check_layer(layer, np.random.default_rng(0).normal(size=(2, 4)))
    assert report.worst.name == "dx" and report.max_error > 1e-3


def test_fused_gradient_and_softmax_flush_subnormals_to_zero():
    """A confident float32 model gives p ~ exp(-100) for wrong classes; those subnormals are flushed to 0."""
    z = np.array([[0.0, -100.0, -95.0, 5.0]], dtype=np.float32)
    loss = losses.get("categorical_crossentropy")
    _, dz = loss.from_logits(np.array([[0.0, 0.0, 0.0, 1.0]]), z)
    tiny = np.finfo(np.float32).tiny
    assert dz.dtype == np.float32 and not np.any((dz != 0) & (np.abs(dz) < tiny))
    from tinycnn.activations import softmax

    p = softmax(z)
    assert p[0, 1] == 0 and not np.any((p != 0) & (p < tiny))
