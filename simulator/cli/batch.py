"""The batch commands: ``sweep`` (a sweep file's grid) and ``compare`` (one scenario under
several mechanism variants with common seeds). Both run on the sweep's plan and executor,
resume what is complete in their folder and say how many runs they skip.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

from simulator.cli import checks
from simulator.cli.common import NoMemoryCheck, app, console, err, fail, resolve_scenario
from simulator.cli.summary import rich_table
from simulator.config import ScenarioError


@app.command()
def sweep(
    file: Annotated[Path, typer.Argument(help="Sweep file (YAML).")],
    workers: Annotated[int, typer.Option(help="Runs in parallel (processes).")] = 1,
    out: Annotated[Path | None, typer.Option(
        help="Sweep folder (default: results/sweeps/<name>).")] = None,
    scheduler: Annotated[str | None, typer.Option(
        help="Run on the Dask cluster at this address (e.g. tcp://host:8786).")] = None,
    dask_local: Annotated[bool, typer.Option(
        "--dask-local", help="Run on a local Dask cluster of --workers processes.")] = False,
    no_memory_check: NoMemoryCheck = False,
) -> None:
    """Run a sweep file: every cell x variant x replication, resuming what is complete.

    One row per run in runs.parquet. A run that fails is recorded and the sweep goes on.
    """
    from simulator.sweep import load_sweep, plan, run_sweep
    from simulator.sweep.execute import resume_counts

    if workers < 1:
        raise fail("--workers: at least 1")
    try:
        checks.expect_kind(file, "sweep")
        spec = load_sweep(file)
        planned = plan(spec)  # validates every cell's scenario before anything runs
        if not (no_memory_check or scheduler):  # a remote cluster's memory is not ours
            checks.check_sweep_memory([r.scenario for r in planned], min(workers, len(planned)))
    except ScenarioError as exc:
        raise fail(str(exc)) from None
    folder = out or Path("results") / "sweeps" / spec.name
    skipped, to_run = resume_counts(planned, folder)
    console.print(f"[bold]{spec.name}[/]: {len(planned)} runs; {skipped} already complete "
                  f"(skipped), {to_run} to run, {workers} worker(s)", highlight=False)
    columns = (TextColumn("runs"), BarColumn(), TextColumn("{task.completed}/{task.total}"),
               TextColumn("{task.fields[failed]} failed"), TimeRemainingColumn())
    with Progress(*columns, console=err, transient=True) as bar:
        task = bar.add_task("sweep", total=None, failed=0)

        def progress(done: int, todo: int, failures: int) -> None:
            bar.update(task, completed=done, total=todo, failed=failures)

        try:
            frame = run_sweep(spec, folder, workers=workers, progress=progress,
                              scheduler=scheduler, dask_local=dask_local)
        except ScenarioError as exc:  # e.g. Dask asked for but not installed
            raise fail(str(exc)) from None
    failed = _failed(frame)
    _risk_statements(frame, folder)
    console.print(f"{len(frame)} runs, {failed} failed; results in "
                  f"[bold]{folder / 'runs.parquet'}[/]", highlight=False)
    _exit_if_failed(failed, len(frame), folder)


@app.command()
def compare(
    scenario: Annotated[str | None, typer.Argument(
        help="Scenario file (YAML/JSON) or built-in name; default: the built-in default.")] = None,
    preset: Annotated[list[str] | None, typer.Option(
        "--preset", help="A variant: this venue's mechanism preset on every venue "
                         "(repeatable), e.g. binance.")] = None,
    variant: Annotated[list[str] | None, typer.Option(
        "--variant", help="A variant by an override: NAME=path.to.field=value (repeatable; "
                          "repeat NAME for several overrides; NAME alone: unchanged).")] = None,
    seeds: Annotated[int, typer.Option(help="Seeds per variant, the same for every variant.")]
    = 10,
    seed_start: Annotated[int, typer.Option(help="First seed.")] = 0,
    workers: Annotated[int, typer.Option(help="Runs in parallel (processes).")] = 1,
    out: Annotated[Path | None, typer.Option(
        help="Comparison folder (default: results/compare/<scenario>).")] = None,
    set_: Annotated[list[str] | None, typer.Option(
        "--set", help="Override a field of the base scenario: path=value (repeatable).")] = None,
    scheduler: Annotated[str | None, typer.Option(
        help="Run on the Dask cluster at this address (e.g. tcp://host:8786).")] = None,
    dask_local: Annotated[bool, typer.Option(
        "--dask-local", help="Run on a local Dask cluster of --workers processes.")] = False,
) -> None:
    """Compare mechanisms: the scenario under each variant, with the same seeds.

    Common random numbers: every variant sees the same seeds. Writes a sweep folder
    (manifest, runs.parquet, statistics, summary.md) and prints means with confidence
    intervals and paired differences against the first variant. A rerun into the same folder
    runs only what is not complete.
    """
    from simulator.report.tables import means_table
    from simulator.sweep.compare import (
        ADL_METRICS,
        DEFAULT_METRICS,
        comparison_spec,
        variants_from_options,
    )
    from simulator.sweep.compare import compare as run_comparison
    from simulator.sweep.execute import resume_counts
    from simulator.sweep.plan import plan
    from simulator.sweep.stats import available_metrics, summarize

    if workers < 1 or seeds < 1 or seed_start < 0:
        raise fail("--seeds and --workers: at least 1; --seed-start: at least 0")
    seed_list = list(range(seed_start, seed_start + seeds))
    try:
        base = resolve_scenario(scenario)
        if set_:
            base = base.with_overrides(set_)
        variants = variants_from_options(preset or [], variant or [])
        if not variants:
            raise ScenarioError("nothing to compare: give --preset or --variant")
        spec = comparison_spec(base, variants, seed_list)
        runs = plan(spec)  # every variant's scenario validated before anything runs
    except (ScenarioError, ValueError) as exc:  # ScenarioError is a ValueError
        raise fail(str(exc)) from None
    folder = out or Path("results") / "compare" / spec.name
    skipped, to_run = resume_counts(runs, folder)
    console.print(f"[bold]{escape(base.name)}[/]: {len(variants)} variants x {seeds} seeds = "
                  f"{len(runs)} runs; {skipped} already complete (skipped), {to_run} to run, "
                  f"{workers} worker(s)", highlight=False)
    columns = (TextColumn("runs"), BarColumn(), TextColumn("{task.completed}/{task.total}"),
               TimeRemainingColumn())
    with Progress(*columns, console=err, transient=True) as bar:
        task = bar.add_task("compare", total=to_run or None)

        def progress(done: int, todo: int) -> None:
            bar.update(task, completed=done, total=todo)

        try:
            result = run_comparison(base, variants, seed_list, workers=workers,
                                    progress=progress, out_dir=folder, scheduler=scheduler,
                                    dask_local=dask_local)
        except ScenarioError as exc:  # e.g. Dask asked for but not installed
            raise fail(str(exc)) from None
    failed = _failed(result.runs)
    if failed < len(result.runs):
        metrics = available_metrics(result.runs, DEFAULT_METRICS + ADL_METRICS)
        summary = summarize(result.runs, metrics, result.baseline)
        console.print(rich_table(means_table(summary, result.baseline)))
        _risk_statements(result.runs, folder)
    console.print(f"{len(result.runs)} runs ({result.skipped} skipped, {result.ran} run), "
                  f"{failed} failed; results in [bold]{folder}[/]", highlight=False)
    _exit_if_failed(failed, len(result.runs), folder)


MAX_STATEMENTS = 30  # the console shows this many scorecard claims; scorecard.md has them all


def _risk_statements(runs, folder: Path) -> None:
    """What the risk scorecard's intervals support (``simulator.sweep.scorecard``)."""
    from simulator.sweep.scorecard import scorecard, statements

    if not (runs["status"] == "complete").any():
        return
    said = statements(scorecard(runs))
    console.print("[bold]Risk scorecard[/] (95% Wilson intervals):", highlight=False)
    for line in said[:MAX_STATEMENTS]:
        console.print(f"  {escape(line)}", highlight=False)
    if len(said) > MAX_STATEMENTS:
        console.print(f"  ... {len(said) - MAX_STATEMENTS} more in "
                      f"{escape(str(folder / 'scorecard.md'))}", highlight=False)


def _failed(runs) -> int:
    """How many rows of a sweep's runs table did not complete."""
    return int((runs["status"] != "complete").sum())


def _exit_if_failed(failed: int, total: int, folder: Path) -> None:
    """Exit 1 when some runs failed, saying where their errors are."""
    if failed:
        raise fail(f"{failed} of {total} runs failed (errors in {folder / 'manifest.json'} "
                   "and runs.parquet)", 1)
