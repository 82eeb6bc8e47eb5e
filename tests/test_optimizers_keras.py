"""Every optimizer against Keras 3: the same initial weights and the same gradients, step by step.

No model is needed: Keras's optimizer runs ``apply_gradients`` on ``keras.Variable``s, ours on NumPy arrays,
with the same list of gradients at every step (drawn once from a seed; a fresh one each step). After
``STEPS`` steps the weights must agree:

* float32: the final weights within relative ``2e-4`` of Keras's (``max|a - b| / max|b|``), and so must the
  distance travelled ``w_final - w_0`` (a stricter check when the learning rate is small);
* float64: the distance travelled within ``3e-5``. Keras keeps its learning rate and schedules in float32
  (about 1e-7 between the two), and its ``ops.cast(self.beta_2, float64)`` turns the Python float into a
  float32 tensor first: Adam's ``1 - beta_2**t`` then uses ``beta_2 = 0.99900001``, which moves the bias
  correction by up to 1.3e-5 in the first steps (6.5e-6 after the square root). tinycnn uses the exact
  ``beta_2``; every other optimizer agrees with Keras to about 2e-7 in float64.

Then the optimizer's state, ``variables_for`` against Keras's ``optimizer.variables``: the same names in the
same order and the same values. Every optimizer is also built by its Keras string name (Keras's defaults).

Keras is optional locally (the tests skip without TensorFlow) but required in CI (``CI=true``).
"""

import os
import re

import numpy as np
import pytest

from tinycnn import kernels, optimizers
from tinycnn.optimizers import schedules

STEPS = 50
SHAPES = [(4, 3), (3,), (2, 2, 3, 5)]
NAMES = ["w0", "w1", "w2"]
TINY = np.finfo(np.float32).tiny


def _import_keras():
    """``(tf, keras)``; skips when TensorFlow is missing, fails instead when ``CI=true`` (as test_keras_parity)."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    try:
        import keras
        import tensorflow as tf
    except ImportError as e:
        if os.environ.get("CI", "").strip().lower() == "true":
            pytest.fail(
                f"CI=true but TensorFlow/Keras cannot be imported ({e}); install the 'keras' extra", pytrace=False
            )
        pytest.skip(f"TensorFlow/Keras not installed ({e})")
    return tf, keras


@pytest.fixture(scope="module")
def tfk():
    return _import_keras()


@pytest.fixture(params=kernels.BACKENDS)
def backend(request):
    with kernels.use(request.param):  # the update kernels have no route
        yield request.param


def rel(actual, expected):
    a, b = np.asarray(actual, np.float64), np.asarray(expected, np.float64)
    return float(np.max(np.abs(a - b)) / max(float(np.max(np.abs(b))), TINY))


def problem(dtype, seed=0, steps=STEPS, scale=1.0):
    """Initial weights and one list of gradients per step (gradients with a non-zero mean, so that the
    optimizers move steadily, and a spread, so that the per-weight scalings matter)."""
    rng = np.random.default_rng(seed)
    w0 = [rng.normal(size=s).astype(dtype) for s in SHAPES]
    grads = [[(scale * (rng.normal(size=s) + 0.3)).astype(dtype) for s in SHAPES] for _ in range(steps)]
    return w0, grads


def run_keras(keras, make_opt, w0, grads, dtype):
    kvars = [keras.Variable(w.copy(), dtype=dtype, name=n) for w, n in zip(w0, NAMES)]
    opt = make_opt()
    for gs in grads:
        opt.apply_gradients(zip([keras.ops.convert_to_tensor(g) for g in gs], kvars))
    return [np.asarray(v.numpy()) for v in kvars], opt


def run_tiny(opt, w0, grads):
    ws = [w.copy() for w in w0]
    for gs in grads:
        opt.apply_gradients(zip(gs, ws))
    return ws, opt


def keras_schedule(keras, spec):
    name, kwargs = spec
    return getattr(keras.optimizers.schedules, name)(**kwargs)


def tiny_schedule(spec):
    name, kwargs = spec
    return getattr(schedules, name)(**kwargs)


# (name, kwargs, schedule or None): every optimizer, every option, every schedule as a learning rate.
CASES = [
    ("SGD", dict(learning_rate=0.05), None),
    ("SGD", dict(learning_rate=0.02, momentum=0.9), None),
    ("SGD", dict(learning_rate=0.02, momentum=0.9, nesterov=True), None),
    ("SGD", dict(learning_rate=0.02, momentum=0.5, weight_decay=0.1), None),
    ("SGD", dict(momentum=0.9), ("PiecewiseConstantDecay", dict(boundaries=[10, 30], values=[0.05, 0.02, 0.005]))),
    ("Adam", dict(learning_rate=0.01), None),
    ("Adam", dict(learning_rate=0.01, amsgrad=True), None),
    ("Adam", dict(learning_rate=0.01, beta_1=0.5, beta_2=0.9, epsilon=1e-3), None),
    ("Adam", dict(learning_rate=0.01, clipnorm=0.5), None),
    ("Adam", dict(), ("ExponentialDecay", dict(initial_learning_rate=0.02, decay_steps=10, decay_rate=0.7))),
    (
        "Adam",
        dict(),
        ("ExponentialDecay", dict(initial_learning_rate=0.02, decay_steps=10, decay_rate=0.7, staircase=True)),
    ),
    ("AdamW", dict(learning_rate=0.01), None),
    ("AdamW", dict(learning_rate=0.01, weight_decay=0.2, amsgrad=True), None),
    ("AdamW", dict(), ("CosineDecay", dict(initial_learning_rate=0.01, decay_steps=40, alpha=0.1))),
    ("RMSprop", dict(learning_rate=0.01), None),
    ("RMSprop", dict(learning_rate=0.01, momentum=0.9), None),
    ("RMSprop", dict(learning_rate=0.01, centered=True), None),
    ("RMSprop", dict(learning_rate=0.005, momentum=0.5, centered=True, rho=0.8), None),
    ("RMSprop", dict(learning_rate=0.01, clipvalue=0.5), None),
    (
        "RMSprop",
        dict(),
        ("CosineDecay", dict(initial_learning_rate=0.001, decay_steps=30, warmup_target=0.01, warmup_steps=10)),
    ),
    ("Adagrad", dict(learning_rate=0.05), None),
    ("Adagrad", dict(learning_rate=0.05, initial_accumulator_value=0.5, weight_decay=0.05), None),
    ("Adagrad", dict(), ("PolynomialDecay", dict(initial_learning_rate=0.1, decay_steps=15, power=2.0, cycle=True))),
    ("Adadelta", dict(learning_rate=1.0), None),
    ("Adadelta", dict(learning_rate=1.0, rho=0.9, epsilon=1e-4, global_clipnorm=2.0), None),
    ("Adadelta", dict(), ("PolynomialDecay", dict(initial_learning_rate=2.0, decay_steps=30, end_learning_rate=0.5))),
    ("Nadam", dict(learning_rate=0.01), None),
    ("Nadam", dict(learning_rate=0.01, global_clipnorm=1.0, weight_decay=0.1), None),
    ("Nadam", dict(), ("InverseTimeDecay", dict(initial_learning_rate=0.02, decay_steps=5, decay_rate=0.5))),
    ("Adamax", dict(learning_rate=0.01), None),
    ("Adamax", dict(learning_rate=0.01, clipnorm=1.0, beta_2=0.9), None),
    (
        "Adamax",
        dict(),
        ("CosineDecayRestarts", dict(initial_learning_rate=0.02, first_decay_steps=8, t_mul=1.5, m_mul=0.8)),
    ),
    (
        "Adamax",
        dict(),
        ("InverseTimeDecay", dict(initial_learning_rate=0.02, decay_steps=4, decay_rate=0.5, staircase=True)),
    ),
]


def _ids(case):
    name, kwargs, sched = case
    parts = [name] + [f"{k}={v}" for k, v in kwargs.items()] + ([sched[0]] if sched else [])
    return "-".join(parts)


def _compare(tfk, case, dtype):
    _, keras = tfk
    name, kwargs, sched = case
    w0, grads = problem(dtype)

    def make_keras():
        extra = {"learning_rate": keras_schedule(keras, sched)} if sched else {}
        return getattr(keras.optimizers, name)(**kwargs, **extra)

    extra = {"learning_rate": tiny_schedule(sched)} if sched else {}
    ours = getattr(optimizers, name)(**kwargs, **extra)
    kw, kopt = run_keras(keras, make_keras, w0, grads, dtype)
    tw, topt = run_tiny(ours, w0, grads)
    return w0, kw, tw, kopt, topt


def _report(what, errors):
    return what + ": " + ", ".join(f"{n}={e:.2e}" for n, e in errors.items())


@pytest.mark.parametrize("case", CASES, ids=[_ids(c) for c in CASES])
def test_float32_trajectory_matches_keras(tfk, backend, case):
    w0, kw, tw, kopt, topt = _compare(tfk, case, np.float32)
    final = {n: rel(t, k) for n, t, k in zip(NAMES, tw, kw)}
    moved = {n: rel(t - w, k - w) for n, t, k, w in zip(NAMES, tw, kw, w0)}
    assert all(e <= 2e-4 for e in final.values()), _report("final weights", final) + f"\nours {tw}\nkeras {kw}"
    assert all(e <= 2e-4 for e in moved.values()), _report("w - w0", moved) + f"\nours {tw}\nkeras {kw}"
    assert topt.iterations == int(kopt.iterations.numpy()) == STEPS
    for t in tw:
        assert t.dtype == np.float32


@pytest.mark.parametrize("case", CASES, ids=[_ids(c) for c in CASES])
def test_float64_trajectory_and_state_match_keras(tfk, case):
    w0, kw, tw, kopt, topt = _compare(tfk, case, np.float64)
    moved = {n: rel(t - w, k - w) for n, t, k, w in zip(NAMES, tw, kw, w0)}
    assert all(e <= 3e-5 for e in moved.values()), _report("w - w0", moved) + f"\nours {tw}\nkeras {kw}"
    # The state, in Keras's order and names.
    ours = topt.variables_for(tw, NAMES)
    theirs = [(v.name, np.asarray(v.numpy())) for v in kopt.variables]
    # Keras names Nadam's unnamed running product "variable", "variable_6" ... (a global counter); its files
    # key optimizer variables by position, so only the order matters there.
    keras_names = [re.sub(r"^variable_\d+$", "variable", n) for n, _ in theirs]
    assert [n for n, _ in ours] == keras_names
    for (n, a), (_, b) in zip(ours, theirs):
        assert a.shape == b.shape, n
        if n == "iteration":
            assert int(a) == int(b) == STEPS
        else:
            assert rel(a, b) <= 3e-5, f"{n}: {rel(a, b):.2e}\nours {a}\nkeras {b}"


@pytest.mark.parametrize("name", ["sgd", "adam", "adamw", "rmsprop", "adagrad", "adadelta", "nadam", "adamax"])
def test_by_string_name_with_keras_defaults(tfk, backend, name):
    _, keras = tfk
    w0, grads = problem(np.float32, seed=1, scale=0.5)
    kw, kopt = run_keras(keras, lambda: keras.optimizers.get(name), w0, grads, np.float32)
    tw, topt = run_tiny(optimizers.get(name.upper() if name == "sgd" else name), w0, grads)
    assert type(topt).__name__ == type(kopt).__name__
    assert topt.name == re.sub(r"_\d+$", "", kopt.name)  # Keras numbers its auto names: "sgd", "sgd_15" ...
    ours = topt.get_config()
    for key, value in kopt.get_config().items():
        if key == "name":
            continue
        if isinstance(value, float):
            assert ours[key] == pytest.approx(value, rel=1e-6), key
        else:
            assert ours[key] == value, key
    final = {n: rel(t, k) for n, t, k in zip(NAMES, tw, kw)}
    moved = {n: rel(t - w, k - w) for n, t, k, w in zip(NAMES, tw, kw, w0)}
    assert all(e <= 2e-4 for e in final.values()), _report("final weights", final)
    assert all(e <= 2e-4 for e in moved.values()), _report("w - w0", moved)


@pytest.mark.parametrize("name", ["Adam", "RMSprop", "Nadam"])
def test_keras2_decay_is_inverse_time_decay(tfk, name):
    """Keras 2's ``decay=d`` (which Keras 3 ignores) is Keras 3's ``InverseTimeDecay(lr, 1, d)``."""
    _, keras = tfk
    w0, grads = problem(np.float64, seed=2)
    schedule = keras.optimizers.schedules.InverseTimeDecay(0.01, 1, 0.05)
    kw, _ = run_keras(keras, lambda: getattr(keras.optimizers, name)(schedule), w0, grads, np.float64)
    tw, _ = run_tiny(getattr(optimizers, name)(lr=0.01, decay=0.05), w0, grads)
    for t, k, w in zip(tw, kw, w0):
        assert rel(t - w, k - w) <= 1e-5


def test_learning_rate_set_mid_training_as_keras(tfk):
    """``optimizer.learning_rate = x`` between steps (what the LR callbacks do) takes effect at the next step."""
    _, keras = tfk
    w0, grads = problem(np.float64, seed=3)
    kvars = [keras.Variable(w.copy(), dtype="float64") for w in w0]
    kopt = keras.optimizers.RMSprop(0.01, momentum=0.9)
    tw = [w.copy() for w in w0]
    topt = optimizers.RMSprop(0.01, momentum=0.9)
    for i, gs in enumerate(grads):
        if i in (10, 25):
            kopt.learning_rate = topt.learning_rate = topt.learning_rate * 0.3
        kopt.apply_gradients(zip([keras.ops.convert_to_tensor(g) for g in gs], kvars))
        topt.apply_gradients(zip(gs, tw))
        assert float(kopt.learning_rate.numpy()) == pytest.approx(topt.learning_rate, rel=1e-6)
    for t, k, w in zip(tw, kvars, w0):
        assert rel(t - w, k.numpy() - w) <= 1e-5


def test_set_variables_continues_a_keras_trajectory(tfk):
    """Keras's optimizer state after 20 steps, loaded with ``set_variables``, continues as Keras continues."""
    _, keras = tfk
    w0, grads = problem(np.float64, seed=4)
    kvars = [keras.Variable(w.copy(), dtype="float64", name=n) for w, n in zip(w0, NAMES)]
    kopt = keras.optimizers.Nadam(0.01, weight_decay=0.01)
    for gs in grads[:20]:
        kopt.apply_gradients(zip([keras.ops.convert_to_tensor(g) for g in gs], kvars))
    tw = [np.array(v.numpy()) for v in kvars]
    topt = optimizers.Nadam(0.5, weight_decay=0.01)
    topt.set_variables(tw, [np.asarray(v.numpy()) for v in kopt.variables], NAMES)
    assert topt.iterations == 20 and topt.learning_rate == pytest.approx(0.01)
    for gs in grads[20:]:
        kopt.apply_gradients(zip([keras.ops.convert_to_tensor(g) for g in gs], kvars))
        topt.apply_gradients(zip(gs, tw))
    for t, k, w in zip(tw, kvars, w0):
        assert rel(t - w, k.numpy() - w) <= 1e-5
