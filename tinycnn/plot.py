"""Figures for the course: learning curves, confusion matrix, mistakes, filters, feature maps, receptive fields.

Every function builds a :class:`matplotlib.figure.Figure` directly (no ``pyplot``), so it needs no
display and never opens a window: it works the same in a terminal, over SSH and in CI. In a notebook, run
``%matplotlib inline`` once; a returned figure then shows when it is the last expression of a cell. Every
function returns the figure and, if ``path`` is given, also saves it there as a PNG (parent folders
created).

====================================  =========================================================
:func:`plot_history`                  loss and metric curves of ``fit`` (optionally tinycnn vs Keras)
:func:`plot_confusion_matrix`         which classes are confused with which
:func:`plot_misclassified`            the test images the model got wrong
:func:`plot_filters`                  the learned kernels of a ``Conv2D`` layer
:func:`plot_feature_maps`             one image through every ``Conv2D`` layer of a model
:func:`plot_receptive_field`          the input pixels one unit sees, at every conv depth
:func:`receptive_field`               the numbers behind :func:`plot_receptive_field`
====================================  =========================================================

>>> from tinycnn import plot
>>> fig = plot.plot_history({"loss": [1.0, 0.6, 0.4], "val_loss": [1.1, 0.8, 0.7]})
>>> fig.axes[0].get_xlabel(), fig.axes[0].get_title()
('epoch', 'Loss')
"""

import contextlib
import math
import os

import numpy as np
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle
from matplotlib.ticker import MaxNLocator

from . import kernels
from .errors import InvalidArgumentError, InvalidInputError

__all__ = [
    "plot_history",
    "plot_confusion_matrix",
    "plot_misclassified",
    "plot_filters",
    "plot_feature_maps",
    "plot_receptive_field",
    "receptive_field",
    "save_figure",
]

DPI = 100


def save_figure(fig, path, dpi=DPI):
    """Save ``fig`` to ``path`` (PNG unless the extension says otherwise), creating parent folders."""
    path = os.fspath(path)
    parent = os.path.dirname(os.path.abspath(path))
    os.makedirs(parent, exist_ok=True)
    fig.savefig(path, dpi=dpi, format=None if os.path.splitext(path)[1] else "png")
    return path


def _finish(fig, path):
    if path is not None:
        save_figure(fig, path)
    return fig


def _labels(y, what):
    """Integer class labels from labels, one-hot rows or class probabilities (argmax of each row)."""
    y = np.asarray(y)
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    if y.ndim == 2:
        return y.argmax(axis=1)
    if y.ndim != 1:
        raise InvalidInputError(
            f"{what} must be integer labels (N,) or one-hot/probabilities (N, classes), got shape {y.shape}"
        )
    if y.size and np.issubdtype(y.dtype, np.floating) and np.any(y != np.round(y)):
        raise InvalidInputError(f"{what} must hold integer class labels, got non-integer values")
    if y.size and y.min() < 0:
        raise InvalidInputError(f"{what} holds a negative label ({y.min()})")
    return y.astype(np.int64)


def _as_images(x):
    """``(N, H, W)``, ``(N, H, W, 1)`` or ``(N, H, W, 3)`` -> ``(N, H, W)`` or ``(N, H, W, 3)``."""
    x = np.asarray(x)
    if x.ndim == 4 and x.shape[-1] == 1:
        x = x[..., 0]
    if not (x.ndim == 3 or (x.ndim == 4 and x.shape[-1] in (3, 4))):
        raise InvalidInputError(f"expected images of shape (N, H, W), (N, H, W, 1) or (N, H, W, 3), got {x.shape}")
    return x


def _layers_of(model_or_layers):
    layers = getattr(model_or_layers, "layers", model_or_layers)
    try:
        layers = list(layers)
    except TypeError:
        raise InvalidArgumentError(
            f"expected a Sequential model or a list of layers, got {type(model_or_layers).__name__}"
        ) from None
    if not layers:
        raise InvalidArgumentError("the model has no layers")
    return layers


def _grid(n, max_cols=8):
    """``(rows, cols)`` for ``n`` panels, at most ``max_cols`` per row."""
    cols = max(min(n, max_cols), 1)
    return math.ceil(n / cols), cols


def _bare(ax):
    ax.set_xticks([])
    ax.set_yticks([])


# ----------------------------------------------------------------------------------------------- history
def _history_dict(history, what):
    h = getattr(history, "history", history)
    if not isinstance(h, dict):
        raise InvalidArgumentError(
            f"{what} must be a History (what fit returns) or a dict of lists, got {type(history).__name__}"
        )
    if not h or not any(len(v) for v in h.values()):
        raise InvalidInputError(f"{what} is empty: nothing was trained (did fit run for at least one epoch?)")
    return h


def _pretty(key):
    return key.replace("_", " ").capitalize()


def plot_history(history, path=None, other=None, labels=("tinycnn", "Keras"), metrics=None):
    """Learning curves: the loss and every metric per epoch, training (solid) and validation (dashed).

    Parameters
    ----------
    history : History or dict
        What ``model.fit`` returns, or its ``.history`` dict: ``{"loss": [...], "val_loss": [...],
        "accuracy": [...], ...}``, one value per epoch. A Keras ``History`` works too.
    path : str or path-like, optional
        Where to save the PNG.
    other : History or dict, optional
        A second run drawn in another colour on the same axes -- e.g. the same model trained by Keras.
    labels : (str, str)
        Names of ``history`` and ``other`` in the legend (used only when ``other`` is given).
    metrics : list of str, optional
        The panels to draw, by name without ``val_``. Default: ``"loss"`` then every other key.

    Returns
    -------
    matplotlib.figure.Figure
        One panel per metric; x axis ``epoch`` (1 = after the first epoch).
    """
    h = _history_dict(history, "history")
    o = _history_dict(other, "other") if other is not None else None
    if metrics is None:
        keys = [k for src in (h, o or {}) for k in src if not k.startswith("val_")]
        metrics = ["loss"] + [k for k in dict.fromkeys(keys) if k != "loss"]
    elif isinstance(metrics, str):
        metrics = [metrics]
    metrics = [m for m in dict.fromkeys(metrics) if m in h or f"val_{m}" in h or (o and (m in o or f"val_{m}" in o))]
    if not metrics:
        raise InvalidInputError(f"none of the requested metrics is in the history (it has {sorted(h)})")

    fig = Figure(figsize=(4.6 * len(metrics), 3.6), layout="constrained")
    if o is None:  # one run: train and validation in two colours
        runs = [(h, None, ("C0", "C1"))]
    else:  # two runs: one colour per run, solid = train, dashed = validation
        runs = [(h, labels[0], ("C0", "C0")), (o, labels[1], ("C3", "C3"))]
    n_epochs = max(len(v) for run, _, _ in runs for v in run.values())
    for k, metric in enumerate(metrics):
        ax = fig.add_subplot(1, len(metrics), k + 1)
        for run, name, colors in runs:
            for key, style, marker, split, color in (
                (metric, "-", "o", "train", colors[0]),
                (f"val_{metric}", "--", "s", "validation", colors[1]),
            ):
                values = run.get(key)
                if values is None or not len(values):
                    continue
                label = split if name is None else f"{name} {split}"
                epochs = np.arange(1, len(values) + 1)
                ax.plot(
                    epochs,
                    values,
                    linestyle=style,
                    color=color,
                    marker=marker if len(values) <= 30 else None,
                    markersize=3.5,
                    label=label,
                )
        ax.set_title(_pretty(metric))
        ax.set_xlabel("epoch")
        ax.set_ylabel(metric)
        ax.set_xlim(0.5, n_epochs + 0.5)
        if n_epochs <= 12:
            ax.set_xticks(range(1, n_epochs + 1))
        else:
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(alpha=0.3)
        ax.legend(fontsize="small")
    return _finish(fig, path)


# ----------------------------------------------------------------------------------------------- confusion
def plot_confusion_matrix(y_true, y_pred, class_names=None, path=None, normalize=False):
    """Confusion matrix: row = true class, column = predicted class; the diagonal holds the hits.

    Parameters
    ----------
    y_true, y_pred : (N,) integer labels
        One-hot rows or class probabilities ``(N, classes)`` are accepted too (their argmax is used), so
        ``model.predict(x)`` can be passed as it is.
    class_names : list of str, optional
        Tick labels (e.g. ``fashion_mnist.CLASS_NAMES``).
    normalize : bool
        Divide each row by its total, so a cell is the fraction of that true class predicted as the
        column's class (the diagonal is then the per-class recall).

    Returns
    -------
    matplotlib.figure.Figure

    >>> fig = plot_confusion_matrix([0, 1, 1, 2], [0, 1, 2, 2])
    >>> fig.axes[0].get_xlabel(), fig.axes[0].get_ylabel()
    ('predicted label', 'true label')
    """
    t, p = _labels(y_true, "y_true"), _labels(y_pred, "y_pred")
    if len(t) != len(p):
        raise InvalidInputError(f"y_true has {len(t)} labels but y_pred has {len(p)}")
    if not len(t):
        raise InvalidInputError("y_true and y_pred are empty")
    n = max(int(t.max()), int(p.max())) + 1
    if class_names is not None:
        class_names = [str(c) for c in class_names]
        if len(class_names) < n:
            raise InvalidInputError(f"{len(class_names)} class names for labels up to {n - 1}")
        n = len(class_names)
    cm = np.zeros((n, n), dtype=np.int64)
    np.add.at(cm, (t, p), 1)
    accuracy = np.trace(cm) / cm.sum()
    if normalize:
        totals = cm.sum(axis=1, keepdims=True)
        shown = np.divide(cm, totals, out=np.zeros(cm.shape), where=totals > 0)
    else:
        shown = cm
    size = max(4.0, 0.55 * n + 2.5)
    fig = Figure(figsize=(size + 1.0, size), layout="constrained")
    ax = fig.add_subplot()
    im = ax.imshow(shown, cmap="Blues", vmin=0)
    fig.colorbar(im, ax=ax, shrink=0.8, label="fraction of the true class" if normalize else "count")
    if n <= 20:
        threshold = shown.max() / 2 if shown.max() > 0 else 1
        for i in range(n):
            for j in range(n):
                text = f"{shown[i, j]:.2f}" if normalize else str(cm[i, j])
                ax.text(
                    j,
                    i,
                    text,
                    ha="center",
                    va="center",
                    fontsize=8 if n > 10 else 10,
                    color="white" if shown[i, j] > threshold else "black",
                )
    names = class_names or [str(i) for i in range(n)]
    ax.set_xticks(range(n), names, rotation=45 if class_names else 0, ha="right" if class_names else "center")
    ax.set_yticks(range(n), names)
    ax.set_xlabel("predicted label")
    ax.set_ylabel("true label")
    ax.set_title(f"Confusion matrix{' (rows normalized)' if normalize else ''}: accuracy {accuracy:.1%} of {len(t):,}")
    return _finish(fig, path)


# ----------------------------------------------------------------------------------------------- mistakes
def plot_misclassified(x, y_true, y_pred, class_names=None, path=None, max_images=25):
    """A grid of the images the model got wrong, each titled with its true and predicted class.

    Parameters
    ----------
    x : (N, H, W), (N, H, W, 1) or (N, H, W, 3) images
    y_true : (N,) integer labels, or one-hot rows
    y_pred : (N,) integer labels, or class probabilities ``(N, classes)`` (then the confidence of the
        wrong answer is printed too)
    class_names : list of str, optional
    max_images : int
        At most this many mistakes are shown, in data order.

    Returns
    -------
    matplotlib.figure.Figure
        If there is no mistake, a figure that says so.
    """
    images = _as_images(x)
    t = _labels(y_true, "y_true")
    probs = np.asarray(y_pred) if np.ndim(y_pred) == 2 and np.shape(y_pred)[1] > 1 else None
    p = _labels(y_pred, "y_pred")
    if not (len(images) == len(t) == len(p)):
        raise InvalidInputError(
            f"x, y_true and y_pred must have the same length, got {len(images)}, {len(t)}, {len(p)}"
        )
    if isinstance(max_images, bool) or not isinstance(max_images, (int, np.integer)) or max_images < 1:
        raise InvalidArgumentError(f"max_images must be a positive int, got {max_images!r}")

    def name(k):
        return class_names[k] if class_names is not None and k < len(class_names) else str(k)

    wrong = np.flatnonzero(t != p)
    shown = wrong[:max_images]
    if not len(shown):
        fig = Figure(figsize=(4, 2), layout="constrained")
        ax = fig.add_subplot()
        ax.text(0.5, 0.5, f"No misclassified images among {len(t):,}", ha="center", va="center")
        ax.set_title("Misclassified images")
        ax.axis("off")
        return _finish(fig, path)
    rows, cols = _grid(len(shown), max_cols=5)
    fig = Figure(figsize=(2.0 * cols, 2.25 * rows + 0.4), layout="constrained")
    fig.suptitle(f"Misclassified: {len(wrong):,} of {len(t):,} ({len(wrong) / len(t):.1%}); first {len(shown)} shown")
    for k, i in enumerate(shown):
        ax = fig.add_subplot(rows, cols, k + 1)
        ax.imshow(images[i], cmap="gray" if images.ndim == 3 else None)
        confidence = f" ({probs[i, p[i]]:.0%})" if probs is not None else ""
        ax.set_title(f"true: {name(t[i])}\npred: {name(p[i])}{confidence}", fontsize=8, color="firebrick")
        ax.set_xlabel(f"#{i}", fontsize=7)
        _bare(ax)
    return _finish(fig, path)


# ----------------------------------------------------------------------------------------------- filters
def _kernel_of(layer):
    if isinstance(layer, np.ndarray):
        kernel = layer
        name = "kernel"
    else:
        if not getattr(layer, "built", False) or "kernel" not in getattr(layer, "params", {}):
            raise InvalidArgumentError(
                f"plot_filters needs a built Conv2D layer (or a kernel array), got "
                f"{layer!r}; build the model first (input_shape= or model.build)"
            )
        kernel = layer.params["kernel"]
        name = layer.name
    if kernel.ndim != 4:
        raise InvalidArgumentError(
            f"plot_filters needs a Conv2D kernel of shape (KH, KW, C, F); {name} has shape {kernel.shape}"
        )
    return np.asarray(kernel), name


def plot_filters(layer, path=None, channel=0):
    """The kernels of a ``Conv2D`` layer, one small image per filter, on one shared colour scale.

    Parameters
    ----------
    layer : Conv2D (built) or array (KH, KW, C, F)
    channel : int
        Which input channel's slice ``kernel[:, :, channel, f]`` to draw (0 for grayscale input).

    Returns
    -------
    matplotlib.figure.Figure
        Red = positive weight, blue = negative, white = 0; small kernels also print their numbers.
    """
    kernel, name = _kernel_of(layer)
    kh, kw, c, f = kernel.shape
    if isinstance(channel, bool) or not isinstance(channel, (int, np.integer)) or not 0 <= channel < c:
        raise InvalidArgumentError(f"channel must be an int in 0..{c - 1}, got {channel!r}")
    rows, cols = _grid(f, max_cols=8)
    fig = Figure(figsize=(1.5 * cols + 1.0, 1.6 * rows + 0.6), layout="constrained")
    fig.suptitle(f"{name}: {f} learned {kh}x{kw} kernels (input channel {channel} of {c})")
    limit = float(np.abs(kernel[:, :, channel, :]).max()) or 1.0
    annotate = kh * kw <= 25 and f <= 16
    im = None
    axes = []
    for k in range(f):
        ax = fig.add_subplot(rows, cols, k + 1)
        w = kernel[:, :, channel, k]
        im = ax.imshow(w, cmap="RdBu_r", vmin=-limit, vmax=limit)
        if annotate:
            for a in range(kh):
                for b in range(kw):
                    ax.text(b, a, f"{w[a, b]:.2f}", ha="center", va="center", fontsize=6)
        ax.set_title(f"filter {k}", fontsize=9)
        _bare(ax)
        axes.append(ax)
    fig.colorbar(im, ax=axes, shrink=0.8, label="weight")
    return _finish(fig, path)


# ----------------------------------------------------------------------------------------------- feature maps
def _as_batch_of_one(image):
    x = np.asarray(image, dtype=np.float64)
    if x.ndim == 2:
        x = x[None, :, :, None]
    elif x.ndim == 3:
        x = x[None]
    if x.ndim != 4 or x.shape[0] != 1:
        raise InvalidInputError(f"image must be (H, W), (H, W, C) or (1, H, W, C), got shape {np.shape(image)}")
    return x


def _build_layers(layers, input_shape):
    shape = tuple(input_shape)
    for layer in layers:
        if not layer.built:
            layer.build(shape)
        shape = layer.output_shape


def plot_feature_maps(model, image, path=None, max_maps=8):
    """One image through the model: the input, then the output of every ``Conv2D`` layer.

    The layers run one by one in inference mode (``layer.forward(x, training=False)``); after each
    ``Conv2D`` its output volume ``(H, W, F)`` is drawn as ``F`` separate maps (the first ``max_maps``).

    Parameters
    ----------
    model : Sequential or list of layers
    image : (H, W), (H, W, C) or (1, H, W, C)
    max_maps : int
        Feature maps drawn per layer.

    Returns
    -------
    matplotlib.figure.Figure
        One row per ``Conv2D`` layer, labelled with its name and output shape.
    """
    from .layers import Conv2D

    layers = _layers_of(model)
    if isinstance(max_maps, bool) or not isinstance(max_maps, (int, np.integer)) or max_maps < 1:
        raise InvalidArgumentError(f"max_maps must be a positive int, got {max_maps!r}")
    x = _as_batch_of_one(image)
    if hasattr(model, "build") and not getattr(model, "built", True):
        model.build((None,) + x.shape[1:])
    else:
        _build_layers(layers, (None,) + x.shape[1:])
    outputs = []
    a = x
    for layer in layers:
        a = layer.forward(a, training=False)
        if isinstance(layer, Conv2D):
            outputs.append((layer, np.asarray(a[0])))
    if not outputs:
        raise InvalidArgumentError("the model has no Conv2D layer: no feature maps to show")
    cols = min(max_maps, max(o.shape[-1] for _, o in outputs))
    rows = 1 + len(outputs)
    fig = Figure(figsize=(1.45 * cols + 0.8, 1.55 * rows + 0.3), layout="constrained")
    fig.suptitle("Feature maps: one image through every Conv2D layer (inference mode)")
    ax = fig.add_subplot(rows, cols, 1)
    ax.imshow(x[0, :, :, 0] if x.shape[-1] == 1 else x[0, :, :, :3], cmap="gray")
    ax.set_title("input", fontsize=9)
    ax.set_ylabel(f"input\n{x.shape[1]}x{x.shape[2]}x{x.shape[3]}", fontsize=8)
    _bare(ax)
    for r, (layer, out) in enumerate(outputs, start=1):
        h, w, f = out.shape
        for k in range(min(f, max_maps)):
            ax = fig.add_subplot(rows, cols, r * cols + k + 1)
            ax.imshow(out[:, :, k], cmap="viridis")
            ax.set_title(f"map {k}", fontsize=8)
            if k == 0:
                ax.set_ylabel(f"{layer.name}\n{h}x{w}x{f}", fontsize=8)
            _bare(ax)
    return _finish(fig, path)


# ----------------------------------------------------------------------------------------------- receptive field
def _trace_layers(layers, input_shape):
    """Twin layers that have the *geometry* of ``layers`` and only positive arithmetic.

    * ``Conv2D`` -> a one-filter ``Conv2D`` with the same kernel size, strides, padding and dilation, all
      weights 1 and no bias;
    * any pooling -> ``AveragePooling2D`` with the same pool, strides and padding (average pooling sends
      gradient to *every* cell of the window; max pooling would send it only to the winner);
    * element-wise layers (activations, BatchNormalization, Dropout) -> nothing: they do not move
      information between pixels;
    * ``Flatten``/``Dense`` -> the end: after them every unit sees the whole input.

    Returns ``(twins, depths)``: the twin layers, and for each Conv2D the index of its twin and its name.
    """
    from .layers import (
        Activation,
        AveragePooling2D,
        BatchNormalization,
        Conv2D,
        Dense,
        Dropout,
        Flatten,
        Pooling2D,
        ReLU,
        Softmax,
    )

    twins, depths = [], []
    for layer in layers:
        if isinstance(layer, Conv2D):
            twins.append(
                Conv2D(
                    1,
                    layer.kernel_size,
                    strides=layer.strides,
                    padding=layer.padding,
                    dilation_rate=layer.dilation_rate,
                    use_bias=False,
                    kernel_initializer="ones",
                    dtype="float64",
                    name=f"rf_{layer.name}",
                )
            )
            depths.append((len(twins) - 1, layer.name))
        elif isinstance(layer, Pooling2D):
            twins.append(
                AveragePooling2D(
                    layer.pool_size,
                    strides=layer.strides,
                    padding=layer.padding,
                    dtype="float64",
                    name=f"rf_{layer.name}",
                )
            )
        elif isinstance(layer, (Activation, ReLU, Softmax, BatchNormalization, Dropout)):
            continue
        elif isinstance(layer, (Flatten, Dense)):
            break
        else:
            raise InvalidArgumentError(
                f"cannot trace a receptive field through {type(layer).__name__} ({layer.name!r})"
            )
    if not depths:
        raise InvalidArgumentError("the model has no Conv2D layer before Flatten/Dense: no receptive field to show")
    _build_layers(twins, (None,) + tuple(input_shape[:2]) + (1,))
    return twins, depths


@contextlib.contextmanager
def _reference_kernels():
    """Run the block on the readable NumPy kernels (no Numba compilation for the float64 twins). Only this
    thread's code inside the block is affected (``kernels.use``): a model training in another thread is not."""
    with kernels.use("reference"):
        yield


def _input_hw(input_shape):
    shape = tuple(input_shape)
    if len(shape) == 4:
        shape = shape[1:]
    if len(shape) not in (2, 3) or not all(isinstance(d, (int, np.integer)) and d > 0 for d in shape):
        raise InvalidArgumentError(f"input_shape must be (H, W) or (H, W, C) of positive ints, got {input_shape!r}")
    return int(shape[0]), int(shape[1])


def receptive_field(model_or_layers, input_shape, unit=None):
    """The receptive field, in the input, of one unit after each ``Conv2D`` layer -- computed by backprop.

    A unit's receptive field is the set of input pixels its value depends on, i.e. the pixels where
    ``d unit / d x != 0``. We compute that gradient with tinycnn's own ``backward``: a one-hot ``dy`` at the
    unit, sent back through the layers. To see the *whole* field, the layers are replaced by twins with the
    same geometry and only positive arithmetic (all-ones kernels, average pooling, no ReLU): with the real
    weights, gradients could cancel, a ReLU that is off would block them, and max pooling would pass them
    to one winner only. The gradient then counts, for each pixel, the weighted number of paths to the unit:
    it is largest in the centre of the field. The twins run on the readable kernels of
    :mod:`tinycnn.kernels.reference` (switched back afterwards; the backend is global, so do not call this
    while another thread trains).

    Parameters
    ----------
    model_or_layers : Sequential or list of layers (their weights are not used or changed)
    input_shape : (H, W) or (H, W, C)
    unit : (int, int), optional
        Position ``(i, j)`` in the feature map of the *last* Conv2D layer. Default: its centre. At the
        shallower depths the unit at the same relative position is used (the same ``(i, j)`` when the maps
        have the same size, as with ``padding="same"`` and stride 1).

    Returns
    -------
    list of dict, one per Conv2D layer, in depth order, with keys
        ``"layer"`` (name), ``"depth"`` (1, 2, ...), ``"unit"`` ``(i, j)``, ``"map_shape"`` ``(OH, OW)``,
        ``"gradient"`` ``(H, W)`` float array (``> 0`` exactly on the field), ``"rows"``/``"cols"``
        (first, last) input rows/columns covered, ``"size"`` ``(height, width)`` of the field.

    >>> from tinycnn.layers import Conv2D
    >>> stack = [Conv2D(4, 3, padding="same"), Conv2D(4, 3, padding="same"), Conv2D(4, 3, padding="same")]
    >>> [f["size"] for f in receptive_field(stack, (15, 15))]       # 3x3 kernels: 3, 5, 7
    [(3, 3), (5, 5), (7, 7)]
    """
    h, w = _input_hw(input_shape)
    twins, depths = _trace_layers(_layers_of(model_or_layers), (h, w))
    last_map = twins[depths[-1][0]].output_shape[1:3]
    if unit is None:
        unit = ((last_map[0] - 1) // 2, (last_map[1] - 1) // 2)
    if (
        not isinstance(unit, (tuple, list))
        or len(unit) != 2
        or not all(isinstance(u, (int, np.integer)) and not isinstance(u, bool) for u in unit)
        or not (0 <= unit[0] < last_map[0] and 0 <= unit[1] < last_map[1])
    ):
        raise InvalidArgumentError(f"unit must be (i, j) inside the last conv map {last_map}, got {unit!r}")
    x = np.ones((1, h, w, 1))
    fields = []
    for depth, (t, name) in enumerate(depths, start=1):
        with _reference_kernels():
            a = x
            for twin in twins[: t + 1]:
                a = twin.forward(a)
            oh, ow = a.shape[1:3]
            i = min(max(round((unit[0] + 0.5) * oh / last_map[0] - 0.5), 0), oh - 1)
            j = min(max(round((unit[1] + 0.5) * ow / last_map[1] - 0.5), 0), ow - 1)
            d = np.zeros_like(a)
            d[0, i, j, 0] = 1.0  # one-hot dy at the unit ...
            for twin in twins[t::-1]:  # ... sent back through every layer's backward
                d = twin.backward(d)
        g = d[0, :, :, 0]
        rows, cols = np.flatnonzero(g.any(axis=1)), np.flatnonzero(g.any(axis=0))
        fields.append(
            {
                "layer": name,
                "depth": depth,
                "unit": (int(i), int(j)),
                "map_shape": (int(oh), int(ow)),
                "gradient": g,
                "rows": (int(rows[0]), int(rows[-1])),
                "cols": (int(cols[0]), int(cols[-1])),
                "size": (int(rows[-1] - rows[0] + 1), int(cols[-1] - cols[0] + 1)),
            }
        )
    return fields


def plot_receptive_field(model_or_layers, input_shape, unit=None, path=None):
    """The input pixels that one unit sees, after each ``Conv2D`` layer: the field grows with depth.

    Each panel is the input grid; coloured pixels are the receptive field of the unit (see
    :func:`receptive_field` for how it is computed exactly, by backprop), shaded by how many paths lead
    from that pixel to the unit. The rectangle outlines the field; the dot marks the unit's position.

    Parameters
    ----------
    model_or_layers : Sequential or list of layers
    input_shape : (H, W) or (H, W, C)
    unit : (int, int), optional
        Position in the last Conv2D layer's map (default: its centre).

    Returns
    -------
    matplotlib.figure.Figure
    """
    fields = receptive_field(model_or_layers, input_shape, unit)
    h, w = _input_hw(input_shape)
    n = len(fields)
    fig = Figure(figsize=(3.2 * n + 0.8, 3.6), layout="constrained")
    fig.suptitle("Receptive field of one unit after each conv layer (exact, by backprop)")
    axes, im = [], None
    for k, f in enumerate(fields):
        ax = fig.add_subplot(1, n, k + 1)
        g = f["gradient"]
        shown = np.ma.masked_equal(g / g.max(), 0.0)
        im = ax.imshow(shown, cmap="Oranges", vmin=0, vmax=1, extent=(-0.5, w - 0.5, h - 0.5, -0.5))
        ax.set_facecolor("white")
        (r0, r1), (c0, c1) = f["rows"], f["cols"]
        ax.add_patch(
            Rectangle((c0 - 0.5, r0 - 0.5), c1 - c0 + 1, r1 - r0 + 1, fill=False, edgecolor="firebrick", linewidth=1.5)
        )
        ax.plot([(c0 + c1) / 2], [(r0 + r1) / 2], "o", color="firebrick", markersize=3)
        if max(h, w) <= 40:  # pixel grid (two line collections: much cheaper than one tick per pixel)
            ax.vlines(np.arange(-0.5, w, 1), -0.5, h - 0.5, color="0.85", linewidth=0.4, zorder=0.5)
            ax.hlines(np.arange(-0.5, h, 1), -0.5, w - 0.5, color="0.85", linewidth=0.4, zorder=0.5)
        ax.set_xlim(-0.5, w - 0.5)
        ax.set_ylim(h - 0.5, -0.5)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.yaxis.set_major_locator(MaxNLocator(integer=True))
        s = "" if f["depth"] == 1 else "s"
        ax.set_title(
            f"{f['depth']} conv layer{s} ({f['layer']})\nunit {f['unit']}: {f['size'][0]}x{f['size'][1]} pixels",
            fontsize=9,
        )
        ax.set_xlabel("input column")
        ax.set_ylabel("input row")
        axes.append(ax)
    fig.colorbar(im, ax=axes, shrink=0.8, label="paths to the unit (relative)")
    return _finish(fig, path)
