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


# ------------------------------------------------------------------------------------------------------------
# Every optimizer: the kernels' two backends agree; hand-computed first steps; undo of a refused step; errors.
# (Parity with Keras itself: tests/test_optimizers_keras.py.)
import warnings  # noqa: E402

from tinycnn import kernels  # noqa: E402
from tinycnn.kernels import numba_optimizers as fast  # noqa: E402
from tinycnn.kernels import reference as ref  # noqa: E402
from tinycnn.layers import Dense  # noqa: E402
from tinycnn.models import Sequential  # noqa: E402
from tinycnn.optimizers import schedules  # noqa: E402

DTYPES = st.sampled_from([np.float32, np.float64])


def _tol(dtype):
    return dict(rtol=2e-5, atol=2e-6) if dtype == np.float32 else dict(rtol=1e-10, atol=1e-13)


def _kernel_calls(rng, n, dtype):
    """Each update kernel with random hyperparameters and options: ``(name, slot names, call(module, w, g,
    slots, step))``."""
    b1, b2 = rng.uniform(0.5, 0.95), rng.uniform(0.9, 0.999)
    lr, eps, wd = rng.uniform(1e-3, 0.1), 10.0 ** rng.uniform(-8, -3), rng.choice([0.0, 1e-3])
    rho, mom = rng.uniform(0.5, 0.99), rng.choice([0.0, 0.9])
    amsgrad, centered, nesterov = bool(rng.integers(2)), bool(rng.integers(2)), bool(rng.integers(2))
    u_product = 0.9 * 0.8
    return [
        ("sgd_update", ["v"], lambda k, w, g, s, t: k.sgd_update(w, g, s["v"], lr, mom, nesterov, wd)),
        (
            "adam_update",
            ["m", "v", "vh"],
            lambda k, w, g, s, t: k.adam_update(
                w, g, s["m"], s["v"], s["vh"] if amsgrad else None, lr, b1, b2, eps, t, wd
            ),
        ),
        (
            "adamax_update",
            ["m", "u"],
            lambda k, w, g, s, t: k.adamax_update(w, g, s["m"], s["u"], lr, b1, b2, eps, t, wd),
        ),
        (
            "nadam_update",
            ["m", "v"],
            lambda k, w, g, s, t: k.nadam_update(w, g, s["m"], s["v"], lr, b1, b2, eps, t, u_product, wd),
        ),
        (
            "rmsprop_update",
            ["v", "mom", "a"],
            lambda k, w, g, s, t: k.rmsprop_update(
                w, g, s["v"], s["mom"] if mom else None, s["a"] if centered else None, lr, rho, mom, eps, wd
            ),
        ),
        ("adagrad_update", ["acc"], lambda k, w, g, s, t: k.adagrad_update(w, g, s["acc"], lr, eps, wd)),
        (
            "adadelta_update",
            ["ag", "ad"],
            lambda k, w, g, s, t: k.adadelta_update(w, g, s["ag"], s["ad"], lr, rho, eps, wd),
        ),
    ]


@settings(max_examples=25, deadline=None)
@given(st.integers(1, 700), DTYPES, st.integers(0, 2**31 - 1))
def test_update_kernels_numba_matches_reference(n, dtype, seed):
    rng = np.random.default_rng(seed)
    shape = (n,) if n % 2 else (n // 2 + 1, 2) if n > 2 else (n,)
    for name, slot_names, call in _kernel_calls(rng, n, dtype):
        w0 = rng.normal(size=shape).astype(dtype)
        # accumulators positive; RMSprop's average gradient "a" small enough that v - a^2 > 0, as in training
        slots0 = {s: (0.1 * np.abs(rng.normal(size=shape)) + 0.01).astype(dtype) for s in slot_names}
        if "a" in slots0:
            slots0["a"] = (0.02 * rng.normal(size=shape)).astype(dtype)
        w_ref, w_fast = w0.copy(), w0.copy()
        s_ref = {k: v.copy() for k, v in slots0.items()}
        s_fast = {k: v.copy() for k, v in slots0.items()}
        for t in range(1, 4):
            g = rng.normal(size=shape).astype(dtype)
            call(ref, w_ref, g, s_ref, t)
            call(fast, w_fast, g, s_fast, t)
        assert w_fast.dtype == np.dtype(dtype)
        np.testing.assert_allclose(w_fast, w_ref, **_tol(dtype), err_msg=name)
        for k in slots0:
            np.testing.assert_allclose(s_fast[k], s_ref[k], **_tol(dtype), err_msg=f"{name} slot {k}")
        assert not np.array_equal(w_ref, w0), name


OPTIMIZERS = ["SGD", "Adam", "AdamW", "RMSprop", "Adagrad", "Adadelta", "Nadam", "Adamax"]


@pytest.mark.parametrize("backend", kernels.BACKENDS)
def test_first_steps_by_hand(backend):
    """The first step of each rule, worked out on paper (float64, one weight, g = 2)."""
    previous = kernels.set_backend(backend)
    try:

        def step(opt, g=2.0, w=1.0):
            w = np.array([w])
            opt.apply_gradients([(np.array([g]), w)])
            return w[0]

        # Adam: m = 0.2, v = 0.004; alpha = lr sqrt(0.001) / 0.1; w -= alpha m / (sqrt(v) + eps)
        alpha = 0.1 * np.sqrt(1 - 0.999) / (1 - 0.9)
        assert step(optimizers.Adam(0.1)) == pytest.approx(1 - alpha * 0.2 / (np.sqrt(0.004) + 1e-7), rel=1e-12)
        # AdamW: the same after w *= 1 - lr * weight_decay
        assert step(optimizers.AdamW(0.1, weight_decay=0.5)) == pytest.approx(
            0.95 - alpha * 0.2 / (np.sqrt(0.004) + 1e-7), rel=1e-12
        )
        # RMSprop: v = 0.1 * 4; w -= lr g / sqrt(v + eps)
        assert step(optimizers.RMSprop(0.1)) == pytest.approx(1 - 0.1 * 2 / np.sqrt(0.4 + 1e-7), rel=1e-12)
        # Adagrad: acc = 0.1 + 4
        assert step(optimizers.Adagrad(0.1)) == pytest.approx(1 - 0.1 * 2 / np.sqrt(4.1 + 1e-7), rel=1e-12)
        # Adadelta: acc_g = 0.05 * 4; dx = -sqrt(eps) g / sqrt(acc_g + eps)
        dx = -np.sqrt(1e-7) * 2 / np.sqrt(0.2 + 1e-7)
        assert step(optimizers.Adadelta(1.0)) == pytest.approx(1 + dx, rel=1e-12)
        # Adamax: m = 0.2, u = 2; w -= lr m / ((1 - 0.9) (u + eps))
        assert step(optimizers.Adamax(0.1)) == pytest.approx(1 - 0.1 * 0.2 / (0.1 * (2 + 1e-7)), rel=1e-12)
        # Nadam: mu_1 = 0.9 (1 - 0.5 * 0.96), mu_2 = 0.9 (1 - 0.5 * 0.96^2)
        mu1, mu2 = 0.9 * (1 - 0.5 * 0.96), 0.9 * (1 - 0.5 * 0.96**2)
        m_hat = mu2 * 0.2 / (1 - mu1 * mu2) + (1 - mu1) * 2 / (1 - mu1)
        v_hat = 0.004 / (1 - 0.999)
        assert step(optimizers.Nadam(0.1)) == pytest.approx(1 - 0.1 * m_hat / (np.sqrt(v_hat) + 1e-7), rel=1e-12)
        # SGD with weight decay: w = w - lr wd w - lr g
        assert step(optimizers.SGD(0.1, weight_decay=0.5)) == pytest.approx(0.95 - 0.2, rel=1e-12)
    finally:
        kernels.set_backend(previous)


def test_clipping_by_hand():
    g = np.array([3.0, 4.0])  # norm 5
    for opt, expected in [
        (optimizers.SGD(1.0, clipnorm=1.0), -g / 5),
        (optimizers.SGD(1.0, clipvalue=3.5), -np.array([3.0, 3.5])),
        (optimizers.SGD(1.0, global_clipnorm=10.0), -g),
    ]:  # norm 5 < 10: unclipped
        w = np.zeros(2)
        opt.apply_gradients([(g, w)])
        np.testing.assert_allclose(w, expected, rtol=1e-12)
    # global_clipnorm: the norm over both weights is 10 -> everything scaled by 2 / 10
    w1, w2 = np.zeros(2), np.zeros(2)
    optimizers.SGD(1.0, global_clipnorm=2.0).apply_gradients([(g, w1), (2 * g, w2)])
    scale = 2.0 / np.sqrt(25 + 100)
    np.testing.assert_allclose(w1, -g * scale, rtol=1e-12)
    np.testing.assert_allclose(w2, -2 * g * scale, rtol=1e-12)


@pytest.mark.parametrize("name", OPTIMIZERS)
@pytest.mark.parametrize("backend", kernels.BACKENDS)
def test_refused_step_restores_every_slot_exactly(name, backend):
    """Through ``Sequential.train_on_batch``: a step whose update overflows (a learning rate of 1e39 is inf in
    float32) is refused, and weights, every slot and ``iterations`` are exactly as before; training then
    continues exactly as a twin model that never saw the refused step."""
    previous = kernels.set_backend(backend)
    try:
        rng = np.random.default_rng(0)
        x, y = rng.normal(size=(16, 3)).astype(np.float32), rng.normal(size=(16, 2)).astype(np.float32)
        extra = dict(momentum=0.9) if name in ("SGD", "RMSprop") else {}
        models = []
        for _ in range(2):
            model = Sequential([Dense(4, activation="relu", input_shape=(3,)), Dense(2)])
            model.compile(optimizer=getattr(optimizers, name)(learning_rate=0.01, **extra), loss="mse")
            model.build((None, 3))
            models.append(model)
        models[1].set_weights(models[0].get_weights())
        for model in models:
            for _ in range(3):
                model.train_on_batch(x, y)
        a, b = models
        weights = [w for layer in a.layers for w in layer.params.values()]
        state = [s.copy() for s in a.optimizer.state_arrays(weights)]
        before = a.get_weights()
        assert state and any(np.any(s != 0) for s in state)
        a.optimizer.learning_rate = 1e39
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            loss = a.train_on_batch(x, y)
        assert not np.isfinite(loss)
        assert a.optimizer.iterations == 3
        for w0, w1 in zip(before, a.get_weights()):
            np.testing.assert_array_equal(w0, w1)
        for s0, s1 in zip(state, a.optimizer.state_arrays(weights)):
            np.testing.assert_array_equal(s0, s1)
        a.optimizer.learning_rate = 0.01
        for model in models:
            model.train_on_batch(x, y)
        for wa, wb in zip(a.get_weights(), b.get_weights()):
            np.testing.assert_array_equal(wa, wb)
    finally:
        kernels.set_backend(previous)


@pytest.mark.parametrize("name", OPTIMIZERS)
def test_names_configs_and_round_trips(name):
    cls = getattr(optimizers, name)
    assert isinstance(optimizers.get(name.lower()), cls)
    assert isinstance(optimizers.get(name.upper()), cls)
    opt = cls(learning_rate=0.03, clipnorm=2.0)
    config = opt.get_config()
    assert config["learning_rate"] == 0.03 and config["clipnorm"] == 2.0
    again = optimizers.get({"class_name": name, "config": config})
    assert type(again) is cls and again.get_config() == config
    assert optimizers.deserialize(optimizers.serialize(opt)).get_config() == config
    assert cls(lr=0.2).learning_rate == 0.2  # Keras 2's spelling
    sched = schedules.ExponentialDecay(0.1, 10, 0.5)
    with_schedule = cls(learning_rate=sched)
    restored = cls.from_config(with_schedule.get_config())
    assert isinstance(restored._learning_rate, schedules.ExponentialDecay)
    assert restored.get_config() == with_schedule.get_config()


def test_learning_rate_property_as_keras():
    opt = optimizers.Adam(0.01)
    opt.learning_rate = 0.5
    assert opt.learning_rate == 0.5 and opt.lr == 0.5
    opt.learning_rate = np.float32(0.25)
    assert opt.learning_rate == 0.25 and type(opt.learning_rate) is float
    sched = schedules.PiecewiseConstantDecay([2], [1.0, 0.1])
    opt = optimizers.Adam(sched)
    w = np.ones(2)
    values = []
    for _ in range(4):
        values.append(opt.learning_rate)
        opt.apply_gradients([(np.ones(2), w)])
    assert values == [1.0, 1.0, 1.0, 0.1]
    with pytest.raises(TypeError, match="LearningRateSchedule"):
        opt.learning_rate = 0.1
    opt = optimizers.SGD(0.1)
    opt.learning_rate = lambda: 0.2  # a callable, as Keras allows
    assert opt.learning_rate == 0.2


@pytest.mark.parametrize(
    "bad, match",
    [
        (lambda: optimizers.Adam(beta_1=1.0), "beta_1"),
        (lambda: optimizers.Adam(learning_rate=-1.0), "learning_rate"),
        (lambda: optimizers.Adam(learning_rate="fast"), "learning_rate"),
        (lambda: optimizers.RMSprop(rho=1.5), "rho"),
        (lambda: optimizers.Adagrad(initial_accumulator_value=-0.1), "initial_accumulator_value"),
        (lambda: optimizers.Adam(clipnorm=1.0, clipvalue=1.0), "at most one"),
        (lambda: optimizers.AdamW(weight_decay=None), "weight_decay"),
        (lambda: optimizers.Nadam(use_ema=True), "use_ema"),
        (lambda: optimizers.Adamax(gradient_accumulation_steps=4), "gradient_accumulation_steps"),
        (lambda: optimizers.Adadelta(beta_1=0.9), "unexpected arguments"),
        (lambda: optimizers.get({"class_name": "Lion", "config": {}}), "unknown optimizer class"),
        (lambda: optimizers.get("adamax_typo"), "valid names"),
    ],
)
def test_bad_arguments_are_named(bad, match):
    with pytest.raises(InvalidArgumentError, match=match):
        bad()


def test_variables_for_order_and_set_variables_refuses_bad_shapes():
    w = [np.zeros((2, 3)), np.zeros(3)]
    opt = optimizers.RMSprop(momentum=0.5, centered=True)
    names = [n for n, _ in opt.variables_for(w, ["dense/kernel", "dense/bias"])]
    assert names == [
        "iteration",
        "learning_rate",
        "dense_kernel_velocity",
        "dense_bias_velocity",
        "dense_kernel_momentum",
        "dense_bias_momentum",
        "dense_kernel_average_gradient",
        "dense_bias_average_gradient",
    ]
    adam = optimizers.Adam(amsgrad=True)
    assert [n for n, _ in adam.variables_for(w, ["k", "b"])] == [
        "iteration",
        "learning_rate",
        "k_momentum",
        "k_velocity",
        "b_momentum",
        "b_velocity",
        "k_velocity_hat",
        "b_velocity_hat",
    ]
    values = [np.array(7), np.array(0.5, np.float32)] + [np.full(a.shape, 2.0) for _, a in opt.variables_for(w)[2:]]
    bad = values[:-1] + [np.zeros(4)]
    with pytest.raises(InvalidArgumentError, match="shape"):
        opt.set_variables(w, bad)
    assert opt.iterations == 0  # nothing changed
    opt.set_variables(w, values)
    assert opt.iterations == 7 and opt.learning_rate == 0.5
    assert all(np.all(a == 2.0) for _, a in opt.variables_for(w)[2:])


def test_every_real_number_type_is_a_learning_rate():
    from fractions import Fraction

    for value in (0.5, np.float32(0.5), np.int64(1) / 2, Fraction(1, 2), np.array(0.5)):
        assert optimizers.SGD(value).learning_rate == 0.5
        assert optimizers.Adam(learning_rate=value).learning_rate == 0.5
    with pytest.raises(InvalidArgumentError, match="learning_rate"):
        optimizers.Adam(learning_rate="fast")
