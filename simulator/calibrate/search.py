"""The calibration search: scipy's optimiser over seeded runs, to bring targets to their values.

The search works in the normalised space [0, 1]^k (one axis per parameter, log-scaled for a
``log`` parameter); a point becomes applied values (integers rounded) and those become
``path=value`` overrides of the base scenario. One evaluation runs the scenario at every seed
of the spec — the same seeds at every point (common random numbers), so two points differ by
their parameters only and the objective is a deterministic function of them. Evaluations are
cached by the applied values, so points that round to the same integers run once.

Objective: sum over targets of weight x (mean over seeds / value - 1)^2 (the plain difference
when the value is 0). A point whose scenario is invalid, or whose target mean is undefined
(e.g. a ratio over a zero denominator), scores ``PENALTY`` so the search moves away. At the
best evaluation each target gets mean +- t(0.975, n-1) sd / sqrt(n) over the n seeds.

This module knows the spec, scenarios and ``run_one``; it must not know the CLI, nor write
files or draw charts (``report`` does).
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Callable
from concurrent.futures import Executor, ProcessPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy import optimize, stats

from simulator.calibrate.spec import CalibrationError, CalibrationSpec, Target, assignment
from simulator.config import Scenario, ScenarioError
from simulator.sweep.execute import run_one

__all__ = ["BOUND_SHARE", "PENALTY", "Fit", "Progress", "calibrate", "mean_ci", "objective"]

Progress = Callable[[int, int, float], None]  # (evaluations done, budget, best objective)
PENALTY = 1e12  # an invalid point or undefined target: far worse than any real miss
BOUND_SHARE = 0.01  # a fitted value within 1% of the (searched) range of a bound "hit" it
# scipy's own call limit, so a search circling among cached points still ends; the spec's
# max_evaluations (fresh evaluations) is what normally stops it.
CALLS_PER_EVALUATION = 50
SIMPLEX_STEP = 0.25  # nelder-mead's first simplex: a quarter of each axis from the start


def mean_ci(values: Any, level: float = 0.95) -> tuple[float, float, float]:
    """Mean, standard deviation (ddof 1) and the half-width t((1+level)/2, n-1) sd / sqrt(n)
    of ``values``; sd and half-width are NaN for a single value."""
    x = np.asarray(values, dtype=float)
    mean = float(np.mean(x))
    if x.size < 2:
        return mean, math.nan, math.nan
    sd = float(np.std(x, ddof=1))
    half = float(stats.t.ppf(0.5 + level / 2, x.size - 1) * sd / math.sqrt(x.size))
    return mean, sd, half


def objective(means: list[float], targets: list[Target]) -> float:
    """Sum of weight x squared relative error (plain error for a zero target); ``PENALTY``
    when a mean is undefined."""
    total = 0.0
    for m, t in zip(means, targets, strict=True):
        if not math.isfinite(m):
            return PENALTY
        miss = m - t.value if t.value == 0 else m / t.value - 1.0
        total += t.weight * miss * miss
    return total


@dataclass
class Fit:
    """What a calibration found. ``history``: one row per evaluation (``evaluation``, one
    ``param:<path>`` column per parameter, one ``mean:<target>`` column per target,
    ``objective``, ``best_so_far``, ``error``); ``best``: the row of the best evaluation."""

    spec: CalibrationSpec
    base: Scenario
    fitted: Scenario
    assignments: list[str]
    parameters: list[dict[str, Any]]
    targets: list[dict[str, Any]]
    objective: float
    evaluations: int
    calls: int
    success: bool
    message: str
    history: pd.DataFrame
    best: int
    per_seed: dict[str, list[float]] = field(default_factory=dict)


class _BudgetSpent(Exception):
    """max_evaluations fresh evaluations were done: the search stops here."""


class _Evaluator:
    """The objective scipy calls: applies a point, runs every seed (cached), keeps history."""

    def __init__(self, spec: CalibrationSpec, base: Scenario, pool: Executor | None,
                 progress: Progress | None) -> None:
        self.spec, self.base, self.pool, self.progress = spec, base, pool, progress
        self.cache: dict[tuple, float] = {}
        self.records: list[dict[str, Any]] = []
        self.calls = 0
        self.best = math.inf

    def __call__(self, u: np.ndarray) -> float:
        self.calls += 1
        values = tuple(p.value(x) for p, x in zip(self.spec.parameters, u, strict=True))
        if values in self.cache:
            return self.cache[values]
        if len(self.records) >= self.spec.max_evaluations:
            raise _BudgetSpent
        record = self._evaluate(values)
        self.records.append(record)
        self.cache[values] = record["objective"]
        self.best = min(self.best, record["objective"])
        if self.progress is not None:
            self.progress(len(self.records), self.spec.max_evaluations, self.best)
        return record["objective"]

    def _evaluate(self, values: tuple) -> dict[str, Any]:
        spec = self.spec
        overrides = [assignment(p.path, v) for p, v in zip(spec.parameters, values, strict=True)]
        record: dict[str, Any] = {"values": values, "assignments": overrides, "error": ""}
        try:
            scenario = self.base.with_overrides(overrides)
        except ScenarioError as exc:  # e.g. two parameters together break a cross-field rule
            record.update(per_seed=None, means=[math.nan] * len(spec.targets),
                          objective=PENALTY, error=" ".join(str(exc).split()))
            return record
        seeds = list(spec.seeds)
        if self.pool is None:
            outcomes = [run_one(scenario, s, None) for s in seeds]
        else:
            outcomes = list(self.pool.map(run_one, [scenario] * len(seeds), seeds,
                                          [None] * len(seeds)))
        for seed, outcome in zip(seeds, outcomes, strict=True):
            if outcome["status"] != "complete":
                raise CalibrationError(f"evaluation {len(self.records) + 1} "
                                       f"({', '.join(overrides)}), seed {seed}: the run failed: "
                                       f"{outcome['error']}")
        summaries = [o["summary"] for o in outcomes]
        if not self.records:
            _check_keys(spec.targets, summaries)
        per_seed = [[_achieved(t, s) for s in summaries] for t in spec.targets]
        means = [float(np.mean(v)) for v in per_seed]
        record.update(per_seed=per_seed, means=means, objective=objective(means, spec.targets))
        return record


def _check_keys(targets: list[Target], summaries: list[dict[str, Any]]) -> None:
    """Every key a target reads must be in every seed's summary (checked once, at the first
    evaluation: the summary's keys are known only from a run)."""
    for k, t in enumerate(targets):
        for key in t.keys:
            missing = [s for s in summaries if key not in s]
            if missing:
                known = sorted(set().union(*summaries))
                close = difflib.get_close_matches(key, known, n=3, cutoff=0.5)
                hint = f"; close matches: {', '.join(close)}" if close else ""
                field_name = "metric" if t.metric is not None else "ratio"
                raise CalibrationError(f"targets[{k}].{field_name}: {key!r} is not a key of "
                                       f"the run summary{hint}")


def _number(value: Any) -> float:
    return math.nan if value is None else float(value)


def _achieved(target: Target, summary: dict[str, Any]) -> float:
    """The target's figure in one run: the metric, or the ratio (NaN over a zero)."""
    if target.metric is not None:
        return _number(summary[target.metric])
    num, den = (_number(summary[k]) for k in target.keys)
    return num / den if den != 0 else math.nan


def _search(spec: CalibrationSpec, f: _Evaluator) -> tuple[bool, str]:
    """Run scipy's method on ``f`` over [0, 1]^k; (success, message)."""
    k = len(spec.parameters)
    bounds = [(0.0, 1.0)] * k
    x0 = np.array([p.start_unit() for p in spec.parameters])
    cap = CALLS_PER_EVALUATION * spec.max_evaluations
    try:
        if spec.method == "nelder-mead":
            simplex = [x0]
            for i in range(k):
                vertex = x0.copy()
                step = SIMPLEX_STEP if x0[i] + SIMPLEX_STEP <= 1.0 else -SIMPLEX_STEP
                vertex[i] += step
                simplex.append(vertex)
            res = optimize.minimize(f, x0, method="Nelder-Mead", bounds=bounds, options={
                "initial_simplex": np.array(simplex), "xatol": spec.xtol, "fatol": spec.ftol,
                "maxfev": cap})
        elif spec.method == "powell":
            res = optimize.minimize(f, x0, method="Powell", bounds=bounds, options={
                "xtol": spec.xtol, "ftol": spec.ftol, "maxfev": cap})
        else:
            # polish=False: a gradient polish by finite differences means nothing on a
            # piecewise-constant (rounded, discrete-event) objective.
            res = optimize.differential_evolution(
                f, bounds, rng=spec.search_seed, popsize=spec.popsize,
                maxiter=max(1, cap // max(5, spec.popsize * k)), polish=False, atol=spec.ftol,
                init="latinhypercube", updating="immediate")
    except _BudgetSpent:
        return False, (f"stopped at max_evaluations ({spec.max_evaluations}) before "
                       f"{spec.method} converged")
    return bool(res.success), str(res.message)


def calibrate(spec: CalibrationSpec, base_scenario: Scenario, workers: int = 1,
              progress: Progress | None = None) -> Fit:
    """Fit ``spec``'s parameters on ``base_scenario`` (the spec's ``set`` already applied).

    ``workers`` > 1 runs an evaluation's seeds in that many processes; the fit is the same
    whatever the count. Raises ``CalibrationError`` for a target key the summary lacks, a
    failed run, or a search in which no point could be evaluated."""
    if workers < 1:
        raise CalibrationError("workers: at least 1")
    n_proc = min(workers, len(spec.seeds))
    pool = ProcessPoolExecutor(max_workers=n_proc) if n_proc > 1 else None
    try:
        f = _Evaluator(spec, base_scenario, pool, progress)
        success, message = _search(spec, f)
    finally:
        if pool is not None:
            pool.shutdown(cancel_futures=True)
    records = f.records
    scores = [r["objective"] for r in records]
    best = int(np.argmin(scores))
    if records[best]["per_seed"] is None:
        raise CalibrationError(f"no evaluated point gave a valid scenario; the first problem: "
                               f"{records[0]['error']}")
    top = records[best]
    fitted = base_scenario.with_overrides(top["assignments"])
    return Fit(spec=spec, base=base_scenario, fitted=fitted, assignments=top["assignments"],
               parameters=_parameter_rows(spec, top["values"]),
               targets=_target_rows(spec, top["per_seed"]), objective=float(top["objective"]),
               evaluations=len(records), calls=f.calls, success=success, message=message,
               history=_history(spec, records), best=best,
               per_seed={t.name: list(v) for t, v in zip(spec.targets, top["per_seed"],
                                                          strict=True)})


def _parameter_rows(spec: CalibrationSpec, values: tuple) -> list[dict[str, Any]]:
    rows = []
    for p, v in zip(spec.parameters, values, strict=True):
        u = p.unit(v)
        hit = "low" if u <= BOUND_SHARE else "high" if u >= 1 - BOUND_SHARE else ""
        rows.append({"path": p.path, "value": v, "low": p.low, "high": p.high, "log": p.log,
                     "integer": p.integer, "at_bound": hit})
    return rows


def _target_rows(spec: CalibrationSpec, per_seed: list[list[float]]) -> list[dict[str, Any]]:
    rows = []
    for t, values in zip(spec.targets, per_seed, strict=True):
        mean, sd, half = mean_ci(values)
        error = mean - t.value if t.value == 0 else mean / t.value - 1.0
        rows.append({"name": t.name, "metric": t.metric,
                     "ratio": list(t.ratio) if t.ratio else None, "value": t.value,
                     "weight": t.weight, "mean": mean, "sd": sd, "n": len(values),
                     "ci_low": mean - half, "ci_high": mean + half, "half_width": half,
                     "error": error, "relative": t.value != 0})
    return rows


def _history(spec: CalibrationSpec, records: list[dict[str, Any]]) -> pd.DataFrame:
    """One row per evaluation, in the order they ran (columns preallocated, not dicts)."""
    n = len(records)
    data: dict[str, Any] = {"evaluation": np.arange(1, n + 1)}
    for i, p in enumerate(spec.parameters):
        column = [r["values"][i] for r in records]
        data[f"param:{p.path}"] = np.array(column, dtype=np.int64 if p.integer else float)
    for j, t in enumerate(spec.targets):
        data[f"mean:{t.name}"] = np.array([r["means"][j] for r in records], dtype=float)
    scores = np.array([r["objective"] for r in records], dtype=float)
    data["objective"] = scores
    data["best_so_far"] = np.minimum.accumulate(scores) if n else scores
    data["error"] = [r["error"] for r in records]
    return pd.DataFrame(data)
