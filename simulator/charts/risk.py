"""Charts of the pre-crash risk report (``liqsim risk``): the static stress grid as heatmaps
(liquidated notional, bad debt), the Lorenz curve of the traders' exposure and the VaR/ES
bars by venue. Draws the frames ``simulator.risk.book`` returns; computes no risk figure.
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
FIGURES = ("stress_liquidated", "stress_bad_debt", "lorenz", "var")


def stress_heatmap(grid: pd.DataFrame, value: str, what: str, title: str = "") -> Figure:
    """Assets (and "all") down, moves across, ``value`` summed over venues in USD M."""
    table = grid.groupby(["asset", "move"], sort=False)[value].sum().unstack("move") / USD_M
    fig, (ax,) = ps.new_figure(1, 0.5 * len(table) + 2.4, width=9.0)
    if table.empty:
        ps.note(ax, "no stress cell")
        return fig
    data = table.to_numpy()
    image = ax.imshow(data, aspect="auto", cmap="Reds", vmin=0)
    ax.set_xticks(range(data.shape[1]), [f"{m:+.0%}" for m in table.columns])
    ax.set_yticks(range(data.shape[0]), list(table.index))
    top = np.nanmax(data) if data.size else 0.0
    for (i, j), v in np.ndenumerate(data):
        ax.text(j, i, f"{v:,.1f}", ha="center", va="center", fontsize=7,
                color="white" if top and v > 0.6 * top else "0.1")
    bar = fig.colorbar(image, ax=ax)
    bar.set_label(f"{what} (USD M)")
    ps.labels(ax, title or f"Static stress: {what}", "price move from the start (%)",
              "asset moved")
    ax.grid(False)
    return fig


def lorenz_figure(lorenz: pd.DataFrame, title: str = "") -> Figure:
    """Lorenz curves of the traders' gross and leverage-weighted exposure, per venue."""
    fig, (ax,) = ps.new_figure(1, 5.0, width=6.0)
    ax.plot([0, 100], [0, 100], color="0.5", ls="--", lw=0.9, label="equality")
    for (measure, group), part in _one_venue_once(lorenz, "group").groupby(["measure", "group"],
                                                                          sort=False):
        ax.plot(100 * part["x"], 100 * part["y"], lw=1.3, label=f"{group}: {measure}",
                ls="-" if measure == "gross" else ":")
    ps.labels(ax, title or "Lorenz curve of the traders' exposure",
              "share of accounts, smallest first (%)", "share of exposure (%)")
    ax.set(xlim=(0, 100), ylim=(0, 100))
    ax.legend(loc="upper left", fontsize=8)
    return fig


def var_figure(var: pd.DataFrame, title: str = "") -> Figure:
    """Bars of the 1-day VaR and ES per venue ("all" for the whole world), per level and
    distribution."""
    books = _one_venue_once(var[var["scope"] != "account"], "venue")
    fig, (ax,) = ps.new_figure(1, 4.5, width=8.0)
    if books.empty:
        ps.note(ax, "no exposure")
        return fig
    keys = list(dict.fromkeys(zip(books["venue"], books["level"], strict=True)))
    x = np.arange(len(keys))
    series = [(d, m) for d in ("normal", "t") for m in ("var", "es")]
    width = 0.8 / len(series)
    names = {"normal": "normal", "t": "Student-t, 4 dof"}
    for k, (dist, measure) in enumerate(series):
        part = books[books["dist"] == dist].set_index(["venue", "level"])[measure]
        ax.bar(x + (k - 1.5) * width, [part.get(key, np.nan) / USD_M for key in keys], width,
               label=f"{'VaR' if measure == 'var' else 'ES'} ({names[dist]})")
    ax.set_xticks(x, [f"{v}\n{lv:.1%}" for v, lv in keys])
    ps.labels(ax, title or "Parametric 1-day VaR and ES of the traders' book",
              "venue and confidence level", "loss (USD M)")
    ax.legend(fontsize=8)
    return fig


def sensitivity_figure(sensitivity: pd.DataFrame, title: str = "") -> Figure:
    """The static "all" cell's liquidated notional and bad debt against the margin step
    (``simulator.risk.sensitivity``), one line per scaled setting; refused steps are gaps."""
    fig, axes = ps.new_figure(1, 4.2, n_cols=2, width=10.0)
    names = {"mmr": "maintenance rates", "leverage_cap": "leverage caps"}
    for ax, (col, what) in zip(axes, (("liquidated_usd", "liquidated notional"),
                                      ("bad_debt_usd", "bad debt")), strict=True):
        for key, part in sensitivity.groupby("what", sort=False):
            part = part.sort_values("step")
            ax.plot(100 * part["step"], part[col] / USD_M, marker="o", lw=1.3,
                    label=f"{names.get(key, key)} scaled")
        ps.labels(ax, what, "change of the margin setting from the scenario's (%)",
                  f"{what} (USD M)")
        if not sensitivity.empty:
            ax.legend(fontsize=8)
    fig.suptitle(title or "Margin sensitivity of the static stress")
    return fig


def _one_venue_once(frame: pd.DataFrame, col: str) -> pd.DataFrame:
    """Without the "all" rows when there is one venue (they repeat it)."""
    if frame[col].nunique() == 2 and (frame[col] == "all").any():
        return frame[frame[col] != "all"]
    return frame


def write_risk_figures(grid: pd.DataFrame, lorenz: pd.DataFrame, var: pd.DataFrame,
                       out_dir: str | Path, title: str = "",
                       formats: Sequence[str] = FORMATS,
                       sensitivity: pd.DataFrame | None = None) -> dict[str, dict[str, Path]]:
    """Every figure of ``FIGURES`` in each format: {name: {format: path}}; with
    ``sensitivity`` (``margin_sensitivity``'s rows) also "sensitivity"."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    prefix = f"{title}: " if title else ""
    with matplotlib.style.context(STYLE_PATH):
        figures = {
            "stress_liquidated": stress_heatmap(grid, "liquidated_usd", "liquidated notional",
                                                f"{prefix}static stress, liquidated notional"),
            "stress_bad_debt": stress_heatmap(grid, "bad_debt_usd", "bad debt",
                                              f"{prefix}static stress, bad debt"),
            "lorenz": lorenz_figure(lorenz, f"{prefix}Lorenz curve of the traders' exposure"),
            "var": var_figure(var, f"{prefix}parametric 1-day VaR and ES"),
        }
        if sensitivity is not None:
            figures["sensitivity"] = sensitivity_figure(
                sensitivity, f"{prefix}margin sensitivity of the static stress")
        return ps.save_figures(figures, out, formats)
