# %% [markdown]
# # Equivariance of convolution, near-invariance of max pooling
#
# Goodfellow et al., *Deep Learning*, 9.2 and 9.3.
#
# * Convolution is **equivariant to translation**: move the image, and the feature map moves the same way,
#   ``conv(shift(x)) == shift(conv(x))``. The same kernel is applied everywhere, so *what* it finds does not
#   depend on *where*.
# * Pooling makes the representation **nearly invariant** to small translations: shift the input by a pixel
#   and most max-pooled outputs do not change, because the maximum of a window is still inside the window.
#
# We check both with tinycnn layers on a Fashion-MNIST image and measure them.
#
# Run: ``python examples/equivariance.py [--out DIR] [--index N]``.

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

from tinycnn import kernels
from tinycnn.datasets import fashion_mnist
from tinycnn.layers import AveragePooling2D, Conv2D, MaxPooling2D
from tinycnn.plot import save_figure

kernels.set_backend("reference")  # every number below comes from tinycnn/kernels/reference.py

parser = argparse.ArgumentParser(description=__doc__)
parser.add_argument("--out", default=str(HERE / "output" / "equivariance"), help="folder for the figures")
parser.add_argument("--index", type=int, default=0, help="which Fashion-MNIST test image")
args, _ = parser.parse_known_args()
out = Path(args.out)


def shift(x, dy, dx):
    """Move the content of NHWC images ``dy`` rows down and ``dx`` columns right, filling with zeros."""
    out = np.zeros_like(x)
    H, W = x.shape[1:3]
    out[:, max(dy, 0) : H + min(dy, 0), max(dx, 0) : W + min(dx, 0)] = x[
        :, max(-dy, 0) : H - max(dy, 0), max(-dx, 0) : W - max(dx, 0)
    ]
    return out


image, label = fashion_mnist.example_image(args.index)
image = np.pad(image, 8)  # a black margin, so that shifts of a few pixels lose nothing
H, W = image.shape
x = image.reshape(1, H, W, 1)

# One convolutional layer: four edge detectors (vertical, horizontal, two diagonals), ReLU detector stage.
bank = (
    np.stack(
        [
            [[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]],
            [[-1, -2, -1], [0, 0, 0], [1, 2, 1]],
            [[-2, -1, 0], [-1, 0, 1], [0, 1, 2]],
            [[0, 1, 2], [-1, 0, 1], [-2, -1, 0]],
        ],
        axis=-1,
    )
    .astype(np.float64)
    .reshape(3, 3, 1, 4)
    / 4.0
)
conv = Conv2D(4, 3, padding="same", activation="relu", dtype="float64")
conv.build((None, H, W, 1))
conv.set_weights([bank, np.zeros(4)])

# %% [markdown]
# ## 1. Equivariance: conv(shift(x)) == shift(conv(x))

# %%
dy, dx = 3, 5
a = conv.forward(x)
a_of_shifted = conv.forward(shift(x, dy, dx))
shifted_a = shift(a, dy, dx)
gap = float(np.abs(a_of_shifted - shifted_a).max())
print(
    f"shift by ({dy}, {dx}): max |conv(shift(x)) - shift(conv(x))| = {gap:.1e} (feature maps are up to {a.max():.2f})"
)
assert gap < 1e-12

# %%
fig = Figure(figsize=(12, 3.4), layout="constrained")
fig.suptitle(f"Equivariance: shifting the image by ({dy}, {dx}) pixels shifts the feature map by ({dy}, {dx})")
vmax = float(a[..., 0].max())
panels = [
    (x[0, :, :, 0], "gray", f"image x ({label})", None),
    (shift(x, dy, dx)[0, :, :, 0], "gray", f"shift(x): {dy} down, {dx} right", None),
    (a[0, :, :, 0], "magma", "conv(x) (vertical edges)", vmax),
    (a_of_shifted[0, :, :, 0], "magma", "conv(shift(x))", vmax),
    (
        a_of_shifted[0, :, :, 0] - shifted_a[0, :, :, 0],
        "RdBu_r",
        f"conv(shift(x)) - shift(conv(x))\nmax |difference| = {gap:.0e}",
        -1,
    ),
]
for k, (img, cmap, title, v) in enumerate(panels):
    ax = fig.add_subplot(1, 5, k + 1)
    if v == -1:
        ax.imshow(img, cmap=cmap, vmin=-vmax, vmax=vmax)
    else:
        ax.imshow(img, cmap=cmap, vmin=0, vmax=v)
    ax.axhline(H / 2, color="c", linewidth=0.5)
    ax.axvline(W / 2, color="c", linewidth=0.5)
    ax.set_title(title, fontsize=9)
    ax.set_xlabel("column j")
    ax.set_ylabel("row i")
save_figure(fig, out / "equivariance.png")
fig

# %% [markdown]
# ## 2. Max pooling: nearly invariant to small shifts
#
# First the picture of Goodfellow's figure 9.8, in 1-D: a row of detector outputs, max-pooled with width
# 3 and stride 1. Shift the input right by one: *every* detector value changes, far fewer pooled ones do.

# %%
detector = np.array([0.1, 1.0, 0.2, 0.1, 0.0, 0.3, 0.9, 0.1])
detector_shifted = np.concatenate([[0.3], detector[:-1]])  # one step right, a new value enters
pool1d = MaxPooling2D((1, 3), strides=1, padding="same", dtype="float64")
pooled = pool1d.forward(detector.reshape(1, 1, -1, 1))[0, 0, :, 0]
pooled_shifted = pool1d.forward(detector_shifted.reshape(1, 1, -1, 1))[0, 0, :, 0]
changed_detector = int(np.sum(detector != detector_shifted))
changed_pooled = int(np.sum(pooled != pooled_shifted))
print(
    f"1-D: shift by one -> {changed_detector} of {len(detector)} detector values change, "
    f"{changed_pooled} of {len(pooled)} max-pooled values change"
)

# %% [markdown]
# Then the image: shift it right by 0..6 pixels and count the units that change, at the same positions,
# without pooling and after several poolings. (Only units that are non-zero before or after are counted.)

# %%
poolings = {
    "no pooling (detector stage)": None,
    "average 2x2, stride 2": AveragePooling2D(2, dtype="float64"),
    "max 2x2, stride 2": MaxPooling2D(2, dtype="float64"),
    "max 3x3, stride 1": MaxPooling2D(3, strides=1, padding="same", dtype="float64"),
    "max 4x4, stride 4": MaxPooling2D(4, dtype="float64"),
}
shifts = np.arange(0, 7)
changed = {}
relative = {}
for name, pool in poolings.items():
    g0 = a if pool is None else pool.forward(a)
    changed[name], relative[name] = [], []
    for s in shifts:
        a_s = conv.forward(shift(x, 0, int(s)))
        g = a_s if pool is None else pool.forward(a_s)
        active = (g != 0) | (g0 != 0)
        changed[name].append(float(np.mean(np.abs(g - g0)[active] > 1e-9)))
        relative[name].append(float(np.linalg.norm(g - g0) / np.linalg.norm(g0)))
print("fraction of active units that change, for a shift of 1 pixel:")
for name in poolings:
    print(f"  {name:<28} {changed[name][1]:6.1%}   (relative L2 change {relative[name][1]:.2f})")
assert changed["max 2x2, stride 2"][1] < changed["no pooling (detector stage)"][1]

# %%
fig = Figure(figsize=(12, 4.2), layout="constrained")
fig.suptitle("Max pooling is nearly invariant to small translations")
axes = fig.subplot_mosaic([["row", "curve"]], width_ratios=[1, 1.15])
ax = axes["row"]
positions = np.arange(len(detector))
for level, (values, pooled_values, name) in enumerate(
    ((detector, pooled, "original"), (detector_shifted, pooled_shifted, "shifted right by 1"))
):
    base = -3.0 * level
    for k in positions:
        ax.text(
            k,
            base + 1,
            f"{pooled_values[k]:.1f}",
            ha="center",
            va="center",
            color="firebrick" if level and pooled_values[k] != pooled[k] else "k",
            bbox={"boxstyle": "circle", "fc": "w", "ec": "0.4"},
        )
        ax.text(
            k,
            base,
            f"{values[k]:.1f}",
            ha="center",
            va="center",
            color="firebrick" if level and values[k] != detector[k] else "k",
            bbox={"boxstyle": "circle", "fc": "0.92", "ec": "0.4"},
        )
    ax.text(-0.9, base + 1, "pooling", ha="right", va="center", fontsize=9)
    ax.text(-0.9, base, "detector", ha="right", va="center", fontsize=9)
    ax.text(3.5, base + 1.75, name, ha="center", fontsize=10)
ax.set_xlim(-3, len(detector))
ax.set_ylim(-3.8, 2.3)
ax.set_xticks(positions)
ax.set_yticks([])
ax.set_xlabel("position (red: changed by the shift)")
ax.set_title(
    f"max pool width 3, stride 1: {changed_detector}/{len(detector)} detector values change, "
    f"{changed_pooled}/{len(pooled)} pooled",
    fontsize=9,
)
for side in ("top", "right", "left"):
    ax.spines[side].set_visible(False)
ax = axes["curve"]
for name in poolings:
    ax.plot(
        shifts,
        changed[name],
        marker="o",
        label=name,
        linewidth=2 if name.startswith("max") else 1,
        linestyle=":" if name.startswith("average") else "-",
    )
ax.set_xlabel("shift of the image to the right (pixels)")
ax.set_ylabel("fraction of active units that change")
ax.set_title(
    f"{label}: 1-pixel shift changes {changed['no pooling (detector stage)'][1]:.0%} of detector "
    f"units, {changed['max 4x4, stride 4'][1]:.0%} after max pool 4x4",
    fontsize=9,
)
ax.set_ylim(-0.02, 1.05)
ax.grid(alpha=0.3)
ax.legend(fontsize="small", loc="lower right")
save_figure(fig, out / "pooling_invariance.png")
print(f"figures written to {out}/")
fig
