"""Keras 3's ``.keras`` archive: a zip of ``metadata.json``, ``config.json`` and ``model.weights.h5``.

``config.json`` is the model's config (:mod:`.model_config`) with ``compile_config`` when compiled;
``model.weights.h5`` is Keras 3's weights layout (:mod:`.h5_weights`); Keras stores the three members
uncompressed. An ``assets/`` folder holds files of layers such as ``TextVectorization``; tinycnn has none, so
an archive with assets is refused. Members are read in memory -- nothing is ever extracted to disk -- and
every name is checked first: a ``../`` path, an absolute path or an unexpected member is refused.
"""

import datetime
import io
import json
import zipfile

from .. import __version__ as tinycnn_version
from . import h5_weights
from .config import refuse
from .legacy_h5 import KERAS_VERSION
from .model_config import compile_from_keras, compile_to_keras, model_from_keras, model_to_keras

CONFIG, METADATA, WEIGHTS = "config.json", "metadata.json", "model.weights.h5"
MAX_JSON_BYTES = 64 << 20  # a config larger than this is not a model tinycnn can hold
MAX_WEIGHTS_BYTES = 16 << 30


def write(f, model):
    """Write ``model`` as a ``.keras`` archive into the open binary file ``f``."""
    import h5py

    config = model_to_keras(model)
    if getattr(model, "optimizer", None) is not None and getattr(model, "loss", None) is not None:
        config["compile_config"] = compile_to_keras(model)
    metadata = {
        "keras_version": KERAS_VERSION,
        "date_saved": datetime.datetime.now().strftime("%Y-%m-%d@%H:%M:%S"),
        "tinycnn_version": tinycnn_version,
    }
    weights = io.BytesIO()
    with h5py.File(weights, "w") as h5:
        h5_weights.write(h5, model)
    with zipfile.ZipFile(f, "w", compression=zipfile.ZIP_STORED) as zf:
        zf.writestr(METADATA, json.dumps(metadata))
        zf.writestr(CONFIG, json.dumps(config))
        zf.writestr(WEIGHTS, weights.getvalue())


def _check_names(zf, where):
    names = zf.namelist()
    for name in names:
        parts = name.replace("\\", "/").split("/")
        if name.startswith(("/", "\\")) or ".." in parts or ":" in parts[0]:
            raise refuse(f"{where}: the archive holds a member with an unsafe path {name!r}; refused")
    unexpected = [n for n in names if n not in (CONFIG, METADATA, WEIGHTS)]
    if any(n.startswith("assets/") for n in unexpected):
        raise refuse(
            f"{where}: the archive holds assets ({unexpected[:3]}), which belong to layers tinycnn does not have"
        )
    if unexpected:
        raise refuse(f"{where}: the archive holds members a Keras 3 model file does not have: {unexpected[:5]}")
    if CONFIG not in names:
        raise refuse(f"{where} is a zip archive without {CONFIG}: not a Keras .keras model file")


def _read_member(zf, name, limit, where):
    info = zf.getinfo(name)
    if info.file_size > limit:
        raise refuse(f"{where}: {name} claims {info.file_size} bytes, more than tinycnn reads ({limit})")
    with zf.open(info) as member:
        data = member.read(limit + 1)
    if len(data) > limit:
        raise refuse(f"{where}: {name} is larger than it claims")
    return data


def _json(data, name, where):
    try:
        value = json.loads(data.decode("utf8"))
    except (ValueError, UnicodeDecodeError) as e:
        raise refuse(f"{where}: {name} is not valid JSON ({e})") from None
    if not isinstance(value, dict):
        raise refuse(f"{where}: {name} should hold a JSON object")
    return value


def read(f, where, compile=True):
    """A new tinycnn model from an open ``.keras`` archive ``f``; checked whole before it is returned."""
    import h5py

    with zipfile.ZipFile(f) as zf:
        _check_names(zf, where)
        config = _json(_read_member(zf, CONFIG, MAX_JSON_BYTES, where), CONFIG, where)
        if METADATA in zf.namelist():
            _json(_read_member(zf, METADATA, MAX_JSON_BYTES, where), METADATA, where)
        weights = _read_member(zf, WEIGHTS, MAX_WEIGHTS_BYTES, where) if WEIGHTS in zf.namelist() else None
    model = model_from_keras(config, f"{where}, {CONFIG}")
    compile_config = config.get("compile_config")
    if compile and compile_config:
        optimizer, loss, metrics = compile_from_keras(compile_config, f"{where}, compile_config")
        model.compile(optimizer=optimizer, loss=loss, metrics=metrics)
    has_weights = any(layer.weight_names for layer in model.layers)
    if weights is None:
        if has_weights:
            raise refuse(f"{where}: the archive has no {WEIGHTS}, but the model has weights")
        return model
    with h5py.File(io.BytesIO(weights), "r") as h5:
        run = h5_weights.plan(h5, model, f"{where}, {WEIGHTS}", with_optimizer=compile)
    run()
    return model
