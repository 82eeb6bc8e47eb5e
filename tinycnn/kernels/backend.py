"""The backend object: which kernels run (``"reference"`` or ``"numba"``) and, in the engine, by which route.

A :class:`Backend` is a value (minitorch's ``TensorBackend``): a name, a route and the scratch-memory bound.
The one in force is :func:`current`:

* the backend entered with :func:`use` (a context manager; it holds for the code inside the ``with``, in this
  thread or asyncio task only: it lives in a :mod:`contextvars` variable), else
* the process-wide default, set by :func:`set_backend` (and first read from the environment).

The **routes** of the Numba engine (the reference has only one way to compute, and ignores the route):

* ``"direct"`` -- convolutions read straight from the padded image by the SIMD register tiles
  (:mod:`tinycnn.kernels.numba_direct`), and every matrix product on the same tiles: the default;
* ``"im2col"`` -- the engine as it was before the tiles: windows gathered into a matrix, then NumPy's
  ``matmul`` (BLAS) for every product (:mod:`tinycnn.kernels.numba_im2col`). Kept for comparison.

The direct route needs compiled code (the tiles are LLVM IR): with ``NUMBA_DISABLE_JIT=1`` the engine takes
the im2col route whatever is asked.

**The environment is read once, here**, when this module is imported (:data:`ENVIRONMENT`):

* ``TINYCNN_BACKEND=reference|numba`` (default ``numba``),
* ``TINYCNN_DIRECT=0`` for the im2col route (default: direct).

>>> from tinycnn import kernels
>>> with kernels.use("reference"):
...     kernels.get_backend()
'reference'
>>> with kernels.use("numba", route="im2col") as backend:
...     backend.route
'im2col'
"""

from __future__ import annotations

import contextlib
import contextvars
import dataclasses
import importlib
import os
import threading
from collections.abc import Callable, Iterator, Mapping
from typing import Any

__all__ = [
    "BACKENDS",
    "ROUTES",
    "SCRATCH_LIMIT_BYTES",
    "Backend",
    "ENVIRONMENT",
    "read_environment",
    "current",
    "use",
    "set_backend",
    "get_backend",
    "KERNELS",
]

BACKENDS = ("reference", "numba")
ROUTES = ("direct", "im2col")

#: Largest scratch matrix of the engine (bytes) unless a backend says otherwise; a bigger batch is processed
#: in chunks (:mod:`tinycnn.kernels.scratch`). 2 MiB is both the memory bound and the speed optimum measured
#: on the development machine (``benchmarks/README.md``).
SCRATCH_LIMIT_BYTES = 2 * 2**20

#: Every kernel a backend provides, by name; layers and optimizers call ``tinycnn.kernels.<name>``.
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
    "bias_gradient",
    "sgd_update",
    "adam_update",
    "adamax_update",
    "nadam_update",
    "rmsprop_update",
    "adagrad_update",
    "adadelta_update",
)

#: The modules each backend's kernels come from (the Numba engine is split by family).
_MODULES = {
    "reference": (".reference",),
    "numba": (".numba_conv", ".numba_pool", ".numba_dense", ".numba_elementwise", ".numba_optimizers"),
}


def read_environment(environ: Mapping[str, str]) -> dict[str, str]:
    """``{"backend": ..., "route": ...}`` from ``TINYCNN_BACKEND`` and ``TINYCNN_DIRECT`` in ``environ``.

    >>> read_environment({"TINYCNN_BACKEND": " Reference ", "TINYCNN_DIRECT": "0"})
    {'backend': 'reference', 'route': 'im2col'}
    >>> read_environment({})
    {'backend': 'numba', 'route': 'direct'}
    """
    name = environ.get("TINYCNN_BACKEND", "").strip().lower() or "numba"
    if name not in BACKENDS:
        raise ValueError(f"TINYCNN_BACKEND={name!r}: expected one of {BACKENDS}")
    route = "im2col" if environ.get("TINYCNN_DIRECT", "1").strip() == "0" else "direct"
    return {"backend": name, "route": route}


#: The environment as read when tinycnn was imported: the only place tinycnn reads these variables.
ENVIRONMENT = read_environment(os.environ)

_tables = {}
_tables_lock = threading.Lock()


def _table(name):
    """``{kernel name: function}`` of backend ``name``, imported on first use."""
    table = _tables.get(name)
    if table is None:
        if name not in BACKENDS:
            raise ValueError(f"unknown tinycnn backend {name!r}; expected one of {BACKENDS}")
        with _tables_lock:
            table = {}
            for module_name in _MODULES[name]:
                module = importlib.import_module(module_name, __package__)
                table.update({k: getattr(module, k) for k in KERNELS if hasattr(module, k)})
            missing = [k for k in KERNELS if k not in table]
            if missing:
                raise ImportError(f"backend {name!r} lacks kernels {missing}")
            _tables[name] = table
    return table


@dataclasses.dataclass(frozen=True)
class Backend:
    """Which kernels run: ``name`` (``"reference"`` or ``"numba"``), the engine's ``route`` (``"direct"`` or
    ``"im2col"``) and ``scratch_bytes``, the bound on the engine's scratch matrices."""

    name: str = "numba"
    route: str = "direct"
    scratch_bytes: int = SCRATCH_LIMIT_BYTES

    def __post_init__(self):
        if self.name not in BACKENDS:
            raise ValueError(f"unknown tinycnn backend {self.name!r}; expected one of {BACKENDS}")
        if self.route not in ROUTES:
            raise ValueError(f"unknown route {self.route!r}; expected one of {ROUTES}")
        if not (isinstance(self.scratch_bytes, int) and self.scratch_bytes > 0):
            raise ValueError(f"scratch_bytes must be a positive int, got {self.scratch_bytes!r}")

    @property
    def kernels(self) -> dict[str, Callable[..., Any]]:
        """``{kernel name: function}`` of this backend."""
        return _table(self.name)

    def replace(self, name: str | None = None, route: str | None = None, scratch_bytes: int | None = None) -> Backend:
        """A copy with the given fields changed (None keeps a field)."""
        return Backend(
            self.name if name is None else name,
            self.route if route is None else route,
            self.scratch_bytes if scratch_bytes is None else scratch_bytes,
        )


_default = {"backend": Backend(ENVIRONMENT["backend"], ENVIRONMENT["route"])}
_default_lock = threading.Lock()
_entered = contextvars.ContextVar("tinycnn_kernels_backend", default=None)


def current() -> Backend:
    """The :class:`Backend` in force: the one entered with :func:`use`, else the process-wide default."""
    return _entered.get() or _default["backend"]


@contextlib.contextmanager
def use(name: str | None = None, route: str | None = None, scratch_bytes: int | None = None) -> Iterator[Backend]:
    """Run the code inside the ``with`` on backend ``name`` (and ``route``, ``scratch_bytes``); None keeps
    what is in force. Yields the :class:`Backend`. Holds in this thread / asyncio task only."""
    backend = current().replace(name, route, scratch_bytes)
    _ = backend.kernels  # import (and check) the kernels before entering
    token = _entered.set(backend)
    try:
        yield backend
    finally:
        _entered.reset(token)


def set_backend(name: str, route: str | None = None) -> str:
    """Switch the process-wide default to ``"reference"`` or ``"numba"`` (and ``route``). Returns the previous
    name. A :func:`use` block in force still wins inside it."""
    with _default_lock:
        previous = _default["backend"]
        backend = previous.replace(name, route)
        _ = backend.kernels  # import (and check) the kernels before switching
        _default["backend"] = backend
    return previous.name


def get_backend() -> str:
    """Name of the backend in force."""
    return current().name
