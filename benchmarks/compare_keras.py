"""tinycnn and Keras side by side: the course's two recipes, the same initial weights, epochs interleaved.

    python benchmarks/compare_keras.py --task autompg [--epochs 200] [--seeds 0 1 2 3 4]
    python benchmarks/compare_keras.py --task fashion [--epochs 1] [--limit N] [--seed 0]
    python benchmarks/compare_keras.py --task fashion --optimizer adam [--lr 0.001] ...

``--task autompg``: the course regression. Auto MPG (392 cars; column 0, MPG, is the target), shuffled
with the seed, split 300 training / 92 validation, features *and* target standardized with the training
statistics; Dense(64, relu), Dense(64, relu), Dense(1); MSE; SGD(0.01, momentum 0.9); batch 16. Each seed
gives another shuffle (so another split) and other initial weights.

``--task fashion``: the course CNN (two stacks of [Conv2D 3x3 same, ReLU, BatchNormalization] x 2 then
MaxPooling2D 2x2, with 32 then 64 filters; Flatten, Dense 512, ReLU, BatchNormalization, Dropout, Dense 10,
softmax) and the course recipe: SGD(0.01, momentum 0.9, decay 0.01 / epochs) -- Keras 2's ``decay`` is a
time-based decay per *update step*, which Keras 3 spells ``InverseTimeDecay(0.01, 1, 0.01 / epochs)`` --
batch 32, the test set as validation data. ``--limit N`` trains on the first N images only.

``--optimizer adam`` replaces the optimizer of either recipe by Adam (Keras 3's defaults, learning rate
``--lr``, default 0.001 for Adam) in both frameworks, without decay; results go to
``compare_<task>_adam.json``/``.png``. The default, ``--optimizer sgd``, is each recipe's own SGD.

Fairness. The Keras model is built first (``keras.utils.set_random_seed(seed)``) and its initial weights are
copied into tinycnn. Every epoch both frameworks see the same batches in the same order (one permutation
per epoch, drawn from the seed; ``fit(..., shuffle=False)`` on both). The frameworks train alternately,
epoch by epoch (the one that goes first alternates too), so a noisy shared machine slows both alike.
Times: ``epoch_seconds`` is measured by a callback from the start to the end of the epoch (training steps
and validation: what ``fit`` reports); ``call_seconds`` is the whole ``fit(epochs=1)`` call, which for
Keras also holds its per-call set-up. The time ratio uses ``epoch_seconds``. TensorFlow is given every
core (intra- and inter-op threads = ``os.cpu_count()``); tinycnn runs on the current kernels backend.

Writes ``benchmarks/results/compare_<task>.json`` (machine, versions, command line, per-epoch arrays and
the summary) and ``compare_<task>.png`` (both learning curves overlaid), and prints a per-epoch table and
the summary.
"""

import argparse
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
for path in (ROOT, HERE):  # tinycnn from this checkout; keras_models beside this file
    if path not in sys.path:
        sys.path.insert(0, path)
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from keras_models import keras_course_cnn, keras_regressor  # noqa: E402  (tinycnn-free, see there)

import tinycnn  # noqa: E402
from tinycnn import kernels  # noqa: E402
from tinycnn import layers as tl  # noqa: E402
from tinycnn.callbacks import Callback  # noqa: E402
from tinycnn.models import Sequential  # noqa: E402
from tinycnn.optimizers import SGD, Adam  # noqa: E402
from tinycnn.utils import atomic_open, set_random_seed, to_categorical  # noqa: E402

FRAMEWORKS = ("tinycnn", "keras")


# ----------------------------------------------------------------------------------------------- models
def tiny_course_cnn(dropout):
    """The course model of ``examples/fashion_mnist_cnn.py`` (one definition for the demo and this benchmark)."""
    sys.path.insert(0, os.path.join(ROOT, "examples"))
    from fashion_mnist_cnn import build

    return build(dropout=dropout)


def tiny_regressor(n_features):
    return Sequential(
        [tl.Dense(64, activation="relu", input_shape=(n_features,)), tl.Dense(64, activation="relu"), tl.Dense(1)]
    )


# ----------------------------------------------------------------------------------------------- data
def autompg_split(seed, n_train=300):
    """Shuffle the 392 cars with ``seed``; 300/92; standardize features and target with training statistics.

    Returns ``(x, y), (x_val, y_val), y_std`` (float32; ``y_std`` converts an MSE back to mpg^2).
    """
    from tinycnn.datasets import auto_mpg

    data = auto_mpg.load_data()
    data = data[np.random.default_rng(seed).permutation(len(data))]
    x, y = data[:, 1:], data[:, :1]
    x_mean, x_std = x[:n_train].mean(axis=0), x[:n_train].std(axis=0)
    y_mean, y_std = y[:n_train].mean(axis=0), y[:n_train].std(axis=0)
    x = ((x - x_mean) / x_std).astype(np.float32)
    y = ((y - y_mean) / y_std).astype(np.float32)
    return (x[:n_train], y[:n_train]), (x[n_train:], y[n_train:]), float(y_std[0])


def fashion_data(limit, val_limit, attempts=10, wait=30):
    """Fashion-MNIST scaled to [0, 1] float32, shape (N, 28, 28, 1), one-hot labels.

    ``tinycnn.datasets.fashion_mnist`` may still be being written by another engineer: if it cannot be
    imported, wait and retry a few times.
    """
    for attempt in range(attempts):
        try:
            from tinycnn.datasets import fashion_mnist

            break
        except ImportError as e:
            if attempt == attempts - 1:
                raise
            print(f"tinycnn.datasets.fashion_mnist not importable yet ({e}); retrying in {wait} s", flush=True)
            time.sleep(wait)
    (x, y), (x_test, y_test) = fashion_mnist.load_data()
    if limit:
        x, y = x[:limit], y[:limit]
    if val_limit:
        x_test, y_test = x_test[:val_limit], y_test[:val_limit]
    scale = lambda images: images.reshape(-1, 28, 28, 1).astype(np.float32) / 255.0  # noqa: E731
    return (scale(x), to_categorical(y, 10)), (scale(x_test), to_categorical(y_test, 10))


# ----------------------------------------------------------------------------------------------- timing
class TinyEpochTimer(Callback):
    def on_epoch_begin(self, epoch, logs=None):
        self.start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        self.seconds = time.perf_counter() - self.start


def keras_epoch_timer(keras):
    class KerasEpochTimer(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            self.start = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            self.seconds = time.perf_counter() - self.start

    return KerasEpochTimer()


class Run:
    """One model of one framework, trained one epoch per call, with its per-epoch record."""

    def __init__(self, name, model, timer, batch_size, validation_data, keys):
        self.name, self.model, self.timer = name, model, timer
        self.batch_size, self.validation_data = batch_size, validation_data
        self.record = {k: [] for k in keys + ["epoch_seconds", "call_seconds"]}

    def epoch(self, epoch, x, y):
        start = time.perf_counter()
        history = self.model.fit(
            x,
            y,
            batch_size=self.batch_size,
            epochs=epoch + 1,
            initial_epoch=epoch,
            validation_data=self.validation_data,
            shuffle=False,
            verbose=0,
            callbacks=[self.timer],
        )
        call = time.perf_counter() - start
        for key in self.record:
            if key == "epoch_seconds":
                self.record[key].append(round(self.timer.seconds, 5))
            elif key == "call_seconds":
                self.record[key].append(round(call, 5))
            else:  # float32 losses and metrics: 7 significant digits hold them
                self.record[key].append(float(f"{history.history[key][-1]:.7g}"))


def train_interleaved(runs, x, y, epochs, seed, on_epoch=None):
    """Each epoch: one permutation for both; the framework that goes first alternates."""
    rng = np.random.default_rng(seed + 1_000_003)
    for epoch in range(epochs):
        order = rng.permutation(len(x))
        xe, ye = x[order], y[order]
        for run in runs if epoch % 2 == 0 else runs[::-1]:
            run.epoch(epoch, xe, ye)
        if on_epoch:
            on_epoch(epoch)


# ----------------------------------------------------------------------------------------------- setup
def setup_tensorflow():
    import tensorflow as tf

    n = os.cpu_count() or 1
    tf.config.threading.set_intra_op_parallelism_threads(n)
    tf.config.threading.set_inter_op_parallelism_threads(n)
    import keras

    return tf, keras


def environment(tf, keras, kmodel):
    import numba

    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = bool(
            subprocess.run(
                ["git", "status", "--porcelain", "--", "tinycnn"], cwd=ROOT, capture_output=True, text=True
            ).stdout.strip()
        )
    except (OSError, subprocess.CalledProcessError):
        commit, dirty = None, None
    cpu = platform.processor()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), cpu)
    except OSError:
        pass
    return {
        "machine": {
            "platform": platform.platform(),
            "cpu": cpu,
            "cpu_count": os.cpu_count(),
            "python": platform.python_version(),
        },
        "versions": {
            "tinycnn": tinycnn.__version__,
            "numpy": np.__version__,
            "numba": numba.__version__,
            "tensorflow": tf.__version__,
            "keras": keras.__version__,
        },
        "tinycnn_backend": kernels.get_backend(),
        "numba_threads": numba.get_num_threads(),
        "tensorflow_threads": {
            "intra_op": tf.config.threading.get_intra_op_parallelism_threads(),
            "inter_op": tf.config.threading.get_inter_op_parallelism_threads(),
        },
        "keras_jit_compile": getattr(kmodel, "jit_compile", None),
        "git_commit": commit,
        "tinycnn_tree_modified": dirty,
        "command": " ".join(
            [os.path.relpath(sys.executable, ROOT) if sys.executable.startswith(ROOT) else "python"] + sys.argv
        ),
        "date": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }


def time_summary(records):
    """Total and median epoch times of both frameworks, and tinycnn / Keras ratios."""
    out = {}
    for fw in FRAMEWORKS:
        epochs = [t for rec in records for t in rec[fw]["epoch_seconds"]]
        calls = [t for rec in records for t in rec[fw]["call_seconds"]]
        later = [t for rec in records for t in rec[fw]["epoch_seconds"][1:]] or epochs
        out[fw] = {
            "total_epoch_seconds": sum(epochs),
            "total_call_seconds": sum(calls),
            "median_epoch_seconds_after_first": statistics.median(later),
        }
    t, k = out["tinycnn"], out["keras"]
    out["ratio_tinycnn_over_keras"] = {
        "total_epoch_seconds": t["total_epoch_seconds"] / k["total_epoch_seconds"],
        "total_call_seconds": t["total_call_seconds"] / k["total_call_seconds"],
        "median_epoch_seconds_after_first": t["median_epoch_seconds_after_first"]
        / k["median_epoch_seconds_after_first"],
    }
    return out


def write_json(path, result):
    """Indented JSON, but every list of numbers on one line (the per-epoch arrays stay readable)."""
    text = json.dumps(result, indent=1)
    text = re.sub(r"\[\s*([-+0-9.eE,\s]+?)\s*\]", lambda m: "[" + " ".join(m.group(1).split()) + "]", text)
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with atomic_open(path, "w") as f:
        f.write(text + "\n")
    os.chmod(path, 0o644)


def plot_overlay(tiny_history, keras_history, path, log_scale=False, title=None):
    """Both learning curves on the same axes, with :func:`tinycnn.plot.plot_history` if it exists."""
    try:
        from tinycnn import plot
    except ImportError:
        plot = None
    if plot is not None and hasattr(plot, "plot_history"):
        fig = plot.plot_history(tiny_history, other=keras_history, labels=("tinycnn", "Keras"))
    else:
        import matplotlib

        matplotlib.use("Agg")
        from matplotlib.figure import Figure

        metrics = [k for k in tiny_history if not k.startswith("val_")]
        fig = Figure(figsize=(4.6 * len(metrics), 3.6), layout="constrained")
        for i, m in enumerate(metrics):
            ax = fig.add_subplot(1, len(metrics), i + 1)
            for hist, name, color in ((tiny_history, "tinycnn", "C0"), (keras_history, "Keras", "C1")):
                for key, style in ((m, "-"), (f"val_{m}", "--")):
                    if key in hist:
                        ax.plot(
                            np.arange(1, len(hist[key]) + 1),
                            hist[key],
                            style,
                            color=color,
                            label=f"{name} {'validation' if style == '--' else 'train'}",
                        )
            ax.set_title(m)
            ax.set_xlabel("epoch")
            ax.legend(fontsize="small")
    for ax in fig.axes:
        if log_scale:
            ax.set_yscale("log")
    if title:
        fig.suptitle(title, fontsize="medium")
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    fig.savefig(path, dpi=100)


# ----------------------------------------------------------------------------------------------- tasks
def run_autompg(args):
    tf, keras = setup_tensorflow()
    records, env = [], None
    for seed in args.seeds:
        (x, y), (xv, yv), y_std = autompg_split(seed)
        keras.utils.set_random_seed(seed)
        kmodel = keras_regressor(keras, x.shape[1])
        kmodel.compile(
            optimizer=keras.optimizers.Adam(args.lr)
            if args.optimizer == "adam"
            else keras.optimizers.SGD(args.lr, momentum=0.9),
            loss="mse",
        )
        tmodel = tiny_regressor(x.shape[1])
        tmodel.compile(optimizer=Adam(args.lr) if args.optimizer == "adam" else SGD(args.lr, momentum=0.9), loss="mse")
        tmodel.set_weights(kmodel.get_weights())
        env = env or environment(tf, keras, kmodel)
        keys = ["loss", "val_loss"]
        runs = [
            Run("tinycnn", tmodel, TinyEpochTimer(), args.batch_size, (xv, yv), keys),
            Run("keras", kmodel, keras_epoch_timer(keras), args.batch_size, (xv, yv), keys),
        ]
        start = time.perf_counter()
        train_interleaved(runs, x, y, args.epochs, seed)
        rec = {"seed": seed, "y_std_mpg": y_std, "n_train": len(x), "n_val": len(xv)}
        for run in runs:
            r = run.record
            rec[run.name] = {
                **r,
                "best_val_mse": min(r["val_loss"]),
                "best_epoch": int(np.argmin(r["val_loss"])) + 1,
                "final_val_mse": r["val_loss"][-1],
            }
        records.append(rec)
        t, k = rec["tinycnn"], rec["keras"]
        print(
            f"seed {seed}: best val MSE tinycnn {t['best_val_mse']:.4f} (epoch {t['best_epoch']}), "
            f"Keras {k['best_val_mse']:.4f} (epoch {k['best_epoch']}); final {t['final_val_mse']:.4f} vs "
            f"{k['final_val_mse']:.4f}; epochs {sum(t['epoch_seconds']):.1f} s vs {sum(k['epoch_seconds']):.1f} s "
            f"({time.perf_counter() - start:.0f} s wall)",
            flush=True,
        )

    def mean_curve(fw, key):
        return np.mean([rec[fw][key] for rec in records], axis=0)

    print(f"\nMean over seeds {args.seeds} (MSE of the standardized target; x y_std^2 for mpg^2)")
    header = (
        f"{'epoch':>5} | {'tinycnn loss':>12} {'val MSE':>9} {'s/epoch':>8} | "
        f"{'keras loss':>10} {'val MSE':>9} {'s/epoch':>8}"
    )
    print(header + "\n" + "-" * len(header))
    shown = sorted(set(range(0, args.epochs, args.print_every)) | {args.epochs - 1})
    curves = {fw: {k: mean_curve(fw, k) for k in ("loss", "val_loss", "epoch_seconds")} for fw in FRAMEWORKS}
    for e in shown:
        t, k = curves["tinycnn"], curves["keras"]
        print(
            f"{e + 1:>5} | {t['loss'][e]:12.4f} {t['val_loss'][e]:9.4f} {t['epoch_seconds'][e]:8.4f} | "
            f"{k['loss'][e]:10.4f} {k['val_loss'][e]:9.4f} {k['epoch_seconds'][e]:8.4f}"
        )

    summary = {}
    for fw in FRAMEWORKS:
        best = [rec[fw]["best_val_mse"] for rec in records]
        final = [rec[fw]["final_val_mse"] for rec in records]
        summary[fw] = {
            "mean_best_val_mse": float(np.mean(best)),
            "mean_final_val_mse": float(np.mean(final)),
            "std_best_val_mse": float(np.std(best)),
            "std_final_val_mse": float(np.std(final)),
            "mean_best_val_mse_mpg2": float(np.mean([b * rec["y_std_mpg"] ** 2 for b, rec in zip(best, records)])),
            "mean_final_val_mse_mpg2": float(np.mean([f * rec["y_std_mpg"] ** 2 for f, rec in zip(final, records)])),
        }
    t, k = summary["tinycnn"], summary["keras"]
    summary["ratio_tinycnn_over_keras"] = {
        "mean_best_val_mse": t["mean_best_val_mse"] / k["mean_best_val_mse"],
        "mean_final_val_mse": t["mean_final_val_mse"] / k["mean_final_val_mse"],
    }
    summary["target"] = "tinycnn's mean validation MSE over the seeds within 10% of Keras's"
    summary["target_met"] = {key: bool(abs(r - 1) <= 0.10) for key, r in summary["ratio_tinycnn_over_keras"].items()}
    summary["time"] = time_summary(records)
    tt = summary["time"]
    print(
        f"\nmean best val MSE:  tinycnn {t['mean_best_val_mse']:.4f} ({t['mean_best_val_mse_mpg2']:.2f} mpg^2)  "
        f"Keras {k['mean_best_val_mse']:.4f} ({k['mean_best_val_mse_mpg2']:.2f} mpg^2)  ratio "
        f"{summary['ratio_tinycnn_over_keras']['mean_best_val_mse']:.3f}"
    )
    print(
        f"mean final val MSE: tinycnn {t['mean_final_val_mse']:.4f} ({t['mean_final_val_mse_mpg2']:.2f} mpg^2)  "
        f"Keras {k['mean_final_val_mse']:.4f} ({k['mean_final_val_mse_mpg2']:.2f} mpg^2)  ratio "
        f"{summary['ratio_tinycnn_over_keras']['mean_final_val_mse']:.3f}"
    )
    print(
        f"target (within 10%): best {summary['target_met']['mean_best_val_mse']}, "
        f"final {summary['target_met']['mean_final_val_mse']}"
    )
    print(
        f"time: tinycnn {tt['tinycnn']['total_epoch_seconds']:.1f} s, "
        f"Keras {tt['keras']['total_epoch_seconds']:.1f} s "
        f"in epochs -> tinycnn/Keras {tt['ratio_tinycnn_over_keras']['total_epoch_seconds']:.2f} "
        f"(median epoch {tt['ratio_tinycnn_over_keras']['median_epoch_seconds_after_first']:.2f}; whole fit calls "
        f"{tt['ratio_tinycnn_over_keras']['total_call_seconds']:.2f})"
    )

    result = {
        "task": "autompg",
        **env,
        "recipe": {
            "model": "Dense(64, relu), Dense(64, relu), Dense(1)",
            "loss": "mse",
            "optimizer": f"Adam({args.lr})" if args.optimizer == "adam" else f"SGD({args.lr}, momentum=0.9)",
            "batch_size": args.batch_size,
            "epochs": args.epochs,
            "seeds": args.seeds,
            "split": "300 train / 92 validation",
            "standardized": "features and target, with training statistics",
        },
        "summary": summary,
        "mean_curves": {fw: {k: v.tolist() for k, v in c.items()} for fw, c in curves.items()},
        "seeds": records,
    }
    write_json(args.json, result)
    plot_overlay(
        {"loss": curves["tinycnn"]["loss"], "val_loss": curves["tinycnn"]["val_loss"]},
        {"loss": curves["keras"]["loss"], "val_loss": curves["keras"]["val_loss"]},
        args.png,
        log_scale=True,
        title=f"Auto MPG, MSE (standardized), mean of seeds {args.seeds}",
    )
    print(f"wrote {os.path.relpath(args.json)} and {os.path.relpath(args.png)}")
    return result


def run_fashion(args):
    tf, keras = setup_tensorflow()
    (x, y), (xv, yv) = fashion_data(args.limit, args.val_limit)
    print(
        f"Fashion-MNIST: {len(x)} training images, {len(xv)} test images (validation); "
        f"tinycnn kernels: {kernels.get_backend()}",
        flush=True,
    )
    keras.utils.set_random_seed(args.seed)
    set_random_seed(args.seed)  # tinycnn's Dropout masks
    decay = args.lr / args.epochs
    kmodel = keras_course_cnn(keras, args.dropout)
    if args.optimizer == "adam":
        k_opt, t_opt, recipe_opt = keras.optimizers.Adam(args.lr), Adam(args.lr), f"Adam({args.lr}) (Keras defaults)"
    else:
        schedule = keras.optimizers.schedules.InverseTimeDecay(args.lr, decay_steps=1, decay_rate=decay)
        k_opt, t_opt = keras.optimizers.SGD(schedule, momentum=0.9), SGD(args.lr, momentum=0.9, decay=decay)
        recipe_opt = (
            f"SGD({args.lr}, momentum=0.9, decay={decay}) / Keras 3: "
            f"SGD(InverseTimeDecay({args.lr}, 1, {decay}), momentum=0.9)"
        )
    kmodel.compile(optimizer=k_opt, loss="categorical_crossentropy", metrics=["accuracy"])
    tmodel = tiny_course_cnn(args.dropout)
    tmodel.compile(optimizer=t_opt, loss="categorical_crossentropy", metrics=["accuracy"])
    tmodel.set_weights(kmodel.get_weights())
    env = environment(tf, keras, kmodel)
    keys = ["loss", "accuracy", "val_loss", "val_accuracy"]
    runs = [
        Run("tinycnn", tmodel, TinyEpochTimer(), args.batch_size, (xv, yv), keys),
        Run("keras", kmodel, keras_epoch_timer(keras), args.batch_size, (xv, yv), keys),
    ]
    header = (
        f"{'epoch':>5} | {'tinycnn loss':>12} {'acc':>6} {'val_loss':>8} {'val_acc':>7} {'s':>7} | "
        f"{'keras loss':>10} {'acc':>6} {'val_loss':>8} {'val_acc':>7} {'s':>7}"
    )
    print(header + "\n" + "-" * len(header), flush=True)

    def summarize():
        records = [{run.name: run.record for run in runs}]
        done = len(runs[0].record["loss"])
        summary = {
            fw: {
                "final_test_accuracy": records[0][fw]["val_accuracy"][-1],
                "final_test_loss": records[0][fw]["val_loss"][-1],
                "best_test_accuracy": max(records[0][fw]["val_accuracy"]),
            }
            for fw in FRAMEWORKS
        }
        summary["time"] = time_summary(records)
        summary["completed_epochs"] = done
        result = {
            "task": "fashion",
            **env,
            "recipe": {
                "model": "course CNN",
                "dropout": args.dropout,
                "loss": "categorical_crossentropy",
                "optimizer": recipe_opt,
                "batch_size": args.batch_size,
                "epochs": args.epochs,
                "seed": args.seed,
                "n_train": len(x),
                "n_test": len(xv),
                "limit": args.limit,
                "val_limit": args.val_limit,
            },
            "summary": summary,
            "epochs": records[0],
        }
        return result

    def show_and_save(e):
        """Print the epoch's row, then write JSON and PNG: a run cut short still leaves its results."""
        t, k = runs[0].record, runs[1].record
        print(
            f"{e + 1:>5} | {t['loss'][e]:12.4f} {t['accuracy'][e]:6.4f} {t['val_loss'][e]:8.4f} "
            f"{t['val_accuracy'][e]:7.4f} {t['epoch_seconds'][e]:7.1f} | {k['loss'][e]:10.4f} "
            f"{k['accuracy'][e]:6.4f} {k['val_loss'][e]:8.4f} {k['val_accuracy'][e]:7.4f} "
            f"{k['epoch_seconds'][e]:7.1f}",
            flush=True,
        )
        write_json(args.json, summarize())
        plot_overlay(
            {k: runs[0].record[k] for k in keys},
            {k: runs[1].record[k] for k in keys},
            args.png,
            title=f"Fashion-MNIST, course CNN, {args.optimizer} ({len(x)} training images, "
            f"{e + 1} of {args.epochs} epochs)",
        )

    train_interleaved(runs, x, y, args.epochs, args.seed, on_epoch=show_and_save)
    result = summarize()
    summary = result["summary"]
    tt = summary["time"]
    print(
        f"\nfinal test accuracy: tinycnn {summary['tinycnn']['final_test_accuracy']:.4f}, "
        f"Keras {summary['keras']['final_test_accuracy']:.4f}"
    )
    print(
        f"time: tinycnn {tt['tinycnn']['total_epoch_seconds']:.1f} s, "
        f"Keras {tt['keras']['total_epoch_seconds']:.1f} s "
        f"-> tinycnn/Keras {tt['ratio_tinycnn_over_keras']['total_epoch_seconds']:.2f}"
    )
    print(f"wrote {os.path.relpath(args.json)} and {os.path.relpath(args.png)}")
    return result


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--task", choices=["autompg", "fashion"], required=True)
    parser.add_argument("--epochs", type=int, default=None, help="default: 200 (autompg), 1 (fashion)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4], help="autompg")
    parser.add_argument("--seed", type=int, default=0, help="fashion")
    parser.add_argument("--limit", type=int, default=None, help="fashion: train on the first N images")
    parser.add_argument("--val-limit", type=int, default=None, help="fashion: validate on the first N test images")
    parser.add_argument("--dropout", type=float, default=0.5, help="fashion: the course's Dropout rate")
    parser.add_argument(
        "--optimizer",
        choices=["sgd", "adam"],
        default="sgd",
        help="sgd: each recipe's own SGD; adam: Adam with Keras's defaults in both frameworks",
    )
    parser.add_argument("--lr", type=float, default=None, help="default: 0.01 (sgd), 0.001 (adam)")
    parser.add_argument("--batch-size", type=int, default=None, help="default: 16 (autompg), 32 (fashion)")
    parser.add_argument("--print-every", type=int, default=20, help="autompg: rows of the printed table")
    parser.add_argument("--json", default=None, help="default: benchmarks/results/compare_<task>.json")
    parser.add_argument("--png", default=None, help="default: benchmarks/results/compare_<task>.png")
    args = parser.parse_args(argv)
    args.epochs = args.epochs if args.epochs is not None else (200 if args.task == "autompg" else 1)
    args.batch_size = args.batch_size or (16 if args.task == "autompg" else 32)
    args.lr = args.lr if args.lr is not None else (0.001 if args.optimizer == "adam" else 0.01)
    suffix = "_adam" if args.optimizer == "adam" else ""
    args.json = args.json or os.path.join(HERE, "results", f"compare_{args.task}{suffix}.json")
    args.png = args.png or os.path.join(HERE, "results", f"compare_{args.task}{suffix}.png")
    if args.epochs < 1:
        parser.error("--epochs must be at least 1")
    return run_autompg(args) if args.task == "autompg" else run_fashion(args)


if __name__ == "__main__":
    main()
