"""The calibration chart: the objective by evaluation (log scale, with the best so far), and
each target's achieved mean by evaluation against its target line.

Takes the fit's history frame and target rows only; drawn in the project's style
(``simulator.charts.style``, ``liqsim.mplstyle``) on a ``Figure`` with an Agg canvas, never
pyplot. It must not run anything nor know the search.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import matplotlib.style
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from simulator.charts import style as ps
from simulator.charts.style import STYLE_PATH
from simulator.run import catalogue

__all__ = ["fit_figure", "write_fit_figure"]

TARGET_LINE = {"color": "#D55E00", "ls": "--", "lw": 1.2}
ACHIEVED = {"color": "#0072B2", "marker": "o", "ms": 3.5, "lw": 0.9}
BEST = {"color": "0.15", "lw": 1.4}
BEST_MARK = {"color": "#009E73", "marker": "*", "ms": 12, "ls": "none", "zorder": 4}


def fit_figure(history: pd.DataFrame, targets: Sequence[dict[str, Any]], best: int,
               title: str = "") -> Figure:
    """Panel 1: objective per evaluation and the best so far; one panel per target: the mean
    achieved at each evaluation, the target value and the best evaluation marked."""
    n = 1 + len(targets)
    fig, axes = ps.new_figure(n, height=2.4 * n + 0.6, sharex=True)
    x = history["evaluation"].to_numpy()
    ax = axes[0]
    score = history["objective"].to_numpy(dtype=float)
    floor = np.nanmin(score[score > 0]) / 10 if np.any(score > 0) else 1e-12
    # Log scale: an objective of 0 (an exact hit) is drawn at a tenth of the smallest positive.
    ax.plot(x, np.maximum(score, floor), ls="none", marker="o", ms=3.5, color="0.55",
            label="evaluation")
    ax.plot(x, np.maximum(history["best_so_far"].to_numpy(dtype=float), floor),
            drawstyle="steps-post", label="best so far", **BEST)
    ax.plot([x[best]], [max(score[best], floor)], label="fit", **BEST_MARK)
    ax.set_yscale("log")
    ps.labels(ax, title or "calibration", "", "objective")
    ax.legend(loc="upper right")
    for ax, t in zip(axes[1:], targets, strict=True):
        means = history[f"mean:{t['name']}"].to_numpy(dtype=float)
        ax.plot(x, means, label="achieved mean", **ACHIEVED)
        ax.axhline(t["value"], label="target", **TARGET_LINE)
        ax.plot([x[best]], [means[best]], label="fit", **BEST_MARK)
        unit = catalogue.unit_of(t["metric"]) if t.get("metric") else ""
        if unit == "USD":
            ax.yaxis.set_major_formatter(ps.thousands)
        ps.labels(ax, str(t["name"]), "", "mean over seeds" + (" (USD)" if unit == "USD" else ""))
        ax.legend(loc="best")
    axes[-1].set_xlabel("evaluation")
    return fig


def write_fit_figure(history: pd.DataFrame, targets: Sequence[dict[str, Any]], best: int,
                     out_dir: str | Path, title: str = "") -> Path:
    """``fit.png`` in ``out_dir``, written atomically."""
    path = Path(out_dir) / "fit.png"
    with matplotlib.style.context(STYLE_PATH):
        fig = fit_figure(history, targets, best, title)
        ps.save_atomic(fig, path, "png")
    fig.clear()
    return path
