"""Which charts a sweep folder gets, and writing them: ``write_sweep_charts`` is the one call.

``plan_charts`` reads the stored results (``runs.parquet``, ``statistics.parquet``, the run
folders through ``sweep_data``'s loaders) and decides the charts that have something to show,
each with its data, title and caption; ``write_chart`` draws one with ``charts.DRAW`` inside
the project style and saves it in every format under one stem. It must not run simulations
nor know simulation objects.
"""

from __future__ import annotations

import re
import textwrap
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import matplotlib.style
import numpy as np
import pandas as pd

from simulator.charts import style as ps
from simulator.charts.style import STYLE_PATH
from simulator.charts.sweep import DRAW
from simulator.charts.sweep_data import (
    HEADLINE,
    axis_name,
    axis_order,
    cell_order,
    cell_title,
    complete_runs,
    load_cascade_sizes,
    load_epoch,
    load_haircuts,
    load_liquidations,
    loss_layers,
    metric_values,
)
from simulator.run import catalogue
from simulator.sweep.stats import axis_columns

__all__ = ["ChartFile", "ChartPlan", "plan_charts", "slug", "write_chart", "write_sweep_charts"]

@dataclass(frozen=True)
class ChartPlan:
    """One chart to draw: file stem, title, caption, which chart function (``kind``, a key
    of ``charts.DRAW``) and its arguments."""

    name: str
    title: str
    caption: str
    kind: str
    args: dict[str, Any]


def slug(text: str) -> str:
    """A file-name-safe stem: "shocks.0.move" -> "shocks_0_move"."""
    return re.sub(r"[^A-Za-z0-9]+", "_", text).strip("_").lower()


def _any_positive(values: np.ndarray) -> bool:
    return bool(np.any(np.nan_to_num(values) > 0))


def plan_charts(sweep_dir: str | Path, metric: str = "cascade_depth") -> list[ChartPlan]:
    """The charts a sweep folder supports, with their data, in report order:

    - ``heatmap_<metric>``: with two axes of >= 2 values (the first two such), from the
      statistics table;
    - ``metric_vs_<axis>``: for each axis with >= 2 values, the ``HEADLINE`` metrics present;
    - ``insurance_fund_paid_distribution``: unless the fund paid nothing in any run;
    - ``adl_haircut_distribution``: only if some account was deleveraged;
    - ``cascade_size_ccdf`` and ``liquidation_heatmap``: if anything was liquidated (the
      heatmap pools the runs of the cell with the largest mean liquidated notional);
    - ``loss_waterfall``: if any layer absorbed a loss (one panel per cell for 2 to 6 cells).
    """
    sweep = Path(sweep_dir)
    runs = pd.read_parquet(sweep / "runs.parquet")
    stats_file = sweep / "statistics.parquet"
    stats = pd.read_parquet(stats_file) if stats_file.exists() else None
    ok = complete_runs(runs, sweep)
    names = list(dict.fromkeys(runs["variant"]))
    axes = axis_columns(runs)
    multi = [a for a in axes if len(axis_order(runs[a])) >= 2]
    dirs = [sweep / "runs" / str(k) for k in ok["run_key"]]
    variants = ok["variant"].astype(str).tolist()
    reps = int(ok.groupby(["cell", "variant"]).size().max()) if len(ok) else 0
    plans: list[ChartPlan] = []

    def add(name: str, title: str, caption: str, kind: str, /, **args: Any) -> None:
        plans.append(ChartPlan(name, title, caption, kind, args))

    rows = stats[stats["metric"] == metric] if stats is not None else None
    if len(multi) >= 2 and rows is not None and np.isfinite(metric_values(rows, "mean")).any():
        x, y = multi[:2]
        rest = [a for a in axes if a not in (x, y)]
        add(f"heatmap_{slug(metric)}",
            f"Mean {catalogue.title(metric)} by {axis_name(x)} and {axis_name(y)}",
            f"Mean {catalogue.title(metric)} over the replications (up to {reps}) of each "
            f"cell, by {axis_name(x)} ({x}, columns) and {axis_name(y)} ({y}, rows); one "
            "panel per variant, all on one colour scale."
            + (f" Cell means are averaged over {', '.join(rest)}." if rest else ""),
            "heatmap", stats=stats, metric=metric, x=x, y=y, variants=names)
    headline = [m for m in HEADLINE if m in runs.columns]
    for axis in multi if headline and len(ok) else []:
        rest = [a for a in axes if a != axis]
        add(f"metric_vs_{slug(axis)}", f"Headline metrics by {axis_name(axis)}",
            f"Mean {', '.join(catalogue.title(m) for m in headline)} at each value of "
            f"{axis_name(axis)} ({axis}), "
            "per variant; bands are 95% percentile bootstrap intervals over replications"
            + (" (one replication per cell: no band)." if reps == 1 else ".")
            + (f" Each point averages the cell means over {', '.join(rest)}; the bootstrap "
               "resamples replications within cells, so bands show replication noise only."
               if rest else ""), "metric_vs_axis", runs=runs, metrics=headline, axis=axis,
            variants=names)
    if _any_positive(metric_values(ok, "insurance_fund_paid")):
        add("insurance_fund_paid_distribution", "Insurance fund payouts per run",
            f"Empirical CDF, per variant, of what the insurance fund paid out in each of the "
            f"{len(ok)} complete runs (all cells pooled). Curves further right mean larger "
            "payouts; the height at zero is the share of runs in which the fund paid nothing.",
            "distribution", frame=ok, column="insurance_fund_paid", variants=names,
            title="Insurance fund paid per run (all cells pooled)",
            xlabel="insurance fund paid in the run (USD)", ylabel="share of runs")
    cuts = load_haircuts(dirs, variants)
    if len(cuts):
        add("adl_haircut_distribution", "ADL haircuts per deleveraged account",
            f"Empirical CDF, per variant, of the USD each of the {len(cuts):,} deleveraged "
            "accounts (all complete runs pooled) gave up against closing at the mark price. "
            "Negative haircuts are closes better than the mark.", "distribution", frame=cuts,
            column="haircut", variants=names,
            title="ADL haircut per deleveraged account (all runs pooled)",
            xlabel="haircut: USD given up against the mark", ylabel="share of accounts")
    sizes = load_cascade_sizes(dirs, variants)
    if any(len(s) for s in sizes.values()):
        add("cascade_size_ccdf", "Cascade size distribution",
            "Share of cascades with at least s liquidations (log-log), pooled over all "
            "complete runs per variant. A cascade is a connected group of liquidations, "
            "linked where one needed the price impact of another; a flatter tail means more "
            "large cascades.", "cascade_ccdf", sizes={n: sizes.get(n, np.zeros(0))
                                                      for n in names})
        notional = pd.Series(metric_values(ok, "liquidated_notional"), index=ok.index)
        cell = int(notional.fillna(0.0).groupby(ok["cell"]).mean().idxmax())  # ties: first
        mine = ok["cell"].to_numpy() == cell
        where = cell_title(runs, cell, axes)
        shown = cell_title(runs, cell, axes, readable=True)  # in the chart: readable names
        add("liquidation_heatmap", "Liquidations by time and price",
            f"Liquidated notional by time and by execution price relative to the market's "
            f"starting price, summed over the {int(mine.sum())} complete runs of cell {cell}"
            f"{f' ({where})' if where else ''}, the cell with the largest mean liquidated "
            "notional. Log colour scale; blank bins had no liquidations; the dashed line is "
            "the starting price.", "liquidation_heatmap",
            liqs=load_liquidations([d for d, m in zip(dirs, mine, strict=True) if m],
                                   [v for v, m in zip(variants, mine, strict=True) if m]),
            panels=names, epoch=load_epoch([d for d, m in zip(dirs, mine, strict=True) if m]),
            title=f"Liquidated notional by time and price, cell {cell}"
            + (f"\n({textwrap.shorten(shown, 110)})" if shown else ""))
    table = loss_layers(ok)
    if _any_positive(table.drop(columns=["variant", "n"]).to_numpy(dtype=float)):
        cells = cell_order(ok, axes)
        facet = 2 <= len(cells) <= 6
        add("loss_waterfall", "Who absorbed the losses",
            "Mean per run of the loss each layer absorbed beyond the liquidated accounts' "
            "margin (insurance fund payouts, backstop vault loss, ADL counterparties' haircut, "
            "socialized and venue losses), stacked per variant; the diamond is mean bad debt, "
            "which the layers need not sum to (a fund takeover pays for unwinding positions, "
            "not bad debt)." + (" One panel per cell, each on its own scale." if facet else
                                " All cells pooled."), "waterfall", runs=ok,
            facet="cell" if facet else None, facet_order=cells if facet else None,
            facet_titles={c: cell_title(ok, c, axes, names=False) for c in cells}
            if facet else None, title="Who absorbed the losses: mean per run by layer"
            + (f"\n(one panel per cell of {', '.join(map(axis_name, axes))})" if facet else ""))
    return plans




@dataclass(frozen=True)
class ChartFile:
    name: str  # file stem, e.g. "heatmap_cascade_depth"
    title: str  # human title
    caption: str  # 1-3 sentences: what it shows and how to read it
    paths: dict[str, Path]  # format -> written file


def write_sweep_charts(sweep_dir: str | Path, out_dir: str | Path,
                       formats: Sequence[str] = ("png", "pdf", "svg"),
                       metric: str = "cascade_depth") -> list[ChartFile]:
    """Write the charts a sweep folder supports to ``out_dir/<name>.<fmt>`` (same stem in
    every format) and return them in order. Reads only ``runs.parquet``,
    ``statistics.parquet`` and the folders of complete runs; which charts apply and what
    they draw is ``chart_data.plan_charts``'s decision (charts with nothing to show are
    left out). Identical results give identical files."""
    if isinstance(formats, str):
        formats = (formats,)  # a bare "png" would otherwise iterate as p, n, g
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    return [ChartFile(plan.name, plan.title, plan.caption, write_chart(plan, out, formats))
            for plan in plan_charts(sweep_dir, metric)]


def write_chart(plan: ChartPlan, out_dir: Path, formats: Sequence[str]) -> dict[str, Path]:
    """Draw one planned chart and write ``out_dir/<plan.name>.<fmt>`` for every format."""
    paths = {}
    # Artists read rcParams when created and savefig when saving: both inside the style.
    # The style's fixed svg.hashsalt makes SVG element ids repeatable.
    with matplotlib.style.context(STYLE_PATH):
        fig = DRAW[plan.kind](**plan.args)
        try:
            for fmt in (f.lower().lstrip(".") for f in formats):
                paths[fmt] = out_dir / f"{plan.name}.{fmt}"
                ps.save_atomic(fig, paths[fmt], fmt)  # readers never see half a file
        finally:
            fig.clear()  # break artist reference cycles: a report may draw many charts
    return paths
