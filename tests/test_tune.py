"""tinycnn.tune: a two-trial sweep on Ray Tune, Ray started in this process on this machine's CPUs.

The sweep (one per module, ~15-30 s) trains a tiny CNN -- Conv2D -> ReLU -> BatchNorm -> Flatten -> Dropout ->
Dense softmax -- on 256 synthetic 12x12 images (class k: a bright row k under noise, so accuracies are neither
chance nor 1) for 2 epochs, once with SGD and once with Adam, each trial on 1 CPU. The script trains a model
itself before the sweep: the trials must not care (they run in Ray's own worker processes). Then:

* the table: one row per trial, the documented columns, finite accuracies, the grid's configs;
* threads: every epoch of every trial ran Numba on as many threads as the trial had CPUs (1), in a process
  other than this one;
* the best weights: loaded into ``build(best_config)`` they give the best trial's validation accuracy and loss
  again; a ``.keras`` copy loads as a whole model with the same predictions;
* the pictures and the CSV; ``examples/sweep_course.py`` end to end on random stand-in images.

Without Ray the tests skip; with ``CI=true`` they fail instead (``make test`` installs the ``tune`` extra).
"""

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tinycnn import tune
from tinycnn.layers import Activation, BatchNormalization, Conv2D, Dense, Dropout, Flatten
from tinycnn.models import Sequential, load_model

ROOT = Path(__file__).resolve().parents[1]
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
SIDE, CLASSES = 12, 10
SPACE = {"filters": 4, "dropout": 0.1, "optimizer": None, "learning_rate": 0.01, "batch_size": 32, "epochs": 2}


def _import_ray():
    """``ray.tune``; skips when Ray (or pandas) is missing, fails instead when ``CI=true``."""
    try:
        import pandas  # noqa: F401
        from ray import tune as ray_tune
    except ImportError as e:
        if os.environ.get("CI", "").strip().lower() == "true":
            pytest.fail(f"CI=true but Ray Tune cannot be imported ({e}); install the 'tune' extra", pytrace=False)
        pytest.skip(f"Ray Tune not installed ({e})")
    return ray_tune


def build(config):
    """The trials' model: small enough that an epoch on 256 images takes well under a second."""
    return Sequential(
        [
            Conv2D(config["filters"], 3, input_shape=(SIDE, SIDE, 1)),
            Activation("relu"),
            BatchNormalization(),
            Flatten(),
            Dropout(config["dropout"]),
            Dense(CLASSES, activation="softmax"),
        ]
    )


def synthetic(n, seed):
    """``n`` noisy images whose class is the row that is brighter; one-hot labels."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, CLASSES, n)
    x = rng.normal(0.0, 1.0, (n, SIDE, SIDE, 1)).astype("float32")
    x[np.arange(n), labels, :, 0] += 0.8
    return x, np.eye(CLASSES, dtype="float32")[labels]


@pytest.fixture(scope="module")
def sweep(tmp_path_factory):
    ray_tune = _import_ray()
    folder = tmp_path_factory.mktemp("sweep")
    data = (synthetic(256, 0), synthetic(128, 1))
    # The parent trains first (and so starts Numba's threads): the trials must work all the same.
    model = build({"filters": 2, "dropout": 0.0})
    model.compile(optimizer="adam", loss="categorical_crossentropy", metrics=["accuracy"])
    model.fit(*data[0], epochs=1, batch_size=64, verbose=0)
    space = dict(SPACE, optimizer=ray_tune.grid_search(["sgd", "adam"]))
    result = tune.sweep(
        build,
        space,
        data,
        cpus_per_trial=1,
        num_cpus=2,
        seed=0,
        storage_path=folder / "ray",
        best_weights=folder / "best.weights.h5",
    )
    return result, data, folder


def test_table_has_one_row_per_trial(sweep):
    result, _, _ = sweep
    table = result.table
    print(table.to_string())
    assert len(table) == 2
    assert set(tune.RESULT_COLUMNS) | set(SPACE) <= set(table.columns)
    assert sorted(table["optimizer"]) == ["adam", "sgd"]
    assert (table["error"] == "").all()
    assert list(table["epochs_run"]) == [2, 2]
    for column in ("loss", "accuracy", "val_loss", "val_accuracy", "best_val_accuracy"):
        assert np.isfinite(table[column].astype(float)).all(), column
    assert ((table["val_accuracy"] >= 0) & (table["val_accuracy"] <= 1)).all()
    assert table["val_accuracy"].iloc[0] >= table["val_accuracy"].iloc[1]  # best first
    assert result.best["trial_id"] == table["trial_id"].iloc[0]
    # The history has every epoch of every trial, and its last epoch is the table's row.
    history = result.history
    assert sorted(history.groupby("trial_id")["epoch"].apply(list)) == [[1, 2], [1, 2]]
    for _, row in table.iterrows():
        last = history[(history["trial_id"] == row["trial_id"]) & (history["epoch"] == 2)]
        assert float(last["val_accuracy"].iloc[0]) == row["val_accuracy"]


def test_each_trial_runs_numba_on_its_cpus_in_its_own_process(sweep):
    result, _, _ = sweep
    history = result.history
    assert list(history["cpus"]) == [1] * len(history)
    assert list(history["threads"]) == list(history["cpus"])
    assert (history["pid"] != os.getpid()).all()


def test_best_weights_reproduce_the_best_validation_accuracy(sweep):
    result, (_, (x_val, y_val)), folder = sweep
    best = result.best
    config = result.best_config
    assert config["optimizer"] == best["optimizer"]
    with open(folder / "best.config.json") as f:
        assert json.load(f) == config
    model = build(config)
    model.compile(optimizer=tune.optimizer_from_config(config), loss="categorical_crossentropy", metrics=["accuracy"])
    model.load_weights(str(folder / "best.weights.h5"))
    loss, accuracy = model.evaluate(x_val, y_val, batch_size=32, verbose=0)
    print(
        f"reloaded: loss {loss:.6f} accuracy {accuracy:.6f}; the trial: {best['val_loss']:.6f} "
        f"{best['val_accuracy']:.6f}"
    )
    assert accuracy == pytest.approx(best["val_accuracy"], abs=1e-9)
    assert loss == pytest.approx(best["val_loss"], rel=1e-5)
    # The whole model as a .keras file: the same predictions.
    path = result.save_best(folder / "best.keras")
    probabilities = load_model(path).predict(x_val, verbose=0)
    np.testing.assert_allclose(probabilities, model.predict(x_val, verbose=0), rtol=1e-6, atol=1e-7)


def test_table_csv_and_pictures(sweep):
    import pandas as pd

    result, _, folder = sweep
    csv = pd.read_csv(result.to_csv(folder / "sweep.csv"))
    assert list(csv["trial_id"]) == list(result.table["trial_id"])
    assert list(csv["val_accuracy"]) == pytest.approx(list(result.table["val_accuracy"]))
    assert result.hyperparameters == ["optimizer"]
    for name, draw in (("curves.png", result.plot_curves), ("hp.png", result.plot_hyperparameters)):
        fig = draw(folder / name)
        assert len(fig.axes) == 1
        with open(folder / name, "rb") as f:
            assert f.read(8) == PNG_MAGIC
    assert len(result.plot_curves().axes[0].lines) == 2  # one line per trial


def test_scheduler_and_search_space_helpers():
    _import_ray()
    from ray.tune.schedulers import ASHAScheduler

    asha = tune.make_scheduler("asha", max_epochs=8, grace_period=2, reduction_factor=3)
    assert isinstance(asha, ASHAScheduler)
    assert (asha._max_t, asha._reduction_factor) == (8, 3)
    assert [level for level, _ in asha._brackets[0]._rungs] == [6, 2]  # epochs where trials are cut
    assert tune.make_scheduler(None, 5) is None and tune.make_scheduler("fifo", 5) is None
    with pytest.raises(ValueError, match="unknown scheduler"):
        tune.make_scheduler("hyperband!", 5)
    assert tune._max_epochs({"epochs": tune.grid_search([3, 7])}, 1) == 7
    assert tune._max_epochs({"epochs": tune.choice([2, 5])}, 1) == 5
    assert tune._max_epochs({}, 4) == 4
    assert tune.choice.__module__.startswith("ray.tune")


def test_bad_arguments_are_refused_before_ray_starts():
    _import_ray()
    import ray

    with pytest.raises(ValueError, match="data must be"):
        tune.sweep(build, {}, data=np.zeros(3))
    with pytest.raises(ValueError, match="as many labels"):
        tune.sweep(build, {}, data=((np.zeros((4, 2)), np.zeros(3)), (np.zeros((1, 2)), np.zeros(1))))
    with pytest.raises(ValueError, match="mode"):
        tune.sweep(build, {}, data=(synthetic(2, 0), synthetic(2, 1)), mode="best")
    assert not ray.is_initialized()


def test_sweep_course_example_runs(tmp_path):
    """The example on 64 + 32 random stand-in images (no data files needed): 2 trials of 1 epoch."""
    _import_ray()
    runner = """
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
    env = dict(os.environ, MPLBACKEND="Agg")
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH")) if p)
    out = tmp_path / "out"
    args = [
        sys.executable,
        "-c",
        runner,
        str(ROOT / "examples" / "sweep_course.py"),
        "--quick",
        "--samples",
        "1",
        "--epochs",
        "1",
        "--limit",
        "64",
        "--val-limit",
        "32",
        "--out",
        str(out),
    ]
    done = subprocess.run(args, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, f"{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    assert "best" in done.stdout
    import pandas as pd

    table = pd.read_csv(out / "sweep.csv")
    assert sorted(table["optimizer"]) == ["adam", "sgd"] and list(table["epochs_run"]) == [1, 1]
    assert all(math.isfinite(v) for v in table["val_accuracy"])
    for name in ("sweep_curves.png", "sweep_hyperparameters.png"):
        with open(out / name, "rb") as f:
            assert f.read(8) == PNG_MAGIC
    assert (out / "best.weights.h5").is_file() and (out / "best.config.json").is_file()


def test_sweep_course_model_is_the_course_model():
    """``course_model(32, 0.5)`` is ``fashion_mnist_cnn.build()`` layer for layer (weights' shapes too)."""
    import importlib.util

    def load(name):
        spec = importlib.util.spec_from_file_location(name, ROOT / "examples" / f"{name}.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module

    _import_ray()  # sweep_course imports tinycnn.tune's samplers only when run, but is a Ray example
    sys.path.insert(0, str(ROOT / "examples"))
    try:
        ours, course = load("sweep_course").course_model(32, 0.5), load("fashion_mnist_cnn").build()
    finally:
        sys.path.remove(str(ROOT / "examples"))

    def describe(model):
        return [(type(layer).__name__, [w.shape for w in layer.get_weights()]) for layer in model.layers]

    assert describe(ours) == describe(course)
    assert [l.rate for l in ours.layers if isinstance(l, Dropout)] == [0.5]


def test_the_default_starts_a_local_ray_whatever_cluster_the_machine_remembers(monkeypatch):
    """address=None must start Ray here ("local"): None would join RAY_ADDRESS or the cluster an earlier
    `ray start` left in /tmp/ray/ray_current_cluster, and wait for ever on a dead one."""
    ray = _import_ray_core()
    calls = []
    monkeypatch.setattr(ray, "is_initialized", lambda: False)
    monkeypatch.setattr(ray, "init", lambda **kwargs: calls.append(kwargs))
    monkeypatch.setenv("RAY_ADDRESS", "192.0.2.1:6379")
    assert tune._start_ray(None, 2, None) is True
    assert calls[0]["address"] == "local" and calls[0]["num_cpus"] == 2
    tune._start_ray("auto", 2, None)
    assert calls[1]["address"] == "auto" and "num_cpus" not in calls[1]


def _import_ray_core():
    _import_ray()
    import ray

    return ray
