"""The ``liqsim`` command line: run, validate, scenarios, show, runs, sweep, compare, report.

Bad input (an unknown key, a wrong type, an impossible value, an unreadable file) gets one
readable message naming the field path and exit code 2, never a traceback. A run that stops
early still writes what it had and says why (exit code 1).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from simulator import cli_checks as checks
from simulator.config import Scenario, ScenarioError, load_scenario
from simulator.config.scenarios import DEFAULT, builtin_scenarios, load_builtin
from simulator.errors import RunFailed
from simulator.run import catalogue
from simulator.run.provenance import label_slug, run_label
from simulator.run.result import RunResult
from simulator.run.runner import run as run_scenario

NoMemoryCheck = Annotated[bool, typer.Option(
    "--no-memory-check", help="Run even if the estimated memory exceeds what is available.")]

app = typer.Typer(
    add_completion=False, no_args_is_help=True,
    help="Simulate liquidation cascades in crypto perpetual futures.",
)
console = Console()
err = Console(stderr=True)


def package_version() -> str:
    """The installed liqsim version, or "unknown" when the package is not installed."""
    from importlib import metadata

    try:
        return metadata.version("liqsim")
    except metadata.PackageNotFoundError:
        return "unknown"


def _print_version(value: bool) -> None:
    if value:
        console.print(f"liqsim {package_version()}", highlight=False)
        raise typer.Exit()


@app.callback()
def main(
    version: Annotated[bool, typer.Option(
        "--version", callback=_print_version, is_eager=True,
        help="Print the version and exit.")] = False,
) -> None:
    """Simulate liquidation cascades in crypto perpetual futures."""


def _fail(message: str, code: int = 2) -> typer.Exit:
    err.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    return typer.Exit(code)


def resolve_scenario(name_or_path: str | None) -> Scenario:
    """A scenario file, or the name of a built-in (default: the built-in default)."""
    if name_or_path is None:
        return load_builtin(DEFAULT)
    path = Path(name_or_path)
    if path.exists() or path.suffix in (".yaml", ".yml", ".json"):
        return load_scenario(path)
    return load_builtin(name_or_path)


def run_id(scenario: Scenario, seed: int, label: str = "") -> str:
    """Stable folder name: the label's file-safe form (so folders sort by what was run), the
    seed and a hash of the scenario as run (so two runs share a folder only if they are the
    same scenario and seed)."""
    digest = hashlib.sha256(json.dumps(scenario.to_dict(), sort_keys=True).encode()).hexdigest()
    prefix = f"{label_slug(label)}_" if label else ""
    return f"{prefix}seed{seed}-{digest[:10]}"


def _figure_row(table: Table, summary: dict, key: str, name: str | None = None) -> None:
    fig = catalogue.figure(key)
    assert fig is not None, f"{key} is not in the catalogue"
    table.add_row(name or fig.label, catalogue.format_value(summary.get(key), fig.unit),
                  fig.unit, fig.meaning)


def _figure_table(title: str) -> Table:
    table = Table(title=title, show_header=False, title_justify="left")
    table.add_column("figure")
    table.add_column("value", justify="right", no_wrap=True)
    table.add_column("unit", no_wrap=True)
    table.add_column("meaning", style="dim")
    return table


def summary_table(summary: dict, title: str) -> Table:
    """The run's headline figures (``catalogue``), with unit and meaning."""
    table = _figure_table(title)
    for name in catalogue.names("headline"):
        _figure_row(table, summary, name)
    return table


def mechanism_tables(summary: dict) -> list[Table]:
    """Per venue, what each mechanism it uses did (nothing for a venue using none)."""
    venues = dict.fromkeys(where for scope, where, _ in map(catalogue.scope_of, summary)
                           if scope == "venue")
    tables = []
    for venue in venues:
        used = catalogue.venue_mechanisms(summary, venue)
        if not used:
            continue
        table = _figure_table(f"{venue}: what its mechanisms did")
        for mechanism in used:
            table.add_row(f"[bold]{mechanism.title}[/]")
            for name in mechanism.figures:
                fig = catalogue.figure(name)
                assert fig is not None
                _figure_row(table, summary, f"{venue}.{name}", f"  {fig.label}")
        tables.append(table)
    return tables


def print_summary(summary: dict, title: str) -> None:
    console.print(summary_table(summary, title))
    for table in mechanism_tables(summary):
        console.print(table)


@app.command()
def run(
    scenario: Annotated[str | None, typer.Argument(
        help="Scenario file (YAML/JSON) or built-in name; default: the built-in default.")] = None,
    seed: Annotated[int | None, typer.Option(help="Random seed (default: the scenario's).")] = None,
    out: Annotated[Path | None, typer.Option(
        help="Run folder (default: results/<scenario>/<run-id>).")] = None,
    set_: Annotated[list[str] | None, typer.Option(
        "--set", help="Override a field: path.to.field=value (repeatable).")] = None,
    check: Annotated[bool, typer.Option(
        "--check", help="Assert the model's invariants during the run.")] = False,
    figures: Annotated[bool, typer.Option(help="Write the charts (PNG and PDF).")] = True,
    no_memory_check: NoMemoryCheck = False,
) -> None:
    """Run a scenario and write its results folder: tables, summary and charts."""
    try:
        if scenario is not None:
            checks.expect_kind(Path(scenario), "scenario")
        sc = resolve_scenario(scenario)
        if set_:
            sc = sc.with_overrides(set_)
        if not no_memory_check:
            checks.check_memory(sc)
    except ScenarioError as exc:
        raise _fail(str(exc)) from None
    if seed is not None and seed < 0:
        raise _fail("--seed: seeds are non-negative integers")
    seed = sc.seed if seed is None else seed
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
            raise _fail("the run ran out of memory (lower the account counts, or see what "
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
    timings = result.meta.get("timings", {})
    seconds = timings.get("simulate_s", 0.0)
    console.print(f"simulated {sc.duration / 60_000:g} min in {seconds:.2f} s; "
                  f"results in [bold]{folder}[/]", highlight=False)
    if code:
        raise _fail(f"the run stopped early: {result.meta.get('error')} "
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
        raise _fail(str(exc)) from None
    markets = sum(len(v.markets) for v in sc.venues)
    accounts = len(sc.accounts) + sum(p.count for p in sc.populations)
    console.print(f"ok: {sc.name}: {len(sc.assets)} assets, {len(sc.venues)} venues, "
                  f"{markets} markets, {accounts:,} accounts, {len(sc.shocks)} shocks, "
                  f"{sc.duration / 60_000:g} min", highlight=False)


@app.command()
def scenarios() -> None:
    """List the built-in scenarios (with experiments/scenarios/ in a checkout): liqsim run NAME."""
    table = Table(show_header=True)
    table.add_column("name")
    table.add_column("description")
    for name, description in builtin_scenarios(experiments=True).items():
        table.add_row(name, description)
    console.print(table)


@app.command()
def presets() -> None:
    """List the venue presets (use one with --set venues.<venue>.preset=NAME)."""
    from simulator.config.presets import DESCRIPTIONS, PRESETS

    table = Table(show_header=True)
    table.add_column("preset")
    table.add_column("mechanism")
    for name in PRESETS:
        table.add_row(name, DESCRIPTIONS.get(name, ""))
    console.print(table)


@app.command()
def show(folder: Annotated[Path, typer.Argument(help="A run folder written by `liqsim run`.")],
         ) -> None:
    """Print the summary of a stored run."""
    try:
        result = RunResult.load(folder)
    except (OSError, ValueError) as exc:
        raise _fail(f"cannot read run folder {folder}: {exc}") from None
    label = result.meta.get("label") or run_label(result.meta.get("scenario", {}))
    console.print(f"[bold]{escape(label)}[/] seed {result.meta.get('seed')}", highlight=False)
    print_summary(result.summary, str(folder))


@app.command()
def runs(results: Annotated[Path, typer.Argument(
        help="Where to look (default: results, where `liqsim run` writes).")] = Path("results"),
         ) -> None:
    """List the stored runs, newest first: label, date, seed and headline figures."""
    from simulator.run.discover import find_runs

    found = find_runs(results) if results.is_dir() else []
    if not found:
        console.print(f"no runs in {results}", highlight=False, soft_wrap=True)
        return
    table = Table(show_header=True)
    table.add_column("run (label, folder)", overflow="fold")
    table.add_column("date (UTC)", max_width=10)  # wraps under the time in narrow terminals
    table.add_column("seed", justify="right", no_wrap=True)
    for _, name in RUNS_FIGURES:
        table.add_column(name, justify="right", no_wrap=True)
    for r in found:
        status = "" if r.status == "complete" else f" [red]({escape(r.status)})[/]"
        name = f"{escape(r.label)}{status}\n[dim]{escape(_relative(r.folder, results))}[/]"
        figures = [catalogue.format_value(r.figure(key), catalogue.unit_of(key), compact=True,
                                          missing="–") for key, _ in RUNS_FIGURES]
        table.add_row(name, r.created.strftime("%Y-%m-%d %H:%M"), str(r.seed), *figures)
    console.print(table)


# The headline figures of the runs listing (units from the catalogue), with short headers.
RUNS_FIGURES = (("liquidations", "liquid."), ("bad_debt", "bad debt (USD)"),
                ("liquidated_notional", "liq. notional (USD)"))


def _relative(folder: Path, root: Path) -> str:
    rel = folder.relative_to(root).as_posix()
    return rel if rel != "." else str(root)


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
    """Run a sweep: every cell x variant x replication not already complete in its folder;
    one row per run in runs.parquet. A run that fails is recorded and the sweep goes on."""
    from simulator.sweep import load_sweep, plan, run_sweep
    from simulator.sweep.execute import resume_counts

    if workers < 1:
        raise _fail("--workers: at least 1")
    try:
        checks.expect_kind(file, "sweep")
        spec = load_sweep(file)
        planned = plan(spec)  # validates every cell's scenario before anything runs
        if not (no_memory_check or scheduler):  # a remote cluster's memory is not ours
            checks.check_sweep_memory([r.scenario for r in planned], min(workers, len(planned)))
    except ScenarioError as exc:
        raise _fail(str(exc)) from None
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
            raise _fail(str(exc)) from None
    failed = int((frame["status"] != "complete").sum())
    console.print(f"{len(frame)} runs, {failed} failed; results in "
                  f"[bold]{folder / 'runs.parquet'}[/]", highlight=False)
    if failed:
        raise _fail(f"{failed} of {len(frame)} runs failed (errors in "
                    f"{folder / 'manifest.json'} and runs.parquet)", 1)


@app.command()
def report(
    folder: Annotated[Path, typer.Argument(
        help="A run folder (liqsim run) or a sweep folder (liqsim sweep ... --out).")],
    out: Annotated[Path | None, typer.Option(
        help="Where to write the report (default: <folder>/report).")] = None,
) -> None:
    """Build a self-contained HTML report from stored results: of one run (label,
    provenance, summary, charts) or of a sweep (design, headline table, paired comparison
    against the baseline, per-cell table, charts, and Markdown beside it)."""
    from simulator.report.folders import build_folder_report
    from simulator.report.page import ReportError

    try:
        with console.status("building report"):
            built = build_folder_report(folder, out)
    except ReportError as exc:
        raise _fail(str(exc)) from None
    also = f" and {built.markdown}" if built.markdown else ""
    console.print(f"{len(built.charts)} charts, {len(built.tables)} tables: "
                  f"[bold]{built.html}[/]{also}", highlight=False)



def rich_table(table) -> Table:
    """A report table (``simulator.report.tables.Table``) for the terminal."""
    out = Table(title=table.title, title_justify="left")
    for k, name in enumerate(table.header):
        right = k < len(table.right) and table.right[k]
        out.add_column(escape(name), justify="right" if right else "left")
    for row in table.rows:
        out.add_row(*map(escape, row))
    return out

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
    """Compare mechanisms: the scenario under each variant with the same seeds (common random
    numbers). Writes a sweep folder (manifest, runs.parquet, statistics, summary.md) and
    prints means with confidence intervals and paired differences against the first
    variant. A rerun into the same folder runs only what is not complete."""
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
        raise _fail("--seeds and --workers: at least 1; --seed-start: at least 0")
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
        raise _fail(str(exc)) from None
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
            raise _fail(str(exc)) from None
    failed = int((result.runs["status"] != "complete").sum())
    if failed < len(result.runs):
        metrics = available_metrics(result.runs, DEFAULT_METRICS + ADL_METRICS)
        summary = summarize(result.runs, metrics, result.baseline)
        console.print(rich_table(means_table(summary, result.baseline)))
    console.print(f"{len(result.runs)} runs ({result.skipped} skipped, {result.ran} run), "
                  f"{failed} failed; results in [bold]{folder}[/]", highlight=False)
    if failed:
        raise _fail(f"{failed} of {len(result.runs)} runs failed (errors in "
                    f"{folder / 'manifest.json'} and runs.parquet)", 1)
