"""Losses with ``from_logits`` / ``label_smoothing`` and the metrics of issue 14: gradient checks in float64,
hand-computed values, and parity with Keras on random data (the CI rule of :mod:`test_keras_parity`)."""

import numpy as np
import pytest
import test_keras_parity as kp

from tinycnn import gradcheck, losses, metrics
from tinycnn.errors import InvalidArgumentError
from tinycnn.utils import to_categorical

TOL = 1e-7


@pytest.fixture(scope="module")
def tfk():
    return kp._import_keras()


def _data(kind, rng, n=6, k=4, logits=True):
    z = 3.0 * rng.standard_normal((n, k if kind != "binary" else 3))
    if kind == "categorical":
        y = to_categorical(rng.integers(0, k, n), k).astype(np.float64)
    elif kind == "sparse":
        y = rng.integers(0, k, n)
    else:
        y = rng.integers(0, 2, z.shape).astype(np.float64)
    return y, z


def check_loss_gradient(loss, y, z, rtol=TOL, atol=1e-11):
    """``loss.gradient`` against central differences of the batch mean (as :func:`gradcheck.check_loss`), with an
    absolute floor for entries whose value is itself near the noise of the difference quotient."""
    z = np.array(z, dtype=np.float64)
    analytic = loss.gradient(y, z)
    numeric = gradcheck.numeric_gradient(lambda: loss.per_sample(y, z), z, np.full(len(z), 1.0 / len(z)))
    np.testing.assert_allclose(analytic, numeric, rtol=rtol, atol=atol, err_msg=f"{loss!r}")


LOSSES = [
    ("categorical", losses.CategoricalCrossentropy),
    ("sparse", losses.SparseCategoricalCrossentropy),
    ("binary", losses.BinaryCrossentropy),
]


# Keras has no label smoothing for the sparse loss
SMOOTHING_CASES = [(kind, cls, a) for kind, cls in LOSSES for a in (0.0, 0.2) if not (kind == "sparse" and a)]


@pytest.mark.parametrize("kind, cls, smoothing", SMOOTHING_CASES)
def test_from_logits_gradient(kind, cls, smoothing):
    y, z = _data(kind, np.random.default_rng(0))
    kwargs = {"label_smoothing": smoothing} if smoothing else {}
    loss = cls(from_logits=True, **kwargs)
    check_loss_gradient(loss, y, z)
    assert not loss.fuses_softmax


@pytest.mark.parametrize(
    "kind, cls", [("categorical", losses.CategoricalCrossentropy), ("binary", losses.BinaryCrossentropy)]
)
def test_label_smoothing_gradient_from_probabilities(kind, cls):
    rng = np.random.default_rng(1)
    y, z = _data(kind, rng)
    p = 1 / (1 + np.exp(-z)) if kind == "binary" else np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)
    # probabilities kept away from 0 and 1, where the difference quotient of log p loses its accuracy
    check_loss_gradient(cls(label_smoothing=0.1), y, np.clip(p, 0.05, 0.95), rtol=1e-6, atol=1e-8)


def test_from_logits_is_stable_and_by_hand():
    loss = losses.SparseCategoricalCrossentropy(from_logits=True)
    z = np.array([[1000.0, 0.0], [0.0, 0.0]])
    per_sample = loss.per_sample(np.array([1, 0]), z)
    np.testing.assert_allclose(per_sample, [1000.0, np.log(2)])
    bce = losses.BinaryCrossentropy(from_logits=True)
    np.testing.assert_allclose(bce.per_sample(np.array([[1.0], [0.0]]), np.array([[-800.0], [800.0]])), [800, 800])
    assert np.isfinite(loss(np.array([1, 0]), z))


def test_fused_method_renamed_and_flag():
    loss = losses.CategoricalCrossentropy()
    y, z = _data("categorical", np.random.default_rng(2))
    new = loss.per_sample_and_gradient_from_logits(y, z)
    old = loss.from_logits(y, z)  # transitional alias of the same method
    np.testing.assert_array_equal(new[1], old[1])
    assert loss.fuses_softmax and not loss.from_logits and loss.from_logits == False  # noqa: E712
    assert losses.CategoricalCrossentropy(from_logits=True).get_config()["from_logits"] is True
    report = gradcheck.check_fused_softmax_loss(loss, y, z)
    assert report.max_error < TOL


def test_callable_loss_objects_and_get():
    loss = losses.get({"class_name": "SparseCategoricalCrossentropy", "config": {"from_logits": True}})
    assert isinstance(loss, losses.SparseCategoricalCrossentropy) and loss.from_logits
    assert isinstance(losses.get("BinaryCrossentropy"), losses.BinaryCrossentropy)
    value = loss(np.array([0, 1]), np.array([[0.0, 0.0], [0.0, 0.0]]))
    assert abs(value - np.log(2)) < 1e-12 and isinstance(value.numpy(), np.float32)
    weighted = loss(np.array([0, 1]), np.array([[5.0, 0.0], [0.0, 0.0]]), sample_weight=np.array([0.0, 1.0]))
    assert abs(weighted - np.log(2) / 2) < 1e-12  # sum over the batch / batch size, as Keras
    with pytest.raises(InvalidArgumentError, match="from_logits"):
        losses.CategoricalCrossentropy(from_logits="yes")
    with pytest.raises(InvalidArgumentError, match="label_smoothing"):
        losses.BinaryCrossentropy(label_smoothing=2)
    with pytest.raises(InvalidArgumentError, match="gradient"):
        losses.get(lambda y, p: 0)


@pytest.mark.parametrize("kind, cls, smoothing", SMOOTHING_CASES)
@pytest.mark.parametrize("from_logits", [True, False])
def test_losses_keras_parity(tfk, kind, cls, from_logits, smoothing):
    """Per-sample loss, batch-mean loss and its gradient against ``keras.losses`` classes (float32)."""
    tf, keras = tfk
    rng = np.random.default_rng(3)
    y, z = _data(kind, rng, n=8, k=5)
    pred = (
        z
        if from_logits
        else (1 / (1 + np.exp(-z)) if kind == "binary" else np.exp(z) / np.exp(z).sum(axis=1, keepdims=True))
    )
    pred = pred.astype(np.float32)
    kwargs = {"from_logits": from_logits, **({"label_smoothing": smoothing} if smoothing else {})}
    tiny = cls(**kwargs)
    klass = getattr(keras.losses, cls.__name__)(**kwargs)
    pt = tf.constant(pred)
    with tf.GradientTape() as tape:
        tape.watch(pt)
        kvalue = klass(tf.constant(y), pt)
    kgrad = tape.gradient(kvalue, pt).numpy()
    kfn = getattr(keras.losses, tiny.name)(tf.constant(y), pt, **kwargs).numpy()
    label = f"{cls.__name__}({kwargs})"
    kp.assert_close(tiny.per_sample(y, pred), kfn, kp.RTOL_OUTPUT, f"{label} per sample")
    kp.assert_close(tiny(y, pred), kvalue.numpy(), kp.RTOL_OUTPUT, f"{label} batch mean")
    kp.assert_close(tiny.gradient(y, pred), kgrad, kp.RTOL_GRAD, f"{label} gradient")


# ------------------------------------------------------------------------------------------ metrics
def test_accuracy_resolution_as_keras3():
    p_multi = np.array([[0.1, 0.7, 0.2], [0.6, 0.3, 0.1]])
    assert metrics.resolve_accuracy((2,), p_multi.shape) is metrics.sparse_categorical_accuracy
    assert metrics.resolve_accuracy((2, 1), p_multi.shape) is metrics.sparse_categorical_accuracy
    assert metrics.resolve_accuracy((2, 3), p_multi.shape) is metrics.categorical_accuracy
    assert metrics.resolve_accuracy((2,), (2, 1)) is metrics.binary_accuracy
    assert metrics.resolve_accuracy((2, 1), (2, 1)) is metrics.binary_accuracy
    assert metrics.get("acc")[0] == "acc"
    np.testing.assert_array_equal(metrics.accuracy(np.array([[1.0], [0.0]]), np.array([[0.8], [0.7]])), [1, 0])
    assert metrics.get("accuracy", losses.SparseCategoricalCrossentropy())[1] is metrics.sparse_categorical_accuracy


def test_top_k_ties_and_mape_by_hand():
    p = np.array([[0.5, 0.2, 0.2, 0.1]])
    assert metrics.sparse_top_k_categorical_accuracy(np.array([2]), p, k=2).tolist() == [1.0]  # tie counts
    assert metrics.sparse_top_k_categorical_accuracy(np.array([3]), p, k=3).tolist() == [0.0]
    assert metrics.mape(np.array([[2.0, 4.0]]), np.array([[1.0, 5.0]])).tolist() == [37.5]


def test_metric_objects():
    m = metrics.BinaryAccuracy(threshold=0.7)
    m.update_state(np.array([[1.0], [1.0]]), np.array([[0.8], [0.6]]))
    assert float(m.result()) == 0.5
    m.update_state(np.array([[0.0]]), np.array([[0.1]]), sample_weight=np.array([2.0]))
    assert float(m.result()) == 0.75
    m.reset_state()
    assert float(m.result()) == 0.0
    name, fn = metrics.get(metrics.TopKCategoricalAccuracy(k=2, name="top2"))
    assert name == "top2" and fn(np.eye(3), np.eye(3)).tolist() == [1.0, 1.0, 1.0]


@pytest.mark.parametrize(
    "name, kind",
    [
        ("categorical_accuracy", "onehot"),
        ("sparse_categorical_accuracy", "sparse"),
        ("binary_accuracy", "binary"),
        ("top_k_categorical_accuracy", "onehot"),
        ("sparse_top_k_categorical_accuracy", "sparse"),
        ("mean_absolute_percentage_error", "regression"),
        ("mean_squared_error", "regression"),
        ("mean_absolute_error", "regression"),
    ],
)
def test_metrics_keras_parity(tfk, name, kind):
    tf, keras = tfk
    rng = np.random.default_rng(4)
    n, k = 64, 8
    if kind == "regression":
        y, p = rng.normal(size=(n, 3)), rng.normal(size=(n, 3))
        y[0, 0] = 0.0  # MAPE's epsilon floor
    elif kind == "binary":
        y, p = rng.integers(0, 2, (n, 1)).astype(np.float64), rng.uniform(size=(n, 1))
    else:
        labels = rng.integers(0, k, n)
        p = rng.uniform(size=(n, k))
        y = labels if kind == "sparse" else to_categorical(labels, k)
    y, p = np.asarray(y, np.float32), p.astype(np.float32)
    kvalues = np.asarray(getattr(keras.metrics, name)(tf.constant(y), tf.constant(p)))
    tvalues = getattr(metrics, name)(y, p)
    kp.assert_close(tvalues, kvalues.reshape(tvalues.shape), kp.RTOL_OUTPUT, name)
    cls_name = "".join(w.capitalize() for w in name.split("_"))  # top_k_... -> TopK...
    kobj, tobj = getattr(keras.metrics, cls_name)(), getattr(metrics, cls_name)()
    for i in range(0, n, 20):
        kobj.update_state(y[i : i + 20], p[i : i + 20])
        tobj.update_state(y[i : i + 20], p[i : i + 20])
    kp.assert_close(float(tobj.result()), float(kobj.result()), kp.RTOL_OUTPUT, f"{cls_name} running mean")


def test_accuracy_string_keras_parity(tfk):
    """``metrics=["accuracy"]`` in a compiled Keras model picks the same function as tinycnn, for each target form."""
    tf, keras = tfk
    rng = np.random.default_rng(5)
    for units, activation, loss, y in [
        (1, "sigmoid", "binary_crossentropy", rng.integers(0, 2, (16, 1)).astype(np.float32)),
        (3, "softmax", "sparse_categorical_crossentropy", rng.integers(0, 3, 16)),
        (3, "softmax", "categorical_crossentropy", to_categorical(rng.integers(0, 3, 16), 3)),
    ]:
        x = rng.normal(size=(16, 4)).astype(np.float32)
        model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(units, activation=activation)])
        model.compile(loss=loss, metrics=["accuracy"])
        k_acc = model.evaluate(x, y, verbose=0, batch_size=16)[1]
        t_acc = float(np.mean(metrics.get("accuracy", losses.get(loss))[1](y, model.predict(x, verbose=0))))
        assert abs(k_acc - t_acc) < 1e-6, (loss, k_acc, t_acc)
