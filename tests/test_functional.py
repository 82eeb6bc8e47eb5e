"""Models as graphs: ``Input``, ``Model(inputs, outputs)``, merge layers, shared layers, nested models.

Three kinds of proof:

* gradient checks (float64, central differences, random upstream gradients) of every merge layer and of whole
  graphs: a residual block, branches joined by ``Concatenate``, a shared layer, a nested model, two outputs;
* Keras parity: the *same builder function* run once with ``keras`` and once with ``tinycnn`` (the import is
  the only difference), Keras's weights copied into tinycnn, then forward outputs, parameter counts, and the
  weights and losses after several SGD steps on the same batches compared in float32;
* the structure Keras users rely on: ``model.layers`` order, ``get_layer``, ``layer.output``, History keys,
  errors for graphs that cannot work.
"""

import contextlib
import io
import os

import numpy as np
import pytest

import tinycnn
from tinycnn import gradcheck, layers
from tinycnn.errors import InvalidArgumentError, InvalidInputError
from tinycnn.models import Model, Sequential
from tinycnn.optimizers import SGD
from tinycnn.utils import set_random_seed

TOL = 1e-7


def _randomize(model, seed=0):
    rng = np.random.default_rng(seed)
    for w in model.weights:
        w[...] = rng.normal(size=w.shape) * 0.5


# ------------------------------------------------------------------------------------------ merge layers
@pytest.mark.parametrize(
    "cls, k",
    [
        (layers.Add, 3),
        (layers.Subtract, 2),
        (layers.Multiply, 3),
        (layers.Average, 3),
        (layers.Maximum, 3),
        (layers.Minimum, 3),
    ],
)
def test_merge_layer_gradients(cls, k):
    rng = np.random.default_rng(1)
    xs = [rng.normal(size=(3, 4, 5)) for _ in range(k)]  # continuous values: no ties for max/min
    layer = cls(dtype="float64")
    layer.build([(None, 4, 5)] * k)
    report = gradcheck.check_graph(layer, xs)
    assert report.max_error < TOL, str(report)


@pytest.mark.parametrize("axis", [-1, 1, 2])
def test_concatenate_gradients(axis):
    rng = np.random.default_rng(2)
    shapes = [(2, 3, 4, 2), (2, 3, 4, 5)] if axis == -1 else [(2, 3, 4, 2), (2, 3, 4, 2)]
    layer = layers.Concatenate(axis=axis, dtype="float64")
    xs = [rng.normal(size=s) for s in shapes]
    out = layer(xs)
    np.testing.assert_array_equal(out, np.concatenate(xs, axis=axis))
    report = gradcheck.check_graph(layer, xs)
    assert report.max_error < TOL, str(report)


def test_merge_values_by_hand():
    a, b, c = np.array([[1.0, -2.0]]), np.array([[3.0, -1.0]]), np.array([[0.5, 4.0]])
    np.testing.assert_allclose(layers.Add()([a, b, c]), [[4.5, 1.0]])
    np.testing.assert_allclose(layers.Subtract()([a, b]), [[-2.0, -1.0]])
    np.testing.assert_allclose(layers.Multiply()([a, b, c]), [[1.5, 8.0]])
    np.testing.assert_allclose(layers.Average()([a, b]), [[2.0, -1.5]])
    np.testing.assert_allclose(layers.Maximum()([a, b, c]), [[3.0, 4.0]])
    np.testing.assert_allclose(layers.Minimum()([a, b, c]), [[0.5, -2.0]])
    m = layers.Maximum()
    m([a, a.copy()])  # a tie: the first input wins, as TensorFlow's maximum
    g = m.backward(np.ones((1, 2)))
    np.testing.assert_array_equal(g[0], [[1, 1]]) and np.testing.assert_array_equal(g[1], [[0, 0]])


def test_merge_layers_refuse_what_cannot_work():
    a, b = layers.Input((4,)), layers.Input((5,))
    with pytest.raises(InvalidInputError, match="one shape"):
        layers.Add()([a, b])
    with pytest.raises(InvalidInputError, match="exactly 2"):
        layers.Subtract()([a, a, a])
    with pytest.raises(InvalidInputError, match="list of tensors"):
        layers.Add()(a)
    with pytest.raises(InvalidInputError, match="except along that axis"):
        layers.Concatenate(axis=1)([layers.Input((2, 3)), layers.Input((2, 4))])
    with pytest.raises(InvalidArgumentError, match="batch axis"):
        layers.Concatenate(axis=0)([a, a])
    assert layers.Concatenate(axis=1)([layers.Input((2, 3)), layers.Input((4, 3))]).shape == (None, 6, 3)


# ------------------------------------------------------------------------------------------ graph gradients
def residual_block(K, dtype=None):
    kw = {"dtype": dtype} if dtype else {}
    inputs = K.Input(shape=(6, 6, 3))
    x = K.layers.Conv2D(4, 3, padding="same", activation="relu", **kw)(inputs)
    y = K.layers.Conv2D(4, 3, padding="same", **kw)(x)
    y = K.layers.BatchNormalization(**kw)(y)
    x = K.layers.Activation("relu", **kw)(K.layers.Add(**kw)([x, y]))
    x = K.layers.MaxPooling2D(2, **kw)(x)
    x = K.layers.Flatten(**kw)(x)
    outputs = K.layers.Dense(5, activation="softmax", **kw)(x)
    return K.Model(inputs, outputs)


def inception_branches(K, dtype=None):
    kw = {"dtype": dtype} if dtype else {}
    inputs = K.Input(shape=(6, 6, 2))
    a = K.layers.Conv2D(3, 1, padding="same", activation="relu", **kw)(inputs)
    b = K.layers.Conv2D(2, 3, padding="same", activation="tanh", **kw)(inputs)
    c = K.layers.AveragePooling2D(3, strides=1, padding="same", **kw)(inputs)
    x = K.layers.Concatenate(**kw)([a, b, c])
    x = K.layers.Conv2D(3, 3, strides=2, **kw)(x)
    outputs = K.layers.Dense(4, activation="softmax", **kw)(K.layers.Flatten(**kw)(x))
    return K.Model(inputs, outputs)


def two_inputs_shared(K, dtype=None):
    kw = {"dtype": dtype} if dtype else {}
    a, b = K.Input(shape=(5,), name="left"), K.Input(shape=(5,), name="right")
    shared = K.layers.Dense(4, activation="tanh", **kw)  # one layer, called twice: one set of weights
    d = K.layers.Subtract(**kw)([shared(a), shared(b)])
    m = K.layers.Multiply(**kw)([shared(a), d])
    x = K.layers.Concatenate(**kw)([d, m])
    outputs = K.layers.Dense(1, activation="sigmoid", **kw)(x)
    return K.Model([a, b], outputs)


def two_outputs(K, dtype=None):
    kw = {"dtype": dtype} if dtype else {}
    inputs = K.Input(shape=(6,))
    h = K.layers.Dense(8, activation="relu", **kw)(inputs)
    cls = K.layers.Dense(3, activation="softmax", name="cls", **kw)(h)
    reg = K.layers.Dense(2, name="reg", **kw)(K.layers.Concatenate(**kw)([h, inputs]))
    return K.Model(inputs, [cls, reg])


def nested(K, dtype=None):
    kw = {"dtype": dtype} if dtype else {}
    inner = K.Sequential([K.layers.Dense(6, activation="relu", **kw), K.layers.Dense(4, **kw)])
    inputs = K.Input(shape=(5,))
    x = inner(inputs)
    y = K.layers.Dense(4, activation="tanh", **kw)(inputs)
    outputs = K.layers.Dense(3, activation="softmax", **kw)(K.layers.Add(**kw)([x, y]))
    return K.Model(inputs, outputs)


def sequential_around_model(K, dtype=None):
    kw = {"dtype": dtype} if dtype else {}
    inputs = K.Input(shape=(5,))
    logits = K.layers.Dense(3, **kw)(K.layers.Dense(6, activation="relu", **kw)(inputs))
    base = K.Model(inputs, logits)
    return K.Sequential([base, K.layers.Softmax(**kw)])


GRAPHS = {
    "residual": (residual_block, [(2, 6, 6, 3)]),
    "inception": (inception_branches, [(2, 6, 6, 2)]),
    "two_inputs_shared": (two_inputs_shared, [(3, 5), (3, 5)]),
    "two_outputs": (two_outputs, [(3, 6)]),
    "nested": (nested, [(3, 5)]),
    "sequential_around_model": (sequential_around_model, [(3, 5)]),
}


@pytest.mark.parametrize("name", sorted(GRAPHS))
def test_graph_gradients(name):
    build, shapes = GRAPHS[name]
    model = build(tinycnn, dtype="float64")
    _randomize(model, seed=3)
    rng = np.random.default_rng(4)
    xs = [rng.normal(size=s) for s in shapes]
    report = gradcheck.check_graph(model, xs if len(xs) > 1 else xs[0])
    # 1e-5, not 1e-7: a whole graph's input gradient has entries of ~1e-6 whose central differences carry
    # ~1e-12 of rounding; a wrong rule (a gradient not added, a branch dropped) gives errors of order 1.
    assert report.max_error < 1e-5, str(report)


def test_shared_layer_gradient_is_the_sum_of_its_calls():
    x = layers.Input((3,))
    dense = layers.Dense(3, use_bias=False, dtype="float64")
    model = Model(x, layers.Add(dtype="float64")([dense(x), dense(dense(x))]))
    assert len(model.weights) == 1 and model.count_params() == 9
    _randomize(model, 5)
    report = gradcheck.check_graph(model, np.random.default_rng(6).normal(size=(4, 3)))
    assert report.max_error < TOL, str(report)


# ------------------------------------------------------------------------------------------ structure
def test_layers_order_names_and_lookup_follow_keras():
    a, b = tinycnn.Input((4,), name="a"), tinycnn.Input((3,), name="b")
    h = layers.Dense(5, activation="relu", name="h")(layers.Concatenate(name="cat")([a, b]))
    model = Model([a, b], [layers.Dense(2, activation="softmax", name="cls")(h), layers.Dense(1, name="reg")(h)])
    assert [l.name for l in model.layers] == ["a", "b", "cat", "h", "cls", "reg"]  # as Keras lists them
    assert model.output_names == ["cls", "reg"] and model.input_names == ["a", "b"]
    assert model.get_layer("h") is model.layers[3] and model.get_layer(index=-1).name == "reg"
    assert model.get_layer("h").output.shape == (None, 5)
    with pytest.raises(InvalidArgumentError, match="no layer named 'x'"):
        model.get_layer("x")
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        model.summary()
    assert "Connected to" in buf.getvalue() and "a[0][0], b[0][0]" in buf.getvalue()


def test_graph_errors_name_the_problem():
    a, b = tinycnn.Input((4,)), tinycnn.Input((4,))
    y = layers.Add()([a, b])
    with pytest.raises(InvalidArgumentError, match="graph disconnected"):
        Model(a, y)
    with pytest.raises(InvalidArgumentError, match="symbolic tensors"):
        Model(np.zeros((1, 4)), y)
    d = layers.Dense(3)
    d(tinycnn.Input((4,)))
    with pytest.raises(InvalidInputError, match="built for inputs of shape"):
        d(tinycnn.Input((5,)))  # a built layer keeps its weights: another input size is an error
    with pytest.raises(InvalidArgumentError, match="name 'same' is used 2 times"):
        x = tinycnn.Input((2,))
        Model(x, layers.Dense(2, name="same")(layers.Dense(2, name="same")(x)))


def test_layers_and_models_are_callable_on_arrays():
    set_random_seed(0)
    model = two_outputs(tinycnn)
    x = np.random.default_rng(0).normal(size=(4, 6)).astype("float32")
    cls, reg = model(x)
    p_cls, p_reg = model.predict(x, verbose=0)
    np.testing.assert_allclose(cls, p_cls, rtol=1e-6) and np.testing.assert_allclose(reg, p_reg, rtol=1e-6)
    dense = model.get_layer("cls")
    assert dense(np.ones((2, 8))).shape == (2, 3)


def test_feature_map_model_shares_the_trained_weights():
    set_random_seed(1)
    model = Sequential(
        [
            layers.Conv2D(4, 3, input_shape=(8, 8, 1), activation="relu"),
            layers.MaxPooling2D(),
            layers.Flatten(),
            layers.Dense(3, activation="softmax"),
        ]
    )
    model.compile(SGD(0.1), "categorical_crossentropy")
    x = np.random.default_rng(2).random((16, 8, 8, 1)).astype("float32")
    model.fit(x, np.eye(3)[np.arange(16) % 3], epochs=1, verbose=0)
    features = Model(inputs=model.input, outputs=[layer.output for layer in model.layers])
    maps = features.predict(x, verbose=0)
    assert [m.shape for m in maps] == [(16, 6, 6, 4), (16, 3, 3, 4), (16, 36), (16, 3)]
    np.testing.assert_allclose(maps[-1], model.predict(x, verbose=0), rtol=1e-6)
    np.testing.assert_allclose(maps[0], model.layers[0](x), rtol=1e-6)


def test_multi_io_fit_accepts_lists_and_dicts_and_logs_keras_names():
    set_random_seed(3)
    a, b = tinycnn.Input((4,), name="a"), tinycnn.Input((3,), name="b")
    h = layers.Dense(5, activation="relu")(layers.Concatenate()([a, b]))
    model = Model([a, b], [layers.Dense(2, activation="softmax", name="cls")(h), layers.Dense(1, name="reg")(h)])
    model.compile(
        SGD(0.05),
        loss={"cls": "categorical_crossentropy", "reg": "mse"},
        loss_weights=[1.0, 0.5],
        metrics={"cls": ["accuracy"], "reg": ["mae"]},
    )
    rng = np.random.default_rng(0)
    x1, x2 = rng.random((20, 4)), rng.random((20, 3))
    y1, y2 = np.eye(2)[rng.integers(0, 2, 20)], rng.random((20, 1))
    h1 = model.fit([x1, x2], [y1, y2], epochs=1, verbose=0, validation_split=0.2)
    assert sorted(h1.history) == sorted(
        [
            "loss",
            "cls_loss",
            "reg_loss",
            "cls_accuracy",
            "reg_mae",
            "val_loss",
            "val_cls_loss",
            "val_reg_loss",
            "val_cls_accuracy",
            "val_reg_mae",
        ]
    )
    h2 = model.fit({"a": x1, "b": x2}, {"cls": y1, "reg": y2}, epochs=1, verbose=0)
    assert set(h2.history) >= {"loss", "cls_loss", "reg_loss"}
    logs = model.evaluate([x1, x2], [y1, y2], verbose=0, return_dict=True)
    assert logs["loss"] == pytest.approx(logs["cls_loss"] + 0.5 * logs["reg_loss"], rel=1e-6)
    with pytest.raises(InvalidInputError, match="2 inputs"):
        model.predict(x1)
    with pytest.raises(InvalidInputError, match="lacks the inputs"):
        model.predict({"a": x1})


# ------------------------------------------------------------------------------------------ Keras parity
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


def _rel(a, b):
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return float(np.max(np.abs(a - b)) / max(np.max(np.abs(b)), 1e-30))


PARITY = {  # builder, input shapes, losses, loss weights
    "residual": (residual_block, [(8, 6, 6, 3)], ["categorical_crossentropy"], None),
    "inception": (inception_branches, [(8, 6, 6, 2)], ["categorical_crossentropy"], None),
    "two_inputs_shared": (two_inputs_shared, [(8, 5), (8, 5)], ["binary_crossentropy"], None),
    "two_outputs": (two_outputs, [(8, 6)], ["categorical_crossentropy", "mse"], [1.0, 0.3]),
    "nested": (nested, [(8, 5)], ["categorical_crossentropy"], None),
    "sequential_around_model": (sequential_around_model, [(8, 5)], ["categorical_crossentropy"], None),
}


def _targets(rng, model, n):
    ys = []
    for shape in [t.shape for t in model.outputs]:
        k = shape[-1]
        ys.append(
            np.eye(k, dtype="float32")[rng.integers(0, k, n)]
            if k > 2
            else (rng.random((n, k)) > 0.5).astype("float32")
            if k == 1
            else rng.random((n, k)).astype("float32")
        )
    return ys


@pytest.mark.parametrize("name", sorted(PARITY))
def test_keras_parity_forward_and_sgd_steps(name):
    keras = _import_keras()
    build, shapes, loss, loss_weights = PARITY[name]
    keras.utils.set_random_seed(0)
    km, tm = build(keras), build(tinycnn)
    assert tm.count_params() == km.count_params()
    assert [w.shape for w in tm.get_weights()] == [tuple(w.shape) for w in km.get_weights()]
    tm.set_weights(km.get_weights())
    rng = np.random.default_rng(7)
    batches = [([rng.normal(size=s).astype("float32") for s in shapes]) for _ in range(6)]
    x0 = batches[0] if len(shapes) > 1 else batches[0][0]
    k_out, t_out = km.predict(x0, verbose=0), tm.predict(x0, verbose=0)
    for a, b in zip(t_out if isinstance(t_out, list) else [t_out], k_out if isinstance(k_out, list) else [k_out]):
        assert _rel(a, b) < 1e-5
    kwargs = {"loss": loss if len(loss) > 1 else loss[0]}
    if loss_weights:
        kwargs["loss_weights"] = loss_weights
    km.compile(optimizer=keras.optimizers.SGD(0.05, momentum=0.9), **kwargs)
    tm.compile(optimizer=SGD(0.05, momentum=0.9), **kwargs)
    for xb in batches:
        yb = _targets(rng, tm, len(xb[0]))
        xk = xb if len(shapes) > 1 else xb[0]
        yk = yb if len(yb) > 1 else yb[0]
        k_loss = km.train_on_batch(xk, yk)
        k_loss = float(k_loss[0] if isinstance(k_loss, (list, tuple)) else k_loss)
        t_loss = tm.train_on_batch(xk, yk)
        assert t_loss == pytest.approx(k_loss, rel=1e-4), (t_loss, k_loss)
    for a, b in zip(tm.get_weights(), km.get_weights()):
        # floor 1e-3: a convolution's bias before BatchNorm gets a zero gradient in exact arithmetic, so both
        # sides hold only rounding (~1e-8); any real weight moves by ~lr * 0.1 per step
        assert np.max(np.abs(a - b)) / max(np.max(np.abs(b)), 1e-3) < 2e-4, name


def test_keras_parity_feature_maps_of_the_course_cnn():
    keras = _import_keras()
    import sys

    sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "benchmarks"))
    from keras_models import keras_course_cnn

    sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "examples"))
    from fashion_mnist_cnn import build

    km, tm = keras_course_cnn(keras, 0.5), build()
    tm.set_weights(km.get_weights())
    x = np.random.default_rng(8).random((4, 28, 28, 1)).astype("float32")
    kf = keras.Model(inputs=km.inputs, outputs=[layer.output for layer in km.layers])
    tf_ = Model(inputs=tm.input, outputs=[layer.output for layer in tm.layers])
    assert kf.count_params() == tf_.count_params() == 1679082
    for i, (a, b) in enumerate(zip(tf_.predict(x, verbose=0), kf.predict(x, verbose=0))):
        assert a.shape == b.shape and _rel(a, b) < 1e-4, (i, tm.layers[i].name, _rel(a, b))


def test_weights_move_both_ways_for_a_functional_model():
    keras = _import_keras()
    keras.utils.set_random_seed(1)
    km, tm = inception_branches(keras), inception_branches(tinycnn)
    tm_weights = [
        w * 0 + np.random.default_rng(i).normal(size=w.shape).astype("float32") for i, w in enumerate(tm.get_weights())
    ]
    tm.set_weights(tm_weights)
    km.set_weights(tm.get_weights())  # tinycnn -> Keras
    x = np.random.default_rng(9).normal(size=(3, 6, 6, 2)).astype("float32")
    assert _rel(tm.predict(x, verbose=0), km.predict(x, verbose=0)) < 1e-5


def test_plot_model_draws_the_graph_without_graphviz(tmp_path):
    from tinycnn.model_plot import graph_rows

    model = inception_branches(tinycnn)
    path = tmp_path / "graph.png"
    fig = tinycnn.utils.plot_model(model, to_file=str(path), show_shapes=True)
    with open(path, "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n"
    rows = graph_rows(model)
    assert len(rows[0]) == 1 and len(rows[1]) == 3  # the input, then its three branches side by side
    texts = [t.get_text() for t in fig.axes[0].texts]
    assert any("Concatenate" in t and "(None, 6, 6, 7)" in t for t in texts)
    assert sum("params" in t for t in texts) == len(model.layers)
