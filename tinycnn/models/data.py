"""How ``fit``/``evaluate``/``predict`` read their data.

Arrays: one per model input (and per output), as lists in ``model.inputs``/``model.outputs`` order or dicts
keyed by name, each checked by :mod:`tinycnn.validation` (a model with one input and output sees its own
messages, as if the model were the only thing there: :class:`_InputView`, :class:`_OutputView`). A rank-1 ``x``
for a model of one feature is ``n`` samples of that feature, as Keras reads it.

Batches: a ``PyDataset`` / ``Sequence`` (``len`` and ``[i]``, then ``on_epoch_end``), a generator or an iterator
(``next``, ``steps_per_epoch`` times): :class:`_BatchSource`.
"""

import warnings

import numpy as np

from .. import validation
from ..errors import InvalidArgumentError, InvalidInputError


class _OutputView:
    """One output of a model, seen by :mod:`tinycnn.validation` as if it were the model's only output."""

    def __init__(self, model, k):
        self.layers, self.built = model.layers, True
        self.loss = model._losses[k]
        self.output_shape = model.outputs[k].shape
        self.compute_dtype = model.compute_dtype


class _InputView:
    """One input of a model, seen by :mod:`tinycnn.validation` as if it were the model's only input."""

    def __init__(self, model, k):
        consumers = [n.layer for n in model._nodes if any(t is model.inputs[k] for t in n.input_tensors)]
        self.layers = consumers[:1] or model.layers
        self.built = True
        self.input_shape = model.inputs[k].shape
        self.compute_dtype = model.compute_dtype


def _per_output(value, names, what, default=None):
    """A ``loss``/``metrics``/``loss_weights`` argument as one entry per output."""
    if isinstance(value, dict):
        unknown = [k for k in value if k not in names]
        if unknown:
            raise InvalidArgumentError(f"compile: {what} names unknown outputs {unknown}; the outputs are {names}")
        return [value.get(n, default) for n in names]
    if isinstance(value, (list, tuple)) and len(names) > 1:
        if len(value) != len(names):
            raise InvalidArgumentError(
                f"compile: {what} has {len(value)} entries for a model with {len(names)} "
                f"outputs {names}; give one per output (or a dict keyed by output name)"
            )
        return list(value)
    return [value] * len(names)


def _is_batch_source(data):
    """True for data served in batches: a ``PyDataset``/``Sequence`` (``len`` + ``[i]``), a generator or an
    iterator -- anything but arrays, lists, tuples and dicts of arrays."""
    if data is None or isinstance(data, (np.ndarray, list, tuple, dict, str, bytes)) or hasattr(data, "__array__"):
        return False
    from ..utils import PyDataset

    return (
        isinstance(data, PyDataset)
        or hasattr(data, "__next__")
        or (hasattr(data, "__getitem__") and hasattr(data, "__len__"))
    )


class _BatchSource:
    """Batches from a ``PyDataset`` (asked for ``[0] .. [steps - 1]``, then ``on_epoch_end``) or from a generator
    or iterator (``next`` called ``steps`` times), as Keras's ``fit`` reads them."""

    def __init__(self, data, steps, where, steps_name="steps_per_epoch"):
        if steps is not None and (isinstance(steps, bool) or not isinstance(steps, (int, np.integer)) or steps < 1):
            raise InvalidArgumentError(f"{where}: {steps_name} must be a positive int, got {steps!r}")
        self.data, self.where = data, where
        self.indexed = (
            hasattr(data, "__getitem__")
            and hasattr(data, "__len__")
            and not hasattr(data, "__next__")
            or (hasattr(data, "__getitem__") and hasattr(data, "__len__") and hasattr(data, "on_epoch_end"))
        )
        if self.indexed:
            n = len(data)
            if n == 0:
                raise InvalidInputError(f"{where}: the data set has no batches (len() is 0)")
            self.steps = min(int(steps), n) if steps is not None else n
        else:
            if steps is None:
                raise InvalidArgumentError(
                    f"{where}: a generator or iterator has no length; give {steps_name}= "
                    f"(the number of batches to draw per epoch)"
                )
            self.steps = int(steps)

    def epoch(self):
        for cb in ("on_epoch_begin",):
            if self.indexed and hasattr(self.data, cb):
                getattr(self.data, cb)()
        for i in range(self.steps):
            if self.indexed:
                item = self.data[i]
            else:
                try:
                    item = next(self.data)
                except StopIteration:
                    warnings.warn(
                        f"{self.where}: the generator ran out of data after {i} batches; stopping the "
                        f"epoch (give steps_per_epoch= at most the number of batches it yields)",
                        RuntimeWarning,
                        stacklevel=3,
                    )
                    return
            yield _unpack(item, self.where)
        if self.indexed and hasattr(self.data, "on_epoch_end"):
            self.data.on_epoch_end()


def _unpack(item, where):
    """A batch as ``(x, y)``: from ``x``, ``(x,)``, ``(x, y)`` or ``(x, y, sample_weight)``."""
    if isinstance(item, tuple):
        if len(item) == 1:
            return item[0], None
        if len(item) == 2:
            return item
        if len(item) == 3:
            if item[2] is not None and not np.all(np.asarray(item[2]) == 1):
                raise InvalidArgumentError(f"{where}: batches with sample weights are not supported by tinycnn")
            return item[0], item[1]
        raise InvalidInputError(
            f"{where}: a batch must be x, (x, y) or (x, y, sample_weight), got a tuple of {len(item)}"
        )
    return item, None


class DataMixin:
    """How ``fit``/``evaluate``/``predict`` read their data: arrays (one per input / output, as lists or dicts
    keyed by name) checked by :mod:`tinycnn.validation`, or batches from a data set or generator."""

    def _standardize_x(self, x, where):
        """``x`` as one checked array per model input."""
        if not self.inputs or len(self.inputs) == 1:
            if isinstance(x, dict) and len(x) == 1:
                x = next(iter(x.values()))
            if self._takes_one_feature() and isinstance(x, (np.ndarray, list)) and np.ndim(x) == 1:
                x = np.asarray(x).reshape(-1, 1)  # Keras: (n,) is n samples of one feature
            elif (
                isinstance(x, (list, tuple))
                and len(x) == 1
                and not np.isscalar(x[0])
                and np.ndim(x[0]) >= 1
                and not isinstance(x[0], (int, float))
                and np.asarray(x[0]).ndim >= 2
            ):
                x = x[0]
            return [validation.check_x(self, x, where)]
        if isinstance(x, dict):
            missing = [n for n in self.input_names if n not in x]
            if missing:
                raise InvalidInputError(
                    f"{where}: x lacks the inputs {missing}; the model's inputs are {self.input_names}"
                )
            xs = [x[n] for n in self.input_names]
        elif isinstance(x, (list, tuple)) and len(x) == len(self.inputs):
            xs = list(x)
        else:
            raise InvalidInputError(
                f"{where}: the model has {len(self.inputs)} inputs {self.input_names}; give x as "
                f"a list of {len(self.inputs)} arrays or a dict keyed by input name"
            )
        xs = [
            validation.check_x(_InputView(self, k), a, f"{where} (input {self.input_names[k]!r})")
            for k, a in enumerate(xs)
        ]
        if len({len(a) for a in xs}) != 1:
            raise InvalidInputError(f"{where}: the inputs have different numbers of samples {[len(a) for a in xs]}")
        return xs

    def _takes_one_feature(self):
        """True when the model's input is one number per sample (or, unbuilt, starts with a Dense-like layer)."""
        if self.built:
            return len(self.inputs) == 1 and tuple(self.inputs[0].shape[1:]) == (1,)
        first = self.layers[0] if self.layers else None
        return first is not None and type(first).__name__ in ("Dense", "Normalization")

    def _standardize_y(self, y, n, where):
        """``y`` as one checked array per output (None for an output without a loss)."""
        if len(self.outputs) == 1:
            if isinstance(y, dict) and len(y) == 1:
                y = next(iter(y.values()))
            elif (
                isinstance(y, (list, tuple))
                and len(y) == 1
                and np.asarray(y[0]).ndim >= 1
                and len(y[0]) == n
                and n != 1
            ):
                y = y[0]
            return [validation.check_targets(self, y, n, where)]
        names = self.output_names
        if isinstance(y, dict):
            ys = [y.get(name) for name in names]
        elif isinstance(y, (list, tuple)) and len(y) == len(names):
            ys = list(y)
        else:
            raise InvalidInputError(
                f"{where}: the model has {len(names)} outputs {names}; give y as a list of "
                f"{len(names)} arrays or a dict keyed by output name"
            )
        out = []
        for k, yk in enumerate(ys):
            if self._losses[k] is None:
                out.append(None)
                continue
            if yk is None:
                raise InvalidInputError(f"{where}: no targets for output {names[k]!r}, which has a loss")
            out.append(validation.check_targets(_OutputView(self, k), yk, n, f"{where} (output {names[k]!r})"))
        return out

    def _prepare(self, x, y, where):
        xs = self._standardize_x(x, where)
        if not self.built:
            self.build((None,) + xs[0].shape[1:])
            xs = self._standardize_x(x, where)
        self._require_compiled(where)
        return xs, self._standardize_y(y, len(xs[0]), where)

    def _prepare_x(self, x, where):
        xs = self._standardize_x(x, where)
        if not self.built:
            self.build((None,) + xs[0].shape[1:])
            xs = self._standardize_x(x, where)
        return xs

    def _source_batches(self, source, where):
        for xb, yb in source.epoch():
            if yb is None:
                raise InvalidInputError(f"{where}: the batches hold no targets; each batch must be (x, y)")
            yield self._prepare(xb, yb, where)

    def _array_batches(self, xs, ys, batch_size, shuffle):
        """One epoch of ``(x batch, y batch)`` lists, in a shuffled order (``np.random``) or in order."""
        n = len(xs[0])
        order = np.random.permutation(n) if shuffle else None
        for start in range(0, n, batch_size):
            if shuffle:
                idx = order[start : start + batch_size]
                yield [a[idx] for a in xs], [None if a is None else a[idx] for a in ys]
            else:
                sl = slice(start, start + batch_size)
                yield [a[sl] for a in xs], [None if a is None else a[sl] for a in ys]
