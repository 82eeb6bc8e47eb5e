"""Every example runs as a Jupyter notebook, made from its ``# %%`` script by jupytext (the script is the one
source: no .ipynb is committed), executed in a real kernel by nbclient, on small data.

The concept examples run as they are (a few seconds each; ``conv2d_edge_detection`` and ``equivariance`` read
one Fashion-MNIST test image, as ``tests/test_examples.py`` does). The training examples run with their
small-data options, and those that load Fashion-MNIST get the same 64 + 32 random stand-in images as
``tests/test_examples.py`` (``SMALL_FASHION``). The course CNN's notebook trains with ``verbose=1``, to check
that the progress bar is one updating display per epoch in a notebook, not thousands of redraws.

The notebook toolchain (jupytext, nbclient, ipykernel) is the ``docs`` extra: without it these tests skip,
except with ``CI=true``, where they fail.
"""

import importlib.util
import json
import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"

# The same stand-in for fashion_mnist.load_data as tests/test_examples.py's SMALL_FASHION: 64 training and 32
# test images of noise with labels 0..9, so the training notebooks need neither the data files nor minutes.
SMALL_FASHION = """
import numpy as np
from tinycnn.datasets import fashion_mnist

def small_load_data(path=None):
    rng = np.random.default_rng(0)
    def split(n):
        return rng.integers(0, 256, (n, 28, 28), dtype=np.uint8), (np.arange(n) % 10).astype(np.uint8)
    return split(64), split(32)

fashion_mnist.load_data = small_load_data
"""

# Each example's notebook arguments (sys.argv in its first cell; "--out" a temporary folder is added) and
# whether it gets the small Fashion-MNIST.
RUNS = {
    "conv1d_pattern_detection": ([], False),
    "conv2d_edge_detection": ([], False),
    "equivariance": ([], False),
    "pooling": ([], False),
    "receptive_field": ([], False),
    "auto_mpg_regression": (["--epochs", "2"], False),
    "fashion_mnist_cnn": (["--epochs", "1", "--limit", "64", "--verbose", "1"], True),
    "fashion_mnist_residual": (["--epochs", "1", "--verbose", "0"], True),
    "fashion_mnist_augmentation": (["--epochs", "1", "--limit", "64", "--verbose", "0", "--docs", ""], True),
    # a Ray Tune sweep, as tests/test_tune.py runs it: one config per optimizer, 1 epoch, 64 + 32 images
    "sweep_course": (["--quick", "--samples", "1", "--epochs", "1", "--limit", "64", "--val-limit", "32"], True),
}
# Examples that need an optional extra: the module to import, and the extra that installs it.
NEEDS = {"sweep_course": ("ray", "tune")}


def _toolchain():
    try:
        import ipykernel  # noqa: F401
        import jupytext  # noqa: F401
        import nbclient  # noqa: F401
        import nbformat  # noqa: F401
    except ImportError as e:
        if os.environ.get("CI", "").strip().lower() == "true":
            pytest.fail(
                f"CI=true but the notebook toolchain cannot be imported ({e}); install the 'docs' extra", pytrace=False
            )
        pytest.skip(f"the notebook toolchain is not installed ({e}); pip install -e '.[docs]'")


def _hooks():
    """docs/hooks.py, whose script_to_notebook makes the site's notebooks: the tests run the same ones."""
    spec = importlib.util.spec_from_file_location("tinycnn_docs_hooks", ROOT / "docs" / "hooks.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def scripts():
    return sorted(p.stem for p in EXAMPLES.glob("*.py"))


def test_every_example_has_a_notebook_run():
    missing = sorted(set(scripts()) - set(RUNS))
    assert not missing, (
        f"examples without a notebook run: {missing}; add each to RUNS in "
        f"tests/test_notebooks.py with the arguments that make it run on small data"
    )


@pytest.mark.parametrize("name", scripts())
def test_notebook_is_the_script(name):
    """The notebook holds the script's cells and nothing else besides the tagged setup cell: converted back
    with jupytext, it gives the script's text."""
    _toolchain()
    import jupytext

    script = EXAMPLES / f"{name}.py"
    notebook = jupytext.reads(_hooks().script_to_notebook(script), fmt="ipynb")
    assert all(cell.get("outputs", []) == [] for cell in notebook.cells), "a generated notebook has outputs"
    setup = [c for c in notebook.cells if _hooks().SETUP_TAG in c.metadata.get("tags", [])]
    assert len(setup) == 1 and "__file__" in setup[0].source and "sys.argv" in setup[0].source
    notebook.cells = [c for c in notebook.cells if c not in setup]
    assert any(c.cell_type == "code" and c.source.strip() for c in notebook.cells), "the notebook has no code"
    back = jupytext.writes(notebook, fmt="py:percent")
    body = lambda text: text[text.index("# %%") :].strip()  # noqa: E731  (jupytext may add a YAML header)
    assert body(back) == body(script.read_text(encoding="utf-8"))


@pytest.mark.parametrize("name", scripts())
def test_notebook_executes_on_small_data(name, tmp_path, monkeypatch):
    _toolchain()
    import nbformat
    from nbclient import NotebookClient

    if name not in RUNS:
        pytest.fail(f"no notebook run for examples/{name}.py: add it to RUNS", pytrace=False)
    args, small = RUNS[name]
    if name in NEEDS:
        module, extra = NEEDS[name]
        try:
            importlib.import_module(module)
        except ImportError as e:
            if os.environ.get("CI", "").strip().lower() == "true":
                pytest.fail(
                    f"CI=true but {module} cannot be imported ({e}); install the '{extra}' extra", pytrace=False
                )
            pytest.skip(f"examples/{name}.py needs the '{extra}' extra ({e})")
    out = tmp_path / "out"
    argv = [f"{name}.py", *args, "--out", str(out)]
    first = [f"import sys\nsys.argv = {argv!r}  # the test's arguments: small data, figures into a temporary folder"]
    if small:
        first.append(SMALL_FASHION)
    notebook = nbformat.reads(_hooks().script_to_notebook(EXAMPLES / f"{name}.py", first), as_version=4)

    monkeypatch.setenv("MPLBACKEND", "Agg")
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p))
    client = NotebookClient(
        notebook, timeout=240, kernel_name="python3", resources={"metadata": {"path": str(EXAMPLES)}}
    )
    client.execute()  # raises CellExecutionError, with the cell and its traceback, if a cell fails

    pngs = sorted(out.rglob("*.png"))
    assert pngs, f"the {name} notebook wrote no figure into {out}"
    for png in pngs:
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", f"{png} is not a PNG"
    (tmp_path / f"{name}.ipynb").write_text(nbformat.writes(notebook), encoding="utf-8")  # to look at on failure

    if "--verbose" in args and args[args.index("--verbose") + 1] == "1":
        _check_progress_bar(notebook, epochs=int(args[args.index("--epochs") + 1]))


def _check_progress_bar(notebook, epochs):
    """In a notebook, ``fit(verbose=1)`` leaves one display per epoch holding that epoch's final bar, and no
    stream output with carriage returns or partial bars."""
    outputs = [o for cell in notebook.cells if cell.cell_type == "code" for o in cell.get("outputs", [])]
    bars = [
        o
        for o in outputs
        if o.output_type in ("display_data", "update_display_data")
        and "[====" in o.get("data", {}).get("text/plain", "")
    ]
    streams = "".join(o.get("text", "") for o in outputs if o.output_type == "stream")
    assert len(bars) == epochs, f"expected {epochs} progress-bar display(s), got {len(bars)}: {bars}"
    final = bars[0]["data"]["text/plain"]
    assert "[==============================]" in final and "ms/step" in final and "loss:" in final, final
    assert "\r" not in streams and "ETA:" not in streams, f"progress bar redraws in the stream: {streams[:500]!r}"
    assert f"Epoch {epochs}/{epochs}" in streams
    json.dumps(notebook)  # the executed notebook is plain JSON
