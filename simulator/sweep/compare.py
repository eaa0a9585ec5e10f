"""Mechanism comparison: one scenario under several presets or variants, over many seeds.

Common random numbers come from the simulator itself: ``run(scenario, seed)`` draws paths,
populations and behaviour from named streams of the seed, so running every variant with the
*same* seeds gives every variant identical exogenous paths, traders and reactions; only the
mechanism differs. ``compare`` does exactly that and returns a ``Comparison``::

    from simulator import default_scenario
    from simulator.sweep.compare import Variant, compare, summarize

    variants = [Variant("base"), Variant("big_fund", ("venues.cex.insurance_fund=3e6",))]
    cmp = compare(default_scenario(), variants, seeds=list(range(20)), workers=2)
    cmp.runs        # one row per (variant, seed): status, error, every summary metric, fairness
    cmp.haircuts    # one row per deleveraged account per complete run (see adl_fairness)
    summarize(cmp.runs, cmp.metrics(), baseline="base")   # means, CIs, paired differences

``summarize`` is a pure function of a runs frame: bootstrap confidence intervals from a
generator seeded by ``rng_seed`` (deterministic), paired differences against a baseline over
the seeds both completed. This module knows scenarios, ``run`` and result frames; it must not
know venues, books or any other simulation object, nor draw charts
(``simulator.charts.compare`` does).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from simulator.config import Scenario, ScenarioError
from simulator.errors import RunFailed
from simulator.run import catalogue
from simulator.run.adl_fairness import adl_haircuts, fairness_metrics
from simulator.run.rng import RunRandom
from simulator.run.runner import run

__all__ = ["ADL_METRICS", "DEFAULT_METRICS", "ID_COLUMNS", "SUMMARY_COLUMNS", "Comparison",
           "Variant", "available_metrics", "compare", "markdown_table", "summarize",
           "variant_scenario"]

# The catalogue says which figures a comparison shows by default, and what else a comparison
# of ADL designs wants (Chitra's over-use relative to the shortfall, the haircuts' fairness).
DEFAULT_METRICS: list[str] = catalogue.names("compare")
ADL_METRICS: list[str] = catalogue.names("adl_compare")
ID_COLUMNS: tuple[str, ...] = ("variant", "seed", "status", "error")
SUMMARY_COLUMNS: tuple[str, ...] = (
    "variant", "metric", "n", "mean", "std", "ci_low", "ci_high", "n_paired", "diff_mean",
    "diff_ci_low", "diff_ci_high", "share_higher", "share_lower", "share_equal",
)
# Two values count as equal in the paired comparison within this relative tolerance: the
# same path and mechanism give bit-identical numbers, but a different order of float sums
# (e.g. another ADL queue) should not count as "higher" by 1e-12 dollars.
EQUAL_RTOL = 1e-9

Progress = Callable[[int, int], None]  # (runs finished, runs in total)
Finished = Callable[[dict[str, Any], float], None]  # (the run's row, wall seconds)


@dataclass(frozen=True)
class Variant:
    """A mechanism variant: an optional preset, then dotted-path overrides (as ``--set``)."""

    name: str
    overrides: tuple[str, ...] = ()
    preset: str | None = None


def variant_scenario(base: Scenario, v: Variant) -> Scenario:
    """``base`` under variant ``v``: its preset's mechanism settings (all venues), then its
    overrides. Raises ``ScenarioError`` naming the variant for anything it cannot apply."""
    scenario = base
    try:
        if v.preset is not None:
            if not hasattr(scenario, "with_preset"):
                raise ScenarioError("mechanism presets are not available in this version of "
                                    "liqsim (Scenario.with_preset is missing)")
            scenario = scenario.with_preset(v.preset)
        if v.overrides:
            scenario = scenario.with_overrides(list(v.overrides))
    except (KeyError, ValueError) as exc:  # ScenarioError is a ValueError
        text = exc.args[0] if isinstance(exc, KeyError) and exc.args else exc
        raise ScenarioError(f"variant {v.name!r}: {text}") from None
    return scenario


@dataclass(frozen=True, eq=False)
class Comparison:
    """What ``compare`` produced. ``runs`` and ``haircuts`` are identical for any worker
    count; ``seconds`` (wall time per run) is the only part that is not reproducible."""

    variants: tuple[Variant, ...]
    seeds: tuple[int, ...]
    runs: pd.DataFrame
    haircuts: pd.DataFrame
    seconds: pd.DataFrame

    @property
    def baseline(self) -> str:
        return self.variants[0].name

    def metrics(self, wanted: Sequence[str] = DEFAULT_METRICS) -> list[str]:
        return available_metrics(self.runs, wanted)

    def summary(self, baseline: str | None = None, **kwargs: Any) -> pd.DataFrame:
        """``summarize`` of these runs over the default metrics they have."""
        return summarize(self.runs, self.metrics(), baseline or self.baseline, **kwargs)


def available_metrics(runs: pd.DataFrame, wanted: Sequence[str] = DEFAULT_METRICS) -> list[str]:
    """The metrics of ``wanted`` that ``runs`` has, in ``wanted``'s order."""
    return [m for m in wanted if m in runs.columns]


# --------------------------------------------------------------------------------- running


def _run_one(scenario: Scenario, seed: int) -> tuple[dict[str, Any], pd.DataFrame, float]:
    """One run, reduced to what a comparison keeps (module level: it runs in worker
    processes). Never raises: a failure becomes a ``failed`` status and its message."""
    t0 = time.perf_counter()
    result, status, error = None, "complete", None
    try:
        result = run(scenario, seed)
        status, error = result.meta.get("status", "complete"), result.meta.get("error")
    except Exception as exc:  # any failure is data about the variant, not a reason to stop
        status, error = "failed", f"{type(exc).__name__}: {exc}"
        if isinstance(exc, RunFailed):
            result = exc.result  # what was recorded until it broke
    summary: dict[str, Any] = {}
    haircuts = adl_haircuts(None)
    if result is not None:
        summary = {k: _plain(v) for k, v in result.summary.items()}
        haircuts = adl_haircuts(result.events)
        # The simulator's own numbers win if it ever reports a key of the same name.
        for key, value in fairness_metrics(haircuts).items():
            summary.setdefault(key, value)
    row = {"status": status, "error": error, **summary}
    return row, haircuts, time.perf_counter() - t0


def _plain(value: Any) -> Any:
    # numpy scalars -> Python numbers, so frames and CSVs do not depend on where they came from.
    return value.item() if isinstance(value, np.generic) else value


def compare(
    base: Scenario,
    variants: Sequence[Variant],
    seeds: Sequence[int],
    workers: int = 1,
    progress: Progress | None = None,
    on_run: Finished | None = None,
) -> Comparison:
    """Run every variant of ``base`` with every seed (the same seeds: common random numbers).

    Variant scenarios are all built first, so a bad preset or override raises
    ``ScenarioError`` before anything runs. A run that fails (a ``RunFailed``, any exception,
    or a result with status ``failed``) becomes a row with status ``failed`` and its error,
    and the comparison goes on. ``workers > 1`` runs in that many processes; rows come back
    in (variant order, seed) order whatever the worker count. ``progress(done, total)`` and
    ``on_run(row, seconds)`` are called in the calling process as each run finishes.
    """
    variants = list(variants)
    seeds = sorted(int(s) for s in seeds)
    if not variants:
        raise ValueError("compare: no variants")
    names = [v.name for v in variants]
    if len(set(names)) != len(names):
        raise ValueError(f"compare: variant names must be unique, got {names}")
    if not seeds or len(set(seeds)) != len(seeds) or seeds[0] < 0:
        raise ValueError(f"compare: seeds must be distinct non-negative integers, got {seeds}")
    scenarios = [variant_scenario(base, v) for v in variants]
    jobs = [(vi, seed) for vi in range(len(variants)) for seed in seeds]
    done: dict[tuple[int, int], tuple[dict[str, Any], pd.DataFrame, float]] = {}

    def finish(job: tuple[int, int], outcome: tuple[dict[str, Any], pd.DataFrame, float]):
        done[job] = outcome
        if on_run is not None:
            on_run({"variant": names[job[0]], "seed": job[1], **outcome[0]}, outcome[2])
        if progress is not None:
            progress(len(done), len(jobs))

    if workers <= 1 or len(jobs) == 1:
        for job in jobs:
            finish(job, _run_one(scenarios[job[0]], job[1]))
    else:
        # The scenario travels pickled: exact, and it avoids re-validating (re-reading CSVs).
        with ProcessPoolExecutor(max_workers=min(workers, len(jobs))) as pool:
            futures = {pool.submit(_run_one, scenarios[vi], seed): (vi, seed) for vi, seed in jobs}
            for future in as_completed(futures):
                try:
                    outcome = future.result()
                except Exception as exc:  # the worker itself died (e.g. out of memory)
                    outcome = ({"status": "failed", "error": f"{type(exc).__name__}: {exc}"},
                               adl_haircuts(None), math.nan)
                finish(futures[future], outcome)
    return _assemble(variants, seeds, jobs, done)


def _assemble(variants, seeds, jobs, done) -> Comparison:
    rows, cuts, secs = [], [], []
    for vi, seed in jobs:
        row, haircuts, seconds = done[(vi, seed)]
        name = variants[vi].name
        rows.append({"variant": name, "seed": seed, **row})
        secs.append({"variant": name, "seed": seed, "seconds": seconds})
        if row["status"] == "complete" and not haircuts.empty:
            cuts.append(haircuts.assign(variant=name, seed=seed))
    runs = pd.DataFrame(rows)
    for col in ID_COLUMNS:
        if col not in runs.columns:
            runs[col] = None
    metric_cols = [c for c in runs.columns if c not in ID_COLUMNS]
    runs = runs[list(ID_COLUMNS) + metric_cols]
    # A generation absent from a complete run's summary had no liquidations: 0, not missing.
    gen_cols = [c for c in metric_cols if c.startswith("generation.")]
    complete = runs["status"] == "complete"
    runs.loc[complete, gen_cols] = runs.loc[complete, gen_cols].fillna(0)
    haircut_cols = ["variant", "seed", *adl_haircuts(None).columns]
    haircuts = (pd.concat(cuts, ignore_index=True)[haircut_cols] if cuts
                else adl_haircuts(None).assign(variant=pd.Series(dtype=object),
                                               seed=pd.Series(dtype="int64"))[haircut_cols])
    return Comparison(tuple(variants), tuple(seeds), runs, haircuts, pd.DataFrame(secs))


# ------------------------------------------------------------------------------- statistics


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
