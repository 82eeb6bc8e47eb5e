# %% [markdown]
# # Convolution: flip, shift, multiply, integrate -- and then detect a pattern
#
# Goodfellow et al., *Deep Learning*, 9.1. The convolution of a signal ``x`` with a kernel ``w`` is
#
#     s(t) = (x * w)(t) = integral x(a) w(t - a) da
#
# Read it as a recipe: **flip** the kernel (``w(-a)``), **shift** it to ``t`` (``w(t - a)``), **multiply**
# by the signal, **integrate** the product. Sampled every ``dt`` the integral becomes a sum, and that sum is
# what tinycnn's ``Conv1D`` layer computes on a sequence ``(N, L, 1)`` with a ``(K, 1, 1)`` kernel (inside,
# it runs the ``Conv2D`` kernels on a 1-pixel-high image).
#
# Deep-learning libraries actually compute the *cross-correlation* ``y[i] = sum_b x[i + b] k[b]`` (no flip):
# the kernel is learned, so nobody needs the flip. To get a true convolution from ``Conv1D`` we flip the
# kernel ourselves. Part 2 uses the un-flipped form as it is meant: sliding a pattern along a signal and
# reporting how well it matches -- a **detector**.
#
# Run: ``python examples/conv1d_pattern_detection.py [--out DIR]``.

# %%
import argparse
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent if "__file__" in globals() else Path.cwd()
try:
    import tinycnn  # noqa: F401
except ImportError:  # running from a clone without `pip install -e .`
    sys.path.insert(0, str(HERE.parent))

from matplotlib.figure import Figure

from tinycnn import kernels
from tinycnn.layers import Conv1D
from tinycnn.plot import save_figure

kernels.set_backend("reference")  # every number below comes from tinycnn/kernels/reference.py

parser = argparse.ArgumentParser(description=__doc__)
parser.add_argument("--out", default=str(HERE / "output" / "conv1d_pattern_detection"), help="folder for the figures")
args, _ = parser.parse_known_args()
out = Path(args.out)


def conv1d(signal, kernel, padding="valid", bias=0.0, activation=None):
    """A 1-D cross-correlation ``y[i] = bias + sum_b signal[i + b] * kernel[b]`` with tinycnn's Conv1D.

    The signal is one sequence with one channel, ``(1, L, 1)``; the kernel has Keras's shape ``(K, 1, 1)``
    (taps, input channels, filters).
    """
    layer = Conv1D(1, len(kernel), padding=padding, activation=activation, dtype="float64")
    layer.build((None, len(signal), 1))
    layer.set_weights([np.asarray(kernel).reshape(-1, 1, 1), np.array([bias])])
    return layer.forward(np.asarray(signal).reshape(1, -1, 1))[0, :, 0]


# %% [markdown]
# ## Part 1 -- flip, shift, multiply, integrate
#
# Goodfellow's example: ``x(a)`` is a (noisy) measurement at time ``a``, and we want a smoothed estimate
# ``s(t)`` that weights recent measurements more: ``w(age) = exp(-age)`` for ``age >= 0`` and 0 for the
# future (``age < 0``). Here ``x`` is a rectangular pulse from ``a = 2`` to ``a = 5``.

# %%
dt = 0.05
a = np.arange(0.0, 10.0, dt)  # time axis of the signal
x = ((a >= 2.0) & (a < 5.0)).astype(float)  # the signal x(a)
age = np.arange(0.0, 6.0, dt)  # the kernel's support: w(age) ~ 0 after 6
w = np.exp(-age)  # w(age), integral ~ 1


def w_of(v):
    """The kernel as a function on the whole real line: 0 for negative ages (the future)."""
    return np.where(v >= 0, np.exp(-np.clip(v, 0, None)), 0.0)


# Convolution with Conv1D: padding="causal" puts K - 1 zeros on the left (x = 0 before time 0: s(t) may
# only use the past), and we give Conv1D the *flipped* kernel. Then
# y[n] = sum_b xpad[n + b] w[K-1-b] dt = sum_m x[m] w[n - m] dt = s(a_n).
K = len(w)
s = conv1d(x, w[::-1] * dt, padding="causal")
assert s.shape == x.shape
assert np.allclose(s, conv1d(np.concatenate([np.zeros(K - 1), x]), w[::-1] * dt))  # = the zeros by hand

shifts = [3.0, 4.5, 6.5]
integrals = []
for t in shifts:
    product = x * w_of(t - a)  # flip (t - a), shift (by t), multiply
    integrals.append(product.sum() * dt)  # integrate (a Riemann sum)
    n = int(round(t / dt))
    print(f"t = {t:3.1f}:  integral of x(a) w(t - a) da = {integrals[-1]:.4f};  Conv1D gives s(t) = {s[n]:.4f}")
    assert abs(integrals[-1] - s[n]) < 1e-9

# %%
fig = Figure(figsize=(13, 6.4), layout="constrained")
fig.suptitle("Convolution s(t) = integral x(a) w(t - a) da: flip the kernel, shift it to t, multiply, integrate")
ax = fig.add_subplot(2, 3, 1)
ax.plot(a, x, color="C0")
ax.set_title("the signal x(a)")
ax.set_xlabel("a (time)")
ax.set_ylabel("x(a)")
ax = fig.add_subplot(2, 3, 2)
v = np.arange(-6.0, 6.0, dt)
ax.plot(v, w_of(v), color="C1", label="w(a), a = age")
ax.plot(v, w_of(-v), color="C1", linestyle="--", label="w(-a): flipped")
ax.set_title("the kernel and its flip")
ax.set_xlabel("a")
ax.set_ylabel("weight")
ax.legend(fontsize="small", loc="upper left")
ax = fig.add_subplot(2, 3, 3)
ax.plot(a, x, color="C0", alpha=0.4, label="x(a)")
ax.plot(a, s, color="C2", label="s(t): tinycnn Conv1D (causal), flipped kernel")
ax.plot(shifts, integrals, "o", color="k", label="the integrals below")
ax.set_title("the result: a smoothed, delayed x")
ax.set_xlabel("t")
ax.set_ylabel("s(t)")
ax.set_ylim(-0.05, 1.45)
ax.legend(fontsize="small", loc="upper right")
for k, (t, value) in enumerate(zip(shifts, integrals)):
    ax = fig.add_subplot(2, 3, 4 + k)
    ax.plot(a, x, color="C0", label="x(a)")
    ax.plot(a, w_of(t - a), color="C1", label=f"w({t} - a): flipped, shifted")
    ax.fill_between(a, x * w_of(t - a), color="C2", alpha=0.5, label="product")
    ax.axvline(t, color="k", linewidth=0.8, linestyle=":")
    ax.set_title(f"t = {t}: area of the product = s(t) = {value:.3f}")
    ax.set_xlabel("a")
    ax.set_ylabel("value")
    ax.set_ylim(-0.05, 1.45)
    ax.legend(fontsize="x-small", loc="upper right")
save_figure(fig, out / "conv1d_flip_shift_integrate.png")
fig

# %% [markdown]
# ## Part 2 -- convolution as pattern detection
#
# A signal with a slow drift, noise, and two sharp spikes. The detector is the spike's shape minus its
# mean: a zero-mean kernel answers 0 to anything constant, so it ignores the drift and responds where the
# signal *looks like the spike*. We slide it along the signal (``Conv1D``, ``padding="same"`` so output
# ``i`` is centred on input ``i``), then apply the **detector stage** -- a ReLU with a negative bias as
# a threshold -- that keeps only strong matches.

# %%
rng = np.random.default_rng(0)
L = 200
i = np.arange(L)
spikes = [60, 140]
template = np.exp(-0.5 * (np.arange(-5, 6) / 1.2) ** 2)  # the shape of a spike, 11 samples
signal = 0.8 * np.sin(2 * np.pi * i / 150) + 0.15 * rng.standard_normal(L)
for p in spikes:
    signal[p - 5 : p + 6] += template
detector = template - template.mean()  # zero mean: blind to constant offsets
threshold = 0.5 * float(detector @ detector)  # half the response to a perfect match

response = conv1d(signal, detector, padding="same")  # convolution stage (a cross-correlation)
detected = conv1d(signal, detector, padding="same", bias=-threshold, activation="relu")  # detector stage
peaks = [
    int(p)
    for p in np.flatnonzero((detected > 0) & (detected >= np.roll(detected, 1)) & (detected >= np.roll(detected, -1)))
]
print(f"spikes at {spikes}; the detector's response peaks at {peaks}")
assert peaks == spikes

# %%
fig = Figure(figsize=(11, 7.5), layout="constrained")
fig.suptitle("Convolution as pattern detection: a spike detector slid along a signal")
axes = fig.subplot_mosaic(
    [["signal", "signal", "signal"], ["kernel", "window", "window"], ["response", "response", "response"]]
)
ax = axes["signal"]
ax.plot(i, signal, color="C0")
for p in spikes:
    ax.axvline(p, color="firebrick", linestyle=":", linewidth=1)
ax.set_title("signal: slow drift + noise + two spikes (dotted lines)")
ax.set_xlabel("position i")
ax.set_ylabel("x[i]")
ax = axes["kernel"]
ax.stem(np.arange(-5, 6), detector)
ax.set_title("detector kernel k: spike shape - its mean")
ax.set_xlabel("tap b - 5")
ax.set_ylabel("k[b]")
ax = axes["window"]
window = slice(spikes[0] - 5, spikes[0] + 6)
ax.plot(i[window], signal[window], "o-", color="C0", label="x under the window")
ax.plot(i[window], detector + signal[window].mean(), "s--", color="C1", label="kernel (shifted up for display)")
ax.set_title(
    f"at i = {spikes[0]} the window matches the kernel: y[i] = sum_b x[i+b-5] k[b] = {response[spikes[0]]:.2f}"
)
ax.set_xlabel("position i")
ax.set_ylabel("value")
ax.legend(fontsize="small")
ax = axes["response"]
ax.plot(i, response, color="0.6", label="convolution stage y = x (*) k")
ax.plot(i, detected, color="C2", label=f"detector stage ReLU(y - {threshold:.2f})")
for p in spikes:
    ax.axvline(p, color="firebrick", linestyle=":", linewidth=1)
ax.set_title(f"response: the detector stage is non-zero only at the spikes, peaking at {peaks}")
ax.set_xlabel("position i")
ax.set_ylabel("y[i]")
ax.legend(fontsize="small", loc="lower right")
save_figure(fig, out / "conv1d_spike_detector.png")
print(f"figures written to {out}/")
fig
