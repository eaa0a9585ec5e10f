"""The ``calibrate`` command: fit a calibration file's parameters to its targets
(``simulator.calibrate``), showing the search's progress, then a table of target against
achieved, and write the calibration folder.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from simulator.cli.common import app, console, err, fail
from simulator.config import ScenarioError
from simulator.config.scenario import read_document


@app.command()
def calibrate(
    file: Annotated[Path, typer.Argument(help="Calibration file (YAML).")],
    out: Annotated[Path | None, typer.Option(
        help="Output folder (default: results/calibrations/<file stem>).")] = None,
    workers: Annotated[int, typer.Option(help="Seeds run in parallel (processes).")] = 1,
    max_evaluations: Annotated[int | None, typer.Option(
        help="Most evaluations (each runs every seed; default: the file's).")] = None,
    seeds: Annotated[int | None, typer.Option(
        help="Run seeds 1..N at every point (default: the file's seeds).")] = None,
    figures: Annotated[bool, typer.Option(help="Write the chart (fit.png).")] = True,
) -> None:
    """Fit scenario parameters to target figures by a seeded scipy search.

    Every evaluation runs the same seeds (common random numbers). Writes fitted.yaml (run it
    with `liqsim run`), fit.json, fit.md, history.parquet and fit.png.
    """
    from simulator.calibrate import calibrate as run_calibration
    from simulator.calibrate import load_calibration
    from simulator.calibrate.report import target_cells, write_fit

    if workers < 1:
        raise fail("--workers: at least 1")
    if max_evaluations is not None and max_evaluations < 1:
        raise fail("--max-evaluations: at least 1")
    if seeds is not None and seeds < 1:
        raise fail("--seeds: at least 1")
    try:
        _expect_calibration(file)
        spec, base = load_calibration(file)
        if max_evaluations is not None:
            spec = spec.with_max_evaluations(max_evaluations)
        if seeds is not None:
            spec = spec.with_seeds(seeds)
    except ScenarioError as exc:
        raise fail(str(exc)) from None
    folder = out or Path("results") / "calibrations" / file.stem
    console.print(f"[bold]{escape(base.name)}[/]: {len(spec.parameters)} parameter(s), "
                  f"{len(spec.targets)} target(s), {spec.method}, at most "
                  f"{spec.max_evaluations} evaluations x {len(spec.seeds)} seeds",
                  highlight=False)
    columns = (TextColumn("evaluations"), BarColumn(), TextColumn("{task.completed}/{task.total}"),
               TextColumn("best objective {task.fields[best]}"), TimeElapsedColumn())
    with Progress(*columns, console=err, transient=True) as bar:
        task = bar.add_task("calibrate", total=spec.max_evaluations, best="–")

        def progress(done: int, budget: int, best: float) -> None:
            bar.update(task, completed=done, total=budget, best=f"{best:.4g}")

        try:
            fit = run_calibration(spec, base, workers=workers, progress=progress)
        except ScenarioError as exc:
            raise fail(str(exc)) from None
    write_fit(fit, folder, figure=figures)
    table = Table(title=f"{escape(base.name)}: target vs achieved (mean over "
                        f"{len(spec.seeds)} seeds)")
    for name, right in (("target", False), ("value", True), ("achieved mean", True),
                        ("95% CI", True), ("rel. error", True)):
        table.add_column(name, justify="right" if right else "left")
    for t in fit.targets:
        table.add_row(*(escape(c) for c in target_cells(t)))
    console.print(table)
    for p in fit.parameters:
        value = f"{p['value']:,d}" if p["integer"] else f"{p['value']:.6g}"
        bound = f" (at its {p['at_bound']} bound)" if p["at_bound"] else ""
        console.print(f"  {escape(p['path'])} = {value}{bound}", highlight=False)
    state = "converged" if fit.success else "not converged"
    objective = f"{fit.objective:.4g}" if math.isfinite(fit.objective) else "–"
    console.print(f"{fit.evaluations} evaluations, objective {objective}, {state} "
                  f"({escape(fit.message)}); results in [bold]{folder}[/]", highlight=False)


def _expect_calibration(path: Path) -> None:
    """Refuse, in one line, a scenario or sweep file given where a calibration is read."""
    if not path.is_file():
        return  # the loader says it cannot be read
    try:
        _, data = read_document(path, "calibration")
    except ScenarioError:
        return  # the loader reports why
    if not isinstance(data, dict) or "parameters" in data or "targets" in data:
        return
    if "venues" in data or "assets" in data:
        raise ScenarioError(f"{path} is a scenario, not a calibration: name it in a "
                            f"calibration file (scenario: {path.name}) with the parameters "
                            f"to fit and the targets to match")
    if "axes" in data or "variants" in data:
        raise ScenarioError(f"{path} is a sweep, not a calibration: run it with "
                            f"`liqsim sweep {path}`")
