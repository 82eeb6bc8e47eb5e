"""Figures of training: learning curves, the confusion matrix, the misclassified images."""

import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from ..errors import InvalidArgumentError, InvalidInputError
from .common import _as_images, _bare, _finish, _grid, _history_dict, _labels, _pretty


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
