"""save_weights / load_weights: nothing a user saved is lost, nothing a file holds is executed, and a file
that does not fit is refused before a single weight changes."""

import io
import os
import pickle
import zipfile

import numpy as np
import pytest

from tinycnn.errors import InvalidArgumentError, WeightsFileError
from tinycnn.layers import BatchNormalization, Conv2D, Dense, Flatten, MaxPooling2D
from tinycnn.models import Sequential
from tinycnn.utils import set_random_seed


def model(units=3, seed=0, extra=False):
    """Conv2D + BatchNorm + Dense on 8x8x1 images: every kind of weight (trainable and moving statistics)."""
    set_random_seed(seed)
    layers = [
        Conv2D(2, 3, input_shape=(8, 8, 1)),
        BatchNormalization(),
        MaxPooling2D(),
        Flatten(),
        Dense(units, activation="softmax"),
    ]
    if extra:
        layers.append(Dense(2))
    m = Sequential(layers)
    # distinct, non-default values everywhere (moving statistics included), so a partial load would show
    m.set_weights([w + np.random.default_rng(seed).normal(size=w.shape) for w in m.get_weights()])
    return m


def snapshot(m):
    return [w.copy() for w in m.get_weights()]


def unchanged(m, before):
    return all(np.array_equal(a, b) for a, b in zip(before, m.get_weights()))


def arrays_of(path):
    with np.load(path, allow_pickle=False) as f:
        return {k: f[k] for k in f.files}


def refuse(m, path, *words):
    """load_weights must raise WeightsFileError with ``words`` in the message and change nothing."""
    before = snapshot(m)
    with pytest.raises(WeightsFileError) as info:
        m.load_weights(path)
    assert isinstance(info.value, ValueError)
    for word in words:
        assert word in str(info.value), f"{word!r} not in: {info.value}"
    assert unchanged(m, before)
    return str(info.value)


# -------------------------------------------------------------------------------------------- round trip
def test_round_trip_is_exact_for_every_weight(tmp_path):
    a, b = model(seed=0), model(seed=1)
    assert not unchanged(b, snapshot(a))
    a.save_weights(tmp_path / "w.npz")
    b.load_weights(str(tmp_path / "w.npz"))
    assert unchanged(b, snapshot(a))
    assert len(b.get_weights()) == 2 + 4 + 2  # conv kernel/bias, BN gamma/beta/moving mean/variance, dense


def test_save_creates_the_folder_and_unbuilt_models_are_refused(tmp_path):
    model().save_weights(tmp_path / "new" / "dir" / "w.npz")
    assert os.path.exists(tmp_path / "new" / "dir" / "w.npz")
    with pytest.raises(InvalidArgumentError, match="not built"):
        Sequential([Dense(2)]).save_weights(tmp_path / "x.npz")
    with pytest.raises(InvalidArgumentError, match="not built"):
        Sequential([Dense(2)]).load_weights(tmp_path / "new" / "dir" / "w.npz")


# ---------------------------------------------------------------------------------------------- atomic save
@pytest.mark.parametrize("crash", [OSError("No space left on device"), KeyboardInterrupt()])
def test_a_crash_in_the_middle_of_a_save_keeps_the_previous_file(tmp_path, monkeypatch, crash):
    path = tmp_path / "w.npz"
    m = model()
    m.save_weights(path)
    old = path.read_bytes()
    real_savez = np.savez

    def savez_part_then_crash(file, **arrays):
        buffer = io.BytesIO()
        real_savez(buffer, **arrays)
        file.write(buffer.getvalue()[:100])  # half-written archive ...
        raise crash  # ... then the disk fills up, or Ctrl-C

    monkeypatch.setattr(np, "savez", savez_part_then_crash)
    m.layers[0].params["kernel"] += 1.0  # new weights that will fail to be saved
    with pytest.raises(type(crash)):
        m.save_weights(path)
    assert path.read_bytes() == old and os.listdir(tmp_path) == ["w.npz"]  # byte-identical, no temp file left
    monkeypatch.undo()
    other = model(seed=5)
    other.load_weights(path)  # the old file is still a good file


def test_save_writes_a_temp_file_in_the_same_folder_flushes_it_then_replaces(tmp_path, monkeypatch):
    calls = []
    real_fsync, real_replace = os.fsync, os.replace
    monkeypatch.setattr(os, "fsync", lambda fd: (calls.append("fsync"), real_fsync(fd))[1])
    monkeypatch.setattr(
        os,
        "replace",
        lambda src, dst: (
            calls.append(("replace", os.path.dirname(src), os.path.basename(src), dst)),
            real_replace(src, dst),
        )[1],
    )
    model().save_weights(str(tmp_path / "w.npz"))
    assert calls[0] == "fsync" and calls[1][0] == "replace"
    _, folder, temp_name, dst = calls[1]
    assert folder == str(tmp_path) and temp_name.startswith(".w.npz.") and dst == str(tmp_path / "w.npz")


# --------------------------------------------------------------------------------------------- never unpickle
class _Evil:
    """Unpickling this object creates a file: proof that code ran."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, "w"))


def test_an_npz_with_a_pickled_object_is_refused_and_nothing_runs(tmp_path):
    marker = str(tmp_path / "PWNED")
    path = tmp_path / "evil.npz"
    np.savez(path, payload=np.array([_Evil(marker)], dtype=object))
    # the same file in a good tinycnn weights file's clothing
    good = tmp_path / "good.npz"
    model().save_weights(good)
    disguised = arrays_of(good)
    disguised["004/kernel"] = np.array([_Evil(marker)], dtype=object)
    np.savez(tmp_path / "disguised.npz", **disguised)

    m = model(seed=3)
    for name in ("evil.npz", "disguised.npz"):
        message = refuse(m, tmp_path / name, "pickled", "never unpickles")
        assert "allow_pickle" not in message  # no advice to turn the protection off
    assert not os.path.exists(marker)
    # the payload is real: unpickling the file would have run it
    with np.load(path, allow_pickle=True) as f:
        f["payload"]
    assert os.path.exists(marker)


def test_a_plain_pickle_file_is_refused(tmp_path):
    path = tmp_path / "w.pkl"
    path.write_bytes(pickle.dumps(model().get_weights()))
    refuse(model(), path, "not an .npz", "save_weights")


# ---------------------------------------------------------------------------------------- damaged or foreign
@pytest.mark.parametrize("keep", [0.0, 0.1, 0.5, 0.9, 0.999])
def test_a_truncated_file_is_refused(tmp_path, keep):
    model().save_weights(tmp_path / "w.npz")
    raw = (tmp_path / "w.npz").read_bytes()
    (tmp_path / "cut.npz").write_bytes(raw[: int(len(raw) * keep)])
    words = ["is empty"] if keep == 0.0 else ["damaged"]
    refuse(model(seed=1), tmp_path / "cut.npz", *words)


def test_a_flipped_byte_inside_a_weight_is_caught_by_the_checksum(tmp_path):
    m = model()
    m.save_weights(tmp_path / "w.npz")
    raw = bytearray((tmp_path / "w.npz").read_bytes())
    with zipfile.ZipFile(tmp_path / "w.npz") as z:
        info = z.getinfo("004/kernel.npy")
    raw[info.header_offset + 200] ^= 0xFF  # inside the Dense kernel's data
    (tmp_path / "flipped.npz").write_bytes(bytes(raw))
    refuse(model(seed=1), tmp_path / "flipped.npz", "damaged", "CRC")


def test_random_bytes_npy_hdf5_and_missing_files_are_refused(tmp_path):
    m = model()
    (tmp_path / "random.npz").write_bytes(np.random.default_rng(0).bytes(2000))
    refuse(m, tmp_path / "random.npz", "not an .npz (zip) archive")
    np.save(tmp_path / "w.npy", m.get_weights()[0])
    refuse(m, tmp_path / "w.npy", "single NumPy array (.npy)", "save_weights")
    (tmp_path / "w.h5").write_bytes(b"\x89HDF\r\n\x1a\n" + bytes(500))
    refuse(m, tmp_path / "w.h5", "damaged or not a Keras file")  # .h5 goes to Keras's format (tinycnn.saving)
    refuse(m, tmp_path / "nothing.npz", "no weights file")
    refuse(m, tmp_path, "cannot read")


def test_keras_style_files_are_refused_with_a_pointer_to_set_weights(tmp_path):
    """A .keras name goes to tinycnn.saving (tests/test_saving_*.py): a broken archive is named as such."""
    m = model()
    with zipfile.ZipFile(tmp_path / "model.keras", "w") as z:  # the layout of a Keras 3 .keras file
        z.writestr("metadata.json", "{}")
        z.writestr("config.json", "{}")
        z.writestr("model.weights.h5", b"\x89HDF\r\n\x1a\n")
    refuse(m, tmp_path / "model.keras", "damaged or not a Keras file")
    np.savez(tmp_path / "arrays.npz", *m.get_weights())  # np.savez(*model.get_weights()): arr_0, arr_1 ...
    refuse(m, tmp_path / "arrays.npz", "not written by tinycnn", "arr_0")


# ------------------------------------------------------------------------------------------------ mismatch
def test_a_shape_mismatch_names_the_layer_and_changes_nothing(tmp_path):
    model(units=3).save_weights(tmp_path / "w.npz")
    m = model(units=4, seed=2)
    last = m.layers[-1].name
    refuse(m, tmp_path / "w.npz", "layer 4", repr(last), "'kernel'", "(18, 3)", "(18, 4)")


def test_a_layer_count_or_type_mismatch_names_the_first_layer_that_differs(tmp_path):
    model().save_weights(tmp_path / "w.npz")
    bigger = model(extra=True)
    refuse(
        bigger,
        tmp_path / "w.npz",
        "holds weights for 5 layers, the model has 6",
        "first layer that differs is layer 5",
        repr(bigger.layers[5].name),
        "the file has no layer",
    )
    set_random_seed(0)
    other = Sequential([Conv2D(2, 3, input_shape=(8, 8, 1)), MaxPooling2D(), BatchNormalization(), Flatten(), Dense(3)])
    refuse(other, tmp_path / "w.npz", "layer 1", repr(other.layers[1].name), "MaxPooling2D", "BatchNormalization")


@pytest.mark.parametrize(
    "edit, words",
    [
        (lambda a: a.update({"004/kernel": a["004/kernel"].astype(np.int32)}), ["layer 4", "int32", "float"]),
        (lambda a: a["004/bias"].__setitem__(0, np.nan), ["layer 4", "'bias'", "NaN"]),
        (lambda a: a.pop("001/moving_variance"), ["layer 1", "lacks weight 'moving_variance'"]),
        (lambda a: a.update({"004/extra": np.zeros(3)}), ["layer 4", "unexpected", "004/extra"]),
        (lambda a: a.update({"__format__": np.array("tinycnn-weights-v0")}), ["not written by tinycnn"]),
        (lambda a: a.update({"__layers__": a["__layers__"][:-1]}), ["4 layers", "layer 4"]),
    ],
)
def test_every_check_runs_before_any_weight_changes(tmp_path, edit, words):
    """Each broken file is broken at a *late* layer: the earlier layers would load, but must not."""
    model().save_weights(tmp_path / "w.npz")
    arrays = arrays_of(tmp_path / "w.npz")
    edit(arrays)
    np.savez(tmp_path / "bad.npz", **arrays)
    refuse(model(seed=7), tmp_path / "bad.npz", *words)


def test_float64_weights_load_into_a_float32_model(tmp_path):
    m = model()
    arrays = arrays_of(_saved(m, tmp_path))
    np.savez(
        tmp_path / "f64.npz", **{k: v.astype(np.float64) if v.dtype == np.float32 else v for k, v in arrays.items()}
    )
    other = model(seed=4)
    other.load_weights(tmp_path / "f64.npz")
    assert unchanged(other, snapshot(m)) and other.get_weights()[0].dtype == np.float32


def _saved(m, folder):
    path = folder / "saved.npz"
    m.save_weights(path)
    return path
