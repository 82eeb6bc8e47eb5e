"""Keras's model files, read and written without TensorFlow: ``.keras``, ``.weights.h5`` and legacy ``.h5``.

==========================  =======================================================  ========================
file                        what it holds                                            module
==========================  =======================================================  ========================
``x.keras``                 Keras 3's zip: ``config.json`` (the model, its compile   :mod:`.keras_archive`
                            settings), ``metadata.json``, ``model.weights.h5``
``x.weights.h5``            Keras 3's weights layout (and the optimizer's state)     :mod:`.h5_weights`
``x.h5`` / ``x.hdf5``       legacy HDF5 (tf.keras / Keras 2, Keras 3's legacy        :mod:`.legacy_h5`
                            writer): whole model, or weights only
==========================  =======================================================  ========================

The configs are translated by tables (:mod:`.config` for layers, :mod:`.model_config` for models, compile
settings and optimizers); the format Keras writes is the specification, and the tests hold tinycnn's files
to Keras's reader and Keras's files to tinycnn's.

Safety, by construction: HDF5 is read through ``h5py`` (plain in-file numeric datasets only; links to other
files refused), JSON through ``json``; nothing is unpickled, imported or run from a file. A class tinycnn
does not have, a ``Lambda`` layer or a custom object is refused with its name. A file is checked whole
against the model (classes, counts, shapes, finiteness) before any weight changes, and every problem is a
:class:`~tinycnn.errors.WeightsFileError` naming it. Writes are atomic (a temporary file, then
``os.replace``).
"""

import io
import zipfile

from ..errors import TinyCNNError, WeightsFileError
from ..utils import atomic_open
from . import h5_weights, keras_archive, legacy_h5

__all__ = ["save_model", "load_model", "save_weights", "load_weights"]

_ZIP, _HDF5 = b"PK\x03\x04", b"\x89HDF\r\n\x1a\n"


def _path(filepath):
    from ..validation import check_path

    return check_path(filepath, "tinycnn.saving")


def _kind(path):
    lower = path.lower()
    if lower.endswith(".keras"):
        return "keras"
    if lower.endswith(".weights.h5"):
        return "weights"
    if lower.endswith((".h5", ".hdf5")):
        return "legacy"
    return None


def _read_bytes(path, what):
    try:
        with open(path, "rb") as f:
            return f.read()
    except FileNotFoundError:
        raise WeightsFileError(f"no {what} at {path!r}") from None
    except OSError as e:
        raise WeightsFileError(f"cannot read the {what} {path!r}: {e}") from None


def _describe(raw):
    if not raw:
        return "is empty"
    if raw.startswith(_ZIP):
        return "is a zip archive"
    if raw.startswith(_HDF5):
        return "is an HDF5 file"
    if raw.startswith(b"\x93NUMPY"):
        return "is a NumPy .npy array"
    return "is neither a zip archive (.keras) nor an HDF5 file (.h5)"


def _guard(path, body):
    """Run ``body()``; any low-level error a damaged file raises (zipfile, h5py, OSError, KeyError ...) becomes
    a :class:`WeightsFileError` naming the file. tinycnn's own errors pass through."""
    try:
        return body()
    except TinyCNNError:
        raise
    except (MemoryError, KeyboardInterrupt):
        raise
    except Exception as e:  # BadZipFile, OSError from HDF5, KeyError, zlib.error, EOFError, ValueError ...
        raise WeightsFileError(f"{path!r} is damaged or not a Keras file ({type(e).__name__}: {e})") from None


def _open_h5(raw):
    import h5py

    return h5py.File(io.BytesIO(raw), "r")


# ------------------------------------------------------------------------------------------ whole models
def save_model(model, filepath):
    """Write ``model`` as ``.keras`` (Keras 3's archive) or ``.h5``/``.hdf5`` (legacy HDF5), atomically."""
    path = _path(filepath)
    kind = _kind(path)
    if kind not in ("keras", "legacy") or path.lower().endswith(".weights.h5"):
        raise WeightsFileError(
            f"save: {path!r} -- a Keras model file ends in .keras (or .h5 for the legacy "
            f"format); for weights only use save_weights('x.weights.h5')"
        )
    if not getattr(model, "built", False):
        raise WeightsFileError("save: the model is not built yet; build it (or fit/predict once) first")
    from ..models.weights_npz import check_finite_weights

    check_finite_weights(model, path, "save")
    if kind == "keras":
        with atomic_open(path, "wb") as f:
            keras_archive.write(f, model)
        return
    import h5py

    buffer = io.BytesIO()
    with h5py.File(buffer, "w") as h5:
        legacy_h5.write_model(h5, model)
    with atomic_open(path, "wb") as f:
        f.write(buffer.getvalue())


def load_model(filepath, compile=True):
    """A new tinycnn model from a Keras file: ``.keras`` (Keras 3) or a legacy ``.h5`` full model."""
    path = _path(filepath)
    raw = _read_bytes(path, "model file")
    if raw.startswith(_ZIP):
        return _guard(path, lambda: keras_archive.read(io.BytesIO(raw), path, compile=compile))
    if raw.startswith(_HDF5):

        def body():
            with _open_h5(raw) as h5:
                if "layers" in h5 and "model_config" not in h5.attrs:
                    raise WeightsFileError(
                        f"{path!r} is a Keras 3 weights file (.weights.h5), not a model; build "
                        f"the model and call model.load_weights({path!r})"
                    )
                return legacy_h5.read_model(h5, path, compile=compile)

        return _guard(path, body)
    raise WeightsFileError(
        f"{path!r} {_describe(raw)}; load_model reads Keras's .keras archives and legacy .h5 model files"
    )


# ------------------------------------------------------------------------------------------ weights
def save_weights(model, filepath):
    """Write the weights: ``*.weights.h5`` in Keras 3's layout (with the optimizer's state when compiled),
    any other ``.h5`` in the legacy layout of tf.keras's ``save_weights``. Atomic."""
    import h5py

    from ..models.weights_npz import check_finite_weights

    path = _path(filepath)
    check_finite_weights(model, path, "save_weights")
    kind = _kind(path)
    if kind not in ("weights", "legacy"):
        raise WeightsFileError(f"save_weights: {path!r} -- Keras weights files end in .weights.h5 (or .h5)")
    buffer = io.BytesIO()
    with h5py.File(buffer, "w") as h5:
        if kind == "weights":
            h5_weights.write(h5, model)
        else:
            legacy_h5.write_weights_group(h5, model)
    with atomic_open(path, "wb") as f:
        f.write(buffer.getvalue())


def load_weights(model, filepath):
    """Read Keras weights into ``model``: a ``.weights.h5`` (Keras 3; the optimizer's state too when the model
    is compiled and the file has it), a legacy ``.h5`` (weights-only or a whole model's ``model_weights``)
    or the weights inside a ``.keras`` archive. The whole file is checked before any weight changes."""
    path = _path(filepath)
    raw = _read_bytes(path, "weights file")
    if raw.startswith(_ZIP):

        def from_archive():
            with zipfile.ZipFile(io.BytesIO(raw)) as zf:
                keras_archive._check_names(zf, path)
                if keras_archive.WEIGHTS not in zf.namelist():
                    raise WeightsFileError(f"{path!r} holds no {keras_archive.WEIGHTS}")
                data = keras_archive._read_member(zf, keras_archive.WEIGHTS, keras_archive.MAX_WEIGHTS_BYTES, path)
            with _open_h5(data) as h5:
                return h5_weights.plan(h5, model, path)

        run = _guard(path, from_archive)
    elif raw.startswith(_HDF5):

        def body():
            with _open_h5(raw) as h5:
                if "layers" in h5:
                    return h5_weights.plan(h5, model, path)
                group = h5
                if "layer_names" not in h5.attrs and "layer_names0" not in h5.attrs and "model_weights" in h5:
                    group = h5_weights._group(h5, "model_weights", path)
                return legacy_h5.plan_weights_group(group, model, path)

        run = _guard(path, body)
    else:
        raise WeightsFileError(f"{path!r} {_describe(raw)}; Keras weights files are HDF5 (.weights.h5, .h5)")
    run()
