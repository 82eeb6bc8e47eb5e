"""The few ``keras.backend`` functions course scripts call (``K.image_data_format()`` ...)."""

from .utils import floatx, set_floatx  # noqa: F401


def image_data_format():
    """tinycnn is channels-last only, as Keras's default."""
    return "channels_last"


def epsilon():
    """The fuzz factor Keras uses (clipping of probabilities in cross-entropy)."""
    return 1e-7
