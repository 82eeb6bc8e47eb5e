"""The readable element-wise kernels: BatchNormalization, ReLU and the optimizers' updates, in plain NumPy.

Part of the reference backend (:mod:`tinycnn.kernels.reference` imports every name here, so
``reference.sgd_update`` is this module's). Each has a twin with the same name and signature in
:mod:`tinycnn.kernels.numba_elementwise` (the updates: :mod:`tinycnn.kernels.numba_optimizers`), which fuses
the several passes over memory NumPy makes here into one or two.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from ..hints import Array

__all__ = [
    "batchnorm_forward",
    "batchnorm_inference",
    "batchnorm_backward",
    "relu_forward",
    "relu_backward",
    "bias_gradient",
    "sgd_update",
    "adam_update",
    "adamax_update",
    "nadam_momentum_schedule",
    "nadam_update",
    "rmsprop_update",
    "adagrad_update",
    "adadelta_update",
]


# --------------------------------------------------------------------------------------------------------------
# BatchNormalization and the SGD update: the passes over memory that the Numba engine fuses.
# --------------------------------------------------------------------------------------------------------------
def batchnorm_forward(x: Array, gamma: Array, beta: Array, epsilon: float) -> tuple[Array, Array, Array, Array, Array]:
    """Training-mode batch normalization of a ``(M, C)`` array: each column is one channel.

    (A 4-D ``(N, H, W, C)`` input is passed as its ``(N*H*W, C)`` view.) The statistics are accumulated in
    float64 whatever the dtype of ``x``::

        mean = (1/M) sum_m x[m]            var = (1/M) sum_m (x[m] - mean)^2      (biased, as Keras)
        x_hat = (x - mean) / sqrt(var + epsilon)
        y = gamma * x_hat + beta

    Returns ``(y, x_hat, mean, var, inv_std)``: ``y`` and ``x_hat`` like ``x``; ``mean`` and ``var`` float64
    ``(C,)``; ``inv_std = 1 / sqrt(var + epsilon)`` as ``(C,)`` in the dtype of ``x``.
    """
    mean = x.mean(axis=0, dtype=np.float64)
    centered = x - mean.astype(x.dtype)
    var = np.mean(np.square(centered, dtype=np.float64), axis=0)
    inv_std = (1.0 / np.sqrt(var + epsilon)).astype(x.dtype)
    x_hat = centered * inv_std
    return x_hat * gamma + beta, x_hat, mean, var, inv_std


def batchnorm_inference(x: Array, scale: Array, shift: Array) -> Array:
    """Inference-mode batch normalization of a ``(M, C)`` array: a fixed affine map per channel::

        y = gamma * (x - moving_mean) / sqrt(moving_variance + epsilon) + beta = x * scale + shift

    with ``scale = gamma / sqrt(moving_variance + epsilon)`` and ``shift = beta - moving_mean * scale``
    (``(C,)``, computed once by the layer). Returns ``y`` like ``x``.
    """
    return x * scale + shift


def batchnorm_backward(dy: Array, x_hat: Array, gamma: Array, inv_std: Array) -> tuple[Array, Array, Array]:
    """Gradient of :func:`batchnorm_forward` (training mode), for ``(M, C)`` arrays::

        dbeta  = sum_m dy                  dgamma = sum_m dy * x_hat          (accumulated in float64)
        dx     = gamma * inv_std * (dy - dbeta / M - x_hat * dgamma / M)

    Returns ``(dx, dgamma, dbeta)``; ``dgamma`` and ``dbeta`` are float64 ``(C,)``.
    """
    m = dy.shape[0]
    dbeta = dy.sum(axis=0, dtype=np.float64)
    dgamma = (dy * x_hat).sum(axis=0, dtype=np.float64)
    dx = (gamma * inv_std) * (dy - (dbeta / m).astype(dy.dtype) - x_hat * (dgamma / m).astype(dy.dtype))
    return dx.astype(dy.dtype, copy=False), dgamma, dbeta


def relu_forward(z: Array) -> Array:
    """``max(z, 0)`` element-wise (the detector stage; Goodfellow et al. 9.3)."""
    return np.maximum(z, 0)


def relu_backward(dy: Array, z: Array) -> Array:
    """``dy`` where ``z > 0``, else 0 (the derivative at ``z == 0`` is taken as 0, as TensorFlow does)."""
    return np.where(z > 0, dy, 0).astype(dy.dtype, copy=False)


def bias_gradient(dz: Array) -> Array:
    """Gradient of a bias added to every position: ``dbias[f] = sum over all leading axes of dz[..., f]``.

    A bias ``b`` of shape ``(F,)`` is broadcast over the batch (and the pixels of a convolution), so each
    ``b[f]`` touches every ``z[..., f]`` with derivative 1 and its gradient is the sum of those ``dz``
    (CS231n, "backprop for broadcasting": a broadcast in the forward pass is a sum in the backward pass).
    Returns ``(F,)`` in the dtype of ``dz``.
    """
    return dz.reshape(-1, dz.shape[-1]).sum(axis=0)


# ------------------------------------------------------------------------------------------------ optimizers
# Each optimizer step updates one weight ``w`` and its slot arrays in place. Scalars are cast to ``w``'s dtype
# first, so float32 weights are updated in float32 arithmetic, as Keras does. ``wd`` is the decoupled weight
# decay of the step, ``learning_rate * weight_decay`` (0 for none): Keras applies ``w -= w * wd`` before the
# rule itself (Loshchilov & Hutter 2019). The rules and their papers: :mod:`tinycnn.optimizers`.


#: ``keep(a)``: the buffer that must receive ``a``'s values from before the step (the training loop's undo).
Keep = Callable[[Array], Array]


def _keep(keep, *arrays):
    """Copy each updated array (None skipped) into ``keep(array)`` before the step changes it. Every update
    kernel takes ``keep=`` and returns whether every new weight is finite: the training loop undoes a step
    whose weights overflowed from these copies (the engine makes them in the same pass as the update)."""
    if keep is not None:
        for a in arrays:
            if a is not None:
                np.copyto(keep(a), a)


def _finite(w):
    return bool(np.isfinite(w).all())


def _decay_weight(w, wd):
    if wd:
        w -= w * w.dtype.type(wd)


def sgd_update(
    w: Array,
    g: Array,
    v: Array | None,
    lr: float,
    momentum: float,
    nesterov: bool,
    wd: float = 0.0,
    keep: Keep | None = None,
) -> bool:
    """One SGD step on ``w`` in place (Keras's rule; ``v`` is the velocity, updated in place)::

    w -= wd * w                                       (weight decay, if wd != 0)
    momentum == 0:  w -= lr * g
    otherwise:      v = momentum * v - lr * g;   w += v   (or w += momentum * v - lr * g, nesterov)
    """
    _keep(keep, w, v)
    _decay_weight(w, wd)
    lr = w.dtype.type(lr)
    if momentum == 0.0:
        w -= lr * g
        return _finite(w)
    m = w.dtype.type(momentum)
    v *= m
    v -= lr * g
    if nesterov:
        w += m * v - lr * g
    else:
        w += v
    return _finite(w)


def adam_update(
    w: Array,
    g: Array,
    m: Array,
    v: Array,
    v_hat: Array | None,
    lr: float,
    beta_1: float,
    beta_2: float,
    epsilon: float,
    step: int,
    wd: float,
    keep: Keep | None = None,
) -> bool:
    """One Adam step (Keras 3's arithmetic; ``step`` = t, 1 for the first update). ``v_hat`` is None unless
    amsgrad::

        w     -= wd * w
        m     += (g - m) * (1 - beta_1)                  m = beta_1 m + (1 - beta_1) g
        v     += (g * g - v) * (1 - beta_2)              v = beta_2 v + (1 - beta_2) g^2
        v_hat  = max(v_hat, v)                           (amsgrad; then v_hat is used in place of v)
        alpha  = lr * sqrt(1 - beta_2^t) / (1 - beta_1^t)
        w     -= m * alpha / (sqrt(v) + epsilon)
    """
    _keep(keep, w, m, v, v_hat)
    dt = w.dtype.type
    _decay_weight(w, wd)
    m += (g - m) * dt(1 - beta_1)
    v += (g * g - v) * dt(1 - beta_2)
    if v_hat is not None:
        np.maximum(v_hat, v, out=v_hat)
        v = v_hat
    alpha = dt(lr * np.sqrt(1 - beta_2**step) / (1 - beta_1**step))
    w -= m * alpha / (np.sqrt(v) + dt(epsilon))
    return _finite(w)


def adamax_update(
    w: Array,
    g: Array,
    m: Array,
    u: Array,
    lr: float,
    beta_1: float,
    beta_2: float,
    epsilon: float,
    step: int,
    wd: float,
    keep: Keep | None = None,
) -> bool:
    """One Adamax step (Keras 3's arithmetic; ``u`` is the infinity-norm accumulator)::

    w -= wd * w
    m += (g - m) * (1 - beta_1)
    u  = max(beta_2 * u, |g|)
    w -= lr * m / ((1 - beta_1^t) * (u + epsilon))
    """
    _keep(keep, w, m, u)
    dt = w.dtype.type
    _decay_weight(w, wd)
    m += (g - m) * dt(1 - beta_1)
    np.maximum(dt(beta_2) * u, np.abs(g), out=u)
    w -= dt(lr) * m / (dt(1 - beta_1**step) * (u + dt(epsilon)))
    return _finite(w)


def nadam_momentum_schedule(beta_1: float, step: int) -> float:
    """Dozat's momentum schedule as Keras uses it: ``mu_t = beta_1 * (1 - 0.5 * 0.96^t)``."""
    return beta_1 * (1.0 - 0.5 * 0.96**step)


def nadam_update(
    w: Array,
    g: Array,
    m: Array,
    v: Array,
    lr: float,
    beta_1: float,
    beta_2: float,
    epsilon: float,
    step: int,
    u_product: float,
    wd: float,
    keep: Keep | None = None,
) -> bool:
    """One Nadam step (Keras 3's arithmetic). ``u_product`` = ``mu_1 * ... * mu_t`` (the optimizer keeps it)::

    mu_t, mu_t1 = beta_1 (1 - 0.5 * 0.96^t), beta_1 (1 - 0.5 * 0.96^(t+1))
    w     -= wd * w
    m     += (g - m) * (1 - beta_1)
    v     += (g * g - v) * (1 - beta_2)
    m_hat  = mu_t1 * m / (1 - u_product * mu_t1) + (1 - mu_t) * g / (1 - u_product)
    v_hat  = v / (1 - beta_2^t)
    w     -= m_hat * lr / (sqrt(v_hat) + epsilon)
    """
    _keep(keep, w, m, v)
    dt = w.dtype.type
    _decay_weight(w, wd)
    u_t, u_t1 = nadam_momentum_schedule(beta_1, step), nadam_momentum_schedule(beta_1, step + 1)
    m += (g - m) * dt(1 - beta_1)
    v += (g * g - v) * dt(1 - beta_2)
    m_hat = dt(u_t1) * m / dt(1 - u_product * u_t1) + dt(1 - u_t) * g / dt(1 - u_product)
    v_hat = v / dt(1 - beta_2**step)
    w -= m_hat * dt(lr) / (np.sqrt(v_hat) + dt(epsilon))
    return _finite(w)


def rmsprop_update(
    w: Array,
    g: Array,
    v: Array,
    mom: Array | None,
    avg_g: Array | None,
    lr: float,
    rho: float,
    momentum: float,
    epsilon: float,
    wd: float,
    keep: Keep | None = None,
) -> bool:
    """One RMSprop step (Keras 3's arithmetic). ``mom`` is None when momentum == 0, ``avg_g`` None unless
    centered::

        w   -= wd * w
        v    = rho * v + (1 - rho) * g^2
        avg_g = rho * avg_g + (1 - rho) * g              (centered)
        step = lr * g / sqrt(v - avg_g^2 + epsilon)       (centered; else sqrt(v + epsilon))
        mom  = momentum * mom + step;  w -= mom          (momentum > 0; else w -= step)
    """
    _keep(keep, w, v, mom, avg_g)
    dt = w.dtype.type
    _decay_weight(w, wd)
    rho_ = dt(rho)
    v[...] = rho_ * v + dt(1 - rho) * (g * g)
    if avg_g is not None:
        avg_g[...] = rho_ * avg_g + dt(1 - rho) * g
        denominator = v - avg_g * avg_g + dt(epsilon)
    else:
        denominator = v + dt(epsilon)
    increment = dt(lr) * g / np.sqrt(denominator)
    if mom is not None:
        mom[...] = dt(momentum) * mom + increment
        w -= mom
    else:
        w -= increment
    return _finite(w)


def adagrad_update(
    w: Array, g: Array, acc: Array, lr: float, epsilon: float, wd: float, keep: Keep | None = None
) -> bool:
    """One Adagrad step (Keras 3's arithmetic; ``acc`` starts at ``initial_accumulator_value``)::

    w   -= wd * w
    acc += g^2
    w   -= lr * g / sqrt(acc + epsilon)
    """
    _keep(keep, w, acc)
    dt = w.dtype.type
    _decay_weight(w, wd)
    acc += g * g
    w -= dt(lr) * g / np.sqrt(acc + dt(epsilon))
    return _finite(w)


def adadelta_update(
    w: Array,
    g: Array,
    acc_g: Array,
    acc_dx: Array,
    lr: float,
    rho: float,
    epsilon: float,
    wd: float,
    keep: Keep | None = None,
) -> bool:
    """One Adadelta step (Keras 3's arithmetic: the step is multiplied by ``lr``, Zeiler's has none)::

    w      -= wd * w
    acc_g   = rho * acc_g + (1 - rho) * g^2
    dx      = -sqrt(acc_dx + epsilon) * g / sqrt(acc_g + epsilon)
    acc_dx  = rho * acc_dx + (1 - rho) * dx^2
    w      += lr * dx
    """
    _keep(keep, w, acc_g, acc_dx)
    dt = w.dtype.type
    _decay_weight(w, wd)
    rho_, eps = dt(rho), dt(epsilon)
    acc_g[...] = rho_ * acc_g + dt(1 - rho) * (g * g)
    dx = -(np.sqrt(acc_dx + eps) * g / np.sqrt(acc_g + eps))
    acc_dx[...] = rho_ * acc_dx + dt(1 - rho) * (dx * dx)
    w += dt(lr) * dx
    return _finite(w)
