"""The Numba engine in one namespace: every compiled kernel, gathered from the modules that hold them.

The engine is split by family; each module opens with what it computes and which reference function it
matches. Read them in this order, after :mod:`tinycnn.kernels.reference`:

==========================  ==============================================================================
module                      what it holds
==========================  ==============================================================================
``numba_conv``              ``conv2d_forward``, ``conv2d_backward_input``, ``conv2d_backward_kernel``: the
                            choice of route, direct or im2col
``numba_direct``            the direct route: register tiles walked over the padded image
``simd``                    the tile itself (LLVM IR), its :class:`~tinycnn.kernels.simd.TileWalk` and its
                            NumPy twin ``tile_numpy``
``numba_im2col``            the im2col route's gathers (im2col, the input gradient's gather, col2im)
``numba_dense``             ``dense_*`` and every matrix product of the engine, on the tiles
``numba_pool``              ``pool2d_forward``, ``pool2d_backward``
``numba_elementwise``       BatchNorm, ReLU and bias gradients, each fused into one or two passes
``numba_optimizers``        the optimizers' updates, one pass per weight
``scratch``                 the bounded, reused scratch memory; :func:`buffer_info`
``threads``                 the threading layer, started on the first compiled call; fork safety
``backend``                 which backend and route are in force (:func:`tinycnn.kernels.use`)
==========================  ==============================================================================

Layers do not import this module: they call :mod:`tinycnn.kernels`, which dispatches to the backend in force.
It is here for the tests and benchmarks that call the engine by name (``numba_kernels.conv2d_forward``), and
keeps two names of the benchmarks' workers: ``DIRECT`` (is the direct route in force? read-only, computed on
access; choose the route with ``tinycnn.kernels.use(route=...)``) and ``OPENMP_SETTINGS`` (the OpenMP
environment tinycnn adds: none, since the engine runs on Numba's ``workqueue`` layer; see
:mod:`tinycnn.kernels.threads`).
"""

from __future__ import annotations

from typing import Any

from . import simd
from .backend import KERNELS, Backend, current
from .backend import SCRATCH_LIMIT_BYTES as IM2COL_LIMIT_BYTES
from .numba_dense import matmul
from .scratch import buffer_info
from .threads import info as thread_info

# Every kernel of the engine under its own name (``numba_kernels.conv2d_forward`` ...): the backend's table,
# which imports them from the family modules, so the list of names lives in one place (``backend.KERNELS``).
globals().update(Backend("numba").kernels)

__all__ = [
    *KERNELS,  # every kernel of the backend table, one list (tinycnn.kernels.backend.KERNELS)
    "matmul",
    "buffer_info",
    "thread_info",
    "IM2COL_LIMIT_BYTES",
    "OPENMP_SETTINGS",
]

#: OpenMP environment variables tinycnn sets: none (the engine runs on Numba's workqueue layer).
OPENMP_SETTINGS = {}

_matmul = matmul  # the name benchmarks/bench_layers.py uses


def __getattr__(name: str) -> Any:
    if name == "DIRECT":  # computed: the route of the backend in force, and compiled code to run the tiles
        return current().route == "direct" and simd.enabled()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
