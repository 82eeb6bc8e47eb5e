"""Numba twins of the optimizers' updates in :mod:`tinycnn.kernels.reference` (``reference_elementwise``): same
signatures, same math, one parallel pass per weight.

* ``sgd_update``         -- same math as ``reference.sgd_update``: one pass updates ``v`` and ``w``.
* ``adam_update``, ``adamax_update``, ``nadam_update``, ``rmsprop_update``, ``adagrad_update``,
  ``adadelta_update`` -- same math as their ``reference`` twins: one parallel pass reads ``g`` and each slot
  once and writes the slots and ``w`` (NumPy makes one pass per operation, with temporaries). The step's
  scalars (Adam's ``alpha``, Nadam's momentum schedule ...) are computed once, outside the loop, and cast to
  ``w``'s dtype so float32 weights are updated in float32 arithmetic like the reference. Slots the options
  leave out (``v_hat`` without amsgrad ...) are passed as empty arrays with a flag.

**Updates in place, whatever the layout.** The update kernels walk ``w`` and its slots as flat 1-D arrays.
``a.reshape(-1)`` is a view only for a C-contiguous array; for any other (a transposed or sliced weight) it
is a *copy*, and an update written into the copy would be lost while the reference updates the weight.
:func:`_updated_in_place` hands the kernel views where it can and, where it cannot, a contiguous copy that
it writes back after the kernel: the weight and every slot always end up updated, as in the reference.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator

import numpy as np
from numba import njit, prange
from numpy.typing import ArrayLike, DTypeLike

from ..hints import Array
from .threads import engine_call

#: ``keep(a)``: the buffer that receives ``a``'s values from before the step (see :func:`_kept`).
Keep = Callable[[Array], Array]


def _sgd_momentum(w, g, v, lr, momentum, nesterov, wd, kw, kv, keeping):
    bad = 0
    for i in prange(w.size):
        if keeping:  # the old values, for the undo of a refused step (module docstring, "Keeping")
            kw[i] = w[i]
            kv[i] = v[i]
        wi = w[i] - w[i] * wd
        vi = momentum * v[i] - lr * g[i]
        v[i] = vi
        if nesterov:
            wi = wi + (momentum * vi - lr * g[i])
        else:
            wi = wi + vi
        w[i] = wi
        bad += 0 if wi - wi == 0 else 1  # inf - inf and NaN - NaN are NaN: a non-finite new weight
    return bad == 0


def _sgd_plain(w, g, lr, wd, kw, keeping):
    bad = 0
    for i in prange(w.size):
        if keeping:
            kw[i] = w[i]
        wi = w[i] - w[i] * wd
        wi = wi - lr * g[i]
        w[i] = wi
        bad += 0 if wi - wi == 0 else 1
    return bad == 0


def _adam(w, g, m, v, v_hat, amsgrad, one_minus_b1, one_minus_b2, alpha, epsilon, wd, kw, km, kv, kvh, keeping):
    bad = 0
    for i in prange(w.size):
        if keeping:
            kw[i] = w[i]
            km[i] = m[i]
            kv[i] = v[i]
            if amsgrad:
                kvh[i] = v_hat[i]
        wi = w[i] - w[i] * wd
        gi = g[i]
        mi = m[i] + (gi - m[i]) * one_minus_b1
        vi = v[i] + (gi * gi - v[i]) * one_minus_b2
        m[i] = mi
        v[i] = vi
        if amsgrad:
            vi = max(v_hat[i], vi)
            v_hat[i] = vi
        wi = wi - mi * alpha / (np.sqrt(vi) + epsilon)
        w[i] = wi
        bad += 0 if wi - wi == 0 else 1
    return bad == 0


def _adamax(w, g, m, u, one_minus_b1, beta_2, lr, bias, epsilon, wd, kw, km, ku, keeping):
    bad = 0
    for i in prange(w.size):
        if keeping:
            kw[i] = w[i]
            km[i] = m[i]
            ku[i] = u[i]
        wi = w[i] - w[i] * wd
        gi = g[i]
        mi = m[i] + (gi - m[i]) * one_minus_b1
        ui = max(beta_2 * u[i], abs(gi))
        m[i] = mi
        u[i] = ui
        wi = wi - lr * mi / (bias * (ui + epsilon))
        w[i] = wi
        bad += 0 if wi - wi == 0 else 1
    return bad == 0


def _nadam(w, g, m, v, one_minus_b1, one_minus_b2, u_t1, c_m, c_g_num, c_g, c_v, lr, epsilon, wd, kw, km, kv, keeping):
    bad = 0
    for i in prange(w.size):
        if keeping:
            kw[i] = w[i]
            km[i] = m[i]
            kv[i] = v[i]
        wi = w[i] - w[i] * wd
        gi = g[i]
        mi = m[i] + (gi - m[i]) * one_minus_b1
        vi = v[i] + (gi * gi - v[i]) * one_minus_b2
        m[i] = mi
        v[i] = vi
        m_hat = u_t1 * mi / c_m + c_g_num * gi / c_g
        wi = wi - m_hat * lr / (np.sqrt(vi / c_v) + epsilon)
        w[i] = wi
        bad += 0 if wi - wi == 0 else 1
    return bad == 0


def _rmsprop(
    w,
    g,
    v,
    mom,
    avg_g,
    use_momentum,
    centered,
    rho,
    one_minus_rho,
    momentum,
    lr,
    epsilon,
    wd,
    kw,
    kv,
    kmom,
    kavg,
    keeping,
):
    bad = 0
    for i in prange(w.size):
        if keeping:
            kw[i] = w[i]
            kv[i] = v[i]
            if use_momentum:
                kmom[i] = mom[i]
            if centered:
                kavg[i] = avg_g[i]
        wi = w[i] - w[i] * wd
        gi = g[i]
        vi = rho * v[i] + one_minus_rho * (gi * gi)
        v[i] = vi
        if centered:
            ai = rho * avg_g[i] + one_minus_rho * gi
            avg_g[i] = ai
            denominator = vi - ai * ai + epsilon
        else:
            denominator = vi + epsilon
        increment = lr * gi / np.sqrt(denominator)
        if use_momentum:
            mi = momentum * mom[i] + increment
            mom[i] = mi
            wi = wi - mi
        else:
            wi = wi - increment
        w[i] = wi
        bad += 0 if wi - wi == 0 else 1
    return bad == 0


def _adagrad(w, g, acc, lr, epsilon, wd, kw, kacc, keeping):
    bad = 0
    for i in prange(w.size):
        if keeping:
            kw[i] = w[i]
            kacc[i] = acc[i]
        wi = w[i] - w[i] * wd
        gi = g[i]
        ai = acc[i] + gi * gi
        acc[i] = ai
        wi = wi - lr * gi / np.sqrt(ai + epsilon)
        w[i] = wi
        bad += 0 if wi - wi == 0 else 1
    return bad == 0


def _adadelta(w, g, acc_g, acc_dx, lr, rho, one_minus_rho, epsilon, wd, kw, kag, kadx, keeping):
    bad = 0
    for i in prange(w.size):
        if keeping:
            kw[i] = w[i]
            kag[i] = acc_g[i]
            kadx[i] = acc_dx[i]
        wi = w[i] - w[i] * wd
        gi = g[i]
        ag = rho * acc_g[i] + one_minus_rho * (gi * gi)
        acc_g[i] = ag
        dx = -(np.sqrt(acc_dx[i] + epsilon) * gi / np.sqrt(ag + epsilon))
        acc_dx[i] = rho * acc_dx[i] + one_minus_rho * (dx * dx)
        wi = wi + lr * dx
        w[i] = wi
        bad += 0 if wi - wi == 0 else 1
    return bad == 0


_sgd_momentum_jit = njit(parallel=True, cache=True)(_sgd_momentum)
_sgd_plain_jit = njit(parallel=True, cache=True)(_sgd_plain)
_adam_jit = njit(parallel=True, cache=True)(_adam)
_adamax_jit = njit(parallel=True, cache=True)(_adamax)
_nadam_jit = njit(parallel=True, cache=True)(_nadam)
_rmsprop_jit = njit(parallel=True, cache=True)(_rmsprop)
_adagrad_jit = njit(parallel=True, cache=True)(_adagrad)
_adadelta_jit = njit(parallel=True, cache=True)(_adadelta)


def _flat(a: ArrayLike, dtype: DTypeLike) -> Array:
    """A read-only input (the gradient) as a contiguous 1-D array of ``dtype`` (no copy when it already is one)."""
    return np.ascontiguousarray(a, dtype=dtype).reshape(-1)


def _kept(keep: Keep | None, arrays: tuple[Array | None, ...], dtype: DTypeLike) -> tuple[list[Array], bool]:
    """1-D buffers for the values ``arrays`` hold before the step, and whether the kernel is to write them.

    ``keep(a)`` gives the buffer that must receive ``a``'s values (the training loop's undo,
    :class:`tinycnn.models.safety._Undo`); the kernel copies each element there as it reads it, in the same
    pass as the update. Where an array or its buffer is not C-contiguous (its 1-D view would be a copy), the
    copies are made here instead and the kernel keeps nothing. None (a slot the options leave out) and no
    ``keep`` give empty arrays.
    """
    empty = np.empty(0, dtype=dtype)
    if keep is None:
        return [empty] * len(arrays), False
    buffers = [None if a is None else keep(a) for a in arrays]
    pairs = [(a, b) for a, b in zip(arrays, buffers) if a is not None]
    if all(a.flags.c_contiguous and b.flags.c_contiguous and a.dtype == b.dtype == dtype for a, b in pairs):
        return [empty if b is None else b.reshape(-1) for b in buffers], True
    for a, b in pairs:
        np.copyto(b, a)
    return [empty] * len(arrays), False


@contextlib.contextmanager
def _updated_in_place(*arrays: Array | None) -> Iterator[list[Array]]:
    """Yield 1-D arrays for ``arrays`` (None passes through as an empty array) that a kernel may update; on
    exit every one that was not a view of its array is written back into it.

    >>> w = np.zeros((3, 2)).T                    # not C-contiguous: w.reshape(-1) would be a copy
    >>> with _updated_in_place(w) as (flat_w,):
    ...     flat_w += 1
    >>> w
    array([[1., 1., 1.],
           [1., 1., 1.]])
    """
    flats = []
    for a in arrays:
        if a is None:
            flats.append(np.empty(0))
        elif a.flags.c_contiguous:
            flats.append(a.reshape(-1))  # a view
        else:
            flats.append(np.ascontiguousarray(a).reshape(-1))  # a copy, written back below
    yield flats
    for a, flat in zip(arrays, flats):
        if a is not None and not a.flags.c_contiguous:
            a[...] = flat.reshape(a.shape)


@engine_call
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
    """Same math as :func:`tinycnn.kernels.reference.sgd_update` (``w`` and ``v`` updated in place); with
    ``keep``, their old values go to ``keep(w)``, ``keep(v)`` in the same pass. True if every new weight is
    finite."""
    dt = w.dtype.type
    flat_g = _flat(g, w.dtype)
    if momentum == 0.0:
        (kw,), keeping = _kept(keep, (w,), w.dtype)
        with _updated_in_place(w) as (flat_w,):
            return bool(_sgd_plain_jit(flat_w, flat_g, dt(lr), dt(wd), kw, keeping))
    (kw, kv), keeping = _kept(keep, (w, v), w.dtype)
    with _updated_in_place(w, v) as (flat_w, flat_v):
        return bool(
            _sgd_momentum_jit(flat_w, flat_g, flat_v, dt(lr), dt(momentum), bool(nesterov), dt(wd), kw, kv, keeping)
        )


@engine_call
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
    """Same math as :func:`tinycnn.kernels.reference.adam_update`, one pass (``alpha`` computed once); ``keep``
    as in :func:`sgd_update`."""
    dt = w.dtype.type
    amsgrad = v_hat is not None
    alpha = dt(lr * np.sqrt(1 - beta_2**step) / (1 - beta_1**step))
    kept, keeping = _kept(keep, (w, m, v, v_hat), w.dtype)
    with _updated_in_place(w, m, v, v_hat) as (flat_w, flat_m, flat_v, flat_v_hat):
        return _adam_jit(
            flat_w,
            _flat(g, w.dtype),
            flat_m,
            flat_v,
            flat_v_hat.astype(w.dtype, copy=False),
            amsgrad,
            dt(1 - beta_1),
            dt(1 - beta_2),
            alpha,
            dt(epsilon),
            dt(wd),
            *kept,
            keeping,
        )


@engine_call
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
    """Same math as :func:`tinycnn.kernels.reference.adamax_update`, one pass; ``keep`` as in :func:`sgd_update`."""
    dt = w.dtype.type
    kept, keeping = _kept(keep, (w, m, u), w.dtype)
    with _updated_in_place(w, m, u) as (flat_w, flat_m, flat_u):
        return _adamax_jit(
            flat_w,
            _flat(g, w.dtype),
            flat_m,
            flat_u,
            dt(1 - beta_1),
            dt(beta_2),
            dt(lr),
            dt(1 - beta_1**step),
            dt(epsilon),
            dt(wd),
            *kept,
            keeping,
        )


@engine_call
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
    """Same math as :func:`tinycnn.kernels.reference.nadam_update`, one pass (the schedule computed once);
    ``keep`` as in :func:`sgd_update`."""
    from .reference import nadam_momentum_schedule

    dt = w.dtype.type
    u_t, u_t1 = nadam_momentum_schedule(beta_1, step), nadam_momentum_schedule(beta_1, step + 1)
    kept, keeping = _kept(keep, (w, m, v), w.dtype)
    with _updated_in_place(w, m, v) as (flat_w, flat_m, flat_v):
        return _nadam_jit(
            flat_w,
            _flat(g, w.dtype),
            flat_m,
            flat_v,
            dt(1 - beta_1),
            dt(1 - beta_2),
            dt(u_t1),
            dt(1 - u_product * u_t1),
            dt(1 - u_t),
            dt(1 - u_product),
            dt(1 - beta_2**step),
            dt(lr),
            dt(epsilon),
            dt(wd),
            *kept,
            keeping,
        )


@engine_call
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
    """Same math as :func:`tinycnn.kernels.reference.rmsprop_update`, one pass; ``keep`` as in :func:`sgd_update`."""
    dt = w.dtype.type
    kept, keeping = _kept(keep, (w, v, mom, avg_g), w.dtype)
    with _updated_in_place(w, v, mom, avg_g) as (flat_w, flat_v, flat_mom, flat_avg_g):
        return _rmsprop_jit(
            flat_w,
            _flat(g, w.dtype),
            flat_v,
            flat_mom.astype(w.dtype, copy=False),
            flat_avg_g.astype(w.dtype, copy=False),
            mom is not None,
            avg_g is not None,
            dt(rho),
            dt(1 - rho),
            dt(momentum),
            dt(lr),
            dt(epsilon),
            dt(wd),
            *kept,
            keeping,
        )


@engine_call
def adagrad_update(
    w: Array, g: Array, acc: Array, lr: float, epsilon: float, wd: float, keep: Keep | None = None
) -> bool:
    """Same math as :func:`tinycnn.kernels.reference.adagrad_update`, one pass; ``keep`` as in :func:`sgd_update`."""
    dt = w.dtype.type
    kept, keeping = _kept(keep, (w, acc), w.dtype)
    with _updated_in_place(w, acc) as (flat_w, flat_acc):
        return _adagrad_jit(flat_w, _flat(g, w.dtype), flat_acc, dt(lr), dt(epsilon), dt(wd), *kept, keeping)


@engine_call
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
    """Same math as :func:`tinycnn.kernels.reference.adadelta_update`, one pass; ``keep`` as in :func:`sgd_update`."""
    dt = w.dtype.type
    kept, keeping = _kept(keep, (w, acc_g, acc_dx), w.dtype)
    with _updated_in_place(w, acc_g, acc_dx) as (flat_w, flat_acc_g, flat_acc_dx):
        return _adadelta_jit(
            flat_w,
            _flat(g, w.dtype),
            flat_acc_g,
            flat_acc_dx,
            dt(lr),
            dt(rho),
            dt(1 - rho),
            dt(epsilon),
            dt(wd),
            *kept,
            keeping,
        )
