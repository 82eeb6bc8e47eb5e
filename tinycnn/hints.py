"""The type aliases of tinycnn's hints (PEP 484): the few shapes of values that recur across the API.

Hints describe what the code accepts and returns; nothing checks them at run time. The aliases that name
an *identifier* of one family live with its ``get``: :data:`tinycnn.activations.ActivationLike`,
:data:`tinycnn.initializers.InitializerLike`, :data:`tinycnn.regularizers.RegularizerLike`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Union

import numpy as np
from numpy.typing import ArrayLike, NDArray

__all__ = ["Array", "ArrayLike", "Shape", "ShapeLike", "IntPair", "Pads", "Config", "Logs"]

#: A NumPy array (data, weights, gradients: float32 or float64 in a model; labels may be ints).
Array = NDArray[Any]
#: A shape with the batch axis first; ``None`` for a size not known yet (``(None, 28, 28, 1)``).
Shape = tuple[Union[int, None], ...]
#: A shape as a caller may give it: a tuple or list of sizes (``None`` for unknown ones).
ShapeLike = Sequence[Union[int, None]]
#: Keras's "int or pair" arguments (``kernel_size=3`` or ``(3, 3)``): an int, or a tuple or list of two ints.
IntPair = Union[int, np.integer, tuple[int, int], list[int]]
#: Zero padding around an image, ``(top, bottom, left, right)``.
Pads = tuple[int, int, int, int]
#: A ``get_config()`` dict (JSON-like values).
Config = dict[str, Any]
#: The ``logs`` dict of a training step or epoch (``{"loss": 0.31, "accuracy": 0.9}``).
Logs = dict[str, Any]
