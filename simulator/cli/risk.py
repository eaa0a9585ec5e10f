"""The ``risk`` command: a scenario's pre-crash risk report (``simulator.risk.book``) from the
world at t = 0: exposure, concentration, parametric VaR/ES, the static stress grid, Cover-2 and
the margin sensitivity as Parquet tables, their charts (PNG and SVG) and one self-contained
HTML page, with a console summary. Runs no simulation.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from simulator.cli.common import (
    ScenarioArg,
    SeedOption,
    SetOption,
    app,
    chosen_scenario,
    console,
    fail,
)
from simulator.config.units import parse_fraction
from simulator.run.provenance import provenance, run_label
from simulator.run.result import write_atomic, write_json

SUMMARY_MOVES = (-0.3, -0.2, -0.1, 0.1, 0.2, 0.3)  # the console's stress columns, if on grid
SENSITIVITY_MOVE = -0.2  # the margin sensitivity's cell: every asset -20%


def _fraction(text: str, option: str) -> float:
    try:
        return float(parse_fraction(text))
    except (TypeError, ValueError) as exc:
        raise fail(f"{option}: {exc}") from None


@app.command("risk")
def risk(
    scenario: ScenarioArg = None,
    seed: SeedOption = None,
    set_: SetOption = None,
    out: Annotated[Path | None, typer.Option(
        help="Output folder (default: results/risk/<scenario>_seed<N>).")] = None,
    max_move: Annotated[str, typer.Option(
        help="Largest price move of the stress grid, each way (30% or 0.3).")] = "30%",
    step: Annotated[str, typer.Option(help="Spacing of the stress grid's moves.")] = "5%",
) -> None:
    """Before running: the book's exposure, concentration, VaR, static stress grid and
    Cover-2 (no impact, no responses, no time), as tables, charts and one HTML page."""
    import pandas as pd

    from simulator.charts.risk import write_risk_figures
    from simulator.report.risk import risk_page
    from simulator.risk import book
    from simulator.risk.sensitivity import margin_sensitivity

    sc, seed = chosen_scenario(scenario, set_, seed)
    try:
        moves = book.default_moves(_fraction(max_move, "--max-move"), _fraction(step, "--step"))
    except ValueError as exc:
        raise fail(f"--max-move/--step: {exc}") from None
    label = run_label(sc.to_dict(), set_ or ())
    folder = out or Path("results") / "risk" / f"{sc.name}_seed{seed}"
    folder.mkdir(parents=True, exist_ok=True)
    world = book.world_of(sc, seed)
    concentration, lorenz = book.concentration(world)
    grid, losses = book.stress_cells(sc, seed, moves, world)
    frames = {"exposure": book.exposure_table(world), "concentration": concentration,
              "var": book.parametric_var(world), "stress": grid,
              "cover2": book.cover2(world, losses, grid),
              "sensitivity": pd.concat([margin_sensitivity(sc, seed, SENSITIVITY_MOVE, what=w)
                                        for w in ("mmr", "leverage_cap")], ignore_index=True)}
    for name, frame in {**frames, "lorenz": lorenz}.items():
        write_atomic(folder / f"{name}.parquet", lambda p, f=frame: f.to_parquet(p))
    meta = {"scenario": sc.to_dict(), "label": label, "seed": seed,
            "moves": moves.tolist(), **provenance()}
    write_json(folder / "risk.json", meta)
    figures = write_risk_figures(grid, lorenz, frames["var"], folder / "figures", title=label,
                                 sensitivity=frames["sensitivity"])
    html = risk_page(label, seed, frames, figures, meta)
    write_atomic(folder / "risk.html", lambda p: Path(p).write_text(html, encoding="utf-8"))
    _summary(label, seed, grid, frames["var"])
    console.print(f"risk report in [bold]{folder}[/]", highlight=False)


def _summary(label: str, seed: int, grid, var) -> None:
    """Bad debt (and ADL beyond the fund) per asset at a few moves; the 99% VaR."""
    on_grid = [m for m in SUMMARY_MOVES if (abs(grid["move"] - m) < 1e-9).any()]
    table = Table(title=f"{escape(label)} (seed {seed}): static bad debt / ADL")
    table.add_column("asset")
    for move in on_grid:
        table.add_column(f"{move:+.0%}", justify="right")
    cells = grid.groupby(["asset", "move"], sort=False)[["bad_debt_usd", "adl_usd"]].sum()
    for asset in dict.fromkeys(grid["asset"]):
        row = []
        for move in on_grid:
            here = cells.loc[asset]
            hit = here[abs(here.index - move) < 1e-9].iloc[0]
            row.append(f"${hit['bad_debt_usd'] / 1e6:,.2f}M / ${hit['adl_usd'] / 1e6:,.2f}M")
        table.add_row(asset, *row)
    console.print(table)
    books = var[(var["scope"] == "all") & (var["level"] == 0.99)]
    for _, r in books.iterrows():
        console.print(f"traders' 1-day 99% VaR ({r['dist']}): ${r['var'] / 1e6:,.2f}M, "
                      f"ES ${r['es'] / 1e6:,.2f}M", highlight=False)
