"""Learning-rate schedules against Keras 3, step by step, and their configs.

Keras computes its schedules in float32; tinycnn in float64. Values must agree to relative 1e-5 at every
step 0..200 (float32 rounding of the arguments and of powers/cosines is about 1e-6 there).
"""

import os

import numpy as np
import pytest

from tinycnn.errors import InvalidArgumentError
from tinycnn.optimizers import schedules

SPECS = [
    ("ExponentialDecay", dict(initial_learning_rate=0.1, decay_steps=20, decay_rate=0.9)),
    ("ExponentialDecay", dict(initial_learning_rate=0.1, decay_steps=7, decay_rate=0.5, staircase=True)),
    ("InverseTimeDecay", dict(initial_learning_rate=0.05, decay_steps=1, decay_rate=0.01)),
    ("InverseTimeDecay", dict(initial_learning_rate=0.05, decay_steps=10, decay_rate=0.5, staircase=True)),
    ("PiecewiseConstantDecay", dict(boundaries=[10, 50, 120], values=[1.0, 0.5, 0.1, 0.01])),
    ("PiecewiseConstantDecay", dict(boundaries=[0], values=[0.3, 0.2])),
    ("PolynomialDecay", dict(initial_learning_rate=0.1, decay_steps=100)),
    ("PolynomialDecay", dict(initial_learning_rate=0.1, decay_steps=30, end_learning_rate=0.01, power=0.5, cycle=True)),
    ("CosineDecay", dict(initial_learning_rate=0.1, decay_steps=150)),
    ("CosineDecay", dict(initial_learning_rate=0.1, decay_steps=80, alpha=0.2)),
    ("CosineDecay", dict(initial_learning_rate=0.0, decay_steps=100, warmup_target=0.1, warmup_steps=40)),
    ("CosineDecayRestarts", dict(initial_learning_rate=0.1, first_decay_steps=20)),
    ("CosineDecayRestarts", dict(initial_learning_rate=0.1, first_decay_steps=15, t_mul=1.0, m_mul=0.7, alpha=0.1)),
]


def _import_keras():
    """``keras``; skips when TensorFlow is missing, fails instead when ``CI=true`` (as test_keras_parity)."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    try:
        import keras
        import tensorflow  # noqa: F401
    except ImportError as e:
        if os.environ.get("CI", "").strip().lower() == "true":
            pytest.fail(
                f"CI=true but TensorFlow/Keras cannot be imported ({e}); install the 'keras' extra", pytrace=False
            )
        pytest.skip(f"TensorFlow/Keras not installed ({e})")
    return keras


@pytest.mark.parametrize("spec", SPECS, ids=[f"{n}-{i}" for i, (n, _) in enumerate(SPECS)])
def test_step_by_step_as_keras(spec):
    keras = _import_keras()
    name, kwargs = spec
    ours = getattr(schedules, name)(**kwargs)
    theirs = getattr(keras.optimizers.schedules, name)(**kwargs)
    steps = np.arange(201)
    a = np.array([ours(int(t)) for t in steps])
    b = np.array([float(keras.ops.convert_to_numpy(theirs(int(t)))) for t in steps])
    scale = np.max(np.abs(b))
    bad = np.abs(a - b) > 1e-5 * scale
    assert not bad.any(), f"steps {steps[bad][:10]}: ours {a[bad][:10]}, keras {b[bad][:10]}"
    assert ours.get_config() == {k: v for k, v in theirs.get_config().items()}


@pytest.mark.parametrize("spec", SPECS, ids=[f"{n}-{i}" for i, (n, _) in enumerate(SPECS)])
def test_serialize_round_trip(spec):
    name, kwargs = spec
    s = getattr(schedules, name)(**kwargs)
    again = schedules.deserialize(schedules.serialize(s))
    assert type(again) is type(s) and again.get_config() == s.get_config()
    assert [again(t) for t in range(0, 200, 7)] == [s(t) for t in range(0, 200, 7)]


def test_by_hand():
    assert schedules.InverseTimeDecay(0.1, 1, 1.0)(3) == pytest.approx(0.025)
    assert schedules.ExponentialDecay(1.0, 10, 0.1, staircase=True)(19) == pytest.approx(0.1)
    assert schedules.PolynomialDecay(1.0, 10, end_learning_rate=0.0)(5) == pytest.approx(0.5)
    assert schedules.PolynomialDecay(1.0, 10, end_learning_rate=0.0)(50) == 0.0
    assert schedules.CosineDecay(1.0, 10)(5) == pytest.approx(0.5)
    assert schedules.CosineDecay(0.0, 10, warmup_target=1.0, warmup_steps=4)(2) == pytest.approx(0.5)
    assert schedules.CosineDecayRestarts(1.0, 10, t_mul=1.0)(10) == pytest.approx(1.0)  # a restart


@pytest.mark.parametrize(
    "make, match",
    [
        (lambda: schedules.ExponentialDecay(0.1, 0, 0.5), "decay_steps"),
        (lambda: schedules.PiecewiseConstantDecay([1, 2], [0.1]), "one entry fewer"),
        (lambda: schedules.PiecewiseConstantDecay([5, 2], [0.1, 0.2, 0.3]), "increasing"),
        (lambda: schedules.CosineDecay(0.1, 10, warmup_steps=-1), "warmup_steps"),
        (lambda: schedules.deserialize({"class_name": "OneCycle", "config": {}}), "unknown"),
    ],
)
def test_bad_arguments_are_named(make, match):
    with pytest.raises(InvalidArgumentError, match=match):
        make()
