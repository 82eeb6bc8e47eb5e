"""The training loop's data paths: PyDataset / Sequence, generators and iterators (``steps_per_epoch``,
``validation_steps``, Keras 2's ``fit_generator``), a rank-1 ``x`` for a one-feature model, weight penalties
in the loss, and a callback that stops training after a batch.

Keras parity where Keras has the same rule: a PyDataset trains exactly as the same batches given one by one
to ``train_on_batch``; L2 penalties against Keras (same weights, same batches).
"""

import os

import numpy as np
import pytest

import tinycnn
from tinycnn import layers, regularizers
from tinycnn.callbacks import Callback
from tinycnn.errors import InvalidArgumentError
from tinycnn.models import Sequential
from tinycnn.optimizers import SGD
from tinycnn.utils import PyDataset, set_random_seed


class Batches(PyDataset):
    def __init__(self, x, y, batch_size):
        super().__init__()
        self.x, self.y, self.batch_size, self.epochs_ended = x, y, batch_size, 0

    def __len__(self):
        return -(-len(self.x) // self.batch_size)

    def __getitem__(self, i):
        part = slice(i * self.batch_size, (i + 1) * self.batch_size)
        return self.x[part], self.y[part]

    def on_epoch_end(self):
        self.epochs_ended += 1


def data(n=40, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 3)).astype("float32")
    return x, (x @ np.array([[1.0], [-2.0], [0.5]])).astype("float32")


def model(seed=0, **dense_kwargs):
    set_random_seed(seed)
    m = Sequential([layers.Dense(4, activation="tanh", input_shape=(3,), **dense_kwargs), layers.Dense(1)])
    m.compile(SGD(0.05, momentum=0.9), "mse", metrics=["mae"])
    return m


def test_a_pydataset_trains_as_its_batches_fed_one_by_one():
    x, y = data()
    a, b = model(), model()
    ds = Batches(x, y, 16)
    history = a.fit(ds, epochs=2, verbose=0, validation_data=Batches(x[:8], y[:8], 4))
    for _ in range(2):
        for i in range(len(ds)):
            b.train_on_batch(*ds[i])
    for wa, wb in zip(a.get_weights(), b.get_weights()):
        np.testing.assert_array_equal(wa, wb)
    assert ds.epochs_ended == 2 and set(history.history) == {"loss", "mae", "val_loss", "val_mae"}
    assert a.evaluate(ds, verbose=0) == pytest.approx(a.evaluate(x, y, batch_size=16, verbose=0), rel=1e-6)
    np.testing.assert_allclose(a.predict(ds), a.predict(x), rtol=1e-6)


def test_generators_need_steps_and_fit_generator_is_keras_2s_spelling():
    x, y = data()
    m = model()

    def forever():
        while True:
            for i in range(0, 40, 10):
                yield x[i : i + 10], y[i : i + 10]

    with pytest.raises(InvalidArgumentError, match="steps_per_epoch"):
        m.fit(forever(), epochs=1, verbose=0)
    h = m.fit_generator(
        forever(), steps_per_epoch=4, epochs=2, verbose=0, validation_data=forever(), validation_steps=2
    )
    assert len(h.history["loss"]) == 2 and "val_loss" in h.history
    assert m.predict_generator((xb for xb, _ in forever()), steps=3).shape == (30, 1)
    assert np.all(np.isfinite(m.evaluate_generator(forever(), steps=2)))
    with pytest.raises(InvalidArgumentError, match="do not pass y="):
        m.fit(Batches(x, y, 8), y, verbose=0)
    short = (b for b in [(x[:10], y[:10])])
    with pytest.warns(RuntimeWarning, match="ran out of data"):
        m.fit(short, steps_per_epoch=3, epochs=1, verbose=0)


def test_image_data_generator_flow_feeds_fit():
    from tinycnn.preprocessing.image import ImageDataGenerator

    rng = np.random.default_rng(0)
    x = rng.random((24, 8, 8, 1)).astype("float32")
    y = np.eye(3, dtype="float32")[np.arange(24) % 3]
    set_random_seed(0)
    m = Sequential(
        [layers.Conv2D(2, 3, input_shape=(8, 8, 1)), layers.Flatten(), layers.Dense(3, activation="softmax")]
    )
    m.compile(SGD(0.1), "categorical_crossentropy", metrics=["accuracy"])
    gen = ImageDataGenerator(horizontal_flip=True, width_shift_range=0.1).flow(x, y, batch_size=8, seed=1)
    h = m.fit(gen, epochs=2, verbose=0)
    assert len(h.history["loss"]) == 2 and all(np.isfinite(h.history["loss"]))


def test_rank_1_x_is_one_feature():
    rng = np.random.default_rng(1)
    x = rng.normal(size=30).astype("float32")
    y = 3 * x + 1
    set_random_seed(0)
    m = Sequential([layers.Dense(1)])
    m.compile(SGD(0.1), "mse")
    m.fit(x, y, epochs=30, verbose=0)
    assert m.layers[0].input_shape == (None, 1)
    np.testing.assert_allclose(m.predict(np.array([0.0, 1.0])).ravel(), [1.0, 4.0], atol=0.05)


def test_a_callback_stopping_mid_epoch_stops_after_that_batch():
    x, y = data()
    m = model()
    batches = []

    class StopAtTwo(Callback):
        def on_train_batch_end(self, batch, logs=None):
            batches.append(batch)
            if batch == 1:
                self.model.stop_training = True

    h = m.fit(x, y, batch_size=8, epochs=3, verbose=0, callbacks=[StopAtTwo()])
    assert batches == [0, 1] and len(h.history["loss"]) == 1  # Keras: the epoch still ends (and validates)


def test_weight_penalties_join_the_loss_and_its_gradient():
    x, y = data()
    plain, penalized = model(), model(kernel_regularizer=regularizers.L2(0.1))
    loss_plain = plain.train_on_batch(x, y)
    w = penalized.layers[0].params["kernel"].copy()
    loss_penalized = penalized.train_on_batch(x, y)
    assert loss_penalized == pytest.approx(loss_plain + 0.1 * float(np.sum(w.astype(np.float64) ** 2)), rel=1e-5)
    assert not np.allclose(plain.get_weights()[0], penalized.get_weights()[0])


def _keras():
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    try:
        import keras
        import tensorflow  # noqa: F401
    except ImportError as e:
        if os.environ.get("CI", "").strip().lower() == "true":
            pytest.fail(f"CI=true but TensorFlow/Keras cannot be imported ({e})", pytrace=False)
        pytest.skip(f"TensorFlow/Keras not installed ({e})")
    return keras


@pytest.mark.parametrize("reg", ["l2", "l1", "L1L2"])
def test_weight_penalties_match_keras_over_sgd_steps(reg):
    keras = _keras()

    def build(K):
        def r():
            return K.regularizers.L1L2(l1=0.01, l2=0.02) if reg == "L1L2" else reg

        return K.Sequential(
            [
                K.Input((3,)),
                K.layers.Dense(4, activation="tanh", kernel_regularizer=r(), bias_regularizer="l2"),
                K.layers.Dense(1, kernel_regularizer=r()),
            ]
        )

    km, tm = build(keras), build(tinycnn)
    tm.set_weights(km.get_weights())
    km.compile(keras.optimizers.SGD(0.05, momentum=0.9), "mse")
    tm.compile(SGD(0.05, momentum=0.9), "mse")
    x, y = data(64, seed=3)
    for i in range(0, 64, 8):
        k_loss = float(km.train_on_batch(x[i : i + 8], y[i : i + 8]))
        t_loss = tm.train_on_batch(x[i : i + 8], y[i : i + 8])
        assert t_loss == pytest.approx(k_loss, rel=1e-5)
    for a, b in zip(tm.get_weights(), km.get_weights()):
        assert np.max(np.abs(a - b)) / np.max(np.abs(b)) < 2e-4
    assert tm.evaluate(x, y, verbose=0) == pytest.approx(float(km.evaluate(x, y, verbose=0)), rel=1e-5)


@pytest.mark.parametrize("asked, other", [("accuracy", "acc"), ("acc", "accuracy")])
def test_history_answers_acc_and_accuracy(asked, other):
    set_random_seed(0)
    x = np.random.default_rng(0).normal(size=(20, 3)).astype("float32")
    y = np.eye(2, dtype="float32")[np.arange(20) % 2]
    m = Sequential([layers.Dense(2, activation="softmax", input_shape=(3,))])
    m.compile(SGD(0.1), "categorical_crossentropy", metrics=[asked])
    h = m.fit(x, y, epochs=2, verbose=0, validation_split=0.25)
    assert asked in h.history and f"val_{asked}" in h.history  # logged under the name asked for
    assert h.history[other] == h.history[asked] and h.history[f"val_{other}"] == h.history[f"val_{asked}"]
    assert other not in list(h.history)  # ... and the alias is not a second curve
