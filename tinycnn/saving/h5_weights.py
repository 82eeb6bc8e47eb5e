"""Keras 3's weights layout (``model.weights.h5`` inside a ``.keras`` archive, and ``*.weights.h5`` files).

Keras 3 (``keras.src.saving.saving_lib``) walks the model and gives every object a group, named by its
*class* (snake case), numbered in order when a class repeats -- never by the layer's own name::

    /vars                                   attrs name=<model name>; no datasets
    /layers/conv2d/vars/0, 1                Conv2D: kernel (kh, kw, c_in, filters), bias
    /layers/batch_normalization/vars/0..3   gamma, beta, moving_mean, moving_variance
    /layers/conv2d_1/vars/...               the second Conv2D
    /layers/max_pooling2d/vars              a layer without weights still has its (empty) group
    /optimizer/vars/0, 1, 2 ...             iteration (int64), learning_rate (float32, absent under a
                                            schedule), then the slots of each trainable weight in turn

``layers`` follows Keras's ``model.layers``: a Sequential model's InputLayer is not in it, a functional
model's InputLayers are. Every weight of a layer is in the order of ``layer.weight_names`` (Keras's:
trainable first). Reading checks the whole file against the model -- groups, counts, shapes, dtypes,
finiteness -- and returns a plan; nothing changes until :func:`apply` runs it.
"""

import numpy as np

from .config import keras_class_name, refuse, to_snake_case
from .model_config import keras_layers


# ------------------------------------------------------------------------------------------ paths
def layer_paths(model):
    """``[(path, layer)]``: each layer's group under ``layers/``, named as Keras names it."""
    used, out = {}, []
    for layer in keras_layers(model):
        base = to_snake_case(keras_class_name(layer))
        if base in used:
            used[base] += 1
            name = f"{base}_{used[base]}"
        else:
            used[base] = 0
            name = base
        out.append((f"layers/{name}", layer))
    return out


def trainable_weights(model):
    """The arrays the optimizer updates, in Keras's ``model.trainable_variables`` order."""
    return [
        layer.params[n]
        for layer in keras_layers(model)
        if layer.trainable
        for n in layer.weight_names
        if n in layer.params
    ]


# ------------------------------------------------------------------------------------------ optimizer state
def trainable_paths(model):
    """Keras's paths of the trainable weights (``"sequential/dense/kernel"``): Keras names the optimizer's
    slots after them (``"sequential_dense_kernel_momentum"``)."""
    prefix = f"{model.name}/" if any(c.__name__ == "Sequential" for c in type(model).__mro__) else ""
    return [
        f"{prefix}{layer.name}/{n}"
        for layer in keras_layers(model)
        if layer.trainable
        for n in layer.weight_names
        if n in layer.params
    ]


def optimizer_variables(model):
    """``[(name, array)]``: the optimizer's variables in Keras 3's order (``optimizer.variables``):
    ``iteration``, ``learning_rate`` (absent under a schedule), then the slots of each trainable weight.
    Keras 2's ``decay`` is written as a schedule (:func:`.model_config.optimizer_to_keras`), so it too has
    no ``learning_rate`` variable."""
    optimizer = model.optimizer
    variables = optimizer.variables_for(trainable_weights(model), trainable_paths(model))
    if getattr(optimizer, "decay", 0.0):
        variables = [(n, v) for n, v in variables if n != "learning_rate"]
    return variables


def check_optimizer_values(model, values, where, legacy_without_lr=False):
    """Check ``values`` (Keras's order) against the model's optimizer; return ``run()`` that sets them.

    A file written before the optimizer's first step holds only ``iteration`` (and ``learning_rate``): that
    restores the count and leaves the slots at their initial values, as Keras does.
    """
    optimizer = model.optimizer
    expected = optimizer_variables(model)
    names = [n for n, _ in expected]
    if legacy_without_lr:
        names = [n for n in names if n != "learning_rate"]
    n_head = 2 if "learning_rate" in names else 1
    if len(values) not in (len(names), n_head):
        raise refuse(
            f"{where}: the file holds {len(values)} optimizer variables, the model's "
            f"{type(optimizer).__name__} has {len(names)} ({names[:4]} ...); is it the same optimizer "
            f"and model?"
        )
    shapes = {n: v.shape for n, v in expected}
    for name, value in zip(names, values):
        if tuple(value.shape) != tuple(shapes[name]):
            raise refuse(f"{where}: optimizer variable {name} has shape {value.shape}, the model needs {shapes[name]}")
    if int(values[0]) < 0:
        raise refuse(f"{where}: negative optimizer iteration count {int(values[0])}")
    given = dict(zip(names, values))

    def run():  # what the file lacks (a learning_rate under decay, slots never built) keeps its current value
        weights, paths = trainable_weights(model), trainable_paths(model)
        current = optimizer.variables_for(weights, paths)
        optimizer.set_variables(weights, [given.get(n, v) for n, v in current], paths)

    return run


# ------------------------------------------------------------------------------------------ reading helpers
def _group(parent, name, where):
    """A sub-group by hard link only (an HDF5 file can link to other files; those are refused)."""
    import h5py

    link = parent.get(name, getlink=True)
    if link is None:
        return None
    if not isinstance(link, h5py.HardLink):
        raise refuse(f"{where}: {name!r} is a {type(link).__name__} to somewhere else; refused")
    obj = parent[name]
    if not isinstance(obj, h5py.Group):
        raise refuse(f"{where}: {name!r} should be a group")
    return obj


def read_dataset(parent, name, where, shape=None):
    """A dataset's values, after checking that it is a plain, in-file, numeric array (of ``shape``)."""
    import h5py

    link = parent.get(name, getlink=True)
    if link is None:
        raise refuse(f"{where}: no dataset {name!r}")
    if not isinstance(link, h5py.HardLink):
        raise refuse(f"{where}: {name!r} is a {type(link).__name__} to somewhere else; refused")
    ds = parent[name]
    if not isinstance(ds, h5py.Dataset):
        raise refuse(f"{where}: {name!r} should be a dataset")
    if ds.external or ds.is_virtual:
        raise refuse(f"{where}: dataset {name!r} keeps its data outside the file; refused")
    if ds.dtype.kind not in "fiu":
        raise refuse(f"{where}: dataset {name!r} has dtype {ds.dtype}, expected numbers")
    if shape is not None and tuple(ds.shape) != tuple(shape):
        raise refuse(f"{where}: {name!r} has shape {tuple(ds.shape)}, the model needs {tuple(shape)}")
    value = ds[()]
    value = np.asarray(value)
    if value.dtype.kind == "f" and not np.all(np.isfinite(value)):
        raise refuse(f"{where}: {name!r} holds NaN or infinite values")
    return value


def check_range(layer, values, where):
    """Refuse float64 values beyond the layer's float32 range: they would load as inf."""
    from ..validation import overflows

    for name, value in zip(layer.weight_names, values):
        if overflows(value, layer.dtype):
            raise refuse(
                f"{where}: weight {name!r} holds values up to {float(np.max(np.abs(value))):.3g}, beyond "
                f"{layer.dtype}'s range (they would load as inf)"
            )


def _vars(group, where):
    """The ``vars`` group's datasets ``0, 1, ...`` as names, checked to be exactly that sequence."""
    names = sorted(group.keys(), key=lambda k: (len(k), k))
    if names != [str(i) for i in range(len(names))]:
        raise refuse(f"{where}: expected datasets named 0, 1, 2 ..., found {names[:8]}")
    return names


# ------------------------------------------------------------------------------------------ write
def write(h5, model, include_optimizer=True):
    """Write the model's weights (and optimizer state, if compiled) in Keras 3's layout into open ``h5``."""
    for path, layer in layer_paths(model):
        group = h5.create_group(f"{path}/vars")
        group.attrs["name"] = layer.name
        for i, w in enumerate(layer.weights):
            group.create_dataset(str(i), data=w)
    h5.create_group("vars").attrs["name"] = model.name
    if include_optimizer and getattr(model, "optimizer", None) is not None:
        group = h5.create_group("optimizer/vars")
        group.attrs["name"] = str(model.optimizer.name)
        for i, (_, value) in enumerate(optimizer_variables(model)):
            group.create_dataset(str(i), data=value)


# ------------------------------------------------------------------------------------------ read
def plan(h5, model, where, with_optimizer=True):
    """Check the file against the model and return ``run()`` that loads it; nothing changes before that."""
    layers_group = _group(h5, "layers", where)
    if layers_group is None:
        raise refuse(
            f"{where} has no 'layers' group: it is not a Keras 3 weights file"
            + (
                " (it looks like a legacy Keras .h5 weights file)"
                if "layer_names" in h5.attrs or "model_weights" in h5
                else ""
            )
        )
    paths = layer_paths(model)
    expected = {path.split("/", 1)[1] for path, _ in paths}
    for name in layers_group.keys():
        if name not in expected:
            g = _group(layers_group, name, where)
            holds = g is not None and "vars" in g and len(g["vars"]) > 0
            if holds:
                raise refuse(
                    f"{where} holds weights for a layer {name!r} that this model does not have; the "
                    f"model's layers are {sorted(expected)}"
                )
    updates = []
    for path, layer in paths:
        here = f"{where}, {path} ({layer.name!r})"
        group = _group(h5, path, where)
        vars_group = _group(group, "vars", here) if group is not None else None
        names = _vars(vars_group, here) if vars_group is not None else []
        if len(names) != len(layer.weight_names):
            raise refuse(
                f"{here}: the file holds {len(names)} weights, the layer has {len(layer.weight_names)} "
                f"({', '.join(layer.weight_names) or 'none'})"
            )
        values = [read_dataset(vars_group, str(i), here, w.shape) for i, w in enumerate(layer.weights)]
        check_range(layer, values, here)
        updates.append((layer, values))
    optimizer_run = None
    opt_group = _group(h5, "optimizer", where)
    if with_optimizer and opt_group is not None and getattr(model, "optimizer", None) is not None:
        vars_group = _group(opt_group, "vars", f"{where}, optimizer")
        if vars_group is not None:
            names = _vars(vars_group, f"{where}, optimizer")
            values = [read_dataset(vars_group, n, f"{where}, optimizer") for n in names]
            if values:
                optimizer_run = check_optimizer_values(model, values, f"{where}, optimizer")

    def run():
        for layer, values in updates:
            layer.set_weights(values)
        if optimizer_run is not None:
            optimizer_run()

    return run
