"""Bad input gets a clear error; training that goes wrong stops cleanly; memory stays bounded.

Every refusal is checked for its type (a :class:`tinycnn.errors.TinyCNNError` that is also a ``ValueError``
or ``TypeError``) *and* for the words a student needs in the message. The Hypothesis tests at the end throw
random shapes, dtypes and values at the public API: whatever fails must fail with one of tinycnn's errors,
and a refused call must leave the model's weights exactly as they were.
"""

import os
import re
import signal
import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import tinycnn.kernels
from tinycnn.callbacks import Callback, EarlyStopping, ModelCheckpoint
from tinycnn.errors import InvalidArgumentError, InvalidInputError, InvalidTypeError, TinyCNNError
from tinycnn.layers import AveragePooling2D, BatchNormalization, Conv2D, Dense, Dropout, Flatten, MaxPooling2D, ReLU
from tinycnn.models import Sequential, training
from tinycnn.optimizers import SGD
from tinycnn.utils import set_random_seed, to_categorical


# --------------------------------------------------------------------------------------------- helpers
def dense_model(n_out=1, activation=None, loss="mse", lr=0.01, momentum=0.0):
    """3 features -> 4 relu -> ``n_out``: the smallest model that exercises every code path."""
    model = Sequential([Dense(4, activation="relu", input_shape=(3,)), Dense(n_out, activation=activation)])
    model.compile(optimizer=SGD(lr, momentum=momentum), loss=loss)
    return model


def conv_model(built=True, loss="categorical_crossentropy"):
    """8x8x1 images -> Conv2D(2, 3) -> max-pool -> Flatten -> 3-way softmax."""
    first = Conv2D(2, 3, activation="relu", **({"input_shape": (8, 8, 1)} if built else {}))
    model = Sequential([first, MaxPooling2D(), Flatten(), Dense(3, activation="softmax")])
    model.compile(optimizer=SGD(0.05), loss=loss, metrics=["accuracy"])
    return model


def images(n=12, seed=0):
    rng = np.random.default_rng(seed)
    return rng.random((n, 8, 8, 1), dtype=np.float32), rng.integers(0, 3, n)


def regression(n=32, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.random((n, 3), dtype=np.float32)
    return x, x.sum(axis=1, keepdims=True)


def same_weights(a, b):
    return len(a) == len(b) and all(u.shape == v.shape and np.array_equal(u, v) for u, v in zip(a, b))


def raises_clearly(exc_type, *words):
    """``pytest.raises`` for a tinycnn error whose message contains every one of ``words``."""

    class Checker:
        def __enter__(self):
            self.ctx = pytest.raises(exc_type)
            self.info = self.ctx.__enter__()
            return self.info

        def __exit__(self, *exc):
            handled = self.ctx.__exit__(*exc)
            if not handled:
                return False  # another exception: let it through unchanged
            err = self.info.value
            assert isinstance(err, TinyCNNError) and isinstance(err, (ValueError, TypeError)), type(err)
            for word in words:
                assert word in str(err), f"{word!r} not in message: {err}"
            return handled

    return Checker()


class WeightsAtBatchBegin(Callback):
    """Records ``model.get_weights()`` before every training step, keyed by ``(epoch, batch)``."""

    def __init__(self):
        super().__init__()
        self.weights, self.epoch = {}, None

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch

    def on_train_batch_begin(self, batch, logs=None):
        self.weights[(self.epoch, batch)] = self.model.get_weights()


def stop_warning(record):
    """The one 'training stopped' warning of a fit, as ``(epoch, batch, message)`` (1-based, as printed)."""
    messages = [str(w.message) for w in record if "training stopped" in str(w.message)]
    assert len(messages) == 1, [str(w.message) for w in record]
    epoch, batch = map(int, re.match(r"Epoch (\d+), batch (\d+):", messages[0]).groups())
    return epoch, batch, messages[0]


# ------------------------------------------------------------------------ validation at the model boundary
def test_non_numeric_data_is_a_type_error():
    model = dense_model()
    with raises_clearly(InvalidTypeError, "predict", "x must be a NumPy array of numbers", "str"):
        model.predict("0.1, 0.2, 0.3")
    with raises_clearly(InvalidTypeError, "x must hold numbers", "dtype <U", "strings or None"):
        model.predict([["a", "b", "c"]])
    with raises_clearly(InvalidTypeError, "dtype object"):
        model.predict(np.array([[1.0, None, 2.0]], dtype=object))
    with raises_clearly(InvalidTypeError, "different shapes"):
        model.predict([[1.0, 2.0, 3.0], [1.0, 2.0]])
    with raises_clearly(InvalidTypeError, "complex"):
        model.predict(np.ones((2, 3), dtype=np.complex64))
    with raises_clearly(InvalidInputError, "missing", "None"):
        model.predict(None)
    x, y = regression()
    with raises_clearly(InvalidTypeError, "fit", "y must hold numbers"):
        model.fit(x, np.array(["cat"] * len(x)), verbose=0)


def test_missing_channel_axis_says_so_and_shows_the_reshape():
    x, labels = images()
    with raises_clearly(
        InvalidInputError,
        "(None, 8, 8, 1)",
        "(12, 8, 8)",
        "channel axis",
        "x.reshape((-1, 8, 8, 1))",
        "x[..., np.newaxis]",
    ):
        conv_model().predict(x[..., 0])
    # not built yet: the first Conv2D layer is what needs the channel axis
    with raises_clearly(InvalidInputError, "Conv2D", "4-D", "(12, 8, 8)", "channel axis", "x.reshape((-1, 8, 8, 1))"):
        conv_model(built=False).fit(x[..., 0], to_categorical(labels, 3), verbose=0)


def test_other_wrong_ranks():
    model = dense_model()
    with raises_clearly(InvalidInputError, "(None, 3)", "(2, 3, 1)", "Flatten()"):
        model.predict(np.zeros((2, 3, 1)))
    with raises_clearly(InvalidInputError, "one sample", "x[np.newaxis]", "(1, 3)"):
        model.predict(np.zeros(3))
    # a rank-1 x for a model of one input feature is n samples of that feature, as Keras reads it
    assert Sequential([Dense(1)]).predict(np.zeros(5)).shape == (5, 1)
    with raises_clearly(InvalidInputError, "batch axis", "x.reshape(-1, 1)"):
        Sequential([Conv2D(2, 3)]).predict(np.zeros(5))
    with raises_clearly(InvalidInputError, "scalar"):
        model.predict(np.float32(1.0))


def test_wrong_image_size_names_expected_got_and_layer():
    model = conv_model()
    with raises_clearly(InvalidInputError, "conv2d", "(8, 8, 1)", "(10, 10, 1)"):
        model.predict(np.zeros((2, 10, 10, 1)))
    with raises_clearly(InvalidInputError, "(8, 8, 1)", "(8, 8, 3)"):
        model.evaluate(np.zeros((2, 8, 8, 3)), np.eye(3)[[0, 1]], verbose=0)


def test_sample_counts_must_match():
    x, labels = images()
    with raises_clearly(InvalidInputError, "x has 12 samples but y has 5"):
        conv_model().fit(x, to_categorical(labels, 3)[:5], verbose=0)
    with raises_clearly(InvalidInputError, "fit (validation_data)", "x has 12 samples but y has 11"):
        conv_model().fit(x, to_categorical(labels, 3), validation_data=(x, to_categorical(labels, 3)[:11]), verbose=0)


def test_integer_labels_with_categorical_crossentropy_suggest_both_fixes():
    x, labels = images()
    with raises_clearly(
        InvalidInputError,
        "categorical_crossentropy expects one-hot",
        "(12,)",
        "to_categorical",
        "sparse_categorical_crossentropy",
    ):
        conv_model().fit(x, labels, verbose=0)


def test_one_hot_labels_with_sparse_loss_suggest_both_fixes():
    x, labels = images()
    with raises_clearly(
        InvalidInputError,
        "sparse_categorical_crossentropy expects integer labels",
        "(12, 3)",
        "one-hot",
        "loss='categorical_crossentropy'",
        "argmax",
    ):
        conv_model(loss="sparse_categorical_crossentropy").fit(x, to_categorical(labels, 3), verbose=0)
    with raises_clearly(InvalidInputError, "labels must be in 0..2", "0..7"):
        conv_model(loss="sparse_categorical_crossentropy").fit(x, np.arange(12) % 8, verbose=0)
    with raises_clearly(InvalidInputError, "integer class labels"):
        conv_model(loss="sparse_categorical_crossentropy").fit(x, labels + 0.5, verbose=0)


def test_spatial_output_against_class_targets_suggests_flatten():
    model = Sequential([Conv2D(2, 3, input_shape=(8, 8, 1)), Dense(3, activation="softmax")])
    model.compile(optimizer="sgd", loss="categorical_crossentropy")
    x, labels = images()
    with raises_clearly(InvalidInputError, "(None, 6, 6, 3)", "(12, 3)", "Flatten()"):
        model.fit(x, to_categorical(labels, 3), verbose=0)
    with raises_clearly(InvalidInputError, "y has shape (32, 5, 1)", "(32, 1)"):
        dense_model().fit(*regression()[:1], np.zeros((32, 5, 1)), verbose=0)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_nan_or_infinite_inputs_and_targets(bad):
    x, y = regression()
    x_bad, y_bad = x.copy(), y.copy()
    x_bad[3, 1] = bad
    y_bad[5, 0] = bad
    model = dense_model()
    with raises_clearly(InvalidInputError, "predict", "x contains 1 NaN or infinite values"):
        model.predict(x_bad)
    with raises_clearly(InvalidInputError, "fit", "y contains 1 NaN or infinite values"):
        model.fit(x, y_bad, verbose=0)
    with raises_clearly(InvalidInputError, "evaluate", "NaN or infinite"):
        model.evaluate(x_bad, y, verbose=0)


def test_values_that_overflow_float32_are_refused():
    x, _ = regression()
    with raises_clearly(InvalidInputError, "too large for float32", "rescale"):
        dense_model().predict(x.astype(np.float64) * 1e300)


def test_empty_arrays():
    model = dense_model()
    with raises_clearly(InvalidInputError, "x is empty", "(0, 3)"):
        model.predict(np.zeros((0, 3)))
    with raises_clearly(InvalidInputError, "y is empty"):
        model.fit(np.zeros((2, 3)), np.zeros((0, 1)), verbose=0)
    with raises_clearly(InvalidInputError, "empty"):
        model.predict([])


@pytest.mark.parametrize(
    "call, words",
    [
        (lambda: dense_model(loss="crossentropy"), ["unknown loss 'crossentropy'", "categorical_crossentropy", "mse"]),
        (lambda: dense_model().compile("sgd", "mse", metrics=["acuracy"]), ["unknown metric 'acuracy'", "accuracy"]),
        (lambda: Dense(3, activation="relu7"), ["unknown activation 'relu7'", "relu", "softmax", "tanh"]),
        (lambda: dense_model().compile("adamww", "mse"), ["unknown optimizer 'adamww'", "sgd"]),
        (lambda: Conv2D(2, 3, padding="full"), ["padding", "'valid'", "'same'", "'full'"]),
        (lambda: MaxPooling2D(padding="VALIDD"), ["padding", "'valid'", "'same'"]),
    ],
)
def test_unknown_names_list_the_valid_ones(call, words):
    with raises_clearly(InvalidArgumentError, *words):
        call()


@pytest.mark.parametrize(
    "call, words",
    [
        (lambda: Conv2D(0, 3), ["filters must be a positive int", "0"]),
        (lambda: Conv2D(-4, 3), ["filters", "-4"]),
        (lambda: Conv2D(2.5, 3), ["filters", "2.5"]),
        (lambda: Dense(0), ["units must be a positive int"]),
        (lambda: Dropout(1.0), ["Dropout rate", "[0, 1)", "1.0"]),
        (lambda: Dropout(-0.1), ["Dropout rate", "-0.1"]),
        (lambda: Dropout(float("nan")), ["Dropout rate", "nan"]),
        (lambda: Dropout("half"), ["Dropout rate", "'half'"]),
        (lambda: Conv2D(2, 3, strides=0), ["strides must be positive", "0"]),
        (lambda: Conv2D(2, 3, strides=(1, -2)), ["strides", "(1, -2)"]),
        (lambda: Conv2D(2, (3, 3, 3)), ["kernel_size must be an int or a tuple of two ints"]),
        (lambda: MaxPooling2D(0), ["MaxPooling2D pool_size must be positive"]),
        (lambda: AveragePooling2D((2, -1)), ["AveragePooling2D pool_size", "(2, -1)"]),
        (lambda: MaxPooling2D(2, strides=0), ["MaxPooling2D strides must be positive"]),
        (lambda: SGD(learning_rate=-0.1), ["learning_rate must be >= 0"]),
        (lambda: SGD(momentum=1.5), ["momentum must be in [0, 1]"]),
        (lambda: BatchNormalization(epsilon=0), ["epsilon must be positive"]),
        (lambda: ReLU(max_value="six"), ["ReLU max_value must be a finite number", "'six'"]),
        (lambda: Dense(2, input_shape=3.5), ["input_shape", "(28, 28, 1)", "3.5"]),
        (lambda: Dense(2, input_shape=(0,)), ["input_shape must hold positive ints"]),
        (lambda: Dense(2, dtype="float16"), ["dtype must be 'float32' or 'float64'"]),
        (lambda: Dense(2, dtype="no-such-type"), ["dtype must be 'float32' or 'float64'", "no-such-type"]),
    ],
)
def test_invalid_hyperparameters(call, words):
    with raises_clearly(InvalidArgumentError, *words):
        call()


def test_unexpected_keyword_is_a_type_error():
    with raises_clearly(InvalidTypeError, "Conv2D", "unexpected keyword", "filter_size"):
        Conv2D(2, 3, filter_size=3)


def test_kernel_or_pool_larger_than_the_padded_input():
    with raises_clearly(InvalidInputError, "kernel (9, 9)", "larger than its 8x8 input", "padding='same'"):
        Sequential([Conv2D(2, 9, input_shape=(8, 8, 1))])
    with raises_clearly(InvalidInputError, "effective (9, 9) with dilation", "8x8"):
        Sequential([Conv2D(2, 3, dilation_rate=4, input_shape=(8, 8, 1))])
    with raises_clearly(InvalidInputError, "pool (4, 4)", "larger than its 3x3 input"):
        Sequential([MaxPooling2D(4, input_shape=(3, 3, 1))])
    Sequential([Conv2D(2, 9, padding="same", input_shape=(8, 8, 1))])  # "same" padding makes room: fine


def test_failed_build_or_add_leaves_the_model_as_it_was():
    # Conv 3x3 on 4x4 leaves 2x2, too small for the second 3x3 kernel: the whole build is refused ...
    model = Sequential([Conv2D(2, 3), Conv2D(2, 3)])
    model.compile(optimizer="sgd", loss="mse")
    with raises_clearly(InvalidInputError, "larger than its 2x2 input"):
        model.predict(np.zeros((1, 4, 4, 1)))
    assert not model.built and not any(layer.built or layer.weight_names for layer in model.layers)
    # ... and the model still builds for images that fit.
    assert model.predict(np.zeros((1, 8, 8, 1))).shape == (1, 4, 4, 2)

    built = Sequential([Conv2D(2, 3, input_shape=(4, 4, 1))])
    before = built.get_weights()
    with raises_clearly(InvalidInputError, "larger than its 2x2 input"):
        built.add(Conv2D(2, 5))
    assert len(built.layers) == 1 and same_weights(before, built.get_weights())
    built.add(Conv2D(1, 2))  # a layer that fits is still accepted
    assert built.output_shape == (None, 1, 1, 1)


def test_fit_arguments():
    x, y = regression()
    model = dense_model()
    with raises_clearly(InvalidArgumentError, "batch_size must be a positive int", "0"):
        model.fit(x, y, batch_size=0, verbose=0)
    with raises_clearly(InvalidArgumentError, "epochs must be a non-negative int"):
        model.fit(x, y, epochs=-1, verbose=0)
    with raises_clearly(InvalidArgumentError, "validation_split must be in [0, 1)"):
        model.fit(x, y, validation_split=1.5, verbose=0)
    with raises_clearly(InvalidArgumentError, "compile"):
        Sequential([Dense(1, input_shape=(3,))]).fit(x, y, verbose=0)
    with raises_clearly(InvalidTypeError, "Callback"):
        model.fit(x, y, callbacks=[print], verbose=0)


# ------------------------------------------------------------------------------- training that goes wrong
def test_a_batch_with_an_infinite_loss_stops_training_and_keeps_the_weights_from_before_it():
    set_random_seed(0)
    x, y = regression(32)
    x[9] = 1e30  # finite in float32, but the squared error overflows: batch 3 (samples 8..11) gives inf
    model = dense_model()
    recorder = WeightsAtBatchBegin()
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        history = model.fit(x, y, batch_size=4, epochs=3, shuffle=False, verbose=0, callbacks=[recorder])
    epoch, batch, message = stop_warning(record)
    assert (epoch, batch) == (1, 3)
    assert "NaN or infinite" in message and "weights from before this batch are kept" in message
    assert "smaller learning rate" in message
    assert model.stop_training and max(recorder.weights) == (0, 2)  # no step after the bad one
    assert same_weights(model.get_weights(), recorder.weights[(0, 2)])
    assert all(np.isfinite(w).all() for w in model.get_weights())
    assert history is model.history


@pytest.mark.parametrize("optimizer", ["tinycnn", "subclass", "nadam"])
def test_a_refused_update_restores_weights_optimizer_slots_and_iterations(optimizer):
    """The update kernels keep the old values in the same pass (tinycnn's optimizers) or the loop copies them
    first (an optimizer class of the user's): either way a step whose new weights overflow is undone whole."""
    from tinycnn.optimizers import Adam, Nadam

    set_random_seed(0)
    x, y = regression(16)
    cls = {"tinycnn": Adam, "subclass": type("MyAdam", (Adam,), {"__module__": "my_course"}), "nadam": Nadam}
    model = Sequential([Dense(4, activation="relu", input_shape=(3,)), Dense(1)])
    opt = cls[optimizer](learning_rate=0.01)
    model.compile(optimizer=opt, loss="mse")
    model.train_on_batch(x, y)  # the slots exist and are not zero
    weights = [w.copy() for w in model.get_weights()]
    slots = {key: {k: a.copy() for k, a in entry[1].items()} for key, entry in opt._slots.items()}
    extra = [a.copy() for a in opt._extra_arrays(model.trainable_weights)]
    iterations = opt.iterations
    opt.learning_rate = 1e39  # float32 infinity: the loss is finite, the new weights are not
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        assert np.isnan(model.train_on_batch(x, y))
    assert same_weights(model.get_weights(), weights)
    for key, entry in opt._slots.items():
        for k, a in entry[1].items():
            np.testing.assert_array_equal(a, slots[key][k], err_msg=k)
    for a, b in zip(opt._extra_arrays(model.trainable_weights), extra):
        np.testing.assert_array_equal(a, b)
    assert opt.iterations == iterations


def test_a_refused_first_nadam_step_leaves_its_momentum_product_as_created():
    from tinycnn.optimizers import Nadam

    set_random_seed(0)
    x, y = regression(16)
    model = Sequential([Dense(4, activation="relu", input_shape=(3,)), Dense(1)])
    opt = Nadam(learning_rate=1e39)  # float32 infinity: the first step is refused
    model.compile(optimizer=opt, loss="mse")
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        assert np.isnan(model.train_on_batch(x, y))
    (u_product,) = opt._extra_arrays(model.trainable_weights)
    assert float(u_product) == 1.0 and opt.iterations == 0


def test_a_diverging_learning_rate_stops_training_with_the_last_good_weights():
    set_random_seed(0)
    x, y = regression(64)
    model = dense_model(lr=50.0)
    recorder = WeightsAtBatchBegin()
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        model.fit(x, 10 * y, batch_size=8, epochs=20, verbose=0, callbacks=[recorder])
    epoch, batch, _ = stop_warning(record)
    assert max(recorder.weights) == (epoch - 1, batch - 1)
    assert same_weights(model.get_weights(), recorder.weights[(epoch - 1, batch - 1)])
    assert all(np.isfinite(w).all() for w in model.get_weights())


def test_an_update_that_overflows_the_weights_is_undone_with_the_optimizer_state():
    """lr = 3e38 keeps loss and gradients finite but turns the new weights into inf: the step is refused."""
    set_random_seed(0)
    x, y = regression(16)
    model = dense_model(lr=3e38, momentum=0.9)
    before = model.get_weights()
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        model.fit(x, y, batch_size=8, epochs=2, verbose=0)
    assert stop_warning(record)[:2] == (1, 1)
    assert same_weights(model.get_weights(), before)
    assert model.optimizer.iterations == 0
    weights = [w for layer in model.layers for w in layer.params.values()]
    assert all(not s.any() for s in model.optimizer.state_arrays(weights))  # momentum buffers rolled back too


def test_a_refused_step_also_undoes_the_batchnorm_moving_statistics():
    set_random_seed(0)
    x, y = regression(16)
    x[13] = 3e38  # with an all-ones kernel the first Dense gives 9e38 = inf: BatchNorm's batch mean is inf
    model = Sequential([Dense(4, input_shape=(3,)), BatchNormalization(), Dense(1)])
    model.layers[0].set_weights([np.ones((3, 4)), np.zeros(4)])
    model.compile(optimizer=SGD(0.01), loss="mse")
    recorder = WeightsAtBatchBegin()
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        model.fit(x, y, batch_size=4, shuffle=False, verbose=0, callbacks=[recorder])
    assert stop_warning(record)[:2] == (1, 4)
    assert same_weights(model.get_weights(), recorder.weights[(0, 3)])  # moving_mean/variance included
    assert all(np.isfinite(w).all() for w in model.get_weights())


def test_keyboard_interrupt_in_a_callback_keeps_the_model_consistent_and_the_history():
    set_random_seed(0)
    x, y = regression(32)

    class CtrlC(Callback):
        def on_epoch_begin(self, epoch, logs=None):
            self.epoch = epoch

        def on_train_batch_end(self, batch, logs=None):
            if self.epoch == 1 and batch == 1:  # epoch 2, batch 2 (as printed)
                self.weights = self.model.get_weights()
                raise KeyboardInterrupt

    model = dense_model()
    ctrl_c = CtrlC()
    with pytest.warns(RuntimeWarning, match=r"interrupted \(Ctrl-C\) in epoch 2, batch 2"):
        history = model.fit(x, y, batch_size=8, epochs=5, verbose=0, callbacks=[ctrl_c])
    assert history is model.history and history.epoch == [0] and len(history.history["loss"]) == 1
    assert same_weights(model.get_weights(), ctrl_c.weights)  # the step that completed is kept
    assert np.isfinite(model.evaluate(x, y, verbose=0))  # and the model carries on
    assert len(model.fit(x, y, epochs=1, verbose=0).history["loss"]) == 1


def test_keyboard_interrupt_during_the_forward_pass_changes_nothing():
    set_random_seed(0)
    x, y = regression(16)
    model = Sequential([Dense(4, input_shape=(3,)), BatchNormalization(), Dense(1)])
    model.compile(optimizer=SGD(0.01), loss="mse")
    before = model.get_weights()
    bn = model.layers[1]
    real_forward = bn.forward

    def interrupted_forward(x, training=False):
        real_forward(x, training)  # the moving statistics are updated ...
        raise KeyboardInterrupt  # ... then Ctrl-C arrives before the step is applied

    bn.forward = interrupted_forward
    with pytest.warns(RuntimeWarning, match="interrupted"):
        history = model.fit(x, y, epochs=3, verbose=0)
    assert history.history == {} and same_weights(model.get_weights(), before)


def test_defer_keyboard_interrupt_holds_sigint_until_the_block_ends():
    previous = signal.getsignal(signal.SIGINT)
    finished = []
    with pytest.raises(KeyboardInterrupt):
        with training._defer_keyboard_interrupt():
            os.kill(os.getpid(), signal.SIGINT)
            for _ in range(10_000):  # the handler runs here; without deferral this loop would be cut short
                pass
            finished.append(True)
    assert finished == [True]
    assert signal.getsignal(signal.SIGINT) is previous


def test_sigint_during_an_optimizer_step_applies_the_whole_step_then_stops():
    set_random_seed(0)
    x, y = regression(16)
    model = dense_model(lr=0.1)
    before = model.get_weights()
    optimizer = model.optimizer
    real_apply = optimizer._apply  # what the training loop calls (apply_gradients with the undo's keep=)
    seen = {}

    def apply_with_ctrl_c(pairs, keep=None):
        seen["grads"] = [g.copy() for g, _ in pairs]
        first = real_apply(pairs[:1], keep)  # half of the weights updated ...
        os.kill(os.getpid(), signal.SIGINT)  # ... Ctrl-C ...
        for _ in range(10_000):
            pass
        return real_apply(pairs[1:], keep) and first  # ... and, deferred, the other half too

    optimizer._apply = apply_with_ctrl_c
    with pytest.warns(RuntimeWarning, match=r"interrupted \(Ctrl-C\) in epoch 1, batch 1"):
        history = model.fit(x, y, batch_size=16, epochs=3, verbose=0)
    assert history.history == {}
    expected = [w - np.float32(0.1) * g for w, g in zip(before, seen["grads"])]
    after = model.get_weights()
    assert all(np.array_equal(a, e) for a, e in zip(after, expected))  # every weight took exactly one step


# -------------------------------------------------------------------------------------------- bounded memory
def test_predict_evaluate_and_fit_never_see_more_than_batch_size_samples(monkeypatch):
    model = conv_model()
    x, labels = images(100)
    y = to_categorical(labels, 3)
    seen = []
    real = tinycnn.kernels.conv2d_forward

    def recording(x, *args, **kwargs):
        seen.append(x.shape[0])
        return real(x, *args, **kwargs)

    monkeypatch.setattr(tinycnn.kernels, "conv2d_forward", recording)
    assert model.predict(x, batch_size=16).shape == (100, 3)
    assert max(seen) <= 16 and sum(seen) == 100
    seen.clear()
    model.evaluate(x, y, batch_size=8, verbose=0)
    assert max(seen) <= 8 and sum(seen) == 100
    seen.clear()
    model.fit(x, y, batch_size=32, epochs=1, verbose=0, validation_split=0.2)
    assert max(seen) <= 32 and sum(seen) == 100  # 80 training + 20 validation samples


# ----------------------------------------------------------------------------------------- fuzzing (Hypothesis)
FUZZ = settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])

_DTYPES = ["float16", "float32", "float64", "int8", "int64", "uint8", "bool", "complex64", "U3", "M8[s]", "object"]


@st.composite
def any_array(draw, near_shape=None):
    """A random array: random or nearly right shape (0-sized included), any dtype, NaN/inf/huge values."""
    dtype = draw(st.sampled_from(_DTYPES))
    if near_shape is not None and draw(st.booleans()):
        shape = (draw(st.integers(0, 6)),) + near_shape
    else:
        shape = draw(hnp.array_shapes(min_dims=0, max_dims=5, min_side=0, max_side=6))
    if dtype == "object":
        elements = st.one_of(st.none(), st.floats(), st.text(max_size=2), st.integers(-3, 3))
        return draw(hnp.arrays(object, shape, elements=elements))
    return draw(hnp.arrays(np.dtype(dtype), shape))


junk = st.one_of(
    st.none(),
    st.text(max_size=3),
    st.integers(-5, 5),
    st.floats(),
    st.lists(st.floats(), max_size=3),
    st.lists(st.text(max_size=1), max_size=3),
    st.dictionaries(st.text(max_size=1), st.integers(), max_size=2),
    st.just([[1.0, 2.0], [3.0]]),
)


def _check_refusal(model, call):
    """Run ``call``; if it fails, the error must be tinycnn's and the weights untouched."""
    before = model.get_weights() if model.built else None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # overflow warnings and 'training stopped' are allowed
        try:
            call()
        except TinyCNNError as e:
            assert isinstance(e, (ValueError, TypeError)) and len(str(e)) > 20
            if before is not None:
                assert same_weights(before, model.get_weights())


@FUZZ
@given(
    x=st.one_of(any_array(near_shape=(3,)), junk),
    y=st.one_of(any_array(near_shape=(1,)), junk),
    batch_size=st.sampled_from([1, 4, 32, 0, -1, 2.5, "8", None]),
)
def test_fuzz_dense_model(x, y, batch_size):
    set_random_seed(0)
    model = dense_model()
    _check_refusal(model, lambda: model.predict(x, batch_size=batch_size))
    _check_refusal(model, lambda: model.evaluate(x, y, batch_size=batch_size, verbose=0))
    _check_refusal(model, lambda: model.fit(x, y, batch_size=batch_size, epochs=1, verbose=0))


@FUZZ
@given(
    x=st.one_of(any_array(near_shape=(8, 8, 1)), any_array(near_shape=(8, 8))),
    y=st.one_of(any_array(near_shape=(3,)), any_array(near_shape=())),
    loss=st.sampled_from(["categorical_crossentropy", "sparse_categorical_crossentropy", "mse"]),
    built=st.booleans(),
)
def test_fuzz_conv_model(x, y, loss, built):
    set_random_seed(0)
    model = conv_model(built=built, loss=loss)
    _check_refusal(model, lambda: model.fit(x, y, batch_size=4, epochs=1, verbose=0))
    _check_refusal(model, lambda: model.evaluate(x, y, verbose=0))
    _check_refusal(model, lambda: model.predict(x))


hyper = st.one_of(
    st.integers(-2, 9),
    st.floats(allow_nan=True, allow_infinity=True),
    st.none(),
    st.booleans(),
    st.text(max_size=4),
    st.sampled_from(["same", "valid", "relu", "softmax"]),
    st.tuples(st.integers(-1, 4), st.integers(-1, 4)),
    st.tuples(st.integers(0, 3)),
    st.lists(st.integers(0, 3), max_size=3),
)


@pytest.mark.parametrize(
    "kind", ["conv", "dense", "dropout", "pool", "sgd", "batchnorm", "relu", "compile", "callbacks"]
)
@FUZZ
@given(a=hyper, b=hyper, c=hyper, d=hyper)
def test_fuzz_constructors_and_compile(kind, a, b, c, d):
    """Random hyperparameters: construction, building on 6x6x1 images and one predict either work or fail
    with tinycnn's error; a model left unchanged by a refused ``add``."""
    set_random_seed(0)
    model = Sequential([Conv2D(1, 1, input_shape=(6, 6, 1))])
    before = model.get_weights()
    try:
        if kind == "conv":
            layer = Conv2D(a, b, strides=c, padding=d)
        elif kind == "dense":
            layer = Dense(a, activation=b, use_bias=True)
        elif kind == "dropout":
            layer = Dropout(a)
        elif kind == "pool":
            layer = MaxPooling2D(a, strides=b, padding=c)
        elif kind == "sgd":
            model.compile(optimizer=SGD(a, momentum=b), loss="mse")
            return
        elif kind == "batchnorm":
            layer = BatchNormalization(momentum=a, epsilon=b)
        elif kind == "relu":
            layer = ReLU(max_value=a, negative_slope=b, threshold=c)
        elif kind == "compile":
            model.compile(optimizer=a if isinstance(a, str) else "sgd", loss=b, metrics=c)
            return
        else:
            EarlyStopping(monitor=a, patience=b, min_delta=c, mode=d)
            ModelCheckpoint("w.npz", monitor=a, mode=d)
            return
    except TinyCNNError as e:
        assert isinstance(e, (ValueError, TypeError))
        return
    try:
        model.add(layer)
    except TinyCNNError as e:
        assert isinstance(e, (ValueError, TypeError))
        assert len(model.layers) == 1 and same_weights(before, model.get_weights())
        return
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out = model.predict(np.random.default_rng(0).random((2, 6, 6, 1)))
    assert out.shape[0] == 2
