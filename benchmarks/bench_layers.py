"""Per-layer kernel timings of the course CNN: the NumPy reference against the Numba engine.

For each layer of the course CNN (batch 32, float32, 3x3 "same" convolutions, 2x2 max pooling):

* forward time and backward time (convolution: input gradient + kernel gradient; pooling: input gradient)
  for ``tinycnn.kernels.reference`` and ``tinycnn.kernels.numba_kernels``, run alternately (``--repeats``
  turns, each a pause and ``BURST`` calls back to back), best call (the minimum is the least disturbed by
  other work on a shared machine);
* GFLOP/s of the convolutions: ``2*N*OH*OW*KH*KW*C*F`` per forward, twice that per backward;
* the fraction of this machine's GEMM peak, measured in the same run: the best GFLOP/s of a float32
  ``2048 x 2048`` matrix product by any of NumPy's OpenBLAS with the kernels the environment chose (timed
  before every layer, so a quiet moment anywhere counts), OpenBLAS with its AVX-512 kernels
  (``OPENBLAS_CORETYPE=SKYLAKEX``, in a subprocess, on a CPU with AVX-512) and tinycnn's own tiles
  (``numba_kernels._matmul``). The highest is the peak: the development machine pins OpenBLAS to its AVX2
  kernels, whose peak the engine's convolutions exceed.

Targets (issue): Numba convolutions >= 10x the reference; >= 40% of the GEMM peak (forward + backward)
for the 32->32 and 64->64 layers.

    python benchmarks/bench_layers.py [--repeats 5] [--batch 32]

The engine's convolutions take the direct route (``tinycnn/kernels/simd.py``); the im2col + BLAS route it
replaced is compared end to end, in its own processes, by ``bench_train.py --tinycnn-im2col``.

Prints a table and writes ``benchmarks/results/bench_layers.json``.
"""

import argparse
import json
import os
import platform
import subprocess
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, ".."))  # run from a checkout without installing

from tinycnn import kernels  # noqa: E402
from tinycnn.kernels import numba_kernels, reference, simd  # noqa: E402
from tinycnn.utils import atomic_open  # noqa: E402

BACKENDS = {"reference": reference, "numba": numba_kernels}

#: (name, kind, H=W, C, F) -- the course CNN. Pooling layers have F = C.
LAYERS = [
    ("conv 1->32 @28", "conv", 28, 1, 32),
    ("conv 32->32 @28", "conv", 28, 32, 32),
    ("maxpool 2x2 @28x32", "pool", 28, 32, 32),
    ("conv 32->64 @14", "conv", 14, 32, 64),
    ("conv 64->64 @14", "conv", 14, 64, 64),
    ("maxpool 2x2 @14x64", "pool", 14, 64, 64),
]
PEAK_TARGET = {"conv 32->32 @28", "conv 64->64 @14"}
#: Pause before each timed call. The reference runs on OpenBLAS, whose idle threads keep spinning for a while
#: after a call, and the engine's OpenMP threads spin ~3 ms after theirs: timed right after the other, either
#: side would share the cores with the other's spinning threads (measured: the engine's 32->64 backward 17.9
#: ms instead of 1.2). A training step never mixes them (the engine calls no BLAS).
SETTLE_S = 0.2
#: Calls timed back to back after the pause (the best counts): the first wakes the sleeping threads, as the
#: previous layer's kernels keep them awake in a training step.
BURST = 3


def best_time(fn, repeats):
    """Minimum wall time of ``fn()`` over ``repeats`` calls (seconds)."""
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def gemm_peak(size=2048, repeats=3, matmul=np.matmul):
    """GFLOP/s of a large float32 square matrix product: this machine's practical GEMM peak right now."""
    a = np.random.default_rng(0).standard_normal((size, size)).astype(np.float32)
    matmul(a, a)  # warm-up (threads, pages, compilation)
    return 2 * size**3 / best_time(lambda: matmul(a, a), repeats) / 1e9


def avx512_blas_peak():
    """:func:`gemm_peak` of OpenBLAS's AVX-512 kernels, in a subprocess (OpenBLAS picks them at load time);
    None on a CPU without AVX-512."""
    try:
        with open("/proc/cpuinfo") as f:
            if " avx512f" not in f.read():
                return None
    except OSError:
        return None
    code = "import sys; sys.path.insert(0, %r); import bench_layers; print(bench_layers.gemm_peak())" % HERE
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        env=dict(os.environ, OPENBLAS_CORETYPE="SKYLAKEX"),
    )
    return float(out.stdout.strip().splitlines()[-1])


def layer_calls(kind, hw, c, f, batch, rng):
    """``{"forward": fn(module), "backward": fn(module)}`` for one layer, with its data and FLOP counts."""
    x = rng.standard_normal((batch, hw, hw, c)).astype(np.float32)
    if kind == "conv":
        kernel = (rng.standard_normal((3, 3, c, f)) * np.sqrt(2.0 / (9 * c))).astype(np.float32)
        bias = np.zeros(f, np.float32)
        (oh, ow), pads = reference.conv_geometry((hw, hw), (3, 3), (1, 1), (1, 1), "same")
        dy = rng.standard_normal((batch, oh, ow, f)).astype(np.float32)
        geo = ((1, 1), pads, (1, 1))

        def backward(m):
            m.conv2d_backward_input(dy, kernel, x.shape, *geo)
            m.conv2d_backward_kernel(dy, x, kernel.shape, *geo)

        flops = 2.0 * batch * oh * ow * 9 * c * f
        return {"forward": lambda m: m.conv2d_forward(x, kernel, bias, *geo), "backward": backward}, flops
    (oh, ow), pads = reference.conv_geometry((hw, hw), (2, 2), (2, 2), (1, 1), "valid")
    y = reference.pool2d_forward(x, "max", (2, 2), (2, 2), pads)
    dy = rng.standard_normal(y.shape).astype(np.float32)
    return {
        "forward": lambda m: m.pool2d_forward(x, "max", (2, 2), (2, 2), pads),
        "backward": lambda m: m.pool2d_backward(dy, x, y, "max", (2, 2), (2, 2), pads),
    }, None


def run(repeats, batch, seed=0):
    rng = np.random.default_rng(seed)
    peaks = {
        "openblas_env": [gemm_peak()],
        "openblas_avx512": [avx512_blas_peak()],
        "tinycnn_tiles": [gemm_peak(matmul=numba_kernels._matmul)],
    }
    rows = []
    for name, kind, hw, c, f in LAYERS:
        calls, flops = layer_calls(kind, hw, c, f, batch, rng)
        for fn in calls.values():  # warm-up: compile, allocate scratch
            for module in BACKENDS.values():
                fn(module)
        peaks["openblas_env"].append(gemm_peak())
        peaks["tinycnn_tiles"].append(gemm_peak(matmul=numba_kernels._matmul))
        times = {(b, p): float("inf") for b in BACKENDS for p in calls}
        for _ in range(repeats):  # alternate the backends so both see the same machine
            for phase, fn in calls.items():
                for backend, module in BACKENDS.items():
                    time.sleep(SETTLE_S)
                    run = best_time(lambda fn=fn, module=module: fn(module), BURST)
                    times[backend, phase] = min(times[backend, phase], run)
        if kind == "conv":
            calls["forward"](numba_kernels)
            route = numba_kernels.buffer_info()["route"]
        row = {
            "layer": name,
            "kind": kind,
            "input": [batch, hw, hw, c],
            "filters": f if kind == "conv" else None,
            "numba_route": route if kind == "conv" else None,
        }
        for backend in BACKENDS:
            for phase in calls:
                row[f"{backend}_{phase}_ms"] = times[backend, phase] * 1e3
        for phase in calls:
            row[f"speedup_{phase}"] = times["reference", phase] / times["numba", phase]
        row["speedup_total"] = sum(times["reference", p] for p in calls) / sum(times["numba", p] for p in calls)
        if flops is not None:
            row["gflop_forward"] = flops / 1e9
            row["gflop_backward"] = 2 * flops / 1e9
            for backend in BACKENDS:
                row[f"{backend}_forward_gflops"] = flops / times[backend, "forward"] / 1e9
                row[f"{backend}_backward_gflops"] = 2 * flops / times[backend, "backward"] / 1e9
                both = times[backend, "forward"] + times[backend, "backward"]
                row[f"{backend}_total_gflops"] = 3 * flops / both / 1e9
        rows.append(row)
    best = {k: max((p for p in v if p is not None), default=None) for k, v in peaks.items()}
    peak = max(p for p in best.values() if p is not None)
    for row in rows:
        if row["kind"] == "conv":
            for key in ("forward", "backward", "total"):
                row[f"numba_{key}_peak_fraction"] = row[f"numba_{key}_gflops"] / peak
    return rows, peak, peaks, best


def print_table(rows, peak, best):
    print(
        f"GEMM peak (float32 2048^3 matrix product, best in run): {peak:.1f} GFLOP/s  "
        + ", ".join(f"{k}: {'n/a' if v is None else f'{v:.0f}'}" for k, v in best.items())
    )
    head = (
        f"{'layer':<20} {'ref fwd':>8} {'nb fwd':>7} {'ref bwd':>8} {'nb bwd':>7} {'speedup':>8} "
        f"{'nb GFLOP/s f/b':>15} {'% peak f/b/total':>17}"
    )
    print(head)
    print("-" * len(head))
    for r in rows:
        line = (
            f"{r['layer']:<20} {r['reference_forward_ms']:7.2f}m {r['numba_forward_ms']:6.2f}m "
            f"{r['reference_backward_ms']:7.2f}m {r['numba_backward_ms']:6.2f}m {r['speedup_total']:7.1f}x "
        )
        if r["kind"] == "conv":
            line += (
                f"{r['numba_forward_gflops']:7.1f}/{r['numba_backward_gflops']:<7.1f} "
                f"{100 * r['numba_forward_peak_fraction']:5.0f}/{100 * r['numba_backward_peak_fraction']:.0f}"
                f"/{100 * r['numba_total_peak_fraction']:.0f}"
            )
        print(line)
    print("(times in ms, best of the repeats; speedup = reference / numba, forward + backward)")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--out", default=os.path.join(HERE, "results", "bench_layers.json"))
    args = parser.parse_args(argv)

    import numba

    rows, peak, peaks, best = run(args.repeats, args.batch)
    print_table(rows, peak, best)
    convs = [r for r in rows if r["kind"] == "conv"]
    targets = {
        "conv_speedup_at_least_10x": all(r["speedup_total"] >= 10 for r in convs),
        "peak_fraction_at_least_40pct_32_32_and_64_64": all(
            r["numba_total_peak_fraction"] >= 0.4 for r in convs if r["layer"] in PEAK_TARGET
        ),
    }
    print("targets:", targets)
    result = {
        "benchmark": "bench_layers",
        "batch": args.batch,
        "dtype": "float32",
        "repeats": args.repeats,
        "gemm_peak_gflops": peak,
        "gemm_peaks_gflops": best,
        "gemm_peak_samples_gflops": peaks,
        "layers": rows,
        "targets": targets,
        "machine": {
            "platform": platform.platform(),
            "processor": platform.processor(),
            "cpu_count": os.cpu_count(),
            "python": platform.python_version(),
            "numpy": np.__version__,
            "numba": numba.__version__,
            "numba_threading_layer": numba.threading_layer(),
            "numba_threads": numba.get_num_threads(),
            "openmp_settings": numba_kernels.OPENMP_SETTINGS,
            "simd_vector_bytes": simd.VECTOR_BYTES,
            "im2col_limit_bytes": numba_kernels.IM2COL_LIMIT_BYTES,
            "blas": kernels.blas_info(),
        },
    }
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    with atomic_open(args.out, "w") as fh:
        json.dump(result, fh, indent=2)
    print("wrote", args.out)


if __name__ == "__main__":
    main()
