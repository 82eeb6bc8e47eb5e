"""Training and inference throughput of the course CNN: tinycnn vs Keras (and PyTorch when installed).

Every measurement runs in a fresh worker process (one framework per process, so their thread pools never
meet and peak memory is the framework's own), and the frameworks take turns, round after round, so a drift
of the shared machine's speed hits all of them alike. Within a worker:

* warm-up: one short ``fit`` (compiles Keras's graph, Numba's kernels, PyTorch's allocator);
* training: ``fit`` for ``--steps`` batches of 32 *fresh* Fashion-MNIST images (a repeated batch drives the
  loss to zero and the arithmetic into denormals, which is not what training looks like), course recipe;
* inference: ``predict`` on ``--infer`` test images with the course's batch size 32;
* peak resident memory of the process (``ru_maxrss``).

tinycnn's engine does its multiply-adds in its own SIMD tiles (``tinycnn/kernels/simd.py``), not in BLAS.
``--tinycnn-im2col`` adds the engine as it was before them, side by side: ``TINYCNN_DIRECT=0``, im2col +
NumPy's matrix products on OpenBLAS, whose kernels can be forced with the environment variable
``OPENBLAS_CORETYPE`` (this development machine pins ``Haswell``, OpenBLAS's AVX2 kernels, although its CPU
has AVX-512; TensorFlow's oneDNN picks AVX-512 by itself). ``--tinycnn-blas env SKYLAKEX`` runs that route
once more with ``OPENBLAS_CORETYPE=SKYLAKEX`` (the AVX-512 kernels). Every worker records the route and the
OpenBLAS kernels it ran.

Ratios: besides the ratio of the medians, each round gives its own ``tinycnn / Keras`` ratio from two
measurements a few seconds apart; their median is the figure least moved by the machine's drift.

Separately, the one-off Numba cost: time to the end of the first training step in a fresh process with an
empty kernel cache (cold) and with the cache filled (warm), against the same process's second step.

    python benchmarks/bench_train.py [--rounds 5] [--steps 200] [--infer 5000] [--tinycnn-im2col]
                                     [--tinycnn-blas env SKYLAKEX] [--tinycnn-baseline DIR]

``--tinycnn-baseline DIR`` runs the tinycnn of another checkout (``git worktree add DIR <commit>``) in the same
rounds, so a change can be shown to be no slower than the commit before it.

Writes ``benchmarks/results/bench_train.json`` and prints a table; quote the ratios, not the absolute speeds.
"""

import argparse
import json
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)
BATCH = 32


def load_data(n_train, n_test):
    """Fashion-MNIST as the workers use it (read by the parent process, which passes it on as a .npz file, so
    a Keras or PyTorch worker never loads tinycnn)."""
    import numpy as np

    from tinycnn.datasets import fashion_mnist

    (x, y), (tx, ty) = fashion_mnist.load_data()
    x = x[:n_train].reshape(-1, 28, 28, 1).astype("float32") / 255.0
    tx = tx[:n_test].reshape(-1, 28, 28, 1).astype("float32") / 255.0
    onehot = np.eye(10, dtype="float32")[y[:n_train]]
    return {"x": x, "y": onehot, "labels": y[:n_train].astype("int64"), "tx": tx}


# ------------------------------------------------------------------------------------------------- workers
def worker_tinycnn(x, y, labels, tx, warm, steps):
    source = os.environ.get("TINYCNN_BENCH_SOURCE")  # --tinycnn-baseline: another checkout's tinycnn
    if source:
        sys.path.insert(0, source)
    sys.path.insert(0, os.path.join(source or ROOT, "examples"))
    import fashion_mnist_cnn as course

    from tinycnn import kernels
    from tinycnn.kernels import numba_kernels
    from tinycnn.optimizers import SGD

    model = course.build()
    model.compile(
        loss="categorical_crossentropy", optimizer=SGD(lr=0.01, momentum=0.9, decay=0.01 / 25), metrics=["accuracy"]
    )
    model.fit(x[:warm], y[:warm], batch_size=BATCH, epochs=1, verbose=0, shuffle=False)
    t = time.perf_counter()
    model.fit(x[warm:], y[warm:], batch_size=BATCH, epochs=1, verbose=0, shuffle=False)
    train = time.perf_counter() - t
    model.predict(tx[: BATCH * 4], batch_size=BATCH)
    t = time.perf_counter()
    model.predict(tx, batch_size=BATCH)
    infer = time.perf_counter() - t
    import tinycnn

    return (
        train,
        infer,
        {
            "backend": kernels.get_backend(),
            "blas": kernels.blas_info(),
            "route": "direct" if getattr(numba_kernels, "DIRECT", True) else "im2col+BLAS",
            "openmp_settings": getattr(numba_kernels, "OPENMP_SETTINGS", None),
            "tinycnn_source": os.path.dirname(os.path.dirname(os.path.abspath(tinycnn.__file__))),
        },
    )


def worker_keras(x, y, labels, tx, warm, steps):
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import keras
    import tensorflow as tf
    from keras_models import keras_course_cnn  # the same Keras model as the side-by-side comparison

    model = keras_course_cnn(keras, dropout=0.5)
    lr = keras.optimizers.schedules.InverseTimeDecay(0.01, 1, 0.01 / 25)
    model.compile(
        loss="categorical_crossentropy", optimizer=keras.optimizers.SGD(lr, momentum=0.9), metrics=["accuracy"]
    )
    model.fit(x[:warm], y[:warm], batch_size=BATCH, epochs=1, verbose=0, shuffle=False)
    t = time.perf_counter()
    model.fit(x[warm:], y[warm:], batch_size=BATCH, epochs=1, verbose=0, shuffle=False)
    train = time.perf_counter() - t
    model.predict(tx[: BATCH * 4], batch_size=BATCH, verbose=0)
    t = time.perf_counter()
    model.predict(tx, batch_size=BATCH, verbose=0)
    infer = time.perf_counter() - t
    return train, infer, {"keras": keras.__version__, "tensorflow": tf.__version__}


def worker_torch(x, y, labels, tx, warm, steps):
    import torch
    from torch import nn

    layers, c_in = [], 1
    for i, filters in enumerate([32, 32, 64, 64]):
        layers += [nn.Conv2d(c_in, filters, 3, padding=1), nn.ReLU(), nn.BatchNorm2d(filters, momentum=0.01, eps=1e-3)]
        c_in = filters
        if i % 2:
            layers.append(nn.MaxPool2d(2))
    layers += [
        nn.Flatten(),
        nn.Linear(64 * 7 * 7, 512),
        nn.ReLU(),
        nn.BatchNorm1d(512, momentum=0.01, eps=1e-3),
        nn.Dropout(0.5),
        nn.Linear(512, 10),
    ]
    model = nn.Sequential(*layers).to(memory_format=torch.channels_last)
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    loss_fn = nn.CrossEntropyLoss()
    xt = torch.from_numpy(x.transpose(0, 3, 1, 2).copy()).contiguous(memory_format=torch.channels_last)
    yt = torch.from_numpy(labels)
    txt = torch.from_numpy(tx.transpose(0, 3, 1, 2).copy()).contiguous(memory_format=torch.channels_last)

    def train_range(lo, hi):
        model.train()
        for i in range(lo, hi, BATCH):
            opt.zero_grad(set_to_none=True)
            loss = loss_fn(model(xt[i : i + BATCH]), yt[i : i + BATCH])
            loss.backward()
            opt.step()

    def predict(data):
        model.eval()
        with torch.no_grad():
            return torch.cat([torch.softmax(model(data[i : i + BATCH]), 1) for i in range(0, len(data), BATCH)])

    train_range(0, warm)
    t = time.perf_counter()
    train_range(warm, len(x))
    train = time.perf_counter() - t
    predict(txt[: BATCH * 4])
    t = time.perf_counter()
    predict(txt)
    infer = time.perf_counter() - t
    return train, infer, {"torch": torch.__version__, "threads": torch.get_num_threads()}


WORKERS = {"tinycnn": worker_tinycnn, "keras": worker_keras, "torch": worker_torch}
#: Recorded by every worker: none of them may inherit tinycnn's OpenMP settings (PyTorch runs on OpenMP too).
OPENMP_VARIABLES = ("GOMP_SPINCOUNT", "OMP_WAIT_POLICY", "OMP_NUM_THREADS")


def run_worker(name, data_path, steps, warm_steps):
    import numpy as np

    warm = warm_steps * BATCH
    with np.load(data_path) as data:
        x, y, labels, tx = (data[k] for k in ("x", "y", "labels", "tx"))
    train, inference, info = WORKERS[name](x, y, labels, tx, warm, steps)
    rss_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        json.dumps(
            {
                "framework": name,
                "train_images_per_s": steps * BATCH / train,
                "infer_images_per_s": len(tx) / inference,
                "peak_rss_mib": rss_mib,
                "tinycnn_loaded": "tinycnn" in sys.modules,
                "openmp_environment": {k: os.environ.get(k) for k in OPENMP_VARIABLES},
                **info,
            }
        )
    )


def first_step_worker():
    """Time to import, build, and finish the first and second training steps (for the cache measurement)."""
    t0 = time.perf_counter()
    sys.path.insert(0, os.path.join(ROOT, "examples"))
    import fashion_mnist_cnn as course
    import numpy as np

    from tinycnn.optimizers import SGD

    model = course.build()
    model.compile(loss="categorical_crossentropy", optimizer=SGD(0.01, momentum=0.9))
    rng = np.random.default_rng(0)
    x = rng.random((2 * BATCH, 28, 28, 1), dtype=np.float32)
    y = np.eye(10, dtype="float32")[rng.integers(0, 10, 2 * BATCH)]
    t1 = time.perf_counter()
    model.train_on_batch(x[:BATCH], y[:BATCH])
    t2 = time.perf_counter()
    model.train_on_batch(x[BATCH:], y[BATCH:])
    t3 = time.perf_counter()
    print(json.dumps({"import_build_s": t1 - t0, "first_step_s": t2 - t1, "second_step_s": t3 - t2}))


def variant_list(frameworks, im2col, coretypes, baseline=None):
    """``[(framework, label, environment changes)]``: each framework once; with ``im2col``, tinycnn's im2col +
    BLAS route once more (``TINYCNN_DIRECT=0``), under each OpenBLAS kernel set in ``coretypes``; with
    ``baseline`` (a directory holding another checkout), that checkout's tinycnn once more."""
    out = []
    for name in frameworks:
        out.append((name, name, {}))
        if name == "tinycnn" and baseline:
            out.append((name, f"tinycnn [baseline {baseline_label(baseline)}]", {"TINYCNN_BENCH_SOURCE": baseline}))
        if name == "tinycnn" and im2col:
            for ct in coretypes:
                env = {"TINYCNN_DIRECT": "0"} if ct == "env" else {"TINYCNN_DIRECT": "0", "OPENBLAS_CORETYPE": ct}
                out.append((name, "tinycnn [im2col+BLAS]" + ("" if ct == "env" else f" [{ct}]"), env))
    return out


def baseline_label(path):
    """The short commit of a checkout (or its directory name)."""
    out = subprocess.run(["git", "-C", path, "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
    return out.stdout.strip() or os.path.basename(os.path.abspath(path))


def cpu_model():
    """The CPU's model name, family/model numbers and whether it has AVX-512 (from /proc/cpuinfo)."""
    info = {}
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                key, _, value = line.partition(":")
                key, value = key.strip(), value.strip()
                if key in ("model name", "cpu family", "model") and key not in info:
                    info[key] = value
                if key == "flags":
                    flags = set(value.split())
                    info["avx2"], info["avx512f"] = "avx2" in flags, "avx512f" in flags
                    break
    except OSError:
        pass
    return info


def spawn(args, env=None):
    out = subprocess.run(
        [sys.executable, os.path.abspath(__file__)] + args, capture_output=True, text=True, env=env, cwd=ROOT
    )
    if out.returncode:
        raise RuntimeError(f"worker {args} failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def compile_times():
    cache = tempfile.mkdtemp(prefix="tinycnn-numba-cache-")
    env = dict(os.environ, NUMBA_CACHE_DIR=cache, TINYCNN_BACKEND="numba")
    try:
        cold = spawn(["--first-step"], env)
        warm = spawn(["--first-step"], env)
    finally:
        shutil.rmtree(cache, ignore_errors=True)
    return {
        "cold": cold,
        "warm": warm,
        "cold_extra_s": cold["first_step_s"] - cold["second_step_s"],
        "warm_extra_s": warm["first_step_s"] - warm["second_step_s"],
    }


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--steps", type=int, default=200, help="timed training steps (batches of 32)")
    parser.add_argument("--warmup", type=int, default=10, help="warm-up steps")
    parser.add_argument("--infer", type=int, default=5000, help="test images for the inference timing")
    parser.add_argument(
        "--tinycnn-im2col",
        action="store_true",
        help="also run tinycnn's im2col + BLAS route (TINYCNN_DIRECT=0), the engine before the tiles",
    )
    parser.add_argument(
        "--tinycnn-blas",
        nargs="+",
        default=["env"],
        metavar="CORETYPE",
        help="with --tinycnn-im2col: run that route under each OPENBLAS_CORETYPE given "
        "('env': the environment as it is)",
    )
    parser.add_argument(
        "--tinycnn-baseline",
        metavar="DIR",
        help="also run the tinycnn of another checkout (e.g. `git worktree add /tmp/base <commit>`), "
        "to show a change is no slower in the same interleaved run",
    )
    parser.add_argument("--frameworks", nargs="+", default=None)
    parser.add_argument("--no-compile-times", action="store_true")
    parser.add_argument("--out", default=os.path.join(HERE, "results", "bench_train.json"))
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--data", help=argparse.SUPPRESS)
    parser.add_argument("--first-step", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.worker:
        return run_worker(args.worker, args.data, args.steps, args.warmup)
    if args.first_step:
        return first_step_worker()

    frameworks = args.frameworks
    if frameworks is None:
        import importlib.util

        frameworks = ["tinycnn", "keras"] + (["torch"] if importlib.util.find_spec("torch") else [])
    baseline = os.path.abspath(args.tinycnn_baseline) if args.tinycnn_baseline else None
    variants = variant_list(frameworks, args.tinycnn_im2col, args.tinycnn_blas, baseline)
    import numpy as np

    data_dir = tempfile.mkdtemp(prefix="tinycnn-bench-train-")
    data_path = os.path.join(data_dir, "data.npz")
    np.savez(data_path, **load_data((args.warmup + args.steps) * BATCH, args.infer))
    rows = []
    try:
        for r in range(args.rounds):
            for name, label, changes in variants:
                res = spawn(
                    ["--worker", name, "--data", data_path, "--steps", str(args.steps), "--warmup", str(args.warmup)],
                    env=dict(os.environ, **changes) if changes else None,
                )
                res["framework"], res["round"] = label, r
                rows.append(res)
                blas = res.get("blas", {}).get("openblas_coretype")
                print(
                    f"round {r}  {res['framework']:<20} train {res['train_images_per_s']:7.1f} img/s   "
                    f"infer {res['infer_images_per_s']:7.1f} img/s   peak {res['peak_rss_mib']:7.0f} MiB"
                    + (f"   OpenBLAS kernels: {blas}" if blas else ""),
                    flush=True,
                )
    finally:
        shutil.rmtree(data_dir, ignore_errors=True)
    names = [label for _, label, _ in variants]
    keys = ("train_images_per_s", "infer_images_per_s", "peak_rss_mib")
    med = {
        name: {k: statistics.median(row[k] for row in rows if row["framework"] == name) for k in keys} for name in names
    }
    result = {
        "benchmark": "course_cnn_throughput",
        "batch_size": BATCH,
        "steps": args.steps,
        "infer_images": args.infer,
        "rounds": rows,
        "median": med,
        "command": " ".join(["python", "benchmarks/bench_train.py"] + (argv or sys.argv[1:])),
        "machine": {
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
            "cpu": cpu_model(),
            "python": platform.python_version(),
            "OPENBLAS_CORETYPE": os.environ.get("OPENBLAS_CORETYPE"),
        },
        "date": time.strftime("%Y-%m-%d %H:%M:%S"),
    }
    if "keras" in med:
        k = med["keras"]
        result["ratios_vs_keras"] = {
            name: {
                "train": m["train_images_per_s"] / k["train_images_per_s"],
                "infer": m["infer_images_per_s"] / k["infer_images_per_s"],
                "peak_memory": m["peak_rss_mib"] / k["peak_rss_mib"],
            }
            for name, m in med.items()
        }
        per_round = {}
        for name in names:
            pairs = [
                (row, next(kr for kr in rows if kr["framework"] == "keras" and kr["round"] == row["round"]))
                for row in rows
                if row["framework"] == name
            ]
            per_round[name] = {
                "train": [a["train_images_per_s"] / b["train_images_per_s"] for a, b in pairs],
                "infer": [a["infer_images_per_s"] / b["infer_images_per_s"] for a, b in pairs],
            }
            per_round[name]["median_train"] = statistics.median(per_round[name]["train"])
            per_round[name]["median_infer"] = statistics.median(per_round[name]["infer"])
        result["per_round_ratios_vs_keras"] = per_round
    if not args.no_compile_times and "tinycnn" in frameworks:
        result["numba_first_step"] = compile_times()
    print("\nmedians over rounds (and median of the per-round ratios):")
    print(
        f"{'framework':<22}{'train img/s':>12}{'infer img/s':>13}{'peak MiB':>10}{'train x Keras':>15}"
        f"{'infer x Keras':>15}{'mem x Keras':>13}"
    )
    for name, m in med.items():
        ratio = result.get("ratios_vs_keras", {}).get(name, {})
        rnd = result.get("per_round_ratios_vs_keras", {}).get(name, {})
        print(
            f"{name:<22}{m['train_images_per_s']:>12.1f}{m['infer_images_per_s']:>13.1f}{m['peak_rss_mib']:>10.0f}"
            f"{ratio.get('train', float('nan')):>8.2f} ({rnd.get('median_train', float('nan')):.2f})"
            f"{ratio.get('infer', float('nan')):>8.2f} ({rnd.get('median_infer', float('nan')):.2f})"
            f"{ratio.get('peak_memory', float('nan')):>13.2f}"
        )
    if "numba_first_step" in result:
        c = result["numba_first_step"]
        print(
            f"\nNumba one-off cost on the first step: cold cache +{c['cold_extra_s']:.1f} s, "
            f"warm cache +{c['warm_extra_s']:.2f} s"
        )
    from tinycnn.utils import atomic_open  # here, not at the top: a Keras worker must not load tinycnn

    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    with atomic_open(args.out, "w") as f:
        json.dump(result, f, indent=2)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
