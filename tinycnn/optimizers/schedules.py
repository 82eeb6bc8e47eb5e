"""Learning-rate schedules, as ``keras.optimizers.schedules``: pass one as ``learning_rate=`` of any optimizer.

A schedule is a function of the step ``t`` (the optimizer's ``iterations``: 0 for the first update). The
optimizer calls ``schedule(t)`` at every step. Formulas (``lr0`` = ``initial_learning_rate``, ``T`` =
``decay_steps``; ``p = t / T``, or ``floor(t / T)`` with ``staircase=True``)::

    ExponentialDecay        lr0 * decay_rate ** p
    InverseTimeDecay        lr0 / (1 + decay_rate * p)
    PiecewiseConstantDecay  values[0] for t <= boundaries[0], values[i] for boundaries[i-1] < t <= boundaries[i],
                            values[-1] for t > boundaries[-1]
    PolynomialDecay         (lr0 - end) * (1 - min(t, T) / T) ** power + end
                            cycle=True: T is replaced by T * ceil(t / T) (T itself at t = 0)
    CosineDecay             lr0 * ((1 - alpha) * 0.5 * (1 + cos(pi * min(t, T) / T)) + alpha)
                            with warmup_target: a linear ramp lr0 -> warmup_target over warmup_steps, then the
                            cosine from warmup_target over the next T steps
    CosineDecayRestarts     cosine decay restarted after T, T * t_mul, T * t_mul**2 ... steps, each restart's
                            peak multiplied by m_mul (Loshchilov & Hutter 2017, SGDR)

Keras computes these in float32 (its ``initial_learning_rate`` becomes a float32 tensor); tinycnn in float64,
so values agree to float32 rounding. Keras 2's ``SGD(lr, decay=d)`` is ``InverseTimeDecay(lr, 1, d)``.

>>> s = ExponentialDecay(0.1, decay_steps=10, decay_rate=0.5)
>>> round(s(0), 6), round(s(10), 6), round(s(20), 6)
(0.1, 0.05, 0.025)
>>> PiecewiseConstantDecay([100, 200], [1.0, 0.5, 0.1])(150)
0.5
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from ..errors import InvalidArgumentError
from ..hints import Config


def _positive_steps(owner, name, value):
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)) or not value > 0:
        raise InvalidArgumentError(f"{owner}: {name} must be > 0, got {value!r}")
    return value


def _finite(owner, name, value):
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float, np.integer, np.floating))
        or not np.isfinite(value)
    ):
        raise InvalidArgumentError(f"{owner}: {name} must be a finite number, got {value!r}")
    return value


class LearningRateSchedule:
    """Base class: ``schedule(step)`` gives the learning rate at that step; ``get_config``/``from_config``."""

    def __call__(self, step: float) -> float:
        raise NotImplementedError(f"{type(self).__name__} must define __call__(self, step)")

    def get_config(self) -> Config:
        raise NotImplementedError(f"{type(self).__name__} must define get_config()")

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> LearningRateSchedule:
        return cls(**config)


class ExponentialDecay(LearningRateSchedule):
    """``initial_learning_rate * decay_rate ** (step / decay_steps)`` (``floor`` of the ratio if staircase)."""

    def __init__(
        self,
        initial_learning_rate: float,
        decay_steps: float,
        decay_rate: float,
        staircase: bool = False,
        name: str = "ExponentialDecay",
    ) -> None:
        self.initial_learning_rate = _finite(name, "initial_learning_rate", initial_learning_rate)
        self.decay_steps = _positive_steps(name, "decay_steps", decay_steps)
        self.decay_rate = _finite(name, "decay_rate", decay_rate)
        self.staircase, self.name = bool(staircase), name

    def __call__(self, step: float) -> float:
        p = float(step) / self.decay_steps
        if self.staircase:
            p = math.floor(p)
        return self.initial_learning_rate * self.decay_rate**p

    def get_config(self) -> Config:
        return {
            "initial_learning_rate": self.initial_learning_rate,
            "decay_steps": self.decay_steps,
            "decay_rate": self.decay_rate,
            "staircase": self.staircase,
            "name": self.name,
        }


class InverseTimeDecay(LearningRateSchedule):
    """``initial_learning_rate / (1 + decay_rate * step / decay_steps)`` (``floor`` of the ratio if staircase)."""

    def __init__(
        self,
        initial_learning_rate: float,
        decay_steps: float,
        decay_rate: float,
        staircase: bool = False,
        name: str = "InverseTimeDecay",
    ) -> None:
        self.initial_learning_rate = _finite(name, "initial_learning_rate", initial_learning_rate)
        self.decay_steps = _positive_steps(name, "decay_steps", decay_steps)
        self.decay_rate = _finite(name, "decay_rate", decay_rate)
        self.staircase, self.name = bool(staircase), name

    def __call__(self, step: float) -> float:
        p = float(step) / self.decay_steps
        if self.staircase:
            p = math.floor(p)
        return self.initial_learning_rate / (1.0 + self.decay_rate * p)

    def get_config(self) -> Config:
        return {
            "initial_learning_rate": self.initial_learning_rate,
            "decay_steps": self.decay_steps,
            "decay_rate": self.decay_rate,
            "staircase": self.staircase,
            "name": self.name,
        }


class PiecewiseConstantDecay(LearningRateSchedule):
    """``values[i]`` on the i-th interval between ``boundaries`` (each interval closed on the right)."""

    def __init__(self, boundaries: Sequence[float], values: Sequence[float], name: str = "PiecewiseConstant") -> None:
        boundaries, values = list(boundaries), list(values)
        if len(boundaries) != len(values) - 1:
            raise InvalidArgumentError(
                f"{name}: boundaries must have one entry fewer than values, got "
                f"{len(boundaries)} boundaries and {len(values)} values"
            )
        if any(b2 < b1 for b1, b2 in zip(boundaries, boundaries[1:])):
            raise InvalidArgumentError(f"{name}: boundaries must be increasing, got {boundaries}")
        for v in values:
            _finite(name, "values", v)
        self.boundaries, self.values, self.name = boundaries, values, name

    def __call__(self, step: float) -> float:
        step = float(step)
        for boundary, value in zip(self.boundaries, self.values):
            if step <= boundary:
                return float(value)
        return float(self.values[-1])

    def get_config(self) -> Config:
        return {"boundaries": self.boundaries, "values": self.values, "name": self.name}


class PolynomialDecay(LearningRateSchedule):
    """``(initial - end) * (1 - step / decay_steps) ** power + end``, held at ``end`` after ``decay_steps``
    (or, with ``cycle=True``, restarted with ``decay_steps`` stretched to the next multiple)."""

    def __init__(
        self,
        initial_learning_rate: float,
        decay_steps: float,
        end_learning_rate: float = 0.0001,
        power: float = 1.0,
        cycle: bool = False,
        name: str = "PolynomialDecay",
    ) -> None:
        self.initial_learning_rate = _finite(name, "initial_learning_rate", initial_learning_rate)
        self.decay_steps = _positive_steps(name, "decay_steps", decay_steps)
        self.end_learning_rate = _finite(name, "end_learning_rate", end_learning_rate)
        self.power = _finite(name, "power", power)
        self.cycle, self.name = bool(cycle), name

    def __call__(self, step: float) -> float:
        t, steps = float(step), float(self.decay_steps)
        if self.cycle:
            steps *= 1.0 if t == 0 else math.ceil(t / self.decay_steps)
        else:
            t = min(t, steps)
        p = t / steps
        return (self.initial_learning_rate - self.end_learning_rate) * (1.0 - p) ** self.power + self.end_learning_rate

    def get_config(self) -> Config:
        return {
            "initial_learning_rate": self.initial_learning_rate,
            "decay_steps": self.decay_steps,
            "end_learning_rate": self.end_learning_rate,
            "power": self.power,
            "cycle": self.cycle,
            "name": self.name,
        }


class CosineDecay(LearningRateSchedule):
    """Half a cosine from ``initial_learning_rate`` down to ``alpha * initial_learning_rate`` over
    ``decay_steps`` (Loshchilov & Hutter 2017), after an optional linear warm-up to ``warmup_target``."""

    def __init__(
        self,
        initial_learning_rate: float,
        decay_steps: float,
        alpha: float = 0.0,
        name: str = "CosineDecay",
        warmup_target: float | None = None,
        warmup_steps: float = 0,
    ) -> None:
        self.initial_learning_rate = _finite(name, "initial_learning_rate", initial_learning_rate)
        self.decay_steps = _positive_steps(name, "decay_steps", decay_steps)
        self.alpha = _finite(name, "alpha", alpha)
        self.warmup_target = None if warmup_target is None else _finite(name, "warmup_target", warmup_target)
        if (
            isinstance(warmup_steps, bool)
            or not isinstance(warmup_steps, (int, float, np.integer, np.floating))
            or warmup_steps < 0
        ):
            raise InvalidArgumentError(f"{name}: warmup_steps must be >= 0, got {warmup_steps!r}")
        self.warmup_steps, self.name = warmup_steps, name

    def _decay(self, t, start_lr):
        cosine = 0.5 * (1.0 + math.cos(math.pi * t / self.decay_steps))
        return start_lr * ((1.0 - self.alpha) * cosine + self.alpha)

    def __call__(self, step: float) -> float:
        t = float(step)
        if self.warmup_target is None:
            return self._decay(min(t, self.decay_steps), self.initial_learning_rate)
        t = min(t, self.decay_steps + self.warmup_steps)
        if t < self.warmup_steps:
            fraction = t / self.warmup_steps
            return (self.warmup_target - self.initial_learning_rate) * fraction + self.initial_learning_rate
        return self._decay(t - self.warmup_steps, self.warmup_target)

    def get_config(self) -> Config:
        return {
            "initial_learning_rate": self.initial_learning_rate,
            "decay_steps": self.decay_steps,
            "alpha": self.alpha,
            "name": self.name,
            "warmup_target": self.warmup_target,
            "warmup_steps": self.warmup_steps,
        }


class CosineDecayRestarts(LearningRateSchedule):
    """Cosine decay with warm restarts (SGDR): periods ``first_decay_steps * t_mul ** i``, peaks ``m_mul ** i``.

    With ``f = step / first_decay_steps``: restart number ``i = floor(f)`` and position ``f - i`` when
    ``t_mul == 1``; otherwise ``i = floor(log(1 - f (1 - t_mul)) / log(t_mul))`` and position
    ``(f - (1 - t_mul**i) / (1 - t_mul)) / t_mul**i``. Rate ``lr0 * ((1 - alpha) * m_mul**i * 0.5 *
    (1 + cos(pi * position)) + alpha)``.
    """

    def __init__(
        self,
        initial_learning_rate: float,
        first_decay_steps: float,
        t_mul: float = 2.0,
        m_mul: float = 1.0,
        alpha: float = 0.0,
        name: str = "SGDRDecay",
    ) -> None:
        self.initial_learning_rate = _finite(name, "initial_learning_rate", initial_learning_rate)
        self.first_decay_steps = _positive_steps(name, "first_decay_steps", first_decay_steps)
        self._t_mul = _finite(name, "t_mul", t_mul)
        self._m_mul = _finite(name, "m_mul", m_mul)
        self.alpha, self.name = _finite(name, "alpha", alpha), name

    def __call__(self, step: float) -> float:
        f = float(step) / self.first_decay_steps
        if self._t_mul == 1.0:
            i = math.floor(f)
            f -= i
        else:
            i = math.floor(math.log(1.0 - f * (1.0 - self._t_mul)) / math.log(self._t_mul))
            done = (1.0 - self._t_mul**i) / (1.0 - self._t_mul)
            f = (f - done) / self._t_mul**i
        cosine = 0.5 * self._m_mul**i * (1.0 + math.cos(math.pi * f))
        return self.initial_learning_rate * ((1.0 - self.alpha) * cosine + self.alpha)

    def get_config(self) -> Config:
        return {
            "initial_learning_rate": self.initial_learning_rate,
            "first_decay_steps": self.first_decay_steps,
            "t_mul": self._t_mul,
            "m_mul": self._m_mul,
            "alpha": self.alpha,
            "name": self.name,
        }


_SCHEDULES = {
    c.__name__: c
    for c in (
        ExponentialDecay,
        InverseTimeDecay,
        PiecewiseConstantDecay,
        PolynomialDecay,
        CosineDecay,
        CosineDecayRestarts,
    )
}


def serialize(schedule: LearningRateSchedule) -> Config:
    """Keras's serialized form: ``{"module", "class_name", "config", "registered_name"}``."""
    return {
        "module": "keras.optimizers.schedules",
        "class_name": type(schedule).__name__,
        "config": schedule.get_config(),
        "registered_name": None,
    }


def deserialize(config: dict[str, Any]) -> LearningRateSchedule:
    """The schedule a ``serialize`` dict (or Keras's) describes."""
    if not isinstance(config, dict) or "class_name" not in config:
        raise InvalidArgumentError(f"a serialized schedule is a dict with 'class_name' and 'config', got {config!r}")
    cls = _SCHEDULES.get(config["class_name"])
    if cls is None:
        raise InvalidArgumentError(
            f"unknown learning-rate schedule {config['class_name']!r}; known: {sorted(_SCHEDULES)}"
        )
    return cls.from_config(config.get("config", {}))
