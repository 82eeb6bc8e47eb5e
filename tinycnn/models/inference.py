"""Inference: ``predict`` and ``evaluate`` (and the per-batch sums that ``fit`` logs too).

Both run the model in inference mode (``training=False``: Dropout off, BatchNorm on its moving statistics), a
batch at a time so memory stays bounded, each batch under the engine lock (:mod:`tinycnn.models.safety`). The
logged values are Keras's: the mean over the samples of each loss (weighted by ``loss_weights`` in ``loss``, plus
the weight penalties once per batch) and of each metric.

**Large batches run in cache-sized pieces** (``predict``). In inference mode every built-in layer computes each
sample on its own (BatchNorm uses its moving statistics, Dropout is off), so a batch of 1024 images can go
through the network in pieces of a few dozen and give the same numbers. Layer by layer, a whole batch of 1024
writes activations of about 100 MB (the course CNN's first layers) that the next layer must read back from main
memory; a piece of :data:`INFERENCE_PIECE_BYTES` keeps them in the processor's cache, so ``predict`` does not
slow down as the batch grows (``benchmarks/README.md``, batch sizes). A model of a class tinycnn did not
define, or holding such a layer (a user's subclass), runs whole batches, since such a class may mix samples.
``evaluate`` runs whole batches: its loss may be computed from the logits the last layer kept
(:mod:`tinycnn.losses`, fused softmax), which must be the whole batch's.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import ArrayLike

from .. import regularizers, validation
from ..errors import InvalidArgumentError
from ..hints import Array

if TYPE_CHECKING:
    from ..callbacks import Callback
    from ..utils import PyDataset
from .data import _BatchSource, _is_batch_source
from .safety import _INTERRUPTS, ENGINE_LOCK

#: Largest activation (bytes) of one piece of an inference batch (module docstring): the batch is cut into
#: pieces whose largest layer output fits in this many bytes (at least one sample per piece).
INFERENCE_PIECE_BYTES = 4 * 2**20


class InferenceMixin:
    """``predict``, ``evaluate`` and their batch loops, for :class:`~tinycnn.models.training.Trainer`."""

    def _inference_piece(self):
        """Samples per piece of an inference batch (module docstring), or None to run whole batches."""
        from .model import Model

        widest, stack = 1, [self]
        while stack:  # this model and every model nested in it: their classes and their layers' outputs
            model = stack.pop()
            for layer in [model, *model.layers]:
                if not type(layer).__module__.startswith("tinycnn."):
                    return None  # a class of the user's (a model's or a layer's) may mix the samples of a batch
                if layer is not model and isinstance(layer, Model):
                    stack.append(layer)
            for node in model._nodes:
                for t in node.output_tensors:
                    size = int(np.prod([d for d in t.shape[1:] if d is not None], dtype=np.int64))
                    widest = max(widest, size * np.dtype(self.compute_dtype).itemsize)
        return max(1, INFERENCE_PIECE_BYTES // widest)

    def _forward_inference(self, xs, piece):
        """``_forward_all(xs, training=False)``, ``piece`` samples at a time (:meth:`_inference_piece`, computed
        once per ``predict``) when the batch is larger than that."""
        n = len(xs[0])
        if piece is None or n <= piece:
            return self._forward_all(xs, training=False)
        pieces = [self._forward_all([a[i : i + piece] for a in xs], training=False) for i in range(0, n, piece)]
        return [np.concatenate([p[k] for p in pieces], axis=0) for k in range(len(pieces[0]))]

    def predict(
        self,
        x: ArrayLike | Mapping[str, ArrayLike] | PyDataset | Iterator[Any],
        batch_size: int = 32,
        verbose: int | str = "auto",
        steps: int | None = None,
        callbacks: Sequence[Callback] | None = None,
    ) -> Array | list[Array]:
        """Outputs for ``x`` in inference mode, computed ``batch_size`` samples at a time (a list of arrays
        for a model with several outputs). ``x`` may also be a ``PyDataset``, a generator or an iterator of
        batches (``steps=`` of them; the ``y`` of ``(x, y)`` batches is ignored)."""
        validation.check_verbose(verbose, "predict")
        if _is_batch_source(x):
            source = _BatchSource(x, steps, "predict", "steps")
            batches = (self._prepare_x(xb, "predict") for xb, _ in source.epoch())
        else:
            xs = self._prepare_x(x, "predict")
            batch_size = validation.check_batch_size(batch_size, "predict")
            batches = ([a[i : i + batch_size] for a in xs] for i in range(0, len(xs[0]), batch_size))
        outs, piece = [], None
        with _INTERRUPTS.deferred() as interrupts:
            for xb in batches:
                with ENGINE_LOCK:
                    if not outs:  # once, after the first batch is prepared (a model may build on it)
                        piece = self._inference_piece()
                    outs.append(self._forward_inference(xb, piece))
                interrupts.check()
        joined = [np.concatenate([o[k] for o in outs], axis=0) for k in range(len(self.outputs))]
        return joined[0] if len(joined) == 1 else joined

    def predict_on_batch(self, x: ArrayLike | Mapping[str, ArrayLike]) -> Array | list[Array]:
        return self.predict(
            x,
            batch_size=max(
                len(
                    np.asarray(
                        x if not isinstance(x, (list, dict)) else list(x.values() if isinstance(x, dict) else x)[0]
                    )
                ),
                1,
            ),
        )

    def _batch_logs(self, ys, outs, per_sample):
        """Sums over the batch: total loss, each output's loss (several outputs), each metric."""
        from .model import leaf_layers

        n = len(next(ps for ps in per_sample if ps is not None))

        def batch_sum(ps):  # a loss per position (N, T): each sample counts the mean of its positions (Keras)
            return float(np.sum(np.mean(ps.reshape(len(ps), -1), axis=1)))

        sums = {
            "loss": sum(w * batch_sum(ps) for w, ps in zip(self._loss_weights, per_sample) if ps is not None)
            + regularizers.penalty(leaf_layers(self)) * n
        }  # the penalty counts once per batch, like Keras
        if len(self.outputs) > 1:
            for k, ps in enumerate(per_sample):
                if ps is not None:
                    sums[f"{self.output_names[k]}_loss"] = batch_sum(ps)
        for k, ms in enumerate(self._metrics):
            for name, fn in ms:
                sums[name] = float(np.sum(fn(ys[k], outs[k])))
        return sums

    def evaluate(
        self,
        x: ArrayLike | Mapping[str, ArrayLike] | PyDataset | Iterator[Any] | None = None,
        y: ArrayLike | Mapping[str, ArrayLike] | None = None,
        batch_size: int = 32,
        verbose: int | str = "auto",
        return_dict: bool = False,
        steps: int | None = None,
        callbacks: Sequence[Callback] | None = None,
    ) -> float | list[float] | dict[str, float]:
        """Loss (and metrics) in inference mode: a float, or ``[loss, ...]`` if there is more to report.
        ``x`` may be a ``PyDataset``, generator or iterator of ``(x, y)`` batches (``steps=`` of them)."""
        self._require_compiled("evaluate")
        verbose = validation.check_verbose(verbose, "evaluate")
        if _is_batch_source(x):
            if y is not None:
                raise InvalidArgumentError("evaluate: give y inside the batches of the data set, not as y=")
            logs = self._evaluate_batches(self._source_batches(_BatchSource(x, steps, "evaluate", "steps"), "evaluate"))
        else:
            xs, ys = self._prepare(x, y, "evaluate")
            batch_size = validation.check_batch_size(batch_size, "evaluate")
            logs = self._evaluate_logs(xs, ys, batch_size)
        if verbose:
            print(" - ".join(f"{k}: {v:.4f}" for k, v in logs.items()))
        if return_dict:
            return logs
        values = list(logs.values())
        return values[0] if len(values) == 1 else values

    def _evaluate_batches(self, batches):
        n, totals = 0, {}
        with _INTERRUPTS.deferred() as interrupts:
            for xb, yb in batches:
                with ENGINE_LOCK:
                    outs = self._forward_all(xb, training=False)  # whole: the loss may read the last logits
                    per_sample = self._losses_and_gradients_eval(yb, outs)
                    logs = self._batch_logs(yb, outs, per_sample)
                for k, v in logs.items():
                    totals[k] = totals.get(k, 0.0) + v
                n += len(xb[0])
                interrupts.check()
        return {k: v / n for k, v in totals.items()}

    def test_on_batch(
        self,
        x: ArrayLike | Mapping[str, ArrayLike],
        y: ArrayLike | Mapping[str, ArrayLike] | None,
        return_dict: bool = False,
    ) -> float | list[float] | dict[str, float]:
        return self.evaluate(
            x,
            y,
            batch_size=len(
                np.asarray(x if not isinstance(x, (list, dict)) else list(x.values() if isinstance(x, dict) else x)[0])
            ),
            verbose=0,
            return_dict=return_dict,
        )

    def _evaluate_logs(self, xs, ys, batch_size):
        return self._evaluate_batches(self._array_batches(xs, ys, batch_size, shuffle=False))

    def _losses_and_gradients_eval(self, ys, outs):
        """Per-output per-sample losses in inference mode (from the logits where training fuses them)."""
        per_sample = []
        for k, (yk, out) in enumerate(zip(ys, outs)):
            loss = self._losses[k]
            if loss is None:
                per_sample.append(None)
            elif self._fused(k) is not None:
                layer, node = self._fused(k)
                z = self._tape.snapshots[id(node)]["_z"] if id(node) in self._tape.snapshots else layer._z
                per_sample.append(loss.per_sample_and_gradient_from_logits(yk, z)[0])
            else:
                per_sample.append(loss.per_sample(yk, out))
        return per_sample
