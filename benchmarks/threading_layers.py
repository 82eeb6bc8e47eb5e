"""Which Numba threading layer should tinycnn's engine run on? Speed and fork safety, measured.

Numba runs every ``prange`` loop on one of three *threading layers*: ``omp`` (the GNU OpenMP runtime on
Linux), ``tbb`` (Intel's oneTBB, a separate ``pip install tbb``) and ``workqueue`` (Numba's own pool of
POSIX threads). tinycnn needs one that

* trains as fast as the others (a training step of the course CNN is ~100 kernel calls, so the cost of
  waking the threads at each call matters as much as the arithmetic), and
* survives ``os.fork()`` after training: a child that predicts, a ``multiprocessing`` pool started by
  ``fork`` (Linux's default before Python 3.14) and one started by ``spawn``.

Each configuration runs in a fresh worker process (``NUMBA_THREADING_LAYER=<layer>``, which tinycnn leaves
alone, plus the OpenMP wait settings when given), in rotating rounds so that the drift of a shared machine
hits every configuration alike. A worker builds the course CNN (``examples/fashion_mnist_cnn.py``'s
``build()``), compiles it with SGD (momentum 0.9), runs ``--warm`` ``train_on_batch`` steps, then times
``--steps`` more on fixed batches of random images. With ``--fork`` it then forks a child that predicts,
maps ``predict`` over a fork-start pool and over a spawn-start pool, each under a time limit, and records
what happened (``ok``, ``killed by signal N``, ``hang``).

    python benchmarks/threading_layers.py [--rounds 5] [--steps 60] [--warm 5] [--fork]
        [--configs omp omp-passive workqueue tbb]

``tbb`` needs the ``tbb`` package (its libraries on the loader's path); a configuration whose layer cannot
start is reported as such. Writes ``benchmarks/results/threading_layers.json`` and prints a table.
"""

import argparse
import json
import multiprocessing
import os
import platform
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)

#: name -> environment of the worker. ``omp`` is the GNU OpenMP runtime with a short spin (what tinycnn ran on
#: before this measurement), ``omp-passive`` with threads that sleep at once.
CONFIGS = {
    "omp": {"NUMBA_THREADING_LAYER": "omp", "GOMP_SPINCOUNT": "100000"},
    "omp-passive": {"NUMBA_THREADING_LAYER": "omp", "OMP_WAIT_POLICY": "passive"},
    "workqueue": {"NUMBA_THREADING_LAYER": "workqueue"},
    "tbb": {"NUMBA_THREADING_LAYER": "tbb"},
    "default": {},  # whatever tinycnn picks by itself
}


def _course_model():
    sys.path.insert(0, ROOT)
    sys.path.insert(0, os.path.join(ROOT, "examples"))
    import fashion_mnist_cnn as course

    from tinycnn.optimizers import SGD

    model = course.build()
    model.compile(
        loss="categorical_crossentropy", optimizer=SGD(learning_rate=0.01, momentum=0.9), metrics=["accuracy"]
    )
    return model


def _predict_in_worker(seed):
    """Pool task: build a small model and predict (the child's first compiled calls run in the child)."""
    import numpy as np

    model = _course_model()
    x = np.random.default_rng(seed).random((4, 28, 28, 1), dtype=np.float32)
    return float(model.predict(x, verbose=0).sum())


def _fork_checks(model, x, limit=60.0):
    """Fork a child that predicts; run predict in a fork-start pool and a spawn-start pool."""
    results = {}
    pid = os.fork()
    if pid == 0:  # the child
        try:
            model.predict(x[:8], verbose=0)
            os._exit(0)
        except BaseException:
            os._exit(3)
    deadline = time.monotonic() + limit
    status = None
    while time.monotonic() < deadline:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            break
        time.sleep(0.05)
    else:
        os.kill(pid, 9)
        os.waitpid(pid, 0)
        status = None
    if status is None:
        results["fork"] = "hang"
    elif os.WIFSIGNALED(status):
        results["fork"] = f"killed by signal {os.WTERMSIG(status)}"
    else:
        results["fork"] = "ok" if os.WEXITSTATUS(status) == 0 else f"exit {os.WEXITSTATUS(status)}"
    for method in ("fork", "spawn"):
        pool = multiprocessing.get_context(method).Pool(2)
        try:
            pool.map_async(_predict_in_worker, [1, 2]).get(timeout=limit)
            results[f"{method}_pool"] = "ok"
        except multiprocessing.TimeoutError:
            results[f"{method}_pool"] = "hang"
        except Exception as error:  # noqa: BLE001 - recorded, not hidden
            results[f"{method}_pool"] = f"error {type(error).__name__}: {error}"
        finally:
            pool.terminate()
            pool.join()
    return results


def worker(steps, warm, fork):
    import numba
    import numpy as np

    model = _course_model()
    rng = np.random.default_rng(0)
    x = rng.random((32, 28, 28, 1), dtype=np.float32)
    y = np.eye(10, dtype=np.float32)[rng.integers(0, 10, 32)]
    for _ in range(warm):
        model.train_on_batch(x, y)
    times = []
    for _ in range(steps):
        t = time.perf_counter()
        model.train_on_batch(x, y)
        times.append(time.perf_counter() - t)
    out = {
        "step_ms_median": 1e3 * statistics.median(times),
        "step_ms_mean": 1e3 * statistics.fmean(times),
        "layer": numba.threading_layer(),
        "threads": numba.get_num_threads(),
    }
    if fork:
        out.update(_fork_checks(model, x))
    print("RESULT " + json.dumps(out), flush=True)


def run_config(name, steps, warm, fork, timeout=600):
    env = {
        k: v for k, v in os.environ.items() if k not in ("NUMBA_THREADING_LAYER", "GOMP_SPINCOUNT", "OMP_WAIT_POLICY")
    }
    env.update(CONFIGS[name])
    args = [sys.executable, os.path.abspath(__file__), "--worker", "--steps", str(steps), "--warm", str(warm)]
    proc = subprocess.run(
        args + (["--fork"] if fork else []), env=env, capture_output=True, text=True, timeout=timeout, cwd=ROOT
    )
    for line in proc.stdout.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[7:])
    return {"error": (proc.stderr or proc.stdout).strip().splitlines()[-1:] or [f"exit {proc.returncode}"]}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--steps", type=int, default=60)
    parser.add_argument("--warm", type=int, default=5)
    parser.add_argument("--fork", action="store_true", help="also check fork, fork pool and spawn pool")
    parser.add_argument("--configs", nargs="+", default=["omp", "workqueue", "tbb"], choices=sorted(CONFIGS))
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--out", default=os.path.join(HERE, "results", "threading_layers.json"))
    args = parser.parse_args()
    if args.worker:
        return worker(args.steps, args.warm, args.fork)
    runs = {name: [] for name in args.configs}
    for r in range(args.rounds):
        order = args.configs[r % len(args.configs) :] + args.configs[: r % len(args.configs)]  # rotate
        for name in order:
            result = run_config(name, args.steps, args.warm, args.fork and r == 0)
            runs[name].append(result)
            print(f"round {r + 1} {name:12s} {json.dumps(result)}", flush=True)
    summary = {}
    for name, results in runs.items():
        medians = [x["step_ms_median"] for x in results if "step_ms_median" in x]
        summary[name] = {
            "step_ms_median_of_runs": statistics.median(medians) if medians else None,
            "step_ms_runs": medians,
            "fork": {k: results[0].get(k) for k in ("fork", "fork_pool", "spawn_pool") if k in results[0]},
            "layer": results[0].get("layer"),
            "error": results[0].get("error"),
        }
    base = summary.get(args.configs[0], {}).get("step_ms_median_of_runs")
    print(f"\n{'config':12s} {'layer':10s} {'median step ms':>15s} {'vs ' + args.configs[0]:>10s}  fork checks")
    for name, s in summary.items():
        m = s["step_ms_median_of_runs"]
        ratio = f"{m / base:.3f}" if m and base else "-"
        print(
            f"{name:12s} {str(s['layer']):10s} {m if m is None else round(m, 2)!s:>15s} {ratio:>10s}  "
            f"{s['fork'] or s['error']}"
        )
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, "w") as f:
        json.dump(
            {
                "machine": {
                    "cpus": os.cpu_count(),
                    "platform": platform.platform(),
                    "python": platform.python_version(),
                },
                "settings": vars(args) | {"worker": None},
                "configs": CONFIGS,
                "summary": summary,
                "runs": runs,
                "conditions": "2 shared cores; other engineers' test runs were active at the same time",
            },
            f,
            indent=1,
        )


if __name__ == "__main__":
    main()
