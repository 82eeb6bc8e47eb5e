"""Keras files that tinycnn must refuse -- hostile, broken or not fitting -- and its own round trips (no TensorFlow).

Every refusal is a :class:`tinycnn.errors.WeightsFileError` (a ``TinyCNNError``) whose message names the
problem, never a raw ``zipfile``/``h5py``/``KeyError`` traceback; where a model is loaded into, its weights and
its optimizer's state are unchanged afterwards. The hostile archives are made by rewriting a ``.keras`` file
tinycnn wrote: the JSON through ``json``, the HDF5 through ``h5py``.
"""

import io
import json
import os
import zipfile

import h5py
import numpy as np
import pytest

from tinycnn import saving
from tinycnn.errors import TinyCNNError, WeightsFileError
from tinycnn.layers import Activation, BatchNormalization, Conv2D, Dense, Flatten, L2Pooling2D, MaxPooling2D
from tinycnn.models import Sequential, load_model
from tinycnn.optimizers import SGD, Adam
from tinycnn.utils import set_random_seed


def _model(units=4, seed=0):
    set_random_seed(seed)
    model = Sequential(
        [
            Conv2D(3, 3, padding="same", input_shape=(6, 6, 1)),
            Activation("relu"),
            BatchNormalization(),
            MaxPooling2D(),
            Flatten(),
            Dense(units, activation="softmax"),
        ]
    )
    return model


def _trained(optimizer=None, seed=0):
    model = _model(seed=seed)
    model.compile(optimizer=optimizer or SGD(0.05, momentum=0.9), loss="categorical_crossentropy", metrics=["accuracy"])
    rng = np.random.default_rng(seed)
    x = rng.random((16, 6, 6, 1), dtype=np.float32)
    y = np.eye(4, dtype=np.float32)[rng.integers(0, 4, 16)]
    model.fit(x, y, batch_size=8, epochs=1, verbose=0, shuffle=False)
    return model, x, y


def _snapshot(model):
    weights = [w.copy() for w in model.get_weights()]
    opt = model.optimizer
    state = None
    if opt is not None:
        from tinycnn.saving.h5_weights import optimizer_variables

        state = [v.copy() for _, v in optimizer_variables(model)]
    return weights, state


def _same(a, b):
    assert len(a[0]) == len(b[0]) and all(np.array_equal(x, y) for x, y in zip(a[0], b[0]))
    if a[1] is not None:
        assert all(np.array_equal(x, y) for x, y in zip(a[1], b[1]))


def _rewrite_archive(src, dst, config=None, weights=None, extra=()):
    """A copy of the ``.keras`` archive ``src`` with its config and/or weights replaced, plus extra members."""
    with zipfile.ZipFile(src) as zf:
        members = {n: zf.read(n) for n in zf.namelist()}
    if config is not None:
        members["config.json"] = json.dumps(config).encode()
    if weights is not None:
        members["model.weights.h5"] = weights
    with zipfile.ZipFile(dst, "w") as zf:
        for name, data in list(members.items()) + list(extra):
            zf.writestr(name, data)


def _config(path):
    with zipfile.ZipFile(path) as zf:
        return json.loads(zf.read("config.json"))


# ------------------------------------------------------------------------------------------ round trips
@pytest.mark.parametrize("name", ["m.keras", "m.h5"])
def test_model_round_trip_restores_predictions_compile_and_optimizer(tmp_path, name):
    model, x, y = _trained()
    path = tmp_path / name
    model.save(path)
    loaded = load_model(path)
    np.testing.assert_array_equal(loaded.predict(x), model.predict(x))
    assert [type(l).__name__ for l in loaded.layers] == [type(l).__name__ for l in model.layers]
    assert [l.name for l in loaded.layers] == [l.name for l in model.layers]
    assert type(loaded.optimizer) is SGD and loaded.optimizer.iterations == model.optimizer.iterations == 2
    assert loaded.loss.name == "categorical_crossentropy"
    assert [n for n, _ in loaded.compiled_metrics] == ["accuracy"]
    _same(_snapshot(loaded), _snapshot(model))
    # and training resumes identically
    model.train_on_batch(x[:8], y[:8])
    loaded.train_on_batch(x[:8], y[:8])
    for a, b in zip(model.get_weights(), loaded.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_load_model_compile_false_leaves_it_uncompiled(tmp_path):
    model, x, _ = _trained()
    model.save(tmp_path / "m.keras")
    loaded = load_model(tmp_path / "m.keras", compile=False)
    assert loaded.optimizer is None
    np.testing.assert_array_equal(loaded.predict(x), model.predict(x))


@pytest.mark.parametrize("name", ["w.weights.h5", "w.h5"])
def test_weights_round_trip(tmp_path, name):
    model, x, _ = _trained()
    model.save_weights(tmp_path / name)
    other = _model(seed=1)
    assert not np.allclose(other.predict(x), model.predict(x))
    other.load_weights(tmp_path / name)
    np.testing.assert_array_equal(other.predict(x), model.predict(x))


def test_adam_state_round_trip(tmp_path):
    model, x, y = _trained(Adam(0.01))
    model.save(tmp_path / "m.keras")
    loaded = load_model(tmp_path / "m.keras")
    assert type(loaded.optimizer) is Adam
    _same(_snapshot(loaded), _snapshot(model))
    model.train_on_batch(x, y)
    loaded.train_on_batch(x, y)
    for a, b in zip(model.get_weights(), loaded.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_sgd_decay_is_written_as_inverse_time_decay(tmp_path):
    model, x, y = _trained(SGD(0.1, momentum=0.5, decay=0.01))
    model.save(tmp_path / "m.keras")
    lr = _config(tmp_path / "m.keras")["compile_config"]["optimizer"]["config"]["learning_rate"]
    assert lr["class_name"] == "InverseTimeDecay" and lr["config"]["decay_rate"] == 0.01
    loaded = load_model(tmp_path / "m.keras")
    assert loaded.optimizer.iterations == 2
    model.train_on_batch(x, y)
    loaded.train_on_batch(x, y)
    for a, b in zip(model.get_weights(), loaded.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)


def test_writes_are_atomic_and_refuse_layers_keras_lacks(tmp_path):
    path = tmp_path / "m.keras"
    model, _, _ = _trained()
    model.save(path)
    before = path.read_bytes()
    odd = Sequential([L2Pooling2D(input_shape=(4, 4, 1)), Flatten()])
    with pytest.raises(WeightsFileError, match="L2Pooling2D"):
        odd.save(path)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["m.keras"]  # no temporary file left behind


def test_save_refuses_unknown_extensions(tmp_path):
    model, _, _ = _trained()
    with pytest.raises(WeightsFileError, match=".keras"):
        saving.save_model(model, tmp_path / "m.weights.h5")
    with pytest.raises(WeightsFileError, match="weights.h5"):
        saving.save_weights(model, tmp_path / "m.keras")


# ------------------------------------------------------------------------------------------ hostile configs
def _edit_layer(model_config, index, **changes):
    model_config = json.loads(json.dumps(model_config))
    model_config["config"]["layers"][index].update(changes)
    return model_config


@pytest.fixture
def saved(tmp_path):
    model, x, _ = _trained()
    path = tmp_path / "m.keras"
    model.save(path)
    return path, _config(path)


def _refused(path, match):
    with pytest.raises(WeightsFileError, match=match) as info:
        load_model(path)
    assert isinstance(info.value, TinyCNNError) and isinstance(info.value, ValueError)
    return info


def test_lambda_layer_is_refused(saved, tmp_path):
    path, config = saved
    config = _edit_layer(
        config,
        2,
        class_name="Lambda",
        config={"name": "lambda", "function": {"class_name": "__lambda__", "config": {"code": "4wEAAAAAAAAA"}}},
    )
    _rewrite_archive(path, tmp_path / "bad.keras", config=config)
    _refused(tmp_path / "bad.keras", "Lambda")


def test_unknown_class_is_refused_by_name(saved, tmp_path):
    path, config = saved
    config = _edit_layer(config, 2, class_name="MultiHeadAttention")
    _rewrite_archive(path, tmp_path / "bad.keras", config=config)
    _refused(tmp_path / "bad.keras", "MultiHeadAttention")


@pytest.mark.parametrize(
    "changes, match",
    [
        ({"module": "my_package.layers", "registered_name": "MyDense"}, "custom object"),
        ({"registered_name": "Custom>Dense"}, "custom object"),
    ],
)
def test_custom_objects_are_refused(saved, tmp_path, changes, match):
    path, config = saved
    config = _edit_layer(config, 6, **changes)
    _rewrite_archive(path, tmp_path / "bad.keras", config=config)
    _refused(tmp_path / "bad.keras", match)


def test_unknown_config_keys_and_unsupported_values_are_refused(saved, tmp_path):
    path, config = saved
    bad = _edit_layer(config, 1, config={**config["config"]["layers"][1]["config"], "groups": 2})
    _rewrite_archive(path, tmp_path / "a.keras", config=bad)
    _refused(tmp_path / "a.keras", "groups=2")
    bad = _edit_layer(config, 1, config={**config["config"]["layers"][1]["config"], "data_format": "channels_first"})
    _rewrite_archive(path, tmp_path / "b.keras", config=bad)
    _refused(tmp_path / "b.keras", "channels_first")
    bad = _edit_layer(config, 6, config={**config["config"]["layers"][6]["config"], "new_option": 3})
    _rewrite_archive(path, tmp_path / "c.keras", config=bad)
    _refused(tmp_path / "c.keras", "new_option")


def test_custom_optimizer_and_subclassed_model_are_refused(saved, tmp_path):
    path, config = saved
    bad = json.loads(json.dumps(config))
    bad["compile_config"]["optimizer"] = {
        "module": "my_opts",
        "class_name": "Lion",
        "config": {},
        "registered_name": "my>Lion",
    }
    _rewrite_archive(path, tmp_path / "a.keras", config=bad)
    _refused(tmp_path / "a.keras", "Lion")
    bad = {**config, "class_name": "MyModel", "module": "__main__", "registered_name": "MyModel"}
    _rewrite_archive(path, tmp_path / "b.keras", config=bad)
    _refused(tmp_path / "b.keras", "MyModel")


# ------------------------------------------------------------------------------------------ broken files
def test_truncated_archive(saved, tmp_path):
    path, _ = saved
    raw = path.read_bytes()
    for cut in (10, len(raw) // 2, len(raw) - 30):
        (tmp_path / "t.keras").write_bytes(raw[:cut])
        _refused(tmp_path / "t.keras", "t.keras")


def test_random_bytes_empty_and_missing(tmp_path):
    rng = np.random.default_rng(0)
    (tmp_path / "r.keras").write_bytes(rng.integers(0, 256, 4096, dtype=np.uint8).tobytes())
    _refused(tmp_path / "r.keras", "neither a zip")
    (tmp_path / "e.h5").write_bytes(b"")
    _refused(tmp_path / "e.h5", "empty")
    _refused(tmp_path / "missing.keras", "no model file")
    (tmp_path / "z.keras").write_bytes(b"PK\x03\x04" + bytes(100))
    _refused(tmp_path / "z.keras", "damaged")


def test_zip_with_path_traversal_names_is_refused(saved, tmp_path):
    path, _ = saved
    _rewrite_archive(path, tmp_path / "bad.keras", extra=[("../../evil.py", b"print('owned')")])
    _refused(tmp_path / "bad.keras", "unsafe path")
    assert not (tmp_path.parent / "evil.py").exists()
    _rewrite_archive(path, tmp_path / "bad2.keras", extra=[("/etc/evil", b"x")])
    _refused(tmp_path / "bad2.keras", "unsafe path")


def test_archive_with_extra_members_or_no_config_is_refused(saved, tmp_path):
    path, _ = saved
    _rewrite_archive(path, tmp_path / "a.keras", extra=[("payload.pkl", b"\x80\x04.")])
    _refused(tmp_path / "a.keras", "payload.pkl")
    with zipfile.ZipFile(tmp_path / "b.keras", "w") as zf:
        zf.writestr("hello.txt", "hi")
    _refused(tmp_path / "b.keras", "hello.txt")


def test_bad_json_is_refused(saved, tmp_path):
    path, _ = saved
    with zipfile.ZipFile(path) as zf:
        members = {n: zf.read(n) for n in zf.namelist()}
    members["config.json"] = b'{"class_name": "Sequential", "config": '
    with zipfile.ZipFile(tmp_path / "b.keras", "w") as zf:
        for n, d in members.items():
            zf.writestr(n, d)
    _refused(tmp_path / "b.keras", "not valid JSON")


# ------------------------------------------------------------------------------------------ weights that do not fit
@pytest.mark.parametrize("name", ["w.weights.h5", "w.h5"])
def test_wrong_shapes_are_refused_with_the_model_untouched(tmp_path, name):
    big, _, _ = _trained()
    set_random_seed(3)
    small = Sequential(
        [
            Conv2D(3, 3, padding="same", input_shape=(6, 6, 1)),
            Activation("relu"),
            BatchNormalization(),
            MaxPooling2D(),
            Flatten(),
            Dense(5, activation="softmax"),
        ]
    )
    small.compile(optimizer=SGD(0.1, momentum=0.9), loss="categorical_crossentropy")
    big.save_weights(tmp_path / name)
    before = _snapshot(small)
    with pytest.raises(WeightsFileError, match="shape"):
        small.load_weights(tmp_path / name)
    _same(_snapshot(small), before)


def test_wrong_layer_count_is_refused_with_the_model_untouched(tmp_path):
    model, _, _ = _trained()
    model.save_weights(tmp_path / "w.weights.h5")
    set_random_seed(4)
    other = Sequential([Conv2D(3, 3, padding="same", input_shape=(6, 6, 1)), Flatten(), Dense(4)])
    before = _snapshot(other)
    with pytest.raises(WeightsFileError):
        other.load_weights(tmp_path / "w.weights.h5")
    _same(_snapshot(other), before)


def test_optimizer_state_that_does_not_fit_changes_nothing(tmp_path):
    model, _, _ = _trained(Adam(0.01))
    model.save_weights(tmp_path / "w.weights.h5")
    other, _, _ = _trained(SGD(0.1, momentum=0.9), seed=5)
    before = _snapshot(other)
    with pytest.raises(WeightsFileError, match="optimizer"):
        other.load_weights(tmp_path / "w.weights.h5")
    _same(_snapshot(other), before)


def _edit_h5(raw, edit):
    buffer = io.BytesIO(raw)
    with h5py.File(buffer, "r+") as h5:
        edit(h5)
    return buffer.getvalue()


def test_nan_weights_external_links_and_text_datasets_are_refused(tmp_path):
    model, _, _ = _trained()
    path = tmp_path / "w.weights.h5"
    model.save_weights(path)
    raw = path.read_bytes()
    before = _snapshot(model)

    def nan(h5):
        h5["layers/dense/vars/1"][0] = np.nan

    def external(h5):
        del h5["layers/dense/vars/1"]
        h5["layers/dense/vars/1"] = h5py.ExternalLink("/etc/passwd", "/")

    def text(h5):
        del h5["layers/dense/vars/1"]
        h5["layers/dense/vars/1"] = np.array([b"a", b"b", b"c", b"d"])

    for edit, match in ((nan, "NaN"), (external, "ExternalLink"), (text, "dtype")):
        (tmp_path / "bad.weights.h5").write_bytes(_edit_h5(raw, edit))
        with pytest.raises(WeightsFileError, match=match):
            model.load_weights(tmp_path / "bad.weights.h5")
        _same(_snapshot(model), before)


def test_truncated_and_random_weights_files_change_nothing(tmp_path):
    model, _, _ = _trained()
    model.save_weights(tmp_path / "w.weights.h5")
    raw = (tmp_path / "w.weights.h5").read_bytes()
    before = _snapshot(model)
    for i, data in enumerate([raw[: len(raw) // 2], raw[:600], raw[:8], os.urandom(2000), b""]):
        p = tmp_path / f"bad{i}.weights.h5"
        p.write_bytes(data)
        with pytest.raises(WeightsFileError):
            model.load_weights(p)
        _same(_snapshot(model), before)


def test_weights_file_given_to_load_model_says_so(tmp_path):
    model, _, _ = _trained()
    model.save_weights(tmp_path / "w.weights.h5")
    with pytest.raises(WeightsFileError, match="load_weights"):
        load_model(tmp_path / "w.weights.h5")
