"""The training loop every model shares: ``compile``, ``fit``, ``evaluate``, ``predict``, ``train_on_batch``.

One training step on a batch is the whole of backpropagation::

    outputs = model.forward(inputs, training=True)                 each layer caches what it needs
    L       = sum_k loss_weight_k * mean over the batch of loss_k(y_k, output_k)   (+ weight penalties)
    dL/d output_k = loss_weight_k * loss_k.gradient(y_k, output_k)
                    (or (p - y) / N at the logits, for softmax + cross-entropy: the softmax's Jacobian skipped)
    backward through the graph (tinycnn.models.graph), filling every layer's grads
    optimizer.apply_gradients(every (grad, weight) pair)     its kernels also keep the old values (the undo)

A step is all or nothing: a non-finite loss, gradient, updated weight or moving statistic (BatchNorm's
moving variance overflowing float32), or Ctrl-C in the middle, leaves the weights, BatchNorm's moving
statistics and the optimizer exactly as they were.

**Threads.** A layer keeps the cache of its last ``forward`` on itself (``_x``, ``_z`` ...) and a model its
``Tape``, so two forward passes at once on the same layers would overwrite each other's caches: ``predict`` in
one thread would hand a training step in another the wrong activations for its backward pass. Every use of a
model's layers -- a whole training step (forward, loss, backward, update), one batch of ``predict`` or
``evaluate``, ``model(x)`` -- therefore holds :data:`ENGINE_LOCK`, one re-entrant lock for the process (a layer
may belong to several models, so a lock per model would not be enough). Threads take turns batch by batch;
each gets the result it would get alone. Taking an uncontended lock costs well under a microsecond per step.

**Ctrl-C.** While ``fit``, ``evaluate``, ``predict`` or ``train_on_batch`` runs in the main thread, SIGINT only
sets a flag (:class:`_Interrupts`); the loop looks at it between steps. So Ctrl-C never lands inside a step,
a file write or Numba compiling a kernel on the first call: the step finishes, then ``fit`` stops with a
warning and returns the history so far; ``evaluate``/``predict``/``train_on_batch`` raise
``KeyboardInterrupt`` after the batch. The handler in place before is put back afterwards.

Several inputs and outputs are given as lists (in ``model.inputs`` / ``model.outputs`` order) or as dicts
keyed by input / output name; ``loss``, ``metrics`` and ``loss_weights`` per output as a list or a dict. The
logged names are Keras's: ``loss`` (the weighted total), then ``<output>_loss`` and ``<output>_<metric>``
for each output of a model with several.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import ArrayLike

from .. import losses as losses_mod
from .. import metrics as metrics_mod
from .. import optimizers as optimizers_mod
from .. import regularizers, validation
from ..callbacks import Callback, History, ProgbarLogger
from ..errors import InvalidArgumentError, InvalidInputError, InvalidTypeError
from .data import DataMixin, _BatchSource, _is_batch_source, _OutputView, _per_output  # noqa: F401
from .inference import InferenceMixin
from .keras2 import Keras2Mixin
from .safety import _INTERRUPTS, ENGINE_LOCK, _defer_keyboard_interrupt, _Undo  # noqa: F401

if TYPE_CHECKING:
    from ..losses import LossLike
    from ..metrics import MetricLike
    from ..optimizers import Optimizer
    from ..utils import PyDataset


class Trainer(DataMixin, InferenceMixin, Keras2Mixin):
    """``compile``/``fit``/``evaluate``/``predict`` for any model with ``inputs``, ``outputs``, ``forward``,
    ``backward`` and weights (see :class:`tinycnn.models.Model`)."""

    def __init__(self) -> None:
        self.optimizer = self.loss = None
        self._losses, self._loss_weights, self._metrics = [], [], []
        self.compiled_metrics = []
        self.stop_training = False
        self.history = None
        self._undo = _Undo()

    # ------------------------------------------------------------------------------------------ compile
    def compile(
        self,
        optimizer: Optimizer | str | dict[str, Any] = "rmsprop",
        loss: LossLike | list[LossLike | None] | dict[str, LossLike | None] | None = None,
        metrics: MetricLike
        | Sequence[MetricLike | Sequence[MetricLike] | None]
        | dict[str, MetricLike | Sequence[MetricLike] | None]
        | None = None,
        loss_weights: float | Sequence[float] | dict[str, float] | None = None,
        weighted_metrics: Sequence[MetricLike] | None = None,
        run_eagerly: bool | None = None,
        steps_per_execution: int | None = None,
        jit_compile: bool | None = None,
        **kwargs: Any,
    ) -> None:
        """Choose the optimizer (object or Keras name), the loss(es) and metrics, as Keras's ``compile``."""
        if kwargs:
            raise InvalidArgumentError(f"compile got unexpected arguments {sorted(kwargs)}")
        if weighted_metrics:
            raise InvalidArgumentError(
                "compile: weighted_metrics are not supported by tinycnn (fit takes no sample_weight)"
            )
        if loss is None:
            raise InvalidArgumentError("compile needs a loss, e.g. loss='categorical_crossentropy' or 'mse'")
        self.optimizer = optimizers_mod.get(optimizer)
        self._compile_args = (loss, metrics, loss_weights)
        self.loss = loss if isinstance(loss, (list, dict)) else losses_mod.get(loss)
        self.compiled_metrics = []
        if self.built:
            self._resolve_compile()
        else:  # unknown names are reported now, not at the first fit
            flat = (
                [metrics]
                if isinstance(metrics, str) or callable(metrics)
                else (list(metrics.values()) if isinstance(metrics, dict) else list(metrics or []))
            )
            for m in flat:
                for one in m if isinstance(m, (list, tuple)) else [m]:
                    if one is not None:
                        metrics_mod.get(one, self.loss if not isinstance(self.loss, (list, dict)) else None)

    def _resolve_compile(self):
        """Turn the compile arguments into one loss, weight and metric list per output (needs the graph)."""
        loss, metrics, loss_weights = self._compile_args
        names = self.output_names
        losses = _per_output(loss, names, "loss")
        self._losses = [None if l is None else losses_mod.get(l) for l in losses]
        if all(l is None for l in self._losses):
            raise InvalidArgumentError("compile: every output has loss None; give at least one loss")
        weights = (
            _per_output(loss_weights, names, "loss_weights", 1.0) if loss_weights is not None else [1.0] * len(names)
        )
        for w in weights:
            if isinstance(w, bool) or not isinstance(w, (int, float, np.integer, np.floating)) or not np.isfinite(w):
                raise InvalidArgumentError(f"compile: loss_weights must be finite numbers, got {loss_weights!r}")
        self._loss_weights = [float(w) for w in weights]
        if metrics is None:
            per_output = [[] for _ in names]
        elif isinstance(metrics, dict):
            per_output = _per_output(metrics, names, "metrics", [])
        elif (
            isinstance(metrics, (list, tuple))
            and len(names) > 1
            and metrics
            and all(isinstance(m, (list, tuple)) or m is None for m in metrics)
        ):
            per_output = _per_output(list(metrics), names, "metrics", [])
        elif isinstance(metrics, str) or callable(metrics):
            per_output = [[metrics] for _ in names]
        elif isinstance(metrics, (list, tuple)):
            per_output = [list(metrics) for _ in names]  # a flat list: every output (Keras 2's rule)
        else:
            raise InvalidArgumentError(f"compile: metrics must be a list such as ['accuracy'], got {metrics!r}")
        self._metrics = []
        for k, ms in enumerate(per_output):
            ms = [] if ms is None else ([ms] if isinstance(ms, str) or callable(ms) else list(ms))
            resolved = []
            for m in ms:
                name, fn = metrics_mod.get(m, self._losses[k])
                resolved.append((name if len(names) == 1 else f"{names[k]}_{name}", fn))
            self._metrics.append(resolved)
        self.compiled_metrics = [m for ms in self._metrics for m in ms]

    def _require_compiled(self, what):
        if self.loss is None:
            raise InvalidArgumentError(f"{what}: call model.compile(optimizer, loss, metrics) first")
        if not self._losses and self.built:
            self._resolve_compile()

    # ------------------------------------------------------------------------------------------ data
    # ------------------------------------------------------------------------------------------ compute
    def _forward_all(self, xs, training):
        out = self.forward(xs if self.multi_input else xs[0], training=training)
        return list(out) if len(self.outputs) > 1 else [out]

    def _fused(self, k):
        """The layer whose softmax the loss of output ``k`` may skip, or None (:mod:`tinycnn.losses`)."""
        loss = self._losses[k]
        if loss is None or not loss.fuses_softmax:
            return None
        from .graph import node_of

        tensor = self.outputs[k]
        layer = tensor._keras_history[0]
        node = node_of(tensor)
        if not getattr(layer, "ends_with_softmax", False) or len(node.output_tensors) != 1:
            return None
        if any(t is tensor for n in self._nodes for t in n.input_tensors):
            return None  # the probabilities feed another layer too: their gradient is not (p - y) / N alone
        return layer, node

    def _losses_and_gradients(self, ys, outs):
        """``(per-output per-sample losses, per-output dL/d output, ids of outputs given as logits gradients)``."""
        per_sample, d_outputs, logits = [], [], set()
        for k, (yk, out) in enumerate(zip(ys, outs)):
            loss = self._losses[k]
            if loss is None:
                per_sample.append(None)
                d_outputs.append(None)
                continue
            fused = self._fused(k)
            if fused is not None:
                layer, node = fused
                z = (
                    self._tape.snapshots[id(node)]["_z"]
                    if hasattr(self, "_tape") and id(node) in self._tape.snapshots
                    else layer._z
                )
                ps, d = loss.per_sample_and_gradient_from_logits(yk, z)
                logits.add(id(self.outputs[k]))
            else:
                ps, d = loss.per_sample(yk, out), loss.gradient(yk, out)
            w = self._loss_weights[k]
            per_sample.append(ps)
            d_outputs.append(d if w == 1.0 else (d * w).astype(d.dtype, copy=False))
        return per_sample, d_outputs, logits

    def _total(self, per_sample):
        return float(sum(w * np.mean(ps) for w, ps in zip(self._loss_weights, per_sample) if ps is not None))

    def _param_pairs(self):
        from .model import leaf_layers

        return [(layer, name) for layer in leaf_layers(self) if layer.trainable for name in layer.params]

    def train_on_batch(
        self,
        x: ArrayLike | Mapping[str, ArrayLike],
        y: ArrayLike | Mapping[str, ArrayLike] | None,
        return_dict: bool = False,
    ) -> float | dict[str, float]:
        """One optimizer step on one batch; returns the batch loss. Refuses the step if anything is non-finite
        (the loss is then NaN). Ctrl-C during the step raises ``KeyboardInterrupt`` after it, never inside."""
        self._require_compiled("train_on_batch")
        xs, ys = self._prepare(x, y, "train_on_batch")
        with _INTERRUPTS.deferred(), ENGINE_LOCK:
            loss, per_sample, outs = self._train_step(xs, ys)
        if return_dict:
            return {"loss": loss}
        return loss

    def _train_step(self, xs, ys):
        """One step, all or nothing: a non-finite loss, gradient or updated weight, or an exception (Ctrl-C
        included) before the update completes, leaves weights, moving statistics and optimizer as they were.
        Returns ``(loss, per-output per-sample losses, outputs)``; the loss is NaN for a refused step."""
        from .model import leaf_layers

        undo = self._undo
        leaves = leaf_layers(self)
        undo.take(w for layer in leaves for w in layer.state.values())  # BatchNorm's moving statistics
        iterations, done = self.optimizer.iterations, False
        per_sample, outs = None, None
        self._refused = "the loss, its gradient or the weight update is NaN or infinite"
        try:
            outs = self._forward_all(xs, training=True)
            per_sample, d_outputs, logits = self._losses_and_gradients(ys, outs)
            loss = self._total(per_sample) + regularizers.penalty(leaves)  # + Keras's sum(model.losses)
            overflowed = [
                (layer.name, name) for layer in leaves for name, s in layer.state.items() if not np.isfinite(s.sum())
            ]
            if overflowed:  # e.g. BatchNorm's moving variance of inputs ~1e21: inf in float32
                self._refused = (
                    f"layer {overflowed[0][0]!r}: its {overflowed[0][1]} overflowed to inf or NaN "
                    f"(the values reaching it are too large for {self.compute_dtype}; rescale the "
                    f"data, e.g. x / x.max())"
                )
                loss = float("nan")
            if np.isfinite(loss):
                from . import graph

                for layer in leaves:
                    layer.grads.clear()
                graph.backward(
                    self._nodes,
                    self.inputs,
                    self.outputs,
                    d_outputs,
                    self._tape,
                    need_input_gradients=False,
                    logits=logits,
                )
                regularizers.add_gradients(leaves)  # each weight penalty's gradient joins its weight's
                pairs = [
                    (layer.grads[name], layer.params[name])
                    for layer, name in self._param_pairs()
                    if name in layer.grads
                ]
                # No separate pass over the gradients: a NaN or infinite gradient makes its weight's update
                # NaN or infinite in every optimizer (inf - inf, 0 * inf, inf / inf), so the check of the
                # updated weights catches it too, and the undo restores weights and slots. (The big Dense
                # kernel's arrays come from main memory: each pass saved is a few percent of the step.)
                weights = [w for _, w in pairs]
                if type(self.optimizer).__module__.startswith("tinycnn."):
                    # tinycnn's update kernels copy each weight and slot into the undo's buffers in the same
                    # pass as the update, and say whether the new weights are finite (no extra passes)
                    undo.take(self.optimizer._extra_arrays(weights))
                    with _defer_keyboard_interrupt():
                        done = self.optimizer._apply(pairs, keep=undo)
                else:  # a user's optimizer: copy everything first, check the weights after
                    undo.take(weights + self.optimizer.state_arrays(weights))
                    with _defer_keyboard_interrupt():
                        self.optimizer.apply_gradients(pairs)
                        done = all(np.isfinite(w.sum()) for w in weights)  # also: a huge learning rate overflowed
                if done:
                    return loss, per_sample, outs
                loss = float("nan")
        finally:
            if not done:  # undo what the refused or interrupted step changed (moving statistics included)
                undo.restore()
                self.optimizer.iterations = iterations
            undo.clear()
        return loss, per_sample, outs

    def fit(
        self,
        x: ArrayLike | Mapping[str, ArrayLike] | PyDataset | Iterator[Any] | None = None,
        y: ArrayLike | Mapping[str, ArrayLike] | None = None,
        batch_size: int = 32,
        epochs: int = 1,
        verbose: int | str = "auto",
        callbacks: Sequence[Callback] | None = None,
        validation_split: float = 0.0,
        validation_data: tuple[Any, ...] | list[Any] | PyDataset | Iterator[Any] | None = None,
        shuffle: bool = True,
        initial_epoch: int = 0,
        steps_per_epoch: int | None = None,
        validation_steps: int | None = None,
        class_weight: dict[int, float] | None = None,
        sample_weight: ArrayLike | None = None,
        validation_batch_size: int | None = None,
        validation_freq: int = 1,
    ) -> History:
        """Train for ``epochs`` passes over ``(x, y)``; returns a :class:`~tinycnn.callbacks.History`.

        Each epoch: batches in a shuffled order (``np.random``, seeded by ``set_random_seed``), one
        ``forward``/``backward``/optimizer step each; the logged ``loss`` and metrics are averages over the
        epoch's batches (weighted by batch size), as Keras logs them; then validation in inference mode.

        Safety: a NaN or infinite loss (or gradient) stops training with a message naming the epoch and
        batch, and the weights stay those from before that step. Ctrl-C stops training cleanly between
        steps (never inside one, nor while Numba compiles): the model is left consistent, and the history so
        far is returned. ``verbose="auto"`` (Keras's default) is 1, the progress bar.
        """
        if class_weight is not None or sample_weight is not None:
            raise InvalidArgumentError("fit: class_weight and sample_weight are not supported by tinycnn")
        self._require_compiled("fit")
        batch_size = validation.check_batch_size(batch_size, "fit")
        epochs = validation.check_int(epochs, "epochs", "fit", low=0)
        initial_epoch = validation.check_int(initial_epoch, "initial_epoch", "fit", low=0)
        validation_split = validation.check_number(
            validation_split, "validation_split", "fit", low=0, high=1, high_open=True
        )
        verbose = validation.check_verbose(verbose, "fit")
        if validation_data is not None and validation_split:
            raise InvalidArgumentError("fit: give validation_data or validation_split, not both")
        source = None
        if _is_batch_source(x):  # a PyDataset / Sequence, a generator or an iterator of (x, y) batches
            if y is not None:
                raise InvalidArgumentError(
                    "fit: with a data set or generator, the targets come inside its batches; do not pass y="
                )
            if validation_split:
                raise InvalidArgumentError(
                    "fit: validation_split needs arrays; with a data set or generator give validation_data= instead"
                )
            source = _BatchSource(x, steps_per_epoch, "fit")
            steps = source.steps

            def epoch_batches():
                return self._source_batches(source, "fit")
        else:
            xs, ys = self._prepare(x, y, "fit")
            n = len(xs[0])
            if validation_split:
                n_val = int(n * validation_split)
                if n_val == 0 or n_val == n:
                    raise InvalidInputError(
                        f"fit: validation_split={validation_split} of {n} samples leaves "
                        f"{n_val} for validation and {n - n_val} for training"
                    )
                validation_data = ([a[-n_val:] for a in xs], [None if a is None else a[-n_val:] for a in ys])
                xs = [a[:-n_val] for a in xs]
                ys = [None if a is None else a[:-n_val] for a in ys]
                n -= n_val
            steps = -(-n // batch_size)
            if steps_per_epoch is not None:
                raise InvalidArgumentError(
                    "fit: steps_per_epoch is for data sets and generators; with arrays every "
                    "epoch is one pass over them"
                )

            def epoch_batches():
                return self._array_batches(xs, ys, batch_size, shuffle)

        val_batch = (
            validation.check_batch_size(validation_batch_size, "fit (validation_batch_size)")
            if validation_batch_size is not None
            else batch_size
        )
        if validation_data is None:

            def validate():
                return None
        elif validation_split:
            xs_val, ys_val = validation_data

            def validate():
                return self._evaluate_logs(xs_val, ys_val, val_batch)
        elif _is_batch_source(validation_data):
            val_source = _BatchSource(validation_data, validation_steps, "fit (validation_data)", "validation_steps")

            def validate():
                return self._evaluate_batches(self._source_batches(val_source, "fit (validation_data)"))
        else:
            if not isinstance(validation_data, (tuple, list)) or len(validation_data) not in (2, 3):
                raise InvalidInputError(
                    "fit: validation_data must be a tuple (x_val, y_val), a PyDataset or a generator"
                )
            if len(validation_data) == 3 and validation_data[2] is not None:
                raise InvalidArgumentError("fit: validation sample weights are not supported by tinycnn")
            if not self.built:
                self._prepare_x(validation_data[0], "fit (validation_data)")
            xs_val, ys_val = self._prepare(validation_data[0], validation_data[1], "fit (validation_data)")

            def validate():
                return self._evaluate_logs(xs_val, ys_val, val_batch)

        history = History()
        callbacks = list(callbacks or [])
        for cb in callbacks:
            if not isinstance(cb, Callback):
                raise InvalidTypeError(f"fit: callbacks must be tinycnn Callback objects, got {type(cb).__name__}")
        # Keras's order: the user's callbacks, then History (it records what they wrote into the logs, such as
        # ReduceLROnPlateau's learning_rate), then the progress bar (it prints the same logs)
        all_cbs = callbacks + [history] + ([ProgbarLogger(verbose)] if verbose else [])
        for cb in all_cbs:
            cb.set_model(self)
            cb.set_params({"epochs": epochs, "steps": steps, "verbose": verbose, "batch_size": batch_size})
        self._steps_per_epoch = steps
        self.stop_training = False
        self.history = history
        for cb in all_cbs:
            cb.on_train_begin({})
        with _INTERRUPTS.deferred() as interrupts:
            self._fit_epochs(all_cbs, epoch_batches, validate, initial_epoch, epochs, interrupts)
        for cb in all_cbs:
            cb.on_train_end(history.last_logs())
        return history

    def _fit_epochs(self, all_cbs, epoch_batches, validate, initial_epoch, epochs, interrupts):
        """The epochs of :meth:`fit`; Ctrl-C (``interrupts``) is looked at after every step."""
        epoch = batch = 0
        try:
            for epoch in range(initial_epoch, epochs):
                for cb in all_cbs:
                    cb.on_epoch_begin(epoch, {})
                seen, sums, logs, complete = 0, {}, {}, True
                for batch, (xb, yb) in enumerate(epoch_batches()):
                    for cb in all_cbs:
                        cb.on_train_batch_begin(batch, {})
                    with ENGINE_LOCK:
                        loss, per_sample, outs = self._train_step(xb, yb)
                        batch_logs = self._batch_logs(yb, outs, per_sample) if np.isfinite(loss) else None
                    if not np.isfinite(loss):
                        message = (
                            f"Epoch {epoch + 1}, batch {batch + 1}: {self._refused}; training stopped and "
                            f"the weights from before this batch are kept. Try a smaller learning rate, or "
                            f"check the data for NaN/huge values."
                        )
                        warnings.warn(message, RuntimeWarning, stacklevel=4)
                        self.stop_training, complete = True, False
                        break
                    seen += len(xb[0])
                    for k, v in batch_logs.items():
                        sums[k] = sums.get(k, 0.0) + v
                    logs = {k: v / seen for k, v in sums.items()}
                    for cb in all_cbs:
                        cb.on_train_batch_end(batch, logs)
                    interrupts.check()
                    if self.stop_training:  # a callback asked to stop: Keras stops after this batch, then
                        break  # still validates and ends the epoch
                if not complete or not seen:
                    break
                val_logs = validate()
                if val_logs is not None:
                    logs.update({f"val_{k}": v for k, v in val_logs.items()})
                for cb in all_cbs:
                    cb.on_epoch_end(epoch, logs)
                interrupts.check()
                if self.stop_training:
                    break
        except KeyboardInterrupt:
            warnings.warn(
                f"Training interrupted (Ctrl-C) in epoch {epoch + 1}, batch {batch + 1}: the weights are "
                f"those after the last complete step; the history holds the finished epochs.",
                RuntimeWarning,
                stacklevel=4,
            )
