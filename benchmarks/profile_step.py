"""Where a training step of the course CNN spends its time, layer by layer (tinycnn only).

Wraps every layer's ``forward`` and ``backward`` (and the optimizer's ``apply_gradients``) with a timer, trains
``--steps`` batches of 32 fresh Fashion-MNIST images with the course recipe after a warm-up, then times
``predict`` the same way. Prints milliseconds per batch for each layer and phase, the share of the step, and
GFLOP/s of the convolutions; writes ``benchmarks/results/profile_step.json``.

    python benchmarks/profile_step.py [--steps 200] [--predict-batch-sizes 32 1024] [--threads 1]

``--predict-batch-sizes`` adds a per-layer profile of ``predict`` at each batch size (microseconds per image, so
the sizes compare; ``predict`` runs a large batch in cache-sized pieces, :mod:`tinycnn.models.inference`).

A profile shows shares, not speed against anything: compare frameworks with ``bench_train.py``.
"""

import argparse
import collections
import json
import os
import platform
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.join(ROOT, "examples"))

import numpy as np  # noqa: E402

from tinycnn import kernels  # noqa: E402
from tinycnn.optimizers import SGD  # noqa: E402
from tinycnn.utils import atomic_open  # noqa: E402

BATCH = 32


def timed(obj, method, key, totals):
    """Replace ``obj.method`` by a wrapper that adds its wall time to ``totals[key]``."""
    inner = getattr(obj, method)

    def wrapper(*args, **kwargs):
        start = time.perf_counter()
        try:
            return inner(*args, **kwargs)
        finally:
            totals[key] += time.perf_counter() - start

    setattr(obj, method, wrapper)


def conv_flops(layer, batch):
    """Multiply-adds x 2 of one forward pass of a Conv2D layer."""
    kh, kw, c, f = layer.params["kernel"].shape
    _, oh, ow, _ = layer.output_shape
    return 2 * batch * oh * ow * kh * kw * c * f


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=200, help="timed training steps (batches of 32)")
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument("--threads", type=int, default=None, help="Numba threads (default: all cores)")
    parser.add_argument("--predict-batch-sizes", type=int, nargs="*", default=[], help="per-layer predict profile")
    parser.add_argument("--out", default=os.path.join(HERE, "results", "profile_step.json"))
    args = parser.parse_args(argv)
    if args.threads is not None:  # tinycnn's choice of threading layer first, then fewer threads for the kernels
        import numba

        from tinycnn.kernels import threads

        threads.start()
        numba.set_num_threads(args.threads)

    import fashion_mnist_cnn as course
    from bench_common import cpu_model

    from tinycnn.datasets import fashion_mnist

    (x, y), (tx, _) = fashion_mnist.load_data()
    n = (args.warmup + args.steps) * BATCH
    x = x[:n].reshape(-1, 28, 28, 1).astype("float32") / 255.0
    y = np.eye(10, dtype="float32")[y[:n]]
    tx = tx[: args.steps * BATCH].reshape(-1, 28, 28, 1).astype("float32") / 255.0

    model = course.build()
    model.compile(
        loss="categorical_crossentropy", optimizer=SGD(lr=0.01, momentum=0.9, decay=0.01 / 25), metrics=["accuracy"]
    )
    warm = args.warmup * BATCH
    model.fit(x[:warm], y[:warm], batch_size=BATCH, epochs=1, verbose=0, shuffle=False)

    totals = collections.defaultdict(float)
    for layer in model.layers:
        timed(layer, "forward", (layer.name, "forward"), totals)
        timed(layer, "backward", (layer.name, "backward"), totals)
    # the training loop calls the optimizer's _apply (the update kernels also keep the undo's copies)
    timed(
        model.optimizer,
        "_apply" if hasattr(model.optimizer, "_apply") else "apply_gradients",
        ("SGD update", "update"),
        totals,
    )
    start = time.perf_counter()
    model.fit(x[warm:], y[warm:], batch_size=BATCH, epochs=1, verbose=0, shuffle=False)
    train_s = time.perf_counter() - start
    train = dict(totals)
    totals.clear()
    start = time.perf_counter()
    model.predict(tx, batch_size=BATCH)
    infer_s = time.perf_counter() - start
    infer = dict(totals)

    by_batch = {}
    for bs in args.predict_batch_sizes:
        images = max(len(tx), 4 * bs)
        data = np.concatenate([tx] * -(-images // len(tx)))[:images]
        model.predict(data[: 2 * bs], batch_size=bs)  # warm: this batch size's scratch buffers
        totals.clear()
        start = time.perf_counter()
        model.predict(data, batch_size=bs)
        total_s = time.perf_counter() - start
        per_image = {layer.name: totals.get((layer.name, "forward"), 0.0) / images * 1e6 for layer in model.layers}
        by_batch[str(bs)] = {
            "images": images,
            "us_per_image": total_s / images * 1e6,
            "layers_us_per_image": per_image,
            "rest_us_per_image": total_s / images * 1e6 - sum(per_image.values()),
        }

    steps = args.steps
    step_ms = train_s / steps * 1e3
    infer_ms = infer_s / (len(tx) / BATCH) * 1e3
    rows = []
    for layer in model.layers:
        row = {
            "layer": layer.name,
            "type": type(layer).__name__,
            "train_forward_ms": train.get((layer.name, "forward"), 0.0) / steps * 1e3,
            "train_backward_ms": train.get((layer.name, "backward"), 0.0) / steps * 1e3,
            "predict_forward_ms": infer.get((layer.name, "forward"), 0.0) / (len(tx) / BATCH) * 1e3,
        }
        if type(layer).__name__ == "Conv2D":
            f = conv_flops(layer, BATCH)
            row["train_gflops"] = 3 * f / ((row["train_forward_ms"] + row["train_backward_ms"]) / 1e3) / 1e9
            row["predict_gflops"] = f / (row["predict_forward_ms"] / 1e3) / 1e9
        rows.append(row)
    update_ms = train.get(("SGD update", "update"), 0.0) / steps * 1e3
    by_type = collections.defaultdict(float)
    for row in rows:
        by_type[row["type"]] += row["train_forward_ms"] + row["train_backward_ms"]
    by_type["SGD update"] = update_ms
    by_type["rest of fit (loss, metrics, checks, Python)"] = step_ms - sum(by_type.values())

    from tinycnn.kernels import numba_kernels

    route = (
        "tinycnn's SIMD tiles"
        if kernels.get_backend() == "numba" and numba_kernels.DIRECT
        else f"im2col + OpenBLAS ({kernels.blas_info().get('openblas_coretype')})"
    )
    print(f"backend: {kernels.get_backend()}; convolutions by {route}")
    print(
        f"training step: {step_ms:.2f} ms per batch of {BATCH} ({BATCH / step_ms * 1e3:.0f} images/s); "
        f"predict: {infer_ms:.2f} ms per batch ({BATCH / infer_ms * 1e3:.0f} images/s)"
    )
    print(f"{'layer':<24}{'fwd ms':>8}{'bwd ms':>8}{'% step':>8}{'GFLOP/s':>9}{'predict ms':>12}")
    for row in rows:
        both = row["train_forward_ms"] + row["train_backward_ms"]
        gf = row.get("train_gflops")
        print(
            f"{row['layer']:<24}{row['train_forward_ms']:8.2f}{row['train_backward_ms']:8.2f}"
            f"{100 * both / step_ms:8.1f}{'' if gf is None else f'{gf:9.0f}':>9}{row['predict_forward_ms']:12.2f}"
        )
    print("by kind of layer (training step, fwd + bwd):")
    for kind, ms in sorted(by_type.items(), key=lambda kv: -kv[1]):
        print(f"  {kind:<46}{ms:7.2f} ms  {100 * ms / step_ms:5.1f}%")

    if by_batch:
        sizes = list(by_batch)
        print("predict, microseconds per image, by batch size:")
        print(f"{'layer':<24}" + "".join(f"{'batch ' + b:>12}" for b in sizes))
        for layer in model.layers:
            print(
                f"{layer.name:<24}" + "".join(f"{by_batch[b]['layers_us_per_image'][layer.name]:12.1f}" for b in sizes)
            )
        print(f"{'rest (Python, joins)':<24}" + "".join(f"{by_batch[b]['rest_us_per_image']:12.1f}" for b in sizes))
        print(f"{'total':<24}" + "".join(f"{by_batch[b]['us_per_image']:12.1f}" for b in sizes))

    result = {
        "benchmark": "profile_step",
        "batch_size": BATCH,
        "threads": __import__("numba").get_num_threads(),
        "steps": steps,
        "command": " ".join(["python", "benchmarks/profile_step.py"] + (argv or sys.argv[1:])),
        "blas": kernels.blas_info(),
        "backend": kernels.get_backend(),
        "route": route,
        "machine": {
            "cpus": os.cpu_count(),
            "cpu": cpu_model(),
            "platform": platform.platform(),
            "python": platform.python_version(),
        },
        "date": time.strftime("%Y-%m-%d %H:%M:%S"),
        "train_step_ms": step_ms,
        "predict_batch_ms": infer_ms,
        "layers": rows,
        "train_by_kind_ms": dict(by_type),
        "predict_by_batch": by_batch,
    }
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    with atomic_open(args.out, "w") as f:
        json.dump(result, f, indent=2)
    print(f"wrote {os.path.relpath(args.out)}")
    return result


if __name__ == "__main__":
    main()
