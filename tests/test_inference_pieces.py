"""predict/evaluate cut large batches into cache-sized pieces (tinycnn.models.inference): same numbers."""

import numpy as np
import pytest

import tinycnn as keras
from tinycnn import layers
from tinycnn.models import inference


def course_like():
    return keras.Sequential(
        [
            keras.Input((12, 12, 1)),
            layers.Conv2D(16, 3, padding="same", activation="relu"),
            layers.BatchNormalization(),
            layers.MaxPooling2D(),
            layers.Conv2D(32, 3, padding="same"),
            layers.Activation("relu"),
            layers.Flatten(),
            layers.Dropout(0.5),
            layers.Dense(10, activation="softmax"),
        ]
    )


@pytest.fixture
def small_pieces(monkeypatch):
    """Pieces of 3 images for the model above (its widest activation is 12*12*16 float32 = 9216 bytes)."""
    monkeypatch.setattr(inference, "INFERENCE_PIECE_BYTES", 3 * 12 * 12 * 16 * 4)


def test_piece_size_follows_the_widest_activation(small_pieces):
    assert course_like()._inference_piece() == 3


@pytest.mark.parametrize("backend", ["numba", "reference"])
def test_predict_in_pieces_gives_the_whole_batch_numbers(small_pieces, backend):
    model = course_like()
    x = np.random.default_rng(0).random((20, 12, 12, 1), dtype=np.float32)
    with keras.kernels.use(backend):
        whole = model._forward_all([x], training=False)[0]  # one pass over all 20 images
        got = model.predict(x, batch_size=20, verbose=0)  # pieces of 3, 3, ..., 2
        assert got.shape == (20, 10)
        if backend == "numba":
            np.testing.assert_array_equal(got, whole)  # rows of the engine's tiles do not see each other
        else:
            np.testing.assert_allclose(got, whole, rtol=1e-6, atol=1e-7)  # BLAS may block by matrix size
        model.compile(loss="categorical_crossentropy", metrics=["accuracy"])
        y = np.eye(10, dtype=np.float32)[np.arange(20) % 10]
        loss, acc = model.evaluate(x, y, batch_size=20, verbose=0)  # whole batches: the fused loss reads the logits
        probs = np.clip(whole.astype(np.float64), 1e-7, 1)
        np.testing.assert_allclose(loss, -np.mean(np.log(probs[np.arange(20), np.arange(20) % 10])), rtol=1e-5)


def test_two_outputs_are_joined_in_order(monkeypatch):
    inputs = keras.Input((4,))
    hidden = layers.Dense(8, activation="relu")(inputs)
    model = keras.Model(inputs, [layers.Dense(2)(hidden), layers.Dense(3, activation="softmax")(hidden)])
    monkeypatch.setattr(inference, "INFERENCE_PIECE_BYTES", 2 * 8 * 4)  # pieces of 2 samples
    assert model._inference_piece() == 2
    x = np.random.default_rng(1).random((7, 4), dtype=np.float32)
    a, b = model.predict(x, batch_size=7, verbose=0)
    whole_a, whole_b = model._forward_all([x], training=False)
    np.testing.assert_array_equal(a, whole_a)
    np.testing.assert_array_equal(b, whole_b)


class CenterOverBatch(layers.Layer):
    """A user's layer that mixes the samples of a batch: pieces would change its numbers."""

    def compute_output_shape(self, input_shape):
        return input_shape

    def forward(self, x, training=False):
        return x - x.mean(axis=0, keepdims=True)


def test_a_layer_tinycnn_does_not_know_gets_whole_batches(small_pieces):
    model = keras.Sequential([keras.Input((12, 12, 1)), layers.Flatten(), CenterOverBatch(), layers.Dense(4)])
    assert model._inference_piece() is None
    x = np.random.default_rng(2).random((20, 12, 12, 1), dtype=np.float32)
    np.testing.assert_array_equal(model.predict(x, batch_size=20, verbose=0), model._forward_all([x], False)[0])


class CenteredSequential(keras.Sequential):
    """A user's model class whose forward pass mixes the samples of a batch."""

    def forward(self, x, training=False):
        y = super().forward(x, training=training)
        return y - y.mean(axis=0, keepdims=True)


def test_a_model_class_tinycnn_does_not_know_gets_whole_batches(small_pieces):
    model = CenteredSequential([keras.Input((12, 12, 1)), layers.Flatten(), layers.Dense(4)])
    assert model._inference_piece() is None
    x = np.random.default_rng(4).random((20, 12, 12, 1), dtype=np.float32)
    np.testing.assert_allclose(model.predict(x, batch_size=20, verbose=0).mean(axis=0), 0, atol=1e-6)


def test_a_nested_model_of_a_class_tinycnn_does_not_know_gets_whole_batches(small_pieces):
    inner = CenteredSequential([keras.Input((12, 12, 1)), layers.Flatten(), layers.Dense(4)])
    outer = keras.Sequential([keras.Input((12, 12, 1)), inner, layers.Dense(2)])
    assert outer._inference_piece() is None
    inner = keras.Sequential([layers.Conv2D(16, 3, padding="same"), layers.Flatten(), layers.Dense(4)])
    plain = keras.Sequential([keras.Input((12, 12, 1)), inner])
    assert plain._inference_piece() == 3  # the nested model's widest activation counts: 12*12*16 float32
