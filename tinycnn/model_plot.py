"""``plot_model``: a model's graph drawn with matplotlib, as ``keras.utils.plot_model`` draws it with
Graphviz -- boxes for layers (name, type, output shape, parameters), arrows for tensors, inputs at the top.

No Graphviz: students' installs break on it, and matplotlib is already here. The layout is the simplest one
that reads: a layer's *level* is the length of the longest path from an input to it, levels are rows, and the
layers of a row are spread evenly in the order the model lists them.
"""

from .errors import InvalidArgumentError


def _levels(model):
    """``{layer id: level}``: 0 for inputs, else 1 + the largest level among the layers feeding it."""
    from .layers.input_layer import InputLayer

    level = {id(layer): 0 for layer in model.layers if isinstance(layer, InputLayer)}
    if getattr(model, "_is_sequential", False) and model.inputs:
        level[id(model.inputs[0]._keras_history[0])] = 0
    for node in model._nodes:  # already in an order that computes every input first
        parents = [t._keras_history[0] for t in node.input_tensors]
        level[id(node.layer)] = max(level.get(id(node.layer), 0), 1 + max(level.get(id(p), 0) for p in parents))
    return level


def _label(layer, show_shapes, show_layer_names, show_params):
    lines = [f"{layer.name} ({type(layer).__name__})" if show_layer_names else type(layer).__name__]
    if show_shapes:
        shape = layer.output_shape
        lines.append(str(shape) if not isinstance(shape, list) else ", ".join(str(s) for s in shape))
    if show_params:
        lines.append(f"{layer.count_params():,} params")
    return "\n".join(lines)


def plot_model(
    model, to_file="model.png", show_shapes=True, show_layer_names=True, show_params=True, dpi=100, **kwargs
):
    """Draw ``model``'s graph and save it to ``to_file`` (PNG, SVG or PDF by extension); returns the figure.

    Keras's ``show_dtype``, ``rankdir``, ``expand_nested`` and similar cosmetic options are accepted and
    ignored (the drawing is always top to bottom, a nested model one box).
    """
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt
    from matplotlib.patches import FancyArrowPatch, FancyBboxPatch

    from .layers.input_layer import InputLayer
    from .models.model import Model

    if not isinstance(model, Model):
        raise InvalidArgumentError(f"plot_model draws a tinycnn model, got {type(model).__name__}")
    model._require_built("plot_model")
    level = _levels(model)
    boxes = [layer for layer in model.layers]
    if getattr(model, "_is_sequential", False):
        boxes = [model.inputs[0]._keras_history[0]] + boxes
    rows = {}
    for layer in boxes:
        rows.setdefault(level.get(id(layer), 0), []).append(layer)
    n_rows, n_cols = max(rows) + 1, max(len(r) for r in rows.values())
    labels = {id(l): _label(l, show_shapes, show_layer_names, show_params) for l in boxes}
    box_w = max(2.6, 0.085 * max(len(line) for text in labels.values() for line in text.split("\n")))
    box_h = 0.32 * (1 + show_shapes + show_params)
    gap_x, gap_y = 0.5, 0.55
    fig_w, fig_h = n_cols * (box_w + gap_x) + gap_x + 0.8, n_rows * (box_h + gap_y) + gap_y
    fig = plt.figure(figsize=(fig_w, fig_h), dpi=dpi)
    ax = fig.add_axes([0, 0, 1, 1])
    ax.set_xlim(0, fig_w)
    ax.set_ylim(0, fig_h)
    ax.axis("off")
    centre = {}
    for r, row in rows.items():
        y = fig_h - gap_y - r * (box_h + gap_y) - box_h / 2
        span = len(row) * (box_w + gap_x) - gap_x
        for i, layer in enumerate(row):
            x = (fig_w - span) / 2 + i * (box_w + gap_x) + box_w / 2
            centre[id(layer)] = (x, y)
            colour = "#dbe9f6" if isinstance(layer, InputLayer) else ("#fde9c9" if layer.count_params() else "#eeeeee")
            ax.add_patch(
                FancyBboxPatch(
                    (x - box_w / 2, y - box_h / 2),
                    box_w,
                    box_h,
                    boxstyle="round,pad=0.02,rounding_size=0.08",
                    fc=colour,
                    ec="#333333",
                    lw=1.0,
                )
            )
            ax.text(x, y, labels[id(layer)], ha="center", va="center", fontsize=9, family="monospace")
    lane = {}  # skip connections run down the right-hand side, one lane each
    for node in model._nodes:
        for t in node.input_tensors:
            src = t._keras_history[0]
            if id(src) not in centre or id(node.layer) not in centre:
                continue
            (x0, y0), (x1, y1) = centre[id(src)], centre[id(node.layer)]
            skip = level[id(node.layer)] - level.get(id(src), 0) > 1
            if not skip:
                ax.add_patch(
                    FancyArrowPatch(
                        (x0, y0 - box_h / 2),
                        (x1, y1 + box_h / 2),
                        arrowstyle="-|>",
                        mutation_scale=12,
                        lw=1.0,
                        color="#333333",
                    )
                )
                continue
            k = lane.setdefault((id(src), id(node.layer)), len(lane))
            xr = max(x0, x1) + box_w / 2 + 0.15 + 0.12 * k
            ax.plot([x0 + box_w / 2, xr, xr], [y0, y0, y1], color="#1f5fa8", lw=1.2)
            ax.add_patch(
                FancyArrowPatch(
                    (xr, y1), (x1 + box_w / 2, y1), arrowstyle="-|>", mutation_scale=12, lw=1.2, color="#1f5fa8"
                )
            )
    if to_file:
        fig.savefig(to_file, dpi=dpi)
    return fig


def graph_rows(model):
    """The layer names row by row, as :func:`plot_model` lays them out (for tests and text displays)."""
    level = _levels(model)
    rows = {}
    for layer in model.layers:
        rows.setdefault(level.get(id(layer), 0), []).append(layer.name)
    return [rows[k] for k in sorted(rows)]


__all__ = ["plot_model", "graph_rows"]
