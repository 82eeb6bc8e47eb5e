"""Matrix products on the SIMD tiles: the Dense layer's three products, and every product of the engine.

* :func:`dense_forward`         -- same math as ``reference.dense_forward``: ``z = x @ kernel + bias``
* :func:`dense_backward_input`  -- same math as ``reference.dense_backward_input``: ``dx = dz @ kernel.T``
* :func:`dense_backward_kernel` -- same math as ``reference.dense_backward_kernel``: ``dkernel = x.T @ dz``

and :func:`matmul`, the product the im2col route of :mod:`tinycnn.kernels.numba_conv` runs on its gathered
matrices. The reference writes ``x @ kernel`` (NumPy's ``matmul``, i.e. BLAS); here the triple loop of a
matrix product ``c[i, :] = sum_q a[i, q] * b[q, :]`` is *blocked*: the rows ``i`` into bands of
``simd.TILE_ROWS[0]``, the columns into blocks of two SIMD vectors, and each (band, block) is one
:func:`simd.tile` call whose loop runs over ``q`` with the accumulators in registers (:func:`_gemm_tiles`).
So the engine calls no BLAS on its default route, and its threads never wait for BLAS's.

On the ``"im2col"`` route (and with ``NUMBA_DISABLE_JIT=1``, or a dtype other than float32/float64) every
product is NumPy's ``matmul`` instead: the engine as it was before the tiles, kept for comparison.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange
from numpy.typing import DTypeLike

from ..hints import Array
from . import simd
from .backend import current
from .simd import INIT_BIAS, INIT_ZERO, TILE_ROWS, VECTOR_BYTES, TileWalk, rows_for, tile
from .threads import engine_call

__all__ = ["dense_forward", "dense_backward_input", "dense_backward_kernel", "matmul", "tiles_apply"]


def tiles_apply(dtype: DTypeLike) -> bool:
    """The SIMD tiles run: the backend's route is ``"direct"``, the code is compiled, and ``dtype`` is
    float32 or float64."""
    return current().route == "direct" and simd.enabled() and dtype in (np.float32, np.float64)


def _gemm_tiles(a, a_row, a_k, m, k, b, c, bias, init):
    """``c[i, :] = sum_q a[i*a_row + q*a_k] * b[q, :]`` (+ ``bias``) for ``i < M``: a matrix product by tiles.

    ``a`` is a flat array read with strides, so a transposed matrix is read in place (``a_row = 1``);
    ``b`` is ``(K, N)`` and ``c`` ``(M, N)``, both C-contiguous, ``N`` a multiple of the vector length. The
    work items are (block of two vectors of columns, band of ``TILE_ROWS[0]`` rows); a thread takes a run of
    neighbouring items, so the rows of one column block follow each other while ``b``'s block is in cache.
    """
    n = c.shape[1]
    vl = VECTOR_BYTES // c.itemsize
    bf, cf = b.reshape(b.size), c.reshape(c.size)
    band = TILE_ROWS[0]
    bands = (m + band - 1) // band
    blocks = (n + 2 * vl - 1) // (2 * vl)
    for t in prange(blocks * bands):
        f0 = (t // bands) * 2 * vl
        nv = 2 if n - f0 >= 2 * vl else 1
        i0 = (t % bands) * band
        i1 = min(i0 + band, m)
        while i0 < i1:
            mr = rows_for(i1 - i0)
            tile(
                mr,
                nv,
                a,
                bf,
                cf,
                bias,
                TileWalk(
                    a_start=i0 * a_row,
                    a_row=a_row,
                    a_step1=0,
                    a_step2=0,
                    a_step3=a_k,
                    count1=1,
                    count2=1,
                    count3=k,
                    b_start=f0,
                    b_step1=0,
                    b_step2=0,
                    b_step3=n,
                    c_start=i0 * n + f0,
                    c_row=n,
                    init=init,
                    bias_start=f0,
                ),
            )
            i0 += mr


gemm_tiles_kernel = njit(cache=True, parallel=True, error_model="numpy")(_gemm_tiles)


@engine_call
def matmul(a: Array, b: Array, bias: Array | None = None, out: Array | None = None) -> Array:
    """``a @ b (+ bias)`` by :func:`_gemm_tiles`, into ``out`` if given; ``a`` ``(M, K)`` is read in place if
    C- or F-contiguous (a transposed matrix costs no copy).

    Columns are padded with zeros to a whole number of vectors (and cut off again) when ``N`` is not one.
    On the im2col route (or with the JIT disabled, or dtypes other than one float32/float64) it is NumPy's
    ``matmul``, i.e. BLAS: the engine as it was before the tiles, kept for comparison.
    """
    dtype = np.result_type(a, b)
    if not (
        tiles_apply(dtype)
        and a.dtype == b.dtype == dtype
        and (bias is None or bias.dtype == dtype)
        and (out is None or out.dtype == dtype)
    ):
        out = np.matmul(a, b, out=out)
        if bias is not None:
            out += bias
        return out
    m, k = a.shape
    n = b.shape[1]
    if a.flags.c_contiguous:
        flat, a_row, a_k = a.reshape(a.size), k, 1
    elif a.flags.f_contiguous:  # e.g. x.T: read the rows of x as columns
        flat, a_row, a_k = a.T.reshape(a.size), 1, m
    else:
        flat, a_row, a_k = np.ascontiguousarray(a).reshape(a.size), k, 1
    vl = VECTOR_BYTES // dtype.itemsize
    n_pad = -(-n // vl) * vl
    b = np.ascontiguousarray(b)
    if n_pad != n:
        b = np.concatenate([b, np.zeros((k, n_pad - n), dtype)], axis=1)
        if bias is not None:
            bias = np.concatenate([bias, np.zeros(n_pad - n, dtype)])
    init = INIT_ZERO if bias is None else INIT_BIAS
    bias = b.reshape(b.size) if bias is None else np.ascontiguousarray(bias)
    if out is not None and n_pad == n and out.flags.c_contiguous:
        c = out
    else:
        c = np.empty((m, n_pad), dtype=dtype)
    gemm_tiles_kernel(flat, a_row, a_k, m, k, b, c, bias, init)
    if out is None:
        return c if n_pad == n else np.ascontiguousarray(c[:, :n])
    if c is not out:
        out[...] = c[:, :n]
    return out


@engine_call
def dense_forward(x: Array, kernel: Array, bias: Array | None) -> Array:
    """Same math as ``reference.dense_forward``: ``z = x @ kernel (+ bias)``, by tiles of rows of ``x``.

    Parameters
    ----------
    x : (N, D_in)
    kernel : (D_in, units)
    bias : (units,) or None

    Returns
    -------
    z : (N, units)
    """
    return matmul(x, kernel, bias)


@engine_call
def dense_backward_input(dz: Array, kernel: Array) -> Array:
    """Same math as ``reference.dense_backward_input``: ``dx = dz @ kernel.T``.

    Computed as ``dx.T = kernel @ dz.T``: ``kernel`` is read in place (its rows are the ``D_in`` outputs),
    and only the small ``dz`` (``N x units``) and the result are transposed, never the big kernel.

    Parameters
    ----------
    dz : (N, units)
    kernel : (D_in, units)

    Returns
    -------
    dx : (N, D_in)
    """
    return np.ascontiguousarray(matmul(kernel, np.ascontiguousarray(dz.T)).T)


@engine_call
def dense_backward_kernel(dz: Array, x: Array) -> Array:
    """Same math as ``reference.dense_backward_kernel``: ``dkernel = x.T @ dz`` (``x.T`` read in place).

    Parameters
    ----------
    dz : (N, units)
    x : (N, D_in)

    Returns
    -------
    dkernel : (D_in, units)
    """
    return matmul(x.T, dz)
