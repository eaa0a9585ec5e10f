"""Charts of the margin and collateral sections of ``liqsim risk``: the dynamic-margin path
pass (cumulative liquidated notional and bad debt against time, fixed against volatility
rule, with the multiplier), the distribution of the haircut-adjusted collateral ratio per
account group, and the depeg sensitivity. Draws the frames of ``simulator.risk.
dynamic_margin`` and ``simulator.risk.collateral_health``; computes no risk figure.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import matplotlib.style
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from simulator.charts import style as ps
from simulator.charts.style import STYLE_PATH, USD_M

FORMATS = ("png", "svg")
RULE_STYLE = {"fixed": "-", "volatility": "--"}


def dynamic_margin_figure(path: pd.DataFrame, title: str = "") -> Figure:
    """Two panels against time: cumulative liquidated notional and bad debt (USD M) per venue
    and rule; the volatility rule's highest multiplier on a right-hand axis of the first."""
    fig, axes = ps.new_figure(1, 4.2, n_cols=2, width=11.0)
    if path.empty:
        for ax in axes:
            ps.note(ax, "no path")
        return fig
    # The cumulative values repeat on each market's row: one line per venue and rule.
    per = path.groupby(["venue", "rule", "time_ms"], sort=False).agg(
        liquidated_usd=("liquidated_usd", "first"), bad_debt_usd=("bad_debt_usd", "first"),
        multiplier=("multiplier", "max")).reset_index()
    # A venue keeps its colour: the rule is the line style, the multiplier a thin dotted line.
    colours = {v: f"C{i % 10}" for i, v in enumerate(dict.fromkeys(per["venue"]))}
    for ax, (col, what) in zip(axes, (("liquidated_usd", "liquidated notional"),
                                      ("bad_debt_usd", "bad debt")), strict=True):
        for (venue, rule), part in per.groupby(["venue", "rule"], sort=False):
            ax.plot(ps.minutes(part["time_ms"]), part[col] / USD_M, lw=1.3,
                    color=colours[venue], ls=RULE_STYLE.get(rule, "-"),
                    label=f"{venue}: {rule} rule")
        ps.labels(ax, f"cumulative {what}", "time (min)", f"{what} (USD M)")
        ax.set_ylim(bottom=0)
    vol = per[per["rule"] == "volatility"]
    twin = ps.twin_axis(axes[0])
    for venue, part in vol.groupby("venue", sort=False):
        twin.step(ps.minutes(part["time_ms"]), part["multiplier"], where="post",
                  color=colours[venue], ls=":", lw=0.9, label=f"{venue}: multiplier")
    twin.set_ylabel("maintenance multiplier (x)")
    top = float(vol["multiplier"].max()) if not vol.empty else 1.0
    twin.set_ylim(0, max(top, 1.0) * 1.1)
    # One legend under both panels: inside, it would sit on the lines of some world or other.
    handles = [h for ax in (axes[0], twin) for h in ax.get_legend_handles_labels()[0]]
    fig.legend(handles=handles, loc="outside lower center", ncol=min(3, len(handles)),
               fontsize=8, frameon=False)
    fig.suptitle(title or "Dynamic margin: the scenario's path, fixed and volatility rules")
    return fig


def ratio_figure(ratios: pd.DataFrame, title: str = "") -> Figure:
    """ECDF of the haircut-adjusted collateral ratio per venue and group, log x, with the
    liquidation level (1) and 1.5 marked."""
    fig, (ax,) = ps.new_figure(1, 4.5, width=8.0)
    live = ratios[np.isfinite(ratios["ratio"]) & (ratios["ratio"] > 0)]
    if live.empty:
        ps.note(ax, "no account with a position")
        ps.labels(ax, title or "Collateral ratio", "collateral ratio (x, log)",
                  "share of accounts (%)")
        return fig
    for (venue, group), part in live.groupby(["venue", "group"], sort=False):
        x = np.sort(part["ratio"].to_numpy())
        ax.step(x, 100 * np.arange(1, x.size + 1) / x.size, where="post", lw=1.3,
                label=f"{venue}: {group} ({x.size:,})")
    for level, text in ((1.0, "maintenance (1x)"), (1.5, "1.5x")):
        ax.axvline(level, color="0.4", lw=0.8, ls=":" if level > 1 else "-", label=text)
    ax.set_xscale("log")
    ax.set_ylim(0, 100)
    ps.labels(ax, title or "Haircut-adjusted collateral ratio per account group",
              "collateral ratio: equity / maintenance (x, log)", "share of accounts (%)")
    ax.legend(fontsize=8, loc="lower right")
    return fig


def depeg_figure(depeg: pd.DataFrame, title: str = "") -> Figure:
    """Liquidated notional and bad debt (USD M) against each collateral asset's move, one line
    per venue and asset."""
    fig, axes = ps.new_figure(1, 4.2, n_cols=2, width=10.0)
    moved = depeg[np.isfinite(depeg["move"].astype(float))]
    for ax, (col, what) in zip(axes, (("liquidated_usd", "liquidated notional"),
                                      ("bad_debt_usd", "bad debt")), strict=True):
        for (venue, asset), part in moved.groupby(["venue", "collateral"], sort=False):
            part = part.sort_values("move")
            ax.plot(100 * part["move"], part[col] / USD_M, marker="o", lw=1.3,
                    label=f"{venue}: {asset}")
        ps.labels(ax, what, "collateral price move (%)", f"{what} (USD M)")
        if moved.empty:
            ps.note(ax, "no collateral book")
        else:
            ax.set_ylim(bottom=0)
            ax.legend(fontsize=8)
    fig.suptitle(title or "Depeg sensitivity: positions' prices held")
    return fig


def write_margin_figures(dynamic_path: pd.DataFrame | None, ratios: pd.DataFrame | None,
                         depeg: pd.DataFrame | None, out_dir: str | Path, title: str = "",
                         formats: Sequence[str] = FORMATS) -> dict[str, dict[str, Path]]:
    """The figures of the frames given (None: left out): "dynamic_margin",
    "collateral_ratio", "depeg" in each format: {name: {format: path}}."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    prefix = f"{title}: " if title else ""
    with matplotlib.style.context(STYLE_PATH):
        figures = {}
        if dynamic_path is not None:
            figures["dynamic_margin"] = dynamic_margin_figure(dynamic_path,
                                                              f"{prefix}dynamic margin")
        if ratios is not None:
            figures["collateral_ratio"] = ratio_figure(
                ratios, f"{prefix}haircut-adjusted collateral ratio")
        if depeg is not None:
            figures["depeg"] = depeg_figure(depeg, f"{prefix}depeg sensitivity")
        return ps.save_figures(figures, out, formats)
