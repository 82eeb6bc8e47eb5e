"""The promise: a student's Keras script runs on tinycnn with only its imports changed.

Each script below is the text of a well-known Keras course script (the TensorFlow beginner quickstart, keras.io's
"Simple MNIST convnet", the TensorFlow regression tutorial's one-feature model, a Keras 2-era course script with
``lr=``, ``fit_generator`` and ``H.history["acc"]``, the "experiment changing the optimizers" loop, the
feature-map model). :func:`port` changes *only* its import lines, exactly as a student would; the data sets
are replaced by small random arrays of the real shapes and dtypes (so the test needs no download and takes
seconds), and the number of epochs is cut down. The scripts run to the end and their numbers are finite.
"""

import re
import textwrap

import numpy as np
import pytest

import tinycnn


def port(source):
    """Change the import lines of a Keras script to tinycnn's, and nothing else."""
    rules = [
        (r"^import tensorflow as tf$", "import tinycnn as tf"),
        (r"^from tensorflow import keras$", "import tinycnn as keras"),
        (r"^import keras$", "import tinycnn as keras"),
        (r"^from keras import (.*)$", r"from tinycnn import \1"),
        (r"^from tensorflow\.keras import (.*)$", r"from tinycnn import \1"),
        (r"^from (?:tensorflow\.)?keras\.([\w.]+) import (.*)$", r"from tinycnn.\1 import \2"),
    ]
    out = []
    for line in textwrap.dedent(source).splitlines():
        for pattern, repl in rules:
            line = re.sub(pattern, repl, line)
        out.append(line)
    return "\n".join(out)


@pytest.fixture
def small_data(monkeypatch):
    """Small stand-ins of the real data sets (shapes and dtypes as Keras returns them)."""
    rng = np.random.default_rng(0)

    def images(n, shape, classes=10):
        return rng.integers(0, 256, (n,) + shape, dtype=np.uint8), rng.integers(0, classes, n).astype(np.uint8)

    from tinycnn.datasets import cifar10, fashion_mnist, mnist

    monkeypatch.setattr(mnist, "load_data", lambda path=None: (images(256, (28, 28)), images(64, (28, 28))))
    monkeypatch.setattr(fashion_mnist, "load_data", lambda path=None: (images(256, (28, 28)), images(64, (28, 28))))
    monkeypatch.setattr(
        cifar10,
        "load_data",
        lambda: (
            (rng.integers(0, 256, (128, 32, 32, 3), dtype=np.uint8), rng.integers(0, 10, (128, 1)).astype(np.uint8)),
            (rng.integers(0, 256, (32, 32, 32, 3), dtype=np.uint8), rng.integers(0, 10, (32, 1)).astype(np.uint8)),
        ),
    )


def run_script(source):
    namespace = {"__name__": "__course__"}
    exec(compile(port(source), "<course script>", "exec"), namespace)
    return namespace


def test_port_changes_only_imports():
    assert port("from tensorflow.keras.layers import Dense\nx = 1") == "from tinycnn.layers import Dense\nx = 1"
    assert port("from keras import layers") == "from tinycnn import layers"
    assert port("import tensorflow as tf") == "import tinycnn as tf"
    assert port("from tensorflow.keras import layers, models") == "from tinycnn import layers, models"


TF_QUICKSTART = """
import tensorflow as tf
mnist = tf.keras.datasets.mnist

(x_train, y_train), (x_test, y_test) = mnist.load_data()
x_train, x_test = x_train / 255.0, x_test / 255.0
model = tf.keras.models.Sequential([
  tf.keras.layers.Flatten(input_shape=(28, 28)),
  tf.keras.layers.Dense(128, activation='relu'),
  tf.keras.layers.Dropout(0.2),
  tf.keras.layers.Dense(10)
])
predictions = model(x_train[:1]).numpy()
probabilities = tf.nn.softmax(predictions).numpy()
loss_fn = tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True)
first_loss = loss_fn(y_train[:1], predictions).numpy()
model.compile(optimizer='adam', loss=loss_fn, metrics=['accuracy'])
model.fit(x_train, y_train, epochs=2, verbose=0)
results = model.evaluate(x_test,  y_test, verbose=2)
probability_model = tf.keras.Sequential([model, tf.keras.layers.Softmax()])
top5 = probability_model(x_test[:5])
"""


def test_tensorflow_beginner_quickstart(small_data):
    ns = run_script(TF_QUICKSTART)
    assert ns["probabilities"].shape == (1, 10) and np.isclose(ns["probabilities"].sum(), 1.0, atol=1e-5)
    assert np.isfinite(ns["first_loss"]) and len(ns["results"]) == 2
    np.testing.assert_allclose(np.asarray(ns["top5"]).sum(axis=1), 1.0, rtol=1e-5)


KERAS_IO_MNIST_CONVNET = """
import numpy as np
import keras
from keras import layers

num_classes = 10
input_shape = (28, 28, 1)
(x_train, y_train), (x_test, y_test) = keras.datasets.mnist.load_data()
x_train = x_train.astype("float32") / 255
x_test = x_test.astype("float32") / 255
x_train = np.expand_dims(x_train, -1)
x_test = np.expand_dims(x_test, -1)
y_train = keras.utils.to_categorical(y_train, num_classes)
y_test = keras.utils.to_categorical(y_test, num_classes)

model = keras.Sequential(
    [
        keras.Input(shape=input_shape),
        layers.Conv2D(32, kernel_size=(3, 3), activation="relu"),
        layers.MaxPooling2D(pool_size=(2, 2)),
        layers.Conv2D(64, kernel_size=(3, 3), activation="relu"),
        layers.MaxPooling2D(pool_size=(2, 2)),
        layers.Flatten(),
        layers.Dropout(0.5),
        layers.Dense(num_classes, activation="softmax"),
    ]
)
model.summary()
batch_size = 128
epochs = 1
model.compile(loss="categorical_crossentropy", optimizer="adam", metrics=["accuracy"])
model.fit(x_train, y_train, batch_size=batch_size, epochs=epochs, validation_split=0.1, verbose=0)
score = model.evaluate(x_test, y_test, verbose=0)
"""


def test_keras_io_simple_mnist_convnet(small_data, capsys):
    ns = run_script(KERAS_IO_MNIST_CONVNET)
    assert ns["model"].count_params() == 34826  # keras.io prints "Total params: 34,826"
    assert "Total params: 34,826" in capsys.readouterr().out
    assert np.all(np.isfinite(ns["score"]))


REGRESSION_ONE_FEATURE = """
import numpy as np
import tensorflow as tf
from tensorflow.keras import layers

rng = np.random.default_rng(1)
horsepower = rng.uniform(50, 200, 200).astype("float32")
train_labels = 40 - 0.15 * horsepower + rng.normal(0, 1, 200)
horsepower_normalizer = layers.Normalization(input_shape=[1,], axis=None)
horsepower_normalizer.adapt(horsepower)
horsepower_model = tf.keras.Sequential([
    horsepower_normalizer,
    layers.Dense(units=1)
])
before = horsepower_model.predict(horsepower[:10])
horsepower_model.compile(
    optimizer=tf.keras.optimizers.Adam(learning_rate=0.1),
    loss='mean_absolute_error')
history = horsepower_model.fit(
    horsepower,
    train_labels,
    epochs=100,
    verbose=0,
    validation_split = 0.2)
x = np.linspace(0.0, 250, 251)  # the tutorial's tf.linspace: a TensorFlow op, not Keras
y = horsepower_model.predict(x)
"""


def test_tensorflow_regression_tutorial_one_feature():
    ns = run_script(REGRESSION_ONE_FEATURE)
    assert ns["before"].shape == (10, 1) and ns["y"].shape == (251, 1)
    assert ns["history"].history["val_loss"][-1] < 2.0  # learned the line (noise sd 1: MAE ~0.8)


KERAS2_COURSE = """
from keras.models import Sequential
from keras.layers import Conv2D, MaxPooling2D, Activation, Flatten, Dense, Dropout
from keras.optimizers import SGD
from keras.preprocessing.image import ImageDataGenerator
from keras.utils import to_categorical
from keras.datasets import cifar10
import numpy as np

((trainX, trainY), (testX, testY)) = cifar10.load_data()
trainX = trainX.astype("float32") / 255.0
testX = testX.astype("float32") / 255.0
trainY = to_categorical(trainY, 10)
testY = to_categorical(testY, 10)
model = Sequential()
model.add(Conv2D(8, (3, 3), padding="same", input_shape=(32, 32, 3)))
model.add(Activation("relu"))
model.add(MaxPooling2D(pool_size=(2, 2)))
model.add(Flatten())
model.add(Dense(10))
model.add(Activation("softmax"))
opt = SGD(lr=0.01, decay=0.01 / 2, momentum=0.9, nesterov=True)
model.compile(loss="categorical_crossentropy", optimizer=opt, metrics=["accuracy"])
aug = ImageDataGenerator(rotation_range=10, width_shift_range=0.1, height_shift_range=0.1, horizontal_flip=True)
H = model.fit_generator(aug.flow(trainX, trainY, batch_size=32), validation_data=(testX, testY),
                        steps_per_epoch=len(trainX) // 32, epochs=2, verbose=0)
curves = (H.history["acc"], H.history["val_acc"], H.history["loss"], H.history["val_loss"])
"""


def test_keras_2_course_script_with_generator_and_acc_keys(small_data):
    ns = run_script(KERAS2_COURSE)
    assert all(len(c) == 2 and np.all(np.isfinite(c)) for c in ns["curves"])


OPTIMIZER_EXPERIMENT = """
import tensorflow as tf
(x_train, y_train), (x_test, y_test) = tf.keras.datasets.fashion_mnist.load_data()
x_train, x_test = x_train / 255.0, x_test / 255.0
results = {}
for name in ["sgd", "adam", "rmsprop", "adagrad", "adadelta", "adamax", "nadam", "adamw"]:
    model = tf.keras.Sequential([tf.keras.layers.Flatten(input_shape=(28, 28)),
                                 tf.keras.layers.Dense(32, activation=tf.nn.relu),
                                 tf.keras.layers.Dense(10, activation=tf.nn.softmax)])
    model.compile(optimizer=name, loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(x_train, y_train, epochs=1, verbose=0)
    results[name] = model.evaluate(x_test, y_test, verbose=0)
"""


def test_experiment_changing_the_optimizer(small_data):
    ns = run_script(OPTIMIZER_EXPERIMENT)
    assert len(ns["results"]) == 8 and all(np.all(np.isfinite(v)) for v in ns["results"].values())


FEATURE_MAPS = """
import tensorflow as tf
from tensorflow.keras import layers, models

(x_train, y_train), _ = tf.keras.datasets.mnist.load_data()
x_train = x_train[..., None] / 255.0
model = models.Sequential()
model.add(layers.Conv2D(8, (3, 3), activation='relu', input_shape=(28, 28, 1)))
model.add(layers.MaxPooling2D((2, 2)))
model.add(layers.Conv2D(8, (3, 3), activation='relu'))
model.add(layers.Flatten())
model.add(layers.Dense(10))
model.compile(optimizer='adam', loss=tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True),
              metrics=['accuracy'])
model.fit(x_train, y_train, epochs=1, verbose=0)
layer_outputs = [layer.output for layer in model.layers]
activation_model = models.Model(inputs=model.input, outputs=layer_outputs)
activations = activation_model.predict(x_train[:1])
first_layer_activation = activations[0]
"""


def test_feature_maps_of_a_trained_model(small_data):
    ns = run_script(FEATURE_MAPS)
    assert ns["first_layer_activation"].shape == (1, 26, 26, 8)
    assert [a.shape[1:] for a in ns["activations"]] == [(26, 26, 8), (13, 13, 8), (11, 11, 8), (968,), (10,)]


def test_import_tinycnn_as_keras_resolves_the_keras_names():
    import tinycnn as keras

    for name in (
        "Sequential",
        "Model",
        "Input",
        "layers",
        "models",
        "optimizers",
        "losses",
        "metrics",
        "callbacks",
        "datasets",
        "utils",
        "backend",
        "regularizers",
        "preprocessing",
        "nn",
    ):
        assert getattr(keras, name) is not None, name
    assert keras.keras is tinycnn and keras.keras.layers.Dense is tinycnn.layers.Dense
    assert keras.datasets.mnist.load_data is not None
