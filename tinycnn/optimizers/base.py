"""The part every optimizer shares, as Keras 3's ``BaseOptimizer`` does it.

One call of ``apply_gradients([(g, w), ...])`` is one training step ``t`` (``t = self.iterations``, 0 for the
first step). It does, in this order (``keras/src/optimizers/base_optimizer.py``)::

    lr_t = learning_rate                   a float, or schedule(t) for a LearningRateSchedule
    lr_t = lr_t / (1 + decay * t)          Keras 2's ``decay=`` (0 by default; Keras 3 dropped it)
    g    = g / loss_scale_factor           if set
    g    = clip(g)                         clipnorm | clipvalue | global_clipnorm, at most one
    w    = w - lr_t * weight_decay * w     decoupled weight decay (Loshchilov & Hutter 2019), if set
    w, slots = update_step(g, w, slots)    the optimizer's own rule (see each class)
    t    = t + 1

The weight decay and the update step run in one fused pass per weight (a kernel in
:mod:`tinycnn.kernels`, given ``wd = lr_t * weight_decay``; 0 means none).

Clipping, exactly as Keras (``||g||`` is the L2 norm over all the entries of one weight's gradient)::

    clipnorm=c:         g = g * c / max(||g||, c)              each weight on its own
    global_clipnorm=c:  g = g * c * min(1 / N, 1 / c)          N = sqrt(sum over weights of ||g||^2)
    clipvalue=c:        g = clip(g, -c, c)                     element-wise

Slots. Each optimizer keeps, per weight array ``w``, a few arrays of ``w``'s shape and dtype (Adam's ``m`` and
``v`` ...), created at the first step (Keras's ``build``), keyed by the identity of ``w``.
``state_arrays(weights)`` hands them to the training loop, which copies them before a step and puts them
back if the step is refused (a NaN or inf anywhere), so a refused step leaves no trace.

``variables_for(weights, names)`` lists the optimizer's state in Keras 3's order and names (what Keras saves
as ``optimizer.variables``): ``iteration``, ``learning_rate`` (only when it is a number, not a schedule),
then the slots: for each group of slots Keras builds together (Adam: momentum and velocity), weight by weight,
the group's slots in turn (``kernel_momentum, kernel_velocity, bias_momentum, bias_velocity``), then the next
group (Adam's ``velocity_hat`` with ``amsgrad``). ``set_variables`` writes such a list back.

Not supported (a clear error when asked for): ``use_ema`` (Keras's moving average of the weights) and
``gradient_accumulation_steps``.
"""

from __future__ import annotations

import numbers
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, Union

import numpy as np
from numpy.typing import ArrayLike

from .. import validation
from ..errors import InvalidArgumentError, InvalidTypeError
from ..hints import Array, Config
from .schedules import LearningRateSchedule

#: What ``learning_rate=`` takes: a number, a :class:`~tinycnn.optimizers.schedules.LearningRateSchedule`, or a
#: callable of no arguments returning the rate.
LearningRateLike = Union[float, LearningRateSchedule, Callable[[], float]]


def _is_number(value):
    return isinstance(value, (numbers.Real, np.floating, np.integer)) and not isinstance(value, (bool, np.bool_))


def check_number(
    owner: str,
    arg: str,
    value: float | None,
    low: float | None = None,
    high: float | None = None,
    low_open: bool = False,
    high_open: bool = False,
    allow_none: bool = False,
) -> float | None:
    """``float(value)`` after checking it is a finite real number (any type: ``0.1``, ``np.float32(0.1)``,
    ``Fraction(1, 10)``) in the range; else a clear error. The one validator of :mod:`tinycnn.validation`."""
    number = validation.check_number(
        value, arg, owner, low=low, high=high, low_open=low_open, high_open=high_open, allow_none=allow_none
    )
    return None if number is None else float(number)


class Optimizer:
    """Base class: learning rate (number, schedule or callable), Keras 2 ``decay``, clipping, weight decay,
    slots, and the undo/variables interface. Subclasses define ``_slot_groups()`` and ``_update(w, g, slots,
    lr, wd)``; ``_config()`` adds their own hyperparameters to ``get_config()``."""

    _default_name = "optimizer"

    def __init__(
        self,
        learning_rate: LearningRateLike,
        weight_decay: float | None = None,
        clipnorm: float | None = None,
        clipvalue: float | None = None,
        global_clipnorm: float | None = None,
        use_ema: bool = False,
        ema_momentum: float = 0.99,
        ema_overwrite_frequency: int | None = None,
        loss_scale_factor: float | None = None,
        gradient_accumulation_steps: None = None,
        name: str | None = None,
        lr: LearningRateLike | None = None,
        decay: float | None = 0.0,
        **kwargs: Any,
    ) -> None:
        cls = type(self).__name__
        if kwargs:
            raise InvalidArgumentError(
                f"{cls} got unexpected arguments {sorted(kwargs)}; see help({cls}) for the "
                f"arguments it takes (Keras 3's names)"
            )
        if use_ema:
            raise InvalidArgumentError(
                f"{cls}: use_ema=True (a moving average of the weights) is not supported by "
                f"tinycnn; leave use_ema=False"
            )
        if gradient_accumulation_steps is not None:
            raise InvalidArgumentError(
                f"{cls}: gradient_accumulation_steps is not supported by tinycnn; use a larger batch_size instead"
            )
        self.iterations = 0
        self._slots = {}
        self.name = name if name is not None else self._default_name
        if lr is not None:  # Keras 2's spelling
            learning_rate = lr
        self._learning_rate = None
        self.learning_rate = learning_rate
        self.decay = check_number(cls, "decay", decay if decay is not None else 0.0, low=0.0)
        self.weight_decay = check_number(cls, "weight_decay", weight_decay, low=0.0, allow_none=True)
        self.clipnorm = check_number(cls, "clipnorm", clipnorm, low=0.0, allow_none=True)
        self.clipvalue = check_number(cls, "clipvalue", clipvalue, low=0.0, allow_none=True)
        self.global_clipnorm = check_number(cls, "global_clipnorm", global_clipnorm, low=0.0, allow_none=True)
        if sum(c is not None for c in (clipnorm, clipvalue, global_clipnorm)) > 1:
            raise InvalidArgumentError(
                f"{cls}: set at most one of clipnorm, clipvalue and global_clipnorm, got "
                f"clipnorm={clipnorm}, clipvalue={clipvalue}, "
                f"global_clipnorm={global_clipnorm}"
            )
        self.loss_scale_factor = check_number(
            cls, "loss_scale_factor", loss_scale_factor, low=0.0, low_open=True, allow_none=True
        )
        self.use_ema, self.ema_momentum, self.ema_overwrite_frequency = False, ema_momentum, ema_overwrite_frequency
        self.gradient_accumulation_steps = None

    # ------------------------------------------------------------------------------------------- learning rate
    @property
    def learning_rate(self) -> float:
        """The learning rate of the next step: the number, or the schedule evaluated at ``iterations``.

        Settable as in Keras 3 (``optimizer.learning_rate = 1e-4``, what the LR callbacks do); a schedule can
        replace a number or a schedule, but a number cannot replace a schedule (Keras raises too).
        """
        lr = self._learning_rate
        if isinstance(lr, LearningRateSchedule):
            return float(lr(self.iterations))
        if callable(lr):
            return float(lr())
        return lr

    @learning_rate.setter
    def learning_rate(self, value: LearningRateLike) -> None:
        cls = type(self).__name__
        if isinstance(value, LearningRateSchedule) or (callable(value) and not _is_number(value)):
            self._learning_rate = value
            return
        if isinstance(self._learning_rate, LearningRateSchedule):
            raise InvalidTypeError(
                f"{cls} was created with a LearningRateSchedule as its learning_rate, so its "
                f"learning rate cannot be set to a number; create the optimizer with a float "
                f"learning_rate if a callback should change it"
            )
        if hasattr(value, "item") and np.ndim(value) == 0:  # a NumPy scalar or 0-d array
            value = value.item()
        self._learning_rate = check_number(cls, "learning_rate", value, low=0.0)

    @property
    def lr(self) -> float:
        """Keras 2's name for ``learning_rate``."""
        return self.learning_rate

    @lr.setter
    def lr(self, value: LearningRateLike) -> None:
        self.learning_rate = value

    def current_learning_rate(self) -> float:
        """The learning rate the next step uses: ``learning_rate`` with Keras 2's ``decay`` applied."""
        return self.learning_rate / (1.0 + self.decay * self.iterations)

    # ------------------------------------------------------------------------------------------- slots
    def _slot_groups(self):
        """Groups of ``(slot name, initial value)`` in Keras's build order (see the module docstring)."""
        return []

    def _slots_of(self, w):
        """``{slot name: array}`` of weight ``w``, created (with the slots' initial values) if missing."""
        entry = self._slots.get(id(w))
        if entry is None or entry[0] is not w:
            slots = {name: np.full_like(w, init) for group in self._slot_groups() for name, init in group}
            entry = (w, slots)
            self._slots[id(w)] = entry
        return entry[1]

    def _extra_state(self):
        """Arrays of state not tied to one weight (Nadam's running product); ``(keras name, array)`` pairs."""
        return []

    def _extra_arrays(self, weights):
        """The arrays of :meth:`_extra_state` that the next step on ``weights`` changes besides the weights and
        their slots (created if missing, like :meth:`state_arrays`)."""
        return [a for _, a in self._extra_state()]

    def state_arrays(self, weights: Iterable[Array]) -> list[Array]:
        """Every array the next step will change besides the weights (slots and extra state), created if
        missing: the training loop copies them before the step and restores them if the step is refused."""
        arrays = [a for w in weights for a in self._slots_of(w).values()]
        return arrays + [a for _, a in self._extra_state()]

    # ------------------------------------------------------------------------------------------- the step
    def _clip(self, grads):
        if self.loss_scale_factor is not None:
            grads = [g / g.dtype.type(self.loss_scale_factor) for g in grads]
        if self.clipnorm:
            c = self.clipnorm
            out = []
            for g in grads:
                norm = np.sqrt(np.sum(np.square(g, dtype=np.float64)))
                out.append(g * g.dtype.type(c) / g.dtype.type(max(norm, c)))
            return out
        if self.global_clipnorm:
            c = self.global_clipnorm
            norm = np.sqrt(sum(np.sum(np.square(g, dtype=np.float64)) for g in grads))
            scale = c * min(1.0 / norm, 1.0 / c) if norm > 0 else 1.0
            return [g * g.dtype.type(scale) for g in grads]
        if self.clipvalue:
            c = self.clipvalue
            return [np.clip(g, -c, c) for g in grads]
        return grads

    def _before_step(self, weights):
        """Hook run once per step before the per-weight updates (Nadam advances its momentum schedule)."""

    def apply_gradients(self, grads_and_vars: Iterable[tuple[ArrayLike, Array]]) -> None:
        """Update every ``w`` in place from its gradient ``g`` (the steps in the module docstring); then
        ``iterations += 1``. ``grads_and_vars``: ``(gradient, weight array)`` pairs, as in Keras."""
        self._apply(grads_and_vars)

    def _apply(self, grads_and_vars, keep=None):
        """:meth:`apply_gradients`, for the training loop: with ``keep`` (:class:`tinycnn.models.safety._Undo`),
        each update kernel copies the values of ``w`` and of its slots from before the step into
        ``keep(array)`` in the same pass, and ``keep.kept(arrays)`` then marks them for the undo of a refused
        step. Returns True if every updated weight is finite."""
        pairs = list(grads_and_vars)
        weights = [w for _, w in pairs]
        for w in weights:
            if not isinstance(w, np.ndarray) or not w.flags.writeable:
                raise InvalidTypeError(
                    f"{type(self).__name__}.apply_gradients updates weights in place: each "
                    f"weight must be a writeable NumPy array, got {type(w).__name__}"
                )
        grads = [np.asarray(g, dtype=w.dtype) for g, w in pairs]
        for g, w in zip(grads, weights):
            if g.shape != w.shape:
                raise InvalidArgumentError(
                    f"{type(self).__name__}.apply_gradients: gradient of shape {g.shape} "
                    f"for a weight of shape {w.shape}"
                )
        grads = self._clip(grads)
        lr_t = self.current_learning_rate()
        wd = lr_t * self.weight_decay if self.weight_decay is not None else 0.0
        self._before_step(weights)
        finite = True
        for g, w in zip(grads, weights):
            slots = self._slots_of(w)
            finite &= bool(self._update(w, g, slots, lr_t, wd, keep))
            if keep is not None:  # the kernel has filled keep(w), keep(slot): now they may be restored
                keep.kept([w, *slots.values()])
        self.iterations += 1
        return finite

    def _update(self, w, g, slots, lr, wd, keep=None):
        """Update ``w`` and its ``slots`` in place by this optimizer's kernel (``keep`` passed on); return
        whether the new ``w`` is finite."""
        raise NotImplementedError

    # ------------------------------------------------------------------------------------------- Keras's state
    def variables_for(self, weights: Sequence[Array], names: Iterable[str] | None = None) -> list[tuple[str, Array]]:
        """The optimizer's state as Keras 3's ``optimizer.variables``: a list of ``(name, array)``.

        ``weights``: the model's trainable weight arrays in Keras's order; ``names``: their Keras paths
        (``"sequential/dense/kernel"``; default ``"variable_<i>"``), from which Keras names each slot
        (``"sequential_dense_kernel_momentum"``). The slot arrays are the live ones (created if missing);
        ``iteration`` and ``learning_rate`` are copies (int64 and float32, as Keras stores them).
        """
        names = self._weight_names(weights, names)
        out = [("iteration", np.array(self.iterations, dtype=np.int64))]
        if not callable(self._learning_rate):
            out.append(("learning_rate", np.array(self._learning_rate, dtype=np.float32)))
        for group in self._slot_groups():
            for w, wname in zip(weights, names):
                slots = self._slots_of(w)
                for slot, _ in group:
                    out.append((f"{wname.replace('/', '_')}_{slot}", slots[slot]))
        return out + self._extra_state()

    def set_variables(
        self, weights: Sequence[Array], values: Iterable[ArrayLike], names: Iterable[str] | None = None
    ) -> None:
        """Write ``values`` (arrays in the order of ``variables_for(weights, names)``) into the optimizer;
        everything is checked (count and shapes) before anything changes."""
        current = self.variables_for(weights, names)
        values = list(values)
        if len(values) != len(current):
            raise InvalidArgumentError(
                f"{type(self).__name__}.set_variables: expected {len(current)} arrays "
                f"({[n for n, _ in current]}), got {len(values)}"
            )
        values = [np.asarray(v) for v in values]
        for (name, target), value in zip(current, values):
            if value.shape != target.shape:
                raise InvalidArgumentError(
                    f"{type(self).__name__}.set_variables: {name} has shape {target.shape}, "
                    f"got an array of shape {value.shape}"
                )
        for (name, target), value in zip(current, values):
            if name == "iteration":
                self.iterations = int(value)
            elif name == "learning_rate":
                self._learning_rate = float(value)
            else:
                np.copyto(target, value, casting="same_kind")

    @staticmethod
    def _weight_names(weights, names):
        if names is None:
            return [f"variable_{i}" for i in range(len(weights))]
        names = list(names)
        if len(names) != len(weights):
            raise InvalidArgumentError(f"variables_for: {len(names)} names for {len(weights)} weights")
        return names

    # ------------------------------------------------------------------------------------------- config
    def _config(self):
        return {}

    def get_config(self) -> Config:
        """Keras 3's config: the base arguments, then the optimizer's own (a schedule as its serialized dict)."""
        lr = self._learning_rate
        if isinstance(lr, LearningRateSchedule):
            from . import schedules

            lr = schedules.serialize(lr)
        config = {
            "name": self.name,
            "learning_rate": lr,
            "weight_decay": self.weight_decay,
            "clipnorm": self.clipnorm,
            "global_clipnorm": self.global_clipnorm,
            "clipvalue": self.clipvalue,
            "use_ema": self.use_ema,
            "ema_momentum": self.ema_momentum,
            "ema_overwrite_frequency": self.ema_overwrite_frequency,
            "loss_scale_factor": self.loss_scale_factor,
            "gradient_accumulation_steps": self.gradient_accumulation_steps,
        }
        config.update(self._config())
        if self.decay:
            config["decay"] = self.decay  # Keras 2's argument, only when used
        return config

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> Optimizer:
        """The optimizer ``get_config()`` describes (a serialized schedule is rebuilt)."""
        config = dict(config)
        if isinstance(config.get("learning_rate"), dict):
            from . import schedules

            config["learning_rate"] = schedules.deserialize(config["learning_rate"])
        return cls(**config)

    def __repr__(self):
        return f"<{type(self).__name__} learning_rate={self._learning_rate!r} iterations={self.iterations}>"
