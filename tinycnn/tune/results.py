"""A sweep's results: the table (one row per trial), the per-epoch history, the best trial's weights, and the
two figures (validation accuracy per trial over epochs; accuracy against each hyperparameter)."""

import json
import math
import numbers
import os
import shutil

import numpy as np

from .trial import _TUNE_BOOKKEEPING, TRAINING_KEYS, WEIGHTS_FILE, optimizer_from_config  # noqa: F401


def _short(value):
    if isinstance(value, float):
        return f"{value:.3g}"
    return str(value)


class SweepResult:
    """What a sweep found.

    Attributes
    ----------
    table : pandas.DataFrame
        One row per trial: ``trial_id``, the config (one column per ``param_space`` key), ``epochs_run``, the
        last epoch's ``loss``/``accuracy``/``val_loss``/``val_accuracy`` (NaN where the logs lack one),
        ``best_val_accuracy`` over the epochs, the Numba ``threads`` and ``cpus`` the trial trained with,
        ``time_s``, the ``checkpoint`` folder (its :data:`WEIGHTS_FILE` is the last epoch's weights) and the
        ``error`` of a failed trial (empty otherwise). Sorted best first by ``metric``.
    history : pandas.DataFrame
        One row per trial and epoch: ``trial_id``, ``epoch`` and every reported metric.
    best : pandas.Series
        The best trial's row; ``best_config`` its config (a dict), ``best_checkpoint`` its checkpoint folder.
    """

    def __init__(self, table, history, configs, metric, mode, hyperparameters, build_fn=None, path=None):
        self.table, self.history, self.configs = table, history, configs
        self.metric, self.mode, self.hyperparameters = metric, mode, list(hyperparameters)
        self.build_fn, self.path = build_fn, path

    @classmethod
    def from_result_grid(cls, grid, param_space, metric="val_accuracy", mode="max", build_fn=None):
        """Collect a Tune ``ResultGrid`` (one ``Result`` per trial) into the table and the history."""
        import pandas as pd

        keys = list(param_space)
        rows, histories, configs = [], [], {}
        for result in grid:
            config = dict(result.config or {})
            metrics = dict(result.metrics or {})
            trial_id = metrics.get("trial_id") or os.path.basename(str(result.path))
            frame = result.metrics_dataframe
            epochs = (
                frame[[c for c in frame.columns if c not in _TUNE_BOOKKEEPING]].copy()
                if frame is not None and len(frame)
                else pd.DataFrame()
            )
            if len(epochs):
                epochs["trial_id"] = trial_id
                histories.append(epochs[["trial_id"] + [c for c in epochs.columns if c != "trial_id"]])
            val = epochs["val_accuracy"] if "val_accuracy" in epochs else pd.Series(dtype=float)
            row = {"trial_id": trial_id}
            row.update({k: config.get(k) for k in keys})
            row.update(
                epochs_run=int(metrics.get("epoch", 0) or 0),
                **{k: float(metrics.get(k, math.nan)) for k in ("loss", "accuracy", "val_loss", "val_accuracy")},
                best_val_accuracy=float(val.max()) if len(val) else math.nan,
                threads=metrics.get("threads"),
                cpus=metrics.get("cpus"),
                time_s=float(metrics.get("time_total_s", math.nan)),
                checkpoint=result.checkpoint.path if result.checkpoint is not None else None,
                error=repr(result.error) if result.error is not None else "",
            )
            if metric not in row:
                row[metric] = float(metrics.get(metric, math.nan))
            rows.append(row)
            configs[trial_id] = config
        table = pd.DataFrame(rows)
        if len(table):
            table = table.sort_values(metric, ascending=(mode == "min"), na_position="last", kind="stable")
            table = table.reset_index(drop=True)
        history = pd.concat(histories, ignore_index=True) if histories else pd.DataFrame()
        varied = [k for k in keys if k in table and table[k].map(repr).nunique() > 1]
        return cls(
            table,
            history,
            configs,
            metric,
            mode,
            varied,
            build_fn=build_fn,
            path=getattr(grid, "experiment_path", None),
        )

    # -- the best trial
    @property
    def best(self):
        finished = self.table.dropna(subset=[self.metric])
        if not len(finished):
            raise RuntimeError(f"no trial reported {self.metric!r}; errors: {list(self.table['error'])}")
        return finished.iloc[0]

    @property
    def best_config(self):
        return dict(self.configs[self.best["trial_id"]])

    @property
    def best_checkpoint(self):
        return self.best["checkpoint"]

    def save_best(self, path, build_fn=None):
        """Copy the best trial's last weights to ``path`` (``.weights.h5``); a ``.keras`` path gets the whole
        model (built with ``build_fn(best_config)``, the sweep's function by default). The config goes beside
        it as JSON (``best.weights.h5`` -> ``best.config.json``). Returns ``path``."""
        from ray.tune import Checkpoint

        path = os.fspath(path)
        folder = os.path.dirname(os.path.abspath(path))
        os.makedirs(folder, exist_ok=True)
        with Checkpoint(self.best_checkpoint).as_directory() as checkpoint:
            weights = os.path.join(checkpoint, WEIGHTS_FILE)
            if path.endswith(".keras"):
                model = self.load_best_model(build_fn, weights=weights)
                model.save(path)
            elif path.endswith(".weights.h5"):
                shutil.copyfile(weights, path)
            else:
                raise ValueError(f"best weights go to a .weights.h5 (weights) or .keras (model) file, got {path!r}")
        stem = path[: -len(".weights.h5")] if path.endswith(".weights.h5") else os.path.splitext(path)[0]
        with open(stem + ".config.json", "w") as f:  # best.weights.h5 -> best.config.json
            json.dump(self.best_config, f, indent=1, default=str)
        return path

    def load_best_model(self, build_fn=None, weights=None):
        """``build_fn(best_config)`` (compiled as its trial was) with the best trial's last weights."""
        build_fn = build_fn or self.build_fn
        if build_fn is None:
            raise ValueError("load_best_model needs the model-building function")
        config = self.best_config
        model = build_fn(dict(config))
        if getattr(model, "optimizer", None) is None:
            model.compile(
                optimizer=optimizer_from_config(config), loss="categorical_crossentropy", metrics=["accuracy"]
            )
        if weights is None:
            from ray.tune import Checkpoint

            with Checkpoint(self.best_checkpoint).as_directory() as checkpoint:
                model.load_weights(os.path.join(checkpoint, WEIGHTS_FILE))
        else:
            model.load_weights(weights)
        return model

    # -- the table and the pictures
    def to_csv(self, path):
        """The table as CSV (config values written with ``str``). Returns ``path``."""
        self.table.to_csv(path, index=False)
        return path

    def _label(self, trial_id):
        config = self.configs.get(trial_id, {})
        keys = self.hyperparameters or [k for k in config if k not in ("epochs",)]
        return ", ".join(f"{k}={_short(config.get(k))}" for k in keys) or str(trial_id)

    def plot_curves(self, path=None, metric=None, ax=None):
        """``metric`` (default: the sweep's) of every trial over the epochs, one line each, the best one
        thick; a trial the scheduler stopped ends early (its label says after how many epochs). Saves to ``path`` if
        given; returns the figure."""
        import matplotlib
        import matplotlib.ticker

        if path is not None and ax is None:
            matplotlib.use("Agg", force=False)
        import matplotlib.pyplot as plt

        metric = metric or self.metric
        fig, ax = (ax.figure, ax) if ax is not None else plt.subplots(figsize=(7.5, 4.5))
        best_id = self.best["trial_id"] if self.table[self.metric].notna().any() else None
        stopped = dict(zip(self.table["trial_id"], self._stopped_early(self.table)))
        for trial_id in self.table["trial_id"]:
            rows = self.history[self.history["trial_id"] == trial_id] if len(self.history) else []
            if not len(rows) or metric not in rows:
                continue
            best = trial_id == best_id
            ax.plot(
                rows["epoch"],
                rows[metric],
                marker="o",
                markersize=3,
                linewidth=2.6 if best else 1.2,
                zorder=3 if best else 2,
                label=("best: " if best else "")
                + self._label(trial_id)
                + (f" (stopped after {len(rows)})" if stopped[trial_id] else ""),
            )
        ax.set_xlabel("epoch")
        ax.set_ylabel(metric)
        ax.set_title(f"{metric} of {len(self.table)} trials")
        if len(self.history):
            ax.set_xticks(sorted(set(int(e) for e in self.history["epoch"])))
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7, loc="best")
        fig.tight_layout()
        if path is not None:
            fig.savefig(path, dpi=110)
        return fig

    def _stopped_early(self, table):
        """Which rows of ``table`` ran fewer epochs than their config asked for (a scheduler stopped them)."""
        asked = [self.configs.get(t, {}).get("epochs") for t in table["trial_id"]]
        return np.array(
            [isinstance(a, numbers.Real) and run < a for a, run in zip(asked, table["epochs_run"])], dtype=bool
        )

    def plot_hyperparameters(self, path=None, metric=None):
        """The last epoch's ``metric`` of each trial against each hyperparameter the sweep varied (numbers on
        their axis, a log axis where they span a factor of 4 or more; names and up to 3 numbers as categories),
        best trial circled, trials a scheduler stopped early hollow.
        Saves to ``path`` if given; returns the figure."""
        import matplotlib
        import matplotlib.ticker

        if path is not None:
            matplotlib.use("Agg", force=False)
        import matplotlib.pyplot as plt

        metric = metric or self.metric
        keys = self.hyperparameters or [k for k in self.table.columns if k in TRAINING_KEYS][:1]
        fig, axes = plt.subplots(
            1, max(len(keys), 1), figsize=(3.2 * max(len(keys), 1), 3.4), sharey=True, squeeze=False
        )
        table = self.table.dropna(subset=[metric])
        best_id = self.best["trial_id"] if len(table) else None
        for ax, key in zip(axes[0], keys):
            values = list(table[key])
            numeric = all(isinstance(v, numbers.Real) and not isinstance(v, bool) for v in values)
            if numeric and len(set(values)) > 3:  # a range of numbers (a few choices read better as categories)
                x = np.asarray(values, dtype=float)
                if x.min() > 0 and x.max() / x.min() >= 4:
                    ax.set_xscale("log")
                    ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())  # decades only
            else:
                categories = sorted({_short(v) for v in values})
                x = np.array([categories.index(_short(v)) for v in values], dtype=float)
                ax.set_xticks(range(len(categories)))
                ax.set_xticklabels(categories, rotation=30 if len(categories) > 3 else 0)
                ax.set_xlim(-0.5, len(categories) - 0.5)
            y = np.asarray(table[metric], dtype=float)
            stopped = self._stopped_early(table)
            ax.scatter(x[~stopped], y[~stopped], s=28, alpha=0.8, color="tab:blue", label="all epochs")
            if stopped.any():
                ax.scatter(
                    x[stopped],
                    y[stopped],
                    s=28,
                    alpha=0.8,
                    facecolors="none",
                    edgecolors="tab:blue",
                    label="stopped early",
                )
            is_best = np.asarray(table["trial_id"] == best_id)
            ax.scatter(
                x[is_best],
                np.asarray(table[metric])[is_best],
                s=120,
                facecolors="none",
                edgecolors="crimson",
                linewidths=1.8,
                label="best",
            )
            ax.set_xlabel(key)
            ax.grid(alpha=0.3)
        axes[0][0].set_ylabel(f"{metric} (last epoch)")
        axes[0][0].legend(fontsize=7, loc="best")
        fig.tight_layout()
        if path is not None:
            fig.savefig(path, dpi=110)
        return fig

    def __repr__(self):
        return f"SweepResult({len(self.table)} trials, best {self.metric}={self.best[self.metric]:.4f})"
