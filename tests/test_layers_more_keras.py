"""Keras parity for the layers and activations of issue 14: forward, input gradient and weight gradients for a
random upstream gradient (Keras through ``tf.GradientTape``), weights copied with ``set_weights``, float32,
tolerances and CI rule of :mod:`test_keras_parity` (whose helpers this file uses)."""

import functools

import numpy as np
import pytest
import test_keras_parity as kp

from tinycnn import activations, kernels, nn
from tinycnn import layers as tl


@pytest.fixture(scope="module")
def tfk():
    return kp._import_keras()


@pytest.fixture(params=list(kernels.ENGINES))
def backend(request):
    """Run the test once on each engine: the reference, the Numba engine's direct and im2col routes."""
    with kernels.use(**kernels.ENGINES[request.param]):
        yield request.param


CONV1D_CASES = [  # (L, C), filters, kernel, strides, padding, dilation, activation, use_bias
    ((9, 2), 3, 3, 1, "valid", 1, None, True),
    ((9, 2), 3, 3, 1, "same", 1, "relu", True),
    ((9, 2), 3, 3, 1, "causal", 1, None, True),
    ((10, 3), 2, 4, 2, "same", 1, "tanh", True),
    ((11, 2), 2, 3, 3, "causal", 1, None, False),
    ((12, 1), 2, 3, 1, "causal", 2, "elu", True),
    ((12, 2), 2, 2, 1, "same", 3, None, True),
    ((8, 2), 4, 3, 2, "valid", 1, "gelu", True),
]


@pytest.mark.parametrize("case", CONV1D_CASES, ids=lambda c: f"{c[0]}-k{c[2]}-s{c[3]}-{c[4]}-d{c[5]}-{c[6]}")
def test_conv1d(tfk, backend, case):
    tf, keras = tfk
    shape, filters, k, s, padding, d, act, use_bias = case
    kw = dict(strides=s, padding=padding, dilation_rate=d, activation=act, use_bias=use_bias)
    tiny, klayer = kp.check_layer(tf, tl.Conv1D(filters, k, **kw), keras.layers.Conv1D(filters, k, **kw), shape)
    assert tiny.kernel.shape == tuple(klayer.kernel.shape)


@pytest.mark.parametrize("kind", ["max", "avg"])
@pytest.mark.parametrize(
    "pool, strides, padding", [(2, None, "valid"), (3, 2, "same"), (3, 1, "valid"), (2, None, "same"), (4, 3, "same")]
)
def test_pooling1d(tfk, backend, kind, pool, strides, padding):
    tf, keras = tfk
    tiny_cls, keras_cls = (
        (tl.MaxPooling1D, keras.layers.MaxPooling1D)
        if kind == "max"
        else (tl.AveragePooling1D, keras.layers.AveragePooling1D)
    )
    kp.check_layer(tf, tiny_cls(pool, strides, padding), keras_cls(pool, strides, padding), (9, 3))


@pytest.mark.parametrize(
    "name, shape",
    [
        ("GlobalAveragePooling2D", (4, 5, 3)),
        ("GlobalMaxPooling2D", (4, 5, 3)),
        ("GlobalAveragePooling1D", (6, 3)),
        ("GlobalMaxPooling1D", (6, 3)),
    ],
)
@pytest.mark.parametrize("keepdims", [False, True])
def test_global_pooling(tfk, name, shape, keepdims):
    tf, keras = tfk
    kp.check_layer(tf, getattr(tl, name)(keepdims=keepdims), getattr(keras.layers, name)(keepdims=keepdims), shape)


@pytest.mark.parametrize("kwargs", [{}, {"negative_slope": 0.1}, {"alpha": 0.05}], ids=["default", "slope", "alpha"])
def test_leaky_relu(tfk, kwargs):
    tf, keras = tfk
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Keras 3 warns that alpha is deprecated
        klayer = keras.layers.LeakyReLU(**kwargs)
    kp.check_layer(tf, tl.LeakyReLU(**kwargs), klayer, (6, 5))


ACTIVATIONS = [
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


@pytest.mark.parametrize("name", ACTIVATIONS)
def test_activation_by_name(tfk, name):
    tf, keras = tfk
    x = 2.0 * np.random.default_rng(4).standard_normal((4, 3, 5))
    kp.check_layer(tf, tl.Activation(name), keras.layers.Activation(name), (3, 5), x=x)
    kp.check_layer(tf, tl.Dense(4, activation=name), keras.layers.Dense(4, activation=name), (5,), batch=4)


def test_gelu_approximate(tfk):
    tf, keras = tfk
    x = 2.0 * np.random.default_rng(5).standard_normal((4, 6))
    kp.check_layer(
        tf,
        tl.Activation(functools.partial(activations.gelu, approximate=True)),
        keras.layers.Activation(functools.partial(keras.activations.gelu, approximate=True)),
        (6,),
        x=x,
    )


@pytest.mark.parametrize("name", ["relu", "sigmoid", "tanh", "softmax", "leaky_relu", "elu", "gelu", "silu"])
def test_nn_functions(tfk, name):
    """``activation=tinycnn.nn.X`` gives what ``activation=tf.nn.X`` gives in Keras."""
    tf, keras = tfk
    kp.check_layer(
        tf,
        tl.Dense(5, activation=getattr(nn, name)),
        keras.layers.Dense(5, activation=getattr(tf.nn, name)),
        (4,),
        batch=3,
    )


def test_normalization_adapt(tfk):
    tf, keras = tfk
    rng = np.random.default_rng(6)
    data = (rng.normal(3.0, 2.0, size=(40, 5, 3))).astype(np.float32)
    for axis in (-1, (1, 2), None):
        tiny, klayer = tl.Normalization(axis=axis), keras.layers.Normalization(axis=axis)
        tiny.adapt(data)
        klayer.adapt(data)
        kw = klayer.get_weights()
        assert tiny.weight_names == ["mean", "variance", "count"] and len(kw) == 3
        for name, a, b in zip(tiny.weight_names, tiny.get_weights(), kw):
            kp.assert_close(a, b, kp.RTOL_OUTPUT, f"Normalization(axis={axis}) {name}")
        x = data[:4]
        dy = rng.standard_normal(x.shape).astype(np.float32)
        y, dx = tiny.forward(x), tiny.backward(dy)
        ky, kdx, _ = kp.keras_forward_backward(tf, klayer, x, dy, False)
        kp.assert_close(y, ky, kp.RTOL_OUTPUT, f"Normalization(axis={axis}) forward")
        kp.assert_close(dx, kdx, kp.RTOL_GRAD, f"Normalization(axis={axis}) input gradient")


@pytest.mark.parametrize("invert", [False, True])
def test_normalization_given_statistics(tfk, invert):
    tf, keras = tfk
    kw = dict(mean=[1.0, -2.0, 0.5], variance=[4.0, 0.25, 1e-16], invert=invert)
    tiny, klayer = kp.check_layer(tf, tl.Normalization(**kw), keras.layers.Normalization(**kw), (2, 3))
    assert tiny.get_weights() == [] == klayer.get_weights()


def test_normalization_weights_load_from_keras(tfk):
    tf, keras = tfk
    data = np.random.default_rng(7).normal(size=(20, 4)).astype(np.float32)
    klayer = keras.layers.Normalization()
    klayer.adapt(data)
    tiny = tl.Normalization()
    tiny.build((None, 4))
    tiny.set_weights(klayer.get_weights())
    for a, b in zip(tiny.get_weights(), klayer.get_weights()):
        assert a.shape == b.shape and np.issubdtype(a.dtype, np.integer) == np.issubdtype(b.dtype, np.integer)
    x = data[:5] * 3
    kp.assert_close(tiny.forward(x), klayer(x).numpy(), kp.RTOL_OUTPUT, "Normalization with Keras's weights")


@pytest.mark.parametrize("scale, offset", [(1 / 255, 0.0), (1 / 127.5, -1.0), (2.0, 0.5)])
def test_rescaling(tfk, scale, offset):
    tf, keras = tfk
    kp.check_layer(tf, tl.Rescaling(scale, offset), keras.layers.Rescaling(scale, offset), (4, 4, 3))


@pytest.mark.parametrize("target, shape", [((4, 3), (3, 4)), ((-1,), (2, 3, 2)), ((2, -1, 3), (12,))])
def test_reshape(tfk, target, shape):
    tf, keras = tfk
    kp.check_layer(tf, tl.Reshape(target), keras.layers.Reshape(target), shape)


@pytest.mark.parametrize("padding", [1, (1, 2), ((0, 1), (2, 0))])
def test_zero_padding2d(tfk, padding):
    tf, keras = tfk
    kp.check_layer(tf, tl.ZeroPadding2D(padding), keras.layers.ZeroPadding2D(padding), (3, 4, 2))


@pytest.mark.parametrize(
    "size, interpolation", [(2, "nearest"), ((2, 3), "nearest"), (2, "bilinear"), ((3, 2), "bilinear")]
)
def test_upsampling2d(tfk, size, interpolation):
    tf, keras = tfk
    kp.check_layer(
        tf,
        tl.UpSampling2D(size, interpolation=interpolation),
        keras.layers.UpSampling2D(size, interpolation=interpolation),
        (3, 4, 2),
    )


def test_weight_attributes_match_keras(tfk):
    tf, keras = tfk
    for tiny, klayer, shape, names in [
        (tl.Dense(3), keras.layers.Dense(3), (4,), ["kernel", "bias"]),
        (tl.Conv2D(2, 3), keras.layers.Conv2D(2, 3), (5, 5, 2), ["kernel", "bias"]),
        (tl.Conv1D(2, 3), keras.layers.Conv1D(2, 3), (6, 2), ["kernel", "bias"]),
        (
            tl.BatchNormalization(),
            keras.layers.BatchNormalization(),
            (3,),
            ["gamma", "beta", "moving_mean", "moving_variance"],
        ),
    ]:
        kp.check_layer(tf, tiny, klayer, shape)
        for name in names:
            kp.assert_close(
                getattr(tiny, name).numpy(),
                getattr(klayer, name).numpy(),
                kp.RTOL_OUTPUT,
                f"{type(tiny).__name__}.{name}",
            )
