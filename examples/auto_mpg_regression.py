# %% [markdown]
# # Auto MPG: a dense regression network, as in the course
#
# Predict a car's fuel economy (miles per gallon) from its cylinders, displacement, horsepower, weight,
# acceleration, model year and origin. The course recipe: shuffle, standardize features *and* target,
# 300 cars to train on and 92 to validate, two hidden Dense(64, relu) layers and one linear output,
# mean squared error, SGD with momentum.
#
# Run: `python examples/auto_mpg_regression.py [--epochs 200] [--seed 0] [--out DIR]`.
# The only tinycnn-specific lines are the imports: the rest is the course's tf.keras code.

# %%
import argparse
import os

import numpy as np

from tinycnn.datasets import auto_mpg
from tinycnn.layers import Dense
from tinycnn.models import Sequential
from tinycnn.optimizers import SGD
from tinycnn.utils import set_random_seed


def load_split(seed=0, n_train=300):
    """Shuffle the 392 cars, split 300/92, standardize with the *training* mean and std."""
    data = auto_mpg.load_data()  # (392, 8): mpg, cylinders, displacement, horsepower, weight, accel, year, origin
    rng = np.random.default_rng(seed)
    data = data[rng.permutation(len(data))]
    x, y = data[:, 1:], data[:, :1]
    x_mean, x_std = x[:n_train].mean(axis=0), x[:n_train].std(axis=0)
    y_mean, y_std = y[:n_train].mean(axis=0), y[:n_train].std(axis=0)
    x = ((x - x_mean) / x_std).astype("float32")
    y = ((y - y_mean) / y_std).astype("float32")
    return (x[:n_train], y[:n_train]), (x[n_train:], y[n_train:]), float(y_std[0])


def build_model(n_features=7):
    model = Sequential()
    model.add(Dense(64, activation="relu", input_shape=(n_features,)))
    model.add(Dense(64, activation="relu"))
    model.add(Dense(1))
    model.compile(optimizer=SGD(learning_rate=0.01, momentum=0.9), loss="mse")
    return model


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--epochs", type=int, default=200)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default=os.path.join("examples", "output", "auto_mpg_regression"))
    parser.add_argument("--verbose", type=int, default=0)
    args = parser.parse_args(argv)

    set_random_seed(args.seed)
    (x_train, y_train), (x_val, y_val), mpg_std = load_split(args.seed)
    model = build_model(x_train.shape[1])
    model.summary()
    history = model.fit(
        x_train,
        y_train,
        batch_size=args.batch_size,
        epochs=args.epochs,
        validation_data=(x_val, y_val),
        verbose=args.verbose,
    )

    val = np.array(history.history["val_loss"])
    best = int(val.argmin())
    print(f"train MSE (last epoch):      {history.history['loss'][-1]:.4f} (standardized units)")
    print(f"validation MSE (last epoch): {val[-1]:.4f}")
    print(
        f"best validation MSE:         {val[best]:.4f} at epoch {best + 1}"
        f"  (RMSE {np.sqrt(val[best]) * mpg_std:.2f} mpg)"
    )

    from tinycnn import plot

    os.makedirs(args.out, exist_ok=True)
    path = os.path.join(args.out, "auto_mpg_loss.png")
    plot.plot_history(history, path=path)
    print(f"saved {path}")
    return history


if __name__ == "__main__":
    main()
