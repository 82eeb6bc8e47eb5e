"""SGD: the Keras 2 update rule, checked against the formulas written out by hand."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tinycnn import optimizers
from tinycnn.errors import InvalidArgumentError


@settings(max_examples=40, deadline=None)
@given(st.floats(1e-4, 1.0), st.integers(1, 20), st.integers(0, 2**31 - 1))
def test_momentum_zero_decay_zero_is_plain_gradient_descent(lr, steps, seed):
    rng = np.random.default_rng(seed)
    w = rng.normal(size=5)
    expected = w.copy()
    opt = optimizers.SGD(learning_rate=lr)
    for _ in range(steps):
        g = rng.normal(size=5)
        expected = expected - lr * g
        opt.apply_gradients([(g, w)])
    np.testing.assert_allclose(w, expected, rtol=1e-12, atol=1e-12)
    assert opt.iterations == steps


@settings(max_examples=40, deadline=None)
@given(st.floats(1e-3, 0.5), st.floats(0.0, 1.0), st.integers(1, 30))
def test_decay_follows_inverse_time(lr, decay, steps):
    opt = optimizers.SGD(learning_rate=lr, decay=decay)
    w = np.zeros(1)
    for t in range(steps):
        assert opt.current_learning_rate() == pytest.approx(lr / (1 + decay * t))
        before = w.copy()
        opt.apply_gradients([(np.ones(1), w)])
        np.testing.assert_allclose(before - w, lr / (1 + decay * t), rtol=1e-12)


@pytest.mark.parametrize("nesterov", [False, True])
def test_momentum_matches_the_written_rule(nesterov):
    rng = np.random.default_rng(0)
    lr, momentum, decay = 0.05, 0.9, 0.01
    w = rng.normal(size=(3, 2))
    ref_w, v = w.copy(), np.zeros_like(w)
    opt = optimizers.SGD(learning_rate=lr, momentum=momentum, decay=decay, nesterov=nesterov)
    for t in range(25):
        g = rng.normal(size=w.shape)
        lr_t = lr / (1 + decay * t)
        v = momentum * v - lr_t * g
        ref_w = ref_w + (momentum * v - lr_t * g if nesterov else v)
        opt.apply_gradients([(g, w)])
    np.testing.assert_allclose(w, ref_w, rtol=1e-12)


def test_old_lr_spelling_and_names():
    assert optimizers.SGD(lr=0.3).learning_rate == 0.3
    assert isinstance(optimizers.get("sgd"), optimizers.SGD)
    with pytest.raises(InvalidArgumentError, match="valid names"):
        optimizers.get("adamw_typo")
    with pytest.raises(InvalidArgumentError, match="momentum"):
        optimizers.SGD(momentum=1.5)


def test_float32_weights_stay_float32():
    w = np.ones(4, dtype=np.float32)
    optimizers.SGD(0.1, momentum=0.9).apply_gradients([(np.ones(4), w)])
    assert w.dtype == np.float32 and np.allclose(w, 0.9)
