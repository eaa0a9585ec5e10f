"""The liquidation-map chart: notional that would be liquidated at each price level, one panel
per market (longs below the start price, shorts above, and their running totals).

Knows only the map's table (``simulator.run.liquidation_map.COLUMNS``); nothing of venues or
the simulation, so it can be redrawn from the saved Parquet file.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import matplotlib.style
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from simulator.charts import style as ps
from simulator.charts.style import LONG_COLOR, SHORT_COLOR, STYLE_PATH, USD_M

MAX_PANELS = 12  # the largest markets by mapped notional; the table has them all


def map_figure(frame: pd.DataFrame, title: str = "") -> Figure:
    """Bars of USD notional per level against the price, per (venue, market); a line of the
    cumulative notional from the start price outward on a second axis."""
    totals = frame.groupby(["venue", "market"])["notional"].sum().sort_values(ascending=False)
    panels = list(totals.index[:MAX_PANELS])
    cols = 1 if len(panels) <= 1 else 2
    rows = max(1, -(-len(panels) // cols))
    fig, axes = ps.new_figure(rows, 3.2 * rows + 0.6, n_cols=cols, width=6.0 * cols)
    if not panels:
        ps.note(axes[0], "no position would be liquidated within the map's range")
    for ax, (venue, market) in zip(axes, panels, strict=False):
        here = frame[(frame["venue"] == venue) & (frame["market"] == market)]
        twin = ps.twin_axis(ax)
        for side, color in (("long", LONG_COLOR), ("short", SHORT_COLOR)):
            part = here[here["side"] == side].sort_values("price")
            if part.empty:
                continue
            prices = part["price"].to_numpy()
            width = np.diff(prices).min() * 0.9 if prices.size > 1 else abs(prices[0]) * 0.002
            ax.bar(prices, part["notional"] / USD_M, width=width, color=color, alpha=0.8,
                   label=f"{side}s liquidated")
            order = part.sort_values("move", key=np.abs)
            twin.plot(order["price"], order["cumulative_notional"] / USD_M, color=color, lw=1.2,
                      ls="--")
        start = _start_price(here)
        if start is not None:
            ax.axvline(start, color="0.2", lw=0.8, ls=":")
        ps.labels(ax, f"{venue} {market}", "price (USD)", "notional per level (USD M)")
        twin.set_ylabel("cumulative from the start (USD M)")
        ax.legend(loc="upper center", fontsize=8)
    for ax in axes[len(panels):]:
        ax.set_visible(False)
    if title:
        fig.suptitle(title)
    return fig


def _start_price(here: pd.DataFrame) -> float | None:
    """The start price, from the first level either side: price / (1 + move)."""
    first = here.loc[here["move"].abs().idxmin()] if not here.empty else None
    return None if first is None else float(first["price"] / (1.0 + first["move"]))


def write_map_figure(frame: pd.DataFrame, out_dir: str | Path, title: str = "",
                     formats: Sequence[str] = ("png", "pdf")) -> list[Path]:
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    with matplotlib.style.context(STYLE_PATH):
        fig = map_figure(frame, title)
        for fmt in formats:
            path = out / f"liquidation_map.{fmt}"
            ps.save_atomic(fig, path, fmt)
            written.append(path)
    fig.clear()
    return written
