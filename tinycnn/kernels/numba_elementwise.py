"""Numba twins of the element-wise kernels in :mod:`tinycnn.kernels.reference`: BatchNormalization forward and
backward, ReLU and the bias gradient (the optimizers' updates are in :mod:`tinycnn.kernels.numba_optimizers`).
Same signatures, same math; each fuses what NumPy does in several passes over memory into one or two.

* ``batchnorm_forward``  -- same math as ``reference.batchnorm_forward``: pass 1 accumulates, per channel and in
  float64, the sum and the sum of squares of ``x - shift`` (``shift`` = the first row, which keeps the
  one-pass variance exact to float64 rounding); pass 2 writes ``x_hat`` and ``y`` together.
* ``batchnorm_inference`` -- same math as ``reference.batchnorm_inference``: ``y = x * scale + shift`` in one
  parallel pass (NumPy makes two, with a temporary the size of ``x``).
* ``batchnorm_backward`` -- same math as ``reference.batchnorm_backward``: pass 1 accumulates ``sum dy`` and
  ``sum dy * x_hat`` in float64, pass 2 writes ``dx``.
* ``relu_forward``, ``relu_backward`` -- same math as their ``reference`` twins, one parallel pass each.
* ``bias_gradient``      -- same math as ``reference.bias_gradient``: column sums of the ``(M, F)`` view, one
  parallel pass over row blocks, each block summing in float64 into its own row of partial sums (NumPy's
  ``sum(axis=0)`` over the leading axes of a 4-D array walks memory in a strided order, on one thread).
Rows are split into blocks processed in parallel (``prange``); each block keeps its own float64 partial sums,
added at the end, so the result does not depend on thread timing beyond float64 rounding.

"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from ..hints import Array
from .threads import engine_call

_BLOCKS = 8  # row blocks for the parallel reductions


def _bn_stats(x):
    m, c = x.shape
    step = (m + _BLOCKS - 1) // _BLOCKS
    s1 = np.zeros((_BLOCKS, c))
    s2 = np.zeros((_BLOCKS, c))
    for b in prange(_BLOCKS):
        for i in range(b * step, min(m, (b + 1) * step)):
            for j in range(c):
                d = np.float64(x[i, j]) - np.float64(x[0, j])
                s1[b, j] += d
                s2[b, j] += d * d
    mean = np.empty(c)
    var = np.empty(c)
    for j in range(c):
        t1 = 0.0
        t2 = 0.0
        for b in range(_BLOCKS):
            t1 += s1[b, j]
            t2 += s2[b, j]
        mu = t1 / m
        mean[j] = mu + np.float64(x[0, j])
        var[j] = max(t2 / m - mu * mu, 0.0)
    return mean, var


def _bn_normalize(x, mean, inv_std, gamma, beta, y, x_hat):
    m, c = x.shape
    mean_t = mean.astype(x.dtype)
    for i in prange(m):
        for j in range(c):
            h = (x[i, j] - mean_t[j]) * inv_std[j]
            x_hat[i, j] = h
            y[i, j] = h * gamma[j] + beta[j]


def _bn_affine(x, scale, shift, y):
    m, c = x.shape
    for i in prange(m):
        for j in range(c):
            y[i, j] = x[i, j] * scale[j] + shift[j]


def _bn_grad_sums(dy, x_hat):
    m, c = dy.shape
    step = (m + _BLOCKS - 1) // _BLOCKS
    s1 = np.zeros((_BLOCKS, c))
    s2 = np.zeros((_BLOCKS, c))
    for b in prange(_BLOCKS):
        for i in range(b * step, min(m, (b + 1) * step)):
            for j in range(c):
                g = np.float64(dy[i, j])
                s1[b, j] += g
                s2[b, j] += g * np.float64(x_hat[i, j])
    return s1.sum(axis=0), s2.sum(axis=0)


def _bn_dx(dy, x_hat, scale, dbeta_m, dgamma_m, dx):
    m, c = dy.shape
    for i in prange(m):
        for j in range(c):
            dx[i, j] = scale[j] * (dy[i, j] - dbeta_m[j] - x_hat[i, j] * dgamma_m[j])


def _relu(z, out):
    for i in prange(z.size):
        out[i] = z[i] if z[i] > 0 else 0


def _relu_grad(dy, z, out):
    for i in prange(z.size):
        out[i] = dy[i] if z[i] > 0 else 0


def _column_sums(a, out):
    m, f = a.shape
    part = np.zeros((_BLOCKS, f))
    step = (m + _BLOCKS - 1) // _BLOCKS
    for b in prange(_BLOCKS):
        acc = np.zeros(f)  # float64 accumulators, one per column: the loop over k vectorises
        for i in range(b * step, min(m, (b + 1) * step)):
            for k in range(f):
                acc[k] += a[i, k]
        for k in range(f):
            part[b, k] = acc[k]
    for k in range(f):
        t = 0.0
        for b in range(_BLOCKS):
            t += part[b, k]
        out[k] = t


_bn_stats_jit = njit(parallel=True, cache=True)(_bn_stats)
_bn_normalize_jit = njit(parallel=True, cache=True)(_bn_normalize)
_bn_affine_jit = njit(parallel=True, cache=True)(_bn_affine)
_bn_grad_sums_jit = njit(parallel=True, cache=True)(_bn_grad_sums)
_bn_dx_jit = njit(parallel=True, cache=True)(_bn_dx)
_relu_jit = njit(parallel=True, cache=True)(_relu)
_relu_grad_jit = njit(parallel=True, cache=True)(_relu_grad)
_column_sums_jit = njit(parallel=True, cache=True)(_column_sums)


@engine_call
def batchnorm_forward(x: Array, gamma: Array, beta: Array, epsilon: float) -> tuple[Array, Array, Array, Array, Array]:
    """Same math as :func:`tinycnn.kernels.reference.batchnorm_forward`."""
    x = np.ascontiguousarray(x)
    dt = x.dtype
    mean, var = _bn_stats_jit(x)
    inv_std = (1.0 / np.sqrt(var + epsilon)).astype(dt)
    y = np.empty_like(x)
    x_hat = np.empty_like(x)
    _bn_normalize_jit(x, mean, inv_std, np.asarray(gamma, dt), np.asarray(beta, dt), y, x_hat)
    return y, x_hat, mean, var, inv_std


@engine_call
def batchnorm_inference(x: Array, scale: Array, shift: Array) -> Array:
    """Same math as :func:`tinycnn.kernels.reference.batchnorm_inference` (one parallel pass)."""
    x = np.ascontiguousarray(x)
    y = np.empty_like(x)
    _bn_affine_jit(x, np.asarray(scale, x.dtype), np.asarray(shift, x.dtype), y)
    return y


@engine_call
def batchnorm_backward(dy: Array, x_hat: Array, gamma: Array, inv_std: Array) -> tuple[Array, Array, Array]:
    """Same math as :func:`tinycnn.kernels.reference.batchnorm_backward`."""
    dy = np.ascontiguousarray(dy)
    dt = dy.dtype
    m = dy.shape[0]
    dbeta, dgamma = _bn_grad_sums_jit(dy, np.ascontiguousarray(x_hat))
    dx = np.empty_like(dy)
    _bn_dx_jit(
        dy, x_hat, (np.asarray(gamma, dt) * inv_std).astype(dt), (dbeta / m).astype(dt), (dgamma / m).astype(dt), dx
    )
    return dx, dgamma, dbeta


@engine_call
def relu_forward(z: Array) -> Array:
    """Same math as :func:`tinycnn.kernels.reference.relu_forward` (one parallel pass)."""
    z = np.ascontiguousarray(z)
    out = np.empty_like(z)
    _relu_jit(z.reshape(-1), out.reshape(-1))
    return out


@engine_call
def relu_backward(dy: Array, z: Array) -> Array:
    """Same math as :func:`tinycnn.kernels.reference.relu_backward` (one parallel pass)."""
    dy = np.ascontiguousarray(dy)
    out = np.empty_like(dy)
    _relu_grad_jit(dy.reshape(-1), np.ascontiguousarray(z).reshape(-1), out.reshape(-1))
    return out


@engine_call
def bias_gradient(dz: Array) -> Array:
    """Same math as :func:`tinycnn.kernels.reference.bias_gradient`: ``dz`` summed over every axis but the last.

    Each of ``_BLOCKS`` row blocks is summed in float64 (so float32 gradients lose nothing to a long sum), then
    the blocks' sums; the result is cast to ``dz``'s dtype.
    """
    dz = np.ascontiguousarray(dz)
    out = np.empty(dz.shape[-1], dtype=dz.dtype)
    _column_sums_jit(dz.reshape(-1, dz.shape[-1]), out)
    return out
