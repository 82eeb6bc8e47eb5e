"""Keras configs <-> tinycnn objects: layers, models, compile settings, optimizers. Table-driven.

A Keras file describes a model as JSON: one entry per layer, ``{"class_name": "Conv2D", "config": {...}}``
(Keras 3 adds ``"module"`` and ``"registered_name"``), and for functional models the graph as
``inbound_nodes``. Keras 3 writes this with ``keras.saving.serialize_keras_object``; ``tf.keras`` (Keras 2) wrote
an older spelling of the same thing. Both are read here, and Keras 3's is written.

Each Keras layer tinycnn has is **one row of** :data:`LAYERS`: the Keras class name, the tinycnn class, and
what every key of its config means to tinycnn:

* ``args``  -- keys that become constructor arguments (with a converter each way);
* ``fixed`` -- keys that change the numbers but that tinycnn only runs at one value (``groups: 1``,
  ``kernel_regularizer: None``, ``data_format: "channels_last"`` ...): any other value is refused;
* ``cosmetic`` -- keys with no effect on the numbers (``seed`` of an initializer, ``synchronized``): ignored.

A key in none of these is refused with its name, so a newer Keras option is never silently dropped.
Nothing from a file is ever run: class names are looked up in these tables, never imported.
"""

from .. import errors
from .values import (  # noqa: F401
    _INITIALIZER_COSMETIC,
    _INITIALIZERS,
    _KERAS_ACTIVATIONS,
    _KERAS_LAYERS_MODULE,
    Arg,
    _as_tuple,
    _axis_from_keras,
    _identity,
    _json,
    _list,
    _nested_list,
    _nested_tuple,
    _tuple,
    activation_from_keras,
    activation_to_keras,
    check_builtin,
    dtype_from_keras,
    dtype_to_keras,
    initializer_from_keras,
    initializer_to_keras,
    refuse,
    regularizer_from_keras,
    regularizer_to_keras,
    to_snake_case,
)

_INIT = dict(load=initializer_from_keras, save=initializer_to_keras)
_ACT = dict(load=activation_from_keras, save=activation_to_keras)
_REG = dict(load=regularizer_from_keras, save=regularizer_to_keras)
_SHAPE = dict(load=_tuple, save=_list)
_NO_ACTIVITY = {"activity_regularizer": None, "kernel_constraint": None, "bias_constraint": None}
_CHANNELS_LAST = {"data_format": "channels_last"}
_CONV = [
    Arg("filters"),
    Arg("kernel_size", **_SHAPE),
    Arg("strides", **_SHAPE),
    Arg("padding"),
    Arg("dilation_rate", **_SHAPE),
    Arg("activation", **_ACT),
    Arg("use_bias"),
    Arg("kernel_initializer", **_INIT),
    Arg("bias_initializer", **_INIT),
    Arg("kernel_regularizer", **_REG),
    Arg("bias_regularizer", **_REG),
]


def _bn_init(weight):
    return lambda layer: layer.initializers[weight]


class LayerSpec:
    """One Keras layer class and how its config maps onto a tinycnn layer (see the module docstring).

    ``fixed`` maps a key to the one value tinycnn runs (``None`` in a file is taken as that value too for
    ``data_format``, as Keras does); ``cosmetic`` keys are ignored on reading and not written.
    """

    def __init__(self, keras, tiny=None, args=(), fixed=None, cosmetic=()):
        self.keras, self.tiny = keras, tiny or keras
        self.args = list(args)
        self.fixed = dict(fixed or {})
        self.cosmetic = set(cosmetic)


_POOL = [Arg("pool_size", **_SHAPE), Arg("strides", **_SHAPE), Arg("padding")]
_GLOBAL_POOL = dict(args=[Arg("keepdims")], fixed=_CHANNELS_LAST)

#: Keras class name -> how to read and write it. One row per layer; add a row for a new tinycnn layer.
LAYERS = {
    spec.keras: spec
    for spec in [
        LayerSpec(
            "Dense",
            args=[
                Arg("units"),
                Arg("activation", **_ACT),
                Arg("use_bias"),
                Arg("kernel_initializer", **_INIT),
                Arg("bias_initializer", **_INIT),
                Arg("kernel_regularizer", **_REG),
                Arg("bias_regularizer", **_REG),
            ],
            fixed={**_NO_ACTIVITY, "quantization_config": None, "lora_rank": None},
            cosmetic={"lora_alpha"},
        ),
        LayerSpec(
            "Conv2D",
            args=_CONV,
            fixed={**_NO_ACTIVITY, **_CHANNELS_LAST, "groups": 1, "lora_rank": None},
            cosmetic={"lora_alpha"},
        ),
        LayerSpec(
            "Conv1D",
            args=_CONV,
            fixed={**_NO_ACTIVITY, **_CHANNELS_LAST, "groups": 1, "lora_rank": None},
            cosmetic={"lora_alpha"},
        ),
        LayerSpec("Activation", args=[Arg("activation", **_ACT)]),
        LayerSpec("ReLU", args=[Arg("max_value"), Arg("negative_slope"), Arg("threshold")]),
        LayerSpec("LeakyReLU", args=[Arg("negative_slope"), Arg("alpha", write=False)]),  # alpha: Keras 2
        LayerSpec("Softmax", args=[Arg("axis")]),
        LayerSpec(
            "BatchNormalization",
            args=[
                Arg("axis", load=_axis_from_keras),
                Arg("momentum"),
                Arg("epsilon"),
                Arg("center"),
                Arg("scale"),
                Arg("beta_initializer", get=_bn_init("beta"), **_INIT),
                Arg("gamma_initializer", get=_bn_init("gamma"), **_INIT),
                Arg("moving_mean_initializer", get=_bn_init("moving_mean"), **_INIT),
                Arg("moving_variance_initializer", get=_bn_init("moving_variance"), **_INIT),
            ],
            fixed={
                "beta_regularizer": None,
                "gamma_regularizer": None,
                "beta_constraint": None,
                "gamma_constraint": None,
                "renorm": False,
                "renorm_clipping": None,
                "fused": None,
                "virtual_batch_size": None,
                "adjustment": None,
            },
            cosmetic={"synchronized", "renorm_momentum"},
        ),
        LayerSpec("MaxPooling2D", args=_POOL, fixed=_CHANNELS_LAST),
        LayerSpec("AveragePooling2D", args=_POOL, fixed=_CHANNELS_LAST),
        LayerSpec("MaxPooling1D", args=_POOL, fixed=_CHANNELS_LAST),
        LayerSpec("AveragePooling1D", args=_POOL, fixed=_CHANNELS_LAST),
        LayerSpec("GlobalAveragePooling2D", **_GLOBAL_POOL),
        LayerSpec("GlobalMaxPooling2D", **_GLOBAL_POOL),
        LayerSpec("GlobalAveragePooling1D", **_GLOBAL_POOL),
        LayerSpec("GlobalMaxPooling1D", **_GLOBAL_POOL),
        LayerSpec("Dropout", args=[Arg("rate"), Arg("noise_shape", load=_tuple, save=_nested_list), Arg("seed")]),
        LayerSpec("Flatten", fixed=_CHANNELS_LAST),
        LayerSpec("Reshape", args=[Arg("target_shape", **_SHAPE)]),
        LayerSpec("ZeroPadding2D", args=[Arg("padding", load=_nested_tuple, save=_nested_list)], fixed=_CHANNELS_LAST),
        LayerSpec("UpSampling2D", args=[Arg("size", **_SHAPE), Arg("interpolation")], fixed=_CHANNELS_LAST),
        LayerSpec("Rescaling", args=[Arg("scale"), Arg("offset")]),
        LayerSpec(
            "Normalization",
            args=[Arg("axis", load=_nested_tuple, save=_nested_list), Arg("mean"), Arg("variance"), Arg("invert")],
        ),
        LayerSpec("Add"),
        LayerSpec("Subtract"),
        LayerSpec("Average"),
        LayerSpec("Multiply"),
        LayerSpec("Maximum"),
        LayerSpec("Minimum"),
        LayerSpec("Concatenate", args=[Arg("axis")]),
    ]
}
#: Keras 2 spellings of the same classes.
ALIASES = {"MaxPool2D": "MaxPooling2D", "AvgPool2D": "AveragePooling2D", "Convolution2D": "Conv2D"}
#: Keys every layer's config may hold, handled here rather than per row.
_BASE_KEYS = {"name", "trainable", "dtype", "batch_input_shape", "batch_shape", "input_shape", "input_dim"}

_REFUSED_CLASSES = {
    "Lambda": "a Lambda layer holds Python code (marshalled bytecode); tinycnn never runs code from a file",
    "TFOpLambda": "a TFOpLambda layer is a TensorFlow operation recorded as code; tinycnn never runs code from a file",
}


def _tiny_layers():
    from .. import layers

    return layers


def _tiny_class(spec):
    cls = getattr(_tiny_layers(), spec.tiny, None)
    if cls is None:
        raise refuse(f"Keras layer {spec.keras!r}: tinycnn has no {spec.tiny} layer yet")
    return cls


def spec_for_keras(class_name, where):
    class_name = ALIASES.get(class_name, class_name)
    if class_name in _REFUSED_CLASSES:
        raise refuse(f"{where}: {_REFUSED_CLASSES[class_name]}")
    spec = LAYERS.get(class_name)
    if spec is None or getattr(_tiny_layers(), spec.tiny, None) is None:
        raise refuse(f"{where}: layer class {class_name!r} is not one tinycnn has")
    return spec


def spec_for_layer(layer):
    """The table row of a tinycnn layer (by class: ``MaxPool2D`` is ``MaxPooling2D``)."""
    for spec in LAYERS.values():
        cls = getattr(_tiny_layers(), spec.tiny, None)
        if cls is not None and type(layer) is cls:
            return spec
    raise refuse(
        f"layer {layer.name!r} ({type(layer).__name__}) has no Keras equivalent, so the model cannot "
        f"be written as a Keras file (use model.save_weights('x.npz') for tinycnn's own format)"
    )


def keras_class_name(layer):
    """The Keras class name of a tinycnn layer (``InputLayer`` included)."""
    if type(layer).__name__ == "InputLayer":
        return "InputLayer"
    return spec_for_layer(layer).keras


def layer_from_keras(entry, where, input_shape=None):
    """A new tinycnn layer from one Keras layer entry ``{"class_name", "config", ...}``.

    ``input_shape`` (no batch axis) is passed on for the first layer of a Sequential model. Every key of the
    config is checked before the layer is made.
    """
    class_name = check_builtin(entry, where)
    spec = spec_for_keras(class_name, where)
    config = entry.get("config")
    if not isinstance(config, dict):
        raise refuse(f"{where}: the {class_name} entry has no config object")
    name = config.get("name")
    where = f"{where} ({class_name} {name!r})"
    kwargs = {}
    known = {a.keras for a in spec.args}
    for key, value in config.items():
        if key in known or key in spec.cosmetic or key in _BASE_KEYS:
            continue
        if key in spec.fixed:
            allowed = spec.fixed[key]
            if value != allowed and not (key == "data_format" and value is None):
                raise refuse(f"{where}: {key}={value!r} is not supported by tinycnn (only {allowed!r})")
            continue
        raise refuse(f"{where}: config key {key!r} (= {value!r}) is not understood by tinycnn's reader")
    for arg in spec.args:
        if arg.keras in config:
            kwargs[arg.tiny] = arg.load(config[arg.keras], where)
    if name is not None:
        if not isinstance(name, str):
            raise refuse(f"{where}: the layer name must be a string")
        kwargs["name"] = name
    if "trainable" in config:
        kwargs["trainable"] = bool(config["trainable"])
    dtype = dtype_from_keras(config.get("dtype"), where)
    if dtype is not None:
        kwargs["dtype"] = dtype
    if input_shape is not None:
        kwargs["input_shape"] = tuple(input_shape)
    try:
        return _tiny_class(spec)(**kwargs)
    except errors.TinyCNNError as e:
        raise refuse(f"{where}: tinycnn refuses the layer's settings: {e}") from None


def _tiny_value(layer, config, arg):
    if arg.get is not None:
        return arg.get(layer)
    if arg.tiny in config:
        return config[arg.tiny]
    return getattr(layer, arg.tiny, arg.default)


def layer_to_keras(layer, with_module=True):
    """The Keras 3 entry of a tinycnn layer (``with_module=False``: the legacy ``.h5`` spelling)."""
    where = f"layer {layer.name!r}"
    if type(layer).__name__ == "InputLayer":
        return input_layer_entry(layer.name, layer.batch_shape, layer.dtype, with_module)
    spec = spec_for_layer(layer)
    tiny_config = layer.get_config()
    config = {"name": layer.name, "trainable": bool(layer.trainable), "dtype": dtype_to_keras(layer.dtype)}
    for arg in (a for a in spec.args if a.write):
        config[arg.keras] = _json(arg.save(_tiny_value(layer, tiny_config, arg), where))
    for key, value in spec.fixed.items():
        if key in ("quantization_config", "lora_rank", "fused", "virtual_batch_size", "adjustment"):
            continue  # written by neither Keras 3 nor needed: leave Keras's default
        config[key] = value
    entry = {"module": _KERAS_LAYERS_MODULE, "class_name": spec.keras, "config": config, "registered_name": None}
    if layer.weight_names and layer.input_shape is not None:
        entry["build_config"] = {"input_shape": _json(layer.input_shape)}
    if not with_module:
        entry = {"class_name": spec.keras, "config": config}
    return entry


def input_layer_entry(name, batch_shape, dtype, with_module=True):
    config = {
        "batch_shape": _json(batch_shape),
        "dtype": dtype,
        "sparse": False,
        "ragged": False,
        "name": name,
        "optional": False,
    }
    if with_module:
        return {"module": _KERAS_LAYERS_MODULE, "class_name": "InputLayer", "config": config, "registered_name": None}
    return {"class_name": "InputLayer", "config": config}


def input_layer_from_keras(entry, where):
    """``(name, batch_shape, dtype)`` of a Keras ``InputLayer`` entry (Keras 3 ``batch_shape``, Keras 2
    ``batch_input_shape``)."""
    check_builtin(entry, where)
    config = entry.get("config")
    if not isinstance(config, dict):
        raise refuse(f"{where}: the InputLayer entry has no config object")
    for key in ("sparse", "ragged", "optional"):
        if config.get(key):
            raise refuse(f"{where}: InputLayer {key}=True is not supported by tinycnn")
    unknown = set(config) - {"batch_shape", "batch_input_shape", "dtype", "sparse", "ragged", "name", "optional"}
    if unknown:
        raise refuse(f"{where}: InputLayer config keys {sorted(unknown)} are not understood by tinycnn's reader")
    shape = config.get("batch_shape", config.get("batch_input_shape"))
    if (
        not isinstance(shape, list)
        or len(shape) < 2
        or not all(d is None or (isinstance(d, int) and not isinstance(d, bool) and d > 0) for d in shape)
    ):
        raise refuse(f"{where}: InputLayer has no valid batch_shape (got {shape!r})")
    return config.get("name"), tuple(shape), dtype_from_keras(config.get("dtype"), where)
