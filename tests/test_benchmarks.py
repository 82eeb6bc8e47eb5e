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
            "--out",
            out_json,
        ],
        tmp_path,
    )
    d = json.loads(out_json.read_text())
    assert [r["framework"] for r in d["rounds"]] == ["tinycnn", "tinycnn [im2col+BLAS]", "keras"] * 2
    assert [r["round"] for r in d["rounds"]] == [0, 0, 0, 1, 1, 1]
    # the engine and, with --tinycnn-im2col, the route it replaced, each in its own process
    assert [r.get("route") for r in d["rounds"]] == ["direct", "im2col+BLAS", None] * 2
    d["rounds"] = [r for r in d["rounds"] if r["framework"] != "tinycnn [im2col+BLAS]"]
    for row in d["rounds"]:
        assert row["train_images_per_s"] > 0 and row["infer_images_per_s"] > 0 and row["peak_rss_mib"] > 0
    tiny = [r for r in d["rounds"] if r["framework"] == "tinycnn"]
    # each worker holds only its own framework (its peak memory is that framework's)
    assert [r["tinycnn_loaded"] for r in d["rounds"]] == [True, False] * 2
    # ... and no worker inherits OpenMP settings from tinycnn in the parent process
    assert all(r["openmp_environment"] == {k: os.environ.get(k) for k in r["openmp_environment"]} for r in d["rounds"])
    assert all(r["blas"]["OPENBLAS_CORETYPE"] == os.environ.get("OPENBLAS_CORETYPE") for r in tiny)
    # the ratios are what the two rounds measured, not something else
    per_round = d["per_round_ratios_vs_keras"]["tinycnn"]["train"]
    expected = [t["train_images_per_s"] / k["train_images_per_s"] for t, k in zip(d["rounds"][0::2], d["rounds"][1::2])]
    assert per_round == pytest.approx(expected)
    assert d["ratios_vs_keras"]["keras"]["train"] == pytest.approx(1.0)
    assert d["median"]["tinycnn"]["train_images_per_s"] == pytest.approx(
        sorted(t["train_images_per_s"] for t in tiny)[0] / 2 + sorted(t["train_images_per_s"] for t in tiny)[1] / 2
    )


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
    assert {name for name, _ in blocks} >= {"bench_train.json", "bench_layers.json", "compare_fashion.json"}
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
