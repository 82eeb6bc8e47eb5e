"""Print the README's benchmark tables (Markdown) from the committed JSON in ``benchmarks/results/``.

    python benchmarks/report.py                  # every table whose JSON exists
    python benchmarks/report.py --update-readme  # rewrite the tables inside README.md

The numbers are copied, never recomputed: rerun the benchmark that wrote a JSON to refresh its table. In the
README each table sits between ``<!-- report: NAME.json -->`` and ``<!-- /report -->``; ``--update-readme``
replaces what is between them (written atomically), and ``tests/test_benchmarks.py`` fails while the README
and the JSON disagree.

The ``cpus`` table (README block ``<!-- report: cpus -->``) is made of every ``results/cpus/<cpu>.json`` that
``bench_train.py`` writes, one file per CPU model, side by side; it is printed only once such a file exists.
"""

import json
import os
import re
import sys

RESULTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results")
#: ``bench_train.py``'s copy of its results per CPU (``<cpu slug>.json``), shown side by side by the ``cpus`` table.
CPUS = os.path.join(RESULTS, "cpus")


def load(name):
    if name == "cpus":
        return load_cpus()
    path = os.path.join(RESULTS, name)
    if not os.path.exists(path):
        return None
    with open(path) as f:
        return json.load(f)


def engine(d, name):
    """What did a framework's multiply-adds in ``bench_train``: tinycnn's route (and OpenBLAS's kernels, if it
    ran on them), or the framework's own library."""
    rows = [row for row in d["rounds"] if row["framework"] == name]
    routes = {row.get("route") for row in rows}
    if routes == {"direct"}:
        return "tinycnn's SIMD tiles"
    if routes == {"im2col+BLAS"} or (routes == {None} and any(row.get("blas") for row in rows)):
        kernels = sorted({str((row.get("blas") or {}).get("openblas_coretype")) for row in rows})
        return f"im2col + OpenBLAS ({', '.join(kernels)})"
    return {"keras": "TensorFlow (oneDNN)", "torch": "PyTorch"}.get(name, "")


def train_table(d):
    med, ratios = d["median"], d.get("ratios_vs_keras", {})
    per_round = d.get("per_round_ratios_vs_keras", {})
    cpu = d.get("machine", {}).get("cpu", {})
    lines = [
        f"`{d['command']}` ({d['date']}; {len({row['round'] for row in d['rounds']})} interleaved rounds; "
        f"batch {d['batch_size']}, {d['steps']} timed steps, {d['infer_images']} images for inference"
        + (
            f"; {d['primary']['optimizer']}, {d['primary']['threads']} threads (other optimizers, thread counts "
            f"and batch sizes: the cpus table)"
            if "primary" in d
            else ""
        )
        + (
            f"; CPU: {cpu.get('model name')}, family {cpu.get('cpu family')}, AVX-512: "
            f"{'yes' if cpu.get('avx512f') else 'no'}"
            if cpu
            else ""
        )
        + ")",
        "",
        "| framework | multiply-adds by | train img/s | × Keras (per-round median) | inference img/s "
        "| × Keras (per-round median) | peak memory (MiB) | × Keras |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, m in med.items():
        r, pr = ratios.get(name, {}), per_round.get(name, {})
        lines.append(
            f"| {name} | {engine(d, name)} | {m['train_images_per_s']:.0f} | "
            f"{r.get('train', float('nan')):.2f} ({pr.get('median_train', float('nan')):.2f}) | "
            f"{m['infer_images_per_s']:.0f} | "
            f"{r.get('infer', float('nan')):.2f} ({pr.get('median_infer', float('nan')):.2f}) | "
            f"{m['peak_rss_mib']:.0f} | {r.get('peak_memory', float('nan')):.2f} |"
        )
    c = d.get("numba_first_step")
    if c:
        lines += [
            "",
            f"Numba's one-off cost on the first training step: **{c['cold_extra_s']:.1f} s** with an empty "
            f"kernel cache, **{c['warm_extra_s']:.2f} s** with the cache filled (first step minus second "
            f"step, fresh processes).",
        ]
    return "\n".join(lines)


def layers_table(d):
    blas = d.get("machine", {}).get("blas") or {}
    peaks = d.get("gemm_peaks_gflops") or {}
    names = {
        "openblas_env": f"OpenBLAS as configured ({blas.get('openblas_coretype')})",
        "openblas_avx512": "OpenBLAS AVX-512 (SkylakeX)",
        "tinycnn_tiles": "tinycnn's tiles",
    }
    measured = ", ".join(f"{names.get(k, k)} {v:.0f}" for k, v in peaks.items() if v is not None)
    lines = [
        f"`python benchmarks/bench_layers.py` (batch {d['batch']}, {d['dtype']}; GEMM peak = the best float32 "
        f"2048³ matrix product in the same run: **{d['gemm_peak_gflops']:.0f} GFLOP/s**"
        + (f" — {measured}" if measured else "")
        + ")",
        "",
        "| layer | Numba route | reference fwd+bwd (ms) | Numba fwd+bwd (ms) | speed-up | Numba GFLOP/s fwd / bwd "
        "| % of GEMM peak (fwd+bwd) |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in d["layers"]:
        ref = r["reference_forward_ms"] + r["reference_backward_ms"]
        nb = r["numba_forward_ms"] + r["numba_backward_ms"]
        frac = r.get("numba_total_peak_fraction")
        gf = (
            ""
            if r.get("numba_forward_gflops") is None
            else f"{r['numba_forward_gflops']:.0f} / {r['numba_backward_gflops']:.0f}"
        )
        lines.append(
            f"| {r['layer']} | {r.get('numba_route') or ''} | {ref:.2f} | {nb:.2f} | {ref / nb:.1f}× | {gf} | "
            f"{'' if frac is None else f'{100 * frac:.0f}%'} |"
        )
    return "\n".join(lines)


def autompg_fit_table(d):
    m = d["median_seconds"]
    return (
        f"`{d['command']}`: median of {len(d['rounds']) // 2} interleaved rounds, {d['epochs']} epochs — "
        f"Keras {m['keras']:.2f} s, tinycnn {m['tinycnn']:.2f} s: tinycnn is **{d['keras_over_tinycnn']:.1f}×** "
        f"faster."
    )


def compare_autompg_table(d):
    s = d["summary"]
    t, k = s["tinycnn"], s["keras"]
    lines = [
        f"`{d.get('command', 'python benchmarks/compare_keras.py --task autompg')}`",
        "",
        "| Auto MPG, mean over seeds | tinycnn | Keras | ratio |",
        "|---|---|---|---|",
        f"| best validation MSE (standardized) | {t['mean_best_val_mse']:.4f} | {k['mean_best_val_mse']:.4f} | "
        f"{s['ratio_tinycnn_over_keras']['mean_best_val_mse']:.3f} |",
        f"| final validation MSE (standardized) | {t['mean_final_val_mse']:.4f} | {k['mean_final_val_mse']:.4f} | "
        f"{s['ratio_tinycnn_over_keras']['mean_final_val_mse']:.3f} |",
        f"| time inside epochs (s) | {s['time']['tinycnn']['total_epoch_seconds']:.1f} | "
        f"{s['time']['keras']['total_epoch_seconds']:.1f} | "
        f"{s['time']['ratio_tinycnn_over_keras']['total_epoch_seconds']:.3f} |",
    ]
    return "\n".join(lines)


def compare_fashion_table(d):
    e, s = d["epochs"], d["summary"]
    done = s.get("completed_epochs", len(e["tinycnn"]["loss"]))
    lines = [
        f"`{d.get('command', 'python benchmarks/compare_keras.py --task fashion')}` — {done} of "
        f"{d['recipe']['epochs']} epochs completed, same initial weights, same batch order",
        "",
        "| epoch | tinycnn loss | acc | test loss | test acc | s | Keras loss | acc | test loss | test acc | s |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    t, k = e["tinycnn"], e["keras"]
    for i in range(done):
        lines.append(
            f"| {i + 1} | {t['loss'][i]:.4f} | {t['accuracy'][i]:.4f} | {t['val_loss'][i]:.4f} | "
            f"{t['val_accuracy'][i]:.4f} | {t['epoch_seconds'][i]:.0f} | {k['loss'][i]:.4f} | "
            f"{k['accuracy'][i]:.4f} | {k['val_loss'][i]:.4f} | {k['val_accuracy'][i]:.4f} | "
            f"{k['epoch_seconds'][i]:.0f} |"
        )
    ratio = s["time"]["ratio_tinycnn_over_keras"]["total_epoch_seconds"]
    lines += [
        "",
        f"Final test accuracy after epoch {done}: "
        f"tinycnn **{100 * s['tinycnn']['final_test_accuracy']:.2f}%**, "
        f"Keras **{100 * s['keras']['final_test_accuracy']:.2f}%** "
        f"(difference {100 * (s['tinycnn']['final_test_accuracy'] - s['keras']['final_test_accuracy']):+.2f} "
        f"points); time tinycnn / Keras = {ratio:.2f}.",
    ]
    return "\n".join(lines)


def profile_table(d):
    step = d["train_step_ms"]
    route = d.get("route") or f"im2col + OpenBLAS ({(d.get('blas') or {}).get('openblas_coretype')})"
    lines = [
        f"`{d['command']}` ({d['date']}; convolutions by {route}): one training step of the course CNN "
        f"took {step:.1f} ms per batch of {d['batch_size']}, `predict` {d['predict_batch_ms']:.1f} ms; "
        f"where the step goes:",
        "",
        "| part of the training step | ms per batch | share |",
        "|---|---|---|",
    ]
    for kind, ms in sorted(d["train_by_kind_ms"].items(), key=lambda kv: -kv[1]):
        lines.append(f"| {kind} | {ms:.2f} | {100 * ms / step:.0f}% |")
    convs = [r for r in d["layers"] if r["type"] == "Conv2D"]
    lines += [
        "",
        "Convolutions, forward + both gradients: "
        + ", ".join(
            f"{r['layer']} {r['train_forward_ms'] + r['train_backward_ms']:.1f} ms ({r['train_gflops']:.0f} GFLOP/s)"
            for r in convs
        )
        + ".",
    ]
    return "\n".join(lines)


def load_cpus(directory=CPUS):
    """``[(slug, data)]`` of every ``<slug>.json`` in ``directory``, by name; None when there is none."""
    if not os.path.isdir(directory):
        return None
    out = []
    for name in sorted(os.listdir(directory)):
        if name.endswith(".json"):
            with open(os.path.join(directory, name)) as f:
                out.append((name[: -len(".json")], json.load(f)))
    return out or None


def run_configurations(d):
    """``bench_train``'s summaries per optimizer x thread count; a file from before ``--threads`` and
    ``--optimizer`` has one, at the top level."""
    if "configurations" in d:
        return d["configurations"]
    keys = ("median", "ratios_vs_keras", "per_round_ratios_vs_keras", "ratios_vs_torch", "per_round_ratios_vs_torch")
    return [{"optimizer": "sgd", "threads": d.get("machine", {}).get("cpus"), **{k: d[k] for k in keys if k in d}}]


def _ratio(c, ref, key, batch=None):
    """tinycnn over ``ref``: the median of the per-round ratios (``key``: ``train`` or ``infer``)."""
    p = c.get(f"per_round_ratios_vs_{ref}", {}).get("tinycnn", {})
    if batch is None or "median_infer_by_batch" not in p:  # a file from before --batch-sizes: batch 32 only
        value = p.get(f"median_{key}")
    else:
        value = p["median_infer_by_batch"].get(batch)
    return "-" if value is None else f"{value:.2f}"


def cpus_table(entries):
    """Every CPU's ``bench_train`` file side by side: one row per CPU x thread count x optimizer."""
    frameworks = ("tinycnn", "keras", "torch")
    lines = [
        "One row per CPU (`benchmarks/results/cpus/<cpu>.json`, written by `bench_train.py`), thread count and "
        "optimizer; every ratio is tinycnn's speed over the other framework's, the median of the per-round "
        "ratios (above 1: tinycnn is faster). Adam/SGD: Adam's training step over SGD's, per framework "
        "(tinycnn, Keras, PyTorch). % of ceiling: training images/s over GEMM peak / training FLOPs per image "
        "(tinycnn, Keras, PyTorch).",
        "",
        "| CPU | date | command | threads | optimizer | train × PyTorch | train × Keras | inference × PyTorch "
        "| inference × Keras | Adam/SGD step | GEMM peak (GFLOP/s) | % of ceiling |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for slug, d in entries:
        cpu = d.get("machine", {}).get("cpu", {})
        name = (
            f"{cpu.get('model name', slug)} (family {cpu.get('cpu family')}, model {cpu.get('model')}"
            + (", AVX-512" if cpu.get("avx512f") else "")
            + ")"
        )
        batches = [str(b) for b in d.get("infer_batch_sizes", [d.get("batch_size", 32)])]
        first = True
        for c in run_configurations(d):
            t = str(c.get("threads"))

            adam = d.get("adam_over_sgd_step", {}).get(t, {}) if c.get("optimizer") == "adam" else {}
            ceiling = c.get("percent_of_ceiling", {})
            peak = d.get("gemm", {}).get("median_peak_gflops", {}).get(t)
            cells = [
                name if first else "",
                d["date"] if first else "",
                f"`{d['command']}`" if first else "",
                t,
                c.get("optimizer", ""),
                _ratio(c, "torch", "train"),
                _ratio(c, "keras", "train"),
                ", ".join(f"@{b} {_ratio(c, 'torch', 'infer', b)}" for b in batches),
                ", ".join(f"@{b} {_ratio(c, 'keras', 'infer', b)}" for b in batches),
                ", ".join(f"{adam[f]['median_per_round']:.2f}" if f in adam else "-" for f in frameworks)
                if adam
                else "",
                "-" if peak is None else f"{peak:.0f}",
                ", ".join(f"{ceiling[f]['median']:.0f}%" if f in ceiling else "-" for f in frameworks)
                if ceiling
                else "-",
            ]
            lines.append("| " + " | ".join(cells) + " |")
            first = False
    return "\n".join(lines)


def pieces_table(d):
    """``predict_pieces.json``: predict images/s by batch size for each size of the pieces of a batch."""
    rows = d["best_images_per_s"]
    sizes = list(next(iter(rows.values())))
    cpu = d.get("machine", {}).get("cpu", {})
    lines = [
        f"`{d['command']}` ({d['date']}; best of {d['rounds']} interleaved rounds, {d['images']} test images; CPU: "
        f"{cpu.get('model name')}, family {cpu.get('cpu family')}, model {cpu.get('model')}; default piece: "
        f"{d['default_piece_bytes'] / 2**20:g} MiB)",
        "",
        "| piece of a batch | images per piece | " + " | ".join(f"batch {b} img/s" for b in sizes) + " |",
        "|---|---|" + "---|" * len(sizes),
    ]
    for name, row in rows.items():
        piece = d["pieces_images"].get(name)
        label = "whole batches" if name == "off" else name
        lines.append(
            f"| {label} | {'whole' if name == 'off' or piece is None else piece} | "
            + " | ".join(f"{row[b]:.0f}" for b in sizes)
            + " |"
        )
    return "\n".join(lines)


TABLES = [
    ("bench_train.json", train_table),
    ("bench_train_baseline.json", train_table),  # the same benchmark with --tinycnn-baseline (issue 17)
    ("predict_pieces.json", pieces_table),
    ("profile_step.json", profile_table),
    ("bench_layers.json", layers_table),
    ("bench_autompg.json", autompg_fit_table),
    ("compare_autompg.json", compare_autompg_table),
    ("compare_fashion.json", compare_fashion_table),
    ("cpus", cpus_table),  # every file of results/cpus/, when there is one
]


BLOCK = re.compile(r"<!-- report: (?P<name>[\w.-]+) -->\n(?P<body>.*?)<!-- /report -->", re.S)


def render(name):
    """The Markdown table of ``benchmarks/results/<name>``."""
    d = load(name)
    if d is None:
        raise FileNotFoundError(f"benchmarks/results/{name} does not exist (or is empty): run its benchmark first")
    return dict(TABLES)[name](d)


def readme_blocks(text):
    """``[(name, body)]`` of every report block of a README text."""
    return [(m["name"], m["body"][:-1] if m["body"].endswith("\n") else m["body"]) for m in BLOCK.finditer(text)]


def update_readme(path):
    """Replace every report block of the README at ``path`` with the table rendered from its JSON."""
    from tinycnn.utils import atomic_open

    with open(path, encoding="utf-8") as f:
        text = f.read()
    new = BLOCK.sub(lambda m: f"<!-- report: {m['name']} -->\n{render(m['name'])}\n<!-- /report -->", text)
    if new != text:
        mode = os.stat(path).st_mode & 0o777
        with atomic_open(path, "wb") as f:
            f.write(new.encode("utf-8"))
        os.chmod(path, mode)  # the temporary file was private (0600)
    return len(readme_blocks(new))


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if argv == ["--update-readme"]:
        root = os.path.dirname(os.path.dirname(RESULTS))
        sys.path.insert(0, root)  # tinycnn.utils.atomic_open from this checkout
        n = update_readme(os.path.join(root, "README.md"))
        print(f"README.md: {n} tables rendered from benchmarks/results/")
        return 0
    if argv:
        print("usage: python benchmarks/report.py [--update-readme]", file=sys.stderr)
        return 2
    for name, fn in TABLES:
        d = load(name)
        if d is not None:
            print(f"<!-- report: {name} -->\n{fn(d)}\n<!-- /report -->\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
