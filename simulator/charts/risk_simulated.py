"""Charts of the simulated part of ``liqsim risk``: the distribution of the runs' losses over
seeds with their historical VaR and its interval, and the stress grid's cells from full runs
beside the static pass. Draws the frames ``simulator.risk.simulated`` returns; computes no
risk figure and runs nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import matplotlib.style
import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from simulator.charts import style as ps
from simulator.charts.style import STYLE_PATH, USD_M

USD_K = 1e3

FORMATS = ("png", "svg")
LEVEL_STYLES = {0.95: ":", 0.99: "--", 0.999: "-."}
PANELS = (("traders_loss_usd", "venue", "traders' loss"), ("fund_loss_usd", "fund",
                                                            "insurance fund loss"))


def money_unit(values) -> tuple[float, str]:
    """(divisor, unit) for money axes: USD M from a million up, USD k from a thousand, else
    USD (a small world's losses in USD M would be ticks like 0.001705)."""
    x = np.abs(np.asarray(values, dtype=float))
    top = float(np.nanmax(x)) if x.size and np.isfinite(x).any() else 0.0
    if top >= USD_M:
        return USD_M, "USD M"
    return (USD_K, "USD k") if top >= USD_K else (1.0, "USD")


def losses_figure(runs: pd.DataFrame, var: pd.DataFrame, title: str = "") -> Figure:
    """ECDF of the complete runs' traders' loss and fund loss per venue, with the VaR at each
    level (a vertical line) and its order-statistic interval shaded where both ends exist."""
    fig, axes = ps.new_figure(1, 4.4, n_cols=2, width=11.0)
    done = runs[runs["status"] == "complete"]
    colours = matplotlib.rcParams["axes.prop_cycle"].by_key()["color"]
    for ax, (col, scope, what) in zip(axes, PANELS, strict=True):
        div, unit = money_unit(done[col]) if not done.empty else (USD_M, "USD M")
        ps.labels(ax, what, f"{what} per run ({unit})", "runs with no larger loss (%)")
        ax.xaxis.set_major_locator(MaxNLocator(6))
        if done.empty:
            ps.note(ax, "no complete run")
            continue
        for k, (venue, part) in enumerate(done.groupby("venue", sort=False)):
            colour = colours[k % len(colours)]
            x = np.sort(part[col].to_numpy()) / div
            y = 100.0 * np.arange(1, x.size + 1) / x.size
            ax.step(np.r_[x[0], x], np.r_[0.0, y], where="post", color=colour, lw=1.4,
                    label=f"{venue} ({x.size} runs)")
            rows = var[(var["scope"] == scope) & (var["venue"] == venue)]
            for _, r in rows.iterrows():
                closed = np.isfinite(r["var_low"]) and np.isfinite(r["var_high"])
                if closed:
                    ax.axvspan(r["var_low"] / div, r["var_high"] / div, color=colour,
                               alpha=0.08, lw=0)
                ax.axvline(r["var"] / div, color=colour, lw=1.0,
                           ls=LEVEL_STYLES.get(round(float(r["level"]), 6), "--"),
                           label=f"VaR {r['level']:.1%}" + ("" if closed else
                                                            " (interval open)"))
        ax.set_ylim(0, 100)
        ax.legend(fontsize=7, loc="lower right")
    fig.suptitle(title or "Simulated losses over seeds")
    return fig


def stress_compare_figure(compare: pd.DataFrame, title: str = "") -> Figure:
    """Liquidated notional and bad debt per asset and move, summed over venues: the static
    pass (dashed) against the full runs (solid)."""
    fig, axes = ps.new_figure(1, 4.4, n_cols=2, width=11.0)
    colours = matplotlib.rcParams["axes.prop_cycle"].by_key()["color"]
    for ax, (col, what) in zip(axes, (("liquidated_usd", "liquidated notional"),
                                      ("bad_debt_usd", "bad debt")), strict=True):
        cells = compare.groupby(["asset", "move"], sort=False)[
            [f"{col}_static", f"{col}_run"]].sum(min_count=1)
        div, unit = money_unit(cells.to_numpy()) if not cells.empty else (USD_M, "USD M")
        ps.labels(ax, what, "price move from the start (%)", f"{what} ({unit})")
        if compare.empty:
            ps.note(ax, "no stress cell")
            continue
        for k, asset in enumerate(dict.fromkeys(compare["asset"])):
            part = cells.loc[asset].sort_index()
            moves = 100.0 * part.index.to_numpy()
            colour = colours[k % len(colours)]
            ax.plot(moves, part[f"{col}_run"] / div, color=colour, marker="s", ms=4,
                    lw=1.4, label=f"{asset}: full run")
            ax.plot(moves, part[f"{col}_static"] / div, color=colour, marker="o", ms=3,
                    lw=1.0, ls="--", label=f"{asset}: static")
        ax.legend(fontsize=7)
    fig.suptitle(title or "Stress cells: static pass against full runs")
    return fig


def write_simulated_figures(out_dir: str | Path, title: str = "",
                            runs: pd.DataFrame | None = None, var: pd.DataFrame | None = None,
                            compare: pd.DataFrame | None = None,
                            formats: Sequence[str] = FORMATS) -> dict[str, dict[str, Path]]:
    """{name: {format: path}}: "simulated_losses" with ``runs`` and ``var``
    (``simulated_var``), "stress_full" with ``compare`` (``stress_comparison``)."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    prefix = f"{title}: " if title else ""
    with matplotlib.style.context(STYLE_PATH):
        figures = {}
        if runs is not None and var is not None:
            figures["simulated_losses"] = losses_figure(
                runs, var, f"{prefix}simulated losses over seeds")
        if compare is not None:
            figures["stress_full"] = stress_compare_figure(
                compare, f"{prefix}stress cells, static pass against full runs")
        return ps.save_figures(figures, out, formats)
