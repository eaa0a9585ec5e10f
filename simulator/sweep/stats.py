"""Statistics of comparisons and sweeps: means with bootstrap confidence intervals and paired
differences against a baseline variant, per sweep cell, and their Markdown table.

``summarize`` is a pure function of a runs frame (one row per variant and seed): percentile
bootstrap intervals from generators seeded by ``rng_seed`` and keyed by names
(deterministic), paired differences against a baseline over the seeds both completed. A cell
is one point of a sweep's axes; within a cell the variants' replications are paired by
replication index: with common random numbers (the default) replication ``r`` of every
variant ran on the same seed, so the paired difference removes the seed's noise. This module
reads result frames (``runs.parquet``) and knows nothing of runs or simulation objects.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pandas as pd

from simulator.run import catalogue
from simulator.run.rng import RunRandom

__all__ = ["ADL_METRICS", "DEFAULT_METRICS", "EQUAL_RTOL", "SUMMARY_COLUMNS",
           "available_metrics", "axis_columns", "cell_statistics", "markdown_table",
           "summarize"]

# The catalogue says which figures a comparison shows by default, and what else a comparison
# of ADL designs wants (Chitra's over-use relative to the shortfall, the haircuts' fairness).
DEFAULT_METRICS: list[str] = catalogue.names("compare")
ADL_METRICS: list[str] = catalogue.names("adl_compare")
SUMMARY_COLUMNS: tuple[str, ...] = (
    "variant", "metric", "n", "mean", "std", "ci_low", "ci_high", "n_paired", "diff_mean",
    "diff_ci_low", "diff_ci_high", "share_higher", "share_lower", "share_equal",
)
# Two values count as equal in the paired comparison within this relative tolerance: the
# same path and mechanism give bit-identical numbers, but a different order of float sums
# (e.g. another ADL queue) should not count as "higher" by 1e-12 dollars.
EQUAL_RTOL = 1e-9


def available_metrics(runs: pd.DataFrame, wanted: Sequence[str] = DEFAULT_METRICS) -> list[str]:
    """The metrics of ``wanted`` that ``runs`` has, in ``wanted``'s order."""
    return [m for m in wanted if m in runs.columns]


def _boot_ci(x: np.ndarray, rng: np.random.Generator, n_boot: int, confidence: float):
    """Percentile bootstrap interval of the mean of ``x`` (NaN, NaN when empty)."""
    if x.size == 0:
        return math.nan, math.nan
    means = x[rng.integers(0, x.size, size=(n_boot, x.size))].mean(axis=1)
    tail = (1.0 - confidence) / 2.0
    lo, hi = np.quantile(means, [tail, 1.0 - tail])
    return float(lo), float(hi)


def _values(frame: pd.DataFrame, metric: str) -> pd.Series:
    """A metric per seed, as floats (bools count 0/1; anything non-numeric is NaN)."""
    col = frame[metric]
    if col.dtype == object:  # e.g. a bool column with a failed run's None in it
        col = col.map(lambda v: float(v) if isinstance(v, bool) else v)
    values = pd.to_numeric(col, errors="coerce").astype(float)
    return pd.Series(values.to_numpy(), index=frame["seed"].to_numpy())


def summarize(
    runs: pd.DataFrame,
    metrics: Sequence[str],
    baseline: str,
    confidence: float = 0.95,
    rng_seed: int = 0,
    n_boot: int = 2000,
) -> pd.DataFrame:
    """Per variant and metric over the complete runs: ``n, mean, std, ci_low, ci_high``
    (percentile bootstrap of the mean) and against ``baseline`` over the seeds both completed
    with finite values: ``n_paired, diff_mean, diff_ci_low, diff_ci_high`` (bootstrap of the
    mean paired difference, variant - baseline) and the shares of those seeds where the
    variant is ``higher / lower / equal`` (within ``EQUAL_RTOL``).

    NaN values are dropped (``n`` says how many remain). Each (variant, metric) draws from its
    own generator keyed by names and ``rng_seed``, so a cell's interval does not change when
    other variants or metrics are added. Rows follow variant order of first appearance.
    """
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")
    missing = [m for m in metrics if m not in runs.columns]
    if missing:
        raise ValueError(f"summarize: no such metric column: {', '.join(missing)}")
    order = list(dict.fromkeys(runs["variant"]))
    if baseline not in order:
        raise ValueError(f"summarize: baseline {baseline!r} is not a variant ({order})")
    if runs.duplicated(["variant", "seed"]).any():
        raise ValueError("summarize: a (variant, seed) pair appears more than once")
    ok = runs[runs["status"] == "complete"] if "status" in runs.columns else runs
    streams = RunRandom(rng_seed)
    out = []
    for metric in metrics:
        base = _values(ok[ok["variant"] == baseline], metric)
        for name in order:
            mine = _values(ok[ok["variant"] == name], metric)
            x = mine.dropna().to_numpy()
            lo, hi = _boot_ci(x, streams.stream(f"mean:{name}:{metric}"), n_boot, confidence)
            pair = pd.concat([mine, base], axis=1, join="inner").dropna().to_numpy()
            pair = pair.reshape(-1, 2)  # (seeds both completed, [variant, baseline])
            diff = pair[:, 0] - pair[:, 1]
            d_lo, d_hi = _boot_ci(diff, streams.stream(f"diff:{name}:{metric}"), n_boot,
                                  confidence)
            equal = np.abs(diff) <= EQUAL_RTOL * np.abs(pair).max(axis=1, initial=0.0)
            n_p = diff.size
            out.append({
                "variant": name, "metric": metric, "n": int(x.size),
                "mean": float(x.mean()) if x.size else math.nan,
                "std": float(x.std(ddof=1)) if x.size > 1 else math.nan,
                "ci_low": lo, "ci_high": hi, "n_paired": int(n_p),
                "diff_mean": float(diff.mean()) if n_p else math.nan,
                "diff_ci_low": d_lo, "diff_ci_high": d_hi,
                "share_higher": float(np.mean((diff > 0) & ~equal)) if n_p else math.nan,
                "share_lower": float(np.mean((diff < 0) & ~equal)) if n_p else math.nan,
                "share_equal": float(np.mean(equal)) if n_p else math.nan,
            })
    return pd.DataFrame(out, columns=SUMMARY_COLUMNS)


def markdown_table(summary: pd.DataFrame, baseline: str | None = None) -> str:
    """``summarize``'s frame as a Markdown table: metric (the catalogue's label and unit),
    variant, n, mean [CI], paired difference [CI] (USD in millions as ``$1.23M``; "–" for
    undefined)."""
    head = f"paired diff vs {baseline} [CI]" if baseline else "paired diff [CI]"
    lines = [f"| metric | variant | n | mean [CI] | {head} |", "|---|---|---:|---|---|"]
    for r in summary.itertuples():
        unit = catalogue.unit_of(r.metric)

        def fmt(x: float, unit: str = unit) -> str:
            return catalogue.format_value(x, unit, compact=True, missing="–")

        mean = f"{fmt(r.mean)} [{fmt(r.ci_low)}, {fmt(r.ci_high)}]"
        diff = ("(baseline)" if r.variant == baseline else
                f"{fmt(r.diff_mean)} [{fmt(r.diff_ci_low)}, {fmt(r.diff_ci_high)}]")
        lines.append(f"| {catalogue.title(r.metric)} | {r.variant} | {r.n} | {mean} | {diff} |")
    return "\n".join(lines) + "\n"


def axis_columns(runs: pd.DataFrame) -> list[str]:
    """The axis columns of a runs table: those before ``cell``."""
    cols = list(runs.columns)
    return cols[: cols.index("cell")]


def cell_statistics(
    runs: pd.DataFrame, metrics: Sequence[str] | None = None, baseline: str | None = None,
    confidence: float = 0.95, rng_seed: int = 0, n_boot: int = 2000,
) -> pd.DataFrame:
    """One row per (cell, variant, metric): the cell's axis values, then ``summarize``'s
    columns (``n, mean, std, ci_low, ci_high``, and against ``baseline`` — default the first
    variant — ``n_paired, diff_mean, diff_ci_low, diff_ci_high`` and shares)."""
    metrics = list(metrics) if metrics is not None else available_metrics(runs, DEFAULT_METRICS)
    baseline = baseline if baseline is not None else str(runs["variant"].iloc[0])
    axes = axis_columns(runs)
    frames = []
    for cell, sub in runs.groupby("cell", sort=True):
        # Pair by replication (the same seed in every variant under common random numbers).
        stats = summarize(sub.assign(seed=sub["replication"]), metrics, baseline, confidence,
                          rng_seed + int(cell), n_boot)
        first = sub.iloc[0]
        stats.insert(0, "cell", int(cell))
        for k, axis in enumerate(axes):
            stats.insert(1 + k, axis, first[axis])
        frames.append(stats)
    return pd.concat(frames, ignore_index=True)
