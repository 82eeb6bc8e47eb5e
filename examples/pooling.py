# %% [markdown]
# # Pooling: max, average and L2-norm; pool size, stride and overlap
#
# Goodfellow et al., *Deep Learning*, 9.3. A pooling unit replaces a window of a feature map by a summary:
#
#     max:      y = max  x[window]
#     average:  y = mean x[window]
#     L2 norm:  y = sqrt(sum x[window]^2)
#
# Windows move by the **stride**. Stride = pool size tiles the map (Keras's default: ``strides=None``);
# stride < pool size makes windows **overlap**; stride > 1 **downsamples**: the output has
# ``floor((H - pool) / stride) + 1`` rows (``padding="valid"``). Pooling has no weights.
#
# The backward pass shows what each kind of pooling "listens to": max sends the gradient to the winner
# only, average spreads it evenly, L2 in proportion to each input.
#
# Run: ``python examples/pooling.py [--out DIR] [--index N]``.

# %%
import argparse
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent if "__file__" in globals() else Path.cwd()
try:
    import tinycnn  # noqa: F401
except ImportError:  # running from a clone without `pip install -e .`
    sys.path.insert(0, str(HERE.parent))

from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from tinycnn import kernels
from tinycnn.datasets import fashion_mnist
from tinycnn.layers import AveragePooling2D, Conv2D, L2Pooling2D, MaxPooling2D
from tinycnn.plot import save_figure

kernels.set_backend("reference")  # every number below comes from tinycnn/kernels/reference.py

parser = argparse.ArgumentParser(description=__doc__)
parser.add_argument("--out", default=str(HERE / "output" / "pooling"), help="folder for the figures")
parser.add_argument("--index", type=int, default=0, help="which Fashion-MNIST test image")
args, _ = parser.parse_known_args()
out = Path(args.out)


def show_numbers(ax, values, title, fmt="{:.2f}", windows=None, cmap="Blues", vmax=None):
    """A small array drawn as coloured cells with their values written in."""
    ax.imshow(values, cmap=cmap, vmin=0, vmax=vmax if vmax is not None else max(values.max(), 1e-12))
    for (r, c), v in np.ndenumerate(values):
        ax.text(c, r, fmt.format(v), ha="center", va="center", fontsize=10)
    if windows:
        for r in range(0, values.shape[0], windows):
            for c in range(0, values.shape[1], windows):
                ax.add_patch(
                    Rectangle((c - 0.5, r - 0.5), windows, windows, fill=False, edgecolor="firebrick", linewidth=2)
                )
    ax.set_title(title, fontsize=10)
    ax.set_xticks(range(values.shape[1]))
    ax.set_yticks(range(values.shape[0]))
    ax.set_xlabel("column")
    ax.set_ylabel("row")


# %% [markdown]
# ## 1. Three summaries of the same windows -- forward and backward

# %%
x_small = np.array([[1.0, 3.0, 2.0, 0.0], [4.0, 0.0, 1.0, 5.0], [0.0, 2.0, 6.0, 1.0], [1.0, 1.0, 0.0, 3.0]])
layers = {
    "max": MaxPooling2D(2, dtype="float64"),
    "average": AveragePooling2D(2, dtype="float64"),
    "L2 norm": L2Pooling2D(2, dtype="float64"),
}
forward, backward = {}, {}
for name, layer in layers.items():
    forward[name] = layer.forward(x_small.reshape(1, 4, 4, 1))[0, :, :, 0]
    backward[name] = layer.backward(np.ones((1, 2, 2, 1)))[0, :, :, 0]  # where does dy = 1 go?
    print(f"{name:>8} pooling: {forward[name].round(3).tolist()}")

image, label = fashion_mnist.example_image(args.index)
H, W = image.shape
edges = Conv2D(1, 3, padding="same", activation="relu", use_bias=False, dtype="float64")
edges.build((None, H, W, 1))
edges.set_weights([np.array([[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]], dtype=np.float64).reshape(3, 3, 1, 1) / 4])
feature_map = edges.forward(image.reshape(1, H, W, 1))  # a detector-stage map (1, 28, 28, 1)

# %%
fig = Figure(figsize=(13, 10), layout="constrained")
fig.suptitle("Max, average and L2-norm pooling (2x2 windows, stride 2) in tinycnn: forward, backward, on an image")
show_numbers(fig.add_subplot(3, 4, 1), x_small, "input x (4x4), 2x2 windows", "{:g}", windows=2)
for k, name in enumerate(layers):
    show_numbers(fig.add_subplot(3, 4, 2 + k), forward[name], f"{name} pooling: y (2x2)", vmax=6)
ax = fig.add_subplot(3, 4, 5)
ax.text(
    0.5,
    0.5,
    "backward:\nsend dy = 1 from every\noutput unit; dx shows\nwhere it arrives",
    ha="center",
    va="center",
    fontsize=11,
)
ax.set_title("gradient routing")
ax.axis("off")
for k, name in enumerate(layers):
    rule = {"max": "all of dy to the winner", "average": "dy / 4 to each cell", "L2 norm": "dy * x / y"}[name]
    show_numbers(fig.add_subplot(3, 4, 6 + k), backward[name], f"{name}: dx ({rule})", windows=2, cmap="Greens", vmax=1)
ax = fig.add_subplot(3, 4, 9)
ax.imshow(feature_map[0, :, :, 0], cmap="magma")
ax.set_title(f"edge map of {label} ({H}x{W})", fontsize=10)
ax.set_xlabel("column")
ax.set_ylabel("row")
for k, (name, layer) in enumerate(layers.items()):
    pooled = layer.forward(feature_map)
    ax = fig.add_subplot(3, 4, 10 + k)
    ax.imshow(pooled[0, :, :, 0], cmap="magma")
    ax.set_title(f"{name} pooling 2x2: {pooled.shape[1]}x{pooled.shape[2]}", fontsize=10)
    ax.set_xlabel("column")
    ax.set_ylabel("row")
save_figure(fig, out / "pooling_modes.png")
fig

# %% [markdown]
# ## 2. Pool size and stride: tiling, overlap, downsampling
#
# Top: where the windows of one row fall on a 12-pixel row. Bottom: the edge map after max pooling.

# %%
configs = [
    (2, 2, "tiling"),
    (3, 1, "overlap, no downsampling"),
    (3, 2, "overlap + downsampling"),
    (4, 4, "coarse tiling"),
]
fig = Figure(figsize=(15, 6.4), layout="constrained")
fig.suptitle("Max pooling: pool size, stride, overlap and downsampling (padding='valid')")
ax = fig.add_subplot(2, 5, 1)
ax.text(
    0.5, 0.5, "windows along\none row of\n12 pixels\n(one bar per\noutput unit)", ha="center", va="center", fontsize=11
)
ax.axis("off")
ax = fig.add_subplot(2, 5, 6)
ax.imshow(feature_map[0, :, :, 0], cmap="magma")
ax.set_title(f"input: {H}x{W}", fontsize=10)
ax.set_xlabel("column")
ax.set_ylabel("row")
for k, (pool, stride, what) in enumerate(configs):
    layer = MaxPooling2D(pool, strides=stride, dtype="float64")
    pooled = layer.forward(feature_map)
    n_row = (12 - pool) // stride + 1
    ax = fig.add_subplot(2, 5, 2 + k)
    for u in range(n_row):
        ax.barh(u, pool, left=u * stride - 0.5, height=0.7, color=f"C{u % 10}", alpha=0.7)
    ax.set_xlim(-0.7, 11.7)
    ax.set_xticks(range(12))
    ax.set_ylim(n_row - 0.4, -0.6)
    ax.set_yticks(range(0, n_row, 1 if n_row <= 6 else 2))
    ax.set_xlabel("input pixel")
    ax.set_ylabel("output unit")
    ax.set_title(f"pool {pool}, stride {stride}\n{what}: {n_row} outputs", fontsize=10)
    ax.grid(axis="x", alpha=0.3)
    ax = fig.add_subplot(2, 5, 7 + k)
    ax.imshow(pooled[0, :, :, 0], cmap="magma")
    ax.set_title(
        f"MaxPooling2D({pool}, strides={stride}): {pooled.shape[1]}x{pooled.shape[2]}\n"
        f"floor(({H} - {pool}) / {stride}) + 1 = {(H - pool) // stride + 1}",
        fontsize=10,
    )
    ax.set_xlabel("column")
    ax.set_ylabel("row")
    assert pooled.shape[1] == (H - pool) // stride + 1
    print(f"pool {pool}, stride {stride}: {H}x{W} -> {pooled.shape[1]}x{pooled.shape[2]} ({what})")
save_figure(fig, out / "pooling_stride.png")
print(f"figures written to {out}/")
fig
