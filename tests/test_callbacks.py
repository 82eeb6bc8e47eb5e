"""EarlyStopping, ModelCheckpoint and the callback hooks, with real (tiny, fast) trainings.

Where a test needs an exact sequence of monitored values, a ``Script`` callback writes them into the epoch's
logs just before EarlyStopping/ModelCheckpoint read them; the model still trains for real, so the weights
differ from epoch to epoch and "restored" or "saved" weights can be told apart.
"""

import os
import re

import numpy as np
import pytest

from tinycnn.callbacks import Callback, EarlyStopping, History, ModelCheckpoint, TerminateOnNaN
from tinycnn.errors import InvalidArgumentError
from tinycnn.layers import Dense
from tinycnn.models import Sequential
from tinycnn.optimizers import SGD
from tinycnn.utils import set_random_seed, to_categorical


def classifier(lr=0.1):
    model = Sequential([Dense(8, activation="relu", input_shape=(2,)), Dense(3, activation="softmax")])
    model.compile(optimizer=SGD(lr), loss="categorical_crossentropy", metrics=["accuracy"])
    return model


def blobs(n=60, seed=0):
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 3, n)
    centres = np.array([[0, 3], [3, -2], [-3, -2]])
    return (centres[labels] + rng.normal(size=(n, 2))).astype(np.float32), to_categorical(labels, 3)


class Script(Callback):
    """Puts ``values[epoch]`` into ``logs[key]`` at the end of each epoch (before the callbacks after it)."""

    def __init__(self, key, values):
        super().__init__()
        self.key, self.values = key, values

    def on_epoch_end(self, epoch, logs=None):
        logs[self.key] = self.values[epoch]


class EpochWeights(Callback):
    """``weights[epoch]``: the model's weights at the end of each epoch."""

    def __init__(self):
        super().__init__()
        self.weights = []

    def on_epoch_end(self, epoch, logs=None):
        self.weights.append(self.model.get_weights())


def same(a, b):
    return len(a) == len(b) and all(np.array_equal(u, v) for u, v in zip(a, b))


# ------------------------------------------------------------------------------------------------ hooks
def test_hooks_are_called_in_keras_order():
    events = []

    class Log(Callback):
        def on_train_begin(self, logs=None):
            events.append("train_begin")

        def on_epoch_begin(self, epoch, logs=None):
            events.append(f"epoch_begin {epoch}")

        def on_train_batch_begin(self, batch, logs=None):
            events.append(f"batch_begin {batch}")

        def on_train_batch_end(self, batch, logs=None):
            events.append(f"batch_end {batch} {sorted(logs)}")

        def on_epoch_end(self, epoch, logs=None):
            events.append(f"epoch_end {epoch} {sorted(logs)}")

        def on_train_end(self, logs=None):
            events.append("train_end")

    x, y = blobs(8)
    classifier().fit(x, y, batch_size=4, epochs=2, verbose=0, validation_data=(x, y), callbacks=[Log()])
    per_epoch = lambda e: [
        f"epoch_begin {e}",
        "batch_begin 0",
        "batch_end 0 ['accuracy', 'loss']",  # noqa: E731
        "batch_begin 1",
        "batch_end 1 ['accuracy', 'loss']",
        f"epoch_end {e} ['accuracy', 'loss', 'val_accuracy', 'val_loss']",
    ]
    assert events == ["train_begin"] + per_epoch(0) + per_epoch(1) + ["train_end"]


def test_terminate_on_nan_is_accepted_and_history_is_a_callback():
    x, y = blobs(8)
    history = classifier().fit(x, y, epochs=2, verbose=0, callbacks=[TerminateOnNaN()])
    assert isinstance(history, History) and history.epoch == [0, 1]


# ------------------------------------------------------------------------------------------ EarlyStopping
def test_early_stopping_patience_counts_epochs_without_improvement():
    """Keras's rule: with patience=2 and a loss that never moves, epoch 0 sets the best, 1 and 2 do not
    improve, training stops after epoch index 2 (three epochs run)."""
    set_random_seed(0)
    x, y = blobs()
    stopper = EarlyStopping(monitor="loss", patience=2)
    history = classifier(lr=0.0).fit(x, y, epochs=10, shuffle=False, verbose=0, callbacks=[stopper])
    assert history.epoch == [0, 1, 2] and stopper.stopped_epoch == 2 and stopper.best_epoch == 0


def test_early_stopping_restores_the_weights_of_the_best_epoch():
    set_random_seed(0)
    x, y = blobs()
    scores = [5.0, 3.0, 4.0, 2.0, 2.5, 2.6, 2.7, 1.0, 0.5, 0.1]
    stopper = EarlyStopping(monitor="val_score", patience=2, restore_best_weights=True)
    recorder = EpochWeights()
    model = classifier()
    history = model.fit(x, y, epochs=10, verbose=0, callbacks=[Script("val_score", scores), stopper, recorder])
    # best 2.0 at epoch 3; epochs 4 and 5 do not improve -> stop after epoch 5, before 1.0 is ever seen
    assert history.epoch == [0, 1, 2, 3, 4, 5]
    assert stopper.best == 2.0 and stopper.best_epoch == 3 and stopper.stopped_epoch == 5
    assert not same(recorder.weights[3], recorder.weights[5])  # the model really trained on
    assert same(model.get_weights(), recorder.weights[3])


def test_early_stopping_without_restore_keeps_the_last_weights():
    set_random_seed(0)
    x, y = blobs()
    recorder = EpochWeights()
    model = classifier()
    model.fit(
        x,
        y,
        epochs=10,
        verbose=0,
        callbacks=[
            Script("val_score", [3, 2, 2, 2, 2, 2, 2, 2, 2, 2]),
            EarlyStopping(monitor="val_score", patience=1),
            recorder,
        ],
    )
    assert len(recorder.weights) == 3 and same(model.get_weights(), recorder.weights[-1])


def test_early_stopping_mode_auto_maximizes_accuracy_and_min_delta_counts():
    set_random_seed(0)
    x, y = blobs()
    accuracies = [0.5, 0.6, 0.605, 0.61, 0.9, 0.9]
    stopper = EarlyStopping(monitor="val_accuracy", patience=2, min_delta=0.02)
    history = classifier().fit(x, y, epochs=6, verbose=0, callbacks=[Script("val_accuracy", accuracies), stopper])
    # 0.605 and 0.61 are within min_delta of 0.6: no improvement -> stop after epoch 3
    assert stopper.mode == "max" and history.epoch == [0, 1, 2, 3] and stopper.best == 0.6


def test_early_stopping_restores_best_weights_at_the_end_even_without_stopping():
    """As Keras 3: restore_best_weights also applies when the epochs run out first."""
    set_random_seed(0)
    x, y = blobs()
    recorder = EpochWeights()
    model = classifier()
    model.fit(
        x,
        y,
        epochs=4,
        verbose=0,
        callbacks=[
            Script("val_score", [4.0, 1.0, 2.0, 3.0]),
            EarlyStopping(monitor="val_score", patience=5, restore_best_weights=True),
            recorder,
        ],
    )
    assert same(model.get_weights(), recorder.weights[1])


def test_early_stopping_on_a_real_val_loss():
    """Validation labels that disagree with the training labels: val_loss must eventually rise. Whatever the
    exact epochs, the stop comes ``patience`` epochs after the best val_loss, whose weights are restored."""
    set_random_seed(0)
    x, y = blobs(90)
    x_val, y_val = x[:30], np.roll(y[:30], 1, axis=1)  # every validation label is wrong
    recorder = EpochWeights()
    stopper = EarlyStopping(monitor="val_loss", patience=2, restore_best_weights=True)
    model = classifier(lr=0.2)
    history = model.fit(x, y, epochs=40, verbose=0, validation_data=(x_val, y_val), callbacks=[stopper, recorder])
    val_loss = history.history["val_loss"]
    best = int(np.argmin(val_loss))
    assert len(val_loss) < 40 and stopper.stopped_epoch == best + 2 == len(val_loss) - 1
    assert stopper.best_epoch == best and same(model.get_weights(), recorder.weights[best])


def test_early_stopping_warns_when_the_monitored_value_is_missing():
    x, y = blobs(8)
    with pytest.warns(UserWarning, match=r"'val_loss' is not available.*'accuracy', 'loss'"):
        history = classifier().fit(x, y, epochs=2, verbose=0, callbacks=[EarlyStopping(patience=0)])
    assert history.epoch == [0, 1]


@pytest.mark.parametrize(
    "kwargs, words",
    [
        ({"patience": -1}, "patience must be an int >= 0"),
        ({"patience": "3"}, "patience"),
        ({"mode": "biggest"}, "mode must be 'auto', 'min' or 'max'"),
        ({"monitor": None}, "monitor must be the name of a logged value"),
        ({"min_delta": float("nan")}, "min_delta must be a finite number"),
    ],
)
def test_early_stopping_arguments(kwargs, words):
    with pytest.raises(InvalidArgumentError, match=re.escape(words)):
        EarlyStopping(**kwargs)


# ---------------------------------------------------------------------------------------- ModelCheckpoint
def test_checkpoint_every_epoch_with_a_formatted_name(tmp_path):
    set_random_seed(0)
    x, y = blobs()
    recorder = EpochWeights()
    model = classifier()
    pattern = str(tmp_path / "w-{epoch:02d}-{loss:.2f}.npz")
    history = model.fit(x, y, epochs=3, verbose=0, callbacks=[ModelCheckpoint(pattern), recorder])
    names = sorted(os.listdir(tmp_path))
    assert names == [f"w-{e + 1:02d}-{loss:.2f}.npz" for e, loss in enumerate(history.history["loss"])]
    other = classifier()
    other.load_weights(tmp_path / names[1])
    assert same(other.get_weights(), recorder.weights[1])


def test_checkpoint_save_best_only_writes_only_improvements(tmp_path):
    set_random_seed(0)
    x, y = blobs()
    recorder = EpochWeights()
    model = classifier()
    best_path = tmp_path / "best.npz"
    callbacks = [
        Script("val_score", [3.0, 1.0, 2.0, 0.5, 0.7]),
        ModelCheckpoint(str(tmp_path / "e{epoch}.npz"), monitor="val_score", save_best_only=True),
        ModelCheckpoint(str(best_path), monitor="val_score", save_best_only=True),
        recorder,
    ]
    model.fit(x, y, epochs=5, verbose=0, callbacks=callbacks)
    assert sorted(os.listdir(tmp_path)) == ["best.npz", "e1.npz", "e2.npz", "e4.npz"]
    other = classifier()
    other.load_weights(best_path)
    assert same(other.get_weights(), recorder.weights[3])
    assert not same(model.get_weights(), recorder.weights[3])  # the model moved on; the file kept the best


def test_checkpoint_mode_auto_maximizes_accuracy(tmp_path):
    x, y = blobs(16)
    checkpoint = ModelCheckpoint(str(tmp_path / "e{epoch}.npz"), monitor="val_accuracy", save_best_only=True)
    classifier().fit(x, y, epochs=4, verbose=0, callbacks=[Script("val_accuracy", [0.5, 0.4, 0.7, 0.7]), checkpoint])
    assert checkpoint.mode == "max" and sorted(os.listdir(tmp_path)) == ["e1.npz", "e3.npz"]


def test_checkpoint_skips_a_missing_or_nan_monitor_with_a_warning(tmp_path):
    x, y = blobs(8)
    with pytest.warns(UserWarning, match="'val_loss' is not available or not finite"):
        classifier().fit(
            x, y, epochs=1, verbose=0, callbacks=[ModelCheckpoint(str(tmp_path / "w.npz"), save_best_only=True)]
        )
    with pytest.warns(UserWarning, match="'val_score' is not available or not finite"):
        classifier().fit(
            x,
            y,
            epochs=1,
            verbose=0,
            callbacks=[
                Script("val_score", [float("nan")]),
                ModelCheckpoint(str(tmp_path / "w.npz"), monitor="val_score", save_best_only=True),
            ],
        )
    assert os.listdir(tmp_path) == []


def test_checkpoint_writes_atomically_and_an_interrupted_save_keeps_the_last_checkpoint(tmp_path, monkeypatch):
    set_random_seed(0)
    x, y = blobs()
    path = tmp_path / "ckpt.npz"
    replaced = []
    real_replace = os.replace

    def recording_replace(src, dst):
        replaced.append((os.path.dirname(src), os.path.basename(dst)))
        real_replace(src, dst)

    monkeypatch.setattr(os, "replace", recording_replace)
    model = classifier()
    model.fit(x, y, epochs=2, verbose=0, callbacks=[ModelCheckpoint(str(path))])
    assert replaced == [(str(tmp_path), "ckpt.npz")] * 2  # temp file in the same folder, then os.replace
    good = path.read_bytes()

    def savez_then_crash(file, **arrays):
        file.write(b"PK\x03\x04 half an archive")
        raise KeyboardInterrupt

    monkeypatch.setattr(np, "savez", savez_then_crash)
    with pytest.warns(RuntimeWarning, match="interrupted"):
        model.fit(x, y, epochs=2, verbose=0, callbacks=[ModelCheckpoint(str(path))])
    assert path.read_bytes() == good and os.listdir(tmp_path) == ["ckpt.npz"]


def test_checkpoint_arguments(tmp_path):
    with pytest.raises(InvalidArgumentError, match="save_weights_only=True"):
        ModelCheckpoint(str(tmp_path / "m.keras"), save_weights_only=False)
    with pytest.raises(InvalidArgumentError, match="save_freq='epoch'"):
        ModelCheckpoint(str(tmp_path / "w.npz"), save_freq=100)
    x, y = blobs(8)
    with pytest.raises(InvalidArgumentError, match=r"KeyError: 'val_acc'.*logged values \['accuracy', 'loss'\]"):
        classifier().fit(x, y, epochs=1, verbose=0, callbacks=[ModelCheckpoint(str(tmp_path / "w-{val_acc:.2f}.npz"))])
    assert os.listdir(tmp_path) == []


# ------------------------------------------------------------------------------------------ learning-rate callbacks
# LearningRateScheduler and ReduceLROnPlateau against Keras 3, epoch by epoch. The monitored value is scripted
# (the same sequence in both frameworks, written into the logs by a callback that runs first), so the two
# learning-rate histories must agree exactly (to float32 rounding: Keras keeps its learning rate in float32).
import csv as _csv  # noqa: E402
import os as _os  # noqa: E402

from tinycnn import optimizers as _optimizers  # noqa: E402
from tinycnn.callbacks import CSVLogger, LambdaCallback, LearningRateScheduler, ReduceLROnPlateau  # noqa: E402

VAL_LOSS = [1.0, 0.9, 0.895, 0.9, 0.89, 0.8, 0.81, 0.82, 0.83, 0.84, 0.84, 0.7, 0.71, 0.72, 0.73, 0.74]
VAL_ACC = [0.5, 0.6, 0.6, 0.6, 0.7, 0.7, 0.69, 0.72, 0.72, 0.72, 0.8, 0.8, 0.8, 0.8, 0.8, 0.8]

LR_CASES = {
    "scheduler_two_args": (
        lambda cbs: cbs.LearningRateScheduler(lambda epoch, lr: lr * 0.5 if epoch % 3 == 2 else lr),
        None,
        None,
    ),
    "scheduler_one_arg": (lambda cbs: cbs.LearningRateScheduler(lambda epoch: 0.1 / (1.0 + epoch)), None, None),
    "plateau_val_loss": (
        lambda cbs: cbs.ReduceLROnPlateau(
            monitor="val_loss", factor=0.5, patience=2, cooldown=1, min_delta=0.01, min_lr=0.01
        ),
        "val_loss",
        VAL_LOSS,
    ),
    "plateau_val_accuracy_max": (
        lambda cbs: cbs.ReduceLROnPlateau(monitor="val_accuracy", mode="max", factor=0.2, patience=1, min_lr=0.001),
        "val_accuracy",
        VAL_ACC,
    ),
    "plateau_default_patience": (
        lambda cbs: cbs.ReduceLROnPlateau(monitor="val_loss", patience=3),
        "val_loss",
        VAL_LOSS,
    ),
}


def _keras():
    _os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    try:
        import keras
        import tensorflow  # noqa: F401
    except ImportError as e:
        if _os.environ.get("CI", "").strip().lower() == "true":
            pytest.fail(
                f"CI=true but TensorFlow/Keras cannot be imported ({e}); install the 'keras' extra", pytrace=False
            )
        pytest.skip(f"TensorFlow/Keras not installed ({e})")
    return keras


def _keras_lr_history(keras, make_cb, key, values, epochs, x, y):
    class KScript(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            logs[key] = values[epoch]

    model = keras.Sequential(
        [keras.Input((2,)), keras.layers.Dense(8, activation="relu"), keras.layers.Dense(3, activation="softmax")]
    )
    model.compile(optimizer=keras.optimizers.Adam(0.1), loss="categorical_crossentropy", metrics=["accuracy"])
    cbs = ([KScript()] if key else []) + [make_cb(keras.callbacks)]
    history = model.fit(x, y, epochs=epochs, batch_size=20, verbose=0, callbacks=cbs, shuffle=False)
    return history.history, float(model.optimizer.learning_rate.numpy())


@pytest.mark.parametrize("case", sorted(LR_CASES))
def test_lr_callbacks_match_keras_epoch_by_epoch(case):
    keras = _keras()
    import tinycnn.callbacks as tiny_callbacks

    make_cb, key, values = LR_CASES[case]
    epochs = 16
    x, y = blobs()
    k_hist, k_lr = _keras_lr_history(keras, make_cb, key, values, epochs, x, y)
    set_random_seed(0)
    model = Sequential([Dense(8, activation="relu", input_shape=(2,)), Dense(3, activation="softmax")])
    model.compile(optimizer=_optimizers.Adam(0.1), loss="categorical_crossentropy", metrics=["accuracy"])
    cbs = ([Script(key, values)] if key else []) + [make_cb(tiny_callbacks)]
    t_hist = model.fit(x, y, epochs=epochs, batch_size=20, verbose=0, callbacks=cbs, shuffle=False).history
    assert "learning_rate" in k_hist
    assert t_hist["learning_rate"] == pytest.approx(k_hist["learning_rate"], rel=1e-6), (
        f"\nours  {t_hist['learning_rate']}\nkeras {k_hist['learning_rate']}"
    )
    assert model.optimizer.learning_rate == pytest.approx(k_lr, rel=1e-6)
    assert sorted(t_hist) == sorted(k_hist)


def test_lr_callbacks_change_the_steps_actually_taken():
    """The rates ReduceLROnPlateau sets are the rates of the next steps: a fit with one batch per epoch ends
    with the same weights as ``train_on_batch`` steps taken by hand at those rates."""
    x, y = blobs()
    models = []
    for _ in range(2):
        model = classifier()
        model.compile(optimizer=_optimizers.SGD(0.5, momentum=0.5), loss="categorical_crossentropy")
        model.build((None, 2))
        models.append(model)
    auto, by_hand = models
    by_hand.set_weights(auto.get_weights())
    reduce = ReduceLROnPlateau(monitor="loss", factor=0.1, patience=0, min_delta=10.0)  # every epoch after the 1st
    history = auto.fit(x, y, epochs=4, batch_size=60, verbose=0, callbacks=[reduce], shuffle=False)
    # logged at the end of each epoch, before that epoch's reduction (the first epoch always "improves")
    assert history.history["learning_rate"] == pytest.approx([0.5, 0.5, 0.05, 0.005])
    for lr in (0.5, 0.5, 0.05, 0.005):
        by_hand.optimizer.learning_rate = lr
        by_hand.train_on_batch(x, y)
    assert same(auto.get_weights(), by_hand.get_weights())
    assert auto.optimizer.learning_rate == pytest.approx(0.0005)


def test_scheduler_refuses_a_non_float_and_an_optimizer_schedule():
    x, y = blobs()
    model = classifier()
    with pytest.raises(InvalidArgumentError, match="float"):
        model.fit(x, y, epochs=1, verbose=0, callbacks=[LearningRateScheduler(lambda epoch: 1)])
    model.compile(
        optimizer=_optimizers.Adam(_optimizers.schedules.ExponentialDecay(0.1, 10, 0.9)),
        loss="categorical_crossentropy",
    )
    with pytest.raises(TypeError, match="LearningRateSchedule"):
        model.fit(x, y, epochs=1, verbose=0, callbacks=[LearningRateScheduler(lambda epoch, lr: 0.01)])


@pytest.mark.parametrize(
    "kwargs, words",
    [
        ({"factor": 1.0}, "factor"),
        ({"patience": -1}, "patience"),
        ({"mode": "up"}, "mode"),
        ({"bogus": 1}, "unexpected"),
    ],
)
def test_reduce_lr_arguments(kwargs, words):
    with pytest.raises(InvalidArgumentError, match=words):
        ReduceLROnPlateau(**kwargs)


def test_reduce_lr_warns_when_the_monitor_is_missing():
    x, y = blobs()
    with pytest.warns(UserWarning, match="val_loss"):
        classifier().fit(x, y, epochs=1, verbose=0, callbacks=[ReduceLROnPlateau()])


# ------------------------------------------------------------------------------------------ CSVLogger, LambdaCallback
def _read_csv(path):
    with open(path, newline="") as f:
        return list(_csv.reader(f))


def test_csv_logger_writes_keras_columns_and_history_values(tmp_path):
    keras = _keras()
    x, y = blobs()
    k_path, t_path = tmp_path / "keras.csv", tmp_path / "tiny.csv"
    kmodel = keras.Sequential([keras.Input((2,)), keras.layers.Dense(3, activation="softmax")])
    kmodel.compile(optimizer="adam", loss="categorical_crossentropy", metrics=["accuracy"])
    kmodel.fit(
        x,
        y,
        epochs=2,
        verbose=0,
        validation_split=0.25,
        callbacks=[keras.callbacks.ReduceLROnPlateau(), keras.callbacks.CSVLogger(str(k_path))],
    )
    model = classifier()
    history = model.fit(
        x, y, epochs=2, verbose=0, validation_split=0.25, callbacks=[ReduceLROnPlateau(), CSVLogger(t_path)]
    )
    k_rows, t_rows = _read_csv(k_path), _read_csv(t_path)
    assert t_rows[0] == k_rows[0] == ["epoch", "accuracy", "learning_rate", "loss", "val_accuracy", "val_loss"]
    assert [r[0] for r in t_rows[1:]] == [r[0] for r in k_rows[1:]] == ["0", "1"]
    for i, row in enumerate(t_rows[1:]):
        for name, cell in zip(t_rows[0][1:], row[1:]):
            assert float(cell) == pytest.approx(history.history[name][i], rel=1e-12)
    # append=True adds rows, not a second header; the columns without validation data get val_* "NA"
    model.fit(x, y, epochs=1, verbose=0, callbacks=[CSVLogger(t_path, append=True)])
    rows = _read_csv(t_path)
    assert len(rows) == 4 and rows[0] == t_rows[0]
    solo = tmp_path / "solo.csv"
    model.fit(x, y, epochs=1, verbose=0, callbacks=[CSVLogger(solo, separator=";")])
    with open(solo) as f:
        header, row = f.read().splitlines()
    assert header == "epoch;accuracy;loss;val_accuracy;val_loss"
    assert row.endswith(";NA;NA")


def test_lambda_callback_calls_the_functions_with_keras_arguments():
    events = []
    cb = LambdaCallback(
        on_train_begin=lambda logs: events.append(("train_begin",)),
        on_epoch_begin=lambda epoch, logs: events.append(("epoch_begin", epoch)),
        on_batch_end=lambda batch, logs: events.append(("batch_end", batch, sorted(logs))),
        on_epoch_end=lambda epoch, logs: events.append(("epoch_end", epoch, sorted(logs))),
        on_train_end=lambda logs: events.append(("train_end",)),
        note="kept",
    )
    x, y = blobs(n=40)
    classifier().fit(x, y, epochs=2, batch_size=20, verbose=0, callbacks=[cb])
    assert cb.note == "kept"
    assert events == [
        ("train_begin",),
        ("epoch_begin", 0),
        ("batch_end", 0, ["accuracy", "loss"]),
        ("batch_end", 1, ["accuracy", "loss"]),
        ("epoch_end", 0, ["accuracy", "loss"]),
        ("epoch_begin", 1),
        ("batch_end", 0, ["accuracy", "loss"]),
        ("batch_end", 1, ["accuracy", "loss"]),
        ("epoch_end", 1, ["accuracy", "loss"]),
        ("train_end",),
    ]
    with pytest.raises(InvalidArgumentError, match="on_epoch_end"):
        LambdaCallback(on_epoch_end="print")
