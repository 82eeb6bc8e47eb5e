"""Per-layer kernel timings of the course CNN: the NumPy reference against the Numba engine.

For each layer of the course CNN (batch 32, float32, 3x3 "same" convolutions, 2x2 max pooling):

* forward time and backward time (convolution: input gradient + kernel gradient; pooling: input gradient)
  for ``tinycnn.kernels.reference`` and ``tinycnn.kernels.numba_kernels``, run alternately, best of
  ``--repeats`` (the minimum is the least disturbed by other work on a shared machine);
* GFLOP/s of the convolutions: ``2*N*OH*OW*KH*KW*C*F`` per forward, twice that per backward;
* the fraction of this machine's GEMM peak, measured in the same run: the best GFLOP/s of a float32
  ``2048 x 2048`` ``np.matmul``, timed before every layer (so a quiet moment anywhere counts);
* the forward pass's matrix products alone (same chunk shapes, no im2col): their GFLOP/s and their share of
  the Numba forward time, which says how much of a convolution is BLAS and how much is the rest.

Targets (issue): Numba convolutions >= 10x the reference; >= 40% of the GEMM peak (forward + backward)
for the 32->32 and 64->64 layers.

    python benchmarks/bench_layers.py [--repeats 5] [--batch 32]
    OPENBLAS_CORETYPE=SKYLAKEX python benchmarks/bench_layers.py --out benchmarks/results/bench_layers_skylakex.json

The GEMMs run on NumPy's OpenBLAS with whatever kernels it chose or was told to use (``OPENBLAS_CORETYPE``;
the development machine pins ``Haswell``, the AVX2 kernels); the JSON records them, and the GEMM peak is
measured with the same kernels. The second command measures the same CPU with OpenBLAS's AVX-512 kernels.

Prints a table and writes ``benchmarks/results/bench_layers.json``.
"""
import argparse
import json
import os
import platform
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, ".."))  # run from a checkout without installing

from tinycnn import kernels  # noqa: E402
from tinycnn.kernels import numba_kernels, reference  # noqa: E402
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


def best_time(fn, repeats):
    """Minimum wall time of ``fn()`` over ``repeats`` calls (seconds)."""
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def gemm_peak(size=2048, repeats=3):
    """GFLOP/s of a large float32 square matmul: this machine's practical BLAS peak right now."""
    a = np.random.default_rng(0).standard_normal((size, size)).astype(np.float32)
    a @ a  # warm-up (threads, pages)
    return 2 * size**3 / best_time(lambda: a @ a, repeats) / 1e9


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


def forward_gemms(hw, c, f, batch, rng):
    """The matrix products of ``numba_kernels.conv2d_forward`` alone: same chunks, same shapes, no im2col.

    Timing them beside the whole forward pass splits it into BLAS time and the rest (the im2col gather, the
    bias, the hand-overs between Numba's and OpenBLAS's threads).
    """
    width = 9 * c
    ranges = numba_kernels._chunks(batch * hw, hw * width, 4, "bench_layers")
    cols = rng.standard_normal(((ranges[0][1] - ranges[0][0]) * hw, width)).astype(np.float32)
    k2d = rng.standard_normal((width, f)).astype(np.float32)
    y = np.empty((batch * hw * hw, f), np.float32)

    def gemms():
        for t0, t1 in ranges:
            np.matmul(cols[: (t1 - t0) * hw], k2d, out=y[t0 * hw : t1 * hw])

    return gemms


def run(repeats, batch, seed=0):
    rng = np.random.default_rng(seed)
    peaks = [gemm_peak()]
    rows = []
    for name, kind, hw, c, f in LAYERS:
        calls, flops = layer_calls(kind, hw, c, f, batch, rng)
        for fn in calls.values():  # warm-up: compile, allocate scratch
            for module in BACKENDS.values():
                fn(module)
        peaks.append(gemm_peak())
        times = {(b, p): float("inf") for b in BACKENDS for p in calls}
        gemms = forward_gemms(hw, c, f, batch, rng) if kind == "conv" else None
        gemm_time = float("inf")
        for _ in range(repeats):  # alternate the backends so both see the same machine
            for phase, fn in calls.items():
                for backend, module in BACKENDS.items():
                    times[backend, phase] = min(times[backend, phase], best_time(lambda: fn(module), 1))
            if gemms is not None:
                gemm_time = min(gemm_time, best_time(gemms, 1))
        row = {"layer": name, "kind": kind, "input": [batch, hw, hw, c], "filters": f if kind == "conv" else None}
        for backend in BACKENDS:
            for phase in calls:
                row[f"{backend}_{phase}_ms"] = times[backend, phase] * 1e3
        for phase in calls:
            row[f"speedup_{phase}"] = times["reference", phase] / times["numba", phase]
        row["speedup_total"] = (sum(times["reference", p] for p in calls)
                                / sum(times["numba", p] for p in calls))
        if flops is not None:
            row["gemm_only_forward_ms"] = gemm_time * 1e3
            row["gemm_only_forward_gflops"] = flops / gemm_time / 1e9
            row["gemm_share_of_numba_forward"] = gemm_time / times["numba", "forward"]
            row["gflop_forward"] = flops / 1e9
            row["gflop_backward"] = 2 * flops / 1e9
            for backend in BACKENDS:
                row[f"{backend}_forward_gflops"] = flops / times[backend, "forward"] / 1e9
                row[f"{backend}_backward_gflops"] = 2 * flops / times[backend, "backward"] / 1e9
                both = times[backend, "forward"] + times[backend, "backward"]
                row[f"{backend}_total_gflops"] = 3 * flops / both / 1e9
        rows.append(row)
    peak = max(peaks)
    for row in rows:
        if row["kind"] == "conv":
            for key in ("forward", "backward", "total"):
                row[f"numba_{key}_peak_fraction"] = row[f"numba_{key}_gflops"] / peak
            row["gemm_only_forward_peak_fraction"] = row["gemm_only_forward_gflops"] / peak
    return rows, peak, peaks


def print_table(rows, peak):
    print(f"GEMM peak (float32 2048^3 matmul, best in run): {peak:.1f} GFLOP/s")
    head = (f"{'layer':<20} {'ref fwd':>8} {'nb fwd':>7} {'ref bwd':>8} {'nb bwd':>7} {'speedup':>8} "
            f"{'nb GFLOP/s f/b':>15} {'% peak f/b/total':>17}")
    print(head)
    print("-" * len(head))
    for r in rows:
        line = (f"{r['layer']:<20} {r['reference_forward_ms']:7.2f}m {r['numba_forward_ms']:6.2f}m "
                f"{r['reference_backward_ms']:7.2f}m {r['numba_backward_ms']:6.2f}m {r['speedup_total']:7.1f}x ")
        if r["kind"] == "conv":
            line += (f"{r['numba_forward_gflops']:7.1f}/{r['numba_backward_gflops']:<7.1f} "
                     f"{100 * r['numba_forward_peak_fraction']:5.0f}/{100 * r['numba_backward_peak_fraction']:.0f}"
                     f"/{100 * r['numba_total_peak_fraction']:.0f}")
        print(line)
    print("(times in ms, best of the repeats; speedup = reference / numba, forward + backward)")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--out", default=os.path.join(HERE, "results", "bench_layers.json"))
    args = parser.parse_args(argv)

    import numba

    rows, peak, peaks = run(args.repeats, args.batch)
    print_table(rows, peak)
    convs = [r for r in rows if r["kind"] == "conv"]
    targets = {
        "conv_speedup_at_least_10x": all(r["speedup_total"] >= 10 for r in convs),
        "peak_fraction_at_least_40pct_32_32_and_64_64": all(
            r["numba_total_peak_fraction"] >= 0.4 for r in convs if r["layer"] in PEAK_TARGET),
    }
    print("targets:", targets)
    result = {
        "benchmark": "bench_layers",
        "batch": args.batch,
        "dtype": "float32",
        "repeats": args.repeats,
        "gemm_peak_gflops": peak,
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
            "OMP_WAIT_POLICY": os.environ.get("OMP_WAIT_POLICY"),
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
