"""The errors tinycnn raises at its public API.

Every error a user can cause is a subclass of :class:`TinyCNNError` *and* of the built-in ``ValueError`` or
``TypeError`` it refines, so ``except ValueError`` keeps working. The message names the problem and the fix.
"""


class TinyCNNError(Exception):
    """Base class of every error tinycnn raises on purpose."""


class InvalidArgumentError(TinyCNNError, ValueError):
    """A hyperparameter or name is invalid (``filters=0``, ``padding="full"``, an unknown loss ...)."""


class InvalidInputError(TinyCNNError, ValueError):
    """Data given to ``fit``/``evaluate``/``predict``/``build`` has the wrong shape, values or labels."""


class InvalidTypeError(TinyCNNError, TypeError):
    """Data or an argument has the wrong type (a string where an array was expected ...)."""


class DataFileError(TinyCNNError, ValueError):
    """A dataset file is missing, truncated, corrupted or not the file it claims to be."""


class WeightsFileError(TinyCNNError, ValueError):
    """A weights file cannot be read, or does not fit the model it is loaded into."""
