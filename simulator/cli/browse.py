"""The commands that find and present what exists: ``scenarios`` and ``presets`` (what can be
run), ``runs`` (what was run, with headline figures) and ``report`` (an HTML page of a run
or a sweep folder).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from simulator.cli.common import app, console, fail
from simulator.config.scenarios import builtin_scenarios
from simulator.run import catalogue


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
def report(
    folder: Annotated[Path, typer.Argument(
        help="A run folder (liqsim run) or a sweep folder (liqsim sweep ... --out).")],
    out: Annotated[Path | None, typer.Option(
        help="Where to write the report (default: <folder>/report).")] = None,
    run_reports: Annotated[str | None, typer.Option(
        "--run-reports", metavar="none|representative|all",
        help="Sweep folders: also build these runs' own pages inside the sweep folder "
             "(representative: the median run of each cell; about 1 s each) and link them "
             "from the drill-down. Default none.")] = None,
) -> None:
    """Build a self-contained HTML report of a run or sweep folder.

    Of one run: label, provenance, summary, charts. Of a sweep or comparison: design,
    headline table, paired comparison against the baseline, per-cell table, charts, a
    drill-down per cell (its runs, its median run's figures and chart, all inline), and
    Markdown beside it.
    """
    from simulator.report.folders import FolderKind, build_folder_report, folder_kind
    from simulator.report.page import ReportError

    try:
        with console.status("building report"):
            if run_reports is None:
                built = build_folder_report(folder, out)
            elif folder_kind(folder) is not FolderKind.SWEEP:
                raise ReportError(f"{folder}: --run-reports applies to sweep folders only; "
                                  "a run folder's report is its run report")
            else:
                from simulator.report.sweep import build_report

                built = build_report(folder, out, run_reports=run_reports.lower())
    except ReportError as exc:
        raise fail(str(exc)) from None
    also = f" and {built.markdown}" if built.markdown else ""
    console.print(f"{len(built.charts)} charts, {len(built.tables)} tables: "
                  f"[bold]{built.html}[/]{also}", highlight=False)
