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

import os
import time

from .results import SweepResult, _short  # noqa: F401
from .trial import (  # noqa: F401
    _SAMPLERS,
    _TUNE_BOOKKEEPING,
    RESULT_COLUMNS,
    TRAINING_KEYS,
    WEIGHTS_FILE,
    TuneReportCallback,
    _check_data,
    _installed,
    _ray_tune,
    _ship_by_value,
    _trial,
    assigned_cpus,
    load_fashion_mnist,
    optimizer_from_config,
    pin_threads,
)


def __getattr__(name):
    """``tune.choice``, ``tune.loguniform`` ...: Ray Tune's search-space functions, imported on first use."""
    if name in _SAMPLERS:
        return getattr(_ray_tune(), name)
    raise AttributeError(f"module 'tinycnn.tune' has no attribute {name!r}")


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
