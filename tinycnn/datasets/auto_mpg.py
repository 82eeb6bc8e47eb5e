"""The Auto MPG data set: fuel consumption of 392 cars, for regression.

Quinlan (1993), *Combining instance-based and model-based learning*, via the UCI Machine Learning
Repository (``auto-mpg.data``). Each row is one car model of the years 1970-1982; the task is to predict
``mpg`` (miles per US gallon) from the other columns. The 6 UCI rows without ``horsepower`` and the 8
without ``mpg`` are left out, as in every textbook copy, leaving 392 rows in the original order.

Columns (:data:`COLUMNS`, UCI order)::

    0 mpg           miles per US gallon                       9.0 .. 46.6   (the usual target)
    1 cylinders     3, 4, 5, 6 or 8
    2 displacement  cubic inches                             68 .. 455
    3 horsepower                                              46 .. 230
    4 weight        pounds                                  1613 .. 5140
    5 acceleration  seconds from 0 to 60 mph                  8.0 .. 24.8
    6 model_year    two digits                                70 .. 82
    7 origin        1 = USA, 2 = Europe, 3 = Japan (:data:`ORIGINS`); a category, one-hot encode it

The file shipped with tinycnn, ``AutoMPG.tsv`` (:func:`tsv_path`), is what the course reads with
``np.loadtxt('AutoMPG.tsv', skiprows=1)``: a header line of tab-separated column names, then one line
per car. It was made by ``scripts/make_auto_mpg_tsv.py`` from the UCI rows in PyPI's ``vega_datasets``.

>>> data = load_data()
>>> data.shape, data.dtype
((392, 8), dtype('float64'))
>>> data[0].tolist()          # chevrolet chevelle malibu
[18.0, 8.0, 307.0, 130.0, 3504.0, 12.0, 70.0, 1.0]
>>> x, y = data[:, 1:], data[:, 0]
"""

import math
import os

import numpy as np

from ..errors import DataFileError

__all__ = ["load_data", "tsv_path", "COLUMNS", "ORIGINS"]

#: Column names, in the order of the array returned by :func:`load_data`.
COLUMNS = ("mpg", "cylinders", "displacement", "horsepower", "weight", "acceleration", "model_year", "origin")

#: The codes of the ``origin`` column.
ORIGINS = {1: "USA", 2: "Europe", 3: "Japan"}


def tsv_path():
    """Path of the ``AutoMPG.tsv`` file shipped inside the package (to copy it, or read it yourself)."""
    return os.path.join(os.path.dirname(os.path.abspath(__file__)), "data", "AutoMPG.tsv")


def load_data(path=None):
    """Load Auto MPG as one float64 array, exactly as ``np.loadtxt(path, skiprows=1)`` would.

    The file is checked line by line first, so a damaged file fails with a message that says where,
    instead of NumPy's generic ``could not convert string to float``.

    Parameters
    ----------
    path : str or os.PathLike, optional
        A TSV file in the same layout: one header line, then rows of 8 numbers separated by tabs or
        spaces (blank lines are ignored). Default: the copy shipped with tinycnn (:func:`tsv_path`).

    Returns
    -------
    numpy.ndarray, shape (392, 8), float64
        One row per car, columns as in :data:`COLUMNS`. Split it yourself: ``x = data[:, 1:]``,
        ``y = data[:, 0]``.

    Raises
    ------
    DataFileError
        The file is missing or unreadable, has no header or no rows, a row does not have 8 values, or a
        value is not a finite number. The message names the file and the line.
    """
    path = tsv_path() if path is None else os.fspath(path)
    try:
        with open(path, encoding="utf-8") as f:
            lines = f.read().splitlines()
    except OSError as e:
        raise DataFileError(f"{path}: cannot read the Auto MPG file: {e.strerror or e}") from e
    except UnicodeDecodeError as e:
        raise DataFileError(f"{path}: not a text file (UTF-8 decoding failed at byte {e.start})") from e
    if not lines:
        raise DataFileError(
            f"{path}: the file is empty; expected a header line and then rows of {len(COLUMNS)} numbers"
        )
    rows = []
    for number, line in enumerate(lines[1:], start=2):  # line 1 is the header
        fields = line.split()
        if not fields:
            continue
        if len(fields) != len(COLUMNS):
            raise DataFileError(
                f"{path}, line {number}: {len(fields)} values, expected {len(COLUMNS)} ({', '.join(COLUMNS)})"
            )
        row = []
        for column, field in zip(COLUMNS, fields):
            try:
                value = float(field)
            except ValueError:
                value = None
            if value is None or not math.isfinite(value):
                raise DataFileError(f"{path}, line {number}: {column} is {field!r}, not a finite number")
            row.append(value)
        rows.append(row)
    if not rows:
        raise DataFileError(f"{path}: a header line but no data rows")
    return np.array(rows, dtype=np.float64)
