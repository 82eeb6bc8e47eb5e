# %% [markdown]
# # 2-D convolution: edge detection, parameter sharing, sparse interactions, a volume of feature maps
#
# Goodfellow et al., *Deep Learning*, 9.1-9.3. In 2-D, deep-learning libraries compute, for every output
# position ``(i, j)``, the kernel laid over the image around ``(i, j)``:
#
#     y[i, j] = sum_{a, b} x[i + a, j + b] * kernel[a, b]
#
# 1. **Parameter sharing.** The kernel ``[-1, 1]`` computes ``x[i, j+1] - x[i, j]``: each pixel minus its
#    neighbour on the left. It lights up at vertical edges. The *same two numbers* serve every position;
#    a Dense layer doing the same job needs one weight per (input pixel, output pixel) pair.
# 2. **Sparse interactions.** That Dense weight matrix is almost all zeros: each output depends on 2 inputs.
# 3. **A bank of filters** makes a 3-D output volume ``(H, W, F)``; a convolutional layer is then the
#    convolution stage, the **detector stage** (ReLU) and the pooling stage.
#
# Run: ``python examples/conv2d_edge_detection.py [--out DIR] [--index N]``.

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
from tinycnn.layers import Conv2D, Dense, MaxPooling2D, ReLU
from tinycnn.plot import save_figure

kernels.set_backend("reference")  # every number below comes from tinycnn/kernels/reference.py

parser = argparse.ArgumentParser(description=__doc__)
parser.add_argument("--out", default=str(HERE / "output" / "conv2d_edge_detection"), help="folder for the figures")
parser.add_argument("--index", type=int, default=0, help="which Fashion-MNIST test image (0 is an ankle boot)")
args, _ = parser.parse_known_args()
out = Path(args.out)


image, label = fashion_mnist.example_image(args.index)
H, W = image.shape
x = image.reshape(1, H, W, 1)
print(f"image: {label}, {H}x{W}")

# %% [markdown]
# ## 1. Subtract the pixel on the left: a Conv2D with two weights

# %%
edge = Conv2D(1, (1, 2), use_bias=False, dtype="float64")
edge.build((None, H, W, 1))
edge.set_weights([np.array([-1.0, 1.0]).reshape(1, 2, 1, 1)])  # kernel[0, 0] = -1, kernel[0, 1] = +1
y = edge.forward(x)  # (1, 28, 27, 1)
assert np.allclose(y[0, :, :, 0], image[:, 1:] - image[:, :-1])  # the formula, checked

# The same map as a Dense layer: column q of its kernel is the response of output q to each input pixel.
# Pushing the H*W one-pixel images through the convolution gives the whole matrix at once.
basis = np.eye(H * W).reshape(H * W, H, W, 1)
dense_kernel = edge.forward(basis).reshape(H * W, -1)  # (784, 756)
dense = Dense(dense_kernel.shape[1], use_bias=False, dtype="float64")
dense.build((None, H * W))
dense.set_weights([dense_kernel])
assert np.allclose(dense.forward(image.reshape(1, -1)), y.reshape(1, -1))

n_out = y[0, :, :, 0].size
conv_params, dense_params = edge.count_params(), dense.count_params()
nonzero = int(np.count_nonzero(dense_kernel))
print(f"Conv2D (1x2 kernel): {conv_params} parameters; {2 * n_out:,} multiply-adds for {n_out} outputs")
print(
    f"Dense doing the same: {dense_params:,} parameters ({H * W} x {n_out}); {dense_params:,} multiply-adds; "
    f"only {nonzero:,} of them non-zero ({nonzero / dense_params:.2%})"
)

# %%
fig = Figure(figsize=(13, 3.8), layout="constrained")
fig.suptitle("Edge detection by subtracting the pixel on the left: one 1x2 kernel shared by every position")
axes = fig.subplot_mosaic([["x", "k", "y", "d"]], width_ratios=[1, 0.7, 1.2, 1])
ax = axes["x"]
ax.imshow(image, cmap="gray")
ax.set_title(f"input x: {label} ({H}x{W})")
ax.set_xlabel("column j")
ax.set_ylabel("row i")
ax = axes["k"]
ax.imshow(np.array([[-1.0, 1.0]]), cmap="RdBu_r", vmin=-1, vmax=1)
for b, v in enumerate((-1, 1)):
    ax.text(b, 0, f"{v:+d}", ha="center", va="center", fontsize=16)
ax.set_xticks([0, 1], ["b = 0", "b = 1"])
ax.set_yticks([])
ax.set_title("kernel (1x2)\ny = x[i, j+1] - x[i, j]")
ax.set_xlabel(f"{conv_params} parameters")
ax = axes["y"]
limit = np.abs(y).max()
im = ax.imshow(y[0, :, :, 0], cmap="RdBu_r", vmin=-limit, vmax=limit)
fig.colorbar(im, ax=ax, shrink=0.8)
ax.set_title(f"output y ({y.shape[1]}x{y.shape[2]}): vertical edges")
ax.set_xlabel("column j")
ax.set_ylabel("row i")
ax = axes["d"]
ax.imshow(dense_kernel[:32, :32], cmap="RdBu_r", vmin=-1, vmax=1, interpolation="nearest")
ax.set_title(
    f"the same map as a Dense kernel:\n{dense_params:,} weights, {nonzero / dense_params:.2%} non-zero\n"
    f"(top-left 32x32; -1 blue, +1 red)",
    fontsize=9,
)
ax.set_xlabel("output unit")
ax.set_ylabel("input pixel")
save_figure(fig, out / "edge_detection.png")
fig

# %% [markdown]
# ## 2. A bank of filters: a 3-D volume, then the detector stage and the pooling stage
#
# Four hand-made 3x3 kernels -- vertical, horizontal and the two diagonal edge detectors -- in *one* Conv2D
# layer: ``kernel`` has shape ``(3, 3, 1, 4)`` and the output is a volume ``(26, 26, 4)``, one feature map
# per filter. ReLU keeps the positive evidence (the detector stage), max pooling summarizes each 2x2 block.

# %%
bank = (
    np.stack(
        [
            [[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]],  # vertical edge, dark on the left (Sobel)
            [[-1, -2, -1], [0, 0, 0], [1, 2, 1]],  # horizontal edge, dark above
            [[-2, -1, 0], [-1, 0, 1], [0, 1, 2]],  # diagonal edge
            [[0, 1, 2], [-1, 0, 1], [-2, -1, 0]],  # the other diagonal
        ],
        axis=-1,
    )
    .astype(np.float64)
    .reshape(3, 3, 1, 4)
    / 4.0
)
names = ["vertical", "horizontal", "diagonal \\", "diagonal /"]
conv = Conv2D(4, 3, dtype="float64")
conv.build((None, H, W, 1))
conv.set_weights([bank, np.zeros(4)])
z = conv.forward(x)  # convolution stage (1, 26, 26, 4)
a = ReLU(dtype="float64").forward(z)  # detector stage
p = MaxPooling2D(2, dtype="float64").forward(a)  # pooling stage  (1, 13, 13, 4)
print(
    f"Conv2D(4, 3): kernel {conv.params['kernel'].shape}, {conv.count_params()} parameters; "
    f"volume {z.shape[1:]} -> ReLU -> MaxPooling2D -> {p.shape[1:]}"
)

# %%
fig = Figure(figsize=(9.5, 9.5), layout="constrained")
fig.suptitle("The three stages of a convolutional layer, for a bank of 4 filters")
limit = np.abs(z).max()
for f in range(4):
    panels = [
        (bank[:, :, 0, f], "RdBu_r", f"kernel: {names[f]}", "weights (3x3)"),
        (z[0, :, :, f], "RdBu_r", "convolution stage", f"{z.shape[1]}x{z.shape[2]}"),
        (a[0, :, :, f], "magma", "detector stage: ReLU", f"{a.shape[1]}x{a.shape[2]}"),
        (p[0, :, :, f], "magma", "pooling stage: max 2x2", f"{p.shape[1]}x{p.shape[2]}"),
    ]
    for c, (img, cmap, title, xlabel) in enumerate(panels):
        ax = fig.add_subplot(4, 4, 4 * f + c + 1)
        if c == 0:
            ax.imshow(img, cmap=cmap, vmin=-0.5, vmax=0.5)
            for (r, q), v in np.ndenumerate(img):
                ax.text(q, r, f"{v:g}", ha="center", va="center", fontsize=8)
            ax.set_ylabel(f"filter {f}")
        else:
            ax.imshow(img, cmap=cmap, vmin=-limit if cmap == "RdBu_r" else 0, vmax=limit)
        ax.set_title(title, fontsize=9)
        ax.set_xlabel(xlabel, fontsize=8)
        ax.set_xticks([])
        ax.set_yticks([])
save_figure(fig, out / "conv_layer_stages.png")
fig

# %%
fig = Figure(figsize=(8, 5), layout="constrained")
ax = fig.add_subplot()
h, w, F = z.shape[1:]
dx, dy = 0.6 * w, 0.38 * h  # each sheet drawn up and to the right of the one before
for f in reversed(range(F)):  # back to front, so the front sheet covers the others
    x0, y0 = f * dx, f * dy
    ax.imshow(
        z[0, :, :, f], cmap="RdBu_r", vmin=-limit, vmax=limit, extent=(x0, x0 + w, y0, y0 + h), zorder=2 * (F - f)
    )
    ax.add_patch(Rectangle((x0, y0), w, h, fill=False, edgecolor="k", linewidth=1, zorder=2 * (F - f) + 1))
    ax.text(x0 + w + 1, y0 + 1, f"f = {f}: {names[f]}", fontsize=9, va="bottom")
for cx, cy in ((0, 0), (w, 0), (0, h), (w, h)):  # the edges of the volume, front to back
    ax.plot([cx, cx + (F - 1) * dx], [cy, cy + (F - 1) * dy], color="0.5", linestyle="--", linewidth=0.8, zorder=0)
ax.annotate("", xy=(w, -3), xytext=(0, -3), arrowprops={"arrowstyle": "<->"})
ax.text(w / 2, -4, f"width {w}", ha="center", va="top")
ax.annotate("", xy=(-3, h), xytext=(-3, 0), arrowprops={"arrowstyle": "<->"})
ax.text(-4, h / 2, f"height {h}", ha="right", va="center", rotation=90)
ax.set_xlim(-10, (F - 1) * dx + w + 22)
ax.set_ylim(-10, (F - 1) * dy + h + 2)
ax.set_aspect("equal")
ax.axis("off")
ax.set_title(f"Conv2D(4, 3) output: a volume {tuple(z.shape[1:])} = one {h}x{w} feature map per filter (depth 4)")
save_figure(fig, out / "feature_volume.png")
print(f"figures written to {out}/")
fig
