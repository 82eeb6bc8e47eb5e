"""Real data: the course CNN on 8,000 Fashion-MNIST images for one epoch beats 70% test accuracy.

Batch 16 rather than the course's 32: BatchNorm's moving statistics (momentum 0.99) keep 0.99^steps of their
initial values, so inference needs a few hundred steps before they describe the data (500 steps here leave
0.7%; 125 steps of batch 32 would leave 28% and inference accuracy near chance, in Keras as in tinycnn).
One epoch this short is chaotic: rounding alone (the direct vs the im2col convolution route, same seed) moved
the test accuracy after 5,000 images between 0.64 and 0.79; after 8,000 images it measured 0.73-0.84 over
seeds 0-2 and both routes, hence 8,000.
"""

import importlib.util
import os

import numpy as np
import pytest

from tinycnn.datasets import fashion_mnist
from tinycnn.optimizers import SGD
from tinycnn.utils import set_random_seed

EXAMPLE = os.path.join(os.path.dirname(__file__), "..", "examples", "fashion_mnist_cnn.py")


def load_example():
    spec = importlib.util.spec_from_file_location("fashion_mnist_cnn", EXAMPLE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_course_cnn_learns_fashion_mnist():
    try:
        fashion_mnist.load_data()
    except Exception as e:  # noqa: BLE001
        if os.environ.get("CI") == "true":
            raise
        pytest.skip(f"Fashion-MNIST not available here: {e}")
    example = load_example()
    set_random_seed(0)
    (x, y, _), (test_x, _, test_labels) = example.load(limit=8000)
    model = example.build()
    model.compile(
        loss="categorical_crossentropy", optimizer=SGD(lr=0.01, momentum=0.9, decay=0.01), metrics=["accuracy"]
    )
    history = model.fit(x, y, batch_size=16, epochs=1, verbose=0)
    accuracy = float(np.mean(model.predict(test_x[:2000]).argmax(axis=1) == test_labels[:2000]))
    assert accuracy > 0.70, f"test accuracy {accuracy:.3f} after one epoch on 8000 images"
    assert history.history["accuracy"][0] > 0.5
