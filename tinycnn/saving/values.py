"""The small pieces of a Keras config, both ways: refusals, names, initializers, activations, dtypes,
regularizers, shapes."""

import re

from .. import errors

_KERAS_LAYERS_MODULE = "keras.layers"


def refuse(message):
    """The one error this package raises for a file it will not read or a model it cannot write."""
    return errors.WeightsFileError(message)


# ------------------------------------------------------------------------------------------ naming
def to_snake_case(name):
    """``MaxPooling2D -> max_pooling2d``: the rule Keras uses for layer and weight-group names."""
    name = re.sub(r"\W+", "", name)
    name = re.sub("(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub("([a-z])([A-Z])", r"\1_\2", name).lower()


# ------------------------------------------------------------------------------------------ values
def _as_tuple(value):
    return tuple(value) if isinstance(value, (list, tuple)) else value


def _json(value):
    """Tuples to lists (JSON arrays), recursively; numpy scalars to Python numbers."""
    if isinstance(value, (list, tuple)):
        return [_json(v) for v in value]
    if isinstance(value, dict):
        return {k: _json(v) for k, v in value.items()}
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):
        return value.item()
    return value


def check_builtin(entry, what):
    """Refuse an entry that names a custom (user-registered) object: only Keras's own classes are read."""
    if not isinstance(entry, dict):
        raise refuse(f"{what}: expected a JSON object, got {type(entry).__name__}")
    class_name = entry.get("class_name")
    if not isinstance(class_name, str):
        raise refuse(f"{what}: no class_name")
    module = entry.get("module")
    registered = entry.get("registered_name")
    if module is not None and not (isinstance(module, str) and (module == "keras" or module.startswith("keras."))):
        raise refuse(
            f"{what}: {class_name!r} is a custom object (module {module!r}); tinycnn reads only Keras's "
            f"built-in classes and never runs code from a file"
        )
    if registered is not None and registered != class_name:
        raise refuse(
            f"{what}: {class_name!r} is a custom object (registered_name {registered!r}); tinycnn "
            f"reads only Keras's built-in classes and never runs code from a file"
        )
    return class_name


_INITIALIZERS = {  # Keras class -> tinycnn name; the config keys whose default values tinycnn's initializer uses
    "Zeros": ("zeros", {}),
    "Ones": ("ones", {}),
    "GlorotUniform": ("glorot_uniform", {}),
    "GlorotNormal": ("glorot_normal", {}),
    "HeUniform": ("he_uniform", {}),
    "HeNormal": ("he_normal", {}),
    "RandomNormal": ("random_normal", {"mean": 0.0, "stddev": 0.05}),
    "RandomUniform": ("random_uniform", {"minval": -0.05, "maxval": 0.05}),
}
_INITIALIZER_COSMETIC = {"seed", "input_axes", "output_axes"}  # a seed only changes a fresh initialization


def initializer_from_keras(value, where):
    if isinstance(value, str):
        names = {name: cls for cls, (name, _) in _INITIALIZERS.items()}
        if value.lower() in names:
            return value.lower()
        raise refuse(f"{where}: initializer {value!r} is not one tinycnn has ({sorted(names)})")
    class_name = check_builtin(value, where)
    if class_name not in _INITIALIZERS:
        raise refuse(f"{where}: initializer {class_name!r} is not one tinycnn has ({sorted(_INITIALIZERS)})")
    name, defaults = _INITIALIZERS[class_name]
    config = value.get("config") or {}
    for key, v in config.items():
        if key in _INITIALIZER_COSMETIC:
            continue
        if key not in defaults or v != defaults[key]:
            raise refuse(
                f"{where}: initializer {class_name} with {key}={v!r} is not supported "
                f"(tinycnn's {name} uses {defaults or 'no arguments'})"
            )
    return name


def initializer_to_keras(name, where):
    if not isinstance(name, str):
        raise refuse(
            f"{where}: the initializer {name!r} is a Python callable; a Keras file can only name "
            f"Keras's built-in initializers"
        )
    for cls, (tiny, defaults) in _INITIALIZERS.items():
        if tiny == name.lower():
            config = dict(defaults) if defaults else {}
            if cls not in ("Zeros", "Ones"):
                config = {"seed": None, **config}
            return {"module": "keras.initializers", "class_name": cls, "config": config, "registered_name": None}
    raise refuse(f"{where}: initializer {name!r} has no Keras equivalent")


_KERAS_ACTIVATIONS = {
    "linear",
    "relu",
    "sigmoid",
    "tanh",
    "softmax",
    "elu",
    "selu",
    "softplus",
    "softsign",
    "swish",
    "silu",
    "gelu",
    "exponential",
    "relu6",
    "leaky_relu",
    "hard_sigmoid",
}


def activation_from_keras(value, where):
    if value is None:
        return "linear"
    if isinstance(value, dict):  # Keras 3 writes built-ins as plain names; a dict is a custom function
        name = value.get("config") if value.get("class_name") == "function" else None
        if (
            isinstance(name, str)
            and value.get("module") in ("keras.activations", "keras.src.activations")
            and name in _KERAS_ACTIVATIONS
        ):
            return name
        raise refuse(
            f"{where}: activation {value.get('class_name')!r} {value.get('config')!r} is a custom "
            f"object; tinycnn reads only Keras's built-in activations by name"
        )
    if not isinstance(value, str) or value not in _KERAS_ACTIVATIONS:
        raise refuse(f"{where}: activation {value!r} is not a Keras built-in activation tinycnn has")
    return value


def activation_to_keras(name, where):
    if not isinstance(name, str) or name not in _KERAS_ACTIVATIONS:
        raise refuse(
            f"{where}: activation {name!r} cannot be written to a Keras file (Keras's built-ins: "
            f"{sorted(_KERAS_ACTIVATIONS)})"
        )
    return name


def dtype_from_keras(value, where):
    """``"float32"`` or Keras 3's ``DTypePolicy`` dict -> ``"float32"``/``"float64"``; mixed precision refused."""
    if value is None:
        return None
    if isinstance(value, dict):
        check_builtin(value, where)
        value = (value.get("config") or {}).get("name")
    if value not in ("float32", "float64"):
        raise refuse(f"{where}: dtype policy {value!r} is not supported (tinycnn computes in float32 or float64)")
    return value


def dtype_to_keras(dtype):
    return {"module": "keras", "class_name": "DTypePolicy", "config": {"name": dtype}, "registered_name": None}


def _axis_from_keras(value, where):
    if isinstance(value, (list, tuple)):  # Keras 2's BatchNormalization wrote axis=[3]
        if len(value) != 1:
            raise refuse(f"{where}: normalization over several axes {value!r} is not supported")
        value = value[0]
    return value


def _identity(value, where):
    return value


def _tuple(value, where):
    return _as_tuple(value)


def _list(value, where):
    return list(value)


class Arg:
    """A Keras config key that becomes the tinycnn constructor argument ``tiny`` (same name by default)."""

    def __init__(self, keras, tiny=None, load=_identity, save=_identity, default=None, get=None, write=True):
        self.keras, self.tiny, self.load, self.save, self.default = keras, tiny or keras, load, save, default
        self.write = write  # False: an old spelling, read but not written
        self.get = get  # ``get(layer)``: the value to write, where get_config does not report it


def regularizer_from_keras(value, where):
    if value is None:
        return None
    from .. import regularizers

    if isinstance(value, dict):
        check_builtin(value, where)
    try:
        return regularizers.get(value)
    except errors.TinyCNNError as e:
        raise refuse(f"{where}: regularizer {value!r} is not one tinycnn has ({e})") from None


def regularizer_to_keras(value, where):
    if value is None:
        return None
    from .. import regularizers

    if isinstance(value, dict):  # a layer's get_config reports its regularizer serialized
        value = regularizer_from_keras(value, where)
    if type(value) not in (regularizers.L1, regularizers.L2, regularizers.L1L2):
        raise refuse(f"{where}: regularizer {value!r} is not one of Keras's (L1, L2, L1L2)")
    return {
        "module": "keras.regularizers",
        "class_name": type(value).__name__,
        "config": _json(value.get_config()),
        "registered_name": None,
    }


def _nested_tuple(value, where):
    return tuple(_nested_tuple(v, where) for v in value) if isinstance(value, (list, tuple)) else value


def _nested_list(value, where):
    return [_nested_list(v, where) for v in value] if isinstance(value, (list, tuple)) else value
