"""Running a sweep: every planned run not already complete, resumable, failure tolerant.

The sweep folder::

    sweep.yaml        the sweep as given (written once)
    manifest.json     run_key -> {status, cell, variant, replication, seed, axes, error,
                      traceback, summary}; rewritten atomically after a finished run at
                      most every MANIFEST_EVERY_S seconds, and whenever the sweep stops
                      (a sweep killed outright reruns the runs of its last few seconds)
    runs/<run_key>/   each run's folder (RunResult.save, without charts and GraphML copies,
                      plus haircuts.parquet: one row per deleveraged account)
    runs.parquet      one row per planned run, in plan order (written atomically at the end)
    statistics.parquet  per cell, variant and metric: mean, bootstrap CI, paired difference
                      against the first variant (``stats.cell_statistics``)
    scorecard.parquet, scorecard.md  per cell and variant: probabilities with Wilson
                      intervals, bad-debt tails, slippage (``scorecard.scorecard``)

A rerun skips the run keys the manifest lists as ``complete``; their rows come from the
manifest, and so do the fresh runs' rows, so ``runs.parquet`` is the same whatever the worker
count and however often the sweep was interrupted. A run that raises becomes a ``failed``
entry with its error and traceback, and the sweep goes on. ``execute`` without a folder runs
the same plan in memory (nothing written, nothing resumed): what ``compare`` does when not
given one. This module knows plans, ``run`` and run folders; it must not know simulation
objects, nor draw charts or reports.
"""

from __future__ import annotations

import json
import time
import traceback
from collections.abc import Callable, Iterator
from concurrent.futures import Executor, ProcessPoolExecutor, as_completed
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from simulator.config.scenario import Scenario, ScenarioError, parse_scenario
from simulator.errors import RunFailed
from simulator.run.adl_fairness import adl_haircuts, fairness_metrics
from simulator.run.result import json_safe, stored_figures, write_atomic, write_json
from simulator.run.runner import run
from simulator.sweep.plan import RunSpec, plan
from simulator.sweep.scorecard import scorecard, write_scorecard
from simulator.sweep.spec import BASE_FILE, SweepSpec, base_yaml, sweep_yaml
from simulator.sweep.stats import cell_statistics

__all__ = ["ID_COLUMNS", "Executed", "Progress", "execute", "load_manifest", "resume_counts",
           "run_one", "run_sweep"]

Progress = Callable[[int, int, int], None]  # (runs finished, runs to do, failures so far)
Finished = Callable[[RunSpec, dict[str, Any]], None]  # (the run, its outcome) as each ends
ID_COLUMNS = ("cell", "variant", "replication", "seed", "run_key", "status", "error")
MANIFEST = "manifest.json"
# Rewriting the whole manifest after every run made a sweep quadratic in its runs (at 1,000
# runs each rewrite takes ~0.2 s of the parent's CPU, beside the workers).
MANIFEST_EVERY_S = 2.0
HAIRCUTS = "haircuts.parquet"


def run_one(scenario: Scenario | dict[str, Any], seed: int,
            run_dir: str | Path | None) -> dict[str, Any]:
    """One run (module level: it runs in worker processes): simulate, save the run folder
    (unless ``run_dir`` is None), return ``{status, error, traceback, summary, seconds,
    haircuts}`` (``haircuts``: a frame, one row per deleveraged account). Never raises."""
    t0 = time.perf_counter()
    result, status, error, tb = None, "complete", None, None
    haircuts = adl_haircuts(None)
    try:
        # A Scenario object runs as given (exact, no re-validation); a dict is parsed first.
        sc = scenario if isinstance(scenario, Scenario) else parse_scenario(scenario)
        result = run(sc, seed)
        status, error = result.meta.get("status", "complete"), result.meta.get("error")
    except Exception as exc:  # a failure is data about the cell, not a reason to stop
        status, error, tb = "failed", f"{type(exc).__name__}: {exc}", traceback.format_exc()
        if isinstance(exc, RunFailed):
            result = exc.result  # what was recorded until it broke
    summary: dict[str, Any] = {}
    if result is not None:
        haircuts = adl_haircuts(result.events)
        if run_dir is not None:
            try:
                result.save(run_dir, graphs=False)
                write_atomic(Path(run_dir) / HAIRCUTS,
                             lambda p: haircuts.to_parquet(p, index=False))
            except Exception as exc:  # a run we cannot store is not complete
                status, error = "failed", f"{type(exc).__name__}: {exc}"
                tb = traceback.format_exc()
        summary = dict(result.summary)
        # The fairness of ADL haircuts; the simulator's own keys win.
        for key, value in fairness_metrics(haircuts).items():
            summary.setdefault(key, value)
    # Through JSON's types now, so fresh rows equal the rows a rerun reads from the manifest.
    outcome = json_safe({"status": status, "error": error, "traceback": tb, "summary": summary,
                         "seconds": time.perf_counter() - t0})
    return {**outcome, "haircuts": haircuts}


def load_manifest(out_dir: str | Path) -> dict[str, dict[str, Any]]:
    path = Path(out_dir) / MANIFEST
    if not path.exists():
        return {}
    return json.loads(path.read_text())


@dataclass(frozen=True, eq=False)
class Executed:
    """What ``execute`` did: the runs table, and how many planned runs it skipped (complete in
    the folder's manifest) and ran. ``haircuts`` (with ``want_haircuts``): one row per
    deleveraged account per complete run, with its ``variant``, ``replication``, ``seed``.
    ``manifest``: run_key -> entry, as in the folder (wall ``seconds`` among its fields)."""

    runs: pd.DataFrame
    skipped: int
    ran: int
    manifest: dict[str, dict[str, Any]]
    haircuts: pd.DataFrame | None = None


def resume_counts(runs: list[RunSpec], out_dir: str | Path | None) -> tuple[int, int]:
    """(planned runs already complete in ``out_dir``'s manifest, runs left to do). Identical
    (scenario, seed) pairs share one key and run once."""
    manifest = load_manifest(out_dir) if out_dir is not None else {}
    skipped = sum(manifest.get(r.run_key, {}).get("status") == "complete" for r in runs)
    todo = {r.run_key for r in runs if manifest.get(r.run_key, {}).get("status") != "complete"}
    return skipped, len(todo)


def run_sweep(spec: SweepSpec, out_dir: str | Path, workers: int = 1,
              progress: Progress | None = None, scheduler: str | None = None,
              dask_local: bool = False) -> pd.DataFrame:
    """Run every planned run of ``spec`` that is not ``complete`` in ``out_dir``'s manifest
    and return the runs table, also written to ``out_dir/runs.parquet``. Backends: in this
    process; ``workers > 1``: a local process pool; ``scheduler``: the Dask cluster at that
    address; ``dask_local``: a local Dask cluster of ``workers`` processes. The table is the
    same whatever the backend. Raises ``ScenarioError`` before running anything if a cell's
    scenario is invalid. ``progress(done, total, failures)`` counts this call's runs."""
    return execute(spec, out_dir, workers, progress, scheduler, dask_local).runs


def execute(spec: SweepSpec, out_dir: str | Path | None, workers: int = 1,
            progress: Progress | None = None, scheduler: str | None = None,
            dask_local: bool = False, on_run: Finished | None = None,
            want_haircuts: bool = False) -> Executed:
    """``run_sweep``, also without a folder (``out_dir=None``: in memory, nothing skipped),
    reporting each finished run to ``on_run(run, outcome)`` and, with ``want_haircuts``,
    collecting the ADL haircuts of the complete runs (fresh, or from their run folders)."""
    runs = plan(spec)  # every scenario validated before the first run
    out = Path(out_dir) if out_dir is not None else None
    if out is not None:
        _start_folder(spec, out)
    manifest = load_manifest(out) if out is not None else {}
    todo: dict[str, RunSpec] = {}
    for r in runs:  # identical (scenario, seed) pairs share one key: run it once
        if manifest.get(r.run_key, {}).get("status") != "complete":
            todo.setdefault(r.run_key, r)
    skipped = sum(r.run_key not in todo for r in runs)
    fresh: dict[str, pd.DataFrame] = {}
    done = failures = 0
    written = time.monotonic()

    def save_manifest(now: float | None = None) -> None:
        nonlocal written
        if out is not None and (now is None or now - written >= MANIFEST_EVERY_S):
            write_json(out / MANIFEST, manifest)
            written = time.monotonic()

    def finish(r: RunSpec, outcome: dict[str, Any]) -> None:
        nonlocal done, failures
        manifest[r.run_key] = {"status": outcome["status"], "cell": r.cell,
                               "variant": r.variant, "replication": r.replication,
                               "seed": r.seed, "axes": r.axes, "error": outcome["error"],
                               "traceback": outcome["traceback"],
                               "summary": outcome["summary"],
                               "seconds": outcome.get("seconds")}
        save_manifest(time.monotonic())
        if want_haircuts:
            fresh[r.run_key] = outcome.get("haircuts", adl_haircuts(None))
        done += 1
        failures += outcome["status"] != "complete"
        if on_run is not None:
            on_run(r, outcome)
        if progress is not None:
            progress(done, len(todo), failures)

    try:
        if scheduler is not None or dask_local:
            with dask_executor(scheduler, workers) as pool:
                _run_on(pool, todo, out, finish)
        elif workers <= 1 or len(todo) <= 1:
            for r in todo.values():
                finish(r, run_one(r.scenario, r.seed, _run_dir(out, r)))
        else:
            with ProcessPoolExecutor(max_workers=min(workers, len(todo))) as pool:
                _run_on(pool, todo, out, finish)
    finally:
        save_manifest()  # whatever stopped the loop: every finished run is in the manifest
    frame = runs_frame(runs, manifest)
    if out is not None:
        write_atomic(out / "runs.parquet", lambda p: frame.to_parquet(p, index=False))
        if frame["status"].eq("complete").any():
            stats = cell_statistics(frame)
            write_atomic(out / "statistics.parquet",
                         lambda p: stats.to_parquet(p, index=False))
            write_scorecard(out, scorecard(frame))
    haircuts = haircuts_frame(runs, manifest, fresh, out) if want_haircuts else None
    return Executed(frame, skipped, len(todo), manifest, haircuts)


def _start_folder(spec: SweepSpec, out: Path) -> None:
    """The folder, its run folders' parent, and the sweep as given (written once)."""
    (out / "runs").mkdir(parents=True, exist_ok=True)
    if not (out / "sweep.yaml").exists():
        text, base = sweep_yaml(spec), base_yaml(spec)
        if base is not None:
            write_atomic(out / BASE_FILE, lambda p: Path(p).write_text(base))
        write_atomic(out / "sweep.yaml", lambda p: Path(p).write_text(text))


def _run_dir(out: Path | None, r: RunSpec) -> str | None:
    return None if out is None else str(out / "runs" / r.run_key)


def haircuts_frame(runs: list[RunSpec], manifest: dict[str, dict[str, Any]],
                   fresh: dict[str, pd.DataFrame], out: Path | None) -> pd.DataFrame:
    """The ADL haircuts of every complete planned run, in plan order, with ``variant``,
    ``replication`` and ``seed`` first: this call's from memory, earlier ones from their run
    folders (``haircuts.parquet``, else recomputed from ``events.parquet``)."""
    empty = adl_haircuts(None)
    cols = ["variant", "replication", "seed", *empty.columns]
    parts = []
    for r in runs:
        if manifest[r.run_key]["status"] != "complete":
            continue
        cuts = fresh.get(r.run_key)
        if cuts is None and out is not None:
            folder = out / "runs" / r.run_key
            if (folder / HAIRCUTS).exists():
                cuts = pd.read_parquet(folder / HAIRCUTS)
            elif (folder / "events.parquet").exists():
                cuts = adl_haircuts(pd.read_parquet(folder / "events.parquet"))
        if cuts is not None and not cuts.empty:
            parts.append(cuts.assign(variant=r.variant, replication=r.replication,
                                     seed=r.seed)[cols])
    if parts:
        return pd.concat(parts, ignore_index=True)
    return empty.assign(variant=pd.Series(dtype=object), replication=pd.Series(dtype="int64"),
                        seed=pd.Series(dtype="int64"))[cols]


def _run_on(pool: Executor, todo: dict[str, RunSpec], out: Path | None,
            finish: Finished) -> None:
    """Submit every run to ``pool`` (a process pool or a Dask client's executor) and record
    each as it finishes. Each task is ``run_one(scenario, seed, run_dir)`` with the run's own
    seed, so where it runs cannot change what it computes. The scenario travels pickled:
    exact, and it avoids re-validating (re-reading data files) in the worker."""
    futures = {pool.submit(run_one, r.scenario, r.seed, _run_dir(out, r)): r
               for r in todo.values()}
    for future in as_completed(futures):
        try:
            outcome = future.result()
        except Exception as exc:  # the worker itself died (e.g. out of memory)
            outcome = {"status": "failed", "error": f"{type(exc).__name__}: {exc}",
                       "traceback": traceback.format_exc(), "summary": {}, "seconds": None}
        finish(futures[future], outcome)


@contextmanager
def dask_executor(scheduler: str | None, workers: int) -> Iterator[Executor]:
    """A ``concurrent.futures`` executor on a Dask cluster: the one at ``scheduler``, or a
    local one of ``workers`` single-threaded processes. Run folders are written by the
    workers, so a remote cluster needs the sweep folder on a shared file system."""
    try:
        from distributed import Client, LocalCluster
    except ImportError:
        raise ScenarioError("Dask is not installed: pip install -e '.[dask]'") from None
    if scheduler is not None:
        with Client(scheduler) as client:
            yield client.get_executor()
        return
    with LocalCluster(n_workers=max(workers, 1), threads_per_worker=1, processes=True,
                      dashboard_address=None) as cluster, Client(cluster) as client:
        yield client.get_executor()


def runs_frame(runs: list[RunSpec], manifest: dict[str, dict[str, Any]]) -> pd.DataFrame:
    """One row per planned run, in plan order: axis columns (named by path), the ids, then
    every summary metric (in order of first appearance)."""
    axis_cols = list(dict.fromkeys(p for r in runs for p in r.axes))
    rows = []
    for r in runs:
        entry = manifest[r.run_key]
        summary = stored_figures(entry["summary"])
        rows.append({**r.axes, "cell": r.cell, "variant": r.variant,
                     "replication": r.replication, "seed": r.seed, "run_key": r.run_key,
                     "status": entry["status"], "error": entry["error"], **summary})
    frame = pd.DataFrame(rows)
    metric_cols = [c for c in frame.columns if c not in axis_cols and c not in ID_COLUMNS]
    frame = frame[axis_cols + list(ID_COLUMNS) + metric_cols]
    for col in axis_cols:
        # Parquet columns hold one type: mappings and lists (e.g. a leverage mix) become
        # canonical JSON, mixed scalars (e.g. 0.1 and "-10%") text.
        if any(isinstance(v, dict | list) for v in frame[col]):
            frame[col] = frame[col].map(lambda v: json.dumps(v, sort_keys=True))
        elif len({type(v) for v in frame[col]}) > 1 and not _numeric(frame[col]):
            frame[col] = frame[col].map(str)
    frame["error"] = frame["error"].astype(object)
    # A generation absent from a complete run's summary had no liquidations: 0, not missing.
    gen_cols = [c for c in metric_cols if c.startswith("generation.")]
    complete = frame["status"] == "complete"
    frame.loc[complete, gen_cols] = frame.loc[complete, gen_cols].fillna(0)
    return frame


def _numeric(col: pd.Series) -> bool:
    return all(isinstance(v, int | float | np.number) and not isinstance(v, bool) for v in col)
