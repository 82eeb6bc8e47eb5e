"""Auto MPG, 200-epoch fit time: tinycnn against Keras, interleaved in one run.

Both fit the course regressor (Dense 64 relu, Dense 64 relu, Dense 1; SGD 0.01 momentum 0.9; batch 16;
300 training cars, 92 for validation) from the *same* initial weights, alternately, ``--rounds`` times;
the ratio of the median times is the figure to quote (absolute times drift on a shared machine).

    python benchmarks/bench_autompg.py [--epochs 200] [--rounds 3]

Writes ``benchmarks/results/bench_autompg.json``.
"""

import argparse
import json
import os
import platform
import statistics
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "examples"))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epochs", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default=os.path.join(HERE, "results", "bench_autompg.json"))
    args = parser.parse_args(argv)

    import auto_mpg_regression as course
    import keras
    import tensorflow as tf

    import tinycnn

    (x, y), (xv, yv), _ = course.load_split(args.seed)
    keras.utils.set_random_seed(args.seed)
    k_model = keras.Sequential(
        [
            keras.Input((x.shape[1],)),
            keras.layers.Dense(64, activation="relu"),
            keras.layers.Dense(64, activation="relu"),
            keras.layers.Dense(1),
        ]
    )
    initial = k_model.get_weights()

    def run_keras():
        k_model.set_weights(initial)
        k_model.compile(optimizer=keras.optimizers.SGD(0.01, momentum=0.9), loss="mse")
        t = time.perf_counter()
        h = k_model.fit(x, y, batch_size=16, epochs=args.epochs, validation_data=(xv, yv), verbose=0)
        return time.perf_counter() - t, min(h.history["val_loss"])

    def run_tiny():
        model = course.build_model(x.shape[1])
        model.set_weights(initial)
        t = time.perf_counter()
        h = model.fit(x, y, batch_size=16, epochs=args.epochs, validation_data=(xv, yv), verbose=0)
        return time.perf_counter() - t, min(h.history["val_loss"])

    rows = []
    for r in range(args.rounds):
        for name, fn in (("keras", run_keras), ("tinycnn", run_tiny)):
            seconds, best = fn()
            rows.append({"round": r, "framework": name, "seconds": seconds, "best_val_mse": best})
            print(f"round {r}  {name:<8} {seconds:7.2f} s   best val MSE {best:.4f}", flush=True)
    med = {f: statistics.median(row["seconds"] for row in rows if row["framework"] == f) for f in ("keras", "tinycnn")}
    ratio = med["keras"] / med["tinycnn"]
    print(
        f"\nmedian fit time ({args.epochs} epochs): Keras {med['keras']:.2f} s, tinycnn {med['tinycnn']:.2f} s"
        f" -> tinycnn is {ratio:.1f}x faster"
    )
    result = {
        "benchmark": "autompg_fit_time",
        "epochs": args.epochs,
        "rounds": rows,
        "median_seconds": med,
        "keras_over_tinycnn": ratio,
        "command": " ".join(["python"] + sys.argv),
        "versions": {
            "tinycnn": tinycnn.__version__,
            "keras": keras.__version__,
            "tensorflow": tf.__version__,
            "numpy": np.__version__,
            "python": platform.python_version(),
        },
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform()},
        "date": time.strftime("%Y-%m-%d %H:%M:%S"),
    }
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, "w") as f:
        json.dump(result, f, indent=2)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
