"""The course's two Keras models, in a module that imports nothing of tinycnn.

``compare_keras.py`` and ``bench_train.py`` both build them from here. ``bench_train`` measures each framework's
peak memory in its own process, so its Keras worker must not load tinycnn (and Numba) on the side: importing
``compare_keras`` did, and added about 60 MiB to Keras's figure.
"""


def keras_course_cnn(keras, dropout):
    """The course CNN (as ``examples/fashion_mnist_cnn.build``) in Keras."""
    L = keras.layers
    return keras.Sequential(
        [
            keras.Input((28, 28, 1)),
            L.Conv2D(32, (3, 3), padding="same"),
            L.Activation("relu"),
            L.BatchNormalization(axis=-1),
            L.Conv2D(32, (3, 3), padding="same"),
            L.Activation("relu"),
            L.BatchNormalization(axis=-1),
            L.MaxPooling2D(pool_size=(2, 2)),
            L.Conv2D(64, (3, 3), padding="same"),
            L.Activation("relu"),
            L.BatchNormalization(axis=-1),
            L.Conv2D(64, (3, 3), padding="same"),
            L.Activation("relu"),
            L.BatchNormalization(axis=-1),
            L.MaxPooling2D(pool_size=(2, 2)),
            L.Flatten(),
            L.Dense(512),
            L.Activation("relu"),
            L.BatchNormalization(),
            L.Dropout(dropout),
            L.Dense(10),
            L.Activation("softmax"),
        ]
    )


def keras_regressor(keras, n_features):
    """The course's Auto MPG regressor in Keras."""
    return keras.Sequential(
        [
            keras.Input((n_features,)),
            keras.layers.Dense(64, activation="relu"),
            keras.layers.Dense(64, activation="relu"),
            keras.layers.Dense(1),
        ]
    )
