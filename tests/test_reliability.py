"""Issue 16, "Nothing silent": one test (or a few) per class of hostile or unlucky use that once gave a wrong
answer, a raw error or a hang. Each test names the mechanism it holds in place:

* concurrency -- :data:`tinycnn.models.training.ENGINE_LOCK` around every use of the layers' caches;
* fused softmax + cross-entropy -- ``backward_logits`` on every activation-bearing layer, fused only over the
  last axis (Keras parity of the loss values and of one SGD step);
* layer reuse -- Keras's rule: a built layer keeps (and shares) its weights, a shape that does not fit is an
  error;
* Ctrl-C -- a SIGINT handler that only sets a flag, looked at between steps;
* callbacks and loop -- ``verbose="auto"``, ``stop_training`` in ``on_train_batch_end``;
* metrics and numerics -- one-column sigmoid accuracy, BatchNorm's moving variance overflowing, NaN weights
  never written, float64 beyond float32 never loaded as inf, ``Dropout(noise_shape=...)`` checked;
* files -- errors name the user's path, killed saves' temporaries swept, the umask's mode, long ``.npy``
  headers;
* arguments -- one number validator (every real number type), no raw ``TypeError``/``KeyError``/``AxisError``;
  Hypothesis fuzzing of argument types.

The fork / fork-pool / spawn-pool tests of the issue belong to the engine-redesign work (threads), not here.
"""

import contextlib
import io
import os
import random
import signal
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
import warnings
import zipfile
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import tinycnn
from tinycnn import Input, Model, layers
from tinycnn.callbacks import Callback
from tinycnn.errors import InvalidArgumentError, InvalidInputError, TinyCNNError, WeightsFileError
from tinycnn.models import Sequential, training
from tinycnn.optimizers import SGD
from tinycnn.utils import set_random_seed, to_categorical

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _import_keras():
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    try:
        import keras
        import tensorflow  # noqa: F401
    except ImportError as e:
        if os.environ.get("CI", "").strip().lower() == "true":
            pytest.fail(f"CI=true but TensorFlow/Keras cannot be imported ({e})", pytrace=False)
        pytest.skip(f"TensorFlow/Keras not installed ({e})")
    return keras


def conv_classifier(seed=0):
    """16x16x1 images -> Conv2D(8) -> pool -> Conv2D(8) -> Flatten -> 4-way softmax: enough work per step that
    two threads really interleave."""
    set_random_seed(seed)
    model = Sequential(
        [
            layers.Conv2D(8, 3, activation="relu", input_shape=(16, 16, 1)),
            layers.MaxPooling2D(),
            layers.Conv2D(8, 3, activation="relu"),
            layers.Flatten(),
            layers.Dense(4, activation="softmax"),
        ]
    )
    model.compile(optimizer=SGD(0.05), loss="categorical_crossentropy")
    return model


def image_data(n=64, seed=0):
    rng = np.random.default_rng(seed)
    return rng.random((n, 16, 16, 1), dtype=np.float32), to_categorical(rng.integers(0, 4, n), 4)


def dense_model(seed=0, lr=0.05):
    set_random_seed(seed)
    model = Sequential([layers.Dense(4, activation="relu", input_shape=(3,)), layers.Dense(1)])
    model.compile(optimizer=SGD(lr), loss="mse")
    return model


def regression(n=32, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.random((n, 3), dtype=np.float32)
    return x, x.sum(axis=1, keepdims=True)


def same(a, b):
    return len(a) == len(b) and all(np.array_equal(u, v) for u, v in zip(a, b))


# ============================================================================================ concurrency
def test_predict_in_another_thread_does_not_change_what_fit_learns():
    x, y = image_data()
    alone = conv_classifier()
    alone.fit(x, y, batch_size=8, epochs=3, shuffle=False, verbose=0)

    model = conv_classifier()
    other = image_data(48, seed=1)[0]  # another batch size too: caches of another shape
    stop, errors, predictions = threading.Event(), [], []

    def predict_loop():
        try:
            while not stop.is_set():
                predictions.append(model.predict(other, batch_size=12, verbose=0))
        except BaseException as e:  # pragma: no cover - shown by the assertion below
            errors.append(e)

    thread = threading.Thread(target=predict_loop)
    thread.start()
    try:
        model.fit(x, y, batch_size=8, epochs=3, shuffle=False, verbose=0)
    finally:
        stop.set()
        thread.join()
    assert not errors, errors
    assert len(predictions) > 1  # the two threads really ran side by side
    assert same(model.get_weights(), alone.get_weights())


def test_two_threads_predicting_at_once_get_the_single_thread_results():
    model = conv_classifier()
    inputs = [image_data(40, seed=s)[0] for s in (1, 2)]
    expected = [model.predict(x, batch_size=8, verbose=0) for x in inputs]
    results, errors = {0: [], 1: []}, []

    def run(k):
        try:
            for _ in range(8):
                results[k].append(model.predict(inputs[k], batch_size=8, verbose=0))
        except BaseException as e:  # pragma: no cover
            errors.append(e)

    threads = [threading.Thread(target=run, args=(k,)) for k in (0, 1)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    for k in (0, 1):
        assert all(np.array_equal(r, expected[k]) for r in results[k])


def test_engine_lock_is_held_during_a_training_step_and_a_predict_batch():
    model = dense_model()
    x, y = regression(8)
    seen = []
    real_forward = model.layers[0].forward

    def spying_forward(a, training=False):
        # an RLock held by this thread: a non-blocking acquire from another thread must fail
        result = []
        t = threading.Thread(target=lambda: result.append(training_lock_free()))
        t.start()
        t.join()
        seen.append((training, result[0]))
        return real_forward(a, training)

    def training_lock_free():
        got = training.ENGINE_LOCK.acquire(blocking=False)
        if got:
            training.ENGINE_LOCK.release()
        return got

    model.layers[0].forward = spying_forward
    model.train_on_batch(x, y)
    model.predict(x, verbose=0)
    model(x)
    assert seen == [(True, False), (False, False), (False, False)]


# ============================================================================ fused softmax + cross-entropy
@pytest.mark.parametrize("layer_kind", ["Conv2D", "Conv1D", "Dense", "Activation", "Softmax"])
def test_every_activation_bearing_layer_honours_backward_logits(layer_kind):
    """The loop hands dL/dz to ``backward_logits`` of whatever layer produced a last-axis softmax; each layer's
    ``backward(dy)`` must equal ``backward_logits(softmax'(z) dy)``."""
    rng = np.random.default_rng(0)
    make = {
        "Conv2D": (lambda: layers.Conv2D(3, 2, activation="softmax"), (4, 5, 5, 2)),
        "Conv1D": (lambda: layers.Conv1D(3, 2, activation="softmax"), (4, 6, 2)),
        "Dense": (lambda: layers.Dense(3, activation="softmax"), (4, 5)),
        "Activation": (lambda: layers.Activation("softmax"), (4, 3)),
        "Softmax": (lambda: layers.Softmax(), (4, 3)),
    }
    factory, shape = make[layer_kind]
    layer = factory()
    x = rng.normal(size=shape).astype(np.float32)
    y = np.asarray(layer(x))
    assert layer.ends_with_softmax
    dy = rng.normal(size=y.shape).astype(np.float32)
    dx = layer.backward(dy)
    grads = {k: v.copy() for k, v in layer.grads.items()}
    dz = tinycnn.activations.softmax_backward(dy, None, y)
    dx_logits = layer.backward_logits(dz.astype(np.float32))
    np.testing.assert_allclose(dx_logits, dx, rtol=1e-5, atol=1e-6)
    for k in grads:
        np.testing.assert_allclose(layer.grads[k], grads[k], rtol=1e-5, atol=1e-6)


def test_conv2d_with_softmax_as_last_layer_trains_as_keras_does():
    keras = _import_keras()
    rng = np.random.default_rng(0)
    x = rng.random((6, 5, 5, 2), dtype=np.float32)
    y = to_categorical(rng.integers(0, 3, (6, 3, 3)), 3)  # a class per output position

    def build(k):
        inputs = k.Input((5, 5, 2))
        return k.Model(inputs, k.layers.Conv2D(3, 3, activation="softmax")(inputs))

    ours, theirs = build(tinycnn), build(keras)
    theirs.set_weights(ours.get_weights())
    ours.compile(optimizer=SGD(0.5), loss="categorical_crossentropy")
    theirs.compile(optimizer=keras.optimizers.SGD(0.5), loss="categorical_crossentropy")
    assert ours._fused(0) is not None  # the fused path is the one under test
    np.testing.assert_allclose(ours.evaluate(x, y, verbose=0), theirs.evaluate(x, y, verbose=0), rtol=1e-5)
    np.testing.assert_allclose(ours.train_on_batch(x, y), float(theirs.train_on_batch(x, y)), rtol=1e-5)
    for a, b in zip(ours.get_weights(), theirs.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_softmax_over_another_axis_is_not_fused_and_evaluate_agrees_with_predict():
    keras = _import_keras()
    rng = np.random.default_rng(1)
    x = rng.normal(size=(5, 4, 3)).astype(np.float32)
    y = rng.dirichlet(np.ones(3), size=(5, 4)).astype(np.float32)
    for axis, fused in ((1, False), (-2, False), (-1, True), (2, True)):
        inputs = Input((4, 3))
        model = Model(inputs, layers.Softmax(axis=axis)(inputs))
        model.compile(optimizer="sgd", loss="categorical_crossentropy")
        assert model.layers[-1].ends_with_softmax is fused
        p = model.predict(x, verbose=0)
        np.testing.assert_allclose(p.sum(axis=axis), 1.0, rtol=1e-5)
        expected = float(np.mean(keras.losses.categorical_crossentropy(y, p)))  # Keras's loss of the predictions
        np.testing.assert_allclose(model.evaluate(x, y, verbose=0), expected, rtol=1e-5)


# ============================================================================================ layer reuse
def test_a_built_layer_reused_in_a_second_model_shares_its_weights():
    dense = layers.Dense(2, input_shape=(3,))
    first = Sequential([dense])
    x = np.random.default_rng(0).random((4, 3), dtype=np.float32)
    before = first.predict(x, verbose=0)
    kernel = dense.params["kernel"]
    second = Sequential([dense, layers.Dense(1)])  # Sequential
    inputs = Input((3,))
    third = Model(inputs, layers.Dense(1)(dense(inputs)))  # functional
    assert dense.params["kernel"] is kernel and len(first.get_weights()) == 2
    assert len(second.get_weights()) == len(third.get_weights()) == 4
    np.testing.assert_array_equal(first.predict(x, verbose=0), before)  # the first model is untouched
    second.compile(optimizer=SGD(0.1), loss="mse")
    second.fit(x, np.ones((4, 1)), verbose=0)  # training the second trains the shared layer ...
    assert not np.array_equal(first.predict(x, verbose=0), before)  # ... which the first model sees (shared)
    np.testing.assert_array_equal(first.get_weights()[0], second.get_weights()[0])


def test_a_built_layer_given_another_input_size_is_an_error():
    dense = layers.Dense(2)
    first = Sequential([dense])
    first.build((None, 3))
    kernel = dense.params["kernel"].copy()
    with pytest.raises(InvalidInputError, match=r"built for inputs.*\(None, 3\)"):
        Sequential([dense]).build((None, 5))
    with pytest.raises(InvalidInputError, match=r"built for inputs.*\(None, 3\)"):
        Sequential([layers.Dense(5, input_shape=(4,)), dense])
    with pytest.raises(InvalidInputError, match=r"built for inputs.*\(None, 3\)"):
        dense(Input((5,)))
    np.testing.assert_array_equal(dense.params["kernel"], kernel)
    assert len(first.get_weights()) == 2 and first.predict(np.ones((1, 3)), verbose=0).shape == (1, 2)


# ============================================================================================ Ctrl-C
def test_sigint_during_a_step_finishes_the_step_then_stops_fit():
    x, y = regression(32)
    model = dense_model()
    first_step = dense_model()
    first_step.train_on_batch(x[:8], y[:8])

    class CtrlC(Callback):
        def on_train_batch_begin(self, batch, logs=None):
            os.kill(os.getpid(), signal.SIGINT)  # Ctrl-C arrives just before the step runs

    previous = signal.getsignal(signal.SIGINT)
    with pytest.warns(RuntimeWarning, match=r"interrupted \(Ctrl-C\) in epoch 1, batch 1"):
        history = model.fit(x, y, batch_size=8, epochs=5, shuffle=False, verbose=0, callbacks=[CtrlC()])
    assert history.history == {}
    assert same(model.get_weights(), first_step.get_weights())  # that step ran whole, and nothing after it
    assert signal.getsignal(signal.SIGINT) is previous


def test_sigint_while_a_slow_first_call_runs_does_not_cut_it_short():
    """The situation of Numba compiling on the first call: pure-Python work inside a step. The signal must
    not land inside it (a half-compiled kernel cache), only stop training once the step is done."""
    x, y = regression(32)
    model = dense_model()
    layer = model.layers[1]
    real_forward, finished = layer.forward, []

    def slow_first_forward(a, training=False):
        if not finished:
            os.kill(os.getpid(), signal.SIGINT)
            total = 0
            for i in range(200_000):  # Python bytecode, where the handler runs
                total += i
            finished.append(total)
        return real_forward(a, training)

    layer.forward = slow_first_forward
    with pytest.warns(RuntimeWarning, match="interrupted"):
        history = model.fit(x, y, batch_size=8, epochs=50, verbose=0)
    assert finished == [sum(range(200_000))] and history.history == {}
    assert np.isfinite(model.evaluate(x, y, verbose=0))  # and the model carries on


def test_sigint_during_predict_and_train_on_batch_is_raised_after_the_batch():
    x, y = regression(32)
    model = dense_model()
    layer = model.layers[0]
    real_forward, calls = layer.forward, []

    def forward_with_ctrl_c(a, training=False):
        calls.append(len(a))
        if len(calls) == 1:
            os.kill(os.getpid(), signal.SIGINT)
        return real_forward(a, training)

    layer.forward = forward_with_ctrl_c
    with pytest.raises(KeyboardInterrupt):
        model.predict(x, batch_size=8, verbose=0)
    assert calls == [8]  # the first batch ran whole, the second never started
    calls.clear()
    before = model.get_weights()
    with pytest.raises(KeyboardInterrupt):
        model.train_on_batch(x, y)
    assert not same(model.get_weights(), before)  # the step completed before the interrupt was raised


def test_ctrl_c_during_the_first_fit_of_a_process_while_numba_compiles(tmp_path):
    """A real Ctrl-C in a fresh process with an empty Numba cache: fit stops between steps, and the compiled
    kernels are usable afterwards (predict and a second fit run)."""
    script = textwrap.dedent("""
        import os, signal, sys, threading, warnings
        import numpy as np
        from tinycnn import layers
        from tinycnn.models import Sequential
        model = Sequential([layers.Dense(8, activation="relu", input_shape=(3,)), layers.Dense(1)])
        model.compile(optimizer="sgd", loss="mse")
        threading.Timer(float(sys.argv[1]), lambda: os.kill(os.getpid(), signal.SIGINT)).start()
        x = np.random.rand(64, 3).astype("float32"); y = x.sum(axis=1, keepdims=True)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            history = model.fit(x, y, batch_size=8, epochs=100000, verbose=0)
        print("EPOCHS", len(history.history.get("loss", [])))
        print("WARNED", any("interrupted (Ctrl-C)" in str(w.message) for w in caught))
        print("PREDICT", model.predict(x[:2], verbose=0).shape)
        print("REFIT", len(model.fit(x, y, epochs=1, verbose=0).history["loss"]))
    """)
    env = dict(os.environ, NUMBA_CACHE_DIR=str(tmp_path / "numba"), PYTHONPATH=ROOT)
    out = subprocess.run([sys.executable, "-c", script, "0.3"], env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    lines = dict(line.split(" ", 1) for line in out.stdout.splitlines() if " " in line)
    assert lines["WARNED"] == "True" and int(lines["EPOCHS"]) < 100000
    assert lines["PREDICT"] == "(2, 1)" and lines["REFIT"] == "1"


# ============================================================================================ callbacks, loop
def test_verbose_auto_is_keras_default_and_prints_the_progress_bar(capsys):
    x, y = regression(16)
    model = dense_model()
    model.fit(x, y, epochs=1, verbose=1)
    bar = capsys.readouterr().out
    model.fit(x, y, epochs=1)  # Keras's default, verbose="auto"
    auto = capsys.readouterr().out
    assert "[==============================]" in bar and "[==============================]" in auto
    assert auto.count("loss:") == bar.count("loss:")
    with pytest.raises(InvalidArgumentError, match="verbose must be 0, 1, 2 or 'auto'"):
        model.fit(x, y, verbose="loud")


def test_stop_training_in_on_train_batch_end_stops_after_that_batch_then_validates():
    x, y = regression(32)
    model = dense_model()
    events = []

    class Stop(Callback):
        def on_train_batch_end(self, batch, logs=None):
            events.append(("batch", batch))
            if batch == 1:
                self.model.stop_training = True

        def on_epoch_end(self, epoch, logs=None):
            events.append(("epoch_end", epoch, sorted(logs)))

    model.fit(x, y, batch_size=8, epochs=3, verbose=0, validation_data=(x, y), callbacks=[Stop()])
    assert events == [("batch", 0), ("batch", 1), ("epoch_end", 0, ["loss", "val_loss"])]


def test_initial_epoch_and_generators_and_one_feature_vectors():
    x, y = regression(16)
    model = dense_model()
    with pytest.raises(InvalidArgumentError, match="initial_epoch must be a non-negative int.*write 1"):
        model.fit(x, y, initial_epoch=1.0, verbose=0)
    assert model.fit(x, y, epochs=3, initial_epoch=np.int64(2), verbose=0).epoch == [2]

    def batches():
        while True:
            yield x[:8], y[:8]

    assert len(model.fit(batches(), steps_per_epoch=2, verbose=0).history["loss"]) == 1
    one = Sequential([layers.Dense(1, input_shape=(1,))])
    one.compile(optimizer="sgd", loss="mse")
    assert np.isfinite(one.fit(np.arange(8.0), np.arange(8.0), verbose=0).history["loss"][0])


# ============================================================================================ numerics
def test_accuracy_of_a_one_column_sigmoid_is_binary_accuracy():
    keras = _import_keras()
    rng = np.random.default_rng(0)
    x = rng.normal(size=(40, 2)).astype(np.float32)
    y = (rng.random((40, 1)) > 0.5).astype(np.float32)
    model = Sequential([layers.Dense(1, activation="sigmoid", input_shape=(2,))])
    model.compile(optimizer="sgd", loss="binary_crossentropy", metrics=["accuracy"])
    p = model.predict(x, verbose=0)
    _, acc = model.evaluate(x, y, verbose=0)
    expected = float(np.mean(keras.metrics.binary_accuracy(y, p)))
    assert acc == pytest.approx(expected) and acc < 1.0


def test_batchnorm_moving_variance_overflow_is_refused_with_the_layer_named(tmp_path):
    set_random_seed(0)
    model = Sequential([layers.BatchNormalization(input_shape=(3,)), layers.Dense(1)])
    model.compile(optimizer=SGD(0.01), loss="mse")
    x = np.random.default_rng(0).random((16, 3), dtype=np.float32) * np.float32(3e21)  # variance ~1e42: inf
    before = model.get_weights()
    with pytest.warns(RuntimeWarning, match=r"'batch_normalization.*moving_variance overflowed.*rescale"):
        history = model.fit(x, np.ones((16, 1)), epochs=2, verbose=0)
    assert history.history == {} and same(model.get_weights(), before)
    model.save_weights(tmp_path / "w.npz")  # the model stays savable and loadable
    model.load_weights(tmp_path / "w.npz")


@pytest.mark.parametrize("name", ["w.npz", "w.weights.h5", "m.keras", "m.h5"])
def test_a_model_holding_nan_is_never_written(tmp_path, name):
    model = dense_model()
    path = tmp_path / name
    if name.startswith("w"):
        model.save_weights(path)
    else:
        model.save(path)
    good = path.read_bytes()
    model.layers[1].params["kernel"][0, 0] = np.nan
    with pytest.raises(WeightsFileError, match=r"'dense_\d+' weight 'kernel' holds 1 NaN.*not written"):
        model.save_weights(path) if name.startswith("w") else model.save(path)
    assert path.read_bytes() == good and os.listdir(tmp_path) == [name]


def test_float64_weights_beyond_float32_range_are_refused_on_load(tmp_path):
    import h5py

    model = dense_model()
    before = model.get_weights()
    model.save_weights(tmp_path / "w.npz")
    with np.load(tmp_path / "w.npz") as f:
        arrays = {k: f[k] for k in f.files}
    arrays["001/kernel"] = arrays["001/kernel"].astype(np.float64) * 1e300
    np.savez(tmp_path / "huge.npz", **arrays)
    with pytest.raises(WeightsFileError, match=r"beyond float32's range"):
        model.load_weights(tmp_path / "huge.npz")
    model.save_weights(tmp_path / "w.weights.h5")
    with h5py.File(tmp_path / "w.weights.h5", "r+") as h5:
        key = "layers/dense_1/vars/0" if "layers/dense_1" in h5 else "layers/dense/vars/0"
        value = h5[key][()].astype(np.float64) * 1e300
        del h5[key]
        h5[key] = value
    with pytest.raises(WeightsFileError, match=r"beyond float32's range"):
        model.load_weights(tmp_path / "w.weights.h5")
    with pytest.raises(InvalidInputError, match=r"beyond float32's range"):
        model.set_weights([w.astype(np.float64) * 1e300 for w in before])
    assert same(model.get_weights(), before)


def test_dropout_noise_shape_must_fit_the_input():
    with pytest.raises(InvalidInputError, match=r"noise_shape=\(None, 7\) does not fit inputs of shape \(None, 3\)"):
        Sequential([layers.Dropout(0.5, noise_shape=(None, 7), input_shape=(3,))])
    with pytest.raises(InvalidInputError, match="noise_shape"):
        layers.Dropout(0.5, noise_shape=(None, 3))(np.ones((4, 2, 3)), training=True)
    with pytest.raises(InvalidArgumentError, match="noise_shape must be a tuple"):
        layers.Dropout(0.5, noise_shape=(None, 2.5))
    layer = layers.Dropout(0.5, noise_shape=(None, 1, 3), seed=0)  # Keras's rule: None, 1 or the size
    y = np.asarray(layer(np.ones((4, 5, 3), np.float32), training=True))
    assert np.all(y == y[:, :1, :])  # one mask value shared along axis 1


# ============================================================================================ files
def test_a_folder_as_the_target_is_named_not_the_temporary_file(tmp_path):
    model = dense_model()
    for save, name in ((model.save_weights, "w.npz"), (model.save_weights, "w.weights.h5"), (model.save, "m.keras")):
        folder = tmp_path / name
        folder.mkdir()
        with pytest.raises(InvalidArgumentError) as info:
            save(str(folder))
        assert repr(str(folder)) in str(info.value) and "a folder" in str(info.value)
        assert ".tmp" not in str(info.value) and os.listdir(folder) == []


def test_write_errors_name_the_users_path(tmp_path, monkeypatch):
    model = dense_model()
    target = str(tmp_path / "w.npz")
    real_mkstemp = tempfile.mkstemp

    def read_only_folder(prefix="", suffix="", dir=None):
        raise PermissionError(13, "Permission denied", os.path.join(dir, prefix + "abc" + suffix))

    monkeypatch.setattr(tempfile, "mkstemp", read_only_folder)
    with pytest.raises(PermissionError) as info:
        model.save_weights(target)
    assert repr(target) in str(info.value) and ".tmp" not in str(info.value) and info.value.filename == target
    monkeypatch.setattr(tempfile, "mkstemp", real_mkstemp)

    def failing_replace(src, dst):
        raise OSError(18, "Invalid cross-device link", src)

    monkeypatch.setattr(os, "replace", failing_replace)
    with pytest.raises(OSError) as info:
        model.save_weights(target)
    assert repr(target) in str(info.value) and ".tmp" not in str(info.value)
    assert os.listdir(tmp_path) == []


def test_stale_temporaries_of_killed_saves_are_swept_and_live_ones_kept(tmp_path):
    target = tmp_path / "w.npz"
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True
    ).stdout.strip()
    stale = tmp_path / f".w.npz.{dead}.k2j4.tmp"
    stale.write_bytes(b"PK half an archive")
    live = tmp_path / f".w.npz.{os.getppid()}.x9z1.tmp"  # a save still running in another process
    live.write_bytes(b"PK being written")
    unrelated = tmp_path / ".other.npz.123.tmp"
    unrelated.write_bytes(b"")
    dense_model().save_weights(target)
    assert sorted(os.listdir(tmp_path)) == sorted(["w.npz", live.name, unrelated.name])


@pytest.mark.parametrize("umask", [0o022, 0o077, 0o002])
def test_files_get_the_mode_the_umask_gives(tmp_path, umask):
    previous = os.umask(umask)
    try:
        model = dense_model()
        for name in ("w.npz", "w.weights.h5", "m.keras"):
            path = tmp_path / name
            model.save(path) if name.endswith(".keras") else model.save_weights(path)
            assert os.stat(path).st_mode & 0o777 == 0o666 & ~umask, name
        os.chmod(tmp_path / "w.npz", 0o640)  # an existing file keeps its own mode
        model.save_weights(tmp_path / "w.npz")
        assert os.stat(tmp_path / "w.npz").st_mode & 0o777 == 0o640
    finally:
        os.umask(previous)


def test_an_npz_member_with_a_long_header_is_not_called_pickled(tmp_path):
    model = dense_model()
    model.save_weights(tmp_path / "w.npz")
    with zipfile.ZipFile(tmp_path / "w.npz") as z:
        members = {n: z.read(n) for n in z.namelist()}
    kernel = model.layers[0].params["kernel"]
    header = repr({"descr": "<f4", "fortran_order": False, "shape": kernel.shape}) + " " * 20000 + "\n"
    members["000/kernel.npy"] = (
        b"\x93NUMPY\x02\x00" + len(header).to_bytes(4, "little") + header.encode() + kernel.tobytes()
    )
    with zipfile.ZipFile(tmp_path / "long.npz", "w") as z:
        for n, data in members.items():
            z.writestr(n, data)
    with pytest.raises(WeightsFileError) as info:
        model.load_weights(tmp_path / "long.npz")
    assert "header" in str(info.value) and "pickle" not in str(info.value) and "'000/kernel'" in str(info.value)


def _save_forever(target):
    """The body of a forked child: save versions 1, 2, 3 ... of the weights over ``target`` until killed."""
    model = Sequential([layers.Dense(64, input_shape=(256,)), layers.Dense(8)])
    version = 0
    while True:
        version += 1
        model.set_weights([np.full(w.shape, version, np.float32) for w in model.get_weights()])
        model.save_weights(target)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_saves_killed_at_random_moments_always_leave_one_complete_version(tmp_path):
    """SIGKILL a process that saves over and over, at random moments, 20 times: the file always loads as one
    whole version (every weight the same number), and the next save sweeps the dead processes' temporaries.
    The saving processes are forked (no kernels run in them: saving is NumPy and zipfile only)."""
    target = str(tmp_path / "w.npz")
    reader = Sequential([layers.Dense(64, input_shape=(256,)), layers.Dense(8)])
    rng = random.Random(16)
    versions, loads = set(), 0
    for _ in range(20):
        pid = os.fork()
        if pid == 0:  # the child: never returns into pytest
            try:
                _save_forever(target)
            finally:
                os._exit(1)
        time.sleep(rng.uniform(0.01, 0.12))
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        if not os.path.exists(target):
            continue
        reader.load_weights(target)
        values = np.unique(np.concatenate([w.ravel() for w in reader.get_weights()]))
        assert len(values) == 1, values  # one complete version, never a mix or half a file
        versions.add(float(values[0]))
        loads += 1
    assert loads >= 15 and len(versions) >= 2
    leftovers = [n for n in os.listdir(tmp_path) if n != "w.npz"]
    reader.save_weights(target)  # the next save sweeps every temporary the killed processes left
    assert os.listdir(tmp_path) == ["w.npz"], leftovers
    print("temporaries swept:", len(leftovers))


# ============================================================================================ arguments
@pytest.mark.parametrize(
    "call, error, words",
    [
        (lambda m: m.load_weights(None), TypeError, ["load_weights", "file path", "NoneType"]),
        (lambda m: m.save_weights(""), ValueError, ["save_weights", "file path is empty"]),
        (lambda m: m.save(None), TypeError, ["save", "file path"]),
        (lambda m: layers.Softmax(axis=5)(np.ones((2, 3))), ValueError, ["Softmax(axis=5)", "(None, 3)", "-2..1"]),
        (lambda m: layers.Softmax(axis="last"), ValueError, ["axis must be an int", "'last'"]),
        (lambda m: to_categorical([0, 1], num_classes=2.5), ValueError, ["num_classes must be a positive int", "2.5"]),
        (lambda m: to_categorical([1e20]), ValueError, ["1e+20", "too large"]),
        (lambda m: to_categorical([[0, 1], [1]]), ValueError, ["to_categorical"]),
        (
            lambda m: m.fit(np.ones((4, 3)), np.ones((4, 1)), initial_epoch=1.0, verbose=0),
            ValueError,
            ["initial_epoch", "write 1"],
        ),
        (lambda m: m.fit(np.ones((4, 3)), np.ones((4, 1)), epochs="3", verbose=0), ValueError, ["epochs", "'3'"]),
        (lambda m: m.predict(np.ones((4, 3)), batch_size=2.0), ValueError, ["batch_size", "2.0"]),
    ],
)
def test_no_raw_errors_for_bad_arguments(call, error, words):
    model = dense_model()
    with pytest.raises(TinyCNNError) as info:
        call(model)
    assert isinstance(info.value, error)
    for word in words:
        assert word in str(info.value), f"{word!r} not in: {info.value}"


def test_every_real_number_type_is_accepted_where_python_numbers_are():
    x, y = regression(16)
    results = []
    for lr, split, batch, epochs in (
        (0.5, 0.25, 4, 2),
        (np.float32(0.5), np.float32(0.25), np.int32(4), np.uint8(2)),
        (np.array(0.5), Fraction(1, 4), np.int64(4), np.array(2)),
    ):
        model = dense_model()
        model.compile(optimizer=SGD(lr), loss="mse")
        results.append(
            model.fit(x, y, validation_split=split, batch_size=batch, epochs=epochs, shuffle=False, verbose=0).history[
                "val_loss"
            ]
        )
        layers.Dropout(np.float32(0.25)), layers.Dropout(np.int64(0)), layers.Softmax(axis=np.int64(-1))
        to_categorical([0, 1], num_classes=np.int64(3))
    assert results[0] == results[1] == results[2]


_NUMBERS = st.one_of(
    st.integers(-3, 40),
    st.floats(allow_nan=True, allow_infinity=True, width=32),
    st.sampled_from(
        [
            None,
            "2",
            b"1",
            True,
            [2],
            (3,),
            np.int64(2),
            np.float32(0.5),
            np.array(2),
            Fraction(1, 2),
            {"a": 1},
            object(),
        ]
    ),
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    kind=st.sampled_from(
        [
            "Dense",
            "Conv2D",
            "Dropout",
            "BatchNormalization",
            "Softmax",
            "MaxPooling2D",
            "Reshape",
            "LeakyReLU",
            "to_categorical",
        ]
    ),
    value=_NUMBERS,
)
def test_fuzzed_constructor_arguments_succeed_or_raise_tinycnn_errors(kind, value):
    build = {
        "Dense": lambda v: layers.Dense(v),
        "Conv2D": lambda v: layers.Conv2D(v, 3),
        "Dropout": lambda v: layers.Dropout(v),
        "BatchNormalization": lambda v: layers.BatchNormalization(momentum=v),
        "Softmax": lambda v: layers.Softmax(axis=v),
        "MaxPooling2D": lambda v: layers.MaxPooling2D(pool_size=v),
        "Reshape": lambda v: layers.Reshape(v),
        "LeakyReLU": lambda v: layers.LeakyReLU(v),
        "to_categorical": lambda v: to_categorical([0, 1], num_classes=v),
    }[kind]
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            build(value)
    except TinyCNNError as e:
        assert isinstance(e, (ValueError, TypeError)) and str(e)


_FIT_MODEL = {}


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture]
)
@given(
    method=st.sampled_from(["fit", "predict", "evaluate"]),
    arg=st.sampled_from(["batch_size", "epochs", "verbose", "validation_split", "initial_epoch", "steps"]),
    value=_NUMBERS,
)
def test_fuzzed_fit_predict_evaluate_arguments_succeed_or_raise_tinycnn_errors(method, arg, value):
    if "model" not in _FIT_MODEL:
        _FIT_MODEL["model"] = dense_model()
    model = _FIT_MODEL["model"]
    x, y = regression(8)
    if method != "fit" and arg in ("epochs", "validation_split", "initial_epoch"):
        return
    if method == "fit" and arg == "steps":
        return
    if arg == "epochs" and isinstance(value, (int, np.integer)) and not isinstance(value, bool) and value > 3:
        value = 3  # keep the suite fast
    kwargs = {arg: value}
    before = model.get_weights()
    try:
        with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
            warnings.simplefilter("ignore")
            if method == "fit":
                model.fit(x, y, **kwargs)
            elif method == "predict":
                model.predict(x, **kwargs)
            else:
                model.evaluate(x, y, **kwargs)
    except TinyCNNError as e:
        assert isinstance(e, (ValueError, TypeError)) and str(e)
        assert same(model.get_weights(), before)  # a refused call changes nothing
