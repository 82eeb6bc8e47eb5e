"""A compiled model's settings in Keras's files: the optimizer (its config), the loss and the metrics, both ways."""

from .. import errors
from .config import (
    _json,
    check_builtin,
    refuse,
)

# ------------------------------------------------------------------------------------------ optimizers
#: Keys of a Keras optimizer config that do not change the numbers and that tinycnn's optimizers do not take.
_OPTIMIZER_COSMETIC = {"jit_compile", "is_legacy_optimizer"}


def optimizer_from_keras(value, where="the optimizer config"):
    """A new tinycnn optimizer from Keras's optimizer config (a name, or ``{"class_name", "config"}``).

    The arguments are tinycnn's optimizers' own (Keras 3's names: ``tinycnn.optimizers.deserialize``), which
    refuse what they do not run (``use_ema=True`` ...); a learning-rate schedule is rebuilt by class name.
    """
    from .. import optimizers

    known = {cls.__name__.lower(): cls.__name__ for cls in optimizers.ALL_OPTIMIZERS}
    if isinstance(value, str):
        if value.lower() not in known:
            raise refuse(f"{where}: optimizer {value!r} is not one tinycnn has ({sorted(known.values())})")
        return optimizers.get(value.lower())
    if (
        isinstance(value, dict)
        and isinstance(value.get("class_name"), str)
        and value["class_name"].startswith("Custom>")
    ):  # how tf.keras 2.11+ wrote its own optimizers
        value = {**value, "class_name": value["class_name"][len("Custom>") :]}
    class_name = check_builtin(value, where)
    if class_name.lower() not in known:
        raise refuse(f"{where}: optimizer {class_name!r} is not one tinycnn has ({sorted(known.values())})")
    config = value.get("config") or {}
    if not isinstance(config, dict):
        raise refuse(f"{where}: the {class_name} config must be a JSON object")
    lr = config.get("learning_rate")
    if isinstance(lr, dict):
        check_builtin(lr, f"{where}, learning_rate")
    config = {k: v for k, v in config.items() if k not in _OPTIMIZER_COSMETIC}
    try:
        return optimizers.deserialize({"class_name": known[class_name.lower()], "config": config})
    except (errors.TinyCNNError, TypeError) as e:
        raise refuse(f"{where}: tinycnn refuses the {class_name} settings: {e}") from None


def _check_optimizer(optimizer):
    from .. import optimizers

    if type(optimizer) not in optimizers.ALL_OPTIMIZERS:
        raise refuse(f"optimizer {type(optimizer).__name__} is not one of Keras's, so it cannot be written")


def optimizer_to_keras(optimizer, with_module=True):
    """Keras 3's serialized optimizer. Keras 2's ``decay`` (which Keras 3 no longer takes) is written as
    the schedule Keras 3 uses for it: ``InverseTimeDecay(lr, decay_steps=1, decay_rate=decay)``."""
    from .. import optimizers

    _check_optimizer(optimizer)
    entry = optimizers.serialize(optimizer)
    config = dict(entry["config"])
    decay = config.pop("decay", 0.0)
    if decay:
        if isinstance(config["learning_rate"], dict):
            raise refuse(
                "an optimizer with both a learning-rate schedule and decay cannot be written to a Keras "
                "file (Keras 3 has no decay argument)"
            )
        config["learning_rate"] = {
            "module": "keras.optimizers.schedules",
            "class_name": "InverseTimeDecay",
            "config": {
                "initial_learning_rate": config["learning_rate"],
                "decay_steps": 1,
                "decay_rate": decay,
                "staircase": False,
                "name": "InverseTimeDecay",
            },
            "registered_name": None,
        }
    config = _json(config)
    if not with_module:
        return {"class_name": entry["class_name"], "config": config}
    return {**entry, "config": config}


# ------------------------------------------------------------------------------------------ compile settings
_LOSS_COSMETIC = {"name", "reduction", "dtype"}
_LOSS_FIXED = {"from_logits": False, "label_smoothing": 0.0, "axis": -1, "ignore_class": None}


def loss_from_keras(value, where):
    from .. import losses

    if isinstance(value, dict):
        class_name = check_builtin(value, where)
        config = value.get("config") or {}
        for key, v in config.items():
            if key in _LOSS_COSMETIC:
                continue
            if key not in _LOSS_FIXED or v != _LOSS_FIXED[key]:
                raise refuse(f"{where}: loss {class_name} with {key}={v!r} is not supported by tinycnn")
        from .config import to_snake_case

        value = to_snake_case(class_name)
    if isinstance(value, list) and len(value) == 1:
        value = value[0]
    if not isinstance(value, str):
        raise refuse(f"{where}: loss {value!r} is not a Keras built-in loss name")
    try:
        return losses.get(value)
    except errors.TinyCNNError:
        raise refuse(f"{where}: loss {value!r} is not one tinycnn has") from None


def metrics_from_keras(value, where):
    from .. import metrics

    if value is None:
        return []
    if not isinstance(value, list):
        value = [value]
    if len(value) == 1 and isinstance(value[0], list):  # Keras 2: one list per output
        value = value[0]
    names = []
    for m in value:
        if isinstance(m, dict):  # Keras 2: {"class_name": "MeanMetricWrapper", "config": {"name", "fn"}}
            check_builtin(m, where)
            m = (m.get("config") or {}).get("name")
        if not isinstance(m, str):
            raise refuse(f"{where}: metric {m!r} is not a Keras built-in metric name")
        if m.lower() not in metrics.VALID_NAMES:
            raise refuse(f"{where}: metric {m!r} is not one tinycnn has ({metrics.VALID_NAMES})")
        names.append(m)
    return names


def compile_from_keras(config, where, legacy=False):
    """``(optimizer, loss, metrics)`` from Keras 3's ``compile_config`` or Keras 2's ``training_config``."""
    if not isinstance(config, dict):
        raise refuse(f"{where}: the compile config must be a JSON object")
    for key in ("loss_weights", "weighted_metrics", "sample_weight_mode"):
        if config.get(key) not in (None, [], {}):
            raise refuse(f"{where}: {key}={config[key]!r} is not supported by tinycnn")
    optimizer = optimizer_from_keras(config.get("optimizer_config" if legacy else "optimizer"), f"{where}, optimizer")
    loss = loss_from_keras(config.get("loss"), f"{where}, loss")
    return optimizer, loss, metrics_from_keras(config.get("metrics"), f"{where}, metrics")


def compile_to_keras(model, legacy=False):
    """Keras 3's ``compile_config`` (or, ``legacy``, the ``.h5`` ``training_config``) of a compiled model."""
    from .. import metrics as metrics_mod

    loss, metrics, loss_weights = getattr(model, "_compile_args", (model.loss, None, None))
    if isinstance(loss, (list, tuple, dict)) or loss_weights is not None:
        raise refuse(
            "a model compiled with several losses or loss_weights cannot be written to a Keras file by tinycnn yet"
        )
    loss_name = loss if isinstance(loss, str) else getattr(model.loss, "name", None)
    if not isinstance(loss_name, str):
        raise refuse(f"the model's loss {model.loss!r} has no Keras name, so it cannot be written")
    if metrics is None:
        names = []
    else:
        names = [metrics] if isinstance(metrics, str) else list(metrics) if isinstance(metrics, (list, tuple)) else None
        if names is None or not all(isinstance(m, str) and m.lower() in metrics_mod.VALID_NAMES for m in names):
            raise refuse(f"metrics {metrics!r}: only Keras's built-in metric names can be written to a Keras file")
    config = {
        "loss": loss_name,
        "loss_weights": None,
        "metrics": names or None,
        "weighted_metrics": None,
        "run_eagerly": False,
        "steps_per_execution": 1,
        "jit_compile": False,
    }
    if legacy:
        return {**config, "optimizer_config": optimizer_to_keras(model.optimizer, with_module=False)}
    return {"optimizer": optimizer_to_keras(model.optimizer), **config}
