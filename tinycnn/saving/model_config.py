"""Whole-model configs: Sequential and functional graphs, compile settings and optimizers, Keras <-> tinycnn.

Keras 3 writes a model as ``{"module", "class_name": "Sequential" | "Functional", "config": {...},
"build_config", "compile_config"}`` (``keras.src.saving.serialization_lib``). A functional config lists every
layer with its ``inbound_nodes``: each node is one call of the layer, and names its inputs by
``keras_history = [layer name, node index, tensor index]`` -- Keras 3 as ``{"args": [tensor or [tensors]],
"kwargs": {}}`` with ``{"class_name": "__keras_tensor__", ...}`` tensors, Keras 2 as
``[[name, node, tensor, kwargs], ...]``. The model is rebuilt here through tinycnn's public API only:
``Input``, calling layers on symbolic tensors, ``Model(inputs, outputs)`` and ``Sequential(layers)``.
"""

from collections import deque

from .. import errors
from .config import (
    _json,
    check_builtin,
    input_layer_entry,
    input_layer_from_keras,
    layer_from_keras,
    layer_to_keras,
    refuse,
)


# ------------------------------------------------------------------------------------------ model -> Keras
def is_sequential(model):
    return any(cls.__name__ == "Sequential" for cls in type(model).__mro__)


def keras_layers(model):
    """The layers in the order of Keras's ``model.layers``: a Sequential model's without its InputLayer,
    a functional model's with its InputLayers. Keras names weight groups after this order."""
    layers = list(model.layers)
    if is_sequential(model):
        layers = [layer for layer in layers if type(layer).__name__ != "InputLayer"]
    return layers


def model_to_keras(model, with_module=True):
    """The Keras 3 config of a tinycnn model (``with_module=False``: the legacy ``.h5`` spelling)."""
    if is_sequential(model):
        return _sequential_to_keras(model, with_module)
    return _functional_to_keras(model, with_module)


def _sequential_to_keras(model, with_module):
    layers = keras_layers(model)
    input_shape = layers[0].input_shape if layers and layers[0].built else None
    entries = []
    if input_shape is not None:
        entries.append(input_layer_entry(_input_name(model), input_shape, layers[0].dtype, with_module))
    entries += [layer_to_keras(layer, with_module) for layer in layers]
    config = {"name": model.name, "trainable": True, "dtype": _dtype_policy(layers), "layers": entries}
    if input_shape is not None:
        config["build_input_shape"] = _json(input_shape)
    if not with_module:
        return {"class_name": "Sequential", "config": config}
    entry = {"module": "keras", "class_name": "Sequential", "config": config, "registered_name": None}
    if input_shape is not None:
        entry["build_config"] = {"input_shape": _json(input_shape)}
    return entry


def _input_name(model):
    for layer in model.layers:
        if type(layer).__name__ == "InputLayer":
            return layer.name
    return "input_layer"


def _dtype_policy(layers):
    from .config import dtype_to_keras

    return dtype_to_keras(layers[0].dtype if layers else "float32")


def _graph_nodes(model):
    """Every node of the model's graph (walking back from its outputs), as a set of ``id``s."""
    seen, stack = set(), [t._keras_history for t in model.outputs]
    while stack:
        layer, node_index, _ = stack.pop()
        node = layer._inbound_nodes[node_index]
        if id(node) in seen:
            continue
        seen.add(id(node))
        stack.extend(t._keras_history for t in node.input_tensors)
    return seen


def _functional_to_keras(model, with_module):
    in_graph = _graph_nodes(model)
    # A layer may have been called outside this model too: Keras renumbers a layer's nodes to those in the
    # model (its node_conversion_map); keras_history then points at the renumbered node.
    renumber = {}
    for layer in model.layers:
        kept = 0
        for i, node in enumerate(layer._inbound_nodes):
            if id(node) in in_graph:
                renumber[(id(layer), i)] = kept
                kept += 1

    def tensor(t):
        layer, node_index, tensor_index = t._keras_history
        return {
            "class_name": "__keras_tensor__",
            "config": {
                "shape": _json(t.shape),
                "dtype": getattr(t, "dtype", "float32"),
                "keras_history": [layer.name, renumber[(id(layer), node_index)], tensor_index],
            },
        }

    entries = []
    for layer in model.layers:
        entry = layer_to_keras(layer, with_module)
        nodes = []
        for node in layer._inbound_nodes:
            if id(node) not in in_graph or not node.input_tensors:
                continue
            args = tensor(node.input_tensors[0]) if node.single_input else [tensor(t) for t in node.input_tensors]
            nodes.append({"args": [args], "kwargs": {}})
        entry["name"] = layer.name
        entry["inbound_nodes"] = nodes
        entries.append(entry)

    def ends(tensors):
        refs = [
            [t._keras_history[0].name, renumber[(id(t._keras_history[0]), t._keras_history[1])], t._keras_history[2]]
            for t in tensors
        ]
        return refs[0] if len(refs) == 1 else refs

    config = {
        "name": model.name,
        "trainable": True,
        "layers": entries,
        "input_layers": ends(list(model.inputs)),
        "output_layers": ends(list(model.outputs)),
    }
    if not with_module:
        return {"class_name": "Functional", "config": config}
    return {
        "module": "keras.src.models.functional",
        "class_name": "Functional",
        "config": config,
        "registered_name": "Functional",
        "build_config": {"input_shape": None},
    }


# ------------------------------------------------------------------------------------------ Keras -> model
def model_from_keras(entry, where="the model config"):
    """A new tinycnn model from a Keras model config (Keras 3 or Keras 2 spelling). Nothing is run."""
    class_name = check_builtin(entry, where)
    config = entry.get("config")
    if not isinstance(config, dict):
        raise refuse(f"{where}: the {class_name} entry has no config object")
    if config.get("trainable", True) is not True:
        raise refuse(f"{where}: a model saved with trainable=False is not supported")
    if class_name == "Sequential":
        return _sequential_from_keras(config, where, entry)
    if class_name in ("Functional", "Model"):
        return _functional_from_keras(config, where)
    raise refuse(
        f"{where}: model class {class_name!r} is not one tinycnn has (Sequential, Functional); a "
        f"subclassed Keras model holds Python code that tinycnn does not run"
    )


def _layer_list(config, where):
    layers = config.get("layers")
    if not isinstance(layers, list) or not all(isinstance(e, dict) for e in layers):
        raise refuse(f"{where}: 'layers' must be a list of layer entries")
    return layers


def _sequential_from_keras(config, where, entry):
    from ..models import Sequential

    entries = _layer_list(config, where)
    shape = None
    if entries and entries[0].get("class_name") == "InputLayer":
        _, shape, _ = input_layer_from_keras(entries[0], f"{where}, layer 0")
        entries = entries[1:]
    if any(e.get("class_name") == "InputLayer" for e in entries):
        raise refuse(f"{where}: an InputLayer after the first layer of a Sequential model")
    if shape is None and entries:  # Keras 2 kept the input shape in the first layer's config
        first = entries[0].get("config") or {}
        shape = first.get("batch_input_shape") or first.get("batch_shape")
    if shape is None:
        shape = config.get("build_input_shape") or (entry.get("build_config") or {}).get("input_shape")
    if shape is not None and (not isinstance(shape, (list, tuple)) or len(shape) < 2):
        raise refuse(f"{where}: invalid input shape {shape!r}")
    layers = [
        layer_from_keras(e, f"{where}, layer {i}", input_shape=shape[1:] if i == 0 and shape else None)
        for i, e in enumerate(entries)
    ]
    name = config.get("name")
    try:
        return Sequential(layers, name=name if isinstance(name, str) else None)
    except errors.TinyCNNError as e:
        raise refuse(f"{where}: the layers do not fit together in tinycnn: {e}") from None


def _history(ref, where):
    """``(layer name, node index, tensor index)`` of an inbound-tensor reference, either spelling."""
    if isinstance(ref, dict):
        if ref.get("class_name") != "__keras_tensor__":
            raise refuse(
                f"{where}: a node argument of class {ref.get('class_name')!r} is not a tensor; tinycnn "
                f"layers take tensors only"
            )
        ref = (ref.get("config") or {}).get("keras_history")
    if (
        not isinstance(ref, (list, tuple))
        or len(ref) < 3
        or not isinstance(ref[0], str)
        or not all(isinstance(i, int) and not isinstance(i, bool) and i >= 0 for i in ref[1:3])
    ):
        raise refuse(f"{where}: invalid tensor reference {ref!r}")
    if len(ref) > 3 and ref[3]:
        raise refuse(f"{where}: call arguments {ref[3]!r} are not supported by tinycnn")
    return tuple(ref[:3])


def _node_inputs(node, where):
    """``(single?, [references])`` of one inbound node, Keras 3 or Keras 2 spelling."""
    if isinstance(node, dict):  # Keras 3
        args, kwargs = node.get("args"), node.get("kwargs") or {}
        # Keras records training= and mask=None with some calls; anything else changes what the layer computes
        unsupported = {k: v for k, v in kwargs.items() if k != "training" and not (k == "mask" and v is None)}
        if unsupported:
            raise refuse(f"{where}: call arguments {unsupported} are not supported by tinycnn")
        if not isinstance(args, list) or len(args) != 1:
            raise refuse(
                f"{where}: a layer called with {len(args) if isinstance(args, list) else '?'} positional "
                f"arguments; tinycnn layers take one tensor or one list of tensors"
            )
        arg = args[0]
        if isinstance(arg, list):
            return False, [_history(r, where) for r in arg]
        return True, [_history(arg, where)]
    if isinstance(node, list) and node:  # Keras 2: a list of [name, node, tensor, kwargs]
        refs = [_history(r, where) for r in node]
        return len(refs) == 1, refs
    raise refuse(f"{where}: invalid inbound node {node!r}")


def _ends(value, where, what):
    """Keras 3 writes one input as ``["name", 0, 0]`` and several as a list of those; Keras 2 always a list."""
    if isinstance(value, list) and len(value) == 3 and isinstance(value[0], str):
        return True, [_history(value, where)]
    if isinstance(value, list) and value:
        return False, [_history(v, f"{where} ({what})") for v in value]
    raise refuse(f"{where}: invalid {what} {value!r}")


def _functional_from_keras(config, where):
    try:
        from ..layers import Input
        from ..models import Model
    except ImportError:
        raise refuse(f"{where}: this tinycnn has no functional models (tinycnn.models.Model)") from None
    entries = _layer_list(config, where)
    layers, pending, outputs, order = {}, {}, {}, []
    for i, entry in enumerate(entries):
        name = entry.get("name", (entry.get("config") or {}).get("name"))
        here = f"{where}, layer {i} ({name!r})"
        if not isinstance(name, str) or name in layers:
            raise refuse(f"{here}: layer names must be unique strings")
        if entry.get("class_name") == "InputLayer":
            _, shape, dtype = input_layer_from_keras(entry, here)
            layers[name] = None
            outputs[name] = [[Input(batch_shape=shape, name=name, **({"dtype": dtype} if dtype else {}))]]
            pending[name] = deque()
        else:
            layers[name] = layer_from_keras(entry, here)
            nodes = entry.get("inbound_nodes")
            if not isinstance(nodes, list):
                raise refuse(f"{here}: no inbound_nodes list")
            pending[name] = deque(_node_inputs(n, f"{here}, node {j}") for j, n in enumerate(nodes))
            outputs[name] = []
        order.append(name)

    def lookup(ref):
        layer_name, node_index, tensor_index = ref
        made = outputs.get(layer_name)
        if made is None or node_index >= len(made) or tensor_index >= len(made[node_index]):
            return None
        return made[node_index][tensor_index]

    # Keras's order: layer by layer, each layer's nodes in turn, postponing a node whose inputs are not made yet.
    while any(pending.values()):
        progress = False
        for name in order:
            queue = pending[name]
            while queue:
                single, refs = queue[0]
                tensors = [lookup(r) for r in refs]
                if any(t is None for t in tensors):
                    break
                try:
                    out = layers[name](tensors[0] if single else tensors)
                except errors.TinyCNNError as e:
                    raise refuse(f"{where}: layer {name!r} does not fit its inputs in tinycnn: {e}") from None
                outputs[name].append(list(out) if isinstance(out, (list, tuple)) else [out])
                queue.popleft()
                progress = True
        if not progress:
            stuck = [n for n in order if pending[n]]
            raise refuse(
                f"{where}: the graph cannot be rebuilt: layers {stuck} wait for tensors that no layer "
                f"makes (a missing layer or a cycle)"
            )

    def resolve(value, what):
        single, refs = _ends(value, where, what)
        tensors = [lookup(r) for r in refs]
        if any(t is None for t in tensors):
            raise refuse(f"{where}: {what} {value!r} name tensors that the graph does not make")
        return tensors[0] if single else tensors

    inputs = resolve(config.get("input_layers"), "input_layers")
    outs = resolve(config.get("output_layers"), "output_layers")
    name = config.get("name")
    try:
        return Model(inputs, outs, name=name if isinstance(name, str) else None)
    except errors.TinyCNNError as e:
        raise refuse(f"{where}: tinycnn cannot build this graph: {e}") from None


from .compile_config import compile_from_keras, compile_to_keras, optimizer_from_keras, optimizer_to_keras  # noqa: E402,F401
