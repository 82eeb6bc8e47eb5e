"""Optimizers with Keras 3's names, arguments, defaults and numbers.

=============  =========================================  ==============================================
class          Keras string name (``compile(optimizer=)``)  slots per weight (Keras's names)
=============  =========================================  ==============================================
``SGD``        ``"sgd"``                                   ``momentum`` (only if momentum != 0)
``Adam``       ``"adam"``                                  ``momentum``, ``velocity`` (+ ``velocity_hat``)
``AdamW``      ``"adamw"``                                 as Adam
``RMSprop``    ``"rmsprop"``                               ``velocity`` (+ ``momentum``, ``average_gradient``)
``Adagrad``    ``"adagrad"``                               ``accumulator``
``Adadelta``   ``"adadelta"``                              ``accumulated_grad``, ``accumulated_delta_var``
``Nadam``      ``"nadam"``                                 ``momentum``, ``velocity`` (+ one running product)
``Adamax``     ``"adamax"``                                ``momentum``, ``norm``
=============  =========================================  ==============================================

Each class's module gives its update rule as in its paper, then where Keras's arithmetic differs; the steps
every optimizer shares (learning-rate schedules, Keras 2's ``decay``, clipping, decoupled weight decay, the
undo of a refused step, Keras's variable names) are in :mod:`tinycnn.optimizers.base`. The arithmetic of each
update is one kernel per weight (``tinycnn.kernels.<name>_update``: readable NumPy in ``reference``, one fused
pass in the Numba engine). Learning-rate schedules: :mod:`tinycnn.optimizers.schedules`.

>>> get("adam").get_config()["learning_rate"]
0.001
>>> type(get({"class_name": "RMSprop", "config": {"learning_rate": 0.01}})).__name__
'RMSprop'
"""

from __future__ import annotations

from typing import Any

from ..errors import InvalidArgumentError, InvalidTypeError
from ..hints import Config
from . import schedules
from .adadelta import Adadelta
from .adagrad import Adagrad
from .adam import Adam, AdamW
from .adamax import Adamax
from .base import Optimizer
from .nadam import Nadam
from .rmsprop import RMSprop
from .sgd import SGD

__all__ = [
    "Optimizer",
    "SGD",
    "Adam",
    "AdamW",
    "RMSprop",
    "Adagrad",
    "Adadelta",
    "Nadam",
    "Adamax",
    "get",
    "serialize",
    "deserialize",
    "schedules",
]

ALL_OPTIMIZERS = (SGD, Adam, AdamW, RMSprop, Adagrad, Adadelta, Nadam, Adamax)
_BY_NAME = {cls.__name__.lower(): cls for cls in ALL_OPTIMIZERS}


def serialize(optimizer: Optimizer) -> Config:
    """Keras 3's serialized form ``{"module", "class_name", "config", "registered_name"}``."""
    return {
        "module": "keras.optimizers",
        "class_name": type(optimizer).__name__,
        "config": optimizer.get_config(),
        "registered_name": None,
    }


def deserialize(config: dict[str, Any]) -> Optimizer:
    """The optimizer a ``serialize`` dict (or Keras's, or ``{"class_name", "config"}``) describes."""
    name = config.get("class_name")
    cls = _BY_NAME.get(str(name).lower())
    if cls is None:
        raise InvalidArgumentError(f"unknown optimizer class {name!r}; known: {[c.__name__ for c in ALL_OPTIMIZERS]}")
    return cls.from_config(config.get("config", {}))


def get(identifier: Optimizer | str | dict[str, Any]) -> Optimizer:
    """An optimizer object from an instance, a Keras name (``"adam"``, any case; Keras's defaults) or a config
    dict ``{"class_name": "Adam", "config": {...}}``."""
    if isinstance(identifier, Optimizer):
        return identifier
    if isinstance(identifier, str):
        cls = _BY_NAME.get(identifier.lower())
        if cls is not None:
            return cls()
        raise InvalidArgumentError(
            f"unknown optimizer {identifier!r}; valid names: {sorted(_BY_NAME)} "
            f"(or an optimizer object such as SGD(0.01, momentum=0.9))"
        )
    if isinstance(identifier, dict):
        return deserialize(identifier)
    raise InvalidTypeError(
        f"optimizer must be an optimizer object, a name such as 'adam' or a config dict, got "
        f"{type(identifier).__name__}"
    )
