# %% [markdown]
# # The course's "experiment changing the model and optimizers", as a sweep on Ray Tune
#
# The course ends with "Optional: experiment changing the model and optimizers". Here every experiment is a
# Ray Tune trial: the course CNN with a different width (`filters` in the first block, twice that in the
# second), dropout before the classifier, optimizer (SGD with the course's momentum 0.9, Adam, RMSprop),
# learning rate and batch size, trained on Fashion-MNIST with the test images as validation (as the course
# does). ASHA stops the trials that are behind after each epoch. Each trial gets one CPU and runs tinycnn's
# kernels on exactly that many threads.
#
# Run: `python examples/sweep_course.py [--quick] [--address auto] [--out DIR]`.
# `--quick` (4 trials, 3 epochs on 4,000 images) finishes in a couple of minutes on two cores; without it,
# 12 trials of up to 10 epochs on 20,000 images. `--address auto` (or `ray://head:10001`) runs the same sweep
# on a Ray cluster; then give `--storage` a folder every node shares (or an `s3://` URI).
# Writes `sweep.csv`, `sweep_curves.png`, `sweep_hyperparameters.png` and `best.weights.h5` (with
# `best.config.json`) into `--out`.

# %%
import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from fashion_mnist_cnn import load  # noqa: E402  (the course's data: [0, 1] images, one-hot labels)

from tinycnn import tune  # noqa: E402
from tinycnn.layers import Activation, BatchNormalization, Conv2D, Dense, Dropout, Flatten, MaxPooling2D  # noqa: E402
from tinycnn.models import Sequential  # noqa: E402


# %%
def course_model(filters=32, dropout=0.5, dense=512, classes=10):
    """The course CNN (``fashion_mnist_cnn.build``) with its width as a parameter: ``filters`` in the first
    block, ``2 * filters`` in the second. ``course_model(32, 0.5)`` is ``build()`` layer for layer."""
    model = Sequential()
    model.add(Conv2D(filters, (3, 3), padding="same", input_shape=(28, 28, 1)))
    model.add(Activation("relu"))
    model.add(BatchNormalization(axis=-1))
    model.add(Conv2D(filters, (3, 3), padding="same"))
    model.add(Activation("relu"))
    model.add(BatchNormalization(axis=-1))
    model.add(MaxPooling2D(pool_size=(2, 2)))
    model.add(Conv2D(2 * filters, (3, 3), padding="same"))
    model.add(Activation("relu"))
    model.add(BatchNormalization(axis=-1))
    model.add(Conv2D(2 * filters, (3, 3), padding="same"))
    model.add(Activation("relu"))
    model.add(BatchNormalization(axis=-1))
    model.add(MaxPooling2D(pool_size=(2, 2)))
    model.add(Flatten())
    model.add(Dense(dense))
    model.add(Activation("relu"))
    model.add(BatchNormalization())
    model.add(Dropout(dropout))
    model.add(Dense(classes))
    model.add(Activation("softmax"))
    return model


def build_trial_model(config):
    """What each trial trains: the course CNN of ``config``'s width and dropout, compiled with its optimizer
    (SGD keeps the course's momentum 0.9)."""
    model = course_model(filters=config["filters"], dropout=config["dropout"])
    optimizer = dict(config)
    if optimizer["optimizer"] == "sgd":
        optimizer["momentum"] = 0.9
    model.compile(
        loss="categorical_crossentropy", optimizer=tune.optimizer_from_config(optimizer), metrics=["accuracy"]
    )
    return model


def search_space(quick):
    """The experiments: every optimizer (a grid), the rest drawn at random for each."""
    if quick:
        return {
            "optimizer": tune.grid_search(["sgd", "adam"]),
            "learning_rate": tune.loguniform(3e-4, 1e-2),
            "filters": tune.choice([16, 32]),
            "dropout": tune.choice([0.25, 0.5]),
            "batch_size": 16,
            "epochs": 3,
        }
    return {
        "optimizer": tune.grid_search(["sgd", "adam", "rmsprop"]),
        "learning_rate": tune.loguniform(1e-4, 3e-2),
        "filters": tune.choice([16, 32]),
        "dropout": tune.choice([0.25, 0.5]),
        "batch_size": tune.choice([16, 32]),
        "epochs": 10,
    }


# %%
def main(argv=None):
    parser = argparse.ArgumentParser(
        description="The course CNN's model and optimizer experiments as a Ray Tune sweep."
    )
    parser.add_argument("--quick", action="store_true", help="4 trials, 3 epochs on 4,000 images")
    parser.add_argument(
        "--samples", type=int, default=None, help="configs drawn per optimizer (default: 2 with --quick, else 4)"
    )
    parser.add_argument("--epochs", type=int, default=None, help="override the epochs of every trial")
    parser.add_argument("--limit", type=int, default=None, help="training images (default: 4,000 / 20,000)")
    parser.add_argument("--val-limit", type=int, default=None, help="validation images (default: 1,000 / 10,000)")
    parser.add_argument("--scheduler", default="asha", choices=["asha", "fifo"])
    parser.add_argument("--cpus-per-trial", type=int, default=1)
    parser.add_argument(
        "--address", default=None, help="a Ray cluster: 'auto' or 'ray://host:10001' (default: Ray on this machine)"
    )
    parser.add_argument("--storage", default=None, help="where Tune keeps the trials (default: OUT/ray_results)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--verbose", type=int, default=0)
    parser.add_argument("--out", default=os.path.join("examples", "output", "sweep_course"))
    args = parser.parse_args(argv)

    limit = args.limit or (4000 if args.quick else 20000)
    val_limit = args.val_limit or (1000 if args.quick else 10000)
    space = search_space(args.quick)
    if args.epochs is not None:
        space["epochs"] = args.epochs
    samples = args.samples or (2 if args.quick else 4)
    os.makedirs(args.out, exist_ok=True)

    (x, y, _), (x_val, y_val, _) = load(limit, val_limit)
    print(
        f"[INFO] {len(x)} training and {len(x_val)} validation images; {samples} config(s) per optimizer, "
        f"scheduler {args.scheduler}, {args.cpus_per_trial} CPU(s) per trial, "
        f"Ray {'on this machine' if args.address is None else 'at ' + args.address}"
    )
    start = time.perf_counter()
    result = tune.sweep(
        build_trial_model,
        space,
        ((x, y), (x_val, y_val)),
        num_samples=samples,
        scheduler=args.scheduler,
        cpus_per_trial=args.cpus_per_trial,
        seed=args.seed,
        address=args.address,
        storage_path=args.storage or os.path.join(args.out, "ray_results"),
        best_weights=os.path.join(args.out, "best.weights.h5"),
        verbose=args.verbose,
    )
    seconds = time.perf_counter() - start

    columns = ["trial_id", *space, "epochs_run", "val_accuracy", "best_val_accuracy", "threads", "cpus", "time_s"]
    print(result.table[columns].to_string(index=False, float_format=lambda v: f"{v:.4g}"))
    best = result.best
    print(
        f"[INFO] {len(result.table)} trials in {seconds:.0f} s; best {best['trial_id']}: val_accuracy "
        f"{best['val_accuracy']:.4f} with {result.best_config}"
    )
    csv = result.to_csv(os.path.join(args.out, "sweep.csv"))
    curves = os.path.join(args.out, "sweep_curves.png")
    result.plot_curves(curves)
    params = os.path.join(args.out, "sweep_hyperparameters.png")
    result.plot_hyperparameters(params)
    print(f"[INFO] saved {csv}, {curves}, {params}, {os.path.join(args.out, 'best.weights.h5')}")
    return result


if __name__ == "__main__":
    main()
