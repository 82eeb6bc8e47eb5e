"""Figures for the course: learning curves, confusion matrix, mistakes, filters, feature maps, receptive fields.

Every function builds a :class:`matplotlib.figure.Figure` directly (no ``pyplot``), so it needs no
display and never opens a window: it works the same in a terminal, over SSH and in CI. In a notebook, run
``%matplotlib inline`` once; a returned figure then shows when it is the last expression of a cell. Every
function returns the figure and, if ``path`` is given, also saves it there as a PNG (parent folders
created).

====================================  =========================================================
:func:`plot_history`                  loss and metric curves of ``fit`` (optionally tinycnn vs Keras)
:func:`plot_confusion_matrix`         which classes are confused with which
:func:`plot_misclassified`            the test images the model got wrong
:func:`plot_filters`                  the learned kernels of a ``Conv2D`` layer
:func:`plot_feature_maps`             one image through every ``Conv2D`` layer of a model
:func:`plot_receptive_field`          the input pixels one unit sees, at every conv depth
:func:`receptive_field`               the numbers behind :func:`plot_receptive_field`
====================================  =========================================================

>>> from tinycnn import plot
>>> fig = plot.plot_history({"loss": [1.0, 0.6, 0.4], "val_loss": [1.1, 0.8, 0.7]})
>>> fig.axes[0].get_xlabel(), fig.axes[0].get_title()
('epoch', 'Loss')
"""

from .common import DPI, save_figure
from .features import plot_feature_maps, plot_filters
from .receptive_field import plot_receptive_field, receptive_field
from .training import plot_confusion_matrix, plot_history, plot_misclassified

__all__ = [
    "DPI",
    "save_figure",
    "plot_history",
    "plot_confusion_matrix",
    "plot_misclassified",
    "plot_filters",
    "plot_feature_maps",
    "receptive_field",
    "plot_receptive_field",
]
