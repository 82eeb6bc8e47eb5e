"""Weight regularizers: values and gradients by hand and by finite differences, ``get``, the two functions the
training loop calls (``penalty``, ``add_gradients``), and parity with Keras, where ``sum(layer.losses)`` is added
to the loss that ``tf.GradientTape`` differentiates."""

import numpy as np
import pytest
import test_keras_parity as kp

from tinycnn import gradcheck, regularizers
from tinycnn import layers as tl
from tinycnn.errors import InvalidArgumentError


@pytest.fixture(scope="module")
def tfk():
    return kp._import_keras()


@pytest.mark.parametrize("reg", [regularizers.L1(0.3), regularizers.L2(0.2), regularizers.L1L2(0.1, 0.4)], ids=repr)
def test_gradient_matches_finite_differences(reg):
    w = np.random.default_rng(0).normal(size=(4, 3))
    numeric = gradcheck.numeric_gradient(lambda: reg(w), w)
    np.testing.assert_allclose(reg.gradient(w), numeric, rtol=1e-7)


def test_values_and_defaults_as_keras():
    w = np.array([[1.0, -2.0], [0.5, 0.0]])
    assert regularizers.L2()(w) == pytest.approx(0.01 * 5.25)  # Keras 3 default l2 = 0.01
    assert regularizers.L1()(w) == pytest.approx(0.01 * 3.5)
    assert regularizers.L1L2().get_config() == {"l1": 0.0, "l2": 0.0}
    assert regularizers.get("l1_l2").get_config() == {"l1": 0.01, "l2": 0.01}
    assert regularizers.L1(0.1).gradient(w)[1, 1] == 0.0  # sign(0) = 0, as TensorFlow
    assert isinstance(regularizers.get("l2"), regularizers.L2)
    assert regularizers.get({"class_name": "L1L2", "config": {"l1": 0.1, "l2": 0.2}}).get_config() == {
        "l1": 0.1,
        "l2": 0.2,
    }
    assert regularizers.get({"l2": 0.5}).get_config() == {"l2": 0.5}
    assert regularizers.get(None) is None
    with pytest.raises(InvalidArgumentError, match="unknown regularizer"):
        regularizers.get("l3")
    with pytest.raises(InvalidArgumentError, match="non-negative"):
        regularizers.L2(-1.0)
    with pytest.raises(InvalidArgumentError, match="activity_regularizer"):
        tl.Dense(3, activity_regularizer="l2")


def test_penalty_and_add_gradients():
    dense = tl.Dense(3, kernel_regularizer="l2", bias_regularizer=regularizers.L1(0.5), dtype="float64")
    conv = tl.Conv2D(2, 3, kernel_regularizer=regularizers.L1L2(0.1, 0.2), dtype="float64")
    plain = tl.Flatten()
    dense.build((None, 4))
    conv.build((None, 5, 5, 1))
    rng = np.random.default_rng(1)
    for layer in (dense, conv):
        for w in layer.params.values():
            w[...] = rng.normal(size=w.shape)
    assert set(dense.regularizers) == {"kernel", "bias"} and set(conv.regularizers) == {"kernel"}
    assert plain.__dict__.get("regularizers") is None  # layers without them count as none
    expected = (
        0.01 * (dense.params["kernel"] ** 2).sum()
        + 0.5 * np.abs(dense.params["bias"]).sum()
        + 0.1 * np.abs(conv.params["kernel"]).sum()
        + 0.2 * (conv.params["kernel"] ** 2).sum()
    )
    assert regularizers.penalty([dense, plain, conv]) == pytest.approx(expected, rel=1e-12)
    # the gradient of (sum(y * dy) + penalty) by finite differences equals backward + add_gradients
    x = rng.normal(size=(2, 4))
    dy = rng.normal(size=(2, 3))
    dense.forward(x)
    dense.backward(dy)
    regularizers.add_gradients([dense, plain])
    for name, param in dense.params.items():
        numeric = gradcheck.numeric_gradient(
            lambda: float((dense.forward(x) * dy).sum()) + regularizers.penalty([dense]), param
        )
        np.testing.assert_allclose(dense.grads[name], numeric, rtol=1e-6, atol=1e-9)


def test_no_bias_regularizer_without_bias():
    layer = tl.Conv1D(2, 3, use_bias=False, bias_regularizer="l2")
    assert layer.regularizers == {}
    assert layer.get_config()["bias_regularizer"] == {"class_name": "L2", "config": {"l2": 0.01}}


@pytest.mark.parametrize(
    "make, shape",
    [
        (lambda m, k, b: m.Dense(4, kernel_regularizer=k, bias_regularizer=b), (5,)),
        (lambda m, k, b: m.Conv2D(3, 3, kernel_regularizer=k, bias_regularizer=b), (6, 6, 2)),
        (lambda m, k, b: m.Conv1D(3, 3, padding="causal", kernel_regularizer=k, bias_regularizer=b), (7, 2)),
    ],
    ids=["Dense", "Conv2D", "Conv1D"],
)
def test_keras_parity(tfk, make, shape):
    tf, keras = tfk
    klayer = make(keras.layers, keras.regularizers.L1L2(l1=0.01, l2=0.02), keras.regularizers.L2(0.05))
    tiny = make(tl, regularizers.L1L2(l1=0.01, l2=0.02), regularizers.L2(0.05))
    rng = np.random.default_rng(2)
    klayer.build((None,) + shape)
    tiny.build((None,) + shape)
    kp.randomize_weights(klayer, rng)
    tiny.set_weights(klayer.get_weights())
    x = rng.standard_normal((3,) + shape).astype(np.float32)
    y = tiny.forward(x)
    dy = rng.standard_normal(y.shape).astype(np.float32)
    tiny.backward(dy)
    regularizers.add_gradients([tiny])
    with tf.GradientTape() as tape:
        ky = klayer(tf.constant(x))
        total = tf.reduce_sum(ky * dy) + tf.add_n(klayer.losses)
    kgrads = tape.gradient(total, [klayer.kernel, klayer.bias])
    kp.assert_close(regularizers.penalty([tiny]), float(tf.add_n(klayer.losses)), kp.RTOL_OUTPUT, "penalty")
    kp.assert_close(tiny.grads["kernel"], kgrads[0].numpy(), kp.RTOL_GRAD, "kernel gradient with penalty")
    kp.assert_close(tiny.grads["bias"], kgrads[1].numpy(), kp.RTOL_GRAD, "bias gradient with penalty")
