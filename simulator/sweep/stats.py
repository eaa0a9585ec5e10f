"""Statistics of a sweep: per cell and variant, means with bootstrap confidence intervals and
paired differences against a baseline variant.

A cell is one point of the sweep's axes. Within a cell the variants' replications are paired
by replication index: with common random numbers (the default) replication ``r`` of every
variant ran on the same seed, so the paired difference removes the seed's noise. The
arithmetic is ``compare.summarize``'s; this module only cuts the runs table into cells. It
reads a runs table (``runs.parquet``) and knows nothing of runs or simulation objects.
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from simulator.sweep.compare import DEFAULT_METRICS, available_metrics, summarize


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
