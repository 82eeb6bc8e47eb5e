"""Every script in examples/ runs end to end, in a fresh interpreter, and writes its figures into ``--out``.

The concept examples are small by design (a few seconds each). The two training examples run on small
data: ``auto_mpg_regression`` for 2 epochs; ``fashion_mnist_cnn`` for 1 epoch on 64 training images with
``fashion_mnist.load_data`` replaced by 64 + 32 random images (the script would otherwise validate and
predict on the 10,000 real test images, which takes minutes on a laptop), so this test needs neither the
data files nor the network.
"""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"

# Each concept example and the figures it must write (docs/gallery.md shows them).
FIGURES = {
    "conv1d_pattern_detection": ["conv1d_flip_shift_integrate.png", "conv1d_spike_detector.png"],
    "conv2d_edge_detection": ["edge_detection.png", "conv_layer_stages.png", "feature_volume.png"],
    "equivariance": ["equivariance.png", "pooling_invariance.png"],
    "pooling": ["pooling_modes.png", "pooling_stride.png"],
    "receptive_field": [
        "receptive_field_conv.png",
        "receptive_field_pooling.png",
        "receptive_field_dilated.png",
        "receptive_field_on_image.png",
    ],
}

# Runs a training example with a small stand-in for Fashion-MNIST: argv = [script, its arguments...].
SMALL_FASHION = """
import runpy, sys
import numpy as np
from tinycnn.datasets import fashion_mnist

def small_load_data(path=None):
    rng = np.random.default_rng(0)
    def split(n):
        return rng.integers(0, 256, (n, 28, 28), dtype=np.uint8), (np.arange(n) % 10).astype(np.uint8)
    return split(64), split(32)

fashion_mnist.load_data = small_load_data
sys.argv = sys.argv[1:]
runpy.run_path(sys.argv[0], run_name="__main__")
"""


def run(args, timeout=300):
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH")) if p)
    env.pop("DISPLAY", None)
    env["MPLBACKEND"] = "Agg"
    result = subprocess.run(
        [sys.executable, *map(str, args)], cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout
    )
    assert result.returncode == 0, f"{args} failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    return result


def assert_png(path):
    assert path.is_file(), f"{path.name} was not written"
    with open(path, "rb") as f:
        assert f.read(8) == PNG_MAGIC, f"{path.name} is not a PNG"


def test_every_example_is_covered():
    scripts = {p.stem for p in EXAMPLES.glob("*.py")}
    assert (
        set(FIGURES)
        | {
            "fashion_mnist_cnn",
            "auto_mpg_regression",
            "fashion_mnist_residual",
            "fashion_mnist_augmentation",
            "sweep_course",
        }
        >= scripts
    ), f"examples without a test: {scripts - set(FIGURES)}"


@pytest.mark.parametrize("name", sorted(FIGURES))
def test_concept_example_runs_and_writes_its_figures(name, tmp_path):
    out = tmp_path / "figures"
    result = run([EXAMPLES / f"{name}.py", "--out", out])
    assert "figures written to" in result.stdout
    for figure in FIGURES[name]:
        assert_png(out / figure)
    assert sorted(p.name for p in out.iterdir()) == sorted(FIGURES[name])


@pytest.mark.parametrize("name", sorted(FIGURES))
def test_concept_example_is_a_notebook_of_cells(name):
    text = (EXAMPLES / f"{name}.py").read_text()
    assert text.startswith("# %% [markdown]")
    assert text.count("# %%") >= 4
    assert "parse_known_args" in text  # a notebook kernel's own arguments must not break it


def test_auto_mpg_regression_runs(tmp_path):
    script = EXAMPLES / "auto_mpg_regression.py"
    run([script, "--epochs", "2", "--out", tmp_path])
    pngs = list(tmp_path.glob("*.png"))
    assert pngs, "no figure written"
    for png in pngs:
        assert_png(png)


def test_fashion_mnist_cnn_runs_on_small_data(tmp_path):
    script = EXAMPLES / "fashion_mnist_cnn.py"
    run(["-c", SMALL_FASHION, script, "--epochs", "1", "--limit", "64", "--verbose", "0", "--out", tmp_path])
    pngs = list(tmp_path.glob("*.png"))
    assert pngs, "no figure written"
    for png in pngs:
        assert_png(png)
    assert list(tmp_path.glob("*.npz")), "no weights file written"


def test_fashion_mnist_residual_runs_on_small_data(tmp_path):
    script = EXAMPLES / "fashion_mnist_residual.py"
    run(["-c", SMALL_FASHION, script, "--epochs", "1", "--verbose", "0", "--out", tmp_path])
    for name in ("residual_graph.png", "learning_curves.png"):
        assert_png(tmp_path / name)
    assert (tmp_path / "small_resnet.weights.npz").is_file()


def test_fashion_mnist_augmentation_picture_and_training(tmp_path):
    """The picture of augmented samples (``--epochs 0``), then one epoch of ``fit(generator)`` on 64 images."""
    script = EXAMPLES / "fashion_mnist_augmentation.py"
    docs = tmp_path / "docs"
    result = run(["-c", SMALL_FASHION, script, "--epochs", "0", "--out", tmp_path / "pic", "--docs", docs])
    assert "figures written to" in result.stdout
    assert_png(tmp_path / "pic" / "augmented_samples.png")
    assert_png(docs / "fashion_mnist_augmentation.png")
    result = run(
        [
            "-c",
            SMALL_FASHION,
            script,
            "--epochs",
            "1",
            "--limit",
            "64",
            "--verbose",
            "0",
            "--out",
            tmp_path / "train",
            "--docs",
            "",
        ]
    )
    assert "test accuracy after 1 epoch(s) with augmentation" in result.stdout
