"""The one door from layers to compute.

Layers call ``tinycnn.kernels.conv2d_forward(...)`` and friends; this module forwards the call to the
chosen backend:

* ``"reference"`` -- :mod:`tinycnn.kernels.reference`, readable NumPy (the textbook);
* ``"numba"``     -- :mod:`tinycnn.kernels.numba_kernels` (convolution, pooling) and
  :mod:`tinycnn.kernels.numba_elementwise` (BatchNorm, ReLU, the optimizers' updates), compiled with Numba
  (the engine, default).

Both modules define the same functions with the same signatures. Choose with the environment variable
``TINYCNN_BACKEND=reference|numba`` (read at import) or at run time:

>>> from tinycnn import kernels
>>> previous = kernels.set_backend("reference")
>>> kernels.get_backend()
'reference'
>>> _ = kernels.set_backend(previous)
"""
import importlib
import os

from .reference import POOL_MODES, conv_geometry, pad_nhwc  # noqa: F401  (backend-independent helpers)

BACKENDS = ("reference", "numba")
KERNELS = (
    "conv2d_forward",
    "conv2d_backward_input",
    "conv2d_backward_kernel",
    "pool2d_forward",
    "pool2d_backward",
    "dense_forward",
    "dense_backward_input",
    "dense_backward_kernel",
    "batchnorm_forward",
    "batchnorm_inference",
    "batchnorm_backward",
    "relu_forward",
    "relu_backward",
    "sgd_update",
    "adam_update",
    "adamax_update",
    "nadam_update",
    "rmsprop_update",
    "adagrad_update",
    "adadelta_update",
)

_state = {"name": None, "table": None}


def _load(name):
    if name not in BACKENDS:
        raise ValueError(f"unknown tinycnn backend {name!r}; expected one of {BACKENDS}")
    if name == "reference":
        modules = [importlib.import_module(".reference", __name__)]
    else:
        modules = [importlib.import_module(m, __name__) for m in (".numba_kernels", ".numba_elementwise")]
    table = {}
    for module in modules:
        table.update({k: getattr(module, k) for k in KERNELS if hasattr(module, k)})
    missing = [k for k in KERNELS if k not in table]
    if missing:
        raise ImportError(f"backend {name!r} lacks kernels {missing}")
    return table


def set_backend(name):
    """Switch every layer to the ``"reference"`` or ``"numba"`` kernels. Returns the previous name."""
    table = _load(name)
    previous = _state["name"]
    _state["name"], _state["table"] = name, table
    return previous


def get_backend():
    """Name of the backend in use."""
    return _state["name"]


def current_kernels():
    """``{kernel name: function}`` of the backend in use."""
    return dict(_state["table"])


def blas_info():
    """The BLAS that NumPy's matrix products run on, as a dict: the reference backend's convolutions and Dense,
    and the Numba engine's only with ``TINYCNN_DIRECT=0`` (otherwise it does its products in its own tiles).

    ``openblas_coretype`` is the kernel family OpenBLAS runs (e.g. ``"SkylakeX"``: AVX-512, ``"Haswell"``:
    AVX2), ``blas_threads`` its thread count (both None without ``threadpoolctl``); ``OPENBLAS_CORETYPE`` the
    environment variable that forces that choice, if set. The benchmarks record it.
    """
    info = {"openblas_coretype": None, "blas_threads": None, "blas_version": None,
            "OPENBLAS_CORETYPE": os.environ.get("OPENBLAS_CORETYPE")}
    try:
        import threadpoolctl
    except ImportError:
        return info
    for lib in threadpoolctl.threadpool_info():
        if lib.get("user_api") == "blas":
            info.update(openblas_coretype=lib.get("architecture"), blas_threads=lib.get("num_threads"),
                        blas_version=f"{lib.get('internal_api')} {lib.get('version')}")
            break
    return info


def _make(kernel_name):
    def dispatch(*args, **kwargs):
        return _state["table"][kernel_name](*args, **kwargs)

    dispatch.__name__ = kernel_name
    dispatch.__doc__ = f"Runs ``{kernel_name}`` of the current backend (see :mod:`tinycnn.kernels.reference`)."
    return dispatch


for _name in KERNELS:
    globals()[_name] = _make(_name)
del _name

set_backend(os.environ.get("TINYCNN_BACKEND", "numba").strip().lower() or "numba")
