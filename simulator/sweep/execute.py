"""Running a sweep: every planned run not already complete, resumable, failure tolerant.

The sweep folder::

    sweep.yaml        the sweep as given (written once)
    manifest.json     run_key -> {status, cell, variant, replication, seed, axes, error,
                      traceback, summary}; rewritten atomically after every finished run
    runs/<run_key>/   each run's folder (RunResult.save, without charts and GraphML copies)
    runs.parquet      one row per planned run, in plan order (written atomically at the end)
    statistics.parquet  per cell, variant and metric: mean, bootstrap CI, paired difference
                      against the first variant (``stats.cell_statistics``)

A rerun skips the run keys the manifest lists as ``complete``; their rows come from the
manifest, and so do the fresh runs' rows, so ``runs.parquet`` is the same whatever the worker
count and however often the sweep was interrupted. A run that raises becomes a ``failed``
entry with its error and traceback, and the sweep goes on. This module knows plans, ``run``
and run folders; it must not know simulation objects, nor draw charts or reports.
"""

from __future__ import annotations

import json
import traceback
from collections.abc import Callable, Iterator
from concurrent.futures import Executor, ProcessPoolExecutor, as_completed
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from simulator.config.scenario import ScenarioError, parse_scenario
from simulator.errors import RunFailed
from simulator.run.adl_fairness import adl_haircuts, fairness_metrics
from simulator.run.result import json_safe, stored_figures, write_atomic, write_json
from simulator.run.runner import run
from simulator.sweep.plan import RunSpec, plan
from simulator.sweep.spec import SweepSpec, sweep_yaml
from simulator.sweep.stats import cell_statistics

__all__ = ["ID_COLUMNS", "Progress", "load_manifest", "run_one", "run_sweep"]

Progress = Callable[[int, int, int], None]  # (runs finished, runs to do, failures so far)
ID_COLUMNS = ("cell", "variant", "replication", "seed", "run_key", "status", "error")
MANIFEST = "manifest.json"


def run_one(scenario_dict: dict[str, Any], seed: int, run_dir: str | Path) -> dict[str, Any]:
    """One run (module level: it runs in worker processes): simulate, save the run folder,
    return ``{status, error, traceback, summary}``. Never raises."""
    result, status, error, tb = None, "complete", None, None
    try:
        result = run(parse_scenario(scenario_dict), seed)
        status, error = result.meta.get("status", "complete"), result.meta.get("error")
    except Exception as exc:  # a failure is data about the cell, not a reason to stop
        status, error, tb = "failed", f"{type(exc).__name__}: {exc}", traceback.format_exc()
        if isinstance(exc, RunFailed):
            result = exc.result  # what was recorded until it broke
    summary: dict[str, Any] = {}
    if result is not None:
        try:
            result.save(run_dir, graphs=False)
        except Exception as exc:  # a run we cannot store is not complete
            status, error, tb = "failed", f"{type(exc).__name__}: {exc}", traceback.format_exc()
        summary = dict(result.summary)
        # As compare does: the fairness of ADL haircuts; the simulator's own keys win.
        for key, value in fairness_metrics(adl_haircuts(result.events)).items():
            summary.setdefault(key, value)
    # Through JSON's types now, so fresh rows equal the rows a rerun reads from the manifest.
    return json_safe({"status": status, "error": error, "traceback": tb, "summary": summary})


def load_manifest(out_dir: str | Path) -> dict[str, dict[str, Any]]:
    path = Path(out_dir) / MANIFEST
    if not path.exists():
        return {}
    return json.loads(path.read_text())


def run_sweep(spec: SweepSpec, out_dir: str | Path, workers: int = 1,
              progress: Progress | None = None, scheduler: str | None = None,
              dask_local: bool = False) -> pd.DataFrame:
    """Run every planned run of ``spec`` that is not ``complete`` in ``out_dir``'s manifest
    and return the runs table, also written to ``out_dir/runs.parquet``. Backends: in this
    process; ``workers > 1``: a local process pool; ``scheduler``: the Dask cluster at that
    address; ``dask_local``: a local Dask cluster of ``workers`` processes. The table is the
    same whatever the backend. Raises ``ScenarioError`` before running anything if a cell's
    scenario is invalid. ``progress(done, total, failures)`` counts this call's runs."""
    runs = plan(spec)  # every scenario validated before the first run
    out = Path(out_dir)
    (out / "runs").mkdir(parents=True, exist_ok=True)
    if not (out / "sweep.yaml").exists():
        text = sweep_yaml(spec)
        write_atomic(out / "sweep.yaml", lambda p: Path(p).write_text(text))
    manifest = load_manifest(out)
    todo: dict[str, RunSpec] = {}
    for r in runs:  # identical (scenario, seed) pairs share one key: run it once
        if manifest.get(r.run_key, {}).get("status") != "complete":
            todo.setdefault(r.run_key, r)
    done = failures = 0

    def finish(r: RunSpec, outcome: dict[str, Any]) -> None:
        nonlocal done, failures
        manifest[r.run_key] = {"status": outcome["status"], "cell": r.cell,
                               "variant": r.variant, "replication": r.replication,
                               "seed": r.seed, "axes": r.axes, "error": outcome["error"],
                               "traceback": outcome["traceback"],
                               "summary": outcome["summary"]}
        write_json(out / MANIFEST, manifest)
        done += 1
        failures += outcome["status"] != "complete"
        if progress is not None:
            progress(done, len(todo), failures)

    if scheduler is not None or dask_local:
        with dask_executor(scheduler, workers) as pool:
            _run_on(pool, todo, out, finish)
    elif workers <= 1 or len(todo) <= 1:
        for r in todo.values():
            finish(r, run_one(r.scenario.to_dict(), r.seed, out / "runs" / r.run_key))
    else:
        with ProcessPoolExecutor(max_workers=min(workers, len(todo))) as pool:
            _run_on(pool, todo, out, finish)
    frame = runs_frame(runs, manifest)
    write_atomic(out / "runs.parquet", lambda p: frame.to_parquet(p, index=False))
    if frame["status"].eq("complete").any():
        stats = cell_statistics(frame)
        write_atomic(out / "statistics.parquet", lambda p: stats.to_parquet(p, index=False))
    return frame


def _run_on(pool: Executor, todo: dict[str, RunSpec], out: Path,
            finish: Callable[[RunSpec, dict[str, Any]], None]) -> None:
    """Submit every run to ``pool`` (a process pool or a Dask client's executor) and record
    each as it finishes. Each task is ``run_one(scenario, seed, run_dir)`` with the run's own
    seed, so where it runs cannot change what it computes."""
    futures = {pool.submit(run_one, r.scenario.to_dict(), r.seed, str(out / "runs" / r.run_key)):
               r for r in todo.values()}
    for future in as_completed(futures):
        try:
            outcome = future.result()
        except Exception as exc:  # the worker itself died (e.g. out of memory)
            outcome = {"status": "failed", "error": f"{type(exc).__name__}: {exc}",
                       "traceback": traceback.format_exc(), "summary": {}}
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
