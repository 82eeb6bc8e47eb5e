"""Data augmentation on NumPy images: ``ImageDataGenerator``, as ``keras.preprocessing.image.ImageDataGenerator``.

Augmentation shows the network a slightly different version of each training image every epoch -- turned
a few degrees, shifted a few pixels, mirrored, zoomed -- so that it learns what does not change under those
transformations instead of memorising pixels (Simard, Steinkraus & Platt 2003, *Best practices for
convolutional neural networks applied to visual document analysis*; Krizhevsky et al. 2012).

Usage, as in a Keras 2 course script::

    datagen = ImageDataGenerator(rescale=1 / 255, rotation_range=10, width_shift_range=0.1,
                                 height_shift_range=0.1, zoom_range=0.1, horizontal_flip=True,
                                 validation_split=0.2)
    train = datagen.flow(x_train, y_train, batch_size=64, subset="training")
    val = datagen.flow(x_train, y_train, batch_size=64, subset="validation")
    model.fit(train, validation_data=val, epochs=10)

The geometry
------------
Every warp is one affine map from *output* pixel to *input* pixel, evaluated by SciPy's
``ndimage.affine_transform`` with linear interpolation (``interpolation_order=1``). In image coordinates
``(x, y) = (column, row)`` about the image centre ``c = ((w - 1) / 2, (h - 1) / 2)``::

    input = c + R(theta) . T(tx, ty) . S(shear) . Z(zx, zy) . (output - c)

    R = [[cos t, -sin t], [sin t, cos t]]   T: + (tx, ty)   S = [[1, -sin s], [0, cos s]]   Z = diag(zx, zy)

the same matrices, in the same order, as Keras's ``apply_affine_transform``. So a shift ``tx = 2`` takes each
output pixel from two columns to the right (the picture moves 2 pixels left), ``zx = zy = 0.8`` samples a
smaller region (the picture is magnified), and whole-pixel shifts and flips move pixels exactly. A pixel that
maps outside the input is filled according to ``fill_mode``: ``"nearest"`` (the default: ``aaaa|abcd|dddd``),
``"constant"`` (``cval``), ``"reflect"`` or ``"wrap"`` (SciPy's modes of those names, as Keras passes them).

Random parameters per image, as Keras draws them: ``theta ~ U(-rotation_range, rotation_range)`` degrees;
a float shift range ``r < 1`` is a fraction, ``tx ~ U(-r, r) * width``; ``r >= 1`` is pixels; an int or list
picks one value and a random sign; ``zx, zy ~ U(zoom_range)`` independently, with ``zoom_range = z`` meaning
``[1 - z, 1 + z]``; each flip with probability 1/2, applied after the warp.

Two differences from Keras, both where Keras contradicts its own documentation: Keras draws the horizontal
shift ``tx`` from ``height_shift_range`` (times the height) and the vertical one from ``width_shift_range``,
so a script asking for horizontal shifts gets vertical ones; tinycnn does what the arguments say. And Keras
centres its warps at ``(h/2, w/2)`` swapped, which is off for non-square images; tinycnn uses the true centre.
For square images and equal ranges the two agree exactly (tested against Keras's own function).

Then ``standardize`` runs, in Keras's order: ``preprocessing_function``, ``rescale``, sample-wise centring and
scaling, feature-wise centring and scaling, ZCA whitening (the feature-wise statistics come from
:meth:`ImageDataGenerator.fit`).

The iterator returned by :meth:`ImageDataGenerator.flow` is a :class:`tinycnn.utils.PyDataset`:
``len(it)`` batches per epoch, ``it[i]`` batch ``i`` as ``(x, y)`` (or ``x``, or ``(x, y, sample_weight)``), and
``on_epoch_end()`` reshuffles; ``next(it)`` also works and, as in Keras, never stops (it wraps around).

>>> import numpy as np
>>> x = np.arange(2 * 4 * 4, dtype=np.float32).reshape(2, 4, 4, 1)
>>> gen = ImageDataGenerator(rescale=0.5, horizontal_flip=True)
>>> it = gen.flow(x, np.array([0, 1]), batch_size=2, shuffle=False, seed=0)
>>> len(it)
1
>>> xb, yb = it[0]
>>> xb.shape, xb.dtype, yb.tolist()
((2, 4, 4, 1), dtype('float32'), [0, 1])
>>> bool(np.all((xb == x * 0.5) | (xb == x[:, :, ::-1] * 0.5)))
True
"""

import numbers

import numpy as np

from ..errors import InvalidArgumentError, InvalidInputError
from ..utils import floatx

__all__ = ["ImageDataGenerator", "NumpyArrayIterator", "apply_affine_transform", "FILL_MODES"]

#: The values of ``fill_mode`` (passed to ``scipy.ndimage.affine_transform`` as its ``mode``).
FILL_MODES = ("constant", "nearest", "reflect", "wrap")


def apply_affine_transform(
    x, theta=0.0, tx=0.0, ty=0.0, shear=0.0, zx=1.0, zy=1.0, fill_mode="nearest", cval=0.0, order=1
):
    """Warp one image ``x`` of shape ``(h, w, channels)`` (module docstring: the map and its parameters).

    Parameters
    ----------
    x : array (h, w, c)
        The image (channels last).
    theta, shear : float
        Degrees.
    tx, ty : float
        Horizontal and vertical shift in pixels: the output at ``(row, col)`` is read from
        ``(row + ty, col + tx)``.
    zx, zy : float
        Horizontal and vertical zoom: the output samples ``zx`` times as wide a region (< 1 magnifies).
    fill_mode, cval, order
        Outside the input: see :data:`FILL_MODES`; spline order (0 nearest, 1 linear).

    Returns
    -------
    array (h, w, c), the dtype of ``x``; ``x`` itself when the map is the identity.
    """
    if theta == 0 and tx == 0 and ty == 0 and shear == 0 and zx == 1 and zy == 1:
        return x
    t, s = np.deg2rad(theta), np.deg2rad(shear)
    rotation = np.array([[np.cos(t), -np.sin(t), 0], [np.sin(t), np.cos(t), 0], [0, 0, 1]])
    shift = np.array([[1, 0, tx], [0, 1, ty], [0, 0, 1]])
    shearing = np.array([[1, -np.sin(s), 0], [0, np.cos(s), 0], [0, 0, 1]])
    zoom = np.array([[zx, 0, 0], [0, zy, 0], [0, 0, 1]])
    h, w = x.shape[0], x.shape[1]
    cx, cy = (w - 1) / 2, (h - 1) / 2
    to_centre = np.array([[1, 0, -cx], [0, 1, -cy], [0, 0, 1]])
    back = np.array([[1, 0, cx], [0, 1, cy], [0, 0, 1]])
    m = back @ rotation @ shift @ shearing @ zoom @ to_centre  # (x, y) = (column, row)
    m = m[[1, 0, 2]][:, [1, 0, 2]]  # the same map in (row, column)
    out = np.empty_like(x)
    from scipy import ndimage  # here, not at import: SciPy brings its own BLAS thread pool

    for ch in range(x.shape[2]):
        out[:, :, ch] = ndimage.affine_transform(
            x[:, :, ch], m[:2, :2], m[:2, 2], order=order, mode=fill_mode, cval=cval
        )
    return out


def _shift_range(value, name):
    if isinstance(value, (list, tuple, np.ndarray)):
        values = np.asarray(value)
        if values.ndim != 1 or values.size == 0 or not np.issubdtype(values.dtype, np.number):
            raise InvalidArgumentError(f"{name} must be a float, an int or a list of numbers, got {value!r}")
        return values
    if not isinstance(value, numbers.Real) or isinstance(value, bool) or value < 0:
        raise InvalidArgumentError(
            f"{name} must be a non-negative float (fraction of the size if < 1, pixels "
            f"if >= 1), an int or a list of numbers, got {value!r}"
        )
    return value


class ImageDataGenerator:
    """Random augmentation and standardisation of image batches, as Keras's ``ImageDataGenerator``.

    Parameters (Keras's names and defaults; the module docstring says how each is drawn)
    ----------------------------------------------------------------------------------------
    featurewise_center, featurewise_std_normalization : bool
        Subtract the per-channel mean / divide by the per-channel std of the data given to :meth:`fit`.
    samplewise_center, samplewise_std_normalization : bool
        The same with each image's own mean / std.
    zca_whitening : bool; zca_epsilon : float, default 1e-6
        Whiten with the ZCA matrix computed by :meth:`fit`.
    rotation_range : float
        Degrees, drawn from ``U(-rotation_range, rotation_range)``.
    width_shift_range, height_shift_range : float, int or list
        Horizontal / vertical shift: a fraction of the size if < 1, pixels if >= 1; an int or list: one of
        its values, with a random sign.
    shear_range : float
        Degrees, counter-clockwise.
    zoom_range : float or [lower, upper]
        ``z`` means ``[1 - z, 1 + z]``.
    channel_shift_range : float
        Add ``U(-r, r)`` to every channel, clipped to the image's range.
    fill_mode : {"nearest", "constant", "reflect", "wrap"}; cval : float
    horizontal_flip, vertical_flip : bool
    rescale : float or None
        Multiply by it (``1 / 255``), after the warp.
    preprocessing_function : callable or None
        ``f(image) -> image`` of the same shape, applied first in :meth:`standardize`.
    data_format : "channels_last" or None
    validation_split : float in (0, 1)
        The fraction ``flow(subset="validation")`` serves: the *first* ``int(n * validation_split)`` samples,
        as in Keras; ``subset="training"`` serves the rest.
    interpolation_order : int, default 1
    dtype : str, default ``floatx()``

    Not supported (refused with an error): ``brightness_range`` (Keras goes through PIL for it) and
    ``data_format="channels_first"``.
    """

    def __init__(
        self,
        featurewise_center=False,
        samplewise_center=False,
        featurewise_std_normalization=False,
        samplewise_std_normalization=False,
        zca_whitening=False,
        zca_epsilon=1e-6,
        rotation_range=0,
        width_shift_range=0.0,
        height_shift_range=0.0,
        brightness_range=None,
        shear_range=0.0,
        zoom_range=0.0,
        channel_shift_range=0.0,
        fill_mode="nearest",
        cval=0.0,
        horizontal_flip=False,
        vertical_flip=False,
        rescale=None,
        preprocessing_function=None,
        data_format=None,
        validation_split=0.0,
        interpolation_order=1,
        dtype=None,
    ):
        if brightness_range is not None:
            raise InvalidArgumentError(
                "brightness_range is not supported by tinycnn's ImageDataGenerator "
                "(Keras implements it through PIL); use rescale, or a "
                "preprocessing_function that multiplies the image by a random factor"
            )
        if data_format not in (None, "channels_last"):
            raise InvalidArgumentError(
                f"data_format must be 'channels_last' (tinycnn's only layout), got {data_format!r}"
            )
        if fill_mode not in FILL_MODES:
            raise InvalidArgumentError(f"fill_mode must be one of {', '.join(FILL_MODES)}, got {fill_mode!r}")
        if validation_split and not 0 < validation_split < 1:
            raise InvalidArgumentError(f"validation_split must be strictly between 0 and 1, got {validation_split!r}")
        for name, value in (
            ("rotation_range", rotation_range),
            ("shear_range", shear_range),
            ("channel_shift_range", channel_shift_range),
        ):
            if not isinstance(value, numbers.Real) or isinstance(value, bool) or value < 0:
                raise InvalidArgumentError(f"{name} must be a non-negative number, got {value!r}")
        if isinstance(zoom_range, numbers.Real) and not isinstance(zoom_range, bool):
            zoom = [1 - zoom_range, 1 + zoom_range]
        elif (
            isinstance(zoom_range, (list, tuple))
            and len(zoom_range) == 2
            and all(isinstance(v, numbers.Real) for v in zoom_range)
        ):
            zoom = [float(zoom_range[0]), float(zoom_range[1])]
        else:
            raise InvalidArgumentError(f"zoom_range must be a float or a pair [lower, upper], got {zoom_range!r}")
        if zoom[0] <= 0 or zoom[1] < zoom[0]:
            raise InvalidArgumentError(f"zoom_range must give 0 < lower <= upper, got {zoom_range!r} -> {zoom}")
        if preprocessing_function is not None and not callable(preprocessing_function):
            raise InvalidArgumentError("preprocessing_function must be a callable image -> image")
        self.featurewise_center = bool(featurewise_center or zca_whitening or featurewise_std_normalization)
        self.featurewise_std_normalization = bool(featurewise_std_normalization and not zca_whitening)
        self.samplewise_center = bool(samplewise_center or samplewise_std_normalization)
        self.samplewise_std_normalization = bool(samplewise_std_normalization)
        self.zca_whitening, self.zca_epsilon = bool(zca_whitening), zca_epsilon
        self.rotation_range = rotation_range
        self.width_shift_range = _shift_range(width_shift_range, "width_shift_range")
        self.height_shift_range = _shift_range(height_shift_range, "height_shift_range")
        self.shear_range = shear_range
        self.zoom_range = zoom
        self.channel_shift_range = channel_shift_range
        self.fill_mode, self.cval = fill_mode, cval
        self.horizontal_flip, self.vertical_flip = bool(horizontal_flip), bool(vertical_flip)
        self.rescale = rescale
        self.preprocessing_function = preprocessing_function
        self.data_format = "channels_last"
        self._validation_split = validation_split
        self.interpolation_order = interpolation_order
        self.dtype = np.dtype(dtype or floatx()).name
        self.mean = self.std = self.zca_whitening_matrix = None

    # ------------------------------------------------------------------------------------ parameters
    @staticmethod
    def _draw_shift(value, size, rng):
        """A shift in pixels: a list picks one value (random sign); an int n picks 0..n-1 (random sign), as
        Keras's ``np.random.choice(n)``; a float r is ``U(-r, r)``; anything below 1 is a fraction of ``size``."""
        if isinstance(value, np.ndarray):
            shift = float(rng.choice(value)) * rng.choice([-1, 1])
        elif not value:
            return 0.0
        elif isinstance(value, numbers.Integral):
            shift = float(rng.integers(0, value)) * rng.choice([-1, 1])
        else:
            shift = rng.uniform(-value, value)
        if np.max(value) < 1:
            shift *= size
        return float(shift)

    def get_random_transform(self, img_shape, seed=None, rng=None):
        """Draw the parameters of one random transformation for an image of shape ``(h, w, c)``.

        Returns a dict with Keras's keys: ``theta, tx, ty, shear, zx, zy, flip_horizontal, flip_vertical,
        channel_shift_intensity, brightness``. ``rng`` (a ``numpy.random.Generator``) or ``seed`` makes it
        reproducible.
        """
        if rng is None:
            rng = np.random.default_rng(seed)
        h, w = img_shape[0], img_shape[1]
        theta = rng.uniform(-self.rotation_range, self.rotation_range) if self.rotation_range else 0.0
        tx = self._draw_shift(self.width_shift_range, w, rng)
        ty = self._draw_shift(self.height_shift_range, h, rng)
        shear = rng.uniform(-self.shear_range, self.shear_range) if self.shear_range else 0.0
        if self.zoom_range == [1, 1]:
            zx = zy = 1.0
        else:
            zx, zy = rng.uniform(self.zoom_range[0], self.zoom_range[1], 2)
        return {
            "theta": theta,
            "tx": tx,
            "ty": ty,
            "shear": shear,
            "zx": float(zx),
            "zy": float(zy),
            "flip_horizontal": bool(self.horizontal_flip and rng.random() < 0.5),
            "flip_vertical": bool(self.vertical_flip and rng.random() < 0.5),
            "channel_shift_intensity": (
                rng.uniform(-self.channel_shift_range, self.channel_shift_range) if self.channel_shift_range else None
            ),
            "brightness": None,
        }

    def apply_transform(self, x, transform_parameters):
        """Apply the parameters of :meth:`get_random_transform` to one image ``(h, w, c)``; a new array."""
        p = transform_parameters
        x = apply_affine_transform(
            x,
            p.get("theta", 0),
            p.get("tx", 0),
            p.get("ty", 0),
            p.get("shear", 0),
            p.get("zx", 1),
            p.get("zy", 1),
            fill_mode=self.fill_mode,
            cval=self.cval,
            order=self.interpolation_order,
        )
        if p.get("channel_shift_intensity") is not None:
            x = np.clip(x + p["channel_shift_intensity"], np.min(x), np.max(x)).astype(x.dtype)
        if p.get("flip_horizontal"):
            x = x[:, ::-1]
        if p.get("flip_vertical"):
            x = x[::-1]
        return np.ascontiguousarray(x)

    def random_transform(self, x, seed=None):
        """One randomly transformed copy of the image ``x`` ``(h, w, c)``."""
        return self.apply_transform(x, self.get_random_transform(x.shape, seed))

    # ------------------------------------------------------------------------------------ statistics
    def standardize(self, x):
        """Apply ``preprocessing_function``, ``rescale`` and the normalisations to ``x`` (in place when it can)."""
        if self.preprocessing_function is not None:
            x = self.preprocessing_function(x)
        if self.rescale:
            x *= self.rescale
        if self.samplewise_center:
            x -= np.mean(x, keepdims=True)
        if self.samplewise_std_normalization:
            x /= np.std(x, keepdims=True) + 1e-6
        needs_fit = [
            name
            for name, on, value in (
                ("featurewise_center", self.featurewise_center, self.mean),
                ("featurewise_std_normalization", self.featurewise_std_normalization, self.std),
                ("zca_whitening", self.zca_whitening, self.zca_whitening_matrix),
            )
            if on and value is None
        ]
        if needs_fit:
            raise InvalidInputError(
                f"this ImageDataGenerator uses {', '.join(needs_fit)} but was never fitted: call "
                "datagen.fit(x_train) first (Keras only warns and skips the step)"
            )
        if self.featurewise_center:
            x -= self.mean
        if self.featurewise_std_normalization:
            x /= self.std + 1e-6
        if self.zca_whitening:
            x = (x.reshape(-1, self.zca_whitening_matrix.shape[0]) @ self.zca_whitening_matrix).reshape(x.shape)
        return x

    def fit(self, x, augment=False, rounds=1, seed=None):
        """Compute the feature-wise statistics (mean, std, ZCA matrix) from the images ``x`` ``(n, h, w, c)``.

        As Keras: ``rescale`` is applied first; with ``augment=True`` the statistics are taken over ``rounds``
        randomly transformed copies of ``x``.
        """
        x = np.array(x, dtype=self.dtype)  # a copy
        if x.ndim != 4:
            raise InvalidInputError(f"fit expects images of shape (n, height, width, channels), got {x.shape}")
        rng = np.random.default_rng(seed)
        if self.rescale:
            x *= self.rescale
        if augment:
            x = np.stack(
                [
                    self.apply_transform(image, self.get_random_transform(image.shape, rng=rng))
                    for _ in range(rounds)
                    for image in x
                ]
            )
        if self.featurewise_center:
            self.mean = np.mean(x, axis=(0, 1, 2)).reshape(1, 1, -1).astype(self.dtype)
            x -= self.mean
        if self.featurewise_std_normalization:
            self.std = np.std(x, axis=(0, 1, 2)).reshape(1, 1, -1).astype(self.dtype)
            x /= self.std + 1e-6
        if self.zca_whitening:
            flat = x.reshape(len(x), -1).astype(np.float64)
            u, s, _ = np.linalg.svd(flat.T, full_matrices=False)
            s_inv = np.sqrt(len(x)) / (s + self.zca_epsilon)
            self.zca_whitening_matrix = ((u * s_inv) @ u.T).astype(self.dtype)

    # ------------------------------------------------------------------------------------ batches
    def flow(
        self,
        x,
        y=None,
        batch_size=32,
        shuffle=True,
        sample_weight=None,
        seed=None,
        save_to_dir=None,
        save_prefix="",
        save_format="png",
        ignore_class_split=False,
        subset=None,
    ):
        """Batches of augmented images from the arrays ``x`` ``(n, h, w, c)`` and ``y`` (:class:`NumpyArrayIterator`).

        ``save_to_dir`` is not supported (an error says so).
        """
        if save_to_dir is not None:
            raise InvalidArgumentError(
                "save_to_dir is not supported by tinycnn; take a batch (it[0]) and save it with matplotlib's plt.imsave"
            )
        return NumpyArrayIterator(
            x,
            y,
            self,
            batch_size=batch_size,
            shuffle=shuffle,
            sample_weight=sample_weight,
            seed=seed,
            ignore_class_split=ignore_class_split,
            subset=subset,
        )


from .iterator import NumpyArrayIterator  # noqa: E402,F401
