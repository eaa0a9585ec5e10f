"""What the sweep charts show: their numbers, read from a sweep folder, and which apply.

Axis values as the runs table stores them ("-8%", "1e6", 1000.0, JSON for a mapping) are
ordered numerically when all parse as numbers, else by first appearance (``axis_order``),
and keep their stored text as labels. Here too: statistics pooled over other axes
(``pooled_statistics``), cascade sizes (``component_sizes``), the loss layers
(``loss_layers``), loaders of run folders (``load_liquidations``, ``load_haircuts``,
``load_cascade_sizes``). ``sweep_plan`` decides from these which charts a sweep folder
gets; ``charts`` only draws. Nothing here imports pyplot.

Reads ``runs.parquet``, ``statistics.parquet`` and run folders (``events``, ``timeseries``,
``cascade_edges``); it must not run simulations nor know simulation objects.
"""

from __future__ import annotations

import json
import math
import textwrap
from collections.abc import Iterable, Sequence
from datetime import datetime
from pathlib import Path

import networkx as nx
import numpy as np
import pandas as pd

from simulator.run import catalogue
from simulator.run.adl_fairness import HAIRCUT_COLUMNS, adl_haircuts
from simulator.run.epoch import parse_epoch
from simulator.run.rng import RunRandom

__all__ = ["HEADLINE", "LIQ_COLUMNS", "LOSS_LAYERS", "axis_label", "axis_name", "axis_number",
           "axis_order", "axis_text",
           "cascade_sizes", "cell_order", "cell_title", "component_sizes", "complete_runs",
           "load_cascade_sizes", "load_epoch", "load_haircuts", "load_liquidations", "loss_layers",
           "metric_values", "pooled_statistics", "start_prices"]

# The metrics the sweep charts draw against an axis: the catalogue's choice.
HEADLINE: tuple[str, ...] = tuple(catalogue.names("axis_chart"))
LIQ_COLUMNS = ("time_ms", "variant", "run", "venue", "market", "price_rel", "notional")
_ADL_COLUMNS = ["kind", "venue", "account", "qty", "amount", "balance"]


# ------------------------------------------------------------------------------ axis values


def axis_number(value: object) -> float | None:
    """An axis value as a number: 0.1 and "1e6" as they are, "-8%" as -0.08; else None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float | np.number):
        return float(value) if math.isfinite(float(value)) else None
    if isinstance(value, str):
        text = value.strip()
        pct = text.endswith("%")
        try:
            number = float(text[:-1] if pct else text)
        except ValueError:
            return None
        if math.isfinite(number):
            return number / 100.0 if pct else number
    return None


def axis_order(values: Iterable[object]) -> list[object]:
    """The distinct values, in numeric order when every one is a number (``axis_number``),
    else in order of first appearance (the sweep file's order)."""
    distinct = list(dict.fromkeys(v for v in values if not (isinstance(v, float) and
                                                            math.isnan(v))))
    numbers = [axis_number(v) for v in distinct]
    if distinct and all(n is not None for n in numbers):
        # Stable: two spellings of one number ("1e6", "1000000") keep their order.
        return [v for _, _, v in sorted(zip(numbers, range(len(distinct)), distinct,
                                            strict=True))]
    return distinct


def axis_label(value: object) -> str:
    """Stored text: strings as they are; numbers with thousands separators. Also the key of
    ``pooled_statistics``' random streams, so it must not change; charts show ``axis_text``."""
    if isinstance(value, str):
        return value
    number = axis_number(value)
    return str(value) if number is None else f"{number:,.10g}"


def axis_text(value: object, width: int = 24) -> str:
    """Tick text: ``axis_label``, but a JSON mapping or list in its short form, shortened to
    about ``width`` characters: '{"2": 0.5, "5": 0.5}' -> "2: 0.5, 5: 0.5"."""
    text = axis_label(value)
    if isinstance(value, str) and text.strip()[:1] in ("{", "["):
        try:
            parsed = json.loads(text)
        except ValueError:
            return text
        items = parsed.items() if isinstance(parsed, dict) else enumerate(parsed) \
            if isinstance(parsed, list) else ()
        parts = [f"{k}: {_short(v)}" if isinstance(parsed, dict) else _short(v)
                 for k, v in items]
        short = ", ".join(parts)
        while len(short) > width and len(parts) > 1:  # drop whole items, never half of one
            parts.pop()
            short = ", ".join(parts) + ", …"
        return short or text
    return text


def _short(value: object) -> str:
    if isinstance(value, float):
        return f"{value:g}"
    return json.dumps(value, separators=(",", ":")) if isinstance(value, dict | list) \
        else str(value)


# Config path parts that name a list or mapping of things: the next part says which one.
_GROUPS = {"venues": "venue", "markets": "market", "populations": "population",
           "assets": "asset", "shocks": "shock", "disruptions": "disruption"}
_ACRONYMS = {"adl": "ADL", "ema": "EMA", "oi": "OI", "pnl": "PnL", "mmr": "MMR", "imr": "IMR",
             "utc": "UTC"}


def axis_name(path: str) -> str:
    """A sweep axis (a config path) as an axis title: "venues.cex.adl.ranking" -> "ADL
    ranking (cex)", "shocks.0.move" -> "move (shock 1)", "duration" -> "duration"."""
    parts, words, where = str(path).split("."), [], []
    k = 0
    while k < len(parts):
        part = parts[k]
        if part in _GROUPS and k + 1 < len(parts):
            which = parts[k + 1]
            where.append(f"{_GROUPS[part]} {int(which) + 1}" if which.isdigit() else which)
            k += 2
            continue
        words += [_ACRONYMS.get(w, w) for w in part.split("_") if w]
        k += 1
    name = " ".join(words) or (where.pop() if where else str(path))
    return f"{name} ({', '.join(where)})" if where else name


# ------------------------------------------------------------------------------ runs table


def complete_runs(runs: pd.DataFrame, sweep_dir: str | Path | None = None) -> pd.DataFrame:
    """The complete runs; with ``sweep_dir``, only those whose run folder exists."""
    ok = runs[runs["status"] == "complete"] if "status" in runs.columns else runs
    if sweep_dir is not None:
        root = Path(sweep_dir) / "runs"
        ok = ok[np.array([(root / str(k)).is_dir() for k in ok["run_key"]], dtype=bool)]
    return ok


def metric_values(frame: pd.DataFrame, column: str) -> np.ndarray:
    """A column as floats: bools count 0/1, anything non-numeric (a failed run's None) NaN."""
    if column not in frame.columns:
        return np.full(len(frame), np.nan)
    col = frame[column]
    if col.dtype == object:
        col = col.map(lambda v: float(v) if isinstance(v, bool) else v)
    return pd.to_numeric(col, errors="coerce").to_numpy(dtype=float, na_value=np.nan)


def pooled_statistics(
    runs: pd.DataFrame, metric: str, axis: str, variants: Sequence[str] | None = None,
    confidence: float = 0.95, n_boot: int = 2000, rng_seed: int = 0,
) -> pd.DataFrame:
    """Per value of ``axis`` (in ``axis_order``) and variant: the mean of ``metric`` over
    the other axes' cells and its percentile bootstrap interval, from the complete runs.

    The mean is the average of the cell means (every cell of the other axes weighs the
    same, whatever its number of complete runs). The bootstrap is stratified by cell: each
    draw resamples the replications *within* every cell and averages the cell means, so the
    interval reflects replication noise only, not the spread between cells (which is design,
    not noise). With one axis it is the ordinary bootstrap of the cell's mean; with a single
    replication per cell the interval collapses to the mean. Each (axis value, variant)
    draws from its own generator keyed by names and ``rng_seed``.

    Columns: ``value, label, variant, n`` (runs), ``cells, mean, ci_low, ci_high``.
    """
    ok = complete_runs(runs)
    names = list(variants) if variants is not None else list(dict.fromkeys(runs["variant"]))
    tail = (1.0 - confidence) / 2.0
    streams = RunRandom(rng_seed)
    rows = []
    for value in axis_order(runs[axis]):
        here = ok[ok[axis] == value]
        for name in names:
            mine = here[here["variant"] == name]
            groups = [x[np.isfinite(x)] for _, cell in mine.groupby("cell", sort=True)
                      for x in [metric_values(cell, metric)]]
            groups = [g for g in groups if g.size]
            row = {"value": value, "label": axis_label(value), "variant": name,
                   "n": sum(g.size for g in groups), "cells": len(groups),
                   "mean": math.nan, "ci_low": math.nan, "ci_high": math.nan}
            if groups:
                rng = streams.stream(f"pooled:{axis}:{axis_label(value)}:{name}:{metric}")
                boot = np.zeros(n_boot)
                for g in groups:
                    boot += g[rng.integers(0, g.size, size=(n_boot, g.size))].mean(axis=1)
                lo, hi = np.quantile(boot / len(groups), [tail, 1.0 - tail])
                row.update(mean=float(np.mean([g.mean() for g in groups])),
                           ci_low=float(lo), ci_high=float(hi))
            rows.append(row)
    return pd.DataFrame(rows, columns=["value", "label", "variant", "n", "cells", "mean",
                                       "ci_low", "ci_high"])


# ------------------------------------------------------------------------------ run folders


def component_sizes(liquidations: Iterable[int], edges: pd.DataFrame) -> np.ndarray:
    """Sizes (liquidations per cascade), ascending, of the cascades in one run.

    A cascade is a weakly connected component of the causal graph: nodes are the
    liquidations (event ``seq``), edges run from each event whose price impact a liquidation
    needed to that liquidation (``cascade_edges`` rows whose child is a liquidation). The
    parents are liquidations or margin calls whose forced reductions caused liquidations; a
    margin call thus joins the liquidations it caused into one cascade but does not count
    towards its size. Edges to waterfall events (ADL, insurance fund, bankruptcy, ...) are
    not causal links between liquidations and are ignored. A liquidation without edges is a
    cascade of size 1."""
    liq = {int(s) for s in liquidations}
    graph = nx.Graph()
    graph.add_nodes_from(liq)
    if len(edges):
        child = edges["child"].astype("int64").to_numpy()
        parent = edges["parent"].astype("int64").to_numpy()
        causal = np.isin(child, np.fromiter(liq, dtype=np.int64, count=len(liq)))
        graph.add_edges_from(zip(parent[causal].tolist(), child[causal].tolist(), strict=True))
    sizes = [sum(1 for node in comp if node in liq) for comp in nx.connected_components(graph)]
    return np.sort(np.asarray(sizes, dtype=np.int64))


def cascade_sizes(run_dir: str | Path) -> np.ndarray:
    """``component_sizes`` of a run folder's liquidations and cascade edges."""
    folder = Path(run_dir)
    liq = pd.read_parquet(folder / "events.parquet", columns=["seq", "kind"],
                          filters=[("kind", "==", "liquidation")])
    edges = pd.read_parquet(folder / "cascade_edges.parquet", columns=["parent", "child"])
    return component_sizes(liq["seq"].astype("int64").tolist(), edges)


def load_cascade_sizes(run_dirs: Sequence[str | Path], variants: Sequence[str]
                       ) -> dict[str, np.ndarray]:
    """Cascade sizes pooled over the runs of each variant (``variants[i]`` ran
    ``run_dirs[i]``), keyed in order of first appearance."""
    pooled: dict[str, list[np.ndarray]] = {name: [] for name in dict.fromkeys(variants)}
    for folder, name in zip(run_dirs, variants, strict=True):
        pooled[name].append(cascade_sizes(folder))
    return {name: np.sort(np.concatenate([np.zeros(0, dtype=np.int64), *parts]))
            for name, parts in pooled.items()}


def start_prices(timeseries: pd.DataFrame) -> dict[tuple[str, str], float]:
    """Each (venue, market)'s first sampled price: the mark, or the mid if the mark is not
    a positive number."""
    out: dict[tuple[str, str], float] = {}
    if timeseries.empty:
        return out
    ordered = timeseries.sort_values("time_ms", kind="stable")
    for (venue, market), rows in ordered.groupby(["venue", "market"], sort=True):
        for col in ("mark", "mid"):
            values = metric_values(rows, col)
            good = values[np.isfinite(values) & (values > 0)]
            if good.size:
                out[(str(venue), str(market))] = float(good[0])
                break
    return out


def load_liquidations(run_dirs: Sequence[str | Path], variants: Sequence[str]) -> pd.DataFrame:
    """The liquidations of the runs (``variants[i]`` ran ``run_dirs[i]``): columns
    ``LIQ_COLUMNS``, with ``price_rel`` the execution price (notional / quantity) in percent
    from the market's starting price (``start_prices``; NaN if unknown) and ``run`` the
    folder's name."""
    frames = []
    for folder, name in zip(run_dirs, variants, strict=True):
        folder = Path(folder)
        liq = pd.read_parquet(folder / "events.parquet",
                              columns=["time_ms", "kind", "venue", "market", "price", "notional"],
                              filters=[("kind", "==", "liquidation")])
        if liq.empty:
            continue
        ts = pd.read_parquet(folder / "timeseries.parquet",
                             columns=["time_ms", "venue", "market", "mark", "mid"])
        p0 = start_prices(ts)
        keys = zip(liq["venue"].astype(str), liq["market"].astype(str), strict=True)
        start = np.array([p0.get(k, np.nan) for k in keys], dtype=float)
        frames.append(pd.DataFrame({
            "time_ms": metric_values(liq, "time_ms"), "variant": name, "run": folder.name,
            "venue": liq["venue"].astype(str).to_numpy(),
            "market": liq["market"].astype(str).to_numpy(),
            "price_rel": 100.0 * (metric_values(liq, "price") / start - 1.0),
            "notional": metric_values(liq, "notional"),
        }))
    if not frames:
        return pd.DataFrame({c: pd.Series(dtype=object if c in ("variant", "run", "venue",
                                                                  "market") else float)
                             for c in LIQ_COLUMNS})
    return pd.concat(frames, ignore_index=True)[list(LIQ_COLUMNS)]


def load_epoch(run_dirs: Sequence[str | Path]) -> datetime | None:
    """The UTC instant of run time 0 shared by the runs (run.json's ``epoch_utc``: replays
    have one), or None when a run has none or they differ."""
    epochs = set()
    for folder in run_dirs:
        path = Path(folder) / "run.json"
        meta = json.loads(path.read_text()) if path.exists() else {}
        epochs.add(parse_epoch(meta.get("epoch_utc")))
    if len(epochs) != 1 or None in epochs:
        return None
    return epochs.pop().to_pydatetime()


def load_haircuts(run_dirs: Sequence[str | Path], variants: Sequence[str]) -> pd.DataFrame:
    """``adl_haircuts`` of every run (``variants[i]`` ran ``run_dirs[i]``), with ``variant``
    and ``run`` (the folder's name) columns first; no rows when nothing was deleveraged."""
    frames = [pd.DataFrame(columns=["variant", "run", *HAIRCUT_COLUMNS])]
    for folder, name in zip(run_dirs, variants, strict=True):
        folder = Path(folder)
        adl = pd.read_parquet(folder / "events.parquet", columns=_ADL_COLUMNS,
                              filters=[("kind", "==", "adl")])
        cuts = adl_haircuts(adl)
        if len(cuts):
            frames.append(cuts.assign(variant=name, run=folder.name))
    out = pd.concat([f for f in frames if len(f)] or frames[:1], ignore_index=True)
    return out[["variant", "run", *HAIRCUT_COLUMNS]]


# ------------------------------------------------------------------------------ loss layers

# Who absorbed losses beyond the liquidated accounts' own margin, per run (runs.parquet
# columns; ``simulator.run.metrics``): (layer, how to get it from the runs table).
LOSS_LAYERS: tuple[tuple[str, str], ...] = (
    ("insurance fund", "insurance_fund_paid"),
    ("backstop vault", "vault_pnl"),  # its loss: max(-vault_pnl, 0)
    ("ADL counterparties", "adl_haircut"),  # their haircut against the mark: max(., 0)
    ("socialized", "socialized_loss"),
    ("venue", "venue_loss"),
)


def loss_layers(runs: pd.DataFrame, by: str = "variant") -> pd.DataFrame:
    """Per value of ``by`` (first-appearance order): the mean over the complete runs of each
    ``LOSS_LAYERS`` amount (a missing column counts as 0: that mechanism did not exist),
    the mean ``bad_debt`` and ``n`` (runs). Vault losses are ``max(-vault_pnl, 0)`` and ADL
    haircuts ``max(adl_haircut, 0)`` per run: a vault that profited or deleveraging that
    closed better than the mark absorbed nothing."""
    ok = complete_runs(runs)
    rows = []
    for key in dict.fromkeys(runs[by]):
        mine = ok[ok[by] == key]
        row: dict[str, object] = {by: key, "n": len(mine)}
        for layer, col in LOSS_LAYERS:
            x = metric_values(mine, col) if col in mine.columns else np.zeros(len(mine))
            x = -x if col == "vault_pnl" else x
            x = np.clip(x, 0.0, None) if col in ("vault_pnl", "adl_haircut") else x
            row[layer] = float(np.nanmean(x)) if np.isfinite(x).any() else math.nan
        bad = metric_values(mine, "bad_debt")
        row["bad debt"] = float(np.nanmean(bad)) if np.isfinite(bad).any() else math.nan
        rows.append(row)
    return pd.DataFrame(rows, columns=[by, "n", *(n for n, _ in LOSS_LAYERS), "bad debt"])


def cell_order(runs: pd.DataFrame, axes: Sequence[str]) -> list[int]:
    """The cells, sorted by their axis values in ``axis_order`` (first axis slowest)."""
    rank = {a: {v: k for k, v in enumerate(axis_order(runs[a]))} for a in axes}
    firsts = runs.groupby("cell", sort=True).first()
    return sorted(firsts.index.tolist(),
                  key=lambda c: tuple(rank[a].get(firsts.at[c, a], -1) for a in axes))


def cell_title(runs: pd.DataFrame, cell: int, axes: Sequence[str], names: bool = True,
               readable: bool = False) -> str:
    """"axis = value" for each axis of ``cell``, comma separated (as stored, for a caption;
    ``readable``: ``axis_name`` = ``axis_text``, for a chart); only the values (``axis_text``,
    wrapped to short lines, for a panel title) if not ``names``."""
    first = runs[runs["cell"] == cell].iloc[0]
    if names and readable:
        return ", ".join(f"{axis_name(a)} = {axis_text(first[a])}" for a in axes)
    if names:
        return ", ".join(f"{a} = {axis_label(first[a])}" for a in axes)
    return textwrap.fill(", ".join(axis_text(first[a]) for a in axes), 34)
