# %% [markdown]
# # Fashion-MNIST with data augmentation
#
# The course CNN (`build()` of `fashion_mnist_cnn.py`), trained on images that an `ImageDataGenerator`
# turns, shifts, zooms and mirrors anew every epoch, so the network sees 60,000 slightly different
# garments each time instead of memorising the same ones. The test set, unaugmented, is the validation.
#
# Run: `python examples/fashion_mnist_augmentation.py [--epochs 10] [--limit N] [--out DIR]`.
# `--epochs 0` only draws the picture of augmented samples (`augmented_samples.png`, copied to
# `docs/images/fashion_mnist_augmentation.png`). Apart from the imports, this is tf.keras code:
# `model.fit(generator, ...)` as in Keras 2 and 3.

# %%
import argparse
import os
import shutil
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from fashion_mnist_cnn import build  # noqa: E402  (the course model, unchanged)

from tinycnn.datasets import fashion_mnist  # noqa: E402
from tinycnn.optimizers import SGD  # noqa: E402
from tinycnn.preprocessing.image import ImageDataGenerator  # noqa: E402
from tinycnn.utils import set_random_seed, to_categorical  # noqa: E402


# %%
def make_generator():
    """The augmentation: up to 10 degrees of rotation, 10 % shifts and zoom, left-right mirroring."""
    return ImageDataGenerator(
        rotation_range=10,
        width_shift_range=0.1,
        height_shift_range=0.1,
        zoom_range=0.1,
        horizontal_flip=True,
        fill_mode="nearest",
    )


def draw_samples(x, labels, datagen, path, columns=8, seed=0):
    """One row per image: the original, then ``columns - 1`` augmented versions drawn by ``datagen``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = len(x)
    fig, axes = plt.subplots(rows, columns, figsize=(1.3 * columns, 1.4 * rows))
    it = datagen.flow(np.repeat(x, columns - 1, axis=0), batch_size=rows * (columns - 1), shuffle=False, seed=seed)
    augmented = it[0].reshape(rows, columns - 1, *x.shape[1:])
    for r in range(rows):
        for c in range(columns):
            image = x[r] if c == 0 else augmented[r, c - 1]
            ax = axes[r, c]
            ax.imshow(image[:, :, 0], cmap="gray_r", vmin=0, vmax=1)
            ax.set_xticks([])
            ax.set_yticks([])
            if c == 0:
                ax.set_ylabel(fashion_mnist.CLASS_NAMES[labels[r]], fontsize=8)
            if r == 0:
                ax.set_title("original" if c == 0 else f"augmented {c}", fontsize=8)
    fig.suptitle(
        "ImageDataGenerator(rotation_range=10, width/height_shift_range=0.1, zoom_range=0.1, horizontal_flip=True)",
        fontsize=9,
    )
    fig.tight_layout()
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)


# %%
def main(argv=None):
    parser = argparse.ArgumentParser(description="Train the course CNN on augmented Fashion-MNIST.")
    parser.add_argument("--epochs", type=int, default=2, help="0: only draw the augmented samples (default: 2)")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--lr", type=float, default=0.01)
    parser.add_argument("--limit", type=int, default=None, help="train on the first N images only")
    parser.add_argument("--test-limit", type=int, default=None, help="validate on the first N test images only")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--verbose", type=int, default=1)
    parser.add_argument("--out", default=os.path.join("examples", "output", "fashion_mnist_augmentation"))
    parser.add_argument(
        "--docs", default=os.path.join("docs", "images"), help="where the picture is copied for the docs ('' to skip)"
    )
    args, _ = parser.parse_known_args(argv)

    set_random_seed(args.seed)
    (train_x, train_labels), (test_x, test_labels) = fashion_mnist.load_data()
    if args.limit:
        train_x, train_labels = train_x[: args.limit], train_labels[: args.limit]
    if args.test_limit:
        test_x, test_labels = test_x[: args.test_limit], test_labels[: args.test_limit]
    train_x = train_x.reshape((-1, 28, 28, 1)).astype("float32") / 255.0
    test_x = test_x.reshape((-1, 28, 28, 1)).astype("float32") / 255.0
    train_y, test_y = to_categorical(train_labels, 10), to_categorical(test_labels, 10)
    datagen = make_generator()

    picture = os.path.join(args.out, "augmented_samples.png")
    first = [int(np.flatnonzero(train_labels == k)[0]) for k in (0, 1, 7, 9) if np.any(train_labels == k)]
    draw_samples(train_x[first], train_labels[first], datagen, picture, seed=args.seed)
    if args.docs:
        os.makedirs(args.docs, exist_ok=True)
        shutil.copyfile(picture, os.path.join(args.docs, "fashion_mnist_augmentation.png"))
    print(f"[INFO] figures written to {picture}")
    if args.epochs <= 0:
        return None, None

    print("[INFO] training the course CNN on augmented batches...")
    model = build(width=28, height=28, depth=1, classes=10)
    model.compile(
        loss="categorical_crossentropy", optimizer=SGD(learning_rate=args.lr, momentum=0.9), metrics=["accuracy"]
    )
    train_gen = datagen.flow(train_x, train_y, batch_size=args.batch_size, seed=args.seed)
    history = model.fit(train_gen, epochs=args.epochs, validation_data=(test_x, test_y), verbose=args.verbose)
    accuracy = float(np.mean(model.predict(test_x, batch_size=256).argmax(axis=1) == test_labels))
    print(f"test accuracy after {args.epochs} epoch(s) with augmentation: {accuracy:.4f}")
    return model, history


if __name__ == "__main__":
    main()
