"""Parity with Keras: the same weights give the same numbers, in float32.

Every check copies weights with ``set_weights(keras_layer.get_weights())`` (or the reverse) and compares
tinycnn with Keras on the TensorFlow CPU backend:

* each layer -- forward output, the input gradient and every parameter gradient, for a *random* upstream
  gradient ``dy`` (Keras: ``tf.GradientTape`` on ``sum(y * dy)``), on both kernel backends where kernels
  are involved (Conv2D, pooling);
* each loss and its gradient (of the batch mean), probabilities clipped as Keras clips them, and the
  fused softmax + cross-entropy path from the logits;
* SGD (momentum, Nesterov, time-based decay) over a 60-step trajectory, step by step;
* the course CNN: parameter counts, predictions, one training step (in float32 and float64: Keras's own
  float32 gradients of that step are far from exact, see :func:`test_course_cnn_training_step`);
* weights round-tripping, tinycnn -> Keras -> tinycnn and back.

Tolerances: relative difference ``max|a - b| / max(max|b|, tiny)`` (``b`` is Keras) below ``1e-5`` for
outputs and weights, ``1e-4`` for gradients. On failure both sides are printed.

Keras is optional locally (the tests skip without TensorFlow) but required in CI: with ``CI=true`` a
missing TensorFlow fails every test here.
"""

import os

import numpy as np
import pytest

from tinycnn import kernels
from tinycnn import layers as tl
from tinycnn import losses as tlosses
from tinycnn.models import Sequential
from tinycnn.optimizers import SGD
from tinycnn.utils import set_random_seed

RTOL_OUTPUT = 1e-5
RTOL_GRAD = 1e-4
TINY = np.finfo(np.float32).tiny


# ------------------------------------------------------------------------------------------ helpers
def _import_keras():
    """``(tf, keras)``; skips when TensorFlow is missing, fails instead when ``CI=true``."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    try:
        import keras
        import tensorflow as tf
    except ImportError as e:
        if os.environ.get("CI", "").strip().lower() == "true":
            pytest.fail(
                f"CI=true but TensorFlow/Keras cannot be imported ({e}); install the 'keras' extra", pytrace=False
            )
        pytest.skip(f"TensorFlow/Keras not installed ({e})")
    return tf, keras


@pytest.fixture(scope="module")
def tfk():
    return _import_keras()


@pytest.fixture(params=list(kernels.ENGINES))
def backend(request):
    """Run the test once on each engine: the reference, the Numba engine's direct and im2col routes."""
    with kernels.use(**kernels.ENGINES[request.param]):
        yield request.param


def rel_diff(actual, expected):
    """``max|a - b| / max(max|b|, tiny)``: 0 for equal arrays, inf/nan for non-finite ones."""
    a = np.asarray(actual, dtype=np.float64)
    b = np.asarray(expected, dtype=np.float64)
    if a.size == 0:
        return 0.0
    return float(np.max(np.abs(a - b)) / max(float(np.max(np.abs(b))), TINY))


def assert_close(actual, expected, rtol, what):
    """Fail with both arrays printed unless tinycnn (``actual``) and Keras (``expected``) agree."""
    a = np.asarray(actual, dtype=np.float64)
    b = np.asarray(expected, dtype=np.float64)
    if a.shape != b.shape:
        pytest.fail(f"{what}: shape {a.shape} (tinycnn) != {b.shape} (keras)", pytrace=False)
    rel = rel_diff(a, b)
    if not rel < rtol:  # also catches NaN
        i = np.unravel_index(np.nanargmax(np.abs(a - b)), a.shape) if a.ndim else ()
        with np.printoptions(precision=8, threshold=120, edgeitems=3, linewidth=120):
            pytest.fail(
                f"{what}: relative difference {rel:.3e} >= {rtol:.0e}; worst at {i}: tinycnn "
                f"{a[i]!r}, keras {b[i]!r} (max|keras| = {np.max(np.abs(b)):.4e})\n"
                f"tinycnn:\n{a}\nkeras:\n{b}",
                pytrace=False,
            )


def randomize_weights(keras_layer, rng):
    """Non-trivial weights (biases and BatchNorm statistics too), so every term of the math counts."""
    new = []
    for v, w in zip(keras_layer.weights, keras_layer.get_weights()):
        name = v.name.split("/")[-1]
        if name in ("moving_variance", "gamma"):
            new.append(rng.uniform(0.5, 2.0, w.shape))
        else:
            new.append(0.5 * rng.standard_normal(w.shape))
    keras_layer.set_weights([w.astype(np.float32) for w in new])


def keras_forward_backward(tf, klayer, x, dy, training):
    """Keras output, ``d sum(y * dy) / dx`` and the trainable-weight gradients by name."""
    xt = tf.constant(x)
    with tf.GradientTape() as tape:
        tape.watch(xt)
        y = klayer(xt, training=training)
        s = tf.reduce_sum(y * tf.constant(dy))
    weights = list(klayer.trainable_weights)
    grads = tape.gradient(s, [xt] + weights)
    return (y.numpy(), grads[0].numpy(), {v.name.split("/")[-1]: g.numpy() for v, g in zip(weights, grads[1:])})


def check_layer(tf, tiny, klayer, input_shape, *, training=False, batch=3, seed=0, x=None, randomize=True):
    """Build both layers for ``input_shape``, copy Keras's weights into tinycnn and compare everything."""
    rng = np.random.default_rng(seed)
    klayer.build((None,) + tuple(input_shape))
    tiny.build((None,) + tuple(input_shape))
    if randomize and klayer.weights:
        randomize_weights(klayer, rng)
    tiny.set_weights(klayer.get_weights())
    if x is None:
        x = rng.standard_normal((batch,) + tuple(input_shape))
    x = np.asarray(x, dtype=np.float32)

    x_before = x.copy()
    y = tiny.forward(x, training=training)
    dy = rng.standard_normal(y.shape).astype(np.float32)
    dy_before = dy.copy()
    dx = tiny.backward(dy)
    label = f"{type(tiny).__name__}{tuple(input_shape)} training={training}"
    assert np.array_equal(x, x_before) and np.array_equal(dy, dy_before), f"{label}: x or dy changed in place"
    ky, kdx, kgrads = keras_forward_backward(tf, klayer, x, dy, training)

    assert y.dtype == np.float32 and dx.dtype == np.float32, f"{label}: dtypes {y.dtype}, {dx.dtype}"
    assert_close(y, ky, RTOL_OUTPUT, f"{label}: forward")
    assert_close(dx, kdx, RTOL_GRAD, f"{label}: input gradient")
    assert sorted(tiny.params) == sorted(kgrads), f"{label}: trainable {sorted(tiny.params)} vs {sorted(kgrads)}"
    for name, g in kgrads.items():
        assert_close(tiny.grads[name], g, RTOL_GRAD, f"{label}: gradient of {name}")
    for name, tw, kw in zip(tiny.weight_names, tiny.get_weights(), klayer.get_weights()):
        assert_close(tw, kw, RTOL_OUTPUT, f"{label}: weight {name} after the forward pass")
    return tiny, klayer


# ------------------------------------------------------------------------------------------ layers
CONV_CASES = [
    # input (H, W, C), filters, kernel, strides, padding, dilation, activation, use_bias
    ((7, 7, 3), 4, 3, 1, "valid", 1, None, True),
    ((7, 7, 3), 4, 3, 1, "same", 1, "relu", True),
    ((8, 9, 2), 3, 3, 2, "same", 1, None, True),  # H: total pad 1 (odd), W: total 2
    ((7, 6, 2), 3, 2, 1, "same", 1, None, True),  # even kernel: total 1, the extra at bottom/right
    ((9, 9, 2), 2, 4, 1, "same", 1, "tanh", False),  # even kernel: total 3
    ((7, 7, 2), 3, 2, 2, "valid", 1, None, True),  # even kernel, stride 2, last column unused
    ((10, 9, 3), 3, (3, 2), (2, 3), "same", 1, "sigmoid", True),
    ((6, 6, 1), 2, 5, 3, "same", 1, None, True),  # stride 3, total 2
    ((5, 5, 2), 3, 1, 2, "valid", 1, None, True),  # 1x1 kernel
    ((9, 9, 2), 3, 3, 1, "same", 2, None, True),  # dilation 2, same
    ((11, 10, 2), 2, (2, 3), 1, "valid", (2, 3), None, True),
    ((8, 8, 2), 2, 2, 1, "same", 3, "relu", True),  # even kernel, dilation 3: total 3
    # channel counts the SIMD tiles take (float32: vectors of 16 on AVX-512, 8 on AVX2)
    ((6, 6, 16), 16, 3, 1, "same", 1, "relu", True),  # direct forward, kernel and input gradients
    ((6, 5, 32), 32, 3, 1, "same", 1, None, True),
    ((5, 5, 16), 64, 3, 1, "valid", 1, None, False),  # F > C
    ((7, 7, 32), 32, 3, 2, "same", 1, None, True),  # stride 2: direct forward, col2im input gradient
]


@pytest.mark.parametrize("case", CONV_CASES, ids=lambda c: f"{c[0]}-k{c[2]}-s{c[3]}-{c[4]}-d{c[5]}")
def test_conv2d(tfk, backend, case):
    tf, keras = tfk
    shape, filters, k, s, padding, d, act, use_bias = case
    kw = dict(strides=s, padding=padding, dilation_rate=d, activation=act, use_bias=use_bias)
    check_layer(tf, tl.Conv2D(filters, k, **kw), keras.layers.Conv2D(filters, k, **kw), shape)


POOL_CASES = [
    # input (H, W, C), pool, strides, padding
    ((8, 8, 3), 2, None, "valid"),
    ((7, 9, 2), 2, None, "valid"),  # odd sizes: the last row/column is dropped
    ((7, 9, 2), 2, None, "same"),  # odd sizes: a half window at the bottom/right
    ((9, 9, 2), 3, 2, "valid"),  # overlapping windows
    ((8, 8, 2), 3, 2, "same"),  # overlapping, odd total padding
    ((6, 7, 2), (3, 2), (1, 2), "same"),
    ((5, 5, 1), 2, 1, "same"),
    ((6, 6, 2), 3, 3, "same"),
]


@pytest.mark.parametrize("kind", ["max", "avg"])
@pytest.mark.parametrize("case", POOL_CASES, ids=lambda c: f"{c[0]}-p{c[1]}-s{c[2]}-{c[3]}")
def test_pooling(tfk, backend, kind, case):
    tf, keras = tfk
    shape, pool, strides, padding = case
    tiny_cls, keras_cls = (
        (tl.MaxPooling2D, keras.layers.MaxPooling2D)
        if kind == "max"
        else (tl.AveragePooling2D, keras.layers.AveragePooling2D)
    )
    # standard normal inputs have no ties, so the max-pool winner is unambiguous
    check_layer(tf, tiny_cls(pool, strides, padding), keras_cls(pool, strides, padding), shape)


@pytest.mark.parametrize("training", [True, False], ids=["training", "inference"])
@pytest.mark.parametrize(
    "shape, axis, momentum",
    [
        ((5,), -1, 0.99),
        ((4, 5, 3), -1, 0.99),
        ((4, 5, 3), -1, 0.9),
        ((3, 4, 5), 1, 0.9),  # a channels-first style axis
    ],
    ids=["2d", "4d", "4d-momentum0.9", "4d-axis1"],
)
def test_batch_normalization(tfk, training, shape, axis, momentum):
    """Forward, gradients and (training) the moving statistics after the step, compared in check_layer."""
    tf, keras = tfk
    rng = np.random.default_rng(1)
    batch = 16 if len(shape) == 1 else 4
    x = 3.0 + 2.0 * rng.standard_normal((batch,) + shape)  # off-centre, so the statistics matter
    tiny, klayer = check_layer(
        tf,
        tl.BatchNormalization(axis=axis, momentum=momentum),
        keras.layers.BatchNormalization(axis=axis, momentum=momentum),
        shape,
        training=training,
        x=x,
    )
    if training:  # the moving statistics did move, and equally
        before = klayer.get_weights()
        tiny.forward(x.astype(np.float32), training=True)
        klayer(tf.constant(x, dtype=tf.float32), training=True)
        for name, tw, kw in zip(tiny.weight_names, tiny.get_weights(), klayer.get_weights()):
            assert_close(tw, kw, RTOL_OUTPUT, f"BatchNormalization{shape}: {name} after a second step")
        assert not np.allclose(klayer.get_weights()[2], before[2])


@pytest.mark.parametrize("rate, training", [(0.0, True), (0.0, False), (0.5, False)])
def test_dropout(tfk, rate, training):
    """Rate 0 (the course's parity setting) in both modes; rate 0.5 in inference (random masks differ)."""
    tf, keras = tfk
    check_layer(tf, tl.Dropout(rate), keras.layers.Dropout(rate), (4, 3, 2), training=training)


@pytest.mark.parametrize("activation", ["linear", "relu", "sigmoid", "tanh", "softmax", None])
def test_dense(tfk, activation):
    tf, keras = tfk
    check_layer(tf, tl.Dense(6, activation=activation), keras.layers.Dense(6, activation=activation), (5,), batch=4)


def test_dense_without_bias_on_3d_input(tfk):
    tf, keras = tfk
    check_layer(tf, tl.Dense(4, use_bias=False), keras.layers.Dense(4, use_bias=False), (3, 5))


def test_flatten(tfk):
    tf, keras = tfk
    check_layer(tf, tl.Flatten(), keras.layers.Flatten(), (3, 4, 5))


@pytest.mark.parametrize("activation", ["relu", "sigmoid", "tanh", "softmax", "linear"])
def test_activation(tfk, activation):
    tf, keras = tfk
    x = 3.0 * np.random.default_rng(2).standard_normal((4, 3, 5))
    check_layer(tf, tl.Activation(activation), keras.layers.Activation(activation), (3, 5), x=x)


@pytest.mark.parametrize(
    "kwargs",
    [
        {},
        {"max_value": 1.0},
        {"negative_slope": 0.1, "threshold": 0.5},
        {"max_value": 2.0, "negative_slope": 0.2, "threshold": 0.3},
    ],
    ids=["default", "max_value", "slope-threshold", "all"],
)
def test_relu_layer(tfk, kwargs):
    tf, keras = tfk
    x = 2.0 * np.random.default_rng(3).standard_normal((4, 6, 5))
    check_layer(tf, tl.ReLU(**kwargs), keras.layers.ReLU(**kwargs), (6, 5), x=x)


def test_softmax_layer(tfk):
    tf, keras = tfk
    x = 3.0 * np.random.default_rng(4).standard_normal((4, 2, 7))
    check_layer(tf, tl.Softmax(), keras.layers.Softmax(), (2, 7), x=x)


# ------------------------------------------------------------------------------------------ losses
def _probabilities(rng, n, k):
    z = 2.0 * rng.standard_normal((n, k))
    return np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)


def _loss_cases(rng):
    """``(name, y_true, y_pred)``: ordinary cases, then ones where Keras's clipping is active."""
    n, k = 8, 5
    labels = rng.integers(0, k, n)
    onehot = np.eye(k)[labels]
    p = _probabilities(rng, n, k)
    clipped = p.copy()
    clipped[0] = [0.0, 0.2, 0.3, 0.5, 0.0]  # a zero probability on the label (labels[0] set below)
    clipped[1] = [1.0, 0.0, 0.0, 0.0, 0.0]  # a certain prediction, clipped at 1 - 1e-7
    clipped[2] = [3e-8, 0.5, 0.2, 0.3 - 3e-8, 0.0]
    clipped[3] = [0.4, 0.4, 0.4, 0.4, 0.4]  # does not sum to 1: Keras renormalizes
    clipped_labels = labels.copy()
    clipped_labels[:3] = [0, 0, 0]
    soft = _probabilities(rng, n, k)  # soft targets
    reg_true, reg_pred = rng.standard_normal((n, 3)), rng.standard_normal((n, 3))
    bin_true = rng.integers(0, 2, (n, 3)).astype(float)
    bin_pred = rng.uniform(0.01, 0.99, (n, 3))
    bin_clip = bin_pred.copy()
    bin_clip[0] = [0.0, 1.0, 1e-9]
    bin_clip[1] = [1.0, 0.0, 1 - 1e-9]
    return [
        ("categorical_crossentropy", onehot, p),
        ("categorical_crossentropy", soft, p),
        ("categorical_crossentropy", np.eye(k)[clipped_labels], clipped),
        ("sparse_categorical_crossentropy", labels, p),
        ("sparse_categorical_crossentropy", clipped_labels, clipped),
        ("mean_squared_error", reg_true, reg_pred),
        ("mse", reg_true[:, :1], reg_pred[:, :1]),
        ("mean_absolute_error", reg_true, reg_pred),
        ("binary_crossentropy", bin_true, bin_pred),
        ("binary_crossentropy", bin_true, bin_clip),
    ]


LOSS_CASES = _loss_cases(np.random.default_rng(5))
KERAS_LOSS = {"mse": "mean_squared_error"}


@pytest.mark.parametrize("case", LOSS_CASES, ids=[f"{c[0]}-{i}" for i, c in enumerate(LOSS_CASES)])
def test_loss_and_gradient(tfk, case):
    tf, keras = tfk
    name, y_true, y_pred = case
    y_true = np.asarray(y_true, dtype=np.int64 if name.startswith("sparse") else np.float32)
    y_pred = np.asarray(y_pred, dtype=np.float32)
    loss = tlosses.get(name)
    per_sample = loss.per_sample(y_true, y_pred)
    grad = loss.gradient(y_true, y_pred)

    keras_fn = getattr(keras.losses, KERAS_LOSS.get(name, name))
    p = tf.constant(y_pred)
    with tf.GradientTape() as tape:
        tape.watch(p)
        k_per_sample = keras_fn(tf.constant(y_true), p)
        k_mean = tf.reduce_mean(k_per_sample)
    k_grad = tape.gradient(k_mean, p).numpy()

    assert_close(per_sample, k_per_sample.numpy(), RTOL_OUTPUT, f"{name}: per-sample loss")
    assert_close(loss(y_true, y_pred), k_mean.numpy(), RTOL_OUTPUT, f"{name}: batch mean")
    assert_close(grad, k_grad, RTOL_GRAD, f"{name}: gradient of the batch mean")


@pytest.mark.parametrize("name", ["categorical_crossentropy", "sparse_categorical_crossentropy"])
def test_fused_softmax_crossentropy_from_logits(tfk, name):
    tf, keras = tfk
    rng = np.random.default_rng(6)
    z = (4.0 * rng.standard_normal((8, 6))).astype(np.float32)
    z[0, 0] = 60.0  # a saturated softmax: the logits path stays finite and exact
    labels = rng.integers(0, 6, 8)
    labels[0] = 1
    y_true = labels if name.startswith("sparse") else np.eye(6, dtype=np.float32)[labels]
    per_sample, dz = tlosses.get(name).from_logits(y_true, z)

    zt = tf.constant(z)
    with tf.GradientTape() as tape:
        tape.watch(zt)
        k_per_sample = getattr(keras.losses, name)(tf.constant(y_true), zt, from_logits=True)
        k_mean = tf.reduce_mean(k_per_sample)
    assert_close(per_sample, k_per_sample.numpy(), RTOL_OUTPUT, f"{name} from logits: per-sample loss")
    assert_close(dz, tape.gradient(k_mean, zt).numpy(), RTOL_GRAD, f"{name} from logits: dL/dz")


# ------------------------------------------------------------------------------------------ SGD
SGD_CASES = [
    # model, momentum, nesterov, decay
    ("classifier", 0.9, False, 0.01),
    ("classifier", 0.9, True, 0.05),
    ("classifier", 0.0, False, 0.0),
    ("regressor", 0.8, True, 0.02),
]


def per_layer(tmodel, weights):
    """The flat list of weights grouped per layer of ``tmodel``, each group one flat vector."""
    groups, i = [], 0
    for layer in tmodel.layers:
        n = len(layer.weight_names)
        groups.append(np.concatenate([np.ravel(w) for w in weights[i : i + n]]) if n else np.zeros(0))
        i += n
    return groups


def _small_models(keras, kind):
    if kind == "classifier":
        k = keras.Sequential(
            [
                keras.Input((4,)),
                keras.layers.Dense(8, activation="tanh"),
                keras.layers.BatchNormalization(),
                keras.layers.Dense(3, activation="softmax"),
            ]
        )
        t = Sequential(
            [
                tl.Dense(8, activation="tanh", input_shape=(4,)),
                tl.BatchNormalization(),
                tl.Dense(3, activation="softmax"),
            ]
        )
        return k, t, "categorical_crossentropy"
    k = keras.Sequential([keras.Input((4,)), keras.layers.Dense(8, activation="relu"), keras.layers.Dense(1)])
    t = Sequential([tl.Dense(8, activation="relu", input_shape=(4,)), tl.Dense(1)])
    return k, t, "mse"


@pytest.mark.parametrize("case", SGD_CASES, ids=lambda c: f"{c[0]}-m{c[1]}-nesterov{c[2]}-decay{c[3]}")
def test_sgd_trajectory(tfk, case):
    """60 steps of train_on_batch on both; loss and every weight compared after each step."""
    tf, keras = tfk
    kind, momentum, nesterov, decay = case
    lr = 0.1 if kind == "classifier" else 0.05
    rng = np.random.default_rng(7)
    x = rng.standard_normal((64, 4)).astype(np.float32)
    if kind == "classifier":
        y = np.eye(3, dtype=np.float32)[(x[:, 0] + x[:, 1] > 0).astype(int) + (x[:, 2] > 1)]
    else:
        y = (x @ np.array([1.0, -2.0, 0.5, 0.0]) + 0.3 * x[:, 0] ** 2)[:, None].astype(np.float32)
    kmodel, tmodel, loss = _small_models(keras, kind)
    schedule = keras.optimizers.schedules.InverseTimeDecay(lr, decay_steps=1, decay_rate=decay)
    kmodel.compile(
        optimizer=keras.optimizers.SGD(schedule, momentum=momentum, nesterov=nesterov), loss=loss, jit_compile=False
    )
    tmodel.compile(optimizer=SGD(lr, momentum=momentum, nesterov=nesterov, decay=decay), loss=loss)
    tmodel.set_weights(kmodel.get_weights())

    for step in range(60):
        batch = slice(16 * (step % 4), 16 * (step % 4 + 1))
        k_loss = float(kmodel.train_on_batch(x[batch], y[batch]))
        t_loss = tmodel.train_on_batch(x[batch], y[batch])
        assert_close(t_loss, k_loss, RTOL_OUTPUT, f"{case} step {step}: loss")
        # per layer (kernel and bias together): a bias that passes near 0 has no scale of its own
        for layer, tw, kw in zip(
            tmodel.layers, per_layer(tmodel, tmodel.get_weights()), per_layer(tmodel, kmodel.get_weights())
        ):
            assert_close(tw, kw, RTOL_OUTPUT, f"{case} step {step}: weights of {layer.name}")
    assert tmodel.optimizer.iterations == int(kmodel.optimizer.iterations.numpy()) == 60


# ------------------------------------------------------------------------------------------ the course CNN
def course_cnn_tinycnn(dtype="float32"):
    d = dict(dtype=dtype)
    return Sequential(
        [
            tl.Conv2D(32, (3, 3), padding="same", input_shape=(28, 28, 1), **d),
            tl.Activation("relu", **d),
            tl.BatchNormalization(axis=-1, **d),
            tl.Conv2D(32, (3, 3), padding="same", **d),
            tl.Activation("relu", **d),
            tl.BatchNormalization(axis=-1, **d),
            tl.MaxPooling2D(pool_size=(2, 2), **d),
            tl.Conv2D(64, (3, 3), padding="same", **d),
            tl.Activation("relu", **d),
            tl.BatchNormalization(axis=-1, **d),
            tl.Conv2D(64, (3, 3), padding="same", **d),
            tl.Activation("relu", **d),
            tl.BatchNormalization(axis=-1, **d),
            tl.MaxPooling2D(pool_size=(2, 2), **d),
            tl.Flatten(**d),
            tl.Dense(512, **d),
            tl.Activation("relu", **d),
            tl.BatchNormalization(**d),
            tl.Dropout(0.0, **d),
            tl.Dense(10, **d),
            tl.Activation("softmax", **d),
        ]
    )


def course_cnn_keras(keras, dtype="float32"):
    L, d = keras.layers, dict(dtype=dtype)
    return keras.Sequential(
        [
            keras.Input((28, 28, 1), dtype=dtype),
            L.Conv2D(32, (3, 3), padding="same", **d),
            L.Activation("relu", **d),
            L.BatchNormalization(axis=-1, **d),
            L.Conv2D(32, (3, 3), padding="same", **d),
            L.Activation("relu", **d),
            L.BatchNormalization(axis=-1, **d),
            L.MaxPooling2D(pool_size=(2, 2), **d),
            L.Conv2D(64, (3, 3), padding="same", **d),
            L.Activation("relu", **d),
            L.BatchNormalization(axis=-1, **d),
            L.Conv2D(64, (3, 3), padding="same", **d),
            L.Activation("relu", **d),
            L.BatchNormalization(axis=-1, **d),
            L.MaxPooling2D(pool_size=(2, 2), **d),
            L.Flatten(**d),
            L.Dense(512, **d),
            L.Activation("relu", **d),
            L.BatchNormalization(**d),
            L.Dropout(0.0, **d),
            L.Dense(10, **d),
            L.Activation("softmax", **d),
        ]
    )


@pytest.fixture(scope="module")
def course(tfk):
    """The Keras course CNN (built once), its initial weights with non-trivial BatchNorm statistics, and data."""
    tf, keras = tfk
    keras.utils.set_random_seed(0)
    kmodel = course_cnn_keras(keras)
    rng = np.random.default_rng(8)
    for layer in kmodel.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            randomize_weights(layer, rng)
    x = rng.random((32, 28, 28, 1), dtype=np.float32)
    y = np.eye(10, dtype=np.float32)[rng.integers(0, 10, 32)]
    return kmodel, kmodel.get_weights(), x, y


def test_course_cnn_parameter_counts(tfk, course):
    kmodel = course[0]
    tmodel = course_cnn_tinycnn()
    non_trainable = sum(int(np.prod(v.shape)) for v in kmodel.non_trainable_weights)
    tiny_non_trainable = tmodel.count_params() - sum(layer.count_trainable_params() for layer in tmodel.layers)
    assert tmodel.count_params() == kmodel.count_params() == 1_679_082
    assert tiny_non_trainable == non_trainable == 1_408
    assert [w.shape for w in tmodel.get_weights()] == [tuple(v.shape) for v in kmodel.weights]


def test_course_cnn_predictions(tfk, course):
    kmodel, w0, x, _ = course
    kmodel.set_weights(w0)
    tmodel = course_cnn_tinycnn()
    tmodel.set_weights(w0)
    assert_close(
        tmodel.predict(x, batch_size=32), kmodel(x, training=False).numpy(), RTOL_OUTPUT, "course CNN: predictions"
    )


RTOL_FLOAT64 = 1e-6  # Keras keeps the learning rate in float32 (0.01 -> 0.0099999998): ~2e-8 relative


def _keras_gradients(tf, keras, model, x, y):
    """Loss and trainable-weight gradients of one training-mode pass (this also moves BatchNorm statistics)."""
    with tf.GradientTape() as tape:
        loss = tf.reduce_mean(keras.losses.categorical_crossentropy(y, model(x, training=True)))
    return loss, tape.gradient(loss, model.trainable_weights)


def test_course_cnn_training_step(tfk, course):
    """One SGD(0.01, momentum 0.9) step on 32 random images: the loss, every gradient and every weight.

    In float64 tinycnn and Keras take the same step (to ``RTOL_FLOAT64``): the math is the same.

    In float32 the step is ill-conditioned: the gradients pass backwards through training-mode
    BatchNormalizations, whose backward pass subtracts nearly equal sums over 25,088 values per channel.
    Keras differentiates its float32 ``moments`` graph and its float32 gradients land 1e-4 (the Dense
    layers) to 1e-1 (the first convolutions) away from the exact ones (measured against float64 Keras, with
    or without oneDNN); tinycnn accumulates those sums in float64 and stays within 2e-5 of exact everywhere.
    So in float32 tinycnn's gradients and weights are held to the usual tolerances against the exact step
    (float64 Keras), and directly against Keras float32 wherever Keras float32 is itself within half that
    tolerance of the exact step (so the comparison can tell an error of ours from one of Keras's).
    """
    tf, keras = tfk
    kmodel, w0, x, y = course

    # Keras, float32: the real train_on_batch; its gradients at w0 from a tape, for the comparison
    kmodel.set_weights(w0)
    k32_grads = [g.numpy() for g in _keras_gradients(tf, keras, kmodel, x, y)[1]]
    kmodel.set_weights(w0)
    kmodel.compile(
        optimizer=keras.optimizers.SGD(0.01, momentum=0.9), loss="categorical_crossentropy", jit_compile=False
    )
    k32_loss = float(kmodel.train_on_batch(x, y))
    k32 = kmodel.get_weights()
    kmodel.set_weights(w0)

    # Keras, float64: the exact step, run eagerly (no graph to trace)
    k64model = course_cnn_keras(keras, "float64")
    k64model.set_weights([w.astype(np.float64) for w in w0])
    loss, grads = _keras_gradients(tf, keras, k64model, x.astype(np.float64), y.astype(np.float64))
    keras.optimizers.SGD(0.01, momentum=0.9).apply_gradients(zip(grads, k64model.trainable_weights))
    k64_loss, k64_grads, k64 = float(loss), [g.numpy() for g in grads], k64model.get_weights()

    tiny = {}
    for dtype in ("float32", "float64"):
        tmodel = course_cnn_tinycnn(dtype)
        tmodel.compile(optimizer=SGD(0.01, momentum=0.9), loss="categorical_crossentropy")
        tmodel.set_weights(w0)
        loss = tmodel.train_on_batch(x.astype(dtype), y.astype(dtype))
        grads = [layer.grads[n] for layer in tmodel.layers if layer.trainable for n in layer.params]
        assert all(a.dtype == np.dtype(dtype) for a in tmodel.get_weights() + grads)
        tiny[dtype] = loss, grads, tmodel.get_weights()
    (t32_loss, t32_grads, t32), (t64_loss, t64_grads, t64) = tiny["float32"], tiny["float64"]

    assert_close(t64_loss, k64_loss, RTOL_FLOAT64, "course CNN, float64: loss of the training step")
    assert_close(t32_loss, k32_loss, RTOL_OUTPUT, "course CNN, float32: loss of the training step")

    names = [f"{layer.name}/{n}" for layer in tmodel.layers for n in layer.params]
    for name, a32, a64, b32, b64 in zip(names, t32_grads, t64_grads, k32_grads, k64_grads):
        assert_close(a64, b64, RTOL_FLOAT64, f"course CNN, float64: gradient of {name}")
        assert_close(a32, b64, RTOL_GRAD, f"course CNN, float32 vs exact (float64 Keras): gradient of {name}")
        if rel_diff(b32, b64) < RTOL_GRAD / 2:
            assert_close(a32, b32, RTOL_GRAD, f"course CNN, float32: gradient of {name}")

    # the weights after the step (moving statistics included), per layer: a bias that starts at 0 has no
    # scale of its own
    for layer, a32, a64, b32, b64 in zip(tmodel.layers, *(per_layer(tmodel, w) for w in (t32, t64, k32, k64))):
        assert_close(a64, b64, RTOL_FLOAT64, f"course CNN, float64: {layer.name} after one step")
        assert_close(a32, b64, RTOL_OUTPUT, f"course CNN, float32 vs exact: {layer.name} after one step")
        if rel_diff(b32, b64) < RTOL_OUTPUT / 2:
            assert_close(a32, b32, RTOL_OUTPUT, f"course CNN, float32: {layer.name} after one step")


def test_weights_round_trip(tfk, course):
    """tinycnn -> Keras -> tinycnn and Keras -> tinycnn -> Keras are exact; predictions agree after each."""
    kmodel, w0, x, _ = course
    set_random_seed(3)
    source = course_cnn_tinycnn()  # tinycnn's own initializers
    kmodel.set_weights(source.get_weights())
    assert_close(
        source.predict(x), kmodel(x, training=False).numpy(), RTOL_OUTPUT, "tinycnn weights in Keras: predictions"
    )
    back = course_cnn_tinycnn()
    back.set_weights(kmodel.get_weights())
    for a, b in zip(source.get_weights(), back.get_weights()):
        np.testing.assert_array_equal(a, b)

    kmodel.set_weights(w0)
    middle = course_cnn_tinycnn()
    middle.set_weights(kmodel.get_weights())
    assert_close(
        middle.predict(x), kmodel(x, training=False).numpy(), RTOL_OUTPUT, "Keras weights in tinycnn: predictions"
    )
    kmodel.set_weights([w * 0 for w in w0])
    kmodel.set_weights(middle.get_weights())
    for a, b in zip(kmodel.get_weights(), w0):
        np.testing.assert_array_equal(a, b)
    assert all(w.dtype == np.float32 for w in middle.get_weights())
