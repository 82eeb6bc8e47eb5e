"""A model as a graph of layers: the order to run it in, the forward pass and the backward pass.

**Order.** Walking back from the outputs along ``tensor._keras_history`` reaches every node (one call of a
layer); a depth-first search lists each node after the nodes that made its inputs (a topological order).
Each node gets a *depth*, its distance from the outputs; running the nodes by decreasing depth computes
every tensor before it is used. The model's ``layers`` are listed by decreasing depth too, ties broken by
the order the search met them -- Keras's rule, so ``get_weights()`` lists the weights in Keras's order.

**Forward.** Inputs in, then each node in order: ``y = layer.forward(x)``, its outputs stored by tensor.

**Backward: the chain rule on a graph** (Goodfellow et al., *Deep Learning*, 6.5.6). Write ``g(t)`` for
``dL/dt``, the gradient of the loss with respect to tensor ``t``. If ``t`` feeds several nodes, ``L``
depends on ``t`` through each of them, and the multivariable chain rule *adds* their contributions::

    g(t) = sum over the nodes n that read t of  (d n / d t)^T g(output of n)

Running the nodes in *reverse* order guarantees that when a node is reached, every node that read its
outputs has already handed its share back, so ``g(output)`` is complete. Then the node's own ``backward``
turns it into gradients for its inputs (added into their slots) and for its weights. That is all of
backpropagation: the whole backward pass is :func:`backward` below, a loop and an addition.

A layer called twice (a *shared* layer) has one set of weights used at two places: its weight gradient is
the sum of the two calls' gradients, by the same rule. Since a layer keeps the cache of its last
``forward`` on itself, the forward pass records a copy of the layer's attributes after every call and the
backward pass puts it back before calling ``backward`` for that call.
"""

import collections

import numpy as np

from ..errors import InvalidArgumentError, InvalidInputError
from ..layers.input_layer import InputLayer, KerasTensor


def node_of(tensor):
    layer, node_index, _ = tensor._keras_history
    return layer._inbound_nodes[node_index]


def map_graph(inputs, outputs):
    """``(nodes, layers)``: the nodes in an order that computes every tensor before it is read (InputLayer
    nodes left out), and the layers in Keras's ``model.layers`` order (InputLayers included).

    Raises a clear error for a cycle, a tensor that cannot be computed from ``inputs`` ("graph
    disconnected"), or two layers with one name.
    """
    input_ids = {id(t) for t in inputs}
    finished, in_progress, ordered, first_seen = set(), set(), [], {}

    def visit(tensor):  # depth-first: a node is appended after the nodes that made its inputs
        node = node_of(tensor)
        if id(node) in finished:
            return
        if id(node) in in_progress:
            raise InvalidArgumentError(f"the graph has a cycle through layer {node.layer.name!r}")
        first_seen.setdefault(id(node.layer), len(first_seen))
        if id(tensor) in input_ids and not node.is_input:  # an intermediate tensor used as a model input
            finished.add(id(node))
            return
        in_progress.add(id(node))
        if not node.is_input:
            for t in node.input_tensors:
                visit(t)
        in_progress.discard(id(node))
        finished.add(id(node))
        ordered.append(node)

    for t in outputs:
        visit(t)

    # depth: 0 at the outputs, 1 + the largest depth of a node reading it; a layer takes its deepest node's
    depth, layer_depth = {}, {}
    in_graph = {id(n) for n in ordered}
    for node in reversed(ordered):
        d = max(depth.setdefault(id(node), 0), layer_depth.get(id(node.layer), 0))
        depth[id(node)] = layer_depth[id(node.layer)] = d
        for parent in node.parent_nodes:
            if id(parent) in in_graph:
                depth[id(parent)] = max(depth.get(id(parent), 0), d + 1)
    layers_by_id = {id(n.layer): n.layer for n in ordered}
    for t in inputs:  # inputs that no output depends on still belong to the model
        node = node_of(t)
        if id(node.layer) not in layer_depth and node.is_input:
            layer_depth[id(node.layer)], layers_by_id[id(node.layer)] = 0, node.layer
            first_seen.setdefault(id(node.layer), -1)
    layers = sorted(layers_by_id.values(), key=lambda l: (-layer_depth[id(l)], first_seen[id(l)]))
    nodes = sorted(ordered, key=lambda n: -depth[id(n)])  # stable: equal depths keep the search's order

    computable, seen_layers = set(input_ids), []
    for node in nodes:
        if node.is_input and id(node.output_tensors[0]) not in input_ids:
            raise InvalidArgumentError(
                f"graph disconnected: the model's outputs depend on the input {node.layer.name!r}, which is not "
                f"among the model's inputs; pass it in Model(inputs=[...], outputs=...)"
            )
        for t in node.input_tensors:
            if id(t) not in computable:
                raise InvalidArgumentError(
                    f"graph disconnected: cannot compute tensor {t.name!r} (the input of layer {node.layer.name!r}) "
                    f"from the model's inputs; layers reached without trouble: {seen_layers}"
                )
        seen_layers.append(node.layer.name)
        computable.update(id(t) for t in node.output_tensors)
    nodes = [n for n in nodes if not n.is_input]
    names = collections.Counter(layer.name for layer in layers)
    twice = [n for n, c in names.items() if c > 1]
    if twice:
        raise InvalidArgumentError(
            f"the layer name {twice[0]!r} is used {names[twice[0]]} times in the model; "
            f"every layer of a model needs its own name"
        )
    return nodes, layers


class Tape:
    """What one training forward pass leaves for the backward pass: each node's layer attributes (its cache)
    and the shape and dtype of every tensor."""

    def __init__(self):
        self.snapshots = {}
        self.shapes = {}


def forward(nodes, inputs, values, outputs, training, tape=None):
    """Run ``nodes`` on ``values`` (one array per tensor of ``inputs``); return the arrays of ``outputs``."""
    computed = {id(t): v for t, v in zip(inputs, values)}
    for node in nodes:
        xs = [computed[id(t)] for t in node.input_tensors]
        y = node.layer.forward(xs[0] if node.single_input else xs, training=training)
        ys = y if len(node.output_tensors) > 1 else [y]
        for t, v in zip(node.output_tensors, ys):
            computed[id(t)] = v
        if tape is not None:
            tape.snapshots[id(node)] = dict(node.layer.__dict__)
    if tape is not None:
        tape.shapes = {k: (v.shape, v.dtype) for k, v in computed.items()}
    return [computed[id(t)] for t in outputs]


def _add(slots, tensor, g):
    """``slots[tensor] += g`` without writing into ``g`` (a layer may hand the same array to two inputs)."""
    key = id(tensor)
    slots[key] = g if key not in slots else slots[key] + g


def backward(nodes, inputs, outputs, d_outputs, tape, need_input_gradients=True, logits=()):
    """The backward pass of a graph (module docstring). Returns ``dL/d input`` per model input (None where
    no gradient reaches it, or where ``need_input_gradients`` is False).

    ``d_outputs`` holds ``dL/d output`` per model output (None for an output without a loss). ``logits`` names
    the outputs whose gradient is ``dL/dz`` at a softmax's input (fused softmax + cross-entropy): their layer
    is entered through ``backward_logits`` instead of ``backward``.
    """
    from .model import leaf_grad_pairs

    slots = {}
    for t, d in zip(outputs, d_outputs):
        if d is not None:
            _add(slots, t, d)
    input_ids = {id(t) for t in inputs}
    calls = collections.Counter(id(n.layer) for n in nodes)
    summed = {}  # a shared layer's weight gradients, summed over its calls
    for node in reversed(nodes):
        dys = [slots.pop(id(t), None) for t in node.output_tensors]
        if all(d is None for d in dys):
            continue  # nothing below this node reaches a loss
        for i, t in enumerate(node.output_tensors):
            if dys[i] is None:
                shape, dtype = tape.shapes[id(t)]
                dys[i] = np.zeros(shape, dtype)
        layer = node.layer
        layer.__dict__.update(tape.snapshots[id(node)])  # this call's cache, in case the layer ran again since
        skip_dx = not need_input_gradients and all(id(t) in input_ids for t in node.input_tensors)
        layer.input_gradient = not skip_dx
        try:
            if len(node.output_tensors) == 1 and id(node.output_tensors[0]) in logits:
                dx = layer.backward_logits(dys[0])
            else:
                dx = layer.backward(dys[0] if len(dys) == 1 else dys)
        finally:
            layer.input_gradient = True
        if calls[id(layer)] > 1:
            for leaf, name in leaf_grad_pairs(layer):
                g = leaf.grads[name]
                key = (id(leaf), name)
                summed[key] = (leaf, name, g.copy() if key not in summed else summed[key][2] + g)
        dxs = [dx] if node.single_input else list(dx)
        for t, g in zip(node.input_tensors, dxs):
            if g is not None and not (skip_dx and id(t) in input_ids):
                _add(slots, t, g)
    for leaf, name, g in summed.values():
        leaf.grads[name] = g
    return [slots.get(id(t)) for t in inputs] if need_input_gradients else [None] * len(inputs)


def as_tensor_list(tensors, what):
    """A model's ``inputs``/``outputs`` argument (one tensor, a list or a dict) as ``(list, structure)``."""
    if isinstance(tensors, KerasTensor):
        return [tensors], "single"
    if isinstance(tensors, dict):
        items = list(tensors.values())
        structure = list(tensors.keys())
    elif isinstance(tensors, (list, tuple)):
        items, structure = list(tensors), "list"
    else:
        raise InvalidArgumentError(
            f"Model {what} must be symbolic tensors (from tinycnn.Input and layer calls), got {type(tensors).__name__}"
        )
    if not items:
        raise InvalidArgumentError(f"Model {what} is empty")
    for t in items:
        if not isinstance(t, KerasTensor):
            raise InvalidArgumentError(
                f"Model {what} must be symbolic tensors (from tinycnn.Input and layer calls), "
                f"got {type(t).__name__}; build the graph with x = tinycnn.Input(shape) and "
                f"y = layer(x)"
            )
    return items, structure


def check_inputs_are_inputs(inputs):
    for t in inputs:
        if not isinstance(node_of(t).layer, InputLayer):
            raise InvalidInputError(
                f"model inputs must come from tinycnn.Input(...); {t.name!r} was made by layer "
                f"{node_of(t).layer.name!r}"
            )
