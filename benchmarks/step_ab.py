"""A/B of the course CNN's training step: this checkout (with its threading layer, and with OpenMP forced) against
another checkout, in rotating order, each run in a fresh process.

    git worktree add /tmp/base <commit>
    python benchmarks/step_ab.py --baseline /tmp/base [--rounds 6] [--steps 150]

Prints each run and the median step time per variant (ms per batch of 32, ``fit`` on fresh random images,
SGD with momentum as the course) and the median inference time per batch. A check of "no slower than before",
not a comparison with other frameworks (that is ``bench_train.py``).
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


def worker(source, steps):
    sys.path.insert(0, source)
    sys.path.insert(0, os.path.join(source, "examples"))
    import numba
    import numpy as np
    from fashion_mnist_cnn import build

    from tinycnn.optimizers import SGD

    model = build()
    model.compile(loss="categorical_crossentropy", optimizer=SGD(lr=0.01, momentum=0.9, decay=0.01 / 25))
    rng = np.random.default_rng(0)
    n = 32 * (steps + 10)
    x = rng.random((n, 28, 28, 1), dtype=np.float32)
    y = np.eye(10, dtype="float32")[rng.integers(0, 10, n)]
    model.fit(x[:320], y[:320], batch_size=32, verbose=0, shuffle=False)
    t = time.perf_counter()
    model.fit(x[320:], y[320:], batch_size=32, verbose=0, shuffle=False)
    train = time.perf_counter() - t
    t = time.perf_counter()
    model.predict(x[:3200], batch_size=32, verbose=0)
    infer = time.perf_counter() - t
    print(
        json.dumps(
            {
                "step_ms": 1000 * train / steps,
                "infer_ms_per_batch": 1000 * infer / 100,
                "threading_layer": numba.threading_layer(),
            }
        )
    )


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--baseline", required=True, help="another checkout of tinycnn")
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--steps", type=int, default=150)
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        return worker(args.worker, args.steps)
    variants = {
        "this checkout": (ROOT, {}),
        "this checkout, OpenMP": (ROOT, {"NUMBA_THREADING_LAYER": "omp", "GOMP_SPINCOUNT": "100000"}),
        "baseline": (os.path.abspath(args.baseline), {}),
    }
    names = list(variants)
    results = {k: [] for k in names}
    for r in range(args.rounds):
        for k in names[r % 3 :] + names[: r % 3]:
            source, env = variants[k]
            out = subprocess.run(
                [
                    sys.executable,
                    os.path.abspath(__file__),
                    "--baseline",
                    args.baseline,
                    "--steps",
                    str(args.steps),
                    "--worker",
                    source,
                ],
                capture_output=True,
                text=True,
                env=dict(os.environ, **env),
                cwd=HERE,
            )
            if out.returncode:
                raise RuntimeError(out.stderr[-2000:])
            row = json.loads(out.stdout.strip().splitlines()[-1])
            results[k].append(row)
            print(r, k, row, flush=True)
    base = statistics.median(d["step_ms"] for d in results["baseline"])
    for k, rows in results.items():
        step = statistics.median(d["step_ms"] for d in rows)
        infer = statistics.median(d["infer_ms_per_batch"] for d in rows)
        print(f"{k:<24} median step {step:6.2f} ms ({step / base:.2f}x baseline)   inference {infer:6.2f} ms/batch")


if __name__ == "__main__":
    main()
