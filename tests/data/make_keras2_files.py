"""Make the tf.keras 2 files ``tests/test_saving_keras.py`` reads (run once; the files are committed).

Needs ``tf_keras`` (the Keras 2 package for TensorFlow 2.16+: ``pip install tf-keras``). Writes
``keras2_cnn.h5`` (a compiled, trained Sequential CNN with BatchNormalization and Dropout), ``keras2_cnn_weights.h5``
(its ``save_weights``, legacy layout), ``keras2_residual.h5`` (a functional model with an ``Add`` skip
connection) and ``keras2_inputs.npz`` (inputs to predict on). The tests compare tinycnn's predictions with
Keras 3's on the same files, so nothing here is a stored answer.
"""

import pathlib

import numpy as np
import tf_keras as keras

HERE = pathlib.Path(__file__).parent
L = keras.layers
keras.utils.set_random_seed(0)
rng = np.random.default_rng(0)

cnn = keras.Sequential(
    [
        L.Conv2D(4, 3, padding="same", input_shape=(8, 8, 1)),
        L.Activation("relu"),
        L.BatchNormalization(),
        L.MaxPooling2D(),
        L.Dropout(0.25),
        L.Flatten(),
        L.Dense(3),
        L.Activation("softmax"),
    ]
)
cnn.compile(optimizer=keras.optimizers.SGD(0.01, momentum=0.9), loss="categorical_crossentropy", metrics=["accuracy"])
x_cnn = rng.random((16, 8, 8, 1), dtype=np.float32)
cnn.fit(x_cnn, np.eye(3, dtype=np.float32)[rng.integers(0, 3, 16)], batch_size=8, epochs=2, verbose=0)
cnn.save(HERE / "keras2_cnn.h5")
cnn.save_weights(HERE / "keras2_cnn_weights.h5")

inp = keras.Input((6,), name="features")
a = L.Dense(6, activation="relu")(inp)
b = L.Dense(6)(a)
out = L.Dense(2, activation="softmax")(L.Add()([inp, b]))
res = keras.Model(inp, out)
res.compile(optimizer="adam", loss="categorical_crossentropy")
x_res = rng.random((8, 6), dtype=np.float32)
res.fit(x_res, np.eye(2, dtype=np.float32)[rng.integers(0, 2, 8)], verbose=0)
res.save(HERE / "keras2_residual.h5")

np.savez(HERE / "keras2_inputs.npz", keras2_cnn=x_cnn, keras2_residual=x_res)
