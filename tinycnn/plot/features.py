"""Inside a trained model: its filters and the feature maps an image makes."""

import numpy as np
from matplotlib.figure import Figure

from ..errors import InvalidArgumentError, InvalidInputError
from .common import _bare, _finish, _grid, _layers_of


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
    from ..layers import Conv2D

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
