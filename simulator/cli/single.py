"""The commands about one run: ``run`` (simulate and write a results folder), ``validate``
(check a scenario or sweep file) and ``show`` (print a stored run's summary).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

from simulator.cli import checks
from simulator.cli.common import (
    NoMemoryCheck,
    ScenarioArg,
    SeedOption,
    SetOption,
    app,
    chosen_scenario,
    console,
    err,
    fail,
    run_id,
)
from simulator.cli.summary import print_summary
from simulator.config import ScenarioError, load_scenario
from simulator.errors import RunFailed
from simulator.run.epoch import parse_epoch
from simulator.run.provenance import run_label
from simulator.run.result import RunResult
from simulator.run.runner import run as run_scenario


@app.command()
def run(
    scenario: ScenarioArg = None,
    seed: SeedOption = None,
    out: Annotated[Path | None, typer.Option(
        help="Run folder (default: results/<scenario>/<run-id>).")] = None,
    set_: SetOption = None,
    check: Annotated[bool, typer.Option(
        "--check", help="Assert the model's invariants during the run.")] = False,
    figures: Annotated[bool, typer.Option(help="Write the charts (PNG and PDF).")] = True,
    no_memory_check: NoMemoryCheck = False,
) -> None:
    """Run a scenario and write its results folder: tables, summary and charts."""
    sc, seed = chosen_scenario(scenario, set_, seed)
    if not no_memory_check:
        try:
            checks.check_memory(sc)
        except ScenarioError as exc:
            raise fail(str(exc)) from None
    label = run_label(sc.to_dict(), set_ or ())
    folder = out or Path("results") / sc.name / run_id(sc, seed, label)
    console.print(f"[bold]{escape(label)}[/] seed {seed}", highlight=False)
    columns = (TextColumn("simulating"), BarColumn(), TextColumn("{task.fields[clock]}"),
               TimeRemainingColumn())
    code = 0
    with Progress(*columns, console=err, transient=True) as bar:
        task = bar.add_task("run", total=sc.duration, clock="")

        def progress(done: int, total: int) -> None:
            clock = f"{done / 60_000:.1f} / {total / 60_000:.1f} min"
            bar.update(task, completed=done, clock=clock)

        try:
            result = run_scenario(sc, seed, check=check, progress=progress)
        except RunFailed as exc:
            result, code = exc.result, 1
        except MemoryError:
            raise fail("the run ran out of memory (lower the account counts, or see what "
                       "`liqsim validate` estimates)") from None
    if not result.ok:
        code = 1
    result.meta["label"] = label
    result.save(folder)
    if figures:
        from simulator.charts.run import write_figures

        write_figures(result.events, result.timeseries, result.summary, folder / "figures",
                      title=label)
    print_summary(result.summary, f"{sc.name} (seed {seed})")
    epoch = parse_epoch(result.meta.get("epoch_utc"))
    if epoch is not None:  # a replay: run time 0 on the UTC clock
        console.print(f"replay starts {epoch:%Y-%m-%d %H:%M} UTC", highlight=False)
    timings = result.meta.get("timings", {})
    seconds = timings.get("simulate_s", 0.0)
    console.print(f"simulated {sc.duration / 60_000:g} min in {seconds:.2f} s; "
                  f"results in [bold]{folder}[/]", highlight=False)
    if code:
        raise fail(f"the run stopped early: {result.meta.get('error')} "
                   f"(what it recorded is in {folder})", code)


@app.command()
def validate(
    file: Annotated[Path, typer.Argument(help="Scenario or sweep file (YAML/JSON).")],
    no_memory_check: NoMemoryCheck = False,
) -> None:
    """Check a scenario or sweep file; print what it describes, or what is wrong with it."""
    try:
        if checks.file_kind(file) == "sweep":
            console.print(checks.describe_sweep(file, not no_memory_check), highlight=False)
            return
        sc = load_scenario(file)
        if not no_memory_check:
            checks.check_memory(sc)
    except ScenarioError as exc:
        raise fail(str(exc)) from None
    markets = sum(len(v.markets) for v in sc.venues)
    accounts = len(sc.accounts) + sum(p.count for p in sc.populations)
    console.print(f"ok: {sc.name}: {len(sc.assets)} assets, {len(sc.venues)} venues, "
                  f"{markets} markets, {accounts:,} accounts, {len(sc.shocks)} shocks, "
                  f"{sc.duration / 60_000:g} min", highlight=False)


@app.command()
def show(folder: Annotated[Path, typer.Argument(help="A run folder written by `liqsim run`.")],
         ) -> None:
    """Print the summary of a stored run."""
    try:
        result = RunResult.load(folder)
    except (OSError, ValueError) as exc:
        raise fail(f"cannot read run folder {folder}: {exc}") from None
    label = result.meta.get("label") or run_label(result.meta.get("scenario", {}))
    console.print(f"[bold]{escape(label)}[/] seed {result.meta.get('seed')}", highlight=False)
    print_summary(result.summary, str(folder))
