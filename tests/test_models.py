"""Sequential: building, compile/fit/evaluate/predict, History, summary, weights."""

import contextlib
import io

import numpy as np
import pytest

from tinycnn import losses, metrics
from tinycnn.layers import Activation, BatchNormalization, Conv2D, Dense, Dropout, Flatten, MaxPooling2D, Softmax
from tinycnn.models import Sequential
from tinycnn.optimizers import SGD
from tinycnn.utils import set_random_seed, to_categorical


def blobs(n=200, seed=0):
    """Three well-separated Gaussian blobs in 2-D."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 3, n)
    centres = np.array([[0, 3], [3, -2], [-3, -2]])
    return (centres[labels] + rng.normal(size=(n, 2))).astype(np.float32), labels


def small_classifier(**kw):
    return Sequential([Dense(16, activation="relu", input_shape=(2,)), Dense(3, activation="softmax")], **kw)


def test_fit_learns_and_history_has_keras_keys():
    set_random_seed(0)
    x, labels = blobs()
    model = small_classifier()
    model.compile(optimizer=SGD(0.1, momentum=0.9), loss="categorical_crossentropy", metrics=["accuracy"])
    history = model.fit(x, to_categorical(labels), epochs=15, batch_size=16, verbose=0, validation_split=0.25)
    assert set(history.history) == {"loss", "accuracy", "val_loss", "val_accuracy"}
    assert len(history.history["loss"]) == 15 and history.epoch == list(range(15))
    assert history.history["loss"][-1] < 0.5 * history.history["loss"][0]
    assert history.history["val_accuracy"][-1] > 0.9
    loss, acc = model.evaluate(x, to_categorical(labels), verbose=0)
    assert acc > 0.9 and loss < 0.5


def test_acc_name_and_sparse_loss():
    set_random_seed(1)
    x, labels = blobs()
    model = small_classifier()
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy", metrics=["acc"])
    history = model.fit(x, labels, epochs=3, verbose=0, validation_data=(x, labels))
    assert set(history.history) == {"loss", "acc", "val_loss", "val_acc"}
    assert metrics.get("acc", model.loss)[1] is metrics.sparse_categorical_accuracy


def test_epoch_loss_is_the_batch_size_weighted_mean_of_batch_losses():
    """Keras logs the running mean over the epoch's batches, weighted by batch size."""
    set_random_seed(2)
    x, labels = blobs(50)
    y = to_categorical(labels)
    model = small_classifier()
    model.compile(optimizer=SGD(0.0), loss="categorical_crossentropy")  # lr 0: the weights never move
    history = model.fit(x, y, batch_size=16, epochs=1, verbose=0, shuffle=False)
    assert history.history["loss"][0] == pytest.approx(model.evaluate(x, y, verbose=0), rel=1e-6)


def test_softmax_crossentropy_is_fused_and_matches_unfused_gradient():
    """The fused (p - y)/N path and the explicit softmax-Jacobian path give the same step."""
    set_random_seed(3)
    x, labels = blobs(32)
    y = to_categorical(labels)
    fused = Sequential(
        [Dense(4, input_shape=(2,), dtype="float64"), Dense(3, dtype="float64"), Softmax(dtype="float64")]
    )
    fused.compile(optimizer=SGD(0.1), loss="categorical_crossentropy")
    plain = Sequential(
        [Dense(4, input_shape=(2,), dtype="float64"), Dense(3, dtype="float64"), Softmax(dtype="float64")]
    )
    plain.compile(optimizer=SGD(0.1), loss="categorical_crossentropy")
    plain.set_weights(fused.get_weights())
    plain.layers[-1].ends_with_softmax = False  # force the generic loss.gradient -> softmax.backward path
    fused.train_on_batch(x, y)
    plain.train_on_batch(x, y)
    for a, b in zip(fused.get_weights(), plain.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-12)


def test_model_builds_on_first_use_without_input_shape():
    model = Sequential([Dense(4, activation="relu"), Dense(1)])
    assert not model.built
    out = model.predict(np.zeros((5, 3)))
    assert model.built and out.shape == (5, 1) and model.count_params() == (3 * 4 + 4) + (4 + 1)


def test_predict_runs_in_batches_and_inference_mode():
    model = Sequential([Dense(3, input_shape=(4,)), Dropout(0.5), BatchNormalization()])
    x = np.random.default_rng(0).normal(size=(70, 4)).astype(np.float32)
    a = model.predict(x, batch_size=8)
    b = model.predict(x, batch_size=70)
    np.testing.assert_allclose(a, b, rtol=1e-6)
    assert np.array_equal(model.layers[2].state["moving_mean"], np.zeros(3))  # inference: no update


def test_course_cnn_summary_matches_keras():
    model = course_cnn()
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        model.summary()
    text = buf.getvalue()
    assert "Total params: 1,679,082" in text
    assert "Trainable params: 1,677,674" in text
    assert "Non-trainable params: 1,408" in text
    assert "conv2d (Conv2D)" in text and "(None, 7, 7, 64)" in text
    assert model.count_params() == 1679082


def course_cnn(dropout=0.5):
    model = Sequential()
    model.add(Conv2D(32, (3, 3), padding="same", input_shape=(28, 28, 1), name="conv2d"))
    for i, filters in enumerate([32, 32, 64, 64]):
        if i:
            model.add(Conv2D(filters, (3, 3), padding="same"))
        model.add(Activation("relu"))
        model.add(BatchNormalization(axis=-1))
        if i % 2:
            model.add(MaxPooling2D(pool_size=(2, 2)))
    model.add(Flatten())
    model.add(Dense(512))
    model.add(Activation("relu"))
    model.add(BatchNormalization())
    model.add(Dropout(dropout))
    model.add(Dense(10))
    model.add(Activation("softmax"))
    return model


def test_save_and_load_weights_round_trip(tmp_path):
    set_random_seed(4)
    model = course_cnn()
    path = tmp_path / "w.npz"
    model.save_weights(path)
    other = course_cnn()
    other.load_weights(path)
    for a, b in zip(model.get_weights(), other.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_set_weights_checks_everything_before_changing_anything():
    model = small_classifier()
    before = model.get_weights()
    bad = [w.copy() + 1 for w in before]
    bad[-1] = np.zeros(7)
    with pytest.raises(ValueError, match="bias"):
        model.set_weights(bad)
    for a, b in zip(before, model.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_float64_end_to_end():
    model = Sequential(
        [
            Conv2D(2, 3, input_shape=(6, 6, 1), dtype="float64"),
            Activation("tanh", dtype="float64"),
            Flatten(dtype="float64"),
            Dense(1, dtype="float64"),
        ]
    )
    model.compile(optimizer=SGD(0.01), loss="mse")
    x = np.random.default_rng(0).normal(size=(4, 6, 6, 1))
    model.fit(x, np.ones((4, 1)), verbose=0)
    assert all(w.dtype == np.float64 for w in model.get_weights())
    assert model.predict(x).dtype == np.float64


@pytest.mark.parametrize("verbose,expect", [(0, None), (1, "ms/step"), (2, " - loss: ")])
def test_verbose_levels(verbose, expect, capsys):
    model = small_classifier()
    model.compile(optimizer="sgd", loss="categorical_crossentropy", metrics=["accuracy"])
    x, labels = blobs(40)
    model.fit(x, to_categorical(labels), epochs=2, verbose=verbose)
    out = capsys.readouterr().out
    if expect is None:
        assert out == ""
    else:
        assert expect in out and "Epoch 2/2" in out and "accuracy:" in out


def test_regression_with_mse_and_mae_metrics():
    set_random_seed(5)
    rng = np.random.default_rng(5)
    x = rng.normal(size=(256, 3)).astype(np.float32)
    y = (x @ np.array([1.0, -2.0, 0.5]) + 0.3)[:, None].astype(np.float32)
    model = Sequential([Dense(16, activation="tanh", input_shape=(3,)), Dense(1)])
    model.compile(optimizer=SGD(0.05, momentum=0.9), loss="mse", metrics=["mae"])
    history = model.fit(x, y, epochs=30, batch_size=16, verbose=0)
    assert history.history["loss"][-1] < 0.05
    assert isinstance(model.loss, losses.MeanSquaredError)


@pytest.mark.parametrize("first", ["conv", "dense"])
def test_first_layer_skips_its_input_gradient_while_training(first):
    """``fit`` asks the first layer for no ``dx`` (layers.base); its weight gradients and the step do not change,
    and the layer answers ``dx`` again afterwards."""
    set_random_seed(5)
    rng = np.random.default_rng(5)
    if first == "conv":
        layers = [
            Conv2D(16, 3, padding="same", input_shape=(6, 6, 2), dtype="float64"),
            Flatten(dtype="float64"),
            Dense(3, activation="softmax", dtype="float64"),
        ]
        x = rng.standard_normal((4, 6, 6, 2))
    else:
        layers = [
            Dense(16, activation="relu", input_shape=(2,), dtype="float64"),
            Dense(3, activation="softmax", dtype="float64"),
        ]
        x = rng.standard_normal((4, 2))
    y = to_categorical(rng.integers(0, 3, 4), 3)
    model = Sequential(layers)
    model.compile(optimizer=SGD(0.1), loss="categorical_crossentropy")
    model.build((None,) + x.shape[1:])
    start = model.get_weights()
    # The same step by hand, asking every layer for dx.
    out = x
    for layer in model.layers:
        out = layer.forward(out, training=True)
    d = model.layers[-1].backward_logits((out - y) / len(x))
    for layer in model.layers[-2::-1]:
        d = layer.backward(d)
    assert d is not None and d.shape == x.shape
    expected = [g.copy() for g in model.layers[0].grads.values()]
    calls = []
    original = type(model.layers[0]).backward

    def spy(self, dy):
        result = original(self, dy)
        calls.append(result)
        return result

    type(model.layers[0]).backward = spy
    try:
        model.train_on_batch(x, y)
    finally:
        type(model.layers[0]).backward = original
    assert len(calls) == 1 and calls[0] is None  # called once, and no dx computed
    for g, e in zip(model.layers[0].grads.values(), expected):
        np.testing.assert_allclose(g, e, rtol=1e-12)
    assert model.layers[0].input_gradient is True  # restored: used on its own, the layer returns dx
    model.set_weights(start)
    out = model.layers[0].forward(x, training=True)
    assert model.layers[0].backward(np.ones_like(out)).shape == x.shape
