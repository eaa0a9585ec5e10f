"""The tables of a sweep report, built from a stored sweep folder's frames.

A ``Table`` is plain strings (header and rows, already formatted) so the HTML and Markdown
renderings in ``report`` print exactly the same numbers. The tables: the design (what was
swept, what was fixed), the headline (per variant, pooled over every cell), the paired
comparison against the baseline variant, the per-cell means of the main metric, and the
failed runs. Statistics come from ``stats.summarize`` (pooled) and the sweep's own
``statistics.parquet`` (per cell); nothing is recomputed differently here. This module reads
frames and the sweep file's data; it must not run simulations, draw charts or write files.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from simulator.run import catalogue
from simulator.run.catalogue import title
from simulator.sweep.stats import available_metrics, axis_columns, summarize

__all__ = ["HEADLINE_METRICS", "Table", "cell_table", "comparison_table",
           "design_tables", "failure_table", "format_value", "headline_table", "means_table",
           "pooled_summary", "report_metrics"]

# The metrics a report shows: the catalogue's comparison figures, in its reading order (what
# the cascade did, then who paid for it); labels and units come from the catalogue too.
HEADLINE_METRICS: list[str] = catalogue.names("compare")
MAX_CELL_ROWS = 200  # a report lists at most this many cells; the parquet files have all


@dataclass(frozen=True)
class Table:
    """A titled table of formatted strings; ``right`` marks the numeric columns."""

    id: str
    title: str
    header: list[str]
    rows: list[list[str]]
    note: str = ""
    right: list[bool] = field(default_factory=list)
    link_column: int | None = None  # this column's cells are relative links (HTML only)


def format_value(value: float, unit: str = "") -> str:
    """A number for a table in its catalogue unit: USD as ``$1.23M`` / ``$12,345``, counts
    with separators, everything else to 3 significant digits; "–" for undefined."""
    return catalogue.format_value(value, unit, compact=True, missing="–")


def _with_ci(mean: float, lo: float, hi: float, unit: str) -> str:
    if mean is None or not np.isfinite(mean):
        return "–"
    if not (np.isfinite(lo) and np.isfinite(hi)):
        return format_value(mean, unit)
    return f"{format_value(mean, unit)} [{format_value(lo, unit)}, {format_value(hi, unit)}]"


def _plain(value: Any) -> str:
    if isinstance(value, (dict, list)):
        return json.dumps(value)
    return str(value)


def design_tables(sweep: dict[str, Any], runs: pd.DataFrame,
                  scenario: dict[str, Any] | None) -> list[Table]:
    """What was run: the setup (base, fixed settings, replications, seed, run counts), the
    axes with their values as run, and the variants."""
    status = runs["status"].value_counts()
    base = str(sweep.get("base", "default"))
    if scenario is not None and scenario.get("name"):
        base = f"{base} (scenario {scenario['name']})"
    setup = [
        ["base scenario", base],
        ["fixed settings", "; ".join(sweep.get("set", [])) or "none"],
        ["cells", f"{runs['cell'].nunique()}"],
        ["variants", f"{runs['variant'].nunique()}"],
        ["replications per cell and variant", str(sweep.get("replications", 1))],
        ["root seed", str(sweep.get("seed", 0))],
        ["common random numbers", "yes" if sweep.get("common_random_numbers", True) else "no"],
        ["runs", f"{len(runs)} planned, {int(status.get('complete', 0))} complete, "
                 f"{len(runs) - int(status.get('complete', 0))} failed"],
    ]
    tables = [Table("design", "Setup", ["setting", "value"], setup)]
    axes = axis_columns(runs)
    if axes:
        rows = [[a, ", ".join(dict.fromkeys(_plain(v) for v in runs[a]))] for a in axes]
        tables.append(Table("axes", "Axes", ["scenario path", "values (in plan order)"], rows,
                            note="Every combination of the axes' values is one cell; "
                                 "zipped axes move together."))
    variants = sweep.get("variants") or [{"name": "base"}]
    rows = [[str(v.get("name")), str(v.get("preset") or "–"),
             "; ".join(v.get("set", [])) or "–"] for v in variants]
    tables.append(Table("variants", "Mechanism variants", ["variant", "preset", "overrides"],
                        rows, note=f"The first variant ({rows[0][0]}) is the baseline of "
                                   "the paired comparisons."))
    return tables


def pooled_summary(runs: pd.DataFrame, metrics: Sequence[str], baseline: str,
                   rng_seed: int = 0) -> pd.DataFrame:
    """``summarize`` over every cell at once: runs pair by (cell, replication), which under
    common random numbers is the same seed and the same cell in every variant."""
    key = runs["cell"].astype(np.int64) * 1_000_003 + runs["replication"].astype(np.int64)
    return summarize(runs.assign(seed=key), metrics, baseline, rng_seed=rng_seed)


def headline_table(summary: pd.DataFrame, n_cells: int) -> Table:
    """Metric rows, one column per variant: mean [95% CI] pooled over the cells."""
    variants = list(dict.fromkeys(summary["variant"]))
    rows = []
    for metric, sub in summary.groupby("metric", sort=False):
        unit = catalogue.unit_of(str(metric))
        cells = {r.variant: _with_ci(r.mean, r.ci_low, r.ci_high, unit)
                 for r in sub.itertuples()}
        rows.append([title(str(metric)), *[cells.get(v, "–") for v in variants]])
    n = summary.groupby("variant", sort=False)["n"].max()
    header = ["metric", *[f"{v} (n={int(n[v])})" for v in variants]]
    return Table("headline", "Headline results", header, rows,
                 note=f"Mean per run over all {n_cells} cell(s) with a 95% percentile "
                      "bootstrap interval of the mean; USD amounts in dollars.",
                 right=[False, *[True] * len(variants)])


def comparison_table(summary: pd.DataFrame, baseline: str) -> Table | None:
    """Paired differences (variant − baseline) over the (cell, replication) pairs both
    completed, with the shares of pairs where the variant was higher or lower."""
    others = summary[summary["variant"] != baseline]
    if others.empty:
        return None
    rows = []
    for r in others.itertuples():
        unit = catalogue.unit_of(r.metric)
        diff = _with_ci(r.diff_mean, r.diff_ci_low, r.diff_ci_high, unit)
        shares = ("–" if not np.isfinite(r.share_higher) else
                  f"{r.share_higher:.0%} / {r.share_lower:.0%} / {r.share_equal:.0%}")
        excludes = (np.isfinite(r.diff_ci_low) and np.isfinite(r.diff_ci_high)
                    and (r.diff_ci_low > 0 or r.diff_ci_high < 0))
        rows.append([r.variant, title(r.metric), str(r.n_paired), diff, shares,
                     "yes" if excludes else "no"])
    return Table("comparison", f"Paired comparison against {baseline}",
                 ["variant", "metric", "pairs", "mean difference [95% CI]",
                  "higher / lower / equal", "CI excludes 0"], rows,
                 note="Under common random numbers each pair is the same cell and seed under "
                      "two mechanisms, so the difference is the mechanism's effect; an "
                      "interval that excludes 0 is a clear effect.",
                 right=[False, False, True, True, True, False])


def means_table(summary: pd.DataFrame, baseline: str) -> Table:
    """Per metric and variant (``stats.summarize``'s frame): n, mean [CI] and the paired
    difference against ``baseline`` [CI]; what ``liqsim compare`` prints."""
    rows, last = [], None
    for r in summary.itertuples():
        unit = catalogue.unit_of(r.metric)
        diff = ("(baseline)" if r.variant == baseline
                else _with_ci(r.diff_mean, r.diff_ci_low, r.diff_ci_high, unit))
        rows.append([title(r.metric) if r.metric != last else "", str(r.variant), str(r.n),
                     _with_ci(r.mean, r.ci_low, r.ci_high, unit), diff])
        last = r.metric
    return Table("means", f"Means [95% CI] and paired differences against {baseline}",
                 ["metric", "variant", "n", "mean [CI]", f"diff vs {baseline} [CI]"], rows,
                 right=[False, False, True, True, True])


def cell_table(stats: pd.DataFrame, metrics: Sequence[str]) -> Table | None:
    """One row per cell and variant: the axis values and mean [95% CI] of ``metrics``."""
    if stats.empty:
        return None
    axes = list(stats.columns[1: list(stats.columns).index("variant")])
    metrics = [m for m in metrics if m in set(stats["metric"])]
    if not metrics:
        return None
    wide = stats[stats["metric"].isin(metrics)]
    rows = []
    for (cell, variant), sub in wide.groupby(["cell", "variant"], sort=False):
        by_metric = {r.metric: r for r in sub.itertuples()}
        first = sub.iloc[0]
        values = []
        for m in metrics:
            r = by_metric.get(m)
            unit = catalogue.unit_of(m)
            values.append("–" if r is None else _with_ci(r.mean, r.ci_low, r.ci_high, unit))
        rows.append([str(cell), *[_plain(first[a]) for a in axes], str(variant), *values])
    cut = len(rows) > MAX_CELL_ROWS
    header = ["cell", *axes, "variant", *[title(m) for m in metrics]]
    return Table("cells", "Mean per cell and variant", header, rows[:MAX_CELL_ROWS],
                 note=("Mean per run in each cell with a 95% bootstrap interval over its "
                       "replications." + (f" First {MAX_CELL_ROWS} of {len(rows)} rows; "
                                           "statistics.parquet has all." if cut else "")),
                 right=[True, *[False] * (len(axes) + 1), *[True] * len(metrics)])


def failure_table(runs: pd.DataFrame, manifest: dict[str, dict[str, Any]]) -> Table | None:
    """The runs that failed, with the last line of their traceback."""
    failed = runs[runs["status"] != "complete"]
    if failed.empty:
        return None
    rows = []
    for r in failed.itertuples():
        entry = manifest.get(str(r.run_key), {})
        error = entry.get("error") or r.error or ""
        rows.append([str(r.run_key), str(r.cell), str(r.variant), str(r.replication),
                     str(r.seed), str(error).strip().splitlines()[-1] if error else "–"])
    return Table("failures", "Failed runs",
                 ["run", "cell", "variant", "replication", "seed", "error"], rows,
                 note="Each failed run's full traceback is in manifest.json; the statistics "
                      "leave these runs out.")


def report_metrics(runs: pd.DataFrame) -> list[str]:
    """The headline metrics this runs table has with a value in at least one complete run."""
    ok = runs[runs["status"] == "complete"]
    return [m for m in available_metrics(ok, HEADLINE_METRICS)
            if pd.to_numeric(ok[m], errors="coerce").notna().any()]
