"""The ``map`` command: a scenario's liquidation map before it runs (``simulator.run
.liquidation_map``), written as a Parquet table, its chart and the effective config, with a
console summary of what each market would lose within a few steps of the start price.
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
    run_id,
)
from simulator.run.liquidation_map import liquidation_map
from simulator.run.provenance import provenance, run_label
from simulator.run.result import write_atomic, write_json

SUMMARY_MOVES = (0.05, 0.1, 0.2)  # the console table's columns: notional within these moves


@app.command("map")
def map_(
    scenario: ScenarioArg = None,
    seed: SeedOption = None,
    out: Annotated[Path | None, typer.Option(
        help="Output folder (default: results/<scenario>/map_<id>).")] = None,
    set_: SetOption = None,
    max_move: Annotated[float, typer.Option(
        help="Largest price move mapped, each way (0.3: 30%).")] = 0.3,
    step: Annotated[float, typer.Option(help="Spacing of the price levels (0.0025: 0.25%).")]
    = 0.0025,
    figures: Annotated[bool, typer.Option(help="Write the chart (PNG and PDF).")] = True,
) -> None:
    """Before running: the notional that would be liquidated at each price level, per market
    and side, from the venues' own margin code (no impact, no responses)."""
    sc, seed = chosen_scenario(scenario, set_, seed)
    try:
        frame = liquidation_map(sc, seed, max_move, step)
    except ValueError as exc:
        raise fail(f"--max-move/--step: {exc}") from None
    label = run_label(sc.to_dict(), set_ or ())
    folder = out or Path("results") / sc.name / f"map_{run_id(sc, seed, label)}"
    folder.mkdir(parents=True, exist_ok=True)
    write_atomic(folder / "liquidation_map.parquet", lambda p: frame.to_parquet(p))
    write_json(folder / "map.json", {"scenario": sc.to_dict(), "label": label, "seed": seed,
                                     "max_move": max_move, "step": step, **provenance()})
    if figures:
        from simulator.charts.liquidation_map import write_map_figure

        write_map_figure(frame, folder, title=f"{label}: liquidation map (seed {seed})")
    table = Table(title=f"{escape(label)} (seed {seed}): USD notional liquidated within")
    table.add_column("venue:market")
    for side, sign in (("longs", "-"), ("shorts", "+")):
        for move in SUMMARY_MOVES:
            table.add_column(f"{side} {sign}{move:.0%}", justify="right")
    for (venue, market), part in frame.groupby(["venue", "market"], sort=False):
        cells = []
        for side in ("long", "short"):
            mine = part[part["side"] == side]
            for move in SUMMARY_MOVES:
                within = mine.loc[mine["move"].abs() <= move + 1e-12, "notional"].sum()
                cells.append(f"${within / 1e6:,.2f}M")
        table.add_row(f"{venue}:{market}", *cells)
    console.print(table)
    console.print(f"liquidation map in [bold]{folder}[/]", highlight=False)
