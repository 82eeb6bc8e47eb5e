"""``Sequential``: a stack of layers with Keras's ``compile`` / ``fit`` / ``evaluate`` / ``predict``.

One training step on a batch ``(x, y)`` is the whole of backpropagation::

    a_0 = x;   a_l = layer_l.forward(a_{l-1}, training=True)        forward, each layer caches what it needs
    L   = loss(y, a_L)                                              the batch mean
    d_L = dL/da_L                     (or (p - y) / N at the logits, for softmax + cross-entropy)
    d_{l-1} = layer_l.backward(d_l)                                 fills layer_l.grads (d_0 is skipped)
    optimizer.apply_gradients(every (grad, param) pair)

>>> import numpy as np
>>> from tinycnn.layers import Dense
>>> from tinycnn.optimizers import SGD
>>> from tinycnn.utils import set_random_seed
>>> set_random_seed(0)
>>> model = Sequential([Dense(8, activation="relu", input_shape=(2,)), Dense(1)])
>>> model.compile(optimizer=SGD(0.1), loss="mse")
>>> x = np.random.rand(64, 2); y = x.sum(axis=1, keepdims=True)
>>> history = model.fit(x, y, epochs=20, verbose=0)
>>> history.history["loss"][-1] < history.history["loss"][0]
True
>>> model.predict(x[:3], verbose=0).shape
(3, 1)
"""
import contextlib
import io
import os
import signal
import threading
import warnings

import numpy as np

from . import losses as losses_mod
from . import metrics as metrics_mod
from . import optimizers as optimizers_mod
from . import validation
from .callbacks import Callback, History, ProgbarLogger
from .errors import InvalidArgumentError, InvalidInputError, InvalidTypeError, WeightsFileError
from .layers.base import Layer, unique_name
from .utils import atomic_open

WEIGHTS_FORMAT = "tinycnn-weights-v1"


@contextlib.contextmanager
def _defer_keyboard_interrupt():
    """Hold Ctrl-C until the block ends, so an optimizer step is applied to all weights or to none."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    received = []
    previous = signal.signal(signal.SIGINT, lambda *args: received.append(args))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
        if received:
            raise KeyboardInterrupt


def _unbuild(layer):
    """Return ``layer`` to its state before ``build`` (used when building a model fails part-way)."""
    layer.params, layer.grads, layer.state, layer.weight_names = {}, {}, {}, []
    layer.built, layer.input_shape, layer.output_shape = False, None, None


class _Undo:
    """Copies of arrays taken before a training step, so a refused step can be undone exactly.

    The copies go into buffers kept from step to step (no allocation per step).
    """

    def __init__(self):
        self._buffers = {}
        self._taken = []

    def take(self, arrays):
        for a in arrays:
            entry = self._buffers.get(id(a))
            if entry is None or entry[0] is not a:
                entry = (a, np.empty_like(a))
                self._buffers[id(a)] = entry
            np.copyto(entry[1], a)
            self._taken.append(entry)

    def restore(self):
        for a, copy in self._taken:
            np.copyto(a, copy)

    def clear(self):
        self._taken = []


class Sequential:
    """A linear stack of layers, as ``keras.models.Sequential``."""

    def __init__(self, layers=None, name=None):
        self.name = name or unique_name("sequential")
        self.layers = []
        self.built = False
        self.optimizer = self.loss = None
        self.compiled_metrics = []
        self.stop_training = False
        self.history = None
        self._undo = _Undo()
        for layer in layers or []:
            self.add(layer)

    # ------------------------------------------------------------------------------------------ building
    def add(self, layer):
        """Append a layer. A first layer with ``input_shape=`` builds the model at once, as in Keras."""
        if not isinstance(layer, Layer):
            raise InvalidTypeError(f"Sequential.add expects a tinycnn layer, got {type(layer).__name__}")
        if any(existing is layer for existing in self.layers):
            raise InvalidArgumentError(f"layer {layer.name!r} is already in the model")
        if self.layers and layer.batch_input_shape is not None and not self.built:
            raise InvalidArgumentError(f"only the first layer takes input_shape= (layer {layer.name!r})")
        was_built = layer.built
        self.layers.append(layer)
        try:
            if len(self.layers) == 1 and layer.batch_input_shape is not None:
                self.build(layer.batch_input_shape)
            elif self.built:
                layer.build(self.layers[-2].output_shape)
        except BaseException:
            self.layers.pop()  # a layer that cannot be built is not added: the model stays as it was
            if not was_built:
                _unbuild(layer)
            raise

    def build(self, input_shape):
        """Build every layer for ``input_shape`` (batch axis included, e.g. ``(None, 28, 28, 1)``)."""
        if not self.layers:
            raise InvalidArgumentError("cannot build an empty Sequential model: add layers first")
        shape = tuple(input_shape)
        built_now = []
        try:
            for layer in self.layers:
                if not layer.built:
                    built_now.append(layer)
                    layer.build(shape)
                elif tuple(layer.input_shape[1:]) != tuple(shape[1:]):
                    raise InvalidInputError(f"layer {layer.name!r} was built for inputs {layer.input_shape}, "
                                            f"but now receives {shape}")
                shape = layer.output_shape
        except BaseException:
            for layer in built_now:  # all or nothing: a failed build leaves no layer half-built
                _unbuild(layer)
            raise
        self.built = True

    @property
    def input_shape(self):
        return self.layers[0].input_shape if self.built else None

    @property
    def output_shape(self):
        return self.layers[-1].output_shape if self.built else None

    # ------------------------------------------------------------------------------------------ weights
    def _params(self):
        return [(layer, name) for layer in self.layers if layer.trainable for name in layer.params]

    def get_weights(self):
        return [w for layer in self.layers for w in layer.get_weights()]

    def set_weights(self, weights):
        """Set every weight from a flat list in Keras order. Everything is checked before anything changes."""
        self._require_built("set_weights")
        weights = list(weights)
        expected = sum(len(layer.weight_names) for layer in self.layers)
        if len(weights) != expected:
            raise InvalidInputError(f"the model has {expected} weight arrays, got {len(weights)}")
        chunks, i = [], 0
        for layer in self.layers:
            n = len(layer.weight_names)
            chunks.append(layer.check_weights(weights[i : i + n]))
            i += n
        for layer, chunk in zip(self.layers, chunks):
            layer.set_weights(chunk)

    def count_params(self):
        self._require_built("count_params")
        return sum(layer.count_params() for layer in self.layers)

    def save_weights(self, filepath):
        """Write every weight to an ``.npz`` archive, atomically (the old file survives any failure)."""
        self._require_built("save_weights")
        arrays = {"__format__": np.array(WEIGHTS_FORMAT),
                  "__layers__": np.array([f"{layer.name}:{type(layer).__name__}" for layer in self.layers])}
        for i, layer in enumerate(self.layers):
            for name, w in zip(layer.weight_names, layer.weights):
                arrays[f"{i:03d}/{name}"] = w
        with atomic_open(filepath, "wb") as f:
            np.savez(f, **arrays)

    def load_weights(self, filepath):
        """Read weights saved by :meth:`save_weights`. The file is validated completely (format, layer
        count, names, shapes, dtypes) before a single weight changes; it is never unpickled."""
        self._require_built("load_weights")
        filepath = os.fspath(filepath)
        keras_hint = ("; for Keras weights, build the same model in tinycnn and call "
                      "model.set_weights(keras_model.get_weights())")
        try:
            with open(filepath, "rb") as f:
                raw = f.read()
        except FileNotFoundError:
            raise WeightsFileError(f"no weights file at {filepath!r}") from None
        except OSError as e:
            raise WeightsFileError(f"cannot read the weights file {filepath!r}: {e}") from None
        if not raw.startswith(b"PK\x03\x04"):  # an .npz is a zip archive; say what the file is instead
            kind = ("is empty" if not raw else
                    "holds a single NumPy array (.npy), not an .npz archive" if raw.startswith(b"\x93NUMPY") else
                    "is an HDF5 file (a Keras .h5?), not an .npz archive" if raw.startswith(b"\x89HDF") else
                    "is not an .npz (zip) archive")
            raise WeightsFileError(f"{filepath!r} {kind}; load_weights reads the .npz files written by "
                                   f"model.save_weights{keras_hint if 'HDF5' in kind else ''}")
        try:
            with np.load(io.BytesIO(raw), allow_pickle=False) as archive:
                data = {k: archive[k] for k in archive.files}
        except ValueError as e:
            if "pickle" in str(e):
                raise WeightsFileError(f"{filepath!r} holds object (pickled) arrays; tinycnn never unpickles a "
                                       f"weights file, since unpickling can run arbitrary code") from None
            raise WeightsFileError(f"{filepath!r} is damaged or not a tinycnn weights file: {e}") from None
        except Exception as e:  # BadZipFile, zlib.error, EOFError ...: whatever a damaged archive raises
            raise WeightsFileError(f"{filepath!r} is damaged (truncated or corrupted .npz archive): "
                                   f"{type(e).__name__}: {e}") from None
        if str(data.get("__format__", "")) != WEIGHTS_FORMAT:
            looks_keras = any(k in data for k in ("config.json", "model.weights.h5", "metadata.json"))
            raise WeightsFileError(f"{filepath!r} was not written by tinycnn's save_weights (no "
                                   f"{WEIGHTS_FORMAT!r} marker; it holds {sorted(data)[:6]})"
                                   f"{' -- it looks like a Keras .keras file' if looks_keras else ''}{keras_hint}")
        saved_layers = [str(s) for s in np.asarray(data.get("__layers__", [])).reshape(-1)]
        mine = [type(layer).__name__ for layer in self.layers]
        theirs = [saved.rsplit(":", 1)[-1] for saved in saved_layers]
        if mine != theirs:
            i = next(i for i in range(max(len(mine), len(theirs))) if mine[i : i + 1] != theirs[i : i + 1])
            model_has = f"{self.layers[i].name!r} ({mine[i]})" if i < len(mine) else "no layer"
            file_has = f"a {theirs[i]}" if i < len(theirs) else "no layer"
            raise WeightsFileError(f"{filepath!r} does not fit this model: it holds weights for {len(theirs)} layers, "
                                   f"the model has {len(mine)}; the first layer that differs is layer {i}: the "
                                   f"model has {model_has}, the file has {file_has}")
        new = []
        for i, layer in enumerate(self.layers):
            for name, w in zip(layer.weight_names, layer.weights):
                key = f"{i:03d}/{name}"
                if key not in data:
                    raise WeightsFileError(f"{filepath!r}: layer {i} ({layer.name!r}) lacks weight {name!r}")
                value = data[key]
                if value.shape != w.shape:
                    raise WeightsFileError(f"{filepath!r}: layer {i} ({layer.name!r}) weight {name!r} has shape "
                                           f"{value.shape}, the model needs {w.shape}")
                if not np.issubdtype(value.dtype, np.floating):
                    raise WeightsFileError(f"{filepath!r}: layer {i} ({layer.name!r}) weight {name!r} has dtype "
                                           f"{value.dtype}, expected a float array")
                if not np.all(np.isfinite(value)):
                    raise WeightsFileError(f"{filepath!r}: layer {i} ({layer.name!r}) weight {name!r} holds "
                                           f"NaN or infinite values")
            extra = [k for k in data if k.startswith(f"{i:03d}/") and k[4:] not in layer.weight_names]
            if extra:
                raise WeightsFileError(f"{filepath!r}: layer {i} ({layer.name!r}) has unexpected weights {extra}")
            new.append([data[f"{i:03d}/{name}"] for name in layer.weight_names])
        for layer, ws in zip(self.layers, new):
            layer.set_weights(ws)

    # ------------------------------------------------------------------------------------------ compile
    def compile(self, optimizer="sgd", loss=None, metrics=None):
        """Choose the optimizer (object or ``"sgd"``), the loss (name, function or Loss) and metrics."""
        if loss is None:
            raise InvalidArgumentError("compile needs a loss, e.g. loss='categorical_crossentropy' or 'mse'")
        self.optimizer = optimizers_mod.get(optimizer)
        self.loss = losses_mod.get(loss)
        if metrics is None:
            metrics = []
        elif isinstance(metrics, str) or callable(metrics):
            metrics = [metrics]
        elif not isinstance(metrics, (list, tuple)):
            raise InvalidArgumentError(f"compile: metrics must be a list such as ['accuracy'], got {metrics!r}")
        self.compiled_metrics = [metrics_mod.get(m, self.loss) for m in metrics]

    def _require_built(self, what):
        if not self.built:
            raise InvalidArgumentError(f"{what}: the model is not built yet; give the first layer input_shape= "
                                       f"or call model.build((None, ...)) or fit/predict once")

    def _require_compiled(self, what):
        if self.loss is None:
            raise InvalidArgumentError(f"{what}: call model.compile(optimizer, loss, metrics) first")

    # ------------------------------------------------------------------------------------------ compute
    def _forward(self, x, training):
        for layer in self.layers:
            x = layer.forward(x, training=training)
        return x

    def _loss_and_output_gradient(self, y, out):
        """``(per-sample losses, dL/d output of the last layer, fused?)``."""
        last = self.layers[-1]
        if self.loss.fuses_softmax and getattr(last, "ends_with_softmax", False):
            per_sample, dz = self.loss.from_logits(y, last._z)  # the softmax's input: the logits
            return per_sample, dz, True
        return self.loss.per_sample(y, out), self.loss.gradient(y, out), False

    def train_on_batch(self, x, y):
        """One step of SGD on one batch; returns the batch loss. Refuses the step if anything is non-finite."""
        self._require_compiled("train_on_batch")
        x, y = validation.check_xy(self, x, y, "train_on_batch")
        if not self.built:
            self.build((None,) + x.shape[1:])
        return self._train_step(x, y)[0]

    def _train_step(self, x, y):
        """One step, all or nothing: a non-finite loss, gradient or updated weight, or an exception (Ctrl-C
        included) before the update completes, leaves weights, moving statistics and optimizer as they were."""
        undo = self._undo
        undo.take(w for layer in self.layers for w in layer.state.values())  # BatchNorm's moving statistics
        iterations, done = self.optimizer.iterations, False
        try:
            out = self._forward(x, training=True)
            per_sample, d, fused = self._loss_and_output_gradient(y, out)
            loss = float(np.mean(per_sample))
            if np.isfinite(loss):
                if fused:
                    d = self.layers[-1].backward_logits(d)
                    layers = self.layers[-2::-1]
                else:
                    layers = self.layers[::-1]
                first = self.layers[0]
                first.input_gradient = False  # its dx would go nowhere: let it skip computing it (layers.base)
                try:
                    for layer in layers:
                        d = layer.backward(d)
                finally:
                    first.input_gradient = True
                pairs = [(layer.grads[name], layer.params[name]) for layer, name in self._params()]
                if all(np.isfinite(g.sum()) for g, _ in pairs):
                    weights = [w for _, w in pairs]
                    undo.take(weights + self.optimizer.state_arrays(weights))
                    with _defer_keyboard_interrupt():
                        self.optimizer.apply_gradients(pairs)
                        done = all(np.isfinite(w.sum()) for w in weights)  # a huge learning rate can overflow
                    if done:
                        return loss, out
                loss = float("nan")
        finally:
            if not done:  # undo what the refused or interrupted step changed (moving statistics included)
                undo.restore()
                self.optimizer.iterations = iterations
            undo.clear()
        return loss, out

    def predict(self, x, batch_size=32, verbose=0):
        """Outputs for ``x`` in inference mode, computed ``batch_size`` samples at a time."""
        x = validation.check_x(self, x, "predict")
        batch_size = validation.check_batch_size(batch_size)
        if not self.built:
            self.build((None,) + x.shape[1:])
        outs = [self._forward(x[i : i + batch_size], training=False) for i in range(0, len(x), batch_size)]
        return np.concatenate(outs, axis=0)

    def __call__(self, x, training=False):
        return self._forward(validation.check_x(self, x, "__call__"), training)

    def _metric_sums(self, y, out):
        return [float(np.sum(fn(y, out))) for _, fn in self.compiled_metrics]

    def evaluate(self, x, y, batch_size=32, verbose=1, return_dict=False):
        """Loss (and metrics) in inference mode: a float, or ``[loss, metric, ...]`` if there are metrics."""
        self._require_compiled("evaluate")
        x, y = validation.check_xy(self, x, y, "evaluate")
        batch_size = validation.check_batch_size(batch_size)
        if not self.built:
            self.build((None,) + x.shape[1:])
        logs = self._evaluate_logs(x, y, batch_size)
        if verbose:
            print(" - ".join(f"{k}: {v:.4f}" for k, v in logs.items()))
        if return_dict:
            return logs
        values = list(logs.values())
        return values[0] if len(values) == 1 else values

    def _evaluate_logs(self, x, y, batch_size):
        total_loss, sums = 0.0, np.zeros(len(self.compiled_metrics))
        for i in range(0, len(x), batch_size):
            xb, yb = x[i : i + batch_size], y[i : i + batch_size]
            out = self._forward(xb, training=False)
            per_sample = self._loss_and_output_gradient(yb, out)[0]
            total_loss += float(np.sum(per_sample))
            sums += self._metric_sums(yb, out)
        logs = {"loss": total_loss / len(x)}
        for (name, _), s in zip(self.compiled_metrics, sums):
            logs[name] = float(s / len(x))
        return logs

    def fit(self, x=None, y=None, batch_size=32, epochs=1, verbose=1, callbacks=None, validation_split=0.0,
            validation_data=None, shuffle=True, initial_epoch=0):
        """Train for ``epochs`` passes over ``(x, y)``; returns a :class:`~tinycnn.callbacks.History`.

        Each epoch: batches in a shuffled order (``np.random``, seeded by ``set_random_seed``), one
        ``forward``/``backward``/optimizer step each; the logged ``loss`` and metrics are averages over the
        epoch's batches (weighted by batch size), as Keras logs them; then validation in inference mode.

        Safety: a NaN or infinite loss (or gradient) stops training with a message naming the epoch and
        batch, and the weights stay those from before that step. Ctrl-C stops training cleanly between
        steps: the model is left consistent, and the history so far is returned.
        """
        self._require_compiled("fit")
        x, y = validation.check_xy(self, x, y, "fit")
        batch_size = validation.check_batch_size(batch_size)
        if isinstance(epochs, bool) or not isinstance(epochs, (int, np.integer)) or epochs < 0:
            raise InvalidArgumentError(f"fit: epochs must be a non-negative int, got {epochs!r}")
        if not isinstance(validation_split, (int, float)) or not 0 <= validation_split < 1:
            raise InvalidArgumentError(f"fit: validation_split must be in [0, 1), got {validation_split!r}")
        if validation_data is not None and validation_split:
            raise InvalidArgumentError("fit: give validation_data or validation_split, not both")
        if validation_split:
            n_val = int(len(x) * validation_split)
            if n_val == 0 or n_val == len(x):
                raise InvalidInputError(f"fit: validation_split={validation_split} of {len(x)} samples leaves "
                                        f"{n_val} for validation and {len(x) - n_val} for training")
            x, y, x_val, y_val = x[:-n_val], y[:-n_val], x[-n_val:], y[-n_val:]
        elif validation_data is not None:
            if not isinstance(validation_data, (tuple, list)) or len(validation_data) != 2:
                raise InvalidInputError("fit: validation_data must be a tuple (x_val, y_val)")
            x_val, y_val = validation.check_xy(self, *validation_data, "fit (validation_data)")
        else:
            x_val = y_val = None
        if not self.built:
            self.build((None,) + x.shape[1:])
        if x_val is not None:
            validation.check_x(self, x_val, "fit (validation data)")

        history = History()
        callbacks = list(callbacks or [])
        for cb in callbacks:
            if not isinstance(cb, Callback):
                raise InvalidTypeError(f"fit: callbacks must be tinycnn Callback objects, got {type(cb).__name__}")
        all_cbs = [history] + callbacks + ([ProgbarLogger(verbose)] if verbose else [])
        steps = -(-len(x) // batch_size)
        for cb in all_cbs:
            cb.set_model(self)
            cb.set_params({"epochs": epochs, "steps": steps, "verbose": verbose, "batch_size": batch_size})
        self.stop_training = False
        self.history = history
        for cb in all_cbs:
            cb.on_train_begin()
        epoch = batch = 0
        try:
            for epoch in range(initial_epoch, epochs):
                for cb in all_cbs:
                    cb.on_epoch_begin(epoch)
                order = np.random.permutation(len(x)) if shuffle else np.arange(len(x))
                seen, loss_sum, metric_sums = 0, 0.0, np.zeros(len(self.compiled_metrics))
                for batch in range(steps):
                    for cb in all_cbs:
                        cb.on_train_batch_begin(batch)
                    idx = order[batch * batch_size : (batch + 1) * batch_size]
                    if shuffle:
                        xb, yb = x[idx], y[idx]
                    else:
                        xb, yb = x[idx[0] : idx[-1] + 1], y[idx[0] : idx[-1] + 1]
                    loss, out = self._train_step(xb, yb)
                    if not np.isfinite(loss):
                        message = (f"Epoch {epoch + 1}, batch {batch + 1}: the loss, its gradient or the weight "
                                   f"update is NaN or infinite; training stopped and the weights from before this "
                                   f"batch are kept. Try a smaller learning rate, or check the data for NaN/huge "
                                   f"values.")
                        warnings.warn(message, RuntimeWarning, stacklevel=2)
                        self.stop_training = True
                        break
                    seen += len(xb)
                    loss_sum += loss * len(xb)
                    metric_sums += self._metric_sums(yb, out)
                    logs = {"loss": loss_sum / seen}
                    for (name, _), s in zip(self.compiled_metrics, metric_sums):
                        logs[name] = float(s / seen)
                    for cb in all_cbs:
                        cb.on_train_batch_end(batch, logs)
                if self.stop_training and seen < len(x):
                    break
                if x_val is not None:
                    val_logs = self._evaluate_logs(x_val, y_val, batch_size)
                    logs.update({f"val_{k}": v for k, v in val_logs.items()})
                for cb in all_cbs:
                    cb.on_epoch_end(epoch, logs)
                if self.stop_training:
                    break
        except KeyboardInterrupt:
            warnings.warn(f"Training interrupted (Ctrl-C) in epoch {epoch + 1}, batch {batch + 1}: the weights are "
                          f"those after the last complete step; the history holds the finished epochs.",
                          RuntimeWarning, stacklevel=2)
        for cb in all_cbs:
            cb.on_train_end()
        return history

    # ------------------------------------------------------------------------------------------ display
    def summary(self, print_fn=print):
        """Print a Keras-style table: layer (type), output shape, number of parameters; then the totals."""
        self._require_built("summary")
        rows = [(f"{layer.name} ({type(layer).__name__})", str(layer.output_shape), f"{layer.count_params():,}")
                for layer in self.layers]
        w0 = max(29, *(len(r[0]) + 2 for r in rows))
        w1 = max(26, *(len(r[1]) + 2 for r in rows))
        width = w0 + w1 + 12
        total = self.count_params()
        trainable = sum(layer.count_trainable_params() for layer in self.layers)
        lines = [f'Model: "{self.name}"', "_" * width,
                 f"{'Layer (type)':<{w0}}{'Output Shape':<{w1}}{'Param #':>10}", "=" * width]
        for i, (a, b, c) in enumerate(rows):
            lines.append(f"{a:<{w0}}{b:<{w1}}{c:>10}")
            lines.append("_" * width if i < len(rows) - 1 else "=" * width)
        lines += [f"Total params: {total:,}", f"Trainable params: {trainable:,}",
                  f"Non-trainable params: {total - trainable:,}", "_" * width]
        print_fn("\n".join(lines))

    def get_config(self):
        return {"name": self.name, "layers": [{"class_name": type(layer).__name__, "config": layer.get_config()}
                                              for layer in self.layers]}
