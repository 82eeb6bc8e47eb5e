"""The one door from layers to compute.

Layers call ``tinycnn.kernels.conv2d_forward(...)`` and friends (the names in :data:`KERNELS`); this module
forwards each call to the backend in force (:mod:`tinycnn.kernels.backend`):

* ``"reference"`` -- :mod:`tinycnn.kernels.reference`, readable NumPy (the textbook);
* ``"numba"``     -- the engine, compiled with Numba (the default), split by family: convolutions
  (:mod:`~tinycnn.kernels.numba_conv`, by the direct tiles of :mod:`~tinycnn.kernels.numba_direct` or the
  gathers of :mod:`~tinycnn.kernels.numba_im2col`), pooling (:mod:`~tinycnn.kernels.numba_pool`), Dense and
  every matrix product (:mod:`~tinycnn.kernels.numba_dense`), BatchNorm, ReLU and bias gradients
  (:mod:`~tinycnn.kernels.numba_elementwise`) and the optimizers' updates
  (:mod:`~tinycnn.kernels.numba_optimizers`); :mod:`~tinycnn.kernels.numba_kernels` lists them all.

Both define the same functions with the same signatures. Choose the backend (and the engine's route,
``"direct"`` or ``"im2col"``) for a block of code, or for the whole process:

>>> from tinycnn import kernels
>>> before = kernels.get_backend()
>>> with kernels.use("reference"):
...     kernels.get_backend()
'reference'
>>> kernels.get_backend() == before
True
>>> previous = kernels.set_backend("reference")
>>> kernels.get_backend()
'reference'
>>> _ = kernels.set_backend(previous)

The environment variables ``TINYCNN_BACKEND=reference|numba`` and ``TINYCNN_DIRECT=0`` (the im2col route) set
the process-wide default; they are read once, when tinycnn is imported (:data:`backend.ENVIRONMENT`).
Importing tinycnn compiles nothing and starts no thread: the engine's threads start on the first compiled
call (:mod:`tinycnn.kernels.threads`).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

from .backend import BACKENDS, KERNELS, ROUTES, Backend, current, get_backend, set_backend, use
from .reference import POOL_MODES, conv_geometry, pad_nhwc  # backend-independent helpers

__all__ = [
    "BACKENDS",
    "ROUTES",
    "KERNELS",
    "ENGINES",
    "Backend",
    "use",
    "current",
    "set_backend",
    "get_backend",
    "current_kernels",
    "blas_info",
    "POOL_MODES",
    "conv_geometry",
    "pad_nhwc",
    *KERNELS,
]

#: The distinct ways the kernels can run, as ``{id: arguments of use()}``: the tests run every gradient check
#: and Keras parity case on each.
ENGINES = {
    "reference": {"name": "reference"},
    "numba-direct": {"name": "numba", "route": "direct"},
    "numba-im2col": {"name": "numba", "route": "im2col"},
}


def current_kernels() -> dict[str, Callable[..., Any]]:
    """``{kernel name: function}`` of the backend in force."""
    return dict(current().kernels)


def blas_info() -> dict[str, str | int | None]:
    """The BLAS that NumPy's matrix products run on, as a dict: the reference backend's convolutions and Dense,
    and the Numba engine's only on the ``"im2col"`` route (on the direct route it does its products in its
    own tiles).

    ``openblas_coretype`` is the kernel family OpenBLAS runs (e.g. ``"SkylakeX"``: AVX-512, ``"Haswell"``:
    AVX2), ``blas_threads`` its thread count (both None without ``threadpoolctl``); ``OPENBLAS_CORETYPE`` the
    environment variable that forces that choice, if set. The benchmarks record it.
    """
    info = {
        "openblas_coretype": None,
        "blas_threads": None,
        "blas_version": None,
        "OPENBLAS_CORETYPE": os.environ.get("OPENBLAS_CORETYPE"),
    }
    try:
        import threadpoolctl
    except ImportError:
        return info
    for lib in threadpoolctl.threadpool_info():
        if lib.get("user_api") == "blas":
            info.update(
                openblas_coretype=lib.get("architecture"),
                blas_threads=lib.get("num_threads"),
                blas_version=f"{lib.get('internal_api')} {lib.get('version')}",
            )
            break
    return info


def _make(kernel_name):
    def dispatch(*args: Any, **kwargs: Any) -> Any:
        return current().kernels[kernel_name](*args, **kwargs)

    dispatch.__name__ = dispatch.__qualname__ = kernel_name
    dispatch.__doc__ = f"Runs ``{kernel_name}`` of the backend in force (see :mod:`tinycnn.kernels.reference`)."
    return dispatch


for _name in KERNELS:
    globals()[_name] = _make(_name)
del _name
