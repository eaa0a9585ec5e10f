"""Charts of a mechanism comparison: variant means, paired differences, ADL haircuts.

Inputs are the frames of a comparison (``simulator.sweep.compare``: the ``stats.summarize``
frame and the haircuts frame); this module knows their columns and nothing about scenarios,
runs or simulation objects. How charts look (figures, notes, saving) comes from ``style``
and the project's ``liqsim.mplstyle``; every variant keeps one colour of the style's
colour-blind-safe cycle across all charts. Outputs are PNG and PDF, written atomically;
identical inputs give identical files.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import matplotlib as mpl
import matplotlib.style
import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import Formatter, FuncFormatter, MaxNLocator

from simulator.charts import style as ps
from simulator.charts.style import STYLE_PATH, note
from simulator.run import catalogue

__all__ = ["CHARTS", "Compact", "adl_haircut_chart", "compact", "differences_chart", "means_chart",
           "unit_text", "usd", "value_formatter", "value_label", "write_charts"]

CHARTS: tuple[str, ...] = ("means", "paired_differences", "adl_haircuts")

N_COLS = 3
DUST = 1e-6  # log-scale haircut axes start this fraction below the largest haircut
LOG_SPREAD = 100.0  # log x when the positive values span more than this factor
SYMLOG_LINEAR = 1e-3  # symlog axes are linear within this fraction of the largest magnitude
_POINT = {"fmt": "o", "ms": 5, "capsize": 3, "elinewidth": 1.2, "mec": "0.15", "mew": 0.5}


def _compact(value: float, _pos: object = None, digits: int = 3) -> str:
    """Tick labels for amounts of any size: 1250000 -> "1.25M", 3400 -> "3.4k"."""
    for scale, suffix in ((1e9, "B"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= scale:
            return f"{value / scale:.{digits}g}{suffix}"
    return "0" if value == 0 else f"{value:.{digits}g}"


class Compact(Formatter):
    """``_compact`` tick labels (``$``-prefixed for money: "$1.25M"), with as many significant
    digits as the ticks need to read differently: on a narrow range far from zero, 3 digits
    would print 1250000 and 1250500 both as "1.25M"."""

    def __init__(self, money: bool = False) -> None:
        self.money = money

    def _text(self, value: float, digits: int) -> str:
        text = _compact(value, digits=digits)
        if not self.money:
            return text
        return "$0" if text == "0" else f"-${text[1:]}" if text.startswith("-") else f"${text}"

    def __call__(self, x: float, pos: object = None) -> str:
        return self._text(x, 3)

    def format_ticks(self, values: Sequence[float]) -> list[str]:
        for digits in range(3, 10):
            texts = [self._text(v, digits) for v in values]
            if len(set(texts)) == len(texts):
                return texts
        return texts


compact = Compact()
usd = Compact(money=True)


def unit_text(metric: str) -> str:
    """``metric``'s unit as its axis ticks read: "USD" (ticks like "$1.25M"), "share", "ms",
    or "" (counts and ratios need none)."""
    return {"USD": "USD", "fraction": "share", "ms": "ms"}.get(catalogue.unit_of(metric), "")


def value_label(metric: str, what: str) -> str:
    """The label of an axis of ``metric``'s values: "mean (USD)", "mean"."""
    unit = unit_text(metric)
    return f"{what} ({unit})" if unit else what


def value_formatter(metric: str) -> Formatter:
    """Compact ticks, with a dollar sign for money."""
    return Compact(money=catalogue.unit_of(metric) == "USD")


def variant_colors(names: Sequence[str]) -> dict[str, str]:
    """One colour per variant, in order, from the style's colour cycle (repeating past 8);
    yellow comes last, being the hardest to see as a thin line or small dot on white."""
    with matplotlib.style.context(STYLE_PATH):
        cycle = mpl.rcParams["axes.prop_cycle"].by_key()["color"]
    cycle = sorted(cycle, key=lambda c: c.upper().lstrip("#") == "F0E442")  # stable: order kept
    return {name: cycle[i % len(cycle)] for i, name in enumerate(names)}


def _grid(n: int, row_height: float, sharey: bool) -> tuple[Figure, list[Axes]]:
    cols = max(1, min(N_COLS, n))
    rows = max(1, math.ceil(n / cols))
    fig, axes = ps.new_figure(rows, height=row_height * rows + 0.8, n_cols=cols,
                              sharey=sharey, width=4.2 * cols + 1.2)
    for ax in axes[n:]:
        ax.set_visible(False)  # the last row may be partly empty
    return fig, axes


def _forest(
    summary: pd.DataFrame, names: list[str], colors: dict[str, str], centre: str, lo: str,
    hi: str, count: str, zero: bool,
) -> Figure:
    """Small multiples, one per metric: each variant's ``centre`` with its [lo, hi] bar."""
    metrics = list(dict.fromkeys(summary["metric"]))
    fig, axes = _grid(len(metrics), 0.35 * len(names) + 1.0, sharey=True)
    if not metrics:
        axes[0].set_visible(True)
        note(axes[0], "no metrics to compare (no complete runs?)")
    y = np.arange(len(names))
    for ax, metric in zip(axes, metrics, strict=False):
        here = summary[summary["metric"] == metric].set_index("variant")
        ax.set_title(catalogue.title(metric))
        ax.xaxis.set_major_formatter(value_formatter(metric))
        ax.xaxis.set_major_locator(MaxNLocator(nbins=5))  # 4.2 inch panels: room for 6 ticks
        if zero:
            ax.axvline(0.0, color="0.3", lw=0.8)
        empty = True
        for k, name in enumerate(names):
            row = here.loc[name] if name in here.index else None
            if row is None or not np.isfinite(row[centre]):
                ax.text(0.01, k, " no data", transform=ax.get_yaxis_transform(), va="center",
                        color="0.45", fontsize=8)
                continue
            empty = False
            err = [[max(row[centre] - row[lo], 0.0)], [max(row[hi] - row[centre], 0.0)]]
            ax.errorbar([row[centre]], [k], xerr=err, color=colors[name], **_POINT)
        if empty:
            note(ax, "no data")
        ax.set_yticks(y, names)
        ax.set_ylim(len(names) - 0.5, -0.5)  # first variant on top
        ax.grid(axis="y", visible=False)
        if ax.get_subplotspec().is_first_col():
            ax.set_ylabel("variant")
        counts = here[count].reindex(names)
        seeds = (f"n = {int(counts.iloc[0])} seeds" if counts.notna().all()
                 and counts.nunique() == 1 else "n varies by variant")
        ax.set_xlabel(f"{unit_text(metric)}; {seeds}" if unit_text(metric) else seeds)
    return fig


def means_chart(summary: pd.DataFrame, variants: Sequence[str] | None = None) -> Figure:
    """Every variant's mean per metric with its bootstrap confidence interval."""
    names = list(variants or dict.fromkeys(summary["variant"]))
    fig = _forest(summary, names, variant_colors(names), "mean", "ci_low", "ci_high", "n",
                  zero=False)
    fig.suptitle("mean per variant with confidence interval (same seeds for every variant)")
    return fig


def differences_chart(
    summary: pd.DataFrame, baseline: str, variants: Sequence[str] | None = None,
) -> Figure:
    """Every variant's mean paired difference from ``baseline`` with its confidence interval."""
    names = list(variants or dict.fromkeys(summary["variant"]))
    colors = variant_colors(names)
    others = [n for n in names if n != baseline]
    fig = _forest(summary[summary["variant"].isin(others)], others or [baseline], colors,
                  "diff_mean", "diff_ci_low", "diff_ci_high", "n_paired", zero=True)
    fig.suptitle(f"paired difference from {baseline} (variant - baseline, same seeds)")
    return fig


def _ecdf(ax: Axes, values: np.ndarray, style: dict, label: str) -> None:
    x = np.sort(values)
    y = np.arange(1, x.size + 1) / x.size
    ax.step(np.r_[x[0], x], np.r_[0.0, y], where="post", label=label, **style)


def _scale_for_spread(ax: Axes, values: np.ndarray, money: bool = False) -> None:
    """Log x when the values are positive and span more than ``LOG_SPREAD``; symmetric log
    when they also reach zero or below (a haircut can be negative: a close better than the
    mark), linear near zero (``SYMLOG_LINEAR``) so float dust sits at zero. Compact labels,
    ``$``-prefixed when ``money``."""
    mag = np.abs(values[values != 0])
    hide = 0.0  # no label for ticks this close to zero (they crowd the "0" of a symlog axis)
    if mag.size and mag.max() / mag.min() > LOG_SPREAD:
        if values.min() > 0:
            ax.set_xscale("log")
            # Float dust (1e-13 dollars) would otherwise stretch the axis over ten decades.
            ax.set_xlim(left=max(mag.min(), mag.max() * DUST) / 1.5)
        else:
            hide = mag.max() * SYMLOG_LINEAR
            ax.set_xscale("symlog", linthresh=hide, linscale=0.5)
    fmt = usd if money else compact  # the USD haircut axis reads "$2.5k", not "2.5k"
    # After the scale, which installs its own formatter.
    ax.xaxis.set_major_formatter(
        FuncFormatter(lambda v, pos: "" if 0 < abs(v) <= hide * 1.001 else fmt(v)))


def adl_haircut_chart(haircuts: pd.DataFrame, variants: Sequence[str]) -> Figure:
    """ECDFs over deleveraged accounts (pooled over seeds) of the USD haircut and of the
    haircut as a share of the profit closed at the mark; variants without ADL say so."""
    names = list(variants)
    colors = variant_colors(names)
    # Dashes as well as colours: identical mechanisms give identical, overlapping curves.
    styles = {n: {"color": colors[n], "ls": ("-", "--", "-.", ":")[i % 4]}
              for i, n in enumerate(names)}
    fig, (ax_usd, ax_share) = ps.new_figure(1, height=4.5, n_cols=2, sharey=True, width=12.0)
    ps.labels(ax_usd, "ADL haircut per deleveraged account",
              "haircut: USD given up against the mark (< 0: closed better than the mark)",
              "share of deleveraged accounts (pooled over seeds)")
    ps.labels(ax_share, "haircut as a share of profit closed at mark",
              "haircut / profit closed", "")
    usd_all, share_all = [np.zeros(0)], [np.zeros(0)]
    for name in names:
        mine = haircuts[haircuts["variant"] == name]
        usd = mine["haircut"].to_numpy(dtype=float)
        usd = usd[np.isfinite(usd)]
        share = mine["haircut_share"].to_numpy(dtype=float)
        share = share[np.isfinite(share)]
        if usd.size == 0:
            ax_usd.plot([], [], label=f"{name} (no ADL)", **styles[name])
        else:
            _ecdf(ax_usd, usd, styles[name], f"{name} ({usd.size:,} accounts)")
            usd_all.append(usd)
        if share.size:
            _ecdf(ax_share, share, styles[name], name)
            share_all.append(share)
    usd_all_v, share_all_v = np.concatenate(usd_all), np.concatenate(share_all)
    _scale_for_spread(ax_usd, usd_all_v, money=True)
    _scale_for_spread(ax_share, share_all_v)
    if usd_all_v.size == 0:
        note(ax_usd, "no ADL in any variant")
    if share_all_v.size == 0:
        note(ax_share, "no ADL, or profit at mark not recorded" if usd_all_v.size == 0
             else "profit at mark not recorded")
    ax_usd.set_ylim(0.0, 1.02)
    ax_usd.legend(loc="upper left")  # curves start low on the left: that corner is free
    fig.suptitle("ADL fairness: how the deleveraging burden fell on accounts")
    return fig


def write_charts(
    summary: pd.DataFrame,
    haircuts: pd.DataFrame,
    out_dir: str | Path,
    baseline: str,
    variants: Sequence[str] | None = None,
    title: str = "",
    formats: Sequence[str] = ("png", "pdf"),
) -> list[Path]:
    """Write ``out_dir/<chart>.<fmt>`` for every chart in ``CHARTS``; return the paths."""
    names = list(variants or dict.fromkeys(summary["variant"]))
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    # Artists read rcParams when created and savefig when saving: both inside the style.
    with matplotlib.style.context(STYLE_PATH):
        figures = {
            "means": means_chart(summary, names),
            "paired_differences": differences_chart(summary, baseline, names),
            "adl_haircuts": adl_haircut_chart(haircuts, names),
        }
        try:
            for name, fig in figures.items():
                if title:
                    fig.suptitle(f"{title}: {fig.get_suptitle()}")
                for fmt in formats:
                    path = out / f"{name}.{fmt}"
                    ps.save_atomic(fig, path, fmt)
                    written.append(path)
        finally:
            for fig in figures.values():
                fig.clear()  # break artist reference cycles so batch use frees memory
    return written
