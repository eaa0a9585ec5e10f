"""Run charts for liqsim: turn the frames a run produces into matplotlib figures.

This module only knows the *tabular* outputs of a run: the ``events`` and ``timeseries``
pandas DataFrames and the ``summary`` mapping. It must not know about simpy, venues,
order books, agents or any other simulation object, and must not import from ``markets``
or ``agents`` -- that keeps charts reproducible from saved files alone.

Figures are built with ``matplotlib.figure.Figure`` plus ``FigureCanvasAgg`` rather than
pyplot, so callers never need ``matplotlib.use("Agg")``, no global figure registry is
touched (nothing to leak in long batch runs), and it works on headless machines.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Mapping, Sequence
from pathlib import Path

import matplotlib.style
import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

__all__ = ["FIGURES", "STYLE_PATH", "GENERATION_COLORS", "make_figures", "write_figures"]

FIGURES: tuple[str, ...] = ("price_paths", "liquidated_notional", "insurance_fund", "generations")

STYLE_PATH: Path = Path(__file__).with_name("liqsim.mplstyle")

# Okabe-Ito, ordered so early generations are the most distinct; generation >= 8 shares
# the last colour (black) because deeper cascades are rare and need no separate hue.
GENERATION_COLORS: tuple[str, ...] = (
    "#56B4E9",  # sky blue
    "#E69F00",  # orange
    "#D55E00",  # vermillion
    "#CC79A7",  # reddish purple
    "#009E73",  # bluish green
    "#F0E442",  # yellow
    "#0072B2",  # blue
    "#000000",  # black
)

_MS_PER_MIN = 60_000.0
_USD_M = 1e6
_SIDE_MARKER = {-1: "v", 1: "^", 0: "o"}  # long liquidated = forced sell = down
_SCATTER_STYLE = {"edgecolors": "0.15", "linewidths": 0.5, "s": 36, "zorder": 3}
_ADL_STYLE = {"ls": "none", "marker": "x", "ms": 8, "mew": 1.8, "color": "#CC79A7", "zorder": 4}
_NOTIONAL_STYLE = {"color": "0.15", "marker": "D", "ms": 5, "lw": 1.0}
_NOTE_BOX = {"facecolor": "white", "edgecolor": "none", "alpha": 0.85}  # readable over lines
_NOTE_STYLE = {"ha": "center", "va": "center", "color": "0.35", "fontsize": 11, "bbox": _NOTE_BOX}


# ----------------------------------------------------------------------------- helpers


def _new_figure(
    n_rows: int = 1, height: float = 4.5, sharex: bool = False
) -> tuple[Figure, list[Axes]]:
    fig = Figure(figsize=(8.0, height), layout="constrained")
    FigureCanvasAgg(fig)  # attach a raster canvas so savefig works without pyplot
    axes = fig.subplots(n_rows, 1, sharex=sharex, squeeze=False)[:, 0]
    return fig, list(axes)


def _note(ax: Axes, text: str, y: float = 0.5) -> None:
    ax.text(0.5, y, text, transform=ax.transAxes, **_NOTE_STYLE)


def _minutes(time_ms: pd.Series) -> np.ndarray:
    return pd.to_numeric(time_ms, errors="coerce").to_numpy(dtype=float) / _MS_PER_MIN


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


def _liquidations(events: pd.DataFrame | None) -> pd.DataFrame:
    """Liquidation rows with normalised columns, in event order; empty frame if none."""
    cols = ["t_min", "venue", "market", "side", "generation", "price", "notional"]
    if not _has(events, "kind", "time_ms") or not (events["kind"] == "liquidation").any():
        return pd.DataFrame(columns=cols)
    liq = events[events["kind"] == "liquidation"]
    liq = liq.sort_values([c for c in ("time_ms", "seq") if c in liq.columns], kind="stable")
    price = _num_col(liq, "price")
    # notional may be missing on some rows; qty * price is the same quantity.
    notional = _num_col(liq, "notional").fillna(_num_col(liq, "qty") * price).fillna(0.0)
    out = pd.DataFrame(
        {
            "t_min": _minutes(liq["time_ms"]),
            "venue": _str_col(liq, "venue"),
            "market": _str_col(liq, "market"),
            "side": _num_col(liq, "side").fillna(0).astype(int),
            "generation": _num_col(liq, "generation").fillna(0).astype(int),
            "price": price,
            "notional": notional,
        }
    )
    return out.reset_index(drop=True)


def _as_float(value: object) -> float | None:
    # Summary values may be None, numpy scalars or strings; only finite numbers count.
    out = pd.to_numeric(pd.Series([value], dtype=object), errors="coerce").iloc[0]
    return float(out) if not isinstance(value, bool) and np.isfinite(out) else None


def _time_span(events: pd.DataFrame | None, timeseries: pd.DataFrame | None) -> tuple[float, float]:
    """First and last time (minutes) seen in either frame; (0, 0) when both are empty."""
    times: list[np.ndarray] = []
    for df in (events, timeseries):
        if _has(df, "time_ms"):
            t = _minutes(df["time_ms"])
            times.append(t[np.isfinite(t)])
    allt = np.concatenate([np.zeros(0), *times])
    return (float(allt.min()), float(allt.max())) if allt.size else (0.0, 0.0)


def _proxy(marker: str, color: str, label: str) -> Line2D:
    return Line2D([], [], ls="none", marker=marker, color=color, mec="0.15", label=label)


# ------------------------------------------------------------------------- figure 1


def _price_paths(events: pd.DataFrame, ts: pd.DataFrame) -> Figure:
    liq = _liquidations(events)
    have_ts = _has(ts, "time_ms", "market")

    # One panel per (venue, market) so same-named markets on two venues stay apart;
    # order of first appearance keeps the layout stable run to run.
    keys: list[tuple[str, str]] = []
    if have_ts:
        keys += list(dict.fromkeys(zip(_str_col(ts, "venue"), _str_col(ts, "market"), strict=True)))
    for key in zip(liq["venue"], liq["market"], strict=True):
        if key not in keys:
            keys.append(key)
    n = max(len(keys), 1)
    fig, axes = _new_figure(n, height=2.4 * n + 1.0, sharex=True)
    name_count = pd.Series([m for _, m in keys]).value_counts()

    # Not strict: with no markets at all there is still one (empty) axes for the notes.
    for ax, (venue, market) in zip(axes, keys, strict=False):
        label = market if name_count.get(market, 0) <= 1 or not venue else f"{market} ({venue})"
        ax.set_title(label or "(no market)")
        ax.set_ylabel("price (USD)")
        if have_ts:
            sel = ts[(_str_col(ts, "venue") == venue) & (_str_col(ts, "market") == market)]
            sel = sel.sort_values("time_ms", kind="stable")
            t = _minutes(sel["time_ms"])
            line_specs = (
                ("fundamental", {"color": "0.55", "ls": "--", "lw": 0.9}),
                ("mark", {"color": "0.1", "lw": 1.3}),
                ("mid", {"color": "#0072B2", "lw": 0.9, "alpha": 0.8}),
            )
            for col, style in line_specs:
                if col in sel.columns:
                    ax.plot(t, pd.to_numeric(sel[col], errors="coerce"), label=col, **style)
        here = liq[(liq["venue"] == venue) & (liq["market"] == market)]
        here = here[np.isfinite(here["price"].to_numpy(dtype=float))]
        bucket = here["generation"].clip(1, len(GENERATION_COLORS))
        # One scatter per (generation, side) keeps marker shape and colour exact;
        # sorted iteration makes the artist order deterministic.
        for (gen, side), grp in here.groupby([bucket, here["side"]], sort=True):
            marker, color = _SIDE_MARKER.get(int(side), "o"), GENERATION_COLORS[int(gen) - 1]
            ax.scatter(grp["t_min"], grp["price"], marker=marker, color=color, **_SCATTER_STYLE)

    top = axes[0]
    if top.get_lines():
        # add_artist keeps this legend when the generation legend replaces ax.legend_;
        # that one sits outside the axes, where add_artist's clipping would hide it.
        top.add_artist(top.legend(loc="best"))
    if liq.empty:
        _note(top, "no liquidations")
    else:
        # Proxy handles explain colour (generation) and shape (side) once, instead of
        # one legend entry per scatter call.
        gens = sorted(set(liq["generation"].clip(1, len(GENERATION_COLORS))))
        last = len(GENERATION_COLORS)
        handles = [
            _proxy("o", GENERATION_COLORS[g - 1], f"gen {g}{'+' if g == last else ''}")
            for g in gens
        ]
        handles += [_proxy("v", "0.6", "long liq. (sell)"), _proxy("^", "0.6", "short liq. (buy)")]
        top.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    axes[-1].set_xlabel("time (minutes)")
    return fig


# ------------------------------------------------------------------------- figure 2


def _liquidated_notional(ts: pd.DataFrame) -> Figure:
    fig, (ax,) = _new_figure()
    ax.set_title("liquidated notional per sample interval")
    ax.set_xlabel("time (minutes)")
    ax.set_ylabel("liquidated notional (USD millions)")
    ax.axhline(0.0, color="0.3", lw=0.8)
    cols = ["liquidated_long_notional", "liquidated_short_notional"]
    if not _has(ts, "time_ms", *cols):
        _note(ax, "no liquidations")
        return fig
    per_t = ts.groupby("time_ms", sort=True)[cols].sum(min_count=1).fillna(0.0)
    t = _minutes(per_t.index.to_series())
    longs = per_t[cols[0]].to_numpy(dtype=float) / _USD_M
    shorts = per_t[cols[1]].to_numpy(dtype=float) / _USD_M
    dt = np.diff(t)
    dt = dt[dt > 0]
    width = 0.9 * (float(np.median(dt)) if dt.size else 1.0)
    # Sample rows report liquidations *since the previous sample*, so each bar covers
    # the interval ending at its timestamp (negative width + edge alignment).
    ax.bar(t, longs, width=-width, align="edge", color="#D55E00", label="longs")
    ax.bar(t, -shorts, width=-width, align="edge", color="#0072B2", label="shorts")
    ax.legend(loc="upper right")
    if not (longs.any() or shorts.any()):
        _note(ax, "no liquidations")
    else:
        lim = max(float(np.max(longs)), float(np.max(shorts))) * 1.1
        ax.set_ylim(-lim, lim)  # symmetric so long/short magnitudes compare by eye
    return fig


# ------------------------------------------------------------------------- figure 3


def _fund_start(summary: Mapping[str, object], venue: str, n_venues: int) -> float | None:
    raw = summary.get("insurance_fund_start")
    if isinstance(raw, Mapping):
        return _as_float(raw.get(venue))
    # A scalar start is only unambiguous for a single venue; with several we cannot
    # tell whether it is a total or per venue, so we fall back to observed data.
    return _as_float(raw) if n_venues <= 1 else None


def _insurance_fund(
    events: pd.DataFrame, ts: pd.DataFrame, summary: Mapping[str, object]
) -> Figure:
    fig, (ax,) = _new_figure()
    ax.set_title("insurance fund")
    ax.set_xlabel("time (minutes)")
    ax.set_ylabel("insurance fund (USD millions)")
    t0, t1 = _time_span(events, ts)

    fund_ev, ts_fund, adl = pd.DataFrame(), pd.DataFrame(), pd.DataFrame()
    if _has(events, "kind", "time_ms", "balance"):
        fund_ev = events[(events["kind"] == "insurance_fund") & _num_col(events, "balance").notna()]
    if _has(ts, "time_ms", "insurance_fund"):
        ts_fund = ts[_num_col(ts, "insurance_fund").notna()]
    if _has(events, "kind", "time_ms"):
        adl = events[events["kind"] == "adl"]

    paths: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    if not fund_ev.empty:
        # Events carry every balance change, so they give the exact path.
        venues = list(dict.fromkeys(_str_col(fund_ev, "venue")))
        for venue in venues:
            ev = fund_ev[_str_col(fund_ev, "venue") == venue]
            ev = ev.sort_values([c for c in ("time_ms", "seq") if c in ev.columns], kind="stable")
            bal = _num_col(ev, "balance").to_numpy()
            start = _fund_start(summary, venue, len(venues))
            if start is None and not ts_fund.empty:
                vts = ts_fund[_str_col(ts_fund, "venue") == venue].sort_values("time_ms")
                if not vts.empty:
                    start = float(vts["insurance_fund"].iloc[0])
            if start is None and "amount" in ev.columns:
                # balance after the first flow minus that flow = balance before it.
                start = _as_float(bal[0] - float(ev["amount"].iloc[0]))
            t = _minutes(ev["time_ms"])
            if start is not None:
                t, bal = np.r_[min(t0, t[0]), t], np.r_[start, bal]
            paths[venue] = (np.r_[t, max(t1, t[-1])], np.r_[bal, bal[-1]])
    elif not ts_fund.empty:
        for venue, vts in ts_fund.groupby(_str_col(ts_fund, "venue"), sort=False):
            # The venue value is repeated on every market row; one per timestamp suffices.
            per_t = vts.groupby("time_ms", sort=True)["insurance_fund"].first()
            paths[str(venue)] = (_minutes(per_t.index.to_series()), per_t.to_numpy(dtype=float))

    for venue, (t, bal) in paths.items():
        ax.step(t, bal / _USD_M, where="post", label=venue or "insurance fund")
    if not paths:
        _note(ax, "no insurance fund data", y=0.6)
    ax.axhline(0.0, color="0.3", lw=0.8)

    if adl.empty:
        _note(ax, "no ADL")
    else:
        t_adl = _minutes(adl["time_ms"])
        y_adl = np.zeros_like(t_adl)
        for i, venue in enumerate(_str_col(adl, "venue")):
            path = paths.get(venue) or (next(iter(paths.values())) if len(paths) == 1 else None)
            if path is not None:
                # Step ("post") value in force at the ADL time puts the mark on the line.
                idx = int(np.searchsorted(path[0], t_adl[i], side="right")) - 1
                y_adl[i] = path[1][max(idx, 0)] / _USD_M
        # One collection for all ADL times: thousands of separate axvlines render slowly.
        ax.vlines(np.unique(t_adl), 0, 1, transform=ax.get_xaxis_transform(), color="#CC79A7",
                  lw=0.7, ls=":", zorder=1)
        ax.plot(t_adl, y_adl, label="ADL", **_ADL_STYLE)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(loc="best")
    extras = []
    if (n_adl := _as_float(summary.get("adl_events"))) is not None:
        extras.append(f"ADL events: {int(n_adl)}")
    if (debt := _as_float(summary.get("bad_debt"))) is not None:
        extras.append(f"bad debt: ${debt / _USD_M:,.2f}M")
    if extras:
        ax.set_title("insurance fund  (" + ", ".join(extras) + ")")
    return fig


# ------------------------------------------------------------------------- figure 4


def _generations(events: pd.DataFrame) -> Figure:
    fig, (ax,) = _new_figure()
    ax.set_title("liquidations per cascade generation")
    ax.set_xlabel("cascade generation")
    ax.set_ylabel("liquidations (count)")
    liq = _liquidations(events)
    if liq.empty:
        _note(ax, "no liquidations")
        return fig
    # Contiguous integer range so a missing generation shows as an empty slot.
    gens = np.arange(int(liq["generation"].min()), int(liq["generation"].max()) + 1)
    grouped = liq.groupby("generation")
    counts = grouped.size().reindex(gens, fill_value=0)
    notional = grouped["notional"].sum().reindex(gens, fill_value=0.0) / _USD_M
    colors = [GENERATION_COLORS[min(max(g, 1), len(GENERATION_COLORS)) - 1] for g in gens]
    bars = ax.bar(
        gens, counts.to_numpy(), color=colors, edgecolor="0.2", linewidth=0.6, label="liquidations"
    )
    ax.bar_label(bars, labels=[str(c) for c in counts], padding=2)
    ax.set_xticks(gens)
    ax.set_ylim(0, max(int(counts.max()), 1) * 1.18)  # headroom for the count labels

    twin = ax.twinx()
    twin.spines["right"].set_visible(True)  # style hides right spines; a twin axis needs it
    twin.grid(False)
    twin.plot(gens, notional.to_numpy(), label="liquidated notional", **_NOTIONAL_STYLE)
    twin.set_ylabel("liquidated notional (USD millions)")
    twin.set_ylim(0, max(float(notional.max()), 1e-9) * 1.18)
    h1, l1 = ax.get_legend_handles_labels()
    h2, l2 = twin.get_legend_handles_labels()
    ax.legend(h1 + h2, l1 + l2, loc="upper right")
    return fig


# ------------------------------------------------------------------------------ API


def make_figures(
    events: pd.DataFrame,
    timeseries: pd.DataFrame,
    summary: Mapping[str, object],
    title: str = "",
) -> dict[str, Figure]:
    """Build the run charts, keyed by the names in ``FIGURES``.

    Empty or partial inputs never raise: affected panels carry a note instead.
    """
    events = events if events is not None else pd.DataFrame()
    timeseries = timeseries if timeseries is not None else pd.DataFrame()
    summary = summary if summary is not None else {}
    # Artists read rcParams when created, so the whole build runs inside the style.
    with matplotlib.style.context(STYLE_PATH):
        figures = {
            "price_paths": _price_paths(events, timeseries),
            "liquidated_notional": _liquidated_notional(timeseries),
            "insurance_fund": _insurance_fund(events, timeseries, summary),
            "generations": _generations(events),
        }
        if title:
            for fig in figures.values():
                fig.suptitle(title)
    return figures


def _save_atomic(fig: Figure, path: Path, fmt: str) -> None:
    # Same directory so os.replace is an atomic rename; a unique name rather than mkstemp
    # so the file gets umask permissions (mkstemp's 0600 would survive the rename).
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex}.tmp")
    # Drop timestamps from vector formats so identical runs give byte-identical files.
    metadata = {"pdf": {"CreationDate": None}, "svg": {"Date": None}}.get(fmt)
    try:
        fig.savefig(tmp, format=fmt, metadata=metadata)
        os.replace(tmp, path)  # readers never see a half-written chart
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


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
                    _save_atomic(fig, path, fmt)
                    written.append(path)
    finally:
        # Figures were never registered with pyplot; clearing breaks artist reference
        # cycles so memory is returned promptly in batch runs.
        for fig in figures.values():
            fig.clear()
    return written
