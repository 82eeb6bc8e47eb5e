# %% [markdown]
# # Receptive fields grow with depth
#
# Goodfellow et al., *Deep Learning*, 9.2 (figure 9.4): a unit of a convolutional layer is connected to a
# small patch of the layer below -- its kernel -- but that patch's units are connected to patches of
# their own, so units deeper in the network *indirectly* see a larger part of the input: their
# **receptive field**.
#
# We measure it exactly with tinycnn's backward pass (:func:`tinycnn.plot.receptive_field`): send a
# one-hot gradient from one unit back to the input; the pixels that receive a non-zero gradient are the
# ones the unit depends on. (The layers are replaced by twins with all-ones kernels and average pooling,
# so that no gradient cancels or is dropped by a ReLU or a max.) Then we compare with the formula
#
#     r_l = r_{l-1} + (k_l - 1) * d_l * j_{l-1},     j_l = j_{l-1} * s_l,     r_0 = 1, j_0 = 1
#
# (kernel size ``k``, dilation ``d``, stride ``s``; ``j`` is the distance, in input pixels, between
# neighbouring units of a layer).
#
# Run: ``python examples/receptive_field.py [--out DIR] [--index N]``.

# %%
import argparse
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent if "__file__" in globals() else Path.cwd()
try:
    import tinycnn  # noqa: F401
except ImportError:  # running from a clone without `pip install -e .`
    sys.path.insert(0, str(HERE.parent))

from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from tinycnn import kernels
from tinycnn.datasets import fashion_mnist
from tinycnn.layers import Activation, Conv2D, Dense, Flatten, MaxPooling2D
from tinycnn.plot import plot_receptive_field, receptive_field, save_figure

kernels.set_backend("reference")  # every number below comes from tinycnn/kernels/reference.py

parser = argparse.ArgumentParser(description=__doc__)
parser.add_argument("--out", default=str(HERE / "output" / "receptive_field"), help="folder for the figures")
parser.add_argument("--index", type=int, default=0, help="which Fashion-MNIST test image")
args, _ = parser.parse_known_args()
out = Path(args.out)


def formula(layers):
    """Receptive-field size after each Conv2D, from the recurrence above (one axis; square kernels)."""
    r, j, sizes = 1, 1, []
    for layer in layers:
        if isinstance(layer, Conv2D):
            r += (layer.kernel_size[0] - 1) * layer.dilation_rate[0] * j
            j *= layer.strides[0]
            sizes.append(r)
        elif isinstance(layer, MaxPooling2D):
            r += (layer.pool_size[0] - 1) * j
            j *= layer.strides[0]
    return sizes


def report(name, layers, input_shape):
    fields = receptive_field(layers, input_shape)
    expected = formula(layers)
    print(f"{name}:")
    for f, r in zip(fields, expected):
        print(
            f"  after {f['depth']} conv layer(s): unit {f['unit']} of a {f['map_shape']} map sees "
            f"{f['size'][0]}x{f['size'][1]} input pixels (formula: {r}x{r})"
        )
        assert f["size"] == (r, r)
    return fields


# %% [markdown]
# ## 1. A stack of 3x3 convolutions: the field grows by 2 pixels per layer

# %%
plain = [
    Conv2D(8, 3, padding="same", activation="relu"),
    Conv2D(8, 3, padding="same", activation="relu"),
    Conv2D(8, 3, padding="same", activation="relu"),
]
report("three 3x3 convolutions", plain, (15, 15))
plot_receptive_field(plain, (15, 15), path=out / "receptive_field_conv.png")

# %% [markdown]
# ## 2. Pooling (or stride) in between: the field grows much faster
#
# After a 2x2 pooling, neighbouring units are 2 input pixels apart, so the next 3x3 kernel spans 6 input
# pixels instead of 3: the course's CNN-then-dense classifiers rely on this to see whole objects.

# %%
pooled = [
    Conv2D(8, 3, activation="relu"),
    MaxPooling2D(2),
    Conv2D(8, 3, activation="relu"),
    MaxPooling2D(2),
    Conv2D(8, 3, activation="relu"),
    Flatten(),
    Dense(10),
    Activation("softmax"),
]
fields = report("conv-pool-conv-pool-conv", pooled, (28, 28))
plot_receptive_field(pooled, (28, 28), path=out / "receptive_field_pooling.png")

# %% [markdown]
# ## 3. Dilated convolutions: the same 3x3 kernels, spread out -- exponential growth without pooling

# %%
dilated = [
    Conv2D(8, 3, padding="same", dilation_rate=1),
    Conv2D(8, 3, padding="same", dilation_rate=2),
    Conv2D(8, 3, padding="same", dilation_rate=4),
]
report("3x3 convolutions with dilation 1, 2, 4", dilated, (21, 21))
plot_receptive_field(dilated, (21, 21), path=out / "receptive_field_dilated.png")

# %% [markdown]
# ## 4. What those units see of a Fashion-MNIST image


# %%
image, label = fashion_mnist.example_image(args.index)
fig = Figure(figsize=(5.5, 5), layout="constrained")
ax = fig.add_subplot()
ax.imshow(image, cmap="gray")
for f, colour in zip(fields, ("gold", "orange", "red")):
    (r0, r1), (c0, c1) = f["rows"], f["cols"]
    ax.add_patch(
        Rectangle(
            (c0 - 0.5, r0 - 0.5),
            c1 - c0 + 1,
            r1 - r0 + 1,
            fill=False,
            edgecolor=colour,
            linewidth=2.5,
            label=f"after conv {f['depth']}: {f['size'][0]}x{f['size'][1]}",
        )
    )
ax.set_title(f"{label}: what one central unit sees\n(conv-pool-conv-pool-conv, 3x3 kernels, 2x2 pools)")
ax.set_xlabel("column")
ax.set_ylabel("row")
ax.legend(loc="lower left", fontsize="small")
save_figure(fig, out / "receptive_field_on_image.png")
print(f"figures written to {out}/")
fig
