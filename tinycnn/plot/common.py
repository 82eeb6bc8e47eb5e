"""What every figure shares: saving, labels, grids, the layers of a model."""

import math
import os

import numpy as np

from ..errors import InvalidArgumentError, InvalidInputError

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
