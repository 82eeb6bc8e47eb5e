"""The cost of a course-CNN training step with each optimizer, measured in one run (tinycnn only).

    python benchmarks/optimizer_step.py [--optimizers sgd adam] [--rounds 15] [--steps 20]

One course CNN per optimizer (``examples/fashion_mnist_cnn.py``'s model, the same initial weights): ``sgd`` is
the course's ``SGD(0.01, momentum=0.9, decay=0.01/25)``, the others their Keras defaults. After a warm-up
(Numba compilation, slot creation), the models train in turns: each round every model takes ``--steps``
``train_on_batch`` steps on the same batches of 32 Fashion-MNIST images, the order of the models rotating from
round to round, so a noisy shared machine slows them alike. Reported per optimizer: the median over rounds of
the milliseconds per step, and of the optimizer's ``apply_gradients`` alone; and each step's ratio to the first
optimizer's (SGD's) from the per-round ratios' median. Writes ``benchmarks/results/optimizer_step.json``.
"""

import argparse
import json
import os
import platform
import statistics
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.join(ROOT, "examples"))

import numpy as np  # noqa: E402

from tinycnn import kernels, optimizers  # noqa: E402
from tinycnn.utils import atomic_open, set_random_seed  # noqa: E402

BATCH = 32


def make_optimizer(name):
    if name == "sgd":
        return optimizers.SGD(lr=0.01, momentum=0.9, decay=0.01 / 25)  # the course's recipe
    return optimizers.get(name)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--optimizers", nargs="+", default=["sgd", "adam"])
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--steps", type=int, default=20, help="steps per model per round")
    parser.add_argument("--warmup", type=int, default=10)
    parser.add_argument("--out", default=os.path.join(HERE, "results", "optimizer_step.json"))
    args = parser.parse_args(argv)

    import fashion_mnist_cnn as course

    from tinycnn.datasets import fashion_mnist

    (x, y), _ = fashion_mnist.load_data()
    n = args.steps * BATCH
    x = x[:n].reshape(-1, 28, 28, 1).astype("float32") / 255.0
    y = np.eye(10, dtype="float32")[y[:n]]
    batches = [(x[i : i + BATCH], y[i : i + BATCH]) for i in range(0, n, BATCH)]

    models, update_time = {}, {}
    for name in args.optimizers:
        set_random_seed(0)
        model = course.build()
        model.compile(loss="categorical_crossentropy", optimizer=make_optimizer(name), metrics=["accuracy"])
        model.build((None, 28, 28, 1))
        if models:
            model.set_weights(next(iter(models.values())).get_weights())
        for xb, yb in batches[: args.warmup]:
            model.train_on_batch(xb, yb)
        update_time[name] = [0.0]
        inner = model.optimizer._apply  # what the training loop calls: apply_gradients with the undo's keep=

        def timed(pairs, keep=None, inner=inner, cell=update_time[name]):
            start = time.perf_counter()
            try:
                return inner(pairs, keep)
            finally:
                cell[0] += time.perf_counter() - start

        model.optimizer._apply = timed
        models[name] = model

    step_ms = {name: [] for name in models}
    update_ms = {name: [] for name in models}
    names = list(models)
    for r in range(args.rounds):
        order = names[r % len(names) :] + names[: r % len(names)]
        for name in order:
            model = models[name]
            update_time[name][0] = 0.0
            start = time.perf_counter()
            for xb, yb in batches:
                model.train_on_batch(xb, yb)
            step_ms[name].append((time.perf_counter() - start) / len(batches) * 1e3)
            update_ms[name].append(update_time[name][0] / len(batches) * 1e3)

    base = names[0]
    summary = {}
    print(
        f"backend: {kernels.get_backend()}; {args.rounds} rounds x {args.steps} steps of batch {BATCH}; "
        f"load average before: {os.getloadavg()[0]:.2f}"
    )
    print(f"{'optimizer':<10}{'step ms':>9}{'update ms':>11}{'ratio to ' + base:>16}")
    for name in names:
        ratios = [a / b for a, b in zip(step_ms[name], step_ms[base])]
        summary[name] = {
            "median_step_ms": statistics.median(step_ms[name]),
            "median_update_ms": statistics.median(update_ms[name]),
            "median_ratio_to_" + base: statistics.median(ratios),
            "step_ms_per_round": step_ms[name],
            "update_ms_per_round": update_ms[name],
        }
        print(
            f"{name:<10}{summary[name]['median_step_ms']:9.2f}{summary[name]['median_update_ms']:11.2f}"
            f"{summary[name]['median_ratio_to_' + base]:16.3f}"
        )
    result = {
        "benchmark": "optimizer_step",
        "batch_size": BATCH,
        "rounds": args.rounds,
        "steps": args.steps,
        "command": " ".join(["python", "benchmarks/optimizer_step.py"] + (argv or sys.argv[1:])),
        "backend": kernels.get_backend(),
        "load_average_end": os.getloadavg(),
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version()},
        "date": time.strftime("%Y-%m-%d %H:%M:%S"),
        "summary": summary,
    }
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    with atomic_open(args.out, "w") as f:
        json.dump(result, f, indent=2)
    print(f"wrote {os.path.relpath(args.out)}")
    return result


if __name__ == "__main__":
    main()
