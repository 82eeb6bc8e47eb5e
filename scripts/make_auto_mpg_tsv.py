"""Derive ``tinycnn/datasets/data/AutoMPG.tsv`` from the UCI Auto MPG rows shipped in ``vega_datasets``.

The course reads the Auto MPG data (Quinlan 1993, UCI Machine Learning Repository) with
``np.loadtxt('AutoMPG.tsv', skiprows=1)`` and expects a ``(392, 8)`` float array with the UCI column
order. This script makes that file once, reproducibly, from a source anyone can install offline:
PyPI's ``vega_datasets`` package holds the 406 UCI rows as ``_data/cars.json`` (one JSON object per car,
``null`` where UCI has ``?``). The steps:

1. drop the 14 rows whose ``Miles_per_Gallon`` (8 rows) or ``Horsepower`` (6 rows) is missing -> 392 rows,
   the same rows as every textbook's "auto-mpg without missing values";
2. keep the original row order;
3. ``Year`` ``"1970-01-01"`` -> ``70`` (UCI's two-digit model year), correcting one known error of
   ``cars.json``: the 30 cars of model year 1981 (source rows 345-374, from "plymouth reliant" to
   "chrysler lebaron salon") are labelled ``"1982-01-01"`` there, so ``cars.json`` has no 1981 at all.
   UCI's ``auto-mpg.data`` gives them ``81``; so do ISLP's ``Auto.csv`` and every course copy. With this
   correction the 392 rows equal UCI's, value for value;
4. ``Origin`` ``"USA"/"Europe"/"Japan"`` -> ``1/2/3`` (UCI's coding);
5. drop ``Name`` (text; ``np.loadtxt`` wants numbers only).

Output: a header line with the column names, then one line per car, tab-separated, ``\\n`` line endings.
Integers are written without a decimal point, other numbers in Python's shortest round-trip form.

Usage (from the repository root)::

    python scripts/make_auto_mpg_tsv.py            # rewrites tinycnn/datasets/data/AutoMPG.tsv
    python scripts/make_auto_mpg_tsv.py out.tsv    # writes elsewhere

The tests run :func:`main` into a temporary file and compare it byte for byte with the shipped file.
"""

import json
import math
import os
import re
import sys

#: Output columns (UCI order) and the ``cars.json`` field each one comes from.
COLUMNS = (
    ("mpg", "Miles_per_Gallon"),
    ("cylinders", "Cylinders"),
    ("displacement", "Displacement"),
    ("horsepower", "Horsepower"),
    ("weight", "Weight_in_lbs"),
    ("acceleration", "Acceleration"),
    ("model_year", "Year"),
    ("origin", "Origin"),
)
ORIGIN_CODES = {"USA": 1, "Europe": 2, "Japan": 3}
N_SOURCE_ROWS = 406
N_ROWS = 392
#: Source rows (0-based, of the 406) that UCI gives model year 81 but ``cars.json`` labels 1982,
#: with the names that must stand at both ends (a check that the source is the file we expect).
YEAR_81_ROWS = range(345, 375)
YEAR_81_ENDS = ("plymouth reliant", "chrysler lebaron salon")

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_OUT = os.path.join(REPO, "tinycnn", "datasets", "data", "AutoMPG.tsv")


def source_path():
    """Path of ``cars.json`` inside the installed ``vega_datasets`` package."""
    import vega_datasets

    return os.path.join(os.path.dirname(vega_datasets.__file__), "_data", "cars.json")


def _number(value, field, index):
    """Format one numeric JSON value: ``18`` stays ``18``, ``11.5`` stays ``11.5``."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError(f"cars.json row {index}: {field}={value!r} is not a finite number")
    return str(value) if isinstance(value, int) else repr(float(value))


def make_rows(records):
    """Turn the ``cars.json`` records into the TSV's rows of strings (steps 1-5 above)."""
    if len(records) != N_SOURCE_ROWS:
        raise ValueError(f"cars.json has {len(records)} rows, expected the {N_SOURCE_ROWS} UCI rows")
    first, last = YEAR_81_ROWS[0], YEAR_81_ROWS[-1]
    if (
        (records[first]["Name"], records[last]["Name"]) != YEAR_81_ENDS
        or records[first - 1]["Year"] != "1980-01-01"
        or records[last + 1]["Name"] != "chevrolet cavalier"
    ):
        raise ValueError(f"cars.json is not the expected file: the model-year-1981 block is not at rows {first}-{last}")
    rows = []
    for index, rec in enumerate(records):
        if rec["Miles_per_Gallon"] is None or rec["Horsepower"] is None:
            continue
        row = []
        for column, field in COLUMNS:
            value = rec[field]
            if column == "model_year":
                match = re.fullmatch(r"19(\d\d)-01-01", str(value))
                if not match:
                    raise ValueError(f"cars.json row {index}: unexpected Year {value!r}")
                year = int(match.group(1))
                if index in YEAR_81_ROWS:
                    if year not in (81, 82):
                        raise ValueError(f"cars.json row {index}: Year {value!r}, expected 1981 or 1982")
                    year = 81
                row.append(str(year))
            elif column == "origin":
                if value not in ORIGIN_CODES:
                    raise ValueError(f"cars.json row {index}: unexpected Origin {value!r}")
                row.append(str(ORIGIN_CODES[value]))
            else:
                row.append(_number(value, field, index))
        rows.append(row)
    if len(rows) != N_ROWS:
        raise ValueError(f"{len(rows)} complete rows, expected {N_ROWS}")
    return rows


def make_tsv_text(records):
    """The whole TSV file as one string."""
    lines = ["\t".join(name for name, _ in COLUMNS)]
    lines += ["\t".join(row) for row in make_rows(records)]
    return "\n".join(lines) + "\n"


def main(out=None, source=None):
    """Write the TSV to ``out`` (default: the package data file) and return its path."""
    out = DEFAULT_OUT if out is None else os.fspath(out)
    source = source_path() if source is None else os.fspath(source)
    with open(source, encoding="utf-8") as f:
        records = json.load(f)
    text = make_tsv_text(records)
    os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    tmp = out + ".tmp"
    with open(tmp, "w", encoding="utf-8", newline="\n") as f:
        f.write(text)
    os.replace(tmp, out)
    return out


if __name__ == "__main__":
    print(main(*sys.argv[1:2]))
