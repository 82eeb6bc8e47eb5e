"""The benchmark scripts run end to end on tiny settings, and the README's tables come from their JSON.

These check that the scripts work and that what they write is consistent; they time nothing (speed is
measured by running the benchmarks themselves, never by tests).
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
BENCH = REPO / "benchmarks"
RESULTS = BENCH / "results"


def run(args, tmp_path, env=None):
    out = subprocess.run(
        [sys.executable] + [str(a) for a in args], cwd=REPO, capture_output=True, text=True, timeout=600, env=env
    )
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-3000:]
    return out.stdout


def test_bench_train_side_by_side_records_ratios_and_blas(tmp_path):
    pytest.importorskip("tensorflow")
    out_json = tmp_path / "bench_train.json"
    run(
        [
            BENCH / "bench_train.py",
            "--frameworks",
            "tinycnn",
            "keras",
            "--rounds",
            "2",
            "--steps",
            "3",
            "--warmup",
            "2",
            "--infer",
            "64",
            "--no-compile-times",
            "--tinycnn-im2col",
            "--gemm-size",
            "256",
            "--out",
            out_json,
        ],
        tmp_path,
    )
    d = json.loads(out_json.read_text())
    # a copy per CPU, next to --out, never in benchmarks/results/cpus
    copy = json.loads((tmp_path / "cpus" / f"{d['machine']['cpu_slug']}.json").read_text())
    assert copy == d
    assert [r["framework"] for r in d["rounds"]] == ["tinycnn", "tinycnn [im2col+BLAS]", "keras"] * 2
    assert [r["round"] for r in d["rounds"]] == [0, 0, 0, 1, 1, 1]
    # the engine and, with --tinycnn-im2col, the route it replaced, each in its own process
    assert [r.get("route") for r in d["rounds"]] == ["direct", "im2col+BLAS", None] * 2
    d["rounds"] = [r for r in d["rounds"] if r["framework"] != "tinycnn [im2col+BLAS]"]
    tiny = [r for r in d["rounds"] if r["framework"] == "tinycnn"]
    for row in d["rounds"]:
        assert row["train_images_per_s"] > 0 and row["infer_images_per_s"] > 0 and row["peak_rss_mib"] > 0
    # each worker holds only its own framework (its peak memory is that framework's)
    assert [r["tinycnn_loaded"] for r in d["rounds"]] == [True, False] * 2
    # ... and no worker inherits OpenMP settings from tinycnn in the parent process; each gets --threads
    # (default: the core count) in every library's variable
    threads = os.cpu_count()
    for r in d["rounds"]:
        assert r["threads"] == threads and r["optimizer"] == "sgd"
        assert r["openmp_environment"] == {
            k: (str(threads) if k == "OMP_NUM_THREADS" else os.environ.get(k)) for k in r["openmp_environment"]
        }
        assert set(r["thread_environment"].values()) == {str(threads)}
        assert r["infer_images_per_s"] == r["infer_images_per_s_by_batch"]["32"]
    assert all(r["threads_reported"]["numba"] == threads for r in tiny)
    assert all(r["blas"]["OPENBLAS_CORETYPE"] == os.environ.get("OPENBLAS_CORETYPE") for r in tiny)
    # the ratios are what the two rounds measured, not something else
    per_round = d["per_round_ratios_vs_keras"]["tinycnn"]["train"]
    expected = [t["train_images_per_s"] / k["train_images_per_s"] for t, k in zip(d["rounds"][0::2], d["rounds"][1::2])]
    assert per_round == pytest.approx(expected)
    assert d["ratios_vs_keras"]["keras"]["train"] == pytest.approx(1.0)
    assert d["median"]["tinycnn"]["train_images_per_s"] == pytest.approx(
        sorted(t["train_images_per_s"] for t in tiny)[0] / 2 + sorted(t["train_images_per_s"] for t in tiny)[1] / 2
    )


def test_bench_train_threads_optimizers_batch_sizes_and_ceiling(tmp_path):
    """--threads, --optimizer sgd adam and --batch-sizes: one measurement per framework x optimizer x thread
    count per round, the thread counts the libraries report, Adam/SGD and % of the GEMM ceiling from the rows."""
    pytest.importorskip("torch")
    out_json, cpu_dir = tmp_path / "out" / "bench.json", tmp_path / "per-cpu"
    stdout = run(
        [BENCH / "bench_train.py", "--frameworks", "tinycnn", "torch", "--rounds", "2", "--steps", "2"]
        + ["--warmup", "1", "--infer", "40", "--batch-sizes", "32", "16", "--optimizer", "sgd", "adam"]
        + ["--threads", "1", "2", "--no-compile-times", "--gemm-size", "128", "--gemm-repeats", "2"]
        + ["--out", out_json, "--cpu-dir", cpu_dir],
        tmp_path,
    )
    d = json.loads(out_json.read_text())
    assert "Adam step / SGD step" in stdout and "2 threads" in stdout
    assert (cpu_dir / f"{d['machine']['cpu_slug']}.json").exists() and not (out_json.parent / "cpus").exists()
    assert d["infer_images"] == 4 * 32 and d["infer_batch_sizes"] == [32, 16]
    assert d["optimizers"]["adam"] == {"learning_rate": 1e-3, "beta_1": 0.9, "beta_2": 0.999, "epsilon": 1e-7}
    order = [(r["round"], r["threads"], r["optimizer"], r["framework"]) for r in d["rounds"]]
    assert order == [
        (i, t, o, f) for i in (0, 1) for t in (1, 2) for o in ("sgd", "adam") for f in ("tinycnn", "torch")
    ]
    for r in d["rounds"]:
        reported = r["threads_reported"]
        assert (reported["numba"] if r["framework"] == "tinycnn" else reported["torch"]) == r["threads"]
        assert set(r["infer_images_per_s_by_batch"]) == {"32", "16"}
        assert r["infer_images_per_s"] == r["infer_images_per_s_by_batch"]["32"]
    assert [(g["round"], g["threads"]) for g in d["gemm"]["rounds"]] == [(0, 1), (0, 2), (1, 1), (1, 2)]
    assert all(g["peak_gflops"] == max(g["numpy_gflops"], g["torch_gflops"]) for g in d["gemm"]["rounds"])
    # the top-level keys older readers use are the primary configuration's: SGD, the most threads
    assert d["primary"] == {"optimizer": "sgd", "threads": 2}
    configs = {(c["optimizer"], c["threads"]): c for c in d["configurations"]}
    assert set(configs) == {("sgd", 1), ("adam", 1), ("sgd", 2), ("adam", 2)}
    assert d["median"] == configs["sgd", 2]["median"]

    def row(i, t, o, f):
        return next(
            r for r in d["rounds"] if (r["round"], r["threads"], r["optimizer"], r["framework"]) == (i, t, o, f)
        )

    c = configs["adam", 1]
    ratios = c["per_round_ratios_vs_torch"]["tinycnn"]["infer_by_batch"]["16"]
    expected = [
        row(i, 1, "adam", "tinycnn")["infer_images_per_s_by_batch"]["16"]
        / row(i, 1, "adam", "torch")["infer_images_per_s_by_batch"]["16"]
        for i in (0, 1)
    ]
    assert ratios == pytest.approx(expected)
    flops = d["flops_per_image"]["training_flops"]
    assert flops == 6 * 19_899_904
    gemm = {(g["round"], g["threads"]): g["peak_gflops"] for g in d["gemm"]["rounds"]}
    pct = [100 * row(i, 1, "adam", "torch")["train_images_per_s"] * flops / (gemm[i, 1] * 1e9) for i in (0, 1)]
    assert c["percent_of_ceiling"]["torch"]["per_round"] == pytest.approx(pct)
    step = [
        row(i, 2, "sgd", "tinycnn")["train_images_per_s"] / row(i, 2, "adam", "tinycnn")["train_images_per_s"]
        for i in (0, 1)
    ]
    assert d["adam_over_sgd_step"]["2"]["tinycnn"]["per_round"] == pytest.approx(step)
    # the cpus table copies these numbers
    report = _report()
    table = report.cpus_table(report.load_cpus(cpu_dir))
    assert table.count("\n| ") == 1 + 4  # header and one row per thread count x optimizer
    assert f"@16 {c['per_round_ratios_vs_torch']['tinycnn']['median_infer_by_batch']['16']:.2f}" in table
    assert f"{d['adam_over_sgd_step']['2']['tinycnn']['median_per_round']:.2f}, -, " in table


def _bench_common():
    sys.path.insert(0, str(BENCH))
    try:
        import bench_common
    finally:
        sys.path.remove(str(BENCH))
    return bench_common


def test_training_flops_per_image_counts_conv_and_dense_multiply_adds():
    from tinycnn.layers import Conv2D, Dense, Flatten, MaxPooling2D
    from tinycnn.models import Sequential

    model = Sequential()
    model.add(Conv2D(4, (3, 3), input_shape=(6, 6, 2)))  # valid: 4 x 4 positions x (3 x 3 x 2 x 4)
    model.add(MaxPooling2D((2, 2)))  # 2 x 2 x 4, no multiply-adds counted
    model.add(Flatten())
    model.add(Dense(3))  # 16 x 3
    count = _bench_common().training_flops_per_image(model)
    assert [layer["macs"] for layer in count["layers"]] == [4 * 4 * 3 * 3 * 2 * 4, 16 * 3]
    assert count["forward_macs"] == 1152 + 48
    assert count["training_flops"] == 3 * 2 * 1200
    # the course CNN, by hand: 28*28*32*9*1 + 28*28*32*9*32 + 14*14*64*9*32 + 14*14*64*9*64 + 3136*512 + 512*10
    course = _bench_common().course_flops(str(REPO))
    assert course["forward_macs"] == 225_792 + 7_225_344 + 3_612_672 + 7_225_344 + 1_605_632 + 5_120
    assert course["training_flops"] / 1e6 == pytest.approx(119.4, abs=0.05)


@pytest.mark.parametrize(
    "info, slug",
    [
        ({"model name": "AMD EPYC", "cpu family": "25", "model": "17"}, "amd-epyc-f25-m17"),
        (
            {"model name": "Intel(R) Xeon(R) Platinum 8375C CPU @ 2.90GHz", "cpu family": "6", "model": "106"},
            "intel-xeon-platinum-8375c-f6-m106",
        ),
        (
            {"model name": "AMD EPYC 7B13 64-Core Processor", "cpu family": "25", "model": "1"},
            "amd-epyc-7b13-64-core-f25-m1",
        ),
        ({}, "unknown-cpu"),
    ],
)
def test_cpu_slug(info, slug):
    assert _bench_common().cpu_slug(info) == slug


def test_profile_step_accounts_for_the_whole_step(tmp_path):
    out_json = tmp_path / "profile.json"
    stdout = run([BENCH / "profile_step.py", "--steps", "4", "--warmup", "2", "--out", out_json], tmp_path)
    d = json.loads(out_json.read_text())
    assert "training step" in stdout
    assert len(d["layers"]) == 21  # the course CNN, layer by layer
    convs = [r for r in d["layers"] if r["type"] == "Conv2D"]
    assert len(convs) == 4 and all(r["train_gflops"] > 0 for r in convs)
    # the parts add up to the measured step (the remainder is the rest of fit, which cannot be negative)
    assert sum(d["train_by_kind_ms"].values()) == pytest.approx(d["train_step_ms"])
    assert d["train_by_kind_ms"]["rest of fit (loss, metrics, checks, Python)"] >= 0


@pytest.mark.parametrize(
    "name", ["bench_train.json", "bench_layers.json", "compare_fashion.json", "compare_autompg.json"]
)
def test_report_renders_the_committed_results(name):
    table = _report().render(name)
    assert table.count("\n|") >= 3  # header, rule, at least one row
    if name == "bench_train.json":
        d = json.loads((RESULTS / name).read_text())
        ratio = d["ratios_vs_keras"]["tinycnn"]["train"]
        assert f"| {ratio:.2f} (" in table  # the README quotes the JSON, not a hand-typed number


def _report():
    sys.path.insert(0, str(BENCH))
    try:
        import report
    finally:
        sys.path.remove(str(BENCH))
    return report


def test_readme_tables_are_the_committed_json():
    """Every table in the README is exactly what ``report.py`` renders from the committed JSON."""
    report = _report()
    blocks = report.readme_blocks((REPO / "README.md").read_text(encoding="utf-8"))
    expected = {"bench_train.json", "bench_layers.json", "compare_fashion.json"}
    if report.load_cpus():  # once a run has written results/cpus/<cpu>.json, the README shows them side by side
        expected.add("cpus")
    assert {name for name, _ in blocks} >= expected
    for name, body in blocks:
        assert body == report.render(name), (
            f"README's {name} table is stale: python benchmarks/report.py --update-readme"
        )


def test_update_readme_rewrites_a_stale_table_and_keeps_the_rest(tmp_path):
    report = _report()
    readme = tmp_path / "README.md"
    readme.write_text(
        "intro\n<!-- report: bench_train.json -->\n| old | table |\n<!-- /report -->\nafter\n", encoding="utf-8"
    )
    readme.chmod(0o644)
    assert report.update_readme(readme) == 1
    text = readme.read_text(encoding="utf-8")
    assert text.startswith("intro\n<!-- report: bench_train.json -->\n")
    assert text.endswith("\n<!-- /report -->\nafter\n")
    assert "| old | table |" not in text and report.render("bench_train.json") in text
    assert readme.stat().st_mode & 0o777 == 0o644


def test_direct_convolution_probe_computes_the_convolution():
    """The probe's two direct convolutions agree with the engine (so its GFLOP/s are of the right thing)."""
    sys.path.insert(0, str(BENCH))
    try:
        import probe_direct_conv as probe
    finally:
        sys.path.remove(str(BENCH))
    import numpy as np

    out = probe.probe(hw=6, c=3, f=5, batch=2, tile=3, repeats=1, rng=np.random.default_rng(0))
    for name in ("im2col", "loop", "blocked"):
        assert out[name]["max_rel_diff"] < 1e-5
        assert out[name]["gflops"] > 0
    with pytest.raises(ValueError, match="must divide"):
        probe.probe(hw=6, c=3, f=5, batch=2, tile=4, repeats=1, rng=np.random.default_rng(0))
