"""Helpers of ``bench_train.py`` that are not a framework's worker: the CPU and its file name, thread settings,
the GEMM peak, the FLOPs of a training image, and the medians and ratios of a run.

Imports nothing of tinycnn, Keras or PyTorch at module level (a Keras or PyTorch worker imports this module and
must not load tinycnn: its peak memory is measured).
"""

import os
import re
import statistics
import time

#: Environment variables that fix a worker's thread count before it starts (each library reads its own).
THREAD_VARIABLES = (
    "NUMBA_NUM_THREADS",
    "OMP_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "MKL_NUM_THREADS",
    "TF_NUM_INTRAOP_THREADS",
    "TF_NUM_INTEROP_THREADS",
)


def thread_env(threads):
    """The environment changes that give a worker ``threads`` threads in every library it may load."""
    return {name: str(threads) for name in THREAD_VARIABLES}


# --------------------------------------------------------------------------------------------------- the CPU
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


def cpu_slug(info):
    """A file name for the CPU described by :func:`cpu_model`'s ``info``: its model name in lower case with
    marks such as ``(R)``, the word "CPU" and the clock (``@ 2.90GHz``) dropped, then ``-f<family>-m<model>``:
    ``{"model name": "AMD EPYC", "cpu family": "25", "model": "17"}`` -> ``amd-epyc-f25-m17``."""
    name = info.get("model name") or ""
    name = re.sub(r"\((r|tm|c)\)", " ", name, flags=re.I)
    name = re.sub(r"@.*$", " ", name)
    name = re.sub(r"\b(cpu|processor)\b", " ", name, flags=re.I)
    slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-") or "unknown-cpu"
    for key, letter in (("cpu family", "f"), ("model", "m")):
        value = str(info.get(key, "")).strip()
        if value:
            slug += f"-{letter}{re.sub(r'[^a-z0-9]+', '', value.lower())}"
    return slug


# --------------------------------------------------------------------------------------------------- FLOPs
def training_flops_per_image(model):
    """The floating-point operations of one training image of ``model`` (a built tinycnn or Keras model).

    Counted: the multiply-adds of every ``Conv2D`` and ``Dense`` layer, ``output positions x kernel size``
    (``H_out * W_out * kh * kw * C_in * F`` for a convolution, ``in * out`` for a Dense layer: in both cases the
    product of the output shape without batch and channel axes times the product of the kernel's shape),
    times 2 (a multiply and an add), times 3 for a training step: the forward product, the gradient of the
    input and the gradient of the kernel each cost as much as the forward. Not counted: biases, activations,
    batch normalisation, pooling, the loss and the optimizer (all linear in the activations, small next to
    the products), and the fact that the first layer needs no input gradient (the usual "3 x forward"
    convention counts it anyway).

    Returns ``{"forward_macs", "forward_flops", "training_flops", "layers": [...]}``.
    """
    layers, macs = [], 0
    for layer in model.layers:
        kind = type(layer).__name__
        if kind not in ("Conv2D", "Dense"):
            continue
        kernel = tuple(int(n) for n in layer.get_weights()[0].shape)
        out = layer.output_shape if hasattr(layer, "output_shape") else tuple(layer.output.shape)
        positions = 1
        for n in out[1:-1]:
            positions *= int(n)
        per_position = 1
        for n in kernel:
            per_position *= n
        layer_macs = positions * per_position
        macs += layer_macs
        layers.append(
            {
                "layer": layer.name,
                "type": kind,
                "output_shape": list(out[1:]),
                "kernel": list(kernel),
                "macs": layer_macs,
            }
        )
    return {"forward_macs": macs, "forward_flops": 2 * macs, "training_flops": 6 * macs, "layers": layers}


def course_flops(root):
    """:func:`training_flops_per_image` of the course CNN (``examples/fashion_mnist_cnn.py``'s ``build()``)."""
    import sys

    examples = os.path.join(root, "examples")
    if examples not in sys.path:
        sys.path.insert(0, examples)
    import fashion_mnist_cnn as course

    return training_flops_per_image(course.build())


# --------------------------------------------------------------------------------------------------- GEMM
def gemm_gflops(multiply, n, repeats, flops=None):
    """Best GFLOP/s of ``multiply()`` (an ``n x n`` by ``n x n`` product) over ``repeats`` timed calls, after
    one untimed call."""
    multiply()
    best = float("inf")
    for _ in range(repeats):
        t = time.perf_counter()
        multiply()
        best = min(best, time.perf_counter() - t)
    return (flops or 2 * n**3) / best / 1e9


def gemm_peak(n, repeats, threads):
    """The best float32 ``n x n`` matrix product of NumPy (``numpy.matmul``) and, if installed, PyTorch
    (``torch.mm``, ``torch.set_num_threads(threads)``), in GFLOP/s; ``peak_gflops`` is the larger."""
    import numpy as np

    rng = np.random.default_rng(0)
    a, b = (rng.random((n, n), dtype=np.float32) for _ in range(2))
    c = np.empty((n, n), np.float32)
    out = {"size": n, "repeats": repeats, "numpy_gflops": gemm_gflops(lambda: np.matmul(a, b, out=c), n, repeats)}
    try:
        import threadpoolctl

        out["numpy_blas"] = [
            {k: lib.get(k) for k in ("internal_api", "version", "architecture", "num_threads")}
            for lib in threadpoolctl.threadpool_info()
            if lib.get("user_api") == "blas"
        ]
    except ImportError:
        pass
    try:
        import torch
    except ImportError:
        out["torch_gflops"] = None
    else:
        torch.set_num_threads(threads)
        ta, tb, tc = torch.from_numpy(a), torch.from_numpy(b), torch.from_numpy(c)
        out["torch_gflops"] = gemm_gflops(lambda: torch.mm(ta, tb, out=tc), n, repeats)
        out["torch_threads"] = torch.get_num_threads()
    out["peak_gflops"] = max(v for v in (out["numpy_gflops"], out["torch_gflops"]) if v is not None)
    return out


# --------------------------------------------------------------------------------------------------- summary
def _median(values):
    values = list(values)
    return statistics.median(values) if values else None


def _pairs(rows, name, ref):
    """``[(row of name, row of ref)]`` measured in the same round (same optimizer and thread count)."""
    out = []
    for row in rows:
        if row["framework"] != name:
            continue
        other = [r for r in rows if r["framework"] == ref and r["round"] == row["round"]]
        if other:
            out.append((row, other[0]))
    return out


def summarise(rows, names, batch_sizes, gemm_rows=None, flops=None):
    """Medians and ratios of the rows of one configuration (one optimizer, one thread count).

    ``median[name]``: the medians over rounds of ``train_images_per_s``, ``infer_images_per_s`` (the first
    batch size), ``infer_images_per_s_by_batch`` and ``peak_rss_mib``. For ``ref`` in Keras and PyTorch (when
    measured): ``ratios_vs_<ref>`` (ratios of the medians) and ``per_round_ratios_vs_<ref>`` (the ratio of
    each round and their median, the figure least moved by the machine's drift). With the GEMM rows of the
    same rounds and thread count: ``percent_of_ceiling[name]``, training images/s as a percentage of
    ``peak / flops`` of the same round, per round and their median.
    """
    sizes = [str(b) for b in batch_sizes]
    med = {}
    for name in names:
        mine = [r for r in rows if r["framework"] == name]
        med[name] = {
            "train_images_per_s": _median(r["train_images_per_s"] for r in mine),
            "infer_images_per_s": _median(r["infer_images_per_s"] for r in mine),
            "infer_images_per_s_by_batch": {
                b: _median(r["infer_images_per_s_by_batch"][b] for r in mine) for b in sizes
            },
            "peak_rss_mib": _median(r["peak_rss_mib"] for r in mine),
        }
    out = {"median": med}
    for ref, key in (("keras", "keras"), ("torch", "torch")):
        if ref not in med:
            continue
        k = med[ref]
        out[f"ratios_vs_{key}"] = {
            name: {
                "train": m["train_images_per_s"] / k["train_images_per_s"],
                "infer": m["infer_images_per_s"] / k["infer_images_per_s"],
                "infer_by_batch": {
                    b: m["infer_images_per_s_by_batch"][b] / k["infer_images_per_s_by_batch"][b] for b in sizes
                },
                "peak_memory": m["peak_rss_mib"] / k["peak_rss_mib"],
            }
            for name, m in med.items()
        }
        per_round = {}
        for name in names:
            pairs = _pairs(rows, name, ref)
            p = {
                "train": [a["train_images_per_s"] / b["train_images_per_s"] for a, b in pairs],
                "infer": [a["infer_images_per_s"] / b["infer_images_per_s"] for a, b in pairs],
                "infer_by_batch": {
                    s: [a["infer_images_per_s_by_batch"][s] / b["infer_images_per_s_by_batch"][s] for a, b in pairs]
                    for s in sizes
                },
            }
            p["median_train"] = _median(p["train"])
            p["median_infer"] = _median(p["infer"])
            p["median_infer_by_batch"] = {s: _median(v) for s, v in p["infer_by_batch"].items()}
            per_round[name] = p
        out[f"per_round_ratios_vs_{key}"] = per_round
    if gemm_rows and flops:
        ceiling = {g["round"]: g["peak_gflops"] * 1e9 / flops for g in gemm_rows}
        pct = {}
        for name in names:
            per = [100 * r["train_images_per_s"] / ceiling[r["round"]] for r in rows if r["framework"] == name]
            pct[name] = {"per_round": per, "median": _median(per)}
        out["percent_of_ceiling"] = pct
    return out


def adam_over_sgd(rows, names):
    """Adam's training step over SGD's, per framework, from rows of one thread count: ``per_round`` (SGD's
    images/s over Adam's in the same round), its median, and the ratio of the medians."""
    out = {}
    for name in names:
        sgd = {r["round"]: r for r in rows if r["framework"] == name and r["optimizer"] == "sgd"}
        adam = {r["round"]: r for r in rows if r["framework"] == name and r["optimizer"] == "adam"}
        per = [sgd[i]["train_images_per_s"] / adam[i]["train_images_per_s"] for i in sorted(sgd) if i in adam]
        if not per:
            continue
        out[name] = {
            "per_round": per,
            "median_per_round": _median(per),
            "ratio_of_medians": _median(r["train_images_per_s"] for r in sgd.values())
            / _median(r["train_images_per_s"] for r in adam.values()),
        }
    return out


# --------------------------------------------------------------------------------------------------- printing
def plural(threads):
    return f"{threads} thread" + ("s" if threads != 1 else "")


def _fmt(value, spec=".2f"):
    return "-" if value is None else format(value, spec)


def print_tables(result, names):
    p = result["primary"]
    print(f"\nmedians over rounds (and median of the per-round ratios), {p['optimizer']}, {plural(p['threads'])}:")
    print(
        f"{'framework':<22}{'train img/s':>12}{'infer img/s':>13}{'peak MiB':>10}{'train x Keras':>15}"
        f"{'infer x Keras':>15}{'mem x Keras':>13}"
    )
    for name, m in result["median"].items():
        ratio = result.get("ratios_vs_keras", {}).get(name, {})
        rnd = result.get("per_round_ratios_vs_keras", {}).get(name, {})
        print(
            f"{name:<22}{m['train_images_per_s']:>12.1f}{m['infer_images_per_s']:>13.1f}{m['peak_rss_mib']:>10.0f}"
            f"{ratio.get('train', float('nan')):>8.2f} ({rnd.get('median_train', float('nan')):.2f})"
            f"{ratio.get('infer', float('nan')):>8.2f} ({rnd.get('median_infer', float('nan')):.2f})"
            f"{ratio.get('peak_memory', float('nan')):>13.2f}"
        )
    configs = result["configurations"]
    threads = result["threads"]
    for optimizer in result["optimizers"]:
        by_t = {c["threads"]: c for c in configs if c["optimizer"] == optimizer}
        print(f"\n{optimizer}: training img/s, x Keras, x PyTorch (per-round medians), % of ceiling, by thread count")
        print(f"{'framework':<22}" + "".join(f"{plural(t):>34}" for t in threads))
        for name in names:
            cells = []
            for t in threads:
                c = by_t[t]
                k = c.get("per_round_ratios_vs_keras", {}).get(name, {}).get("median_train")
                pt = c.get("per_round_ratios_vs_torch", {}).get(name, {}).get("median_train")
                pc = c.get("percent_of_ceiling", {}).get(name, {}).get("median")
                cells.append(
                    f"{c['median'][name]['train_images_per_s']:>10.1f}{_fmt(k):>7}{_fmt(pt):>7}{_fmt(pc, '.1f'):>8}%"
                )
            print(f"{name:<22}" + "".join(f"{cell:>34}" for cell in cells))
        print(f"{optimizer}: inference img/s, x Keras, x PyTorch (per-round medians), by thread count and batch size")
        heads = [f"{t}t @{b}" for t in threads for b in result["infer_batch_sizes"]]
        print(f"{'framework':<22}" + "".join(f"{h:>26}" for h in heads))
        for name in names:
            cells = []
            for t in threads:
                c = by_t[t]
                for b in map(str, result["infer_batch_sizes"]):
                    k = c.get("per_round_ratios_vs_keras", {}).get(name, {}).get("median_infer_by_batch", {}).get(b)
                    pt = c.get("per_round_ratios_vs_torch", {}).get(name, {}).get("median_infer_by_batch", {}).get(b)
                    v = c["median"][name]["infer_images_per_s_by_batch"][b]
                    cells.append(f"{v:>10.1f}{_fmt(k):>8}{_fmt(pt):>8}")
            print(f"{name:<22}" + "".join(f"{cell:>26}" for cell in cells))
    if "adam_over_sgd_step" in result:
        print("\nAdam step / SGD step (median of the per-round ratios; ratio of the medians)")
        print(f"{'framework':<22}" + "".join(f"{plural(t):>20}" for t in threads))
        for name in names:
            cells = []
            for t in threads:
                a = result["adam_over_sgd_step"][str(t)].get(name, {})
                cells.append(f"{_fmt(a.get('median_per_round'))} ({_fmt(a.get('ratio_of_medians'))})")
            print(f"{name:<22}" + "".join(f"{cell:>20}" for cell in cells))
    f = result["flops_per_image"]
    print(
        f"\ntraining FLOPs per image: {f['training_flops'] / 1e6:.1f} M (3 x 2 x {f['forward_macs']:,} multiply-adds)"
    )
    for t in threads:
        g = result["gemm"]["median_peak_gflops"][str(t)]
        c = result["ceiling_images_per_s"][str(t)]
        print(f"{plural(t)}: GEMM peak {g:.0f} GFLOP/s (median over rounds), ceiling {c:.0f} training img/s")
