"""Run charts for liqsim: turn the frames a run produces into matplotlib figures.

This module only knows the *tabular* outputs of a run: the ``events`` and ``timeseries``
pandas DataFrames and the ``summary`` mapping. It must not know about simpy, venues,
order books, agents or any other simulation object, and must not import from ``markets``
or ``agents`` -- that keeps charts reproducible from saved files alone.

Figures are built with ``matplotlib.figure.Figure`` plus ``FigureCanvasAgg`` rather than
pyplot, so callers never need ``matplotlib.use("Agg")``, no global figure registry is
touched (nothing to leak in long batch runs), and it works on headless machines. How the
charts look (palette, panels, number formats, saving) lives in ``style``; this module
decides what goes on them, including when a cascade is short enough to get zoom panels.
A replay's run has a ``utc`` column in its frames: its time axes then read UTC clock times.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from pathlib import Path

import matplotlib.style
import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from simulator.charts import style as ps
from simulator.charts.style import GENERATION_COLORS, STYLE_PATH, USD_M, Window, minutes, note
from simulator.run.result import UTC_COLUMN

__all__ = ["FIGURES", "STYLE_PATH", "GENERATION_COLORS", "active_window", "make_figures",
           "run_epoch_of", "write_figures"]

FIGURES: tuple[str, ...] = ("price_paths", "liquidated_notional", "insurance_fund", "generations")


# ----------------------------------------------------------------------------- frames


def _has(df: pd.DataFrame | None, *cols: str) -> bool:
    return df is not None and not df.empty and all(c in df.columns for c in cols)


def _str_col(df: pd.DataFrame, name: str) -> pd.Series:
    # venue/market may be absent in hand-made frames; treat absent as "no venue/market".
    if name in df.columns:
        return df[name].fillna("").astype(str)
    return pd.Series("", index=df.index, dtype=object)


def _num_col(df: pd.DataFrame, name: str) -> pd.Series:
    if name in df.columns:
        return pd.to_numeric(df[name], errors="coerce").astype(float)
    return pd.Series(np.nan, index=df.index, dtype=float)


def _ms(values: pd.Series) -> np.ndarray:
    """Times as float milliseconds; anything non-numeric becomes NaN."""
    return pd.to_numeric(values, errors="coerce").to_numpy(dtype=float, na_value=np.nan)


def _in_order(df: pd.DataFrame) -> pd.DataFrame:
    return df.sort_values([c for c in ("time_ms", "seq") if c in df.columns], kind="stable")


def _notional(df: pd.DataFrame) -> pd.Series:
    # notional may be missing on some rows; qty * price is the same quantity.
    return _num_col(df, "notional").fillna(_num_col(df, "qty") * _num_col(df, "price")).fillna(0.0)


def _liquidations(events: pd.DataFrame | None) -> pd.DataFrame:
    """Liquidation rows with normalised columns, in event order; empty frame if none."""
    cols = ["t_ms", "venue", "market", "side", "generation", "price", "notional"]
    if not _has(events, "kind", "time_ms") or not (events["kind"] == "liquidation").any():
        return pd.DataFrame(columns=cols)
    liq = _in_order(events[events["kind"] == "liquidation"])
    out = pd.DataFrame({
        "t_ms": _ms(liq["time_ms"]), "venue": _str_col(liq, "venue"),
        "market": _str_col(liq, "market"), "side": _num_col(liq, "side").fillna(0).astype(int),
        "generation": _num_col(liq, "generation").fillna(0).astype(int),
        "price": _num_col(liq, "price"), "notional": _notional(liq),
    })
    return out.reset_index(drop=True)


def run_epoch_of(*frames: pd.DataFrame | None) -> datetime | None:
    """Run time 0 on the UTC clock, read off the first frame with a ``utc`` column (a replay's
    run: ``utc`` = epoch + ``time_ms``), or None."""
    for df in frames:
        row = df[["time_ms", UTC_COLUMN]].dropna() if _has(df, "time_ms", UTC_COLUMN) else ()
        if len(row):
            stamp = pd.to_datetime(row[UTC_COLUMN].iloc[:1], utc=True).iloc[0]
            return (stamp - pd.Timedelta(milliseconds=float(row["time_ms"].iloc[0]))
                    ).to_pydatetime()
    return None


def _as_float(value: object) -> float | None:
    # Summary values may be None, numpy scalars or strings; only finite numbers count.
    out = pd.to_numeric(pd.Series([value], dtype=object), errors="coerce").iloc[0]
    return float(out) if not isinstance(value, bool) and np.isfinite(out) else None


def _time_span(events: pd.DataFrame | None, timeseries: pd.DataFrame | None) -> tuple[float, float]:
    """First and last time (ms) seen in either frame; (0, 0) when both are empty."""
    times = [_ms(df["time_ms"]) for df in (events, timeseries) if _has(df, "time_ms")]
    allt = np.concatenate([np.zeros(0), *times])
    allt = allt[np.isfinite(allt)]
    return (float(allt.min()), float(allt.max())) if allt.size else (0.0, 0.0)


def active_window(events: pd.DataFrame | None, timeseries: pd.DataFrame | None) -> Window | None:
    """The stretch of the run the zoom panels show, or None when the liquidations are not
    concentrated enough to need one (rules: ``plot_style.zoom_window``, weighted by
    liquidated notional, over the span of times in either frame)."""
    liq = _liquidations(events)
    return ps.zoom_window(liq["t_ms"].to_numpy(dtype=float),
                          liq["notional"].to_numpy(dtype=float), _time_span(events, timeseries))


# ------------------------------------------------------------------------- figure 1


def _draw_market(ax: Axes, sel: pd.DataFrame, here: pd.DataFrame, to_x, small: bool) -> None:
    """One market's price lines (samples ``sel``) and liquidations (``here``)."""
    t = to_x(_ms(sel["time_ms"]))
    for col, style in ps.PRICE_LINES:
        if col in sel.columns:
            ax.plot(t, _num_col(sel, col), label=col, **style)
    here = here[np.isfinite(here["price"].to_numpy(dtype=float))]
    bucket = here["generation"].clip(1, len(GENERATION_COLORS))
    style = {**ps.SCATTER_STYLE, **(ps.SMALL_MARKERS if small else {})}
    # One scatter per (generation, side) keeps marker shape and colour exact;
    # sorted iteration makes the artist order deterministic.
    for (gen, side), grp in here.groupby([bucket, here["side"]], sort=True):
        marker, color = ps.SIDE_MARKER.get(int(side), "o"), GENERATION_COLORS[int(gen) - 1]
        ax.scatter(to_x(grp["t_ms"].to_numpy()), grp["price"], marker=marker, color=color, **style)


def _price_paths(events: pd.DataFrame, ts: pd.DataFrame, win: Window | None,
                 epoch: datetime | None) -> Figure:
    liq = _liquidations(events)
    have_ts = _has(ts, "time_ms", "market")

    # One row per (venue, market) so same-named markets on two venues stay apart;
    # order of first appearance keeps the layout stable run to run.
    keys: list[tuple[str, str]] = []
    if have_ts:
        keys += list(dict.fromkeys(zip(_str_col(ts, "venue"), _str_col(ts, "market"), strict=True)))
    for key in zip(liq["venue"], liq["market"], strict=True):
        if key not in keys:
            keys.append(key)
    n, cols = max(len(keys), 1), (2 if win else 1)
    # Full run on the left; with a window, its zoom on the right, sharing y per row.
    fig, axes = ps.new_figure(n, height=2.4 * n + 1.0, sharex="col", n_cols=cols, sharey="row",
                              width=8.0 + 5.0 * (cols - 1))
    rows = [axes[r * cols:(r + 1) * cols] for r in range(n)]
    name_count = pd.Series([m for _, m in keys]).value_counts()

    # Not strict: with no markets at all there is still one (empty) row for the notes.
    for row, (venue, market) in zip(rows, keys, strict=False):
        label = market if name_count.get(market, 0) <= 1 or not venue else f"{market} ({venue})"
        label = label or "(no market)"
        row[0].set_title(label)
        row[0].set_ylabel("price (USD)")
        row[0].yaxis.set_major_formatter(ps.thousands)
        sel = pd.DataFrame({"time_ms": []})
        if have_ts:
            sel = ts[(_str_col(ts, "venue") == venue) & (_str_col(ts, "market") == market)]
            sel = sel.sort_values("time_ms", kind="stable")
        here = liq[(liq["venue"] == venue) & (liq["market"] == market)]
        _draw_market(row[0], sel, here, minutes, small=False)
        if win is None:
            continue
        ps.shade(row[0], minutes(win.start_ms), minutes(win.end_ms),
                 label="zoom window" if row is rows[0] else None)
        zoom = here[(here["t_ms"] >= win.start_ms) & (here["t_ms"] <= win.end_ms)]
        _draw_market(row[1], sel.iloc[win.bracket(_ms(sel["time_ms"]))], zoom, win.seconds,
                     small=len(zoom) > 150)
        row[1].set_title(f"{label}: active window")
        row[1].set_xlim(0.0, float(win.seconds(win.end_ms)))

    top = rows[0][0]
    if top.get_legend_handles_labels()[0]:
        lines_legend = top.legend(loc="best")
        if rows[0][-1] is top and not liq.empty:
            # add_artist keeps this legend when the generation legend replaces ax.legend_;
            # that one sits outside the axes, where add_artist's clipping would hide it.
            top.add_artist(lines_legend)
    if liq.empty:
        note(top, "no liquidations")
    else:
        # Proxy handles explain colour and shape once, not one entry per scatter call.
        ps.generation_legend(rows[0][-1], list(liq["generation"]))
    ps.time_axis(rows[-1][0], epoch)
    if win is not None:
        rows[-1][1].set_xlabel(win.label(epoch))
    return fig


# ------------------------------------------------------------------------- figure 2


def _liquidated_notional(events: pd.DataFrame, ts: pd.DataFrame, win: Window | None,
                         epoch: datetime | None) -> Figure:
    fig, axes = ps.new_figure(2 if win else 1, height=8.0 if win else 4.5)
    ax, ylabel = axes[0], "liquidated notional (USD M)"
    ps.labels(ax, "liquidated notional per sample interval", "time (minutes)", ylabel)
    ps.time_axis(ax, epoch)
    cols = ["liquidated_long_notional", "liquidated_short_notional"]
    drawn = False
    if _has(ts, "time_ms", *cols):
        per_t = ts.groupby("time_ms", sort=True)[cols].sum(min_count=1).fillna(0.0)
        t = minutes(_ms(per_t.index.to_series()))
        dt = np.diff(t)
        dt = dt[dt > 0]
        # Sample rows report liquidations *since the previous sample*, so each bar covers
        # the interval ending at its timestamp (negative width + edge alignment).
        drawn = ps.mirrored_bars(ax, t, per_t[cols[0]].to_numpy(dtype=float) / USD_M,
                                 per_t[cols[1]].to_numpy(dtype=float) / USD_M,
                                 -0.9 * (float(np.median(dt)) if dt.size else 1.0))
    else:
        ax.axhline(0.0, color="0.3", lw=0.8)
    if not drawn:
        note(ax, "no liquidations")
    if win is not None:
        ps.shade(ax, minutes(win.start_ms), minutes(win.end_ms))
        # The zoom bins the liquidation events themselves: samples are too coarse for it.
        zax, liq = axes[1], _liquidations(events)
        ps.labels(zax, f"active window: liquidated notional in {win.bin_s} s bins "
                  "(from liquidation events)", win.label(epoch), ylabel)
        # A long's liquidation is a forced sell (side -1), a short's a forced buy (+1).
        longs, shorts = (win.binned(sel["t_ms"], sel["notional"]) / USD_M
                         for sel in (liq[liq["side"] == -1], liq[liq["side"] == 1]))
        x = win.seconds(win.edges_ms())
        if not ps.mirrored_bars(zax, x[:-1], longs, shorts, 0.9 * np.diff(x)):
            note(zax, "no liquidations")
        zax.set_xlim(x[0], x[-1])
    return fig


# ------------------------------------------------------------------------- figure 3


def _fund_start(summary: Mapping[str, object], venue: str, n_venues: int) -> float | None:
    raw = summary.get("insurance_fund_start")
    if isinstance(raw, Mapping):
        return _as_float(raw.get(venue))
    # A scalar start is only unambiguous for a single venue; with several we cannot
    # tell whether it is a total or per venue, so we fall back to observed data.
    return _as_float(raw) if n_venues <= 1 else None


def _fund_paths(
    events: pd.DataFrame, ts: pd.DataFrame, summary: Mapping[str, object], t0: float, t1: float
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Per venue (times in minutes, balance in USD): the insurance fund's step path."""
    fund_ev, ts_fund = pd.DataFrame(), pd.DataFrame()
    if _has(events, "kind", "time_ms", "balance"):
        fund_ev = events[(events["kind"] == "insurance_fund") & _num_col(events, "balance").notna()]
    if _has(ts, "time_ms", "insurance_fund"):
        ts_fund = ts[_num_col(ts, "insurance_fund").notna()]
    paths: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    if not fund_ev.empty:
        # Events carry every balance change, so they give the exact path.
        venues = list(dict.fromkeys(_str_col(fund_ev, "venue")))
        for venue in venues:
            ev = _in_order(fund_ev[_str_col(fund_ev, "venue") == venue])
            bal = _num_col(ev, "balance").to_numpy()
            start = _fund_start(summary, venue, len(venues))
            if start is None and not ts_fund.empty:
                vts = ts_fund[_str_col(ts_fund, "venue") == venue].sort_values("time_ms")
                if not vts.empty:
                    start = float(vts["insurance_fund"].iloc[0])
            if start is None and "amount" in ev.columns:
                # balance after the first flow minus that flow = balance before it.
                start = _as_float(bal[0] - float(ev["amount"].iloc[0]))
            t = minutes(_ms(ev["time_ms"]))
            if start is not None:
                t, bal = np.r_[min(t0, t[0]), t], np.r_[start, bal]
            paths[venue] = (np.r_[t, max(t1, t[-1])], np.r_[bal, bal[-1]])
    elif not ts_fund.empty:
        for venue, vts in ts_fund.groupby(_str_col(ts_fund, "venue"), sort=False):
            # The venue value is repeated on every market row; one per timestamp suffices.
            per_t = vts.groupby("time_ms", sort=True)["insurance_fund"].first()
            paths[str(venue)] = (minutes(_ms(per_t.index.to_series())), per_t.to_numpy(dtype=float))
    return paths


def _insurance_fund(events: pd.DataFrame, ts: pd.DataFrame, summary: Mapping[str, object],
                    epoch: datetime | None = None) -> Figure:
    fig, (ax,) = ps.new_figure()
    ps.labels(ax, "insurance fund", "time (minutes)", "insurance fund (USD M)")
    ps.time_axis(ax, epoch)
    t0, t1 = (float(minutes(x)) for x in _time_span(events, ts))
    paths = _fund_paths(events, ts, summary, t0, t1)
    for venue, (t, bal) in paths.items():
        ax.step(t, bal / USD_M, where="post", label=venue or "insurance fund")
    if not paths:
        note(ax, "no insurance fund data", y=0.6)
    ax.axhline(0.0, color="0.3", lw=0.8)

    adl = pd.DataFrame()
    if _has(events, "kind", "time_ms"):
        adl = _in_order(events[events["kind"] == "adl"])
        adl = adl[np.isfinite(_ms(adl["time_ms"]))]
    legend_axes = [ax]
    if adl.empty:
        note(ax, "no ADL")
    else:
        # Hundreds of ADL events: a rug of short ticks along the bottom shows when they
        # happen, the cumulative notional on a twin axis how much they took.
        t_adl = minutes(_ms(adl["time_ms"]))
        ps.rug(ax, t_adl, ps.ADL_COLOR, "ADL event")
        cum = np.cumsum(_notional(adl).to_numpy(dtype=float)) / USD_M
        twin = ps.twin_axis(ax)
        twin.step(np.r_[min(t0, t_adl[0]), t_adl, max(t1, t_adl[-1])], np.r_[0.0, cum, cum[-1]],
                  where="post", color=ps.ADL_COLOR, lw=1.4, label="cumulative ADL notional")
        twin.set_ylabel("cumulative ADL notional (USD M)")
        ps.align_zero(ax, twin, max(float(np.max(np.abs(cum))), 1e-9) * 1.15, min_frac=0.07)
        legend_axes.append(twin)
    # The right edge is clear of the fund's fall and the cumulative line's climb.
    ps.merged_legend(legend_axes, "center right" if len(legend_axes) > 1 else "best")
    extras = []
    if (n_adl := _as_float(summary.get("adl_events"))) is not None:
        extras.append(f"ADL events: {int(n_adl):,}")
    if (debt := _as_float(summary.get("bad_debt"))) is not None:
        extras.append(f"bad debt: {ps.fmt_usd_m(debt)}")
    if extras:
        ax.set_title("insurance fund  (" + ", ".join(extras) + ")")
    return fig


# ------------------------------------------------------------------------- figure 4


def _generations(events: pd.DataFrame) -> Figure:
    liq = _liquidations(events)
    if liq.empty:
        fig, (ax,) = ps.new_figure()
        ps.labels(ax, "liquidations per cascade generation", "cascade generation",
                  "liquidations (count)")
        note(ax, "no liquidations")
        return fig
    # Counts (bars, each labelled) above, notional below on the same generations: on one
    # axes with a twin, the notional line's markers printed over the count labels.
    fig, (ax, lower) = ps.new_figure(2, height=6.0, sharex=True)
    ps.labels(ax, "liquidations per cascade generation", "", "liquidations (count)")
    # Contiguous integer range so a missing generation shows as an empty slot.
    gens = np.arange(int(liq["generation"].min()), int(liq["generation"].max()) + 1)
    grouped = liq.groupby("generation")
    counts = grouped.size().reindex(gens, fill_value=0)
    notional = grouped["notional"].sum().reindex(gens, fill_value=0.0) / USD_M
    # Past 8 generations bars share one colour; ticks thin out and counts go past 30.
    ps.generation_bars(ax, gens, counts.to_numpy(), "liquidations")
    lower.plot(gens, notional.to_numpy(), label="liquidated notional",
               **{**ps.NOTIONAL_STYLE, "ms": 5 if gens.size <= 30 else 3})
    ps.labels(lower, "liquidated notional per cascade generation", "cascade generation",
              "liquidated notional (USD M)")
    lower.set_ylim(0, max(float(notional.max()), 1e-9) * 1.15)
    lower.xaxis.set_tick_params(labelbottom=True)
    return fig


# ------------------------------------------------------------------------------ API


def make_figures(
    events: pd.DataFrame,
    timeseries: pd.DataFrame,
    summary: Mapping[str, object],
    title: str = "",
) -> dict[str, Figure]:
    """Build the run charts, keyed by the names in ``FIGURES``.

    When the liquidations fill only a short stretch of the run (see ``active_window``),
    price_paths gains a right-hand column and liquidated_notional a lower panel zoomed on
    that stretch. Empty or partial inputs never raise: affected panels carry a note. Frames
    with a ``utc`` column (a replay's run) get time axes on the UTC clock.
    """
    events = events if events is not None else pd.DataFrame()
    timeseries = timeseries if timeseries is not None else pd.DataFrame()
    summary = summary if summary is not None else {}
    win = active_window(events, timeseries)
    epoch = run_epoch_of(timeseries, events)
    # Artists read rcParams when created, so the whole build runs inside the style.
    with matplotlib.style.context(STYLE_PATH):
        figures = {
            "price_paths": _price_paths(events, timeseries, win, epoch),
            "liquidated_notional": _liquidated_notional(events, timeseries, win, epoch),
            "insurance_fund": _insurance_fund(events, timeseries, summary, epoch),
            "generations": _generations(events),
        }
        if title:
            for fig in figures.values():
                fig.suptitle(title)
    return figures


def write_figures(
    events: pd.DataFrame,
    timeseries: pd.DataFrame,
    summary: Mapping[str, object],
    out_dir: str | Path,
    title: str = "",
    formats: Sequence[str] = ("png", "pdf"),
) -> list[Path]:
    """Write ``out_dir/<name>.<fmt>`` for every figure and format; return the paths."""
    if isinstance(formats, str):
        formats = (formats,)  # a bare "png" would otherwise iterate as p, n, g
    fmts = [f.lower().lstrip(".") for f in formats]
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    figures = make_figures(events, timeseries, summary, title)
    written: list[Path] = []
    try:
        # savefig reads savefig.* rcParams (dpi, bbox) at save time, so save inside the style.
        with matplotlib.style.context(STYLE_PATH):
            for name, fig in figures.items():
                for fmt in fmts:
                    path = out / f"{name}.{fmt}"
                    ps.save_atomic(fig, path, fmt)  # readers never see a half-written chart
                    written.append(path)
    finally:
        # Figures were never registered with pyplot; clearing breaks artist reference
        # cycles so memory is returned promptly in batch runs.
        for fig in figures.values():
            fig.clear()
    return written
