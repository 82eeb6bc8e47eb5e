"""Models, as ``keras.models``: :class:`Model` (a graph of layers), :class:`Sequential` (a chain), and
``load_model`` for Keras's files. Read in this order:

``model`` (the graph as a layer: structure, weights, summary) -> ``graph`` (running it forward and backward:
the chain rule on a graph) -> ``training`` (compile, fit, the training step) -> ``inference`` (predict,
evaluate) -> ``data`` (how arrays, data sets and generators become batches) -> ``safety`` (the engine lock,
Ctrl-C between steps, the undo of a refused step) -> ``sequential`` -> ``weights_npz`` (tinycnn's weights file).
"""

from .model import Model
from .sequential import Sequential

Functional = Model


def load_model(filepath, compile=True, custom_objects=None, safe_mode=True):
    """Open a Keras model file (``.keras`` or legacy ``.h5``) as a tinycnn model, as
    ``keras.models.load_model``. Nothing in the file is ever unpickled or run: ``custom_objects`` and
    ``safe_mode=False`` are refused."""
    from ..errors import InvalidArgumentError

    if custom_objects:
        raise InvalidArgumentError(
            "load_model: custom_objects are not supported; tinycnn loads only the layers "
            "it has and never runs code from a file"
        )
    if not safe_mode:
        raise InvalidArgumentError("load_model: safe_mode=False is not supported; tinycnn never runs code from a file")
    from .. import saving

    return saving.load_model(filepath, compile=compile)


def save_model(model, filepath, overwrite=True, **kwargs):
    """``model.save(filepath)``, as ``keras.models.save_model``."""
    return model.save(filepath, overwrite=overwrite, **kwargs)


__all__ = ["Model", "Sequential", "Functional", "load_model", "save_model"]
