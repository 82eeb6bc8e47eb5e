# %% [markdown]
# # A small residual network on Fashion-MNIST (the Functional API)
#
# The step after the course's plain stack: *residual* blocks (He et al., 2016). Each block computes
# `y = relu(x + F(x))`, where `F` is two 3x3 convolutions; the `Add` hands the block's output gradient to both
# branches unchanged, so gradient reaches the first layers even in deep networks. A Sequential model cannot
# say "add this layer's input to that layer's output": the graph needs `tinycnn.Input` and
# `tinycnn.Model(inputs, outputs)`, written here exactly as with `import keras`.
#
# Run: `python examples/fashion_mnist_residual.py [--epochs 2] [--limit N] [--out DIR]`.
# Writes the graph picture (`residual_graph.png`), the learning curves and the weights.

# %%
import argparse
import os
import time

import numpy as np

import tinycnn as keras  # the only change from a Keras script: `import keras`
from tinycnn import layers
from tinycnn.datasets import fashion_mnist
from tinycnn.utils import set_random_seed, to_categorical


# %%
def residual_block(x, filters):
    """``relu(x + BN(conv(relu(BN(conv(x))))))``; a 1x1 convolution matches the channels when they change."""
    shortcut = x
    if x.shape[-1] != filters:
        shortcut = layers.Conv2D(filters, 1, padding="same")(x)
    y = layers.Conv2D(filters, 3, padding="same")(x)
    y = layers.BatchNormalization()(y)
    y = layers.Activation("relu")(y)
    y = layers.Conv2D(filters, 3, padding="same")(y)
    y = layers.BatchNormalization()(y)
    return layers.Activation("relu")(layers.Add()([shortcut, y]))


def build(classes=10):
    inputs = keras.Input(shape=(28, 28, 1), name="image")
    x = layers.Conv2D(16, 3, padding="same", activation="relu")(inputs)
    x = residual_block(x, 16)
    x = layers.MaxPooling2D(2)(x)
    x = residual_block(x, 32)
    x = layers.GlobalAveragePooling2D()(x)
    outputs = layers.Dense(classes, activation="softmax")(x)
    return keras.Model(inputs, outputs, name="small_resnet")


# %%
def main(argv=None):
    parser = argparse.ArgumentParser(description="Train a small residual network on Fashion-MNIST.")
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--lr", type=float, default=0.05)
    parser.add_argument("--limit", type=int, default=None, help="train on the first N images only")
    parser.add_argument("--test-limit", type=int, default=None, help="test on the first N test images only")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--verbose", type=int, default=1)
    parser.add_argument("--out", default=os.path.join("examples", "output", "fashion_mnist_residual"))
    args = parser.parse_args(argv)

    set_random_seed(args.seed)
    (train_x, train_y), (test_x, test_y) = fashion_mnist.load_data()
    if args.limit:
        train_x, train_y = train_x[: args.limit], train_y[: args.limit]
    if args.test_limit:
        test_x, test_y = test_x[: args.test_limit], test_y[: args.test_limit]
    train_x = train_x.reshape((-1, 28, 28, 1)).astype("float32") / 255.0
    test_x = test_x.reshape((-1, 28, 28, 1)).astype("float32") / 255.0

    model = build()
    model.summary()
    os.makedirs(args.out, exist_ok=True)
    graph_png = os.path.join(args.out, "residual_graph.png")
    keras.utils.plot_model(model, to_file=graph_png, show_shapes=True)
    print(f"[INFO] graph picture: {graph_png}")

    model.compile(
        optimizer=keras.optimizers.SGD(learning_rate=args.lr, momentum=0.9),
        loss="categorical_crossentropy",
        metrics=["accuracy"],
    )
    start = time.perf_counter()
    history = model.fit(
        train_x,
        to_categorical(train_y, 10),
        validation_data=(test_x, to_categorical(test_y, 10)),
        batch_size=args.batch_size,
        epochs=args.epochs,
        verbose=args.verbose,
    )
    seconds = time.perf_counter() - start
    accuracy = float(np.mean(model.predict(test_x, batch_size=256).argmax(axis=1) == test_y))
    print(f"test accuracy: {accuracy:.4f} after {args.epochs} epoch(s), {seconds:.0f} s")

    from tinycnn import plot

    plot.plot_history(history, path=os.path.join(args.out, "learning_curves.png"))
    model.save_weights(os.path.join(args.out, "small_resnet.weights.npz"))
    return model, history, accuracy


if __name__ == "__main__":
    main()
