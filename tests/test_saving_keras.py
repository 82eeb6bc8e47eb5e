"""Keras model files both ways, held to Keras itself: what tinycnn writes, Keras reads, and the reverse.

For each case -- the course CNN (``examples/fashion_mnist_cnn.py``), a small Dense model, a functional residual
model -- and each format (``.keras``, legacy ``.h5``, ``.weights.h5``), one side writes, the other reads,
and the predictions agree to a relative difference ``max|a - b| / max|b|`` of at most ``1e-5``. Resumed
training: Keras trains ``k`` steps and saves; Keras reloads and trains ``n`` more; tinycnn reloads and trains
the same ``n`` batches; the weights agree within float32 tolerance (SGD with momentum, Adam). Files written by
tf.keras (Keras 2) are in ``tests/data`` (made by ``tests/data/make_keras2_files.py``) and are read by both.

Keras is optional locally (the tests skip without TensorFlow) but required in CI: with ``CI=true`` a missing
TensorFlow fails every test here.
"""

import os
import pathlib
import sys

import numpy as np
import pytest

import tinycnn
from tinycnn import layers as tl
from tinycnn.models import Model, Sequential, load_model
from tinycnn.optimizers import SGD, Adam
from tinycnn.utils import set_random_seed

RTOL = 1e-5
DATA = pathlib.Path(__file__).parent / "data"
sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent / "examples"))


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
def keras():
    return _import_keras()[1]


def _rel(a, b):
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return float(np.max(np.abs(a - b)) / max(np.max(np.abs(b)), np.finfo(np.float32).tiny))


def _assert_close(mine, theirs, what, rtol=RTOL):
    rel = _rel(mine, theirs)
    print(f"{what}: relative difference {rel:.3g}")
    assert rel <= rtol, f"{what}: relative difference {rel:.3g} > {rtol}\ntinycnn:\n{mine}\nKeras:\n{theirs}"


# ------------------------------------------------------------------------------------------ the models
def _tiny_cnn():
    from fashion_mnist_cnn import build

    set_random_seed(0)
    return build()


def _keras_cnn(keras):
    """The course CNN in Keras: the benchmarks' definition (``benchmarks/keras_models.py``), seeded."""
    sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "benchmarks"))
    from keras_models import keras_course_cnn

    keras.utils.set_random_seed(0)
    return keras_course_cnn(keras, 0.5)


def _tiny_dense():
    set_random_seed(1)
    return Sequential([tl.Dense(16, activation="relu", input_shape=(5,)), tl.Dense(8, activation="tanh"), tl.Dense(3)])


def _keras_dense(keras):
    keras.utils.set_random_seed(1)
    L = keras.layers
    return keras.Sequential(
        [keras.Input((5,)), L.Dense(16, activation="relu"), L.Dense(8, activation="tanh"), L.Dense(3)]
    )


def _tiny_residual():
    set_random_seed(2)
    inputs = tinycnn.Input(shape=(8, 8, 3), name="image")
    x = tl.Conv2D(4, 3, padding="same", activation="relu")(inputs)
    y = tl.Conv2D(4, 3, padding="same", use_bias=False)(x)  # a bias before BN gets only round-off
    y = tl.BatchNormalization()(y)
    x = tl.Activation("relu")(tl.Add()([x, y]))
    x = tl.GlobalAveragePooling2D()(x)
    outputs = tl.Dense(3, activation="softmax")(x)
    return Model(inputs, outputs, name="residual")


def _keras_residual(keras):
    keras.utils.set_random_seed(2)
    L = keras.layers
    inputs = keras.Input((8, 8, 3), name="image")
    x = L.Conv2D(4, 3, padding="same", activation="relu")(inputs)
    y = L.Conv2D(4, 3, padding="same", use_bias=False)(x)
    y = L.BatchNormalization()(y)
    x = L.Activation("relu")(L.Add()([x, y]))
    x = L.GlobalAveragePooling2D()(x)
    return keras.Model(inputs, L.Dense(3, activation="softmax")(x), name="residual")


CASES = {
    "cnn": (_tiny_cnn, _keras_cnn, (28, 28, 1), 10),
    "dense": (_tiny_dense, _keras_dense, (5,), 3),
    "residual": (_tiny_residual, _keras_residual, (8, 8, 3), 3),
}


def _data(shape, classes, n=24, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.random((n,) + shape, dtype=np.float32)
    y = np.eye(classes, dtype=np.float32)[rng.integers(0, classes, n)]
    return x, y


def _perturb_bn(layers):
    """Give BatchNormalization moving statistics that are not 0 and 1, so a swap would show."""
    rng = np.random.default_rng(7)
    for layer in layers:
        if type(layer).__name__ == "BatchNormalization":
            layer.set_weights([w + rng.uniform(0.1, 0.5, w.shape).astype(np.float32) for w in layer.get_weights()])


# ------------------------------------------------------------------------------------------ tinycnn -> Keras
@pytest.mark.parametrize("case", sorted(CASES))
@pytest.mark.parametrize("ext", [".keras", ".h5"])
def test_tinycnn_model_file_opens_in_keras(keras, tmp_path, case, ext):
    make_tiny, _, shape, classes = CASES[case]
    model = make_tiny()
    _perturb_bn(model.layers)
    model.compile(optimizer=SGD(0.01, momentum=0.9), loss="categorical_crossentropy", metrics=["accuracy"])
    x, _ = _data(shape, classes)
    path = tmp_path / f"m{ext}"
    model.save(path)
    theirs = keras.models.load_model(path)
    _assert_close(model.predict(x), theirs.predict(x, verbose=0), f"{case}{ext} tinycnn -> Keras")
    assert [l.name for l in theirs.layers if type(l).__name__ != "InputLayer"] == [
        l.name for l in model.layers if type(l).__name__ != "InputLayer"
    ]
    assert type(theirs.optimizer).__name__ == "SGD" and abs(float(theirs.optimizer.momentum) - 0.9) < 1e-7


@pytest.mark.parametrize("case", sorted(CASES))
def test_tinycnn_weights_file_opens_in_keras(keras, tmp_path, case):
    make_tiny, make_keras, shape, classes = CASES[case]
    model = make_tiny()
    _perturb_bn(model.layers)
    x, _ = _data(shape, classes)
    model.save_weights(tmp_path / "w.weights.h5")
    theirs = make_keras(keras)
    theirs.load_weights(tmp_path / "w.weights.h5")
    _assert_close(model.predict(x), theirs.predict(x, verbose=0), f"{case}.weights.h5 tinycnn -> Keras")


# ------------------------------------------------------------------------------------------ Keras -> tinycnn
@pytest.mark.parametrize("case", sorted(CASES))
@pytest.mark.parametrize("ext", [".keras", ".h5", ".weights.h5"])
def test_keras_file_opens_in_tinycnn(keras, tmp_path, case, ext):
    make_tiny, make_keras, shape, classes = CASES[case]
    theirs = make_keras(keras)
    theirs.compile(
        optimizer=keras.optimizers.SGD(0.01, momentum=0.9), loss="categorical_crossentropy", metrics=["accuracy"]
    )
    x, y = _data(shape, classes)
    theirs.fit(x, y, batch_size=8, epochs=1, verbose=0, shuffle=False)  # moving statistics and momentum move
    path = tmp_path / f"m{ext}"
    if ext == ".weights.h5":
        theirs.save_weights(path)
        mine = make_tiny()
        mine.load_weights(path)
    else:
        theirs.save(path)
        mine = load_model(path)
        assert type(mine.optimizer).__name__ == "SGD" and mine.optimizer.iterations == 3
        assert [n for n, _ in mine.compiled_metrics] == ["accuracy"]
    _assert_close(mine.predict(x), theirs.predict(x, verbose=0), f"{case}{ext} Keras -> tinycnn")


@pytest.mark.parametrize("name", ["keras2_cnn.h5", "keras2_residual.h5", "keras2_cnn_weights.h5"])
def test_tf_keras_2_files_open_in_tinycnn_as_in_keras(keras, name):
    """Files written by tf.keras 2 (``tests/data/make_keras2_files.py``), read by tinycnn and by Keras 3."""
    path = DATA / name
    x = np.load(DATA / "keras2_inputs.npz")[name.split("_weights")[0].replace(".h5", "")]
    if "weights" in name:
        reference = keras.models.load_model(DATA / "keras2_cnn.h5", compile=False)
        reference.load_weights(path)
        mine = load_model(DATA / "keras2_cnn.h5", compile=False)
        for layer in mine.layers:
            for w in layer.weights:
                w[...] = 0
        mine.load_weights(path)
    else:
        reference = keras.models.load_model(path, compile=False)
        mine = load_model(path)
    _assert_close(mine.predict(x), reference.predict(x, verbose=0), f"{name} tf.keras 2 -> tinycnn")


# ------------------------------------------------------------------------------------------ resumed training
def _keras_optimizer(keras, kind):
    return keras.optimizers.SGD(0.05, momentum=0.9) if kind == "sgd" else keras.optimizers.Adam(0.01)


@pytest.mark.parametrize("kind", ["sgd", "adam"])
@pytest.mark.parametrize("ext", [".keras", ".h5"])
@pytest.mark.parametrize("case", ["dense", "residual"])
def test_resumed_training_matches_keras(keras, tmp_path, kind, ext, case):
    """Keras trains k steps and saves; Keras and tinycnn each reload and train the same n batches.

    Keras 3 cannot resume training from its own legacy ``.h5`` (its reloaded optimizer refuses the model's
    variables), so for ``.h5`` the reference is the Keras model that saved the file, training on in memory."""
    make_tiny, make_keras, shape, classes = CASES[case]
    theirs = make_keras(keras)
    theirs.compile(optimizer=_keras_optimizer(keras, kind), loss="categorical_crossentropy")
    x, y = _data(shape, classes, n=48)
    for i in range(3):  # k = 3 steps
        theirs.train_on_batch(x[i * 8 : (i + 1) * 8], y[i * 8 : (i + 1) * 8])
    path = tmp_path / f"m{ext}"
    theirs.save(path)
    resumed_keras = keras.models.load_model(path) if ext == ".keras" else theirs
    mine = load_model(path)
    assert mine.optimizer.iterations == 3
    for i in range(3, 6):  # n = 3 more steps, same batches
        resumed_keras.train_on_batch(x[i * 8 : (i + 1) * 8], y[i * 8 : (i + 1) * 8])
        mine.train_on_batch(x[i * 8 : (i + 1) * 8], y[i * 8 : (i + 1) * 8])
    for a, b, layer in zip(mine.get_weights(), resumed_keras.get_weights(), range(1000)):
        _assert_close(a, b, f"{case} {kind}{ext} resumed weight {layer}", rtol=1e-5)


@pytest.mark.parametrize("kind", ["sgd", "adam"])
def test_tinycnn_resume_file_resumes_in_keras(keras, tmp_path, kind):
    """The reverse: tinycnn trains and saves; both reload and train the same batches."""
    model = _tiny_dense()
    model.compile(optimizer=SGD(0.05, momentum=0.9) if kind == "sgd" else Adam(0.01), loss="categorical_crossentropy")
    x, y = _data((5,), 3, n=48)
    for i in range(3):
        model.train_on_batch(x[i * 8 : (i + 1) * 8], y[i * 8 : (i + 1) * 8])
    model.save(tmp_path / "m.keras")
    theirs = keras.models.load_model(tmp_path / "m.keras")
    assert int(theirs.optimizer.iterations.numpy()) == 3
    for i in range(3, 6):
        theirs.train_on_batch(x[i * 8 : (i + 1) * 8], y[i * 8 : (i + 1) * 8])
        model.train_on_batch(x[i * 8 : (i + 1) * 8], y[i * 8 : (i + 1) * 8])
    for k, (a, b) in enumerate(zip(model.get_weights(), theirs.get_weights())):
        _assert_close(a, b, f"dense {kind} tinycnn -> Keras resumed weight {k}")


# ------------------------------------------------------------------------------------------ every table row
def _keras_zoo(keras):
    """One Keras model with the other layers of the table: the rows are held to Keras, not only the course's."""
    keras.utils.set_random_seed(3)
    L = keras.layers
    image = keras.Input((8, 8, 2), name="image")
    x = L.Rescaling(0.5, offset=0.1)(image)
    x = L.ZeroPadding2D(((1, 0), (0, 1)))(x)
    x = L.Conv2D(3, 2, strides=(1, 1), dilation_rate=2, activation="elu", kernel_regularizer="l2")(x)
    x = L.UpSampling2D((2, 1))(x)
    x = L.AveragePooling2D(2, padding="same")(x)
    a = L.GlobalMaxPooling2D()(x)
    b = L.GlobalAveragePooling2D()(L.LeakyReLU(negative_slope=0.2)(x))
    seq = keras.Input((10, 3), name="sequence")
    s = L.Conv1D(4, 3, padding="causal", activation="relu")(seq)
    s = L.MaxPooling1D(2)(s)
    s = L.AveragePooling1D(1)(s)
    c = L.GlobalAveragePooling1D()(L.ReLU(max_value=1.0)(s))
    d = L.Flatten()(L.Reshape((5, 4))(L.Dense(20)(L.Concatenate()([a, b, c]))))
    out = L.Softmax()(L.Dense(3)(L.Multiply()([L.Dense(4, activation="sigmoid")(d), L.Dense(4)(d)])))
    return keras.Model([image, seq], out, name="zoo")


@pytest.mark.parametrize("ext", [".keras", ".h5"])
def test_every_layer_row_round_trips_with_keras(keras, tmp_path, ext):
    theirs = _keras_zoo(keras)
    rng = np.random.default_rng(4)
    x = [rng.random((6, 8, 8, 2), dtype=np.float32), rng.random((6, 10, 3), dtype=np.float32)]
    theirs.save(tmp_path / f"k{ext}")
    mine = load_model(tmp_path / f"k{ext}")
    _assert_close(mine.predict(x), theirs.predict(x, verbose=0), f"zoo{ext} Keras -> tinycnn")
    mine.save(tmp_path / f"t{ext}")
    back = keras.models.load_model(tmp_path / f"t{ext}")
    _assert_close(mine.predict(x), back.predict(x, verbose=0), f"zoo{ext} tinycnn -> Keras")
