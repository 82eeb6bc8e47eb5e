# %% [markdown]
# # Fashion-MNIST with the course's CNN
#
# Two convolutional stacks -- [Conv2D 3x3 "same" -> ReLU -> BatchNorm] x2 -> MaxPool 2x2, with 32 then 64
# filters -- then Flatten -> Dense 512 -> ReLU -> BatchNorm -> Dropout 0.5 -> Dense 10 -> softmax.
# SGD with lr 0.01, momentum 0.9 and decay lr/epochs; batch 32; the test set as validation.
#
# Run: `python examples/fashion_mnist_cnn.py [--epochs 25] [--limit N] [--out DIR]`.
# `--epochs 25` is the full course run; the default (2 epochs) finishes in minutes.
# Apart from the imports, this is the course's tf.keras code.

# %%
import argparse
import os
import time

import numpy as np

from tinycnn import kernels
from tinycnn.datasets import fashion_mnist
from tinycnn.layers import Activation, BatchNormalization, Conv2D, Dense, Dropout, Flatten, MaxPooling2D
from tinycnn.models import Sequential
from tinycnn.optimizers import SGD
from tinycnn.utils import set_random_seed, to_categorical


# %%
def build(width=28, height=28, depth=1, classes=10, dropout=0.5):
    """The course model (a small VGG-style network); ``dropout`` is the rate before the classifier."""
    model = Sequential()
    input_shape = (height, width, depth)
    chan_dim = -1
    # first CONV => RELU => CONV => RELU => POOL layer set
    model.add(Conv2D(32, (3, 3), padding="same", input_shape=input_shape))
    model.add(Activation("relu"))
    model.add(BatchNormalization(axis=chan_dim))
    model.add(Conv2D(32, (3, 3), padding="same"))
    model.add(Activation("relu"))
    model.add(BatchNormalization(axis=chan_dim))
    model.add(MaxPooling2D(pool_size=(2, 2)))
    # second CONV => RELU => CONV => RELU => POOL layer set
    model.add(Conv2D(64, (3, 3), padding="same"))
    model.add(Activation("relu"))
    model.add(BatchNormalization(axis=chan_dim))
    model.add(Conv2D(64, (3, 3), padding="same"))
    model.add(Activation("relu"))
    model.add(BatchNormalization(axis=chan_dim))
    model.add(MaxPooling2D(pool_size=(2, 2)))
    # FC => RELU layers, then the softmax classifier
    model.add(Flatten())
    model.add(Dense(512))
    model.add(Activation("relu"))
    model.add(BatchNormalization())
    model.add(Dropout(dropout))
    model.add(Dense(classes))
    model.add(Activation("softmax"))
    return model


def load(limit=None, test_limit=None):
    """Fashion-MNIST scaled to [0, 1], with a channel axis, and one-hot labels."""
    (train_x, train_y), (test_x, test_y) = fashion_mnist.load_data()
    if limit:
        train_x, train_y = train_x[:limit], train_y[:limit]
    if test_limit:
        test_x, test_y = test_x[:test_limit], test_y[:test_limit]
    train_x = train_x.reshape((-1, 28, 28, 1)).astype("float32") / 255.0
    test_x = test_x.reshape((-1, 28, 28, 1)).astype("float32") / 255.0
    return (train_x, to_categorical(train_y, 10), train_y), (test_x, to_categorical(test_y, 10), test_y)


# %%
def main(argv=None):
    parser = argparse.ArgumentParser(description="Train the course CNN on Fashion-MNIST.")
    parser.add_argument("--epochs", type=int, default=2, help="25 is the full course run (default: 2)")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--lr", type=float, default=0.01)
    parser.add_argument("--limit", type=int, default=None, help="train on the first N images only")
    parser.add_argument("--test-limit", type=int, default=None, help="validate/test on the first N test images only")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--verbose", type=int, default=1)
    parser.add_argument("--out", default=os.path.join("examples", "output", "fashion_mnist_cnn"))
    args = parser.parse_args(argv)

    set_random_seed(args.seed)
    print(f"[INFO] loading Fashion-MNIST... (kernels: {kernels.get_backend()})")
    (train_x, train_y, _), (test_x, test_y, test_labels) = load(args.limit, args.test_limit)
    print(f"[INFO] {len(train_x)} training and {len(test_x)} test images")

    print("[INFO] compiling model...")
    opt = SGD(lr=args.lr, momentum=0.9, decay=args.lr / args.epochs)
    model = build(width=28, height=28, depth=1, classes=10)
    model.compile(loss="categorical_crossentropy", optimizer=opt, metrics=["accuracy"])
    model.summary()

    print("[INFO] training model...")
    start = time.perf_counter()
    history = model.fit(
        train_x,
        train_y,
        validation_data=(test_x, test_y),
        batch_size=args.batch_size,
        epochs=args.epochs,
        verbose=args.verbose,
    )
    seconds = time.perf_counter() - start
    epochs_run = len(history.history.get("loss", []))

    print("[INFO] evaluating network...")
    probs = model.predict(test_x, batch_size=args.batch_size)
    predictions = probs.argmax(axis=1)
    accuracy = float(np.mean(predictions == test_labels))
    print(f"test accuracy: {accuracy:.4f}")
    if epochs_run:
        print(
            f"training time: {seconds:.0f} s for {epochs_run} epoch(s), {seconds / epochs_run:.0f} s per epoch "
            f"({epochs_run * len(train_x) / seconds:.0f} images/s, including validation)"
        )
    print("per-class accuracy:")
    for k, name in enumerate(fashion_mnist.CLASS_NAMES):
        mask = test_labels == k
        print(f"  {name:<12} {np.mean(predictions[mask] == k):.3f}")

    from tinycnn import plot

    os.makedirs(args.out, exist_ok=True)
    weights_path = os.path.join(args.out, "fashion_mnist_cnn.weights.npz")
    model.save_weights(weights_path)
    curves = os.path.join(args.out, "learning_curves.png")
    plot.plot_history(history, path=curves)
    confusion = os.path.join(args.out, "confusion_matrix.png")
    plot.plot_confusion_matrix(test_labels, predictions, class_names=fashion_mnist.CLASS_NAMES, path=confusion)
    print(f"[INFO] saved {weights_path}, {curves}, {confusion}")
    return model, history, accuracy


if __name__ == "__main__":
    main()
