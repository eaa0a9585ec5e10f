"""A run's timeline: the cascade's story on one time axis, in four stacked panels.

``timeline_figure(result)`` draws, sharing the time axis: (1) each market's mark price as a
change from its first sample (%; the first ``MAX_MARKETS`` markets), with the ``TOP_N``
largest liquidations marked at their price and labelled with their notional; (2) the
liquidation queue per venue (positions waiting, from the time series); (3) the insurance
fund per venue; (4) the cumulative ADL notional (from the ADL events). Money axes are scaled
to USD, USD k or USD M by their size. A replay's run (a ``utc`` column) reads UTC clock
times. ``timeline_data(result)`` returns what each panel draws, so tests compare numbers.

Reads a run's tables (``RunResult``: events, timeseries) only; no simulation objects.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from simulator.charts import style as ps
from simulator.charts.run import run_epoch_of

__all__ = ["MAX_MARKETS", "PANELS", "TOP_N", "timeline_data", "timeline_figure", "top_liquidations"]

MAX_MARKETS = 4  # price lines drawn; more would be unreadable on one panel
TOP_N = 5  # largest liquidations marked and labelled
PANELS = ("price", "liquidation_queue", "insurance_fund", "adl")
_MARKER = {"marker": "o", "s": 70, "facecolors": "none", "edgecolors": "#D55E00",
           "linewidths": 1.6, "zorder": 4}
_LABEL_ROWS = 0.09  # vertical step (axes fraction) between staggered notional labels


def _money_scale(peak: float) -> tuple[float, str]:
    """Divisor and unit for an axis of money reaching ``peak``: USD M, USD k or USD."""
    peak = abs(peak)
    return (ps.USD_M, "USD M") if peak >= 1e6 else (1e3, "USD k") if peak >= 1e3 else (1.0, "USD")


def _money_text(value: float) -> str:
    div, unit = _money_scale(value)
    return f"${value / div:,.{0 if div == 1 else 1}f}{unit[4:].strip()}"


def top_liquidations(events: pd.DataFrame, n: int = TOP_N) -> pd.DataFrame:
    """The ``n`` largest liquidations by notional (ties: earliest first), in time order."""
    if events.empty or "kind" not in events:
        return pd.DataFrame(columns=["seq", "time_ms", "venue", "market", "price", "notional"])
    liq = events[events["kind"] == "liquidation"]
    liq = liq.sort_values(["notional", "seq"], ascending=[False, True], kind="stable").head(n)
    cols = ["seq", "time_ms", "venue", "market", "price", "notional"]
    return liq[cols].sort_values(["time_ms", "seq"], kind="stable").reset_index(drop=True)


def _per_venue(ts: pd.DataFrame, column: str) -> dict[str, pd.Series]:
    """``column`` per venue indexed by time (a venue's value repeats on its market rows)."""
    if ts.empty or column not in ts:
        return {}
    out = {}
    for venue, rows in ts.groupby(ts["venue"].astype(str), sort=True):
        out[str(venue)] = rows.groupby("time_ms", sort=True)[column].first().astype(float)
    return out


def timeline_data(result: Any) -> dict[str, Any]:
    """What the panels draw: ``price`` {(venue, market): % change series}, ``start``
    {(venue, market): first mark}, ``liquidation_queue`` and ``insurance_fund`` {venue:
    series}, ``adl`` (times, cumulative notional), ``top`` (``top_liquidations``)."""
    ts, events = result.timeseries, result.events
    price: dict[tuple[str, str], pd.Series] = {}
    start: dict[tuple[str, str], float] = {}
    if not ts.empty and {"mark", "market"} <= set(ts.columns):
        keys = list(dict.fromkeys(zip(ts["venue"].astype(str), ts["market"].astype(str),
                                      strict=True)))[:MAX_MARKETS]
        for venue, market in keys:
            rows = ts[(ts["venue"].astype(str) == venue) & (ts["market"].astype(str) == market)]
            mark = rows.set_index("time_ms")["mark"].sort_index().astype(float)
            start[(venue, market)] = float(mark.iloc[0])
            price[(venue, market)] = (mark / mark.iloc[0] - 1.0) * 100.0
    adl = events[events["kind"] == "adl"].sort_values(["time_ms", "seq"], kind="stable") \
        if not events.empty else events
    top = top_liquidations(events)
    top = top[[(str(v), str(m)) in start for v, m in zip(top["venue"], top["market"],
                                                          strict=True)]]
    return {"price": price, "start": start, "top": top.reset_index(drop=True),
            "liquidation_queue": _per_venue(ts, "liquidation_queue"),
            "insurance_fund": _per_venue(ts, "insurance_fund"),
            "adl": (adl["time_ms"].to_numpy(float) if len(adl) else np.zeros(0),
                    np.cumsum(adl["notional"].to_numpy(float)) if len(adl) else np.zeros(0))}


def timeline_figure(result: Any) -> Figure:
    """The four-panel timeline of ``result`` (a ``RunResult``; see the module docstring)."""
    data = timeline_data(result)
    epoch = run_epoch_of(result.timeseries, result.events)
    fig, axes = ps.new_figure(4, height=10.0, sharex=True, width=10.0)
    ax_p, ax_q, ax_f, ax_a = axes
    t_end = max([float(s.index.max()) for s in data["price"].values()] + [0.0])

    ps.labels(ax_p, "mark price and the largest liquidations", "",
              "mark price change from start (%)")
    for (venue, market), change in data["price"].items():
        label = market if len({v for v, _ in data["price"]}) <= 1 else f"{market} ({venue})"
        ax_p.plot(ps.minutes(change.index.to_numpy(float)), change.to_numpy(), lw=1.2,
                  label=label)
    if not data["price"]:
        ps.note(ax_p, "no price samples")
    top = data["top"]
    changes = np.concatenate([np.zeros(1), *(s.to_numpy() for s in data["price"].values())])
    # The labels' band goes on the side the prices moved to, so it stays on the data's sign.
    fell = float(np.nanmin(changes)) < -float(np.nanmax(changes))
    if len(top):
        rel = np.array([(p / data["start"][(str(v), str(m))] - 1.0) * 100.0
                        for v, m, p in zip(top["venue"], top["market"], top["price"], strict=True)])
        x = ps.minutes(top["time_ms"].to_numpy(float))
        ax_p.scatter(x, rel, label=f"largest {len(top)} liquidations", **_MARKER)
        lo, hi = ax_p.get_ylim()
        band = 0.8 * (hi - lo)  # a free band for the labels, 44% of the panel
        lo, hi = (lo - band, hi) if fell else (lo, hi + band)
        ax_p.set_ylim(lo, hi)
        # Labels in staggered rows in the band, each tied to its marker by a thin line: the
        # largest liquidations cluster in time, and labels beside them would overprint.
        rows = np.arange(len(top)) * _LABEL_ROWS
        y = lo + (hi - lo) * (0.06 + rows if fell else 0.94 - rows)
        ax_p.vlines(x, rel, y, color="0.5", lw=0.6, zorder=2)
        for xi, yi, notional in zip(x, y, top["notional"], strict=True):
            ax_p.text(xi, yi, _money_text(float(notional)), ha="center", va="center",
                      fontsize=8, zorder=5,
                      bbox={"facecolor": "white", "edgecolor": "0.6", "lw": 0.5, "pad": 1.5})
    if ax_p.get_legend_handles_labels()[0]:
        ax_p.legend(loc="upper right" if fell else "lower right", fontsize=8)

    ps.labels(ax_q, "liquidation queue", "", "liquidation queue (positions)")
    for venue, series in data["liquidation_queue"].items():
        ax_q.step(ps.minutes(series.index.to_numpy(float)), series.to_numpy(), where="post",
                  label=venue)
    if not data["liquidation_queue"]:
        ps.note(ax_q, "no queue samples")

    funds = data["insurance_fund"]
    div, unit = _money_scale(max([float(s.abs().max()) for s in funds.values()] + [0.0]))
    ps.labels(ax_f, "insurance fund", "", f"insurance fund ({unit})")
    for venue, series in funds.items():
        ax_f.step(ps.minutes(series.index.to_numpy(float)), series.to_numpy() / div,
                  where="post", label=venue)
    if not funds:
        ps.note(ax_f, "no insurance fund samples")

    t_adl, cum = data["adl"]
    div, unit = _money_scale(float(cum[-1]) if cum.size else 0.0)
    ps.labels(ax_a, "cumulative ADL notional", "", f"cumulative ADL notional ({unit})")
    if cum.size:
        t = ps.minutes(np.r_[0.0, t_adl, max(t_end, float(t_adl[-1]))])
        ax_a.step(t, np.r_[0.0, cum, cum[-1]] / div, where="post", color=ps.ADL_COLOR)
        ax_a.set_ylim(0.0, float(cum[-1]) / div * 1.1)
    else:
        ps.note(ax_a, "no ADL")
    for ax in (ax_q, ax_f):
        if len(ax.get_lines()) > 1:
            ax.legend(loc="best", fontsize=8)
    ps.time_axis(ax_a, epoch)
    if t_end > 0:
        ax_a.set_xlim(0.0, float(ps.minutes(t_end)))
    return fig
