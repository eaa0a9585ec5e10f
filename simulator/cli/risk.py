"""The ``risk`` command: a scenario's pre-crash risk report from the world at t = 0 (or at a
moment of a run: ``simulator.risk.moment``, re-simulated and checked against the stored
events). It composes the sections of ``simulator.risk`` (book, levels, market, simulated,
dynamic_margin, collateral_health, sensitivity) into Parquet tables, their charts (PNG and
SVG) and one self-contained HTML page, with a console summary. Runs no simulation unless
``--at``, a run folder, ``--runs`` or ``--full-stress`` asks for one. Computes no figure itself.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
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
from simulator.config import Scenario, ScenarioError
from simulator.config.units import parse_fraction
from simulator.errors import SimulationError
from simulator.run.provenance import provenance, run_label
from simulator.run.result import write_atomic, write_json

SUMMARY_MOVES = (-0.3, -0.2, -0.1, 0.1, 0.2, 0.3)  # the console's stress columns, if on grid
SENSITIVITY_MOVE = -0.2  # the margin sensitivity's cell: every asset -20%


@contextmanager
def _stage(text: str) -> Iterator[None]:
    """A spinner saying what the report is computing (some stages take seconds)."""
    with console.status(f"{text}…"):
        yield


def _fraction(text: str, option: str) -> float:
    try:
        return float(parse_fraction(text))
    except (TypeError, ValueError) as exc:
        raise fail(f"{option}: {exc}") from None


def _chosen(scenario: str | None, set_: list[str] | None,
            seed: int | None) -> tuple[Scenario, int, Path | None]:
    """(scenario, seed, run folder or None): a run folder brings its scenario and seed."""
    from simulator.risk.moment import MomentError, is_run_folder, load_run

    if scenario is None or not is_run_folder(scenario):
        return (*chosen_scenario(scenario, set_, seed), None)
    if set_ or seed is not None:
        raise fail("--set/--seed: a run folder is re-simulated with its own scenario and seed")
    try:
        _, sc, run_seed = load_run(scenario)
    except (MomentError, ScenarioError) as exc:
        raise fail(str(exc)) from None
    return sc, run_seed, Path(scenario)


def _world(sc: Scenario, seed: int, run_dir: Path | None, at: str | None):
    """(world, moment): at t = 0 (moment None), or re-simulated to ``--at`` (a run folder's
    default: its shock), a run folder's verified against its stored events."""
    from simulator.risk import book, moment

    try:
        if run_dir is not None:
            return moment.moment_of_run(run_dir, "shock" if at is None else at)
        if at is None:
            return book.world_of(sc, seed), None
        if at.strip().lower() in moment.KEYWORDS:
            raise moment.MomentError(f"--at {at}: needs a run folder (a scenario has not run)")
        at_ms = moment.parse_at(at)
        world = moment.world_at(sc, seed, at_ms)
    except (moment.MomentError, SimulationError) as exc:
        raise fail(str(exc)) from None
    return world, moment.moment_of(world, at_ms, at)


def _folder(sc: Scenario, seed: int, run_dir: Path | None, moment) -> Path:
    """The default output folder: results/risk/<scenario>_seed<N>[_at_<T>], or a run
    folder's own risk_at_<T>/."""
    if moment is None:
        return Path("results") / "risk" / f"{sc.name}_seed{seed}"
    from simulator.risk.moment import slug

    if run_dir is not None:
        return run_dir / f"risk_{slug(moment.at_ms)}"
    return Path("results") / "risk" / f"{sc.name}_seed{seed}_{slug(moment.at_ms)}"


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
    # The book at a moment (simulator.risk.moment).
    at: Annotated[str | None, typer.Option(
        "--at", help="The book at run time T instead of t = 0, re-simulated: ms, a duration "
        "('90s', '1h30m'); for a run folder as SCENARIO also a replay's UTC time or shock / "
        "low / peak (default there: shock).")] = None,
    # Correlation and historical VaR (simulator.risk.market).
    market: Annotated[bool, typer.Option(
        "--market/--no-market", help="The correlation, correlation break, historical VaR "
        "and Kupiec backtest sections, from the scenario's own price paths (or "
        "--klines).")] = True,
    klines: Annotated[list[str] | None, typer.Option(
        "--klines", help="ASSET=FILE: that asset's returns from a kline CSV instead of the "
        "scenario's paths (repeatable; implies --market).")] = None,
    klines_start: Annotated[str | None, typer.Option(
        help="First kline open time to use (UTC, inclusive).")] = None,
    klines_end: Annotated[str | None, typer.Option(
        help="Kline open time to stop before (UTC, exclusive).")] = None,
    klines_interval: Annotated[str, typer.Option(
        help="Return interval of the kline returns (a pandas offset: 1min, 1h).")] = "1min",
    window: Annotated[int, typer.Option(
        help="Returns in the rolling correlation and the backtest's VaR window.")] = 120,
    # Full runs (simulator.risk.simulated).
    runs: Annotated[int, typer.Option(
        "--runs", help="Simulated VaR/ES from N full runs of seeds SEED..SEED+N-1 "
        "(0: off).")] = 0,
    full_stress: Annotated[str | None, typer.Option(
        "--full-stress", help="Price moves ('-10%,-20%,-30%') whose stress cells (each asset, "
        "all together) are also run in full, beside the static pass.")] = None,
    workers: Annotated[int, typer.Option(
        "--workers", help="Processes for --runs and --full-stress.")] = 1,
    # Dynamic margin and collateral (simulator.risk.dynamic_margin, collateral_health).
    dynamic_margin: Annotated[bool, typer.Option(
        "--dynamic-margin/--no-dynamic-margin", help="Add the dynamic-margin path pass: the "
        "scenario's own path, fixed against volatility-scaled maintenance.")] = True,
    margin_every: Annotated[str, typer.Option(
        help="Simulated time between the path pass's margin checks.")] = "10s",
    vol_reference: Annotated[float | None, typer.Option(
        help="Volatility rule for venues without one: reference vol (annualised; default: "
        "the config's VolatilityMargin).")] = None,
    vol_sensitivity: Annotated[float | None, typer.Option(
        help="Volatility rule: multiplier per unit of vol / reference - 1.")] = None,
    vol_max: Annotated[float | None, typer.Option(
        help="Volatility rule: the largest multiplier.")] = None,
    vol_step: Annotated[float | None, typer.Option(
        help="Volatility rule: the multiplier's step.")] = None,
    vol_half_life: Annotated[str | None, typer.Option(
        help="Volatility rule: half-life of the realised-vol EWMA (the window, '5m').")] = None,
    collateral_health: Annotated[bool, typer.Option(
        "--collateral-health/--no-collateral-health", help="Add the collateral ratios per "
        "account group and the depeg sensitivity.")] = True,
    depeg_moves: Annotated[str, typer.Option(
        help="Falls of each collateral asset's price in the depeg sensitivity, comma "
        "separated.")] = "1%,2%,5%,10%,20%,30%",
) -> None:
    """A book's risk before (or at a moment of) a crash: exposure, liquidation levels,
    concentration, correlation, VaR/ES (parametric, historical, simulated with --runs), the
    static stress grid (and full runs with --full-stress), Cover-2, margin sensitivity,
    dynamic margin and collateral health, as tables, charts and one HTML page."""
    import pandas as pd

    from simulator.charts.liquidation_map import write_map_figure
    from simulator.charts.risk import write_risk_figures
    from simulator.report.risk import risk_page
    from simulator.risk import book, levels
    from simulator.risk.sensitivity import margin_sensitivity
    from simulator.run.liquidation_map import liquidation_map

    sc, seed, run_dir = _chosen(scenario, set_, seed)
    try:
        moves = book.default_moves(_fraction(max_move, "--max-move"), _fraction(step, "--step"))
    except ValueError as exc:
        raise fail(f"--max-move/--step: {exc}") from None
    label = run_label(sc.to_dict(), set_ or ())
    # Every option is read before anything is computed: a bad one fails at once.
    full_moves = _full_moves(runs, full_stress, workers)
    rule, every = _margin_rule(dynamic_margin, vol_reference, vol_sensitivity, vol_max,
                               vol_step, vol_half_life, margin_every)
    falls = [-abs(_fraction(t.strip(), "--depeg-moves")) for t in depeg_moves.split(",")]
    with _stage("building the book"):
        world, moment = _world(sc, seed, run_dir, at)
    folder = out or _folder(sc, seed, run_dir, moment)
    folder.mkdir(parents=True, exist_ok=True)
    frames: dict[str, pd.DataFrame] = {}
    extra_figures: dict[str, dict[str, Path]] = {}
    # Correlation, correlation break, historical VaR and its backtest.
    if market or klines:
        from simulator.charts.risk_market import write_market_figures
        from simulator.risk import market as mk

        try:  # bad input (unknown asset, missing file, too few returns): one line
            with _stage("correlation and historical VaR"):
                returns = mk.returns_for(world, klines, klines_start, klines_end,
                                         klines_interval)
                frames.update(mk.market_frames(world, returns, window, seed))
        except mk.TooFewReturns as exc:
            if klines:
                raise fail(str(exc)) from None
            # A scenario of a few minutes: the rest of the report still stands.
            console.print(f"market sections left out: {escape(str(exc))}", highlight=False)
        except ValueError as exc:
            raise fail(str(exc)) from None
        if "correlation" in frames:
            extra_figures.update(write_market_figures(frames, window, folder / "figures",
                                                      title=label))
    with _stage("exposure, static stress grid, liquidation levels"):
        concentration, lorenz = book.concentration(world)
        grid, losses = book.stress_cells(sc, seed, moves, world)
        frames.update({"exposure": book.exposure_table(world), "concentration": concentration,
                       "var": book.parametric_var(world), "stress": grid,
                       "cover2": book.cover2(world, losses, grid)})
        if moment is None:  # the sensitivity rebuilds worlds at t = 0
            frames["sensitivity"] = pd.concat(
                [margin_sensitivity(sc, seed, SENSITIVITY_MOVE, what=w)
                 for w in ("mmr", "leverage_cap")], ignore_index=True)
        # The liquidation map of the book (at the grid's reach) and who defaults in the stress.
        lmap = liquidation_map(sc, seed, max_move=float(moves.max()), world=world)
        frames["liquidation_map"] = levels.map_summary(lmap, [m for m in levels.SUMMARY_MOVES
                                                              if m <= moves.max() + 1e-12])
        frames["stress_concentration"] = levels.stress_concentration(
            losses, book.cell_name("all", _concentration_move(moves)))
        extra_figures["liquidation_map"] = {
            p.suffix[1:]: p for p in write_map_figure(lmap, folder / "figures", title=label,
                                                      formats=("png", "svg"))}
    if runs or full_moves:  # the scenario run in full, over seeds or cells
        extra_figures.update(_simulated_sections(sc, seed, runs, full_moves, workers, frames,
                                                 folder / "figures", label))
    with _stage("dynamic margin and collateral"):
        if rule is not None and moment is None:  # the path pass starts from the book at t = 0
            from simulator.charts.risk_margin import write_margin_figures
            from simulator.risk.dynamic_margin import dynamic_margin as dynamic_pass

            frames["dynamic_margin"], dm_path = dynamic_pass(world, rule, every)
            frames["dynamic_margin_path"] = dm_path
            extra_figures.update(write_margin_figures(dm_path, None, None, folder / "figures",
                                                      title=label))
        if collateral_health:
            from simulator.charts.risk_margin import write_margin_figures
            from simulator.risk import collateral_health as ch

            try:
                frames["depeg_sensitivity"] = ch.depeg_sensitivity(world, falls)
            except ValueError as exc:
                raise fail(f"--depeg-moves: {exc}") from None
            frames["collateral_health"] = ch.collateral_health(world)
            extra_figures.update(write_margin_figures(
                None, ch.account_ratios(world), frames["depeg_sensitivity"], folder / "figures",
                title=label))
    with _stage("tables, charts and the page"):
        for name, frame in {**frames, "lorenz": lorenz}.items():
            write_atomic(folder / f"{name}.parquet", lambda p, f=frame: f.to_parquet(p))
        meta = {"scenario": sc.to_dict(), "label": label, "seed": seed,
                "moves": moves.tolist(), **provenance(),
                **({"moment": moment.to_dict()} if moment is not None else {})}
        write_json(folder / "risk.json", meta)
        figures = write_risk_figures(grid, lorenz, frames["var"], folder / "figures", title=label,
                                     sensitivity=frames.get("sensitivity"))
        figures = {**figures, **extra_figures}
        html = risk_page(label, seed, frames, figures, meta,
                         moment=moment.text() if moment is not None else None)
        write_atomic(folder / "risk.html", lambda p: Path(p).write_text(html, encoding="utf-8"))
    _summary(label, seed, grid, frames["var"])
    if moment is not None:
        console.print(escape(moment.text()), highlight=False)
    console.print(f"risk report in [bold]{folder}[/]", highlight=False)


def _full_moves(runs: int, full_stress: str | None, workers: int) -> list[float]:
    """The moves of ``--full-stress`` (none without it), with ``--runs``/``--workers``
    checked."""
    from simulator.risk.simulated import parse_moves

    if runs < 0 or workers < 1:
        raise fail("--runs: 0 or more; --workers: at least 1")
    try:
        return parse_moves(full_stress) if full_stress is not None else []
    except ValueError as exc:
        raise fail(f"--full-stress: {exc}") from None


def _margin_rule(on: bool, reference: float | None, sensitivity: float | None,
                 max_multiplier: float | None, step: float | None, half_life: str | None,
                 every: str):
    """(volatility rule, check interval in ms) of the dynamic-margin pass, (None, None) when
    it is off; a bad value ends the command with one line naming its option."""
    if not on:
        return None, None
    from simulator.risk.dynamic_margin import check_interval, volatility_rule

    try:
        return (volatility_rule(reference_vol=reference, sensitivity=sensitivity,
                                max_multiplier=max_multiplier, step=step, half_life=half_life),
                check_interval(every))
    except ValueError as exc:
        raise fail(str(exc)) from None


def _simulated_sections(sc: Scenario, seed: int, runs: int, full_moves: list[float],
                        workers: int, frames: dict, figures_dir: Path, label: str) -> dict:
    """The simulated VaR over ``runs`` seeds and the stress cells of ``full_moves`` run in
    full (``simulator.risk.simulated``), with a progress bar: their frames added to
    ``frames``, their figures returned."""
    import pandas as pd
    from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

    from simulator.charts.risk_simulated import write_simulated_figures
    from simulator.cli.common import err
    from simulator.risk import book
    from simulator.risk import simulated as sim

    drawn: dict[str, pd.DataFrame] = {}
    bars = Progress(TextColumn("{task.description}"), BarColumn(),
                    TextColumn("{task.completed}/{task.total}, {task.fields[failed]} failed"),
                    TimeRemainingColumn(), console=err, transient=True)
    try:
        with bars:
            def tick(task):
                return lambda done, todo, failed: bars.update(task, completed=done,
                                                              total=todo, failed=failed)
            if runs:
                sims, accounts = sim.simulated_samples(
                    sc, range(seed, seed + runs), workers,
                    tick(bars.add_task("runs", total=runs, failed=0)))
                frames.update(simulated_count=sim.run_count(sims, accounts),
                              simulated_runs=sims, simulated_accounts=accounts,
                              simulated_var=sim.simulated_var(sims, accounts, seed))
                drawn.update(runs=sims, var=frames["simulated_var"])
                console.print(escape(frames["simulated_count"]["statement"].iloc[0]),
                              highlight=False)
            if full_moves:
                full = sim.full_run_stress(sc, seed, full_moves, workers=workers,
                                           progress=tick(bars.add_task(
                                               "stress runs", total=None, failed=0)))
                frames["stress_full"] = full
                drawn["compare"] = frames["stress_compare"] = sim.stress_comparison(
                    book.stress_grid(sc, seed, full_moves), full)  # at t = 0, as the runs
    except ValueError as exc:
        raise fail(f"--runs/--full-stress: {exc}") from None
    return write_simulated_figures(figures_dir, label, **drawn)


def _concentration_move(moves) -> float:
    """The all-assets cell whose defaulters' concentration the page shows: -20% if the grid
    has it, else its largest fall."""
    on = [m for m in moves.tolist() if abs(m - SENSITIVITY_MOVE) < 1e-9]
    return on[0] if on else float(moves.min())


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
