"""One trial of a sweep: its data, its optimizer, Numba pinned to its CPUs, and the callback that reports each
epoch (with a checkpoint of the weights) to Ray Tune. Runs in Ray's worker processes."""

import numbers
import os
import sys
import sysconfig
import tempfile

from ..callbacks import Callback

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
    from ..datasets import fashion_mnist
    from ..utils import to_categorical

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
    from .. import optimizers

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
    from ..utils import set_random_seed

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
