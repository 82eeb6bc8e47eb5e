"""Legacy HDF5 model and weights files: ``model.save("x.h5")`` of tf.keras (Keras 2) and of Keras 3's legacy writer.

The layout (``keras.src.legacy.saving.legacy_h5_format``)::

    attrs: model_config (JSON), training_config (JSON, when compiled), keras_version, backend
    /model_weights                attrs layer_names = every layer's name, in model.layers order
        /<layer name>             attrs weight_names = the paths of its weights, trainable first
            /<weight path>        e.g. "conv2d/kernel:0" (Keras 2) or "sequential/conv2d/kernel" (Keras 3)
        /top_level_model_weights  weight_names = []
    /optimizer_weights            attrs weight_names; datasets at those paths (Keras 3: iteration,
                                  learning_rate, slots; tf.keras 2.11+: iteration, slots)

A weights-only legacy file (``save_weights("x.h5")`` of tf.keras) is the ``model_weights`` group at the file's
root. Long attribute lists are split into ``layer_names0``, ``layer_names1`` ... (HDF5 caps an object
header at 64 KiB). Weights are matched to layers **by order** among the layers that have weights, as
Keras does; names only make the errors readable.
"""

import json
import warnings

import numpy as np

from .config import refuse
from .h5_weights import _group, check_optimizer_values, check_range, optimizer_variables, read_dataset
from .model_config import compile_from_keras, compile_to_keras, keras_layers, model_from_keras, model_to_keras

KERAS_VERSION = "3.15.1"  # the Keras version whose legacy writer this one reproduces (checked by the tests)
BACKEND = "tensorflow"  # the numbers follow TensorFlow-backend Keras; Keras ignores this attribute on reading
_ATTR_LIMIT = 64512  # HDF5_OBJECT_HEADER_LIMIT in Keras


def _text(value):
    return value.decode("utf8") if isinstance(value, bytes) else str(value)


def read_names(group, name, where):
    """A list-of-strings attribute, whole or split into ``name0, name1 ...``."""
    if name in group.attrs:
        raw = group.attrs[name]
    else:
        raw, i = [], 0
        while f"{name}{i}" in group.attrs:
            raw.extend(list(np.asarray(group.attrs[f"{name}{i}"]).reshape(-1)))
            i += 1
        if i == 0:
            return None
    arr = np.asarray(raw).reshape(-1)
    if arr.size == 0:
        return []
    if arr.dtype.kind not in "SUO":
        raise refuse(f"{where}: attribute {name!r} should hold names, got dtype {arr.dtype}")
    return [_text(v) for v in arr]


def write_names(group, name, names):
    data = np.array([n.encode("utf8") for n in names]) if names else np.array([])
    chunks = 1
    while any(c.nbytes > _ATTR_LIMIT for c in np.array_split(data, chunks)) and chunks < len(data):
        chunks += 1
    if chunks == 1:
        group.attrs[name] = data
    else:
        for i, c in enumerate(np.array_split(data, chunks)):
            group.attrs[f"{name}{i}"] = c


def _weight_paths(model, layer):
    prefix = f"{model.name}/" if any(c.__name__ == "Sequential" for c in type(model).__mro__) else ""
    return [f"{prefix}{layer.name}/{n}" for n in layer.weight_names]


# ------------------------------------------------------------------------------------------ weights
def write_weights_group(group, model):
    layers = keras_layers(model)
    write_names(group, "layer_names", [layer.name for layer in layers])
    group.attrs["backend"] = BACKEND.encode("utf8")
    group.attrs["keras_version"] = KERAS_VERSION.encode("utf8")
    for layer in sorted(layers, key=lambda x: x.name):
        sub = group.create_group(layer.name)
        paths = _weight_paths(model, layer)
        write_names(sub, "weight_names", paths)
        for path, w in zip(paths, layer.weights):
            sub.create_dataset(path, data=w)
    write_names(group.create_group("top_level_model_weights"), "weight_names", [])


def plan_weights_group(group, model, where):
    """Check a legacy weights group against the model; return ``run()`` that sets the weights."""
    layer_names = read_names(group, "layer_names", where)
    if layer_names is None:
        raise refuse(f"{where}: no 'layer_names' attribute; not a Keras .h5 weights file")
    saved = []
    for name in layer_names:
        g = _group(group, name, where)
        if g is None:
            raise refuse(f"{where}: layer_names lists {name!r}, but the file has no such group (truncated?)")
        weight_names = read_names(g, "weight_names", f"{where}, layer {name!r}") or []
        if weight_names:
            saved.append((name, g, weight_names))
    mine = [layer for layer in keras_layers(model) if layer.weight_names]
    if len(saved) != len(mine):
        raise refuse(
            f"{where} holds weights for {len(saved)} layers ({[s[0] for s in saved]}), the model has "
            f"{len(mine)} layers with weights ({[layer.name for layer in mine]})"
        )
    updates = []
    for (name, g, weight_names), layer in zip(saved, mine):
        here = f"{where}, layer {name!r} (model layer {layer.name!r})"
        if len(weight_names) != len(layer.weight_names):
            raise refuse(
                f"{here}: the file holds {len(weight_names)} weights, the layer has "
                f"{len(layer.weight_names)} ({', '.join(layer.weight_names)})"
            )
        values = [read_dataset(g, wn, here, w.shape) for wn, w in zip(weight_names, layer.weights)]
        check_range(layer, values, here)
        updates.append((layer, values))

    def run():
        for layer, values in updates:
            layer.set_weights(values)

    return run


def _plan_optimizer(h5, model, where):
    group = _group(h5, "optimizer_weights", where)
    if group is None or getattr(model, "optimizer", None) is None:
        return None
    names = read_names(group, "weight_names", f"{where}, optimizer_weights") or []
    if not names:
        return None
    if any(n.endswith("/iter:0") or n == "iter:0" for n in names):
        warnings.warn(
            f"{where}: the optimizer state is from Keras 2's legacy optimizer (tf.keras.optimizers.legacy), "
            f"whose variables tinycnn does not map; the optimizer starts fresh",
            RuntimeWarning,
            stacklevel=3,
        )
        return None
    values = [read_dataset(group, n, f"{where}, optimizer_weights") for n in names]
    keras2 = names[0].endswith(":0")  # tf.keras 2.11+: iteration:0, <Opt>/m/..., no learning-rate variable
    return check_optimizer_values(model, values, f"{where}, optimizer_weights", legacy_without_lr=keras2)


# ------------------------------------------------------------------------------------------ whole models
def write_model(h5, model, include_optimizer=True):
    h5.attrs["backend"] = BACKEND
    h5.attrs["keras_version"] = KERAS_VERSION
    h5.attrs["model_config"] = json.dumps(model_to_keras(model, with_module=False)).encode("utf8")
    compiled = getattr(model, "optimizer", None) is not None and getattr(model, "loss", None) is not None
    if compiled:
        h5.attrs["training_config"] = json.dumps(compile_to_keras(model, legacy=True)).encode("utf8")
    write_weights_group(h5.create_group("model_weights"), model)
    if compiled and include_optimizer:
        variables = optimizer_variables(model)
        group = h5.create_group("optimizer_weights")
        prefix = str(getattr(model.optimizer, "name", "optimizer")).lower()
        names = [f"{prefix}/{n}" for n, _ in variables]
        write_names(group, "weight_names", names)
        for n, (_, value) in zip(names, variables):
            group.create_dataset(n, data=value)


def read_model(h5, where, compile=True):
    """A new tinycnn model from an open legacy ``.h5`` model file (checked whole before it is returned)."""
    if "model_config" not in h5.attrs:
        raise refuse(
            f"{where} has no model_config: it is a weights-only file; build the model and call "
            f"model.load_weights({where!r})"
        )
    try:
        config = json.loads(_text(h5.attrs["model_config"]))
    except (ValueError, UnicodeDecodeError) as e:
        raise refuse(f"{where}: model_config is not valid JSON ({e})") from None
    model = model_from_keras(config, f"{where}, model_config")
    if compile and "training_config" in h5.attrs:
        try:
            training = json.loads(_text(h5.attrs["training_config"]))
        except (ValueError, UnicodeDecodeError) as e:
            raise refuse(f"{where}: training_config is not valid JSON ({e})") from None
        optimizer, loss, metrics = compile_from_keras(training, f"{where}, training_config", legacy=True)
        model.compile(optimizer=optimizer, loss=loss, metrics=metrics)
    weights = _group(h5, "model_weights", where)
    if weights is None:
        raise refuse(f"{where} has no model_weights group (truncated?)")
    run = plan_weights_group(weights, model, f"{where}, model_weights")
    optimizer_run = _plan_optimizer(h5, model, where) if compile else None
    run()
    if optimizer_run is not None:
        optimizer_run()
    return model
