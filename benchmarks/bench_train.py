"""Training and inference throughput of the course CNN: tinycnn vs Keras (and PyTorch when installed).

Every measurement runs in a fresh worker process (one framework per process, so their thread pools never
meet and peak memory is the framework's own), and the frameworks take turns, round after round, so a drift
of the shared machine's speed hits all of them alike. A measurement is one framework x optimizer x thread
count; within its worker:

* warm-up: one short ``fit`` (compiles Keras's graph, Numba's kernels, PyTorch's allocator);
* training: ``fit`` for ``--steps`` batches of 32 *fresh* Fashion-MNIST images (a repeated batch drives the
  loss to zero and the arithmetic into denormals, which is not what training looks like);
* inference: ``predict`` at each of ``--batch-sizes`` (default 32, the course's) with the trained weights, on
  ``max(--infer, 4 x the largest batch size)`` test images (so the largest batch runs at least 4 batches),
  each after an untimed ``predict`` of 4 batches;
* peak resident memory of the process (``ru_maxrss``).

``--optimizer sgd`` (the default) is the course recipe: SGD, learning rate 0.01, momentum 0.9, decaying as
``0.01 / (1 + 0.01 / 25 * step)`` in tinycnn and Keras (constant in PyTorch; over a few hundred steps the
difference is nil for speed). ``--optimizer adam``: Adam, learning rate 1e-3, Keras's defaults (beta_1 0.9,
beta_2 0.999, epsilon 1e-7) in all three (``torch.optim.Adam(..., eps=1e-7)``). ``--optimizer sgd adam``
measures both in the same rounds and reports Adam's training step over SGD's per framework.

``--threads N [N ...]`` (default: the core count): each measurement runs with N threads: the worker starts
with ``NUMBA_NUM_THREADS``, ``OMP_NUM_THREADS``, ``OPENBLAS_NUM_THREADS``, ``MKL_NUM_THREADS``,
``TF_NUM_INTRAOP_THREADS`` and ``TF_NUM_INTEROP_THREADS`` set to N, and calls TensorFlow's
``set_intra_op/inter_op_parallelism_threads(N)`` or ``torch.set_num_threads(N)`` (and interop); the count each
framework then reports is recorded (``threads_reported``).

**GEMM peak and ceiling.** Every round, per thread count, a worker of its own times the best float32
``--gemm-size`` (2048) square matrix product of ``numpy.matmul`` and ``torch.mm`` (best of
``--gemm-repeats``); the larger is the GEMM peak. One training image of the course CNN costs
``3 x 2 x`` the multiply-adds of its Conv2D and Dense layers (forward, input gradient, kernel gradient;
``bench_common.training_flops_per_image``, counted from the layer shapes: 19.9 M multiply-adds, 119.4 MFLOP),
so ``peak / FLOPs per image`` is a ceiling of training images/s, and each framework's training speed is
reported as a percentage of it (median over rounds of the per-round percentage).

tinycnn's engine does its multiply-adds in its own SIMD tiles (``tinycnn/kernels/simd.py``), not in BLAS.
``--tinycnn-im2col`` adds the engine as it was before them, side by side: ``TINYCNN_DIRECT=0``, im2col +
NumPy's matrix products on OpenBLAS, whose kernels can be forced with the environment variable
``OPENBLAS_CORETYPE`` (this development machine pins ``Haswell``, OpenBLAS's AVX2 kernels, although its CPU
has AVX-512; TensorFlow's oneDNN picks AVX-512 by itself). ``--tinycnn-blas env SKYLAKEX`` runs that route
once more with ``OPENBLAS_CORETYPE=SKYLAKEX`` (the AVX-512 kernels). Every worker records the route and the
OpenBLAS kernels it ran.

Ratios: besides the ratio of the medians, each round gives its own ``tinycnn / Keras`` and ``tinycnn /
PyTorch`` ratios from measurements a few seconds apart; their median is the figure least moved by the
machine's drift.

Separately, the one-off Numba cost: time to the end of the first training step in a fresh process with an
empty kernel cache (cold) and with the cache filled (warm), against the same process's second step.

    python benchmarks/bench_train.py [--rounds 5] [--steps 200] [--infer 5000] [--batch-sizes 32 128 ...]
                                     [--optimizer sgd adam] [--threads 1 2] [--tinycnn-im2col]
                                     [--tinycnn-blas env SKYLAKEX] [--tinycnn-baseline DIR] [--cpu-dir DIR]

``--tinycnn-baseline DIR`` runs the tinycnn of another checkout (``git worktree add DIR <commit>``) in the same
rounds, so a change can be shown to be no slower than the commit before it.

Writes ``--out`` (``benchmarks/results/bench_train.json``) and a copy ``<cpu-dir>/<cpu slug>.json`` (default
``cpus/`` next to ``--out``; the slug is the CPU's model name, family and model number, e.g.
``amd-epyc-f25-m17``), so a run on another CPU adds a file; prints the tables. Quote the ratios, not the
absolute speeds. JSON: ``rounds`` (every measurement, with ``optimizer``, ``threads``,
``infer_images_per_s_by_batch`` and ``infer_images_per_s`` = batch 32's, else the first batch size's),
``configurations`` (per optimizer x thread count: medians, ratios of the medians and per-round ratios vs Keras
and vs PyTorch, inference per batch size, ``percent_of_ceiling``), ``adam_over_sgd_step`` (per thread count),
``gemm``, ``flops_per_image``, ``ceiling_images_per_s``; ``median``, ``ratios_vs_keras`` etc. at the top are
the ``primary`` configuration's (the first optimizer, the most threads), the layout older readers know.
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
for _path in (ROOT, HERE):  # tinycnn; bench_common and keras_models
    if _path not in sys.path:
        sys.path.insert(0, _path)
BATCH = 32

from bench_common import (  # noqa: E402  (after the path set-up)
    THREAD_VARIABLES,
    adam_over_sgd,
    course_flops,
    cpu_model,
    cpu_slug,
    gemm_peak,
    print_tables,
    summarise,
    thread_env,
)


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
#: The optimizers, as every framework builds them (Keras's defaults for Adam; SGD is the course recipe, its
#: learning rate decaying as ``0.01 / (1 + 0.01 / 25 * step)`` in tinycnn and Keras, constant in PyTorch).
OPTIMIZERS = {
    "sgd": {"learning_rate": 0.01, "momentum": 0.9, "decay": 0.01 / 25},
    "adam": {"learning_rate": 1e-3, "beta_1": 0.9, "beta_2": 0.999, "epsilon": 1e-7},
}


def timed_predict(predict, tx, batch_sizes):
    """``{batch size: seconds}`` of ``predict(images, batch_size)`` on all of ``tx``, each after an untimed
    call on ``4 * batch size`` images."""
    out = {}
    for bs in batch_sizes:
        predict(tx[: 4 * bs], bs)
        t = time.perf_counter()
        predict(tx, bs)
        out[bs] = time.perf_counter() - t
    return out


def worker_tinycnn(x, y, labels, tx, warm, optimizer, batch_sizes, threads):
    source = os.environ.get("TINYCNN_BENCH_SOURCE")  # --tinycnn-baseline: another checkout's tinycnn
    if source:
        sys.path.insert(0, source)
    sys.path.insert(0, os.path.join(source or ROOT, "examples"))
    import fashion_mnist_cnn as course
    import numba

    from tinycnn import kernels
    from tinycnn.kernels import numba_kernels
    from tinycnn.optimizers import SGD

    o = OPTIMIZERS[optimizer]
    if optimizer == "adam":
        from tinycnn.optimizers import Adam  # not in a baseline checkout from before the optimizers issue

        opt = Adam(o["learning_rate"], beta_1=o["beta_1"], beta_2=o["beta_2"], epsilon=o["epsilon"])
    else:
        opt = SGD(lr=o["learning_rate"], momentum=o["momentum"], decay=o["decay"])
    model = course.build()
    model.compile(loss="categorical_crossentropy", optimizer=opt, metrics=["accuracy"])
    model.fit(x[:warm], y[:warm], batch_size=BATCH, epochs=1, verbose=0, shuffle=False)
    t = time.perf_counter()
    model.fit(x[warm:], y[warm:], batch_size=BATCH, epochs=1, verbose=0, shuffle=False)
    train = time.perf_counter() - t
    infer = timed_predict(lambda data, bs: model.predict(data, batch_size=bs), tx, batch_sizes)
    import tinycnn

    try:
        from tinycnn.kernels import threads as engine_threads

        engine = engine_threads.info()
    except ImportError:  # a baseline checkout from before tinycnn.kernels.threads
        engine = None
    return (
        train,
        infer,
        {
            "backend": kernels.get_backend(),
            "blas": kernels.blas_info(),
            "route": "direct" if getattr(numba_kernels, "DIRECT", True) else "im2col+BLAS",
            "openmp_settings": getattr(numba_kernels, "OPENMP_SETTINGS", None),
            "tinycnn_source": os.path.dirname(os.path.dirname(os.path.abspath(tinycnn.__file__))),
            "threads_reported": {"numba": numba.get_num_threads(), "engine": engine},
        },
    )


def worker_keras(x, y, labels, tx, warm, optimizer, batch_sizes, threads):
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import keras
    import tensorflow as tf
    from keras_models import keras_course_cnn  # the same Keras model as the side-by-side comparison

    tf.config.threading.set_intra_op_parallelism_threads(threads)
    tf.config.threading.set_inter_op_parallelism_threads(threads)
    o = OPTIMIZERS[optimizer]
    if optimizer == "adam":
        opt = keras.optimizers.Adam(o["learning_rate"], beta_1=o["beta_1"], beta_2=o["beta_2"], epsilon=o["epsilon"])
    else:
        lr = keras.optimizers.schedules.InverseTimeDecay(o["learning_rate"], 1, o["decay"])
        opt = keras.optimizers.SGD(lr, momentum=o["momentum"])
    model = keras_course_cnn(keras, dropout=0.5)
    model.compile(loss="categorical_crossentropy", optimizer=opt, metrics=["accuracy"])
    model.fit(x[:warm], y[:warm], batch_size=BATCH, epochs=1, verbose=0, shuffle=False)
    t = time.perf_counter()
    model.fit(x[warm:], y[warm:], batch_size=BATCH, epochs=1, verbose=0, shuffle=False)
    train = time.perf_counter() - t
    infer = timed_predict(lambda data, bs: model.predict(data, batch_size=bs, verbose=0), tx, batch_sizes)
    reported = {
        "intra_op": tf.config.threading.get_intra_op_parallelism_threads(),
        "inter_op": tf.config.threading.get_inter_op_parallelism_threads(),
    }
    return train, infer, {"keras": keras.__version__, "tensorflow": tf.__version__, "threads_reported": reported}


def worker_torch(x, y, labels, tx, warm, optimizer, batch_sizes, threads):
    import torch
    from torch import nn

    torch.set_num_threads(threads)
    torch.set_num_interop_threads(threads)
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
    o = OPTIMIZERS[optimizer]
    if optimizer == "adam":
        opt = torch.optim.Adam(
            model.parameters(), lr=o["learning_rate"], betas=(o["beta_1"], o["beta_2"]), eps=o["epsilon"]
        )
    else:
        opt = torch.optim.SGD(model.parameters(), lr=o["learning_rate"], momentum=o["momentum"])
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

    def predict(data, bs):
        model.eval()
        with torch.no_grad():
            return torch.cat([torch.softmax(model(data[i : i + bs]), 1) for i in range(0, len(data), bs)])

    train_range(0, warm)
    t = time.perf_counter()
    train_range(warm, len(x))
    train = time.perf_counter() - t
    infer = timed_predict(predict, txt, batch_sizes)
    reported = {"torch": torch.get_num_threads(), "interop": torch.get_num_interop_threads()}
    return train, infer, {"torch": torch.__version__, "threads": torch.get_num_threads(), "threads_reported": reported}


WORKERS = {"tinycnn": worker_tinycnn, "keras": worker_keras, "torch": worker_torch}
#: Recorded by every worker: none of them may inherit tinycnn's OpenMP settings (PyTorch runs on OpenMP too);
#: ``OMP_NUM_THREADS`` is the worker's thread count (``--threads``).
OPENMP_VARIABLES = ("GOMP_SPINCOUNT", "OMP_WAIT_POLICY", "OMP_NUM_THREADS")


def run_worker(name, data_path, steps, warm_steps, optimizer, batch_sizes, threads):
    import numpy as np

    warm = warm_steps * BATCH
    with np.load(data_path) as data:
        x, y, labels, tx = (data[k] for k in ("x", "y", "labels", "tx"))
    train, inference, info = WORKERS[name](x, y, labels, tx, warm, optimizer, batch_sizes, threads)
    rss_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    by_batch = {str(bs): len(tx) / seconds for bs, seconds in inference.items()}
    print(
        json.dumps(
            {
                "framework": name,
                "optimizer": optimizer,
                "threads": threads,
                "train_images_per_s": steps * BATCH / train,
                "infer_images_per_s": by_batch[str(BATCH)] if str(BATCH) in by_batch else by_batch[str(batch_sizes[0])],
                "infer_images_per_s_by_batch": by_batch,
                "peak_rss_mib": rss_mib,
                "tinycnn_loaded": "tinycnn" in sys.modules,
                "openmp_environment": {k: os.environ.get(k) for k in OPENMP_VARIABLES},
                "thread_environment": {k: os.environ.get(k) for k in THREAD_VARIABLES},
                **info,
            }
        )
    )


def run_gemm_worker(size, repeats, threads):
    print(json.dumps({**gemm_peak(size, repeats, threads), "threads": threads}))


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


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--steps", type=int, default=200, help="timed training steps (batches of 32)")
    parser.add_argument("--warmup", type=int, default=10, help="warm-up steps")
    parser.add_argument(
        "--infer",
        type=int,
        default=5000,
        help="test images for the inference timing (at least 4 x the largest --batch-sizes are used)",
    )
    parser.add_argument(
        "--batch-sizes",
        type=int,
        nargs="+",
        default=[BATCH],
        metavar="B",
        help="time predict at each batch size (same worker, same weights); training stays at batch 32",
    )
    parser.add_argument(
        "--optimizer",
        nargs="+",
        choices=sorted(OPTIMIZERS),
        default=["sgd"],
        help="sgd: the course recipe (lr 0.01, momentum 0.9, decay); adam: lr 1e-3 and Keras's defaults; "
        "both: each framework x optimizer is one measurement per round, and Adam step / SGD step is reported",
    )
    parser.add_argument(
        "--threads",
        type=int,
        nargs="+",
        default=[os.cpu_count() or 1],
        metavar="N",
        help="thread counts: each measurement runs with N threads in every library (default: the core count)",
    )
    parser.add_argument("--gemm-size", type=int, default=2048, help="GEMM peak: n x n by n x n float32 products")
    parser.add_argument("--gemm-repeats", type=int, default=5, help="GEMM peak: timed products (the best counts)")
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
    parser.add_argument(
        "--cpu-dir",
        help="folder of the per-CPU copies (default: cpus/ next to --out); the copy is <cpu slug>.json",
    )
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--gemm", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--data", help=argparse.SUPPRESS)
    parser.add_argument("--first-step", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if max(args.batch_sizes) * 4 > 10000:
        parser.error("--batch-sizes: at most 2500 (4 batches of the largest must fit in the 10000 test images)")
    if min(args.batch_sizes) < 1 or min(args.threads) < 1:
        parser.error("--batch-sizes and --threads must be positive")
    args.optimizer = list(dict.fromkeys(args.optimizer))
    args.threads = list(dict.fromkeys(args.threads))
    args.batch_sizes = list(dict.fromkeys(args.batch_sizes))
    return args


def measure(args, variants, data_path):
    """Every round: per thread count, the GEMM peak in its own worker, then each optimizer x variant in its
    own worker. Returns (rows, gemm rows)."""
    rows, gemm_rows = [], []
    sizes = [str(b) for b in args.batch_sizes]
    for r in range(args.rounds):
        for threads in args.threads:
            env = dict(os.environ, **thread_env(threads))
            g = spawn(
                ["--gemm", "--gemm-size", str(args.gemm_size), "--threads", str(threads)]
                + ["--gemm-repeats", str(args.gemm_repeats)],
                env=env,
            )
            g["round"] = r
            gemm_rows.append(g)
            torch_gf = "" if g["torch_gflops"] is None else f", torch.mm {g['torch_gflops']:.0f}"
            print(f"round {r}  {threads} threads: GEMM numpy {g['numpy_gflops']:.0f}{torch_gf} GFLOP/s", flush=True)
            for optimizer in args.optimizer:
                for name, label, changes in variants:
                    command = ["--worker", name, "--data", data_path, "--steps", str(args.steps)]
                    command += ["--warmup", str(args.warmup), "--optimizer", optimizer, "--threads", str(threads)]
                    command += ["--batch-sizes"] + sizes
                    res = spawn(command, env=dict(env, **changes))
                    res["framework"], res["round"] = label, r
                    rows.append(res)
                    blas = res.get("blas", {}).get("openblas_coretype")
                    infer = "  ".join(f"@{b} {res['infer_images_per_s_by_batch'][b]:7.1f}" for b in sizes)
                    print(
                        f"round {r}  {threads}t {optimizer:<4} {res['framework']:<20} "
                        f"train {res['train_images_per_s']:7.1f} img/s   infer {infer} img/s   "
                        f"peak {res['peak_rss_mib']:5.0f} MiB" + (f"   OpenBLAS kernels: {blas}" if blas else ""),
                        flush=True,
                    )
    return rows, gemm_rows


def configurations(args, rows, gemm_rows, names, flops):
    """The summary of each (optimizer, thread count) (``bench_common.summarise``), in the order measured."""
    out = []
    for threads in args.threads:
        gemm = [g for g in gemm_rows if g["threads"] == threads]
        for optimizer in args.optimizer:
            mine = [row for row in rows if row["optimizer"] == optimizer and row["threads"] == threads]
            summary = summarise(mine, names, args.batch_sizes, gemm, flops)
            out.append({"optimizer": optimizer, "threads": threads, **summary})
    return out


def main(argv=None):
    args = parse_args(argv)
    if args.worker:
        return run_worker(
            args.worker, args.data, args.steps, args.warmup, args.optimizer[0], args.batch_sizes, args.threads[0]
        )
    if args.gemm:
        return run_gemm_worker(args.gemm_size, args.gemm_repeats, args.threads[0])
    if args.first_step:
        return first_step_worker()

    frameworks = args.frameworks
    if frameworks is None:
        import importlib.util

        frameworks = ["tinycnn", "keras"] + (["torch"] if importlib.util.find_spec("torch") else [])
    baseline = os.path.abspath(args.tinycnn_baseline) if args.tinycnn_baseline else None
    variants = variant_list(frameworks, args.tinycnn_im2col, args.tinycnn_blas, baseline)
    import numpy as np

    n_infer = max(args.infer, 4 * max(args.batch_sizes))
    flops = course_flops(ROOT)
    data_dir = tempfile.mkdtemp(prefix="tinycnn-bench-train-")
    data_path = os.path.join(data_dir, "data.npz")
    np.savez(data_path, **load_data((args.warmup + args.steps) * BATCH, n_infer))
    try:
        rows, gemm_rows = measure(args, variants, data_path)
    finally:
        shutil.rmtree(data_dir, ignore_errors=True)
    names = [label for _, label, _ in variants]
    configs = configurations(args, rows, gemm_rows, names, flops["training_flops"])
    # the primary configuration (the first optimizer, the most threads) fills the keys older readers know
    primary = next(c for c in configs if c["optimizer"] == args.optimizer[0] and c["threads"] == max(args.threads))
    median_peak = {
        str(t): statistics.median(g["peak_gflops"] for g in gemm_rows if g["threads"] == t) for t in args.threads
    }
    result = {
        "benchmark": "course_cnn_throughput",
        "batch_size": BATCH,
        "steps": args.steps,
        "infer_images": n_infer,
        "infer_batch_sizes": args.batch_sizes,
        "optimizers": {name: OPTIMIZERS[name] for name in args.optimizer},
        "threads": args.threads,
        "primary": {"optimizer": primary["optimizer"], "threads": primary["threads"]},
        "rounds": rows,
        "median": primary["median"],
        "configurations": configs,
        "gemm": {"size": args.gemm_size, "rounds": gemm_rows, "median_peak_gflops": median_peak},
        "flops_per_image": {
            **flops,
            "counted_as": "3 x 2 x the multiply-adds of every Conv2D and Dense layer (forward, input gradient, "
            "kernel gradient); biases, activations, normalisation, pooling, loss and optimizer not counted",
        },
        "ceiling_images_per_s": {t: g * 1e9 / flops["training_flops"] for t, g in median_peak.items()},
        "command": " ".join(["python", "benchmarks/bench_train.py"] + (argv or sys.argv[1:])),
        "machine": {
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
            "cpu": cpu_model(),
            "cpu_slug": cpu_slug(cpu_model()),
            "python": platform.python_version(),
            "OPENBLAS_CORETYPE": os.environ.get("OPENBLAS_CORETYPE"),
        },
        "date": time.strftime("%Y-%m-%d %H:%M:%S"),
    }
    for key in ("ratios_vs_keras", "per_round_ratios_vs_keras", "ratios_vs_torch", "per_round_ratios_vs_torch"):
        if key in primary:
            result[key] = primary[key]
    if set(args.optimizer) == {"sgd", "adam"}:
        result["adam_over_sgd_step"] = {
            str(t): adam_over_sgd([row for row in rows if row["threads"] == t], names) for t in args.threads
        }
    if not args.no_compile_times and "tinycnn" in frameworks:
        result["numba_first_step"] = compile_times()
    print_tables(result, names)
    if "numba_first_step" in result:
        c = result["numba_first_step"]
        print(
            f"\nNumba one-off cost on the first step: cold cache +{c['cold_extra_s']:.1f} s, "
            f"warm cache +{c['warm_extra_s']:.2f} s"
        )
    from tinycnn.utils import atomic_open  # here, not at the top: a Keras worker must not load tinycnn

    cpu_dir = args.cpu_dir or os.path.join(os.path.dirname(os.path.abspath(args.out)), "cpus")
    cpu_copy = os.path.join(cpu_dir, result["machine"]["cpu_slug"] + ".json")
    for path in (args.out, cpu_copy):
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        with atomic_open(path, "w") as f:
            json.dump(result, f, indent=2)
        print(f"wrote {path}")


if __name__ == "__main__":
    main()
