"""tinycnn's own weights file: an ``.npz`` archive (a zip of ``.npy`` arrays), written atomically.

Keys: ``__format__`` (``tinycnn-weights-v1``), ``__layers__`` (``name:Class`` of every layer holding weights,
in Keras's weight order), then ``NNN/weight`` for layer number ``NNN``'s weight. Loading checks the whole file
-- format, layer classes, names, shapes, dtypes, finiteness -- before a single weight changes, and never
unpickles (``allow_pickle=False``): a weights file cannot run code.

Keras's own files (``.keras``, ``.weights.h5``, ``.h5``) are :mod:`tinycnn.saving`'s business.
"""

import io
import os

import numpy as np

from ..errors import WeightsFileError
from ..utils import atomic_open
from ..validation import check_path, overflows
from .model import leaf_layers

WEIGHTS_FORMAT = "tinycnn-weights-v1"


def is_keras_path(filepath):
    """True for the file names Keras's own formats use (``.keras``, ``.h5``, ``.hdf5``)."""
    try:
        name = os.fspath(filepath)
    except TypeError:
        return False
    return isinstance(name, str) and name.lower().endswith((".keras", ".h5", ".hdf5"))


def check_finite_weights(model, filepath, where):
    """Refuse to write a model holding NaN or infinite weights: every tinycnn loader refuses such a file, so
    writing it would keep a file that cannot be read back (tinycnn never writes what it refuses to read)."""
    for layer in leaf_layers(model):
        for name, w in zip(layer.weight_names, layer.weights):
            if not np.all(np.isfinite(w)):
                bad = int(w.size - np.count_nonzero(np.isfinite(w)))
                raise WeightsFileError(
                    f"{where}: layer {layer.name!r} weight {name!r} holds {bad} NaN or infinite "
                    f"values, so {filepath!r} was not written (tinycnn refuses to load such a "
                    f"file); load the last good weights or rebuild the model, and lower the "
                    f"learning rate or rescale the data"
                )


def save(model, filepath):
    """Write every weight to an ``.npz`` archive, atomically (the old file survives any failure)."""
    layers = leaf_layers(model)
    arrays = {
        "__format__": np.array(WEIGHTS_FORMAT),
        "__layers__": np.array([f"{layer.name}:{type(layer).__name__}" for layer in layers]),
    }
    for i, layer in enumerate(layers):
        for name, w in zip(layer.weight_names, layer.weights):
            arrays[f"{i:03d}/{name}"] = w
    with atomic_open(filepath, "wb") as f:
        np.savez(f, **arrays)


def load(model, filepath):
    """Read weights saved by :func:`save` (``model.save_weights``). The file is validated completely (format, layer
    count, names, shapes, dtypes) before a single weight changes; it is never unpickled."""
    layers = leaf_layers(model)
    filepath = check_path(filepath, "load_weights")
    keras_hint = (
        "; for Keras weights, build the same model in tinycnn and call model.set_weights(keras_model.get_weights())"
    )
    try:
        with open(filepath, "rb") as f:
            raw = f.read()
    except FileNotFoundError:
        raise WeightsFileError(f"no weights file at {filepath!r}") from None
    except OSError as e:
        raise WeightsFileError(f"cannot read the weights file {filepath!r}: {e}") from None
    if not raw.startswith(b"PK\x03\x04"):  # an .npz is a zip archive; say what the file is instead
        kind = (
            "is empty"
            if not raw
            else "holds a single NumPy array (.npy), not an .npz archive"
            if raw.startswith(b"\x93NUMPY")
            else "is an HDF5 file (a Keras .h5?), not an .npz archive"
            if raw.startswith(b"\x89HDF")
            else "is not an .npz (zip) archive"
        )
        raise WeightsFileError(
            f"{filepath!r} {kind}; load_weights reads the .npz files written by "
            f"model.save_weights{keras_hint if 'HDF5' in kind else ''}"
        )
    key = None
    try:
        with np.load(io.BytesIO(raw), allow_pickle=False) as archive:
            data = {}
            for key in archive.files:
                data[key] = archive[key]
    except ValueError as e:
        member = f" (member {key!r})" if key is not None else ""
        if "Object arrays cannot be loaded" in str(e):
            raise WeightsFileError(
                f"{filepath!r}{member} holds object (pickled) arrays; tinycnn never unpickles a "
                f"weights file, since unpickling can run arbitrary code"
            ) from None
        if "Header info length" in str(e):  # NumPy's limit on the .npy header it parses (max_header_size)
            raise WeightsFileError(
                f"{filepath!r}{member}: the array's .npy header is longer than NumPy's safety "
                f"limit for parsing it ({str(e).splitlines()[0]}); save_weights never writes "
                f"such headers, so the file was not written by tinycnn or was altered"
            ) from None
        raise WeightsFileError(f"{filepath!r}{member} is damaged or not a tinycnn weights file: {e}") from None
    except Exception as e:  # BadZipFile, zlib.error, EOFError ...: whatever a damaged archive raises
        raise WeightsFileError(
            f"{filepath!r} is damaged (truncated or corrupted .npz archive): {type(e).__name__}: {e}"
        ) from None
    if str(data.get("__format__", "")) != WEIGHTS_FORMAT:
        looks_keras = any(k in data for k in ("config.json", "model.weights.h5", "metadata.json"))
        raise WeightsFileError(
            f"{filepath!r} was not written by tinycnn's save_weights (no "
            f"{WEIGHTS_FORMAT!r} marker; it holds {sorted(data)[:6]})"
            f"{' -- it looks like a Keras .keras file' if looks_keras else ''}{keras_hint}"
        )
    saved_layers = [str(s) for s in np.asarray(data.get("__layers__", [])).reshape(-1)]
    mine = [type(layer).__name__ for layer in layers]
    theirs = [saved.rsplit(":", 1)[-1] for saved in saved_layers]
    if mine != theirs:
        i = next(i for i in range(max(len(mine), len(theirs))) if mine[i : i + 1] != theirs[i : i + 1])
        model_has = f"{layers[i].name!r} ({mine[i]})" if i < len(mine) else "no layer"
        file_has = f"a {theirs[i]}" if i < len(theirs) else "no layer"
        raise WeightsFileError(
            f"{filepath!r} does not fit this model: it holds weights for {len(theirs)} layers, "
            f"the model has {len(mine)}; the first layer that differs is layer {i}: the "
            f"model has {model_has}, the file has {file_has}"
        )
    new = []
    for i, layer in enumerate(layers):
        for name, w in zip(layer.weight_names, layer.weights):
            key = f"{i:03d}/{name}"
            if key not in data:
                raise WeightsFileError(f"{filepath!r}: layer {i} ({layer.name!r}) lacks weight {name!r}")
            value = data[key]
            if value.shape != w.shape:
                raise WeightsFileError(
                    f"{filepath!r}: layer {i} ({layer.name!r}) weight {name!r} has shape "
                    f"{value.shape}, the model needs {w.shape}"
                )
            if not np.issubdtype(value.dtype, np.floating):
                raise WeightsFileError(
                    f"{filepath!r}: layer {i} ({layer.name!r}) weight {name!r} has dtype "
                    f"{value.dtype}, expected a float array"
                )
            if not np.all(np.isfinite(value)):
                raise WeightsFileError(
                    f"{filepath!r}: layer {i} ({layer.name!r}) weight {name!r} holds NaN or infinite values"
                )
            if overflows(value, layer.dtype):
                raise WeightsFileError(
                    f"{filepath!r}: layer {i} ({layer.name!r}) weight {name!r} holds values "
                    f"up to {float(np.max(np.abs(value))):.3g}, beyond {layer.dtype}'s range "
                    f"(they would load as inf)"
                )
        extra = [k for k in data if k.startswith(f"{i:03d}/") and k[4:] not in layer.weight_names]
        if extra:
            raise WeightsFileError(f"{filepath!r}: layer {i} ({layer.name!r}) has unexpected weights {extra}")
        new.append([data[f"{i:03d}/{name}"] for name in layer.weight_names])
    for layer, ws in zip(layers, new):
        layer.set_weights(ws)
