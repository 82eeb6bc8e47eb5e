"""Sweeps on Ray Tune: the course's "experiment changing the model and optimizers", many runs at once.

A *sweep* trains one model per point of a search space -- filters, dropout, optimizer, learning rate, batch
size, epochs -- and compares them. tinycnn does not schedule anything itself: each point is a Ray Tune *trial*,
a separate Python process (a Ray worker) that builds the model with the user's function, trains it with
tinycnn's ``fit`` and, after every epoch, reports the epoch's logs to Tune and hands it a checkpoint (the
weights as a ``.weights.h5`` file). Tune places the trials on the CPUs it has, on one machine or a cluster,
stops bad ones early if asked (ASHA), and keeps the results::

    from tinycnn import tune
    from tinycnn.layers import Conv2D, Dense, Flatten
    from tinycnn.models import Sequential

    def build(config):                      # a plain function of the trial's config
        return Sequential([Conv2D(config["filters"], 3, activation="relu", input_shape=(28, 28, 1)),
                           Flatten(), Dense(10, activation="softmax")])

    space = {"filters": tune.choice([8, 16, 32]),
             "optimizer": tune.grid_search(["sgd", "adam", "rmsprop"]),
             "learning_rate": tune.loguniform(1e-4, 1e-1),
             "batch_size": 32, "epochs": 5}
    result = tune.sweep(build, space, num_samples=4, scheduler="asha", best_weights="best.weights.h5")
    result.table                            # one row per trial (a pandas DataFrame); result.to_csv(...)
    result.plot_curves("curves.png")        # validation accuracy of every trial over the epochs
    result.plot_hyperparameters("hp.png")   # final validation accuracy against each hyperparameter

**The config.** Tune draws one config per trial from ``param_space`` (its ``choice``, ``loguniform``,
``grid_search`` ... are re-exported here: ``tune.choice`` is ``ray.tune.choice``). The trial reads
``"optimizer"`` (a Keras name, default ``"adam"``), ``"learning_rate"``, ``"momentum"`` (SGD, RMSprop),
``"batch_size"`` (default 32) and ``"epochs"``; every key (these too) reaches the model function, which uses
what it wants (``"filters"``, ``"dropout"`` ...). A model the function returns uncompiled is compiled with
that optimizer, ``loss`` and ``metrics``; a compiled one is trained as it is.

**Threads.** tinycnn's kernels are Numba ``prange`` loops that use every core by default. Two trials on two
cores with two threads each would fight over the cores (four threads on two cores, each loop waiting for its
slowest thread). So each trial asks Ray which CPUs it was given (``get_assigned_resources()["CPU"]``, which is
``cpus_per_trial``) and calls ``numba.set_num_threads(n)`` before training; the number it trained with is
reported with every epoch (``threads``, next to ``cpus``). ``set_num_threads`` holds for the calling thread,
which is the one Tune runs the trial in. Ray itself sets ``OMP_NUM_THREADS`` of the worker to the same number,
which OpenBLAS (NumPy's products) reads when it loads.

**Processes.** A trial never shares a process with the script that started the sweep: Ray starts its workers
as fresh interpreters, so a sweep works after the script has trained (and started Numba's threads) itself.
The model function and the data travel to the workers pickled (the data once, through Ray's object store:
``tune.with_parameters``). A function from the user's own module (a script, a test file) is pickled by value,
so the workers need not be able to import that module.

**Where it runs.** ``address=None`` (the default) starts Ray inside this process with the machine's CPUs and
stops it afterwards; ``address="auto"`` joins the cluster this machine belongs to (``ray start --head`` on one
node, ``ray start --address=...`` on the others), ``address="ray://host:10001"`` connects through Ray Client.
Nothing else changes. On a cluster the trials' checkpoints must go where every node can write and this process
can read: ``storage_path`` on a shared file system or a cloud URI (``"s3://bucket/sweeps"``).

**Early stopping.** ``scheduler="asha"`` is Asynchronous Successive Halving (Li et al., "A System for
Massively Parallel Hyperparameter Tuning", MLSys 2020): at epochs ``grace_period``, ``grace_period *
reduction_factor``, ... a trial continues only if its ``metric`` is in the best ``1 / reduction_factor`` of the
trials that have reached that epoch so far; the others stop there (their rows show fewer ``epochs_run``).

**The best trial** is the one whose ``metric`` at its last epoch is best (``mode``); its last checkpoint holds
exactly the weights that scored it, so ``best_weights`` loaded into ``build(result.best_config)`` gives that
validation accuracy again (``result.save_best(path)``: ``.weights.h5``, or ``.keras`` for the whole model).

Ray is an optional dependency (``pip install tinycnn[tune]``); this module imports it only when used.
"""

import json
import math
import numbers
import os
import shutil
import sys
import sysconfig
import tempfile
import time

import numpy as np

from .callbacks import Callback

#: The file a trial's checkpoint holds (Keras 3's weights layout, :meth:`tinycnn.Model.save_weights`).
WEIGHTS_FILE = "model.weights.h5"

#: Config keys the trial itself reads (the model function sees them too).
TRAINING_KEYS = ("optimizer", "learning_rate", "momentum", "batch_size", "epochs")

#: Columns of :attr:`SweepResult.table` besides the config's keys.
RESULT_COLUMNS = (
    "trial_id",
    "epochs_run",
    "loss",
    "accuracy",
    "val_loss",
    "val_accuracy",
    "best_val_accuracy",
    "threads",
    "cpus",
    "time_s",
    "checkpoint",
    "error",
)

# Columns of Tune's per-report rows that say nothing about the model (left out of SweepResult.history).
_TUNE_BOOKKEEPING = (
    "config",
    "checkpoint_dir_name",
    "timestamp",
    "should_checkpoint",
    "done",
    "date",
    "time_since_restore",
    "iterations_since_restore",
)

_SAMPLERS = (
    "choice",
    "grid_search",
    "uniform",
    "quniform",
    "loguniform",
    "qloguniform",
    "randint",
    "qrandint",
    "lograndint",
    "randn",
    "sample_from",
)


def __getattr__(name):
    """``tune.choice``, ``tune.loguniform`` ...: Ray Tune's search-space functions, imported on first use."""
    if name in _SAMPLERS:
        return getattr(_ray_tune(), name)
    raise AttributeError(f"module 'tinycnn.tune' has no attribute {name!r}")


def _ray_tune():
    try:
        from ray import tune
    except ImportError as e:
        raise ImportError(f"tinycnn.tune needs Ray Tune: pip install 'tinycnn[tune]' (or 'ray[tune]') ({e})") from None
    return tune


# ------------------------------------------------------------------------------------------------- data
def load_fashion_mnist(limit=None, val_limit=None):
    """Fashion-MNIST as ``((x, y), (x_val, y_val))``: images ``(N, 28, 28, 1)`` float32 in [0, 1], one-hot
    labels ``(N, 10)``; the test set is the validation set (as in the course). ``limit``/``val_limit`` keep the
    first images only."""
    from .datasets import fashion_mnist
    from .utils import to_categorical

    (x, y), (x_val, y_val) = fashion_mnist.load_data()
    x, y, x_val, y_val = x[:limit], y[:limit], x_val[:val_limit], y_val[:val_limit]

    def prepare(images, labels):
        return images.reshape((-1, 28, 28, 1)).astype("float32") / 255.0, to_categorical(labels, 10)

    return prepare(x, y), prepare(x_val, y_val)


def _check_data(data):
    try:
        (x, y), (x_val, y_val) = data
    except (TypeError, ValueError):
        raise ValueError("data must be ((x, y), (x_val, y_val)) arrays, or None for Fashion-MNIST") from None
    for name, a, b in (("training", x, y), ("validation", x_val, y_val)):
        if len(a) != len(b) or len(a) == 0:
            raise ValueError(
                f"the {name} data needs as many labels as images, and at least one ({len(a)} images, {len(b)} labels)"
            )
    return (x, y), (x_val, y_val)


# ----------------------------------------------------------------------------------------- one trial
def optimizer_from_config(config):
    """The optimizer a trial trains with: ``config["optimizer"]`` (a Keras name, default ``"adam"``) with
    ``config["learning_rate"]`` and, where the optimizer has one, ``config["momentum"]``.

    >>> opt = optimizer_from_config({"optimizer": "sgd", "learning_rate": 0.05, "momentum": 0.9})
    >>> type(opt).__name__, float(opt.learning_rate), opt.momentum
    ('SGD', 0.05, 0.9)
    """
    from . import optimizers

    cls = type(optimizers.get(config.get("optimizer", "adam")))
    kwargs = {}
    if "learning_rate" in config:
        kwargs["learning_rate"] = float(config["learning_rate"])
    if "momentum" in config and cls.__name__ in ("SGD", "RMSprop"):
        kwargs["momentum"] = float(config["momentum"])
    return cls(**kwargs)


def assigned_cpus(default=1):
    """The CPUs Ray gave the calling worker (a whole number, at least 1); ``default`` outside Ray."""
    try:
        import ray

        if ray.is_initialized():
            cpus = ray.get_runtime_context().get_assigned_resources().get("CPU")
            if cpus:
                return max(1, int(cpus))
    except Exception:  # noqa: BLE001  (not inside a Ray worker)
        pass
    return max(1, int(default))


def pin_threads(cpus):
    """``numba.set_num_threads`` to ``cpus`` (at most the threads Numba started). Returns the number set."""
    import numba

    threads = max(1, min(int(cpus), numba.config.NUMBA_NUM_THREADS))
    numba.set_num_threads(threads)
    return threads


class TuneReportCallback(Callback):
    """After every epoch: report the epoch's logs to Tune (``ray.tune.report``), with ``epoch``, the Numba
    ``threads`` this training thread uses and the trial's ``cpus``, and the weights as a checkpoint (a
    directory holding :data:`WEIGHTS_FILE`). Only meaningful inside a Tune trial."""

    def __init__(self, cpus=None, checkpoint=True):
        super().__init__()
        self.cpus = cpus
        self.checkpoint = checkpoint

    def on_epoch_end(self, epoch, logs=None):
        import numba

        tune = _ray_tune()
        metrics = {k: float(v) for k, v in (logs or {}).items() if isinstance(v, numbers.Real)}
        metrics.update(epoch=epoch + 1, threads=numba.get_num_threads())
        if self.cpus is not None:
            metrics["cpus"] = self.cpus
        if not self.checkpoint:
            tune.report(metrics)
            return
        with tempfile.TemporaryDirectory(prefix="tinycnn-checkpoint-") as folder:
            self.model.save_weights(os.path.join(folder, WEIGHTS_FILE))
            tune.report(metrics, checkpoint=tune.Checkpoint.from_directory(folder))


def _trial(config, build_fn, data, settings):
    """One trial, inside a Ray worker: pin the threads, build, compile if needed, fit with the reporter."""
    from .utils import set_random_seed

    cpus = assigned_cpus(settings["cpus_per_trial"])
    pin_threads(cpus)
    if settings["seed"] is not None:
        set_random_seed(settings["seed"])
    (x, y), (x_val, y_val) = data
    config = dict(config)
    model = build_fn(config)
    if getattr(model, "optimizer", None) is None:
        model.compile(optimizer=optimizer_from_config(config), loss=settings["loss"], metrics=list(settings["metrics"]))
    model.fit(
        x,
        y,
        validation_data=(x_val, y_val),
        epochs=int(config.get("epochs", settings["epochs"])),
        batch_size=int(config.get("batch_size", 32)),
        shuffle=True,
        verbose=0,
        callbacks=[TuneReportCallback(cpus=cpus)],
    )


# -------------------------------------------------------------------------------------------- the sweep
def _installed(module):
    """Whether ``module`` comes from the standard library or site-packages (importable by any worker)."""
    path = getattr(module, "__file__", None)
    if not path:
        return True
    path = os.path.realpath(path)
    roots = {sysconfig.get_paths()[k] for k in ("stdlib", "platstdlib", "purelib", "platlib")}
    return any(path.startswith(os.path.realpath(r) + os.sep) for r in roots)


def _ship_by_value(fn):
    """Pickle ``fn``'s module by value when a worker may not import it (a test file, a user's module)."""
    import ray.cloudpickle

    name = getattr(fn, "__module__", None)
    module = sys.modules.get(name) if name else None
    if module is None or name == "__main__" or name.split(".")[0] == "tinycnn" or _installed(module):
        return
    ray.cloudpickle.register_pickle_by_value(module)


def _max_epochs(param_space, default):
    """The most epochs a trial can ask for (ASHA's ``max_t``): a number, or the largest of a grid/choice."""
    value = param_space.get("epochs", default)
    if isinstance(value, dict) and "grid_search" in value:
        value = max(value["grid_search"])
    elif hasattr(value, "categories"):
        value = max(value.categories)
    elif hasattr(value, "upper"):
        value = value.upper
    return int(value)


def make_scheduler(scheduler, max_epochs, grace_period=1, reduction_factor=2):
    """``None``/``"fifo"`` (every trial runs all its epochs), ``"asha"`` (early stopping, see the module), or a
    Tune scheduler object, returned as it is."""
    if scheduler is None or scheduler == "fifo":
        return None
    if scheduler == "asha":
        from ray.tune.schedulers import ASHAScheduler

        return ASHAScheduler(
            time_attr="training_iteration",
            max_t=max(1, int(max_epochs)),
            grace_period=grace_period,
            reduction_factor=reduction_factor,
        )
    if isinstance(scheduler, str):
        raise ValueError(f"unknown scheduler {scheduler!r}; use None, 'fifo', 'asha' or a Tune scheduler")
    return scheduler


def _start_ray(address, num_cpus, ray_init):
    """``ray.init`` unless Ray is up already; returns whether this call started it (and so must stop it)."""
    import ray

    if ray.is_initialized():
        return False
    kwargs = dict(ray_init or {})
    if address is None:  # Ray in this process, on this machine's CPUs
        # "local", not None: None would join whatever cluster RAY_ADDRESS or /tmp/ray/ray_current_cluster names --
        # a dead head left by an earlier `ray start` makes ray.init wait on it for ever
        address = "local"
        kwargs.setdefault("num_cpus", num_cpus)
        kwargs.setdefault("include_dashboard", False)  # nothing to look at, and one process less
        kwargs.setdefault("log_to_driver", False)  # trials train with verbose=0; Tune prints the progress
    ray.init(address=address, **kwargs)
    return True


def sweep(
    build_fn,
    param_space,
    data=None,
    *,
    num_samples=1,
    scheduler=None,
    metric="val_accuracy",
    mode="max",
    epochs=1,
    cpus_per_trial=1,
    loss="categorical_crossentropy",
    metrics=("accuracy",),
    seed=None,
    address=None,
    num_cpus=None,
    ray_init=None,
    storage_path=None,
    name=None,
    best_weights=None,
    max_concurrent_trials=None,
    grace_period=1,
    reduction_factor=2,
    verbose=0,
):
    """Train ``build_fn(config)`` for every config Tune draws from ``param_space``; see the module's text.

    Parameters
    ----------
    build_fn : callable
        ``config -> model`` (compiled or not; see "The config" above).
    param_space : dict
        Config keys to values or Tune search spaces (``tune.choice([...])``, ``tune.grid_search([...])``).
    data : ``((x, y), (x_val, y_val))`` or None
        Arrays to train and validate on; None loads Fashion-MNIST (:func:`load_fashion_mnist`). Sent to the
        workers once, through Ray's object store.
    num_samples : int
        Configs drawn from the space (each ``grid_search`` point is repeated ``num_samples`` times).
    scheduler : None, "fifo", "asha" or a Tune scheduler
        ``"asha"``: early stopping with ``grace_period`` and ``reduction_factor`` (see the module).
    metric, mode : str
        What makes a trial better (a key of the epoch logs) and whether higher (``"max"``) is better.
    epochs : int
        Epochs of a trial whose config has no ``"epochs"``.
    cpus_per_trial : int
        CPUs Tune reserves for each trial; each trial runs Numba with that many threads.
    loss, metrics
        For models the function returns uncompiled.
    seed : int or None
        Seeds the draws from ``param_space`` (the same configs each run) and, with ``set_random_seed(seed)``
        at the start of every trial, the weights, shuffling and dropout.
    address : None, "auto" or "ray://host:port"
        None starts Ray here (``num_cpus`` CPUs, all by default; stopped afterwards); otherwise the cluster
        to join. Ray already running in this process is used as it is. ``ray_init``: more ``ray.init`` kwargs.
    storage_path, name : str
        Where Tune writes the trials' results and checkpoints (default ``~/ray_results``), and the
        experiment's folder name there.
    best_weights : str or None
        Also save the best trial's weights there (``.weights.h5``, or ``.keras`` for the whole model).
    max_concurrent_trials : int or None
        At most this many trials at once (default: as many as the CPUs allow).
    verbose : int
        0: Tune prints nothing; 1: Tune's progress table; 2: also each trial's own output.

    Returns
    -------
    SweepResult
    """
    tune = _ray_tune()
    import ray
    from ray.tune.search.basic_variant import BasicVariantGenerator

    if mode not in ("max", "min"):
        raise ValueError(f"mode must be 'max' or 'min', got {mode!r}")
    if not isinstance(param_space, dict):
        raise TypeError(f"param_space must be a dict of config keys, got {type(param_space).__name__}")
    data = _check_data(load_fashion_mnist() if data is None else data)
    if storage_path is not None and "://" not in str(storage_path):
        storage_path = os.path.abspath(os.path.expanduser(str(storage_path)))
    ray_init = dict(ray_init or {})
    if verbose >= 2 and address is None:
        ray_init.setdefault("log_to_driver", True)

    if name is None:
        name = time.strftime("tinycnn_sweep_%Y-%m-%d_%H-%M-%S")
    # Tune warns when checkpoints come faster than every 5 s with num_to_keep set; that is every epoch here.
    os.environ.setdefault("TUNE_WARN_EXCESSIVE_EXPERIMENT_CHECKPOINT_SYNC_THRESHOLD_S", "0")
    started = _start_ray(address, num_cpus, ray_init)
    try:
        _ship_by_value(build_fn)
        settings = {
            "cpus_per_trial": cpus_per_trial,
            "seed": seed,
            "loss": loss,
            "metrics": tuple(metrics),
            "epochs": int(epochs),
        }
        trainable = tune.with_resources(
            tune.with_parameters(_trial, build_fn=build_fn, data=data, settings=settings), {"cpu": cpus_per_trial}
        )
        tuner = tune.Tuner(
            trainable,
            param_space=param_space,
            tune_config=tune.TuneConfig(
                metric=metric,
                mode=mode,
                num_samples=num_samples,
                max_concurrent_trials=max_concurrent_trials,
                search_alg=None if seed is None else BasicVariantGenerator(random_state=seed),
                scheduler=make_scheduler(scheduler, _max_epochs(param_space, epochs), grace_period, reduction_factor),
            ),
            run_config=tune.RunConfig(
                name=name,
                storage_path=storage_path,
                verbose=min(int(verbose), 1),
                checkpoint_config=tune.CheckpointConfig(num_to_keep=1),
            ),
        )
        grid = tuner.fit()
        result = SweepResult.from_result_grid(grid, param_space, metric=metric, mode=mode, build_fn=build_fn)
        if best_weights is not None:
            result.save_best(best_weights)
        return result
    finally:
        if started:
            ray.shutdown()


# ---------------------------------------------------------------------------------------------- results
def _short(value):
    if isinstance(value, float):
        return f"{value:.3g}"
    return str(value)


class SweepResult:
    """What a sweep found.

    Attributes
    ----------
    table : pandas.DataFrame
        One row per trial: ``trial_id``, the config (one column per ``param_space`` key), ``epochs_run``, the
        last epoch's ``loss``/``accuracy``/``val_loss``/``val_accuracy`` (NaN where the logs lack one),
        ``best_val_accuracy`` over the epochs, the Numba ``threads`` and ``cpus`` the trial trained with,
        ``time_s``, the ``checkpoint`` folder (its :data:`WEIGHTS_FILE` is the last epoch's weights) and the
        ``error`` of a failed trial (empty otherwise). Sorted best first by ``metric``.
    history : pandas.DataFrame
        One row per trial and epoch: ``trial_id``, ``epoch`` and every reported metric.
    best : pandas.Series
        The best trial's row; ``best_config`` its config (a dict), ``best_checkpoint`` its checkpoint folder.
    """

    def __init__(self, table, history, configs, metric, mode, hyperparameters, build_fn=None, path=None):
        self.table, self.history, self.configs = table, history, configs
        self.metric, self.mode, self.hyperparameters = metric, mode, list(hyperparameters)
        self.build_fn, self.path = build_fn, path

    @classmethod
    def from_result_grid(cls, grid, param_space, metric="val_accuracy", mode="max", build_fn=None):
        """Collect a Tune ``ResultGrid`` (one ``Result`` per trial) into the table and the history."""
        import pandas as pd

        keys = list(param_space)
        rows, histories, configs = [], [], {}
        for result in grid:
            config = dict(result.config or {})
            metrics = dict(result.metrics or {})
            trial_id = metrics.get("trial_id") or os.path.basename(str(result.path))
            frame = result.metrics_dataframe
            epochs = (
                frame[[c for c in frame.columns if c not in _TUNE_BOOKKEEPING]].copy()
                if frame is not None and len(frame)
                else pd.DataFrame()
            )
            if len(epochs):
                epochs["trial_id"] = trial_id
                histories.append(epochs[["trial_id"] + [c for c in epochs.columns if c != "trial_id"]])
            val = epochs["val_accuracy"] if "val_accuracy" in epochs else pd.Series(dtype=float)
            row = {"trial_id": trial_id}
            row.update({k: config.get(k) for k in keys})
            row.update(
                epochs_run=int(metrics.get("epoch", 0) or 0),
                **{k: float(metrics.get(k, math.nan)) for k in ("loss", "accuracy", "val_loss", "val_accuracy")},
                best_val_accuracy=float(val.max()) if len(val) else math.nan,
                threads=metrics.get("threads"),
                cpus=metrics.get("cpus"),
                time_s=float(metrics.get("time_total_s", math.nan)),
                checkpoint=result.checkpoint.path if result.checkpoint is not None else None,
                error=repr(result.error) if result.error is not None else "",
            )
            if metric not in row:
                row[metric] = float(metrics.get(metric, math.nan))
            rows.append(row)
            configs[trial_id] = config
        table = pd.DataFrame(rows)
        if len(table):
            table = table.sort_values(metric, ascending=(mode == "min"), na_position="last", kind="stable")
            table = table.reset_index(drop=True)
        history = pd.concat(histories, ignore_index=True) if histories else pd.DataFrame()
        varied = [k for k in keys if k in table and table[k].map(repr).nunique() > 1]
        return cls(
            table,
            history,
            configs,
            metric,
            mode,
            varied,
            build_fn=build_fn,
            path=getattr(grid, "experiment_path", None),
        )

    # -- the best trial
    @property
    def best(self):
        finished = self.table.dropna(subset=[self.metric])
        if not len(finished):
            raise RuntimeError(f"no trial reported {self.metric!r}; errors: {list(self.table['error'])}")
        return finished.iloc[0]

    @property
    def best_config(self):
        return dict(self.configs[self.best["trial_id"]])

    @property
    def best_checkpoint(self):
        return self.best["checkpoint"]

    def save_best(self, path, build_fn=None):
        """Copy the best trial's last weights to ``path`` (``.weights.h5``); a ``.keras`` path gets the whole
        model (built with ``build_fn(best_config)``, the sweep's function by default). The config goes beside
        it as JSON (``best.weights.h5`` -> ``best.config.json``). Returns ``path``."""
        from ray.tune import Checkpoint

        path = os.fspath(path)
        folder = os.path.dirname(os.path.abspath(path))
        os.makedirs(folder, exist_ok=True)
        with Checkpoint(self.best_checkpoint).as_directory() as checkpoint:
            weights = os.path.join(checkpoint, WEIGHTS_FILE)
            if path.endswith(".keras"):
                model = self.load_best_model(build_fn, weights=weights)
                model.save(path)
            elif path.endswith(".weights.h5"):
                shutil.copyfile(weights, path)
            else:
                raise ValueError(f"best weights go to a .weights.h5 (weights) or .keras (model) file, got {path!r}")
        stem = path[: -len(".weights.h5")] if path.endswith(".weights.h5") else os.path.splitext(path)[0]
        with open(stem + ".config.json", "w") as f:  # best.weights.h5 -> best.config.json
            json.dump(self.best_config, f, indent=1, default=str)
        return path

    def load_best_model(self, build_fn=None, weights=None):
        """``build_fn(best_config)`` (compiled as its trial was) with the best trial's last weights."""
        build_fn = build_fn or self.build_fn
        if build_fn is None:
            raise ValueError("load_best_model needs the model-building function")
        config = self.best_config
        model = build_fn(dict(config))
        if getattr(model, "optimizer", None) is None:
            model.compile(
                optimizer=optimizer_from_config(config), loss="categorical_crossentropy", metrics=["accuracy"]
            )
        if weights is None:
            from ray.tune import Checkpoint

            with Checkpoint(self.best_checkpoint).as_directory() as checkpoint:
                model.load_weights(os.path.join(checkpoint, WEIGHTS_FILE))
        else:
            model.load_weights(weights)
        return model

    # -- the table and the pictures
    def to_csv(self, path):
        """The table as CSV (config values written with ``str``). Returns ``path``."""
        self.table.to_csv(path, index=False)
        return path

    def _label(self, trial_id):
        config = self.configs.get(trial_id, {})
        keys = self.hyperparameters or [k for k in config if k not in ("epochs",)]
        return ", ".join(f"{k}={_short(config.get(k))}" for k in keys) or str(trial_id)

    def plot_curves(self, path=None, metric=None, ax=None):
        """``metric`` (default: the sweep's) of every trial over the epochs, one line each, the best one
        thick; a trial the scheduler stopped ends early (its label says after how many epochs). Saves to ``path`` if
        given; returns the figure."""
        import matplotlib
        import matplotlib.ticker

        if path is not None and ax is None:
            matplotlib.use("Agg", force=False)
        import matplotlib.pyplot as plt

        metric = metric or self.metric
        fig, ax = (ax.figure, ax) if ax is not None else plt.subplots(figsize=(7.5, 4.5))
        best_id = self.best["trial_id"] if self.table[self.metric].notna().any() else None
        stopped = dict(zip(self.table["trial_id"], self._stopped_early(self.table)))
        for trial_id in self.table["trial_id"]:
            rows = self.history[self.history["trial_id"] == trial_id] if len(self.history) else []
            if not len(rows) or metric not in rows:
                continue
            best = trial_id == best_id
            ax.plot(
                rows["epoch"],
                rows[metric],
                marker="o",
                markersize=3,
                linewidth=2.6 if best else 1.2,
                zorder=3 if best else 2,
                label=("best: " if best else "")
                + self._label(trial_id)
                + (f" (stopped after {len(rows)})" if stopped[trial_id] else ""),
            )
        ax.set_xlabel("epoch")
        ax.set_ylabel(metric)
        ax.set_title(f"{metric} of {len(self.table)} trials")
        if len(self.history):
            ax.set_xticks(sorted(set(int(e) for e in self.history["epoch"])))
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7, loc="best")
        fig.tight_layout()
        if path is not None:
            fig.savefig(path, dpi=110)
        return fig

    def _stopped_early(self, table):
        """Which rows of ``table`` ran fewer epochs than their config asked for (a scheduler stopped them)."""
        asked = [self.configs.get(t, {}).get("epochs") for t in table["trial_id"]]
        return np.array(
            [isinstance(a, numbers.Real) and run < a for a, run in zip(asked, table["epochs_run"])], dtype=bool
        )

    def plot_hyperparameters(self, path=None, metric=None):
        """The last epoch's ``metric`` of each trial against each hyperparameter the sweep varied (numbers on
        their axis, a log axis where they span a factor of 4 or more; names and up to 3 numbers as categories),
        best trial circled, trials a scheduler stopped early hollow.
        Saves to ``path`` if given; returns the figure."""
        import matplotlib
        import matplotlib.ticker

        if path is not None:
            matplotlib.use("Agg", force=False)
        import matplotlib.pyplot as plt

        metric = metric or self.metric
        keys = self.hyperparameters or [k for k in self.table.columns if k in TRAINING_KEYS][:1]
        fig, axes = plt.subplots(
            1, max(len(keys), 1), figsize=(3.2 * max(len(keys), 1), 3.4), sharey=True, squeeze=False
        )
        table = self.table.dropna(subset=[metric])
        best_id = self.best["trial_id"] if len(table) else None
        for ax, key in zip(axes[0], keys):
            values = list(table[key])
            numeric = all(isinstance(v, numbers.Real) and not isinstance(v, bool) for v in values)
            if numeric and len(set(values)) > 3:  # a range of numbers (a few choices read better as categories)
                x = np.asarray(values, dtype=float)
                if x.min() > 0 and x.max() / x.min() >= 4:
                    ax.set_xscale("log")
                    ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())  # decades only
            else:
                categories = sorted({_short(v) for v in values})
                x = np.array([categories.index(_short(v)) for v in values], dtype=float)
                ax.set_xticks(range(len(categories)))
                ax.set_xticklabels(categories, rotation=30 if len(categories) > 3 else 0)
                ax.set_xlim(-0.5, len(categories) - 0.5)
            y = np.asarray(table[metric], dtype=float)
            stopped = self._stopped_early(table)
            ax.scatter(x[~stopped], y[~stopped], s=28, alpha=0.8, color="tab:blue", label="all epochs")
            if stopped.any():
                ax.scatter(
                    x[stopped],
                    y[stopped],
                    s=28,
                    alpha=0.8,
                    facecolors="none",
                    edgecolors="tab:blue",
                    label="stopped early",
                )
            is_best = np.asarray(table["trial_id"] == best_id)
            ax.scatter(
                x[is_best],
                np.asarray(table[metric])[is_best],
                s=120,
                facecolors="none",
                edgecolors="crimson",
                linewidths=1.8,
                label="best",
            )
            ax.set_xlabel(key)
            ax.grid(alpha=0.3)
        axes[0][0].set_ylabel(f"{metric} (last epoch)")
        axes[0][0].legend(fontsize=7, loc="best")
        fig.tight_layout()
        if path is not None:
            fig.savefig(path, dpi=110)
        return fig

    def __repr__(self):
        return f"SweepResult({len(self.table)} trials, best {self.metric}={self.best[self.metric]:.4f})"
