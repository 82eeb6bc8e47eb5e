"""Tests of augmentation: ``ImageDataGenerator`` and its iterator, ``PyDataset``, and the Keras 3 layers
``RandomFlip``, ``RandomTranslation``, ``RandomRotation``, ``RandomZoom`` (forward against Keras with
degenerate ranges, so that both draw the same transformation; backward as the exact adjoint)."""

import numpy as np
import pytest

from tinycnn.errors import InvalidArgumentError, InvalidInputError
from tinycnn.layers.augmentation import (
    _SCIPY_MODES,
    RandomFlip,
    RandomRotation,
    RandomTranslation,
    RandomZoom,
    warp_matrix,
)
from tinycnn.preprocessing.image import ImageDataGenerator, apply_affine_transform
from tinycnn.utils import PyDataset, Sequence


def _images(n=6, h=8, w=8, c=1, seed=0):
    return np.random.default_rng(seed).random((n, h, w, c)).astype(np.float32)


# ---------------------------------------------------------------------------------------------------
# ImageDataGenerator
# ---------------------------------------------------------------------------------------------------


def test_whole_pixel_shifts_and_flips_are_exact():
    x = _images(1, 6, 7, 2)[0]
    shifted = apply_affine_transform(x, tx=2, ty=-1, fill_mode="constant", cval=-1.0)
    # the output at (row, col) is read from (row + ty, col + tx)
    np.testing.assert_array_equal(shifted[1:, :5], x[:-1, 2:])
    assert np.all(shifted[0] == -1) and np.all(shifted[:, 5:] == -1)
    gen = ImageDataGenerator()
    np.testing.assert_array_equal(gen.apply_transform(x, {"flip_horizontal": True}), x[:, ::-1])
    np.testing.assert_array_equal(gen.apply_transform(x, {"flip_vertical": True}), x[::-1])
    np.testing.assert_array_equal(gen.apply_transform(x, {}), x)


def test_generator_shift_ranges_act_on_their_own_axis():
    """width_shift_range moves columns, height_shift_range rows (Keras swaps them; see the module docstring)."""
    x = np.zeros((1, 9, 9, 1), np.float32)
    x[0, 4, 4] = 1
    for kwargs, axis in ((dict(width_shift_range=[3]), 1), (dict(height_shift_range=[3]), 0)):
        it = ImageDataGenerator(fill_mode="constant", **kwargs).flow(x, batch_size=1, seed=1)
        for _ in range(10):
            r, c = np.argwhere(next(it)[0, :, :, 0] == 1)[0]
            moved, fixed = (c, r) if axis == 1 else (r, c)
            assert fixed == 4 and moved in (1, 7)


def test_generator_rescale_dtype_and_labels():
    x = np.random.default_rng(1).integers(0, 256, (10, 5, 5, 3)).astype(np.uint8)
    y = np.arange(10)
    it = ImageDataGenerator(rescale=1 / 255).flow(x, y, batch_size=4, shuffle=False)
    assert len(it) == 3 and isinstance(it, PyDataset)
    batches = [it[i] for i in range(len(it))]
    assert [len(b[0]) for b in batches] == [4, 4, 2]
    xb = np.concatenate([b[0] for b in batches])
    assert xb.dtype == np.float32
    np.testing.assert_allclose(xb, x.astype(np.float32) * np.float32(1 / 255), rtol=1e-6)
    np.testing.assert_array_equal(np.concatenate([b[1] for b in batches]), y)
    with pytest.raises(IndexError):
        it[3]


def test_generator_shuffle_each_epoch_and_next_wraps():
    x = np.arange(10, dtype=np.float32).reshape(10, 1, 1, 1)
    it = ImageDataGenerator().flow(x, np.arange(10), batch_size=4, shuffle=True, seed=3)
    epoch1 = np.concatenate([it[i][1] for i in range(len(it))])
    it.on_epoch_end()
    epoch2 = np.concatenate([it[i][1] for i in range(len(it))])
    assert sorted(epoch1) == sorted(epoch2) == list(range(10)) and not np.array_equal(epoch1, epoch2)
    for i in range(len(it)):
        xb, yb = it[i]
        np.testing.assert_array_equal(xb[:, 0, 0, 0], yb)  # images stay with their labels
    seen = [next(it)[1] for _ in range(6)]  # 3 batches per epoch, twice: never stops
    assert sorted(np.concatenate(seen[:3])) == list(range(10)) == sorted(np.concatenate(seen[3:]))
    again = ImageDataGenerator().flow(x, np.arange(10), batch_size=4, shuffle=True, seed=3)
    np.testing.assert_array_equal(np.concatenate([again[i][1] for i in range(3)]), epoch1)  # seed: reproducible


def test_generator_validation_split_subsets():
    x = _images(10, 3, 3)
    y = np.array([0, 1, 2, 0, 1, 2, 0, 1, 2, 0])
    gen = ImageDataGenerator(validation_split=0.3)
    val = gen.flow(x, y, batch_size=32, shuffle=False, subset="validation")
    train = gen.flow(x, y, batch_size=32, shuffle=False, subset="training")
    np.testing.assert_array_equal(val[0][0], x[:3])  # validation: the first 30 %, as Keras
    np.testing.assert_array_equal(train[0][0], x[3:])
    np.testing.assert_array_equal(train[0][1], y[3:])
    with pytest.raises(InvalidInputError, match="different classes"):
        gen.flow(x, np.sort(y), subset="training")
    assert len(gen.flow(x, np.sort(y), subset="training", ignore_class_split=True)) == 1
    with pytest.raises(InvalidArgumentError, match="subset"):
        gen.flow(x, y, subset="test")
    with pytest.raises(InvalidArgumentError, match="validation_split"):
        ImageDataGenerator().flow(x, y, subset="training")


def test_generator_rotation_zoom_keep_shape_dtype_and_range():
    x = np.random.default_rng(2).integers(0, 256, (16, 12, 12, 3)).astype(np.uint8)
    gen = ImageDataGenerator(
        rotation_range=30,
        zoom_range=0.2,
        width_shift_range=0.1,
        height_shift_range=0.1,
        shear_range=10,
        horizontal_flip=True,
        vertical_flip=True,
        fill_mode="reflect",
    )
    xb = gen.flow(x, batch_size=16, seed=0)[0]
    assert xb.shape == x.shape and xb.dtype == np.float32
    assert xb.min() >= 0 and xb.max() <= 255  # linear interpolation stays within the inputs' range
    assert not np.allclose(xb, x)
    for _ in range(200):
        p = gen.get_random_transform((12, 12, 3), rng=np.random.default_rng(_))
        assert -30 <= p["theta"] <= 30 and 0.8 <= p["zx"] <= 1.2 and 0.8 <= p["zy"] <= 1.2
        assert abs(p["tx"]) <= 1.2 and abs(p["ty"]) <= 1.2 and -10 <= p["shear"] <= 10


@pytest.mark.parametrize("fill_mode", ["nearest", "constant", "reflect", "wrap"])
def test_affine_transform_matches_keras(fill_mode):
    """For square images Keras's apply_affine_transform and ours are the same map (module docstring)."""
    keras_image = pytest.importorskip("keras.src.legacy.preprocessing.image")
    rng = np.random.default_rng(0)
    x = rng.random((9, 9, 3)).astype(np.float32)
    for _ in range(10):
        p = dict(
            theta=rng.uniform(-40, 40),
            tx=rng.uniform(-3, 3),
            ty=rng.uniform(-3, 3),
            shear=rng.uniform(-20, 20),
            zx=rng.uniform(0.7, 1.3),
            zy=rng.uniform(0.7, 1.3),
        )
        ours = apply_affine_transform(x, **p, fill_mode=fill_mode, cval=0.3)
        theirs = keras_image.apply_affine_transform(
            x, **p, row_axis=0, col_axis=1, channel_axis=2, fill_mode=fill_mode, cval=0.3, order=1
        )
        np.testing.assert_allclose(ours, theirs, atol=1e-5, err_msg=str(p))


def test_generator_statistics_match_keras():
    """Same arguments, many draws: the mean and spread of the augmented pixels agree with Keras's generator."""
    keras_image = pytest.importorskip("keras.src.legacy.preprocessing.image")
    x = np.zeros((400, 16, 16, 1), np.float32)
    x[:, 4:12, 6:10] = 255.0  # a bar
    kwargs = dict(
        rotation_range=20,
        width_shift_range=0.1,
        height_shift_range=0.1,
        zoom_range=0.15,
        horizontal_flip=True,
        rescale=1 / 255,
        fill_mode="constant",
    )
    ours = ImageDataGenerator(**kwargs).flow(x, batch_size=400, seed=0)[0]
    np.random.seed(0)
    theirs = keras_image.ImageDataGenerator(**kwargs).flow(x, batch_size=400, seed=0)[0]
    assert ours.shape == theirs.shape
    mean_ours, mean_theirs = ours.mean(axis=0)[..., 0], theirs.mean(axis=0)[..., 0]
    assert abs(ours.mean() - theirs.mean()) < 0.01
    assert np.abs(mean_ours - mean_theirs).max() < 0.12, np.abs(mean_ours - mean_theirs).max()
    assert abs(ours.std() - theirs.std()) < 0.01


def test_generator_featurewise_fit():
    x = np.random.default_rng(0).random((50, 4, 4, 3)).astype(np.float32) * [1, 10, 100]
    gen = ImageDataGenerator(featurewise_center=True, featurewise_std_normalization=True)
    with pytest.raises(InvalidInputError, match="fit"):
        gen.flow(x)[0]
    gen.fit(x)
    np.testing.assert_allclose(gen.mean.ravel(), x.mean(axis=(0, 1, 2)), rtol=1e-5)
    out = gen.flow(x, batch_size=50, shuffle=False)[0]
    np.testing.assert_allclose(out.mean(axis=(0, 1, 2)), 0, atol=1e-4)
    np.testing.assert_allclose(out.std(axis=(0, 1, 2)), 1, atol=1e-3)


def test_generator_refuses_bad_arguments():
    with pytest.raises(InvalidArgumentError, match="fill_mode"):
        ImageDataGenerator(fill_mode="mirror")
    with pytest.raises(InvalidArgumentError, match="validation_split"):
        ImageDataGenerator(validation_split=1.5)
    with pytest.raises(InvalidArgumentError, match="brightness_range"):
        ImageDataGenerator(brightness_range=(0.5, 1.5))
    with pytest.raises(InvalidArgumentError, match="zoom_range"):
        ImageDataGenerator(zoom_range=(1.2, 0.8))
    with pytest.raises(InvalidInputError, match=r"x\[\.\.\., None\]"):
        ImageDataGenerator().flow(np.zeros((3, 28, 28)))
    with pytest.raises(InvalidInputError, match="same length"):
        ImageDataGenerator().flow(np.zeros((3, 2, 2, 1)), np.zeros(4))


def test_pydataset_and_sequence():
    class Squares(Sequence):
        def __init__(self):
            super().__init__(workers=2, use_multiprocessing=True, max_queue_size=5)
            self.epochs = 0

        def __len__(self):
            return 2

        def __getitem__(self, idx):
            return np.full((3, 1), idx, np.float32), np.full(3, idx**2)

        def on_epoch_end(self):
            self.epochs += 1

    data = Squares()
    assert Sequence is PyDataset and isinstance(data, PyDataset)
    assert (data.workers, data.use_multiprocessing, data.max_queue_size, data.num_batches) == (2, True, 5, 2)
    assert [y.tolist() for _, y in data] == [[0, 0, 0], [1, 1, 1]]
    data.on_epoch_end()
    assert data.epochs == 1

    class Empty(PyDataset):
        pass

    with pytest.raises(NotImplementedError, match="__len__"):
        len(Empty())
    with pytest.raises(NotImplementedError, match="__getitem__"):
        Empty()[0]


# ---------------------------------------------------------------------------------------------------
# The layers
# ---------------------------------------------------------------------------------------------------

LAYERS = [
    lambda **kw: RandomTranslation(0.2, 0.3, **kw),
    lambda **kw: RandomRotation(0.1, **kw),
    lambda **kw: RandomZoom(0.2, 0.3, **kw),
    lambda **kw: RandomZoom((-0.3, 0.2), **kw),
]


@pytest.mark.parametrize("make", LAYERS + [lambda **kw: RandomFlip(**{k: v for k, v in kw.items() if k == "seed"})])
def test_layers_identity_when_not_training(make):
    x = _images(4, 8, 8, 3)
    layer = make(seed=0)
    y = layer.forward(x, training=False)
    np.testing.assert_array_equal(y, x)
    dy = _images(4, 8, 8, 3, seed=1)
    np.testing.assert_array_equal(layer.backward(dy), dy)
    trained = layer.forward(x, training=True)
    assert trained.shape == x.shape and trained.dtype == np.float32 and not np.allclose(trained, x)


@pytest.mark.parametrize("mode", ["horizontal", "vertical", "horizontal_and_vertical"])
def test_random_flip_forward_and_backward(mode):
    x = _images(64, 5, 6, 2)
    layer = RandomFlip(mode, seed=0)
    y = layer.forward(x, training=True)
    kinds = set()
    for xi, yi in zip(x, y):
        for name, candidate in (("none", xi), ("lr", xi[:, ::-1]), ("ud", xi[::-1]), ("both", xi[::-1, ::-1])):
            if np.array_equal(yi, candidate):
                kinds.add(name)
                break
        else:
            raise AssertionError("an image is not a flip of its input")
    expected = {
        "horizontal": {"none", "lr"},
        "vertical": {"none", "ud"},
        "horizontal_and_vertical": {"none", "lr", "ud", "both"},
    }[mode]
    assert kinds == expected
    dy = _images(64, 5, 6, 2, seed=5)
    dx = layer.backward(dy)
    np.testing.assert_allclose(np.sum(dy * y), np.sum(dx * x), rtol=1e-5)  # <dy, A x> = <A^T dy, x>
    np.testing.assert_array_equal(layer.backward(y), x)  # a flip undoes itself


@pytest.mark.parametrize("fill_mode", list(_SCIPY_MODES))
@pytest.mark.parametrize("order", [0, 1])
def test_warp_matrix_reproduces_scipy(fill_mode, order):
    from scipy import ndimage

    rng = np.random.default_rng(0)
    x = rng.random((7, 9))
    for _ in range(5):
        t = rng.uniform(-0.6, 0.6)
        matrix = np.array([[np.cos(t), np.sin(t)], [-np.sin(t), np.cos(t)]]) * rng.uniform(0.7, 1.4)
        offset = rng.uniform(-3, 3, 2)
        a = warp_matrix(matrix, offset, x.shape, _SCIPY_MODES[fill_mode], order)
        expected = ndimage.affine_transform(x, matrix, offset, order=order, mode=_SCIPY_MODES[fill_mode], cval=0.0)
        np.testing.assert_allclose((a @ x.ravel()).reshape(x.shape), expected, atol=1e-12)


@pytest.mark.parametrize("make", LAYERS)
@pytest.mark.parametrize("fill_mode", ["reflect", "wrap", "nearest", "constant"])
def test_warp_backward_is_the_adjoint(make, fill_mode):
    """Float64: ``<dy, y(x) - y(0)> == <dx, x>`` (y is affine in x; y(0) is the constant fill), and a
    finite-difference check of one input pixel."""
    x = np.random.default_rng(0).random((3, 7, 8, 2))
    layer = make(seed=4, fill_mode=fill_mode, fill_value=0.25, dtype="float64")
    y = layer.forward(x, training=True)
    warps = layer._warps
    dy = np.random.default_rng(1).standard_normal(y.shape)
    dx = layer.backward(dy)
    layer._rng = np.random.default_rng(4)  # the same draws again
    y0 = layer.forward(np.zeros_like(x), training=True)
    assert all(np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1]) for a, b in zip(warps, layer._warps))
    np.testing.assert_allclose(np.sum(dy * (y - y0)), np.sum(dx * x), rtol=1e-10)
    for index in [(0, 3, 4, 1), (2, 0, 0, 0), (1, 6, 7, 1)]:
        e = np.zeros_like(x)
        e[index] = 1e-3
        layer._rng = np.random.default_rng(4)
        plus = layer.forward(x + e, training=True)
        layer._rng = np.random.default_rng(4)
        minus = layer.forward(x - e, training=True)
        np.testing.assert_allclose(np.sum(dy * (plus - minus)) / 2e-3, dx[index], rtol=1e-6, atol=1e-9)


def test_first_layer_skips_dx():
    layer = RandomRotation(0.1, seed=0)
    layer.forward(_images(), training=True)
    layer.input_gradient = False
    assert layer.backward(_images()) is None


def _keras_layer(name, *args, **kwargs):
    keras = pytest.importorskip("keras")
    return getattr(keras.layers, name)(*args, **kwargs)


@pytest.mark.parametrize("fill_mode", ["reflect", "nearest", "constant"])
@pytest.mark.parametrize(
    "name, args, kwargs",
    [
        ("RandomTranslation", ((0.25, 0.25), (-0.125, -0.125)), {}),
        ("RandomTranslation", ((0.1, 0.1), (0.3, 0.3)), {"interpolation": "nearest"}),
        ("RandomTranslation", ((-0.07, -0.07), (0.13, 0.13)), {}),
        ("RandomRotation", ((0.25, 0.25),), {}),
        ("RandomRotation", ((-0.03, -0.03),), {}),
        ("RandomRotation", ((0.1, 0.1),), {}),
        ("RandomZoom", ((0.5, 0.5),), {}),
        ("RandomZoom", ((-0.3, -0.3), (0.2, 0.2)), {}),
    ],
)
def test_warp_layers_match_keras(name, args, kwargs, fill_mode):
    """Degenerate ranges make Keras's draw deterministic: the same transformation, the same pixels."""
    x = _images(2, 8, 8, 2)
    keras_layer = _keras_layer(name, *args, fill_mode=fill_mode, fill_value=0.5, **kwargs)
    ours = {"RandomTranslation": RandomTranslation, "RandomRotation": RandomRotation, "RandomZoom": RandomZoom}[name]
    layer = ours(*args, fill_mode=fill_mode, fill_value=0.5, **kwargs)
    np.testing.assert_allclose(layer.forward(x, training=True), np.asarray(keras_layer(x, training=True)), atol=2e-6)
    np.testing.assert_array_equal(np.asarray(keras_layer(x, training=False)), layer.forward(x, training=False))


def test_warp_layers_refuse_bad_arguments():
    with pytest.raises(InvalidArgumentError, match="fill_mode"):
        RandomRotation(0.1, fill_mode="mirror")
    with pytest.raises(InvalidArgumentError, match="interpolation"):
        RandomZoom(0.1, interpolation="bicubic")
    with pytest.raises(InvalidArgumentError, match="lower bound"):
        RandomTranslation((0.3, 0.1), 0.1)
    with pytest.raises(InvalidArgumentError, match="mode"):
        RandomFlip("diagonal")
    with pytest.raises(InvalidInputError, match="batch, height, width, channels"):
        RandomRotation(0.1).forward(np.zeros((2, 8, 8)), training=True)
