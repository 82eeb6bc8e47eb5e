"""tinycnn.plot: every function returns a labelled Figure, saves a PNG when asked, and needs no display."""

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from matplotlib.figure import Figure

from tinycnn import kernels, plot
from tinycnn.callbacks import History
from tinycnn.errors import InvalidArgumentError, InvalidInputError
from tinycnn.layers import (
    Activation,
    AveragePooling2D,
    BatchNormalization,
    Conv2D,
    Dense,
    Dropout,
    Flatten,
    MaxPooling2D,
)
from tinycnn.models import Sequential
from tinycnn.utils import set_random_seed

ROOT = Path(__file__).resolve().parents[1]
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def assert_png(path):
    path = Path(path)
    assert path.is_file(), f"{path} was not written"
    with open(path, "rb") as f:
        assert f.read(8) == PNG_MAGIC, f"{path} is not a PNG"
    assert 1000 < path.stat().st_size < 400_000


def image_axes(fig):
    """The axes that show data (colour bars excluded)."""
    return [ax for ax in fig.axes if ax.get_label() != "<colorbar>"]


def tiny_model(seed=0):
    set_random_seed(seed)
    return Sequential(
        [
            Conv2D(4, 3, padding="same", input_shape=(8, 8, 1)),
            Activation("relu"),
            BatchNormalization(),
            MaxPooling2D(2),
            Conv2D(3, 3, activation="relu"),
            Dropout(0.5),
            Flatten(),
            Dense(3),
            Activation("softmax"),
        ]
    )


# ------------------------------------------------------------------------------------------------ history
def history_dict(n=4, metric=True, val=True):
    h = {"loss": list(np.linspace(1.0, 0.3, n))}
    if metric:
        h["accuracy"] = list(np.linspace(0.4, 0.9, n))
    if val:
        h["val_loss"] = list(np.linspace(1.1, 0.5, n))
        if metric:
            h["val_accuracy"] = list(np.linspace(0.35, 0.8, n))
    return h


def test_plot_history_panels_labels_and_file(tmp_path):
    path = tmp_path / "new" / "folder" / "curves.png"
    fig = plot.plot_history(history_dict(), path=path)
    assert isinstance(fig, Figure)
    axes = image_axes(fig)
    assert [ax.get_title() for ax in axes] == ["Loss", "Accuracy"]
    assert [ax.get_ylabel() for ax in axes] == ["loss", "accuracy"]
    assert all(ax.get_xlabel() == "epoch" for ax in axes)
    labels = [line.get_label() for line in axes[0].get_lines()]
    assert labels == ["train", "validation"]
    np.testing.assert_allclose(axes[0].get_lines()[0].get_xdata(), [1, 2, 3, 4])  # epochs count from 1
    np.testing.assert_allclose(axes[0].get_lines()[1].get_ydata(), history_dict()["val_loss"])
    assert_png(path)


def test_plot_history_takes_a_history_object_from_fit():
    set_random_seed(0)
    model = Sequential([Dense(4, activation="relu", input_shape=(2,)), Dense(1)])
    model.compile(optimizer="sgd", loss="mse", metrics=["mae"])
    x = np.random.rand(32, 2)
    history = model.fit(x, x.sum(axis=1, keepdims=True), epochs=2, verbose=0, validation_split=0.25)
    assert isinstance(history, History)
    fig = plot.plot_history(history)
    assert [ax.get_ylabel() for ax in image_axes(fig)] == ["loss", "mae"]


def test_plot_history_overlays_a_second_run():
    fig = plot.plot_history(history_dict(), other=history_dict(n=3), labels=("tinycnn", "Keras"))
    labels = [line.get_label() for line in image_axes(fig)[0].get_lines()]
    assert labels == ["tinycnn train", "tinycnn validation", "Keras train", "Keras validation"]
    colours = {line.get_label().split()[0]: line.get_color() for line in image_axes(fig)[0].get_lines()}
    assert colours["tinycnn"] != colours["Keras"]


def test_plot_history_metric_selection_and_missing_validation():
    fig = plot.plot_history(history_dict(val=False), metrics=["accuracy"])
    (ax,) = image_axes(fig)
    assert ax.get_ylabel() == "accuracy"
    assert [line.get_label() for line in ax.get_lines()] == ["train"]


def test_plot_history_refuses_empty_or_wrong_input():
    with pytest.raises(InvalidInputError, match="empty"):
        plot.plot_history({})
    with pytest.raises(InvalidInputError, match="empty"):
        plot.plot_history(History())
    with pytest.raises(InvalidArgumentError, match="History"):
        plot.plot_history([0.1, 0.2])
    with pytest.raises(InvalidInputError, match="none of the requested metrics"):
        plot.plot_history(history_dict(), metrics=["precision"])


# ------------------------------------------------------------------------------------------------ confusion
def cell_texts(ax):
    return [t.get_text() for t in ax.texts]


def test_plot_confusion_matrix_counts_labels_and_file(tmp_path):
    y_true = [0, 0, 1, 1, 2, 2, 2]
    y_pred = [0, 1, 1, 1, 2, 0, 2]
    names = ["cat", "dog", "bird"]
    fig = plot.plot_confusion_matrix(y_true, y_pred, class_names=names, path=tmp_path / "cm.png")
    ax = image_axes(fig)[0]
    assert ax.get_xlabel() == "predicted label" and ax.get_ylabel() == "true label"
    assert "accuracy 71.4%" in ax.get_title()
    assert [t.get_text() for t in ax.get_xticklabels()] == names
    assert [t.get_text() for t in ax.get_yticklabels()] == names
    # row = true class, column = predicted class, row-major
    assert cell_texts(ax) == ["1", "1", "0", "0", "2", "0", "1", "0", "2"]
    np.testing.assert_array_equal(ax.get_images()[0].get_array(), [[1, 1, 0], [0, 2, 0], [1, 0, 2]])
    assert_png(tmp_path / "cm.png")


def test_plot_confusion_matrix_normalized_rows_and_probabilities():
    y_true = np.eye(3)[[0, 0, 1, 2]]  # one-hot
    probs = np.array([[0.9, 0.1, 0.0], [0.2, 0.7, 0.1], [0.1, 0.8, 0.1], [0.3, 0.3, 0.4]])
    fig = plot.plot_confusion_matrix(y_true, probs, normalize=True)
    ax = image_axes(fig)[0]
    shown = np.asarray(ax.get_images()[0].get_array())
    np.testing.assert_allclose(shown, [[0.5, 0.5, 0], [0, 1, 0], [0, 0, 1]])
    assert "normalized" in ax.get_title()


def test_plot_confusion_matrix_errors():
    with pytest.raises(InvalidInputError, match="3 labels but y_pred has 2"):
        plot.plot_confusion_matrix([0, 1, 1], [0, 1])
    with pytest.raises(InvalidInputError, match="class names"):
        plot.plot_confusion_matrix([0, 3], [0, 1], class_names=["a", "b"])
    with pytest.raises(InvalidInputError, match="integer"):
        plot.plot_confusion_matrix([0.5, 1.0], [0, 1])


# ------------------------------------------------------------------------------------------------ mistakes
def test_plot_misclassified_shows_only_mistakes(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.random((10, 6, 6, 1))
    y_true = np.arange(10) % 3
    y_pred = y_true.copy()
    y_pred[[1, 4, 7]] = (y_true[[1, 4, 7]] + 1) % 3
    fig = plot.plot_misclassified(x, y_true, y_pred, class_names=["a", "b", "c"], path=tmp_path / "m.png")
    axes = image_axes(fig)
    assert len(axes) == 3
    assert axes[0].get_title() == "true: b\npred: c"
    assert [ax.get_xlabel() for ax in axes] == ["#1", "#4", "#7"]
    assert "3 of 10" in fig._suptitle.get_text()
    assert_png(tmp_path / "m.png")


def test_plot_misclassified_limits_and_confidence():
    x = np.zeros((30, 5, 5))
    y_true = np.zeros(30, dtype=int)
    probs = np.tile([0.2, 0.8], (30, 1))
    fig = plot.plot_misclassified(x, y_true, probs, max_images=7)
    axes = image_axes(fig)
    assert len(axes) == 7
    assert axes[0].get_title() == "true: 0\npred: 1 (80%)"


def test_plot_misclassified_without_mistakes():
    fig = plot.plot_misclassified(np.zeros((4, 5, 5)), [0, 1, 2, 3], [0, 1, 2, 3])
    assert "No misclassified" in image_axes(fig)[0].texts[0].get_text()


def test_plot_misclassified_errors():
    with pytest.raises(InvalidInputError, match="same length"):
        plot.plot_misclassified(np.zeros((4, 5, 5)), [0, 1, 2, 3], [0, 1, 2])
    with pytest.raises(InvalidArgumentError, match="max_images"):
        plot.plot_misclassified(np.zeros((4, 5, 5)), [0, 1, 2, 3], [1, 1, 2, 3], max_images=0)
    with pytest.raises(InvalidInputError, match="images"):
        plot.plot_misclassified(np.zeros((4, 5)), [0, 1, 2, 3], [1, 1, 2, 3])


# ------------------------------------------------------------------------------------------------ filters
def test_plot_filters_one_panel_per_filter(tmp_path):
    model = tiny_model()
    layer = model.layers[0]
    fig = plot.plot_filters(layer, path=tmp_path / "filters.png")
    axes = image_axes(fig)
    assert len(axes) == 4
    assert [ax.get_title() for ax in axes] == [f"filter {k}" for k in range(4)]
    assert layer.name in fig._suptitle.get_text() and "3x3" in fig._suptitle.get_text()
    np.testing.assert_allclose(axes[2].get_images()[0].get_array(), layer.params["kernel"][:, :, 0, 2])
    assert any(ax.get_label() == "<colorbar>" for ax in fig.axes)
    assert_png(tmp_path / "filters.png")


def test_plot_filters_channel_and_errors():
    model = tiny_model()
    second = model.layers[4]  # kernel (3, 3, 4, 3)
    fig = plot.plot_filters(second, channel=3)
    np.testing.assert_allclose(image_axes(fig)[1].get_images()[0].get_array(), second.params["kernel"][:, :, 3, 1])
    with pytest.raises(InvalidArgumentError, match="channel"):
        plot.plot_filters(second, channel=4)
    with pytest.raises(InvalidArgumentError, match="built Conv2D"):
        plot.plot_filters(Conv2D(2, 3))
    with pytest.raises(InvalidArgumentError, match=r"Conv2D kernel of shape \(KH, KW, C, F\)"):
        plot.plot_filters(model.layers[-2])  # a Dense layer has a 2-D kernel


# ------------------------------------------------------------------------------------------------ feature maps
def test_plot_feature_maps_rows_per_conv_layer(tmp_path):
    model = tiny_model()
    image = np.random.default_rng(0).random((8, 8))
    bn = model.layers[2]
    before = [w.copy() for w in bn.get_weights()]
    fig = plot.plot_feature_maps(model, image, path=tmp_path / "maps.png", max_maps=2)
    axes = image_axes(fig)
    assert len(axes) == 1 + 2 + 2  # input + 2 maps for each of the 2 Conv2D layers
    ylabels = [ax.get_ylabel() for ax in axes if ax.get_ylabel()]
    assert ylabels == ["input\n8x8x1", f"{model.layers[0].name}\n8x8x4", f"{model.layers[4].name}\n2x2x3"]
    assert [ax.get_title() for ax in axes[1:]] == ["map 0", "map 1", "map 0", "map 1"]
    # the maps are the Conv2D outputs in inference mode; inference leaves BatchNorm's statistics alone
    expected = model.layers[0].forward(image.reshape(1, 8, 8, 1), training=False)[0, :, :, 1]
    np.testing.assert_allclose(axes[2].get_images()[0].get_array(), expected, rtol=1e-6)
    for w, b in zip(bn.get_weights(), before):
        np.testing.assert_array_equal(w, b)
    assert_png(tmp_path / "maps.png")


def test_plot_feature_maps_builds_an_unbuilt_model_and_accepts_shapes():
    model = Sequential([Conv2D(2, 3), MaxPooling2D(), Conv2D(2, 3, padding="same")])
    fig = plot.plot_feature_maps(model, np.ones((1, 10, 10, 1)))
    assert model.built
    assert len(image_axes(fig)) == 1 + 2 + 2
    fig = plot.plot_feature_maps(model.layers, np.ones((10, 10, 1)), max_maps=1)
    assert len(image_axes(fig)) == 3


def test_plot_feature_maps_errors():
    with pytest.raises(InvalidArgumentError, match="no Conv2D"):
        plot.plot_feature_maps([Flatten(), Dense(2)], np.ones((4, 4)))
    with pytest.raises(InvalidInputError, match="image must be"):
        plot.plot_feature_maps(tiny_model(), np.ones((2, 8, 8, 1)))
    with pytest.raises(InvalidArgumentError, match="max_maps"):
        plot.plot_feature_maps(tiny_model(), np.ones((8, 8)), max_maps=0)


# ------------------------------------------------------------------------------------------------ receptive field
def formula(layers):
    r, j, sizes = 1, 1, []
    for layer in layers:
        if isinstance(layer, Conv2D):
            r += (layer.kernel_size[0] - 1) * layer.dilation_rate[0] * j
            j *= layer.strides[0]
            sizes.append(r)
        elif isinstance(layer, (MaxPooling2D, AveragePooling2D)):
            r += (layer.pool_size[0] - 1) * j
            j *= layer.strides[0]
    return sizes


@pytest.mark.parametrize(
    "layers, shape",
    [
        ([Conv2D(2, 3, padding="same") for _ in range(3)], (15, 15)),
        ([Conv2D(2, 3), MaxPooling2D(2), Conv2D(2, 3), MaxPooling2D(2), Conv2D(2, 3)], (28, 28)),
        (
            [Conv2D(2, 5, strides=2), Activation("relu"), Conv2D(2, 3, strides=2), BatchNormalization(), Conv2D(2, 3)],
            (32, 32),
        ),
        ([Conv2D(2, 3, padding="same", dilation_rate=d) for d in (1, 2, 4)], (21, 21)),
        ([Conv2D(2, 3), MaxPooling2D(3, strides=1), Conv2D(2, 3)], (16, 16)),
    ],
    ids=["3x3-stack", "conv-pool", "strided", "dilated", "overlapping-pool"],
)
def test_receptive_field_sizes_match_the_formula(layers, shape):
    fields = plot.receptive_field(layers, shape)
    assert [f["size"] for f in fields] == [(r, r) for r in formula(layers)]
    assert [f["depth"] for f in fields] == list(range(1, len(fields) + 1))


def test_receptive_field_is_exactly_what_the_real_model_depends_on():
    """Perturb one input pixel at a time in the *real* model (ReLU, max pooling, random weights): the chosen
    unit never moves for a pixel outside the field, and moves for pixels inside it."""
    set_random_seed(3)
    model = Sequential(
        [
            Conv2D(3, 3, input_shape=(12, 12, 1), dtype="float64"),
            Activation("relu"),
            MaxPooling2D(2),
            Conv2D(2, 3, dtype="float64"),
        ]
    )
    field = plot.receptive_field(model, (12, 12), unit=(1, 2))[-1]
    assert field["unit"] == (1, 2) and field["size"] == (8, 8)
    x = np.random.default_rng(0).random((1, 12, 12, 1)) + 0.1
    base = model.predict(x)[0, 1, 2, 0]
    moved = np.zeros((12, 12), dtype=bool)
    for p in range(12):
        for q in range(12):
            x2 = x.copy()
            x2[0, p, q, 0] += 1.0
            moved[p, q] = abs(model.predict(x2)[0, 1, 2, 0] - base) > 1e-12
    inside = field["gradient"] > 0
    assert not np.any(moved & ~inside)  # outside the field: no effect, ever
    assert moved.sum() > inside.sum() // 4  # inside: most pixels do matter (ReLU/max may hide some)


def test_receptive_field_units_and_gradient_map():
    stack = [Conv2D(1, 3, padding="same"), Conv2D(1, 3, padding="same")]
    fields = plot.receptive_field(stack, (9, 9), unit=(0, 8))
    assert [f["unit"] for f in fields] == [(0, 8), (0, 8)]
    assert fields[1]["rows"] == (0, 2) and fields[1]["cols"] == (6, 8)  # clipped by the border
    centre = plot.receptive_field(stack, (9, 9))[1]["gradient"]
    # two all-ones 3x3 kernels: the path counts are the 2-D "triangle" [1 2 3 2 1] x [1 2 3 2 1]
    tri = np.array([1, 2, 3, 2, 1.0])
    np.testing.assert_allclose(centre[2:7, 2:7], np.outer(tri, tri))
    assert centre.sum() == 81


def test_receptive_field_does_not_touch_the_model_or_the_backend():
    model = tiny_model()
    before = [w.copy() for w in model.get_weights()]
    names = [layer.name for layer in model.layers]
    backend = kernels.get_backend()
    plot.receptive_field(model, (8, 8))
    assert kernels.get_backend() == backend
    with pytest.raises(InvalidArgumentError):
        plot.receptive_field(model, (8, 8), unit=(9, 9))
    assert kernels.get_backend() == backend
    for w, b in zip(model.get_weights(), before):
        np.testing.assert_array_equal(w, b)
    assert [layer.name for layer in model.layers] == names


def test_receptive_field_errors():
    with pytest.raises(InvalidArgumentError, match="no Conv2D"):
        plot.receptive_field([MaxPooling2D(), Flatten()], (8, 8))
    with pytest.raises(InvalidArgumentError, match="unit"):
        plot.receptive_field([Conv2D(1, 3)], (8, 8), unit=(6, 0))
    with pytest.raises(InvalidArgumentError, match="input_shape"):
        plot.receptive_field([Conv2D(1, 3)], (8,))


def test_plot_receptive_field_panels(tmp_path):
    model = tiny_model()
    fig = plot.plot_receptive_field(model, (8, 8, 1), path=tmp_path / "rf.png")
    axes = image_axes(fig)
    assert len(axes) == 2
    assert axes[0].get_title().startswith("1 conv layer") and "3x3 pixels" in axes[0].get_title()
    # the centre unit (0, 0) of the 2x2 map would see 8x8 pixels, but the first conv's "same" padding cuts
    # one row and one column off at the border: 7x7 real pixels
    assert axes[1].get_title().startswith("2 conv layers") and "7x7 pixels" in axes[1].get_title()
    assert all(ax.get_xlabel() == "input column" and ax.get_ylabel() == "input row" for ax in axes)
    assert_png(tmp_path / "rf.png")


# ------------------------------------------------------------------------------------------------ headless
def test_plotting_needs_no_display_and_never_loads_pyplot(tmp_path):
    code = textwrap.dedent(f"""
        import sys
        import numpy as np
        from tinycnn import kernels, plot
        from tinycnn.layers import Conv2D
        layer = Conv2D(2, 3)
        layer.build((None, 5, 5, 1))
        plot.plot_filters(layer, path={str(tmp_path / "f.png")!r})
        plot.plot_history({{"loss": [1.0, 0.5]}}, path={str(tmp_path / "h.png")!r})
        assert "matplotlib.pyplot" not in sys.modules, "tinycnn.plot must not import pyplot"
        print("ok")
    """)
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY", "MPLBACKEND")}
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")])
    env["MPLBACKEND"] = "TkAgg"  # even an interactive backend setting is harmless
    result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"
    assert_png(tmp_path / "f.png")
    assert_png(tmp_path / "h.png")


def test_save_figure_without_extension_writes_png(tmp_path):
    fig = plot.plot_history({"loss": [1.0, 0.5]})
    path = plot.save_figure(fig, tmp_path / "a" / "curves")
    assert_png(path)
