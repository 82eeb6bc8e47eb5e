"""Receptive fields, found by backpropagation through twins of the model's layers."""

import contextlib

import numpy as np
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle
from matplotlib.ticker import MaxNLocator

from .. import kernels
from ..errors import InvalidArgumentError
from .common import _finish, _layers_of
from .features import _build_layers


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
    from ..layers import (
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
