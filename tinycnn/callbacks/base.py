"""The callback protocol, and ``History`` (with Keras 2's ``"acc"`` answered for ``"accuracy"``)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..hints import Logs

if TYPE_CHECKING:
    from ..models.model import Model


class Callback:
    def __init__(self) -> None:
        self.model = None
        self.params = {}

    def set_model(self, model: Model) -> None:
        self.model = model

    def set_params(self, params: dict[str, Any]) -> None:
        self.params = params

    def on_train_begin(self, logs: Logs | None = None) -> None: ...
    def on_train_end(self, logs: Logs | None = None) -> None: ...
    def on_epoch_begin(self, epoch: int, logs: Logs | None = None) -> None: ...
    def on_epoch_end(self, epoch: int, logs: Logs | None = None) -> None: ...
    def on_train_batch_begin(self, batch: int, logs: Logs | None = None) -> None: ...
    def on_train_batch_end(self, batch: int, logs: Logs | None = None) -> None: ...


class HistoryDict(dict):
    """``history.history``: a dict of lists that also answers Keras 2's ``"acc"`` for ``"accuracy"`` (and the
    reverse, and the ``val_`` keys), so a script written for either Keras finds its key. The aliases are not
    listed among the keys (a plot of every key shows each curve once).

    >>> h = HistoryDict(accuracy=[0.5], val_accuracy=[0.4])
    >>> h["acc"], h["val_acc"], "acc" in h, sorted(h)
    ([0.5], [0.4], True, ['accuracy', 'val_accuracy'])
    """

    _ALIASES = {"acc": "accuracy", "accuracy": "acc", "val_acc": "val_accuracy", "val_accuracy": "val_acc"}

    def __missing__(self, key):
        alias = self._ALIASES.get(key) if isinstance(key, str) else None
        if alias is not None and dict.__contains__(self, alias):
            return dict.__getitem__(self, alias)
        raise KeyError(key)

    def __contains__(self, key):
        return dict.__contains__(self, key) or (
            isinstance(key, str) and dict.__contains__(self, self._ALIASES.get(key, "\0"))
        )

    def get(self, key: str, default: Any = None) -> Any:
        return self[key] if key in self else default


class History(Callback):
    """Records ``logs`` of every epoch: ``history.history["loss"]``, ``["val_accuracy"]`` ... (Keras 2's
    ``"acc"`` answers too: :class:`HistoryDict`)."""

    def __init__(self) -> None:
        super().__init__()
        self.history = HistoryDict()
        self.epoch = []

    def on_train_begin(self, logs: Logs | None = None) -> None:
        self.epoch = []

    def last_logs(self) -> Logs:
        """The last epoch's logs (what Keras hands ``on_train_end``)."""
        return {k: v[-1] for k, v in self.history.items() if v}

    def on_epoch_end(self, epoch: int, logs: Logs | None = None) -> None:
        self.epoch.append(epoch)
        for k, v in (logs or {}).items():
            self.history.setdefault(k, []).append(v)
