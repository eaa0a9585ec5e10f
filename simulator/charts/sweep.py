"""Report-ready charts of a sweep's stored results: one function per kind of chart.

Each chart function takes frames (``statistics.parquet`` / ``runs.parquet`` tables, or what
``sweep_data`` loads from run folders) and returns a ``Figure`` with a ``FigureCanvasAgg``,
never pyplot; degenerate input draws a note instead of raising. ``DRAW`` maps the chart
kinds ``sweep_plan`` plans to these functions.
Variants keep ``compare_plots.variant_colors`` (plus dashes, so identical variants stay
visible); colour maps are viridis / cividis, ordered in grey and for colour-blind readers.

It draws stored results only: it must not run simulations nor know simulation objects.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime

import matplotlib as mpl
import matplotlib.style
import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.colors import LogNorm, Normalize
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, NullLocator

from simulator.charts import compare as cp
from simulator.charts import style as ps
from simulator.charts import sweep_data as cd
from simulator.charts.compare import usd, value_formatter, value_label, variant_colors
from simulator.charts.style import ADL_COLOR, MS_PER_MIN, note
from simulator.run import catalogue
from simulator.sweep.stats import axis_columns

__all__ = ["DRAW", "cascade_ccdf_chart", "ccdf", "distribution_chart", "heatmap_chart",
           "liquidation_heatmap", "metric_vs_axis_chart", "waterfall_chart"]

LAYER_COLORS = ("#0072B2", "#009E73", ADL_COLOR, "#E69F00", "#D55E00")  # Okabe-Ito
DASHES = ("-", "--", "-.", ":")  # identical variants give overlapping lines: dashes tell them


def _names(frame: pd.DataFrame, col: str, variants: Sequence[str] | None) -> list[str]:
    if variants is not None:
        return list(variants)
    return list(dict.fromkeys(frame[col])) if col in frame.columns else []


def _styles(names: Sequence[str]) -> dict[str, dict]:
    colors = variant_colors(names)
    return {n: {"color": colors[n], "ls": DASHES[i % 4]} for i, n in enumerate(names)}


def _panels(n: int, panel_w: float, panel_h: float, sharey: bool = False,
            max_cols: int = 3) -> tuple[Figure, list[Axes]]:
    cols = 2 if n == 4 else max(1, min(max_cols, n))
    rows = max(1, math.ceil(n / cols))
    fig, axes = ps.new_figure(rows, height=panel_h * rows + 0.9, n_cols=cols, sharey=sharey,
                              width=panel_w * cols + 0.6)
    for ax in axes[max(n, 1):]:
        ax.set_visible(False)
    return fig, axes


def _long_ticks(ax: Axes, texts: Sequence[str], width_in: float) -> None:
    """Slant x tick labels that would not fit side by side in ``width_in`` inches (about
    11 characters an inch at 9 points; a JSON leverage mix is ~20 characters)."""
    if len(texts) > 1 and sum(len(t) + 3 for t in texts) > 11 * width_in:
        ax.tick_params(axis="x", labelrotation=25)
        for label in ax.get_xticklabels():
            label.set_horizontalalignment("right")


# ------------------------------------------------------------------------------ 1. heatmap


def heatmap_chart(stats: pd.DataFrame, metric: str, x: str, y: str,
                  variants: Sequence[str] | None = None) -> Figure:
    """Mean of ``metric`` per (``x``, ``y``) cell from ``statistics.parquet``, one panel per
    variant on one shared colour scale (viridis), each value written in its cell; axis
    values in ``axis_order``. With further axes, the cells' means are averaged over them
    (each cell weighs the same) and the title says so; a cell with no data reads "n/a"."""
    names = _names(stats, "variant", variants)
    rows = stats[stats["metric"] == metric] if "metric" in stats.columns else stats.iloc[:0]
    xs, ys = (cd.axis_order(rows[a]) if a in rows.columns else [] for a in (x, y))
    cols = list(stats.columns)
    axes_cols = cols[cols.index("cell") + 1: cols.index("variant")] if "cell" in cols else []
    others = [a for a in axes_cols if a not in (x, y)]
    grids = {}
    for name in names:
        mine = rows[rows["variant"] == name]
        means = mine.groupby([y, x], sort=False)["mean"].mean().to_dict() if len(mine) else {}
        grids[name] = np.array([[means.get((yv, xv), np.nan) for xv in xs] for yv in ys],
                               dtype=float).reshape(len(ys), len(xs))
    finite = np.concatenate([np.zeros(0), *(g[np.isfinite(g)] for g in grids.values())])
    xt, yt = [cd.axis_text(v) for v in xs], [cd.axis_text(v) for v in ys]
    panel_w = max(2.8, 0.85 * len(xs) + 1.0)
    fig, axes = _panels(max(len(names), 1), panel_w, max(2.6, 0.5 * len(ys) + 1.6),
                        sharey=True, max_cols=4)
    fig.suptitle(f"Mean {catalogue.title(metric)} per cell"
                 + (f"\n(cell means averaged over {', '.join(map(cd.axis_name, others))})"
                    if others else ""))
    if not finite.size:
        axes[0].set_visible(True)
        note(axes[0], f"no values of {metric}")
        return fig
    lo, hi = float(finite.min()), float(finite.max())
    norm = Normalize(lo, hi) if hi > lo else Normalize(lo - 0.5, hi + 0.5)
    cmap = mpl.colormaps["viridis"].with_extremes(bad="0.92")
    image, cell_text = None, value_formatter(metric)
    for ax, name in zip(axes, names, strict=False):
        grid = grids[name]
        image = ax.imshow(np.ma.masked_invalid(grid), cmap=cmap, norm=norm, origin="lower",
                          aspect="auto")
        ax.grid(False)
        ax.set_xticks(range(len(xs)), xt)
        ax.set_yticks(range(len(ys)), yt)
        _long_ticks(ax, xt, panel_w)
        ax.set(title=name, xlabel=cd.axis_name(x))
        for (i, j), v in np.ndenumerate(grid):
            # Dark text on the light (yellow-green) end of viridis, white on the dark end.
            r, g, b, _ = cmap(norm(v)) if np.isfinite(v) else (1, 1, 1, 1)
            dark = 0.299 * r + 0.587 * g + 0.114 * b > 0.5
            ax.text(j, i, cell_text(v) if np.isfinite(v) else "n/a", ha="center", va="center",
                    fontsize=9, color="0.1" if dark else "white")
    for ax in axes[:len(names)]:
        if ax.get_subplotspec().is_first_col():
            ax.set_ylabel(cd.axis_name(y))
    bar = fig.colorbar(image, ax=axes[:len(names)], shrink=0.9, aspect=25)
    bar.set_label(f"mean {catalogue.title(metric)}")
    bar.formatter = value_formatter(metric)
    return fig


# ------------------------------------------------------------------------ 2. metric vs axis


def metric_vs_axis_chart(
    runs: pd.DataFrame, metrics: str | Sequence[str], axis: str,
    variants: Sequence[str] | None = None, confidence: float = 0.95, n_boot: int = 2000,
    rng_seed: int = 0,
) -> Figure:
    """One panel per metric: each variant's mean along ``axis`` with a band for its
    confidence interval, computed from the runs table (``runs.parquet``), not from the
    per-cell statistics. When other axes exist, each point pools over them by
    ``chart_data.pooled_statistics``: the average of the cell means, with a bootstrap
    stratified by cell (replications resampled within each cell), so the band shows
    replication noise, not the spread between the other axes' cells. Numeric axis values
    sit at their numeric positions (log scale when they span a factor of 20 or more),
    labelled with their stored text; other values are equally spaced in sweep order."""
    metrics = [metrics] if isinstance(metrics, str) else list(metrics)
    metrics = [m for m in metrics if m in runs.columns]
    names = _names(runs, "variant", variants)
    styles = _styles(names)
    order = cd.axis_order(runs[axis]) if axis in runs.columns else []
    numbers = [cd.axis_number(v) for v in order]
    numeric = bool(order) and all(n is not None for n in numbers)
    pos = np.array(numbers if numeric else range(len(order)), dtype=float)
    log = numeric and pos.min() > 0 and pos.max() / pos.min() >= 20
    others = [a for a in axis_columns(runs) if a != axis] if "cell" in runs.columns else []
    fig, axes = _panels(len(metrics), 4.4, 3.3)
    fig.suptitle(f"Headline metrics by {cd.axis_name(axis)}: mean and {confidence:.0%} "
                 "bootstrap CI" + (f"\n(pooled over {', '.join(map(cd.axis_name, others))}: "
                                   "mean of cell means)" if others else ""))
    if not metrics or not order:
        axes[0].set_visible(True)
        note(axes[0], "no metrics or axis values to show")
        return fig
    ticks = [cd.axis_text(v) for v in order]
    for ax, metric in zip(axes, metrics, strict=False):
        stats = cd.pooled_statistics(runs, metric, axis, names, confidence, n_boot, rng_seed)
        for name in names:
            mine = stats[stats["variant"] == name]
            ax.fill_between(pos, mine["ci_low"], mine["ci_high"], color=styles[name]["color"],
                            alpha=0.18, lw=0)
            ax.plot(pos, mine["mean"], marker="o", ms=4.5, label=name, **styles[name])
        means = stats["mean"].to_numpy(dtype=float)
        if not np.isfinite(means).any() or not np.nan_to_num(means).any():
            ax.set_ylim(-0.05, 1.0)  # not matplotlib's +-0.05 around a flat zero
            ax.set_yticks([0.0])
            note(ax, "all zero" if np.isfinite(means).any() else "no data")
        if log:
            ax.set_xscale("log")
        ax.xaxis.set_minor_locator(NullLocator())
        ax.set_xticks(pos, ticks)
        _long_ticks(ax, ticks, 4.4)
        ax.margins(x=0.08 if numeric else 0.2)  # room for the end labels
        ax.set(title=catalogue.title(metric), xlabel=cd.axis_name(axis),
               ylabel=value_label(metric, "mean"))
        ax.yaxis.set_major_formatter(value_formatter(metric))
    fig.legend(*axes[0].get_legend_handles_labels(), loc="outside lower center",
               ncols=min(len(names), 6))
    return fig


# ---------------------------------------------------------------------------- 3. distribution


def distribution_chart(
    frame: pd.DataFrame, column: str, variant_col: str = "variant", title: str = "",
    xlabel: str = "", ylabel: str = "share of runs", variants: Sequence[str] | None = None,
) -> Figure:
    """Empirical CDF of ``column`` per variant (pooled over whatever rows ``frame`` holds);
    log x when the values span more than a factor of 100 (symmetric log when zeros or
    negatives are present), as in ``compare``."""
    names = _names(frame, variant_col, variants)
    styles = _styles(names)
    fig, (ax,) = ps.new_figure(1, height=4.2, width=7.5)
    ps.labels(ax, title or f"Distribution of {column}", xlabel or column, ylabel)
    seen = [np.zeros(0)]
    for name in names:
        mine = frame[frame[variant_col] == name] if len(frame) else frame
        x = cd.metric_values(mine, column)
        x = x[np.isfinite(x)]
        if x.size:
            cp._ecdf(ax, x, styles[name], f"{name} (n = {x.size:,})")
            seen.append(x)
        else:
            ax.plot([], [], label=f"{name} (no data)", **styles[name])
    values = np.concatenate(seen)
    if values.size:
        cp._scale_for_spread(ax, values)
    else:
        note(ax, "no data")
    ax.set_ylim(0.0, 1.02)
    if names:
        ax.legend(loc="lower right")
    return fig


# -------------------------------------------------------------------------- 4. cascade CCDF


def ccdf(sizes: np.ndarray | Sequence[int]) -> tuple[np.ndarray, np.ndarray]:
    """Distinct sizes ``s`` (ascending) and the share of sizes ``>= s``."""
    x = np.sort(np.asarray(sizes, dtype=float))
    s, first = np.unique(x, return_index=True)
    return s, (x.size - first) / max(x.size, 1)


def cascade_ccdf_chart(sizes: Mapping[str, np.ndarray]) -> Figure:
    """P(S >= s) of cascade sizes (``chart_data.component_sizes``: liquidations per weakly
    connected component of a run's causal graph) per variant, pooled over runs, log-log."""
    styles = _styles(list(sizes))
    fig, (ax,) = ps.new_figure(1, height=4.5, width=7.5)
    ps.labels(ax, "Cascade sizes: complementary CDF (pooled over runs)",
              "cascade size s (liquidations in one connected cascade)", "P(S ≥ s)")
    if not any(len(v) for v in sizes.values()):
        note(ax, "no liquidations")
        return fig
    largest, smallest_p = 1.0, 1.0
    for name, values in sizes.items():
        s, p = ccdf(values)
        if not s.size:
            ax.plot([], [], label=f"{name} (no liquidations)", **styles[name])
            continue
        ax.plot(s, p, marker="o", ms=3.5, lw=1.1, label=f"{name} ({len(values):,} cascades, "
                f"largest {int(s[-1]):,})", **styles[name])
        largest, smallest_p = max(largest, float(s[-1])), min(smallest_p, float(p[-1]))
    ax.set_xscale("log")
    ax.set_yscale("log")
    # At least one decade each way, so the log axes carry labelled ticks.
    ax.set_xlim(0.8, max(largest * 1.5, 10.0))
    ax.set_ylim(min(smallest_p / 1.5, 0.1), 1.3)
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _pos: f"{v:,.0f}"))
    ax.legend(loc="upper right")
    return fig


# --------------------------------------------------------------------- 5. liquidation heatmap


def _edges(values: np.ndarray, bins: int) -> np.ndarray:
    """Edges a whole step apart (1, 2, 2.5 or 5 x 10^k) covering ``values`` in ~``bins``."""
    lo, hi = float(values.min()), float(values.max())
    raw = (hi - lo) / bins if hi > lo else max(abs(lo), 1.0) / 10.0
    base = 10.0 ** math.floor(math.log10(raw))
    step = next(m * base for m in (1, 2, 2.5, 5, 10) if m * base >= raw * (1 - 1e-12))
    start = math.floor(lo / step) * step
    return start + step * np.arange(math.floor((hi - start) / step) + 2)


def liquidation_heatmap(liqs: pd.DataFrame, by: str = "variant", time_bins: int = 60,
                        price_bins: int = 40, panels: Sequence[str] | None = None,
                        title: str = "", epoch: datetime | None = None) -> Figure:
    """Liquidated notional binned by time (minutes) x execution price relative to the
    market's starting price (%), one panel per value of ``by`` (variant or market), summed
    over every run and market in ``liqs`` (``chart_data.load_liquidations``). Bins are the
    same in every panel (about ``time_bins`` x ``price_bins`` over the data, rounded to
    whole steps); the colour scale is logarithmic and shared; empty bins are blank. With
    the runs' ``epoch`` (a replay's run time 0) the time axis reads UTC clock times."""
    ok = liqs[np.isfinite(cd.metric_values(liqs, "price_rel"))
              & np.isfinite(cd.metric_values(liqs, "time_ms"))
              & (cd.metric_values(liqs, "notional") > 0)] if len(liqs) else liqs
    names = list(panels) if panels is not None else _names(ok, by, None)
    fig, axes = _panels(max(len(names), 1), 4.6, 3.6, sharey=True)
    fig.suptitle(title or "Where and when liquidations happened (notional, log colour scale)")
    if ok.empty or not names:
        axes[0].set_visible(True)
        note(axes[0], "no liquidations")
        return fig
    t = cd.metric_values(ok, "time_ms") / MS_PER_MIN
    p = cd.metric_values(ok, "price_rel")
    te, pe = _edges(t, time_bins), _edges(p, price_bins)
    hists = {}
    for name in names:
        mine = (ok[by] == name).to_numpy()
        hists[name] = np.histogram2d(t[mine], p[mine], bins=[te, pe],
                                     weights=cd.metric_values(ok, "notional")[mine])[0]
    filled = np.concatenate([h[h > 0] for h in hists.values()])
    lo, hi = float(filled.min()), float(filled.max())
    norm = LogNorm(lo, hi) if hi > lo else LogNorm(lo / 10.0, hi * 10.0)
    cmap = mpl.colormaps["cividis"]
    mesh = None
    for ax, name in zip(axes, names, strict=False):
        # Rasterized: thousands of quads would make the PDF/SVG large and slow to open.
        mesh = ax.pcolormesh(te, pe, np.ma.masked_less_equal(hists[name].T, 0.0), cmap=cmap,
                             norm=norm, rasterized=True)
        ax.grid(False)
        ax.axhline(0.0, color="0.5", lw=0.7, ls="--")  # the starting price
        runs = ok.loc[ok[by] == name, "run"].nunique() if "run" in ok.columns else None
        ax.set(title=f"{name} ({runs} run{'s' * (runs != 1)})" if runs else str(name))
        ps.time_axis(ax, epoch)
        if not hists[name].any():
            note(ax, "no liquidations")
    for ax in axes[:: 2 if len(names) == 4 else min(3, len(names))]:
        ax.set_ylabel("price vs market's start (%)")
    dt_s, dp = (te[1] - te[0]) * 60.0, pe[1] - pe[0]
    bar = fig.colorbar(mesh, ax=axes[:len(names)], shrink=0.9, aspect=25)
    bar.set_label(f"liquidated notional per {dt_s:g} s × {dp:g} pp bin\n(USD, summed over runs)")
    bar.formatter = usd
    return fig


# ----------------------------------------------------------------------------- 6. waterfall


def waterfall_chart(runs: pd.DataFrame, by: str = "variant", facet: str | None = None,
                    facet_order: Sequence[object] | None = None,
                    facet_titles: Mapping[object, str] | None = None, title: str = "") -> Figure:
    """Stacked bars of the mean loss each layer absorbed per run (``chart_data.loss_layers``)
    per value of ``by``, with the mean bad debt as a black diamond; one panel per value of
    ``facet`` (e.g. ``cell``) if given, each with its own y scale.

    Layers (``simulator.run.metrics``): the insurance fund's payouts (``insurance_fund_paid``:
    gross, before clawbacks and fee income; covers bad debt and, under a fund takeover,
    losses on unwinding the positions it took over), the backstop vault's loss
    (``max(-vault_pnl, 0)``), ADL counterparties' haircut against the mark
    (``max(adl_haircut, 0)``), losses socialized pro rata (``socialized_loss``) and losses
    the venue carried itself (``venue_loss``). Bad debt is the accounts' negative equity
    after their positions were closed: it is paid by the fund, then socialized or absorbed,
    so it is not a further layer. Under fund-takeover mechanisms bad debt can be zero while
    the fund still pays; ADL at the bankruptcy price leaves no bad debt either, its cost is
    the counterparties' haircut. So bars and diamond need not match."""
    groups = list(facet_order) if facet_order is not None else (
        list(dict.fromkeys(runs[facet])) if facet else [None])
    panel_w = 3.8 if facet else 5.5
    fig, axes = _panels(len(groups), panel_w, 3.4)
    fig.suptitle(title or "Who absorbed the losses: mean per run by layer")
    shown = False
    for ax, group in zip(axes, groups, strict=False):
        table = cd.loss_layers(runs if group is None else runs[runs[facet] == group], by)
        x, bottom = np.arange(len(table)), np.zeros(len(table))
        for (layer, _), color in zip(cd.LOSS_LAYERS, LAYER_COLORS, strict=True):
            height = np.nan_to_num(table[layer].to_numpy(dtype=float))
            ax.bar(x, height, 0.6, bottom=bottom, color=color, label=layer, edgecolor="white",
                   linewidth=0.5)
            bottom += height
        bad = table["bad debt"].to_numpy(dtype=float)
        # Unclipped: a diamond at zero (e.g. under a fund takeover) stays whole on the axis.
        ax.plot(x, bad, ls="none", marker="D", ms=6, color="0.1", mec="white", mew=0.8,
                label="bad debt (mean)", zorder=3, clip_on=False)
        ticks = [str(v) for v in table[by]]
        ax.set_xticks(x, ticks)
        _long_ticks(ax, ticks, panel_w)
        ax.set(xlabel=by, ylabel="mean loss per run (USD)")  # panels have their own y scales
        ax.grid(axis="x", visible=False)
        ax.set_title("" if group is None else facet_titles.get(group, str(group))
                     if facet_titles else f"{facet} {group}", fontsize=9)
        top = float(np.nanmax(np.r_[bottom, bad, 0.0]))
        if top <= 0:
            ax.set_ylim(0.0, 1.0)
            ax.set_yticks([0.0], ["$0"])
            note(ax, "no losses beyond margin")
            continue
        shown = True
        for k, total in enumerate(bottom):
            ax.text(k, max(total, np.nan_to_num(bad[k])) + 0.03 * top, usd(total), ha="center",
                    va="bottom", fontsize=8)
        ax.set_ylim(0.0, top * 1.15)
        ax.yaxis.set_major_formatter(usd)
    if shown:
        handles, names = axes[0].get_legend_handles_labels()
        order = sorted(range(len(names)), key=lambda k: names[k] == "bad debt (mean)")
        fig.legend([handles[k] for k in order], [names[k] for k in order],
                   loc="outside lower center", ncols=3)
    return fig


DRAW: dict[str, Callable[..., Figure]] = {
    "heatmap": heatmap_chart, "metric_vs_axis": metric_vs_axis_chart,
    "distribution": distribution_chart, "cascade_ccdf": cascade_ccdf_chart,
    "liquidation_heatmap": liquidation_heatmap, "waterfall": waterfall_chart,
}
