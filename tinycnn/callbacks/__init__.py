"""Callbacks with Keras's names and hooks: ``History``, ``EarlyStopping``, ``ModelCheckpoint``,
``TerminateOnNaN``, ``LearningRateScheduler``, ``ReduceLROnPlateau``, ``CSVLogger``, ``LambdaCallback``, and the
progress bar (``ProgbarLogger``).

The learning rate in the history: as in Keras 3, ``History`` records whatever is in the epoch's ``logs``, and
``learning_rate`` is in them only when ``LearningRateScheduler`` or ``ReduceLROnPlateau`` puts it there (each
writes ``logs["learning_rate"] = float(model.optimizer.learning_rate)`` in ``on_epoch_end``). This relies on
Keras's order of callbacks in ``fit``: the user's callbacks first, then ``History`` (then the progress bar), all
given the same ``logs`` dict.

``fit`` calls, on every callback: ``on_train_begin(logs)``, ``on_epoch_begin(epoch, logs)``,
``on_train_batch_begin/end(batch, logs)``, ``on_epoch_end(epoch, logs)``, ``on_train_end(logs)``.
A callback stops training by setting ``self.model.stop_training = True``.
"""

from .base import Callback, History, HistoryDict
from .learning_rate import LearningRateScheduler, ReduceLROnPlateau
from .logging import CSVLogger, LambdaCallback
from .progbar import ProgbarLogger
from .stopping import EarlyStopping, ModelCheckpoint, TerminateOnNaN

__all__ = [
    "Callback",
    "History",
    "HistoryDict",
    "ProgbarLogger",
    "TerminateOnNaN",
    "EarlyStopping",
    "ModelCheckpoint",
    "LearningRateScheduler",
    "ReduceLROnPlateau",
    "CSVLogger",
    "LambdaCallback",
]
