"""Mechanism comparison: one scenario under several presets or variants, over many seeds.

A comparison is a sweep with variants and seeds but no axes: ``comparison_spec`` builds that
``SweepSpec`` and ``compare`` runs it through the sweep's plan and executor, so a comparison
gets the same backends (serial, process pool, Dask), failure records and, given a folder,
the sweep folder (``manifest.json``, ``runs.parquet``, ``statistics.parquet``,
``scorecard.parquet`` / ``.md``, run folders) and resume. Common random numbers come from
the simulator itself: ``run(scenario, seed)`` draws paths, populations and behaviour from
named streams of the seed, so running every variant with the *same* seeds gives every
variant identical exogenous paths, traders and reactions; only the mechanism differs::

    from simulator import default_scenario
    from simulator.sweep.compare import Variant, compare, summarize

    variants = [Variant("base"), Variant("big_fund", ("venues.cex.insurance_fund=3e6",))]
    cmp = compare(default_scenario(), variants, seeds=list(range(20)), workers=2)
    cmp.runs        # one row per (variant, seed): status, error, every summary metric, fairness
    cmp.haircuts    # one row per deleveraged account per complete run (see adl_fairness)
    summarize(cmp.runs, cmp.metrics(), baseline="base")   # means, CIs, paired differences

The statistics (``summarize``, ``markdown_table``) live in ``simulator.sweep.stats`` and are
re-exported here. This module knows scenarios, sweep specs and result frames; it must not
know venues, books or any other simulation object, nor draw charts
(``simulator.charts.compare`` does).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
from pydantic import ValidationError

from simulator.config import Scenario, ScenarioError
from simulator.run.result import write_atomic
from simulator.sweep.execute import Executed, execute
from simulator.sweep.plan import RunSpec, variant_scenario
from simulator.sweep.spec import SweepSpec, Variant
from simulator.sweep.stats import (
    ADL_METRICS,
    DEFAULT_METRICS,
    SUMMARY_COLUMNS,
    available_metrics,
    markdown_table,
    summarize,
)

__all__ = ["ADL_METRICS", "DEFAULT_METRICS", "ID_COLUMNS", "SUMMARY_COLUMNS", "Comparison",
           "Variant", "available_metrics", "compare", "comparison_spec", "markdown_table",
           "summarize", "variant_scenario", "variants_from_options"]

# The columns of a comparison's runs frame that are not metrics (the sweep's, minus the
# cell: a comparison has one).
ID_COLUMNS: tuple[str, ...] = ("variant", "seed", "replication", "run_key", "status", "error")
SUMMARY_FILE = "summary.md"
HAIRCUTS_FILE = "haircuts.parquet"

Progress = Callable[[int, int], None]  # (runs finished, runs to do)
Finished = Callable[[dict[str, Any], float], None]  # (the run's row, wall seconds)


@dataclass(frozen=True, eq=False)
class Comparison:
    """What ``compare`` produced. ``runs`` and ``haircuts`` are identical for any worker
    count or backend; ``seconds`` (wall time per run) is the only part that is not
    reproducible. ``skipped``/``ran``: runs found complete in the folder / run this time."""

    variants: tuple[Variant, ...]
    seeds: tuple[int, ...]
    runs: pd.DataFrame
    haircuts: pd.DataFrame
    seconds: pd.DataFrame
    skipped: int = 0
    ran: int = 0

    @property
    def baseline(self) -> str:
        return self.variants[0].name

    def metrics(self, wanted: Sequence[str] = DEFAULT_METRICS) -> list[str]:
        return available_metrics(self.runs, wanted)

    def summary(self, baseline: str | None = None, **kwargs: Any) -> pd.DataFrame:
        """``summarize`` of these runs over the default metrics they have."""
        return summarize(self.runs, self.metrics(), baseline or self.baseline, **kwargs)


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.\-]+", "_", text).strip("_") or "comparison"


def variants_from_options(presets: Sequence[str], variants: Sequence[str]) -> list[Variant]:
    """Command-line variants: presets (``--preset P``: a variant named P) and assignments
    (``--variant NAME=path=value``; ``NAME`` or ``NAME=`` alone: the scenario unchanged;
    ``NAME=preset=P``: a preset), presets first, then the named variants in order of first
    appearance, each with its assignments in order. Raises ``ScenarioError`` (one line)."""
    named: dict[str, dict] = {}
    for text in variants:
        name, _, assignment = (s.strip() for s in text.partition("="))
        if not name:
            raise ScenarioError(f"--variant {text!r}: expected NAME=path.to.field=value")
        entry = named.setdefault(name, {"name": name, "set": []})
        if assignment.startswith("preset="):
            entry["preset"] = assignment.removeprefix("preset=").strip()
        elif assignment:
            entry["set"].append(assignment)
    items = [{"name": p, "preset": p} for p in presets] + list(named.values())
    names = [i["name"] for i in items]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise ScenarioError(f"variant names must be unique, repeated: {', '.join(dup)}")
    out = []
    for item in items:
        try:
            out.append(Variant(**item))
        except ValidationError as exc:
            problem = exc.errors()[0]
            field = ".".join(str(p) for p in problem["loc"])
            raise ScenarioError(f"variant {item['name']!r}: {field}: "
                                f"{problem['msg'].removeprefix('Value error, ')}") from None
    return out



def comparison_spec(base: Scenario, variants: Sequence[Variant], seeds: Sequence[int],
                    name: str | None = None) -> SweepSpec:
    """The sweep a comparison is: ``base`` (an object), ``variants``, the given ``seeds`` as
    replications (the same in every variant), no axes. Raises ``ValueError`` for no
    variants, repeated names or bad seeds."""
    variants = list(variants)
    seeds = sorted(int(s) for s in seeds)
    if not variants:
        raise ValueError("compare: no variants")
    names = [v.name for v in variants]
    if len(set(names)) != len(names):
        raise ValueError(f"compare: variant names must be unique, got {names}")
    if not seeds or len(set(seeds)) != len(seeds) or seeds[0] < 0:
        raise ValueError(f"compare: seeds must be distinct non-negative integers, got {seeds}")
    spec = SweepSpec(name=_slug(name or base.name), description=f"{base.name}: comparison",
                     variants=variants, seeds=seeds)
    return spec.with_scenario(base)


def compare(
    base: Scenario,
    variants: Sequence[Variant],
    seeds: Sequence[int],
    workers: int = 1,
    progress: Progress | None = None,
    on_run: Finished | None = None,
    out_dir: str | Path | None = None,
    scheduler: str | None = None,
    dask_local: bool = False,
) -> Comparison:
    """Run every variant of ``base`` with every seed (the same seeds: common random numbers).

    Variant scenarios are all built first, so a bad preset or override raises
    ``ScenarioError`` before anything runs. A run that fails (a ``RunFailed``, any exception,
    or a result with status ``failed``) becomes a row with status ``failed`` and its error,
    and the comparison goes on. ``workers > 1`` runs in that many processes, ``scheduler`` /
    ``dask_local`` on Dask (as ``run_sweep``); rows come back in (variant order, seed) order
    whatever the backend. With ``out_dir`` the comparison is a sweep folder (plus
    ``haircuts.parquet`` and ``summary.md``) and a rerun skips the runs already complete.
    ``progress(done, to_do)`` and ``on_run(row, seconds)`` are called in the calling process
    as each run finishes.
    """
    spec = comparison_spec(base, variants, seeds)

    def finished(r: RunSpec, outcome: dict[str, Any]) -> None:
        if on_run is not None:
            row = {"variant": r.variant, "seed": r.seed, "status": outcome["status"],
                   "error": outcome["error"], **outcome["summary"]}
            on_run(row, outcome.get("seconds") or float("nan"))

    def counted(done: int, todo: int, _failures: int) -> None:
        if progress is not None:
            progress(done, todo)

    done = execute(spec, out_dir, workers, counted, scheduler, dask_local, finished,
                   want_haircuts=True)
    result = _comparison(spec, done)
    if out_dir is not None:
        _write_extras(Path(out_dir), result)
    return result


def _comparison(spec: SweepSpec, done: Executed) -> Comparison:
    frame = done.runs
    metric_cols = [c for c in frame.columns if c not in ID_COLUMNS and c != "cell"]
    runs = frame[list(ID_COLUMNS) + metric_cols].reset_index(drop=True)
    haircuts = done.haircuts if done.haircuts is not None else pd.DataFrame()
    haircuts = haircuts.drop(columns="replication", errors="ignore")
    # Wall time is not part of the runs table (it is not reproducible); the manifest has it.
    secs = [done.manifest[k].get("seconds") for k in runs["run_key"]]
    seconds = runs[["variant", "seed"]].assign(
        seconds=[float("nan") if s is None else float(s) for s in secs])
    return Comparison(tuple(spec.variants), tuple(spec.seeds or ()), runs, haircuts, seconds,
                      done.skipped, done.ran)


def _write_extras(out: Path, result: Comparison) -> None:
    """What a comparison folder has beyond a sweep folder: every deleveraged account, and the
    default metrics' table (means, CIs, paired differences against the first variant)."""
    cuts = result.haircuts
    write_atomic(out / HAIRCUTS_FILE, lambda p: cuts.to_parquet(p, index=False))
    if result.runs["status"].eq("complete").any():
        table = markdown_table(result.summary(), result.baseline)
        write_atomic(out / SUMMARY_FILE, lambda p: Path(p).write_text(table))
