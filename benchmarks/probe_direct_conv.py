"""Probe: can a direct convolution written as plain Numba loops beat im2col + BLAS on the course's layers?

Not used by tinycnn: the measurement that decided how the engine's direct convolutions are written. Two
direct convolutions written as plain Numba loops, 3x3 "same", stride 1, forward only, checked against the
engine, beside the engine's two routes (:func:`tinycnn.kernels.numba_kernels.conv2d_forward`): ``engine``, the
direct route with register tiles emitted as LLVM vector IR (``tinycnn/kernels/simd.py``), and ``im2col``,
the im2col gather plus one BLAS GEMM per chunk that it replaced (``TINYCNN_DIRECT=0``):

* ``loop``: output channels innermost, ``y[n, i, j, :] += x[n, i + a, j + b, c] * kernel[a, b, c, :]`` with the
  output row in L1 cache; LLVM vectorises the channel loop (one load, FMA and store of ``y`` per vector).
* ``blocked``: a register tile of ``P`` pixels x ``F`` channels held in scalar accumulators (the source is
  generated for the given ``F`` and ``P``), the shape of a GEMM micro-kernel, hoping LLVM's SLP vectoriser
  packs them into SIMD registers.

    python benchmarks/probe_direct_conv.py [--repeats 20] [--tile 7]

Prints GFLOP/s of all four, each best of ``--repeats``, in one run. The plain loops stayed below im2col + BLAS
(60-70 and 16-18 GFLOP/s against 131-195 when this probe was written): LLVM does not turn them into a
register tile, hence the explicit vector IR.
"""

import argparse
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, ".."))

import numpy as np  # noqa: E402
from numba import njit, prange  # noqa: E402

from tinycnn import kernels  # noqa: E402
from tinycnn.kernels import numba_kernels  # noqa: E402

#: (name, H=W, C, F): the course's 3x3 convolutions after the first.
LAYERS = [("conv 32->32 @28", 28, 32, 32), ("conv 32->64 @14", 14, 32, 64), ("conv 64->64 @14", 14, 64, 64)]


@njit(parallel=True, error_model="numpy")
def loop_conv(xp, kernel, y):
    """``y = conv(x, kernel)`` from the zero-padded ``xp``; output channels innermost (vectorised)."""
    n_img, h, w, f_out = y.shape
    kh, kw, c_in = kernel.shape[0], kernel.shape[1], kernel.shape[2]
    for t in prange(n_img * h):
        n, i = t // h, t % h
        row = y[n, i]
        row[:] = 0
        for a in range(kh):
            for b in range(kw):
                for c in range(c_in):
                    taps = kernel[a, b, c]
                    for j in range(w):
                        v = xp[n, i + a, j + b, c]
                        for f in range(f_out):
                            row[j, f] += v * taps[f]


def blocked_conv(f_out, tile):
    """Compile a direct convolution whose inner loop updates ``tile`` x ``f_out`` scalar accumulators."""
    acc = [(p, f) for p in range(tile) for f in range(f_out)]
    body = [
        "def conv(xp, kernel, y):",
        "    n_img, h, w, _ = y.shape",
        "    kh, kw, c_in = kernel.shape[0], kernel.shape[1], kernel.shape[2]",
        "    k2 = kernel.reshape(kh * kw * c_in, kernel.shape[3])",
        "    for t in prange(n_img * h):",
        "        n, i = t // h, t % h",
        f"        for j0 in range(0, w - {tile} + 1, {tile}):",
    ]
    body += [f"            a{p}_{f} = np.float32(0)" for p, f in acc]
    body += [
        "            for a in range(kh):",
        "                for b in range(kw):",
        "                    for c in range(c_in):",
        "                        r = (a * kw + b) * c_in + c",
    ]
    body += [f"                        w{f} = k2[r, {f}]" for f in range(f_out)]
    body += [f"                        x{p} = xp[n, i + a, j0 + {p} + b, c]" for p in range(tile)]
    body += [f"                        a{p}_{f} += x{p} * w{f}" for p, f in acc]
    body += [f"            y[n, i, j0 + {p}, {f}] = a{p}_{f}" for p, f in acc]
    namespace = {"np": np, "prange": prange}
    exec("\n".join(body), namespace)  # noqa: S102 -- generated from integers only
    return njit(parallel=True, error_model="numpy")(namespace["conv"])


def best_ms(fn, repeats):
    fn()
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best * 1e3


def probe(hw, c, f, batch, tile, repeats, rng):
    """GFLOP/s of the engine, ``loop`` and ``blocked`` on one layer, and their worst relative differences."""
    if hw % tile:
        raise ValueError(f"--tile {tile} must divide the image width {hw}")
    x = rng.standard_normal((batch, hw, hw, c)).astype(np.float32)
    kernel = rng.standard_normal((3, 3, c, f)).astype(np.float32)
    geo = ((1, 1), (1, 1, 1, 1), (1, 1))
    pad = ((0, 0), (1, 1), (1, 1), (0, 0))
    y = np.empty((batch, hw, hw, f), np.float32)
    blocked = blocked_conv(f, tile)
    expected = numba_kernels.conv2d_forward(x, kernel, None, *geo)
    out = {}
    flops = 2.0 * batch * hw * hw * 9 * c * f

    def im2col():
        with kernels.use("numba", route="im2col"):
            return numba_kernels.conv2d_forward(x, kernel, None, *geo)

    for name, fn in (
        ("engine", lambda: numba_kernels.conv2d_forward(x, kernel, None, *geo)),
        ("im2col", im2col),
        ("loop", lambda: loop_conv(np.pad(x, pad), kernel, y)),
        ("blocked", lambda: blocked(np.pad(x, pad), kernel, y)),
    ):
        ms = best_ms(fn, repeats)
        result = {"engine": expected, "im2col": im2col()}.get(name, y)
        out[name] = {
            "ms": ms,
            "gflops": flops / ms / 1e6,
            "max_rel_diff": float(np.abs(result - expected).max() / np.abs(expected).max()),
        }
    return out


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument(
        "--tile", type=int, default=7, help="pixels per register tile of 'blocked' (must divide 28 and 14)"
    )
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--layers", type=int, nargs="*", default=None, help="indices into LAYERS")
    args = parser.parse_args(argv)
    rng = np.random.default_rng(0)
    rows = {}
    print(f"{'layer':<18}{'engine GFLOP/s':>16}{'im2col':>8}{'loop':>8}{'blocked':>9}   max rel. diff loop/blocked")
    for index in args.layers if args.layers is not None else range(len(LAYERS)):
        name, hw, c, f = LAYERS[index]
        r = probe(hw, c, f, args.batch, args.tile, args.repeats, rng)
        rows[name] = r
        print(
            f"{name:<18}{r['engine']['gflops']:>16.0f}{r['im2col']['gflops']:>8.0f}{r['loop']['gflops']:>8.0f}"
            f"{r['blocked']['gflops']:>9.0f}"
            f"   {r['loop']['max_rel_diff']:.1e} / {r['blocked']['max_rel_diff']:.1e}",
            flush=True,
        )
    return rows


if __name__ == "__main__":
    main()
