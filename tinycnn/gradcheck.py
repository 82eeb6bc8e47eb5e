"""Finite-difference gradient checks (CS231n and Chainer style), shipped in the package.

For a layer ``y = f(x; params)`` and a *random* upstream gradient ``dy`` (never a plain sum of the outputs,
which hides whole classes of bugs), the scalar ``L = sum(f(x) * dy)`` has ``dL/dx = backward(dy)``. The
check compares that with central differences, one coordinate at a time::

    dL/dx_i ~ sum( (f(x + h e_i) - f(x - h e_i)) * dy ) / (2 h)

and reports the worst relative error ``|a - n| / max(|a|, |n|, tiny)`` with its index and both values.
Run it in float64: in float32 the rounding error of the difference quotient swamps the comparison.

>>> import numpy as np
>>> from tinycnn.layers import Dense
>>> layer = Dense(3, activation="tanh", dtype="float64"); layer.build((None, 4))
>>> report = check_layer(layer, np.random.default_rng(0).normal(size=(2, 4)))
>>> report.max_error < 1e-7
True
"""

import dataclasses

import numpy as np


@dataclasses.dataclass
class GradError:
    """The worst coordinate of one checked array."""

    name: str
    max_error: float
    index: tuple
    analytic: float
    numeric: float

    def __str__(self):
        return (
            f"{self.name}: max relative error {self.max_error:.3e} at {self.index} "
            f"(analytic {self.analytic:.10g}, numeric {self.numeric:.10g})"
        )


@dataclasses.dataclass
class GradReport:
    errors: list

    @property
    def max_error(self):
        return max((e.max_error for e in self.errors), default=0.0)

    @property
    def worst(self):
        return max(self.errors, key=lambda e: e.max_error)

    def __str__(self):
        return "\n".join(str(e) for e in self.errors)


def relative_error(analytic, numeric, floor=1e-10):
    """Element-wise ``|a - n| / max(|a|, |n|, floor)``; ``floor`` keeps near-zero pairs from exploding."""
    return np.abs(analytic - numeric) / np.maximum(np.maximum(np.abs(analytic), np.abs(numeric)), floor)


def numeric_gradient(f, array, dy=None, h=1e-5):
    """Central differences of ``f()`` with respect to ``array`` (perturbed in place, then restored).

    With ``dy=None``, ``f`` returns a scalar. Otherwise ``f`` returns an array and the scalar is
    ``sum(f() * dy)``; the difference ``f(x + h) - f(x - h)`` is then taken *element-wise before* the sum, so
    outputs the perturbation does not touch cancel exactly instead of adding rounding noise.
    """
    grad = np.zeros(array.shape, dtype=np.float64)
    it = np.nditer(array, flags=["multi_index"], op_flags=["readwrite"])
    for _ in it:
        i = it.multi_index
        old = array[i]
        array[i] = old + h
        plus = f()
        array[i] = old - h
        minus = f()
        array[i] = old
        diff = plus - minus if dy is None else np.sum((plus - minus) * dy)
        grad[i] = diff / (2 * h)
    return grad


def _compare(name, analytic, numeric):
    err = relative_error(np.asarray(analytic, dtype=np.float64), numeric)
    idx = np.unravel_index(int(np.argmax(err)), err.shape) if err.size else ()
    return GradError(
        name,
        float(err.max()) if err.size else 0.0,
        tuple(int(i) for i in idx),
        float(np.asarray(analytic)[idx]) if err.size else 0.0,
        float(numeric[idx]) if err.size else 0.0,
    )


def check_layer(layer, x, training=True, dy=None, h=1e-5, seed=0):
    """Check ``dx`` and every parameter gradient of a built float64 layer at input ``x``.

    Returns a :class:`GradReport`; ``report.max_error`` is the worst relative error of all arrays.
    Stateful layers (BatchNorm's moving statistics) are restored after every forward pass.
    """
    x = np.array(x, dtype=layer.dtype)
    state = {k: v.copy() for k, v in layer.state.items()}

    def restore():
        for k, v in state.items():
            layer.state[k][...] = v

    y = layer.forward(x, training=training)
    restore()
    if dy is None:
        dy = np.random.default_rng(seed).normal(size=y.shape)
    dy = np.asarray(dy, dtype=layer.dtype)
    y = layer.forward(x, training=training)
    restore()
    dx = layer.backward(dy)
    grads = {k: np.array(v, copy=True) for k, v in layer.grads.items()}

    def output():
        out = np.array(layer.forward(x, training=training), dtype=np.float64)
        restore()
        return out

    errors = [_compare("dx", dx, numeric_gradient(output, x, dy, h))]
    for name, param in layer.params.items():
        errors.append(_compare(name, grads[name], numeric_gradient(output, param, dy, h)))
    return GradReport(errors)


def check_graph(layer, xs, training=True, dy=None, h=1e-5, seed=0):
    """Check a layer that takes a list of inputs (a merge layer) or a whole model (a graph, nested models and
    shared layers included): ``dL/d input`` for every input and the gradient of every weight inside.

    ``xs`` is one array or a list of arrays (one per input); a model with several outputs gets one random
    upstream gradient per output. Everything must be float64.
    """
    from .models.model import leaf_layers

    several = isinstance(xs, (list, tuple))
    xs = [np.array(x, dtype=np.float64) for x in (xs if several else [xs])]
    leaves = leaf_layers(layer)
    states = [(w, w.copy()) for leaf in leaves for w in leaf.state.values()]

    def restore():
        for w, v in states:
            w[...] = v

    def run():
        out = layer.forward(xs if several else xs[0], training=training)
        restore()
        return out if isinstance(out, list) else [out]

    outs = run()
    rng = np.random.default_rng(seed)
    dys = (
        [rng.normal(size=o.shape) for o in outs]
        if dy is None
        else [np.asarray(d, dtype=np.float64) for d in (dy if isinstance(dy, list) else [dy])]
    )
    run()
    for leaf in leaves:
        leaf.grads.clear()
    dx = layer.backward(dys if len(dys) > 1 else dys[0])
    dxs = list(dx) if several else [dx]
    grads = {
        (id(leaf), name): np.array(leaf.grads[name], copy=True)
        for leaf in leaves
        for name in leaf.params
        if name in leaf.grads
    }

    def flat_outputs():  # every output in one vector, so the differences are taken element-wise
        return np.concatenate([np.asarray(o, dtype=np.float64).ravel() for o in run()])

    flat_dy = np.concatenate([d.ravel() for d in dys])
    errors = [_compare(f"dx[{i}]", dxs[i], numeric_gradient(flat_outputs, xs[i], flat_dy, h)) for i in range(len(xs))]
    for leaf in leaves:
        for name, param in leaf.params.items():
            errors.append(
                _compare(
                    f"{leaf.name}.{name}", grads[(id(leaf), name)], numeric_gradient(flat_outputs, param, flat_dy, h)
                )
            )
    return GradReport(errors)


def check_loss(loss, y_true, y_pred, h=1e-5):
    """Check ``loss.gradient`` against central differences of ``loss(y_true, y_pred)`` (the batch mean)."""
    y_pred = np.array(y_pred, dtype=np.float64)
    analytic = loss.gradient(y_true, y_pred)
    weights = np.full(len(y_pred), 1.0 / len(y_pred))  # the batch mean, as a weighted sum of per-sample losses
    numeric = numeric_gradient(lambda: loss.per_sample(y_true, y_pred), y_pred, weights, h)
    return GradReport([_compare(loss.name, analytic, numeric)])


def check_fused_softmax_loss(loss, y_true, logits, h=1e-5):
    """Check the fused ``dL/dz = (p - y) / N`` against central differences of the mean loss of logits."""
    z = np.array(logits, dtype=np.float64)
    _, analytic = loss.per_sample_and_gradient_from_logits(y_true, z)
    weights = np.full(len(z), 1.0 / len(z))
    numeric = numeric_gradient(lambda: loss.per_sample_and_gradient_from_logits(y_true, z)[0], z, weights, h)
    return GradReport([_compare(loss.name + " (from logits)", analytic, numeric)])
