"""Keras 2's spellings of the training loop: ``fit_generator``, ``evaluate_generator``, ``predict_generator``.

Keras 3 removed them (``fit``, ``evaluate`` and ``predict`` take generators and ``PyDataset`` themselves); course
material written for Keras 2 still calls them, so tinycnn keeps them as thin aliases. Their Keras 2 arguments
``workers``, ``use_multiprocessing`` and ``max_queue_size`` are accepted and ignored.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

from ..hints import Array

if TYPE_CHECKING:
    from ..callbacks import Callback, History
    from ..utils import PyDataset


class Keras2Mixin:
    """Keras 2's generator methods, for :class:`~tinycnn.models.training.Trainer` (which defines ``fit``,
    ``evaluate`` and ``predict``)."""

    def fit_generator(
        self,
        generator: PyDataset | Iterator[Any],
        steps_per_epoch: int | None = None,
        epochs: int = 1,
        verbose: int | str = 1,
        callbacks: Sequence[Callback] | None = None,
        validation_data: tuple[Any, ...] | list[Any] | PyDataset | Iterator[Any] | None = None,
        validation_steps: int | None = None,
        initial_epoch: int = 0,
        shuffle: bool = True,
        **ignored: Any,
    ) -> History:
        """Keras 2's spelling of ``fit(generator, ...)`` (``workers``, ``use_multiprocessing``,
        ``max_queue_size`` are accepted and ignored)."""
        return self.fit(
            generator,
            steps_per_epoch=steps_per_epoch,
            epochs=epochs,
            verbose=verbose,
            callbacks=callbacks,
            validation_data=validation_data,
            validation_steps=validation_steps,
            initial_epoch=initial_epoch,
            shuffle=shuffle,
        )

    def evaluate_generator(
        self, generator: PyDataset | Iterator[Any], steps: int | None = None, verbose: int | str = 0, **ignored: Any
    ) -> float | list[float] | dict[str, float]:
        """Keras 2's spelling of ``evaluate(generator, steps=...)``."""
        return self.evaluate(generator, steps=steps, verbose=verbose)

    def predict_generator(
        self, generator: PyDataset | Iterator[Any], steps: int | None = None, verbose: int | str = 0, **ignored: Any
    ) -> Array | list[Array]:
        """Keras 2's spelling of ``predict(generator, steps=...)``."""
        return self.predict(generator, steps=steps, verbose=verbose)
