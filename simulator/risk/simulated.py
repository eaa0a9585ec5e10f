"""Simulated risk of a scenario from full runs: the distribution of losses over seeds (so the
cascade's own losses, impact and responses are in it) with historical VaR/ES and their
intervals, and the stress grid's cells run in full, beside the static pass of
``simulator.risk.book``.

One run's outcome (``run_outcome``, module level: it runs in worker processes) is the run the
``liqsim run`` command performs (``simulator.run.runner.start_simulation`` run to the end, then the
last deficit pools charged, as ``run`` does; the test checks the figures against ``run``'s
summary), read per venue: the traders' loss (start minus end equity of the liquidatable
accounts, USD at the marks), the insurance funds' loss (start minus end balance, net of the
fees they earned), bad debt, ADL notional and haircut, liquidated notional, and each trader's
own loss. The run's end state is needed for the equity, which ``RunResult`` does not keep.
A run that fails is a row with its status and NaN figures; estimates use complete runs only.
Knows no SimPy beyond that call, writes nothing, draws nothing.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from typing import Any

import numpy as np
import pandas as pd

from markets.liquidation.settle import charge_deferred
from simulator.config import Scenario, ScenarioError, parse_scenario
from simulator.config.units import parse_fraction
from simulator.risk.book import LEVELS, STRESS_COLUMNS, to_usd
from simulator.risk.var import historical_var_es
from simulator.run.metrics import event_stats
from simulator.run.runner import start_simulation

Progress = Callable[[int, int, int], None]  # (runs finished, runs to do, failures so far)
RUN_COLUMNS = ("seed", "venue", "traders_loss_usd", "fund_loss_usd", "bad_debt_usd", "adl_usd",
               "adl_haircut_usd", "liquidated_usd", "status")
ACCOUNT_COLUMNS = ("seed", "venue", "account", "loss_usd")
SIM_VAR_COLUMNS = ("scope", "venue", "level", "var", "var_low", "var_high", "es", "es_low",
                   "es_high", "n", "note")
FULL_COLUMNS = (*STRESS_COLUMNS, "adl_notional_usd", "adl_haircut_usd", "source", "status")
COMPARED = ("liquidated_usd", "bad_debt_usd", "fund_drawdown_usd", "adl_usd")
CI = 0.95
N_BOOT = 2000
# The ES bootstrap sorts n_boot x n numbers: the account scope (runs x traders, 200,000 for
# 20 runs of the default scenario) takes fewer resamples, never below MIN_BOOT.
BOOT_BUDGET = 40_000_000
MIN_BOOT = 200
DEFAULT_AT_MS = 1_000  # the full-run shock without a shock in the scenario: at 1 s
DEFAULT_OVER_MS = 1_000  # ... ramped in over 1 s (close to the static pass's gap)


def _equity_usd(venue) -> np.ndarray:
    """Every row's equity (cross part plus isolated positions) in USD at the venue's marks."""
    marks = venue.marks
    cross, _, iso, _ = venue.accounts.margin_state(slice(None), marks)
    return to_usd(venue, cross + iso.sum(axis=1), marks)


def _fund_usd(venue, start: bool) -> float:
    if start:
        return float(sum(f.start for f in venue.funds) * venue.usd_at_start)
    return float(venue.usd(sum(f.balance for f in venue.funds)))


def run_outcome(scenario: Scenario, seed: int) -> dict[str, Any]:
    """One run, read per venue: ``{seed, status, error, venues: [row dicts], accounts:
    {venue: (rows, losses)}}`` (the liquidatable rows and their USD losses). Never raises:
    a failure is a ``failed`` outcome without figures."""
    try:
        world, recorder, env = start_simulation(scenario, seed)
        before = {v.name: (_equity_usd(v), _fund_usd(v, True)) for v in world.venues}
        env.run(until=scenario.duration + 1)  # as ``run`` and ``simulate_until`` do
        for venue in world.venues:  # as ``run`` does at the end: the last pools charged
            charge_deferred(venue, scenario.duration, check=False)
        events = recorder.events()
    except Exception as exc:  # a failed run is data about the scenario, not a reason to stop
        return {"seed": seed, "status": "failed", "error": f"{type(exc).__name__}: {exc}",
                "venues": [], "accounts": {}}
    rows, accounts = [], {}
    for venue in world.venues:
        eq0, fund0 = before[venue.name]
        traders = np.flatnonzero(venue.accounts.liquidatable)
        loss = (eq0 - _equity_usd(venue))[traders]
        mine = events[events["venue"] == venue.name]
        stats = event_stats(mine)
        liq = mine[mine["kind"] == "liquidation"]
        rows.append({"venue": venue.name, "traders_loss_usd": float(loss.sum()),
                     "fund_usd": fund0, "fund_loss_usd": fund0 - _fund_usd(venue, False),
                     # Bad debt the funds did not pay: the static pass's ``adl_usd``.
                     "unpaid_usd": max(0.0, stats["bad_debt"]
                                       - float(venue.usd(sum(f.paid for f in venue.funds)))),
                     "bad_debt_usd": stats["bad_debt"], "adl_usd": stats["adl_notional"],
                     "adl_haircut_usd": stats["adl_haircut"],
                     "liquidated_usd": stats["liquidated_notional"],
                     "positions": int(len(liq[["account", "market"]].drop_duplicates())),
                     "accounts": int(liq["account"].nunique())})
        accounts[venue.name] = (traders, loss)
    return {"seed": seed, "status": "complete", "error": None, "venues": rows,
            "accounts": accounts}


def _outcomes(jobs: Sequence[tuple[Scenario, int]], workers: int,
              progress: Progress | None) -> list[dict[str, Any]]:
    """``run_outcome`` of every (scenario, seed), in the order given whatever ``workers``."""
    if workers < 1:
        raise ValueError(f"workers: at least 1 (got {workers})")
    out: list[dict[str, Any] | None] = [None] * len(jobs)
    failures = 0

    def finish(k: int, outcome: dict[str, Any], done: int) -> None:
        nonlocal failures
        out[k] = outcome
        failures += outcome["status"] != "complete"
        if progress is not None:
            progress(done, len(jobs), failures)

    if workers == 1 or len(jobs) <= 1:
        for k, (sc, seed) in enumerate(jobs):
            finish(k, run_outcome(sc, seed), k + 1)
    else:
        with ProcessPoolExecutor(max_workers=min(workers, len(jobs))) as pool:
            futures = {pool.submit(run_outcome, sc, seed): k for k, (sc, seed) in enumerate(jobs)}
            for done, future in enumerate(as_completed(futures), start=1):
                finish(futures[future], future.result(), done)
    return [o for o in out if o is not None]


def _seeds(seeds: Sequence[int]) -> list[int]:
    out = [int(s) for s in seeds]
    if not out:
        raise ValueError("seeds: give at least one seed (the runs the estimates rest on)")
    if any(s < 0 for s in out) or len(set(out)) != len(out):
        raise ValueError("seeds: distinct non-negative integers, one run each")
    return out


def simulated_samples(scenario: Scenario, seeds: Sequence[int], workers: int = 1,
                      progress: Progress | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(runs, accounts): ``RUN_COLUMNS`` per (seed, venue) (a failed run: one row per venue,
    NaN figures) and ``ACCOUNT_COLUMNS`` per (seed, trader) of the complete runs."""
    seeds = _seeds(seeds)
    names = [v.name for v in scenario.venues]
    nan = float("nan")
    runs, parts = [], []
    for outcome in _outcomes([(scenario, s) for s in seeds], workers, progress):
        seed, status = outcome["seed"], outcome["status"]
        by_venue = {r["venue"]: r for r in outcome["venues"]}
        for name in names:
            r = by_venue.get(name, {})
            runs.append({"seed": seed, "venue": name,
                         **{c: r.get(c, nan) for c in RUN_COLUMNS[2:-1]}, "status": status})
        for name, (rows, loss) in outcome["accounts"].items():
            parts.append(pd.DataFrame({"seed": seed, "venue": name, "account": rows,
                                       "loss_usd": loss}))
    accounts = (pd.concat(parts, ignore_index=True) if parts
                else pd.DataFrame({c: [] for c in ACCOUNT_COLUMNS}))
    return (pd.DataFrame(runs, columns=list(RUN_COLUMNS)),
            accounts.astype({"seed": "int64", "account": "int64", "loss_usd": float}))


def simulated_losses(scenario: Scenario, seeds: Sequence[int], workers: int = 1,
                     progress: Progress | None = None) -> pd.DataFrame:
    """Per (seed, venue) of ``scenario``'s runs: ``RUN_COLUMNS`` (``simulated_samples``)."""
    return simulated_samples(scenario, seeds, workers, progress)[0]


def runs_needed(level: float, ci: float = CI) -> int:
    """The fewest samples for which the ``ci`` order-statistic interval of the ``level``
    quantile has an upper end: p^n <= (1 - ci) / 2 (``var.order_statistic_ranks``)."""
    return math.ceil(math.log((1.0 - ci) / 2.0) / math.log(level) - 1e-9)


def _note(row: pd.Series) -> str:
    parts = []
    if not np.isfinite(row["var_high"]):
        parts.append(f"upper bound open: {row['level']:.1%} needs >= "
                     f"{runs_needed(row['level']):,} samples")
    if not np.isfinite(row["var_low"]):
        parts.append("lower bound open")
    if row["n"] * (1.0 - row["level"]) < 1.0:
        parts.append("tail under one sample: VaR = ES = the largest loss")
    return "; ".join(parts)


def simulated_var(runs: pd.DataFrame, accounts: pd.DataFrame, seed: int,
                  levels: Sequence[float] = LEVELS) -> pd.DataFrame:
    """Historical VaR/ES (``historical_var_es``: order-statistic VaR interval, ES bootstrap
    from ``np.random.default_rng(seed)``) of the complete runs: per venue its traders' loss
    ("venue"), its funds' loss ("fund") and every (run, trader) loss ("account"); the traders'
    loss summed over venues ("all"; with several venues also "fund" and "account" over all).
    ``SIM_VAR_COLUMNS``; ``n`` = the runs (or account-runs) a row rests on, ``note`` says
    where that is too few for the level."""
    rng = np.random.default_rng(seed)
    done = runs[runs["status"] == "complete"]
    names = list(dict.fromkeys(runs["venue"]))
    samples: list[tuple[str, str, np.ndarray]] = []
    for name in names:
        mine = done[done["venue"] == name]
        samples += [("venue", name, mine["traders_loss_usd"].to_numpy()),
                    ("fund", name, mine["fund_loss_usd"].to_numpy()),
                    ("account", name, accounts.loc[accounts["venue"] == name,
                                                   "loss_usd"].to_numpy())]
    total = done.groupby("seed", sort=True)[["traders_loss_usd", "fund_loss_usd"]].sum()
    samples.append(("all", "all", total["traders_loss_usd"].to_numpy()))
    if len(names) > 1:
        samples += [("fund", "all", total["fund_loss_usd"].to_numpy()),
                    ("account", "all", accounts["loss_usd"].to_numpy())]
    out = []
    for scope, venue, x in samples:
        if x.size == 0:
            continue
        n_boot = int(min(N_BOOT, max(MIN_BOOT, BOOT_BUDGET // x.size)))
        table = historical_var_es(x, levels, rng=rng, n_boot=n_boot, ci=CI)
        out.append(table.assign(scope=scope, venue=venue))
    if not out:
        return pd.DataFrame(columns=list(SIM_VAR_COLUMNS))
    frame = pd.concat(out, ignore_index=True)
    frame["note"] = frame.apply(_note, axis=1)
    return frame[list(SIM_VAR_COLUMNS)]


def run_count(runs: pd.DataFrame, accounts: pd.DataFrame) -> pd.DataFrame:
    """One row: how many runs the simulated estimates rest on, and a sentence saying so."""
    by_seed = runs.groupby("seed")["status"].first()
    complete = int((by_seed == "complete").sum())
    seeds = sorted(by_seed.index.tolist())
    span = f"seeds {seeds[0]}..{seeds[-1]}" if seeds else "no seed"
    statement = (f"{complete} complete run(s) of {len(seeds)} ({span}); "
                 f"{len(accounts):,} trader-runs. 95% needs >= {runs_needed(0.95)} runs for "
                 f"an upper VaR bound, 99% >= {runs_needed(0.99)}, 99.9% >= "
                 f"{runs_needed(0.999):,}.")
    return pd.DataFrame([{"runs": len(seeds), "complete": complete,
                          "failed": len(seeds) - complete, "trader_runs": len(accounts),
                          "statement": statement}])


# ----------------------------------------------------------------------- full-run stress


def parse_moves(text: str) -> list[float]:
    """Comma-separated price moves ("-10%,-20%" or "-0.1,-0.2"), each within (-100%, +100%),
    in the order given without repeats."""
    out: list[float] = []
    for part in (p.strip() for p in str(text).split(",")):
        if not part:
            continue
        try:
            move = float(parse_fraction(part))
        except (TypeError, ValueError) as exc:
            raise ValueError(f"{part!r}: {exc}") from None
        if not -1 < move < 1:
            raise ValueError(f"{part!r}: a move within (-100%, +100%)")
        if move not in out:
            out.append(move)
    if not out:
        raise ValueError("give at least one price move, e.g. '-10%,-20%'")
    return out


def stressed_scenario(scenario: Scenario, asset: str, move: float, at_ms: int | None = None,
                      over_ms: int | None = None) -> Scenario:
    """``scenario`` with its shocks replaced by ``move`` of ``asset`` ("all": every asset at
    once), each with ``co_move`` off (the static pass moves only those), at ``at_ms`` (default
    the first shock's time, else 1 s) over ``over_ms`` (default the first shock's, else 1 s).
    A scenario with a replay is refused: its prices are history, a shock on top of them
    would mix a recorded move with a made-up one. Raises ``ValueError``/``ScenarioError``."""
    if scenario.replays:
        raise ValueError("full-run stress needs a scenario without replays: its replayed "
                         "prices are history, and a shock on top of them is not a stress cell")
    names = [a.name for a in scenario.assets]
    if asset != "all" and asset not in names:
        raise ValueError(f"asset {asset!r}: not one of the scenario's assets "
                         f"({', '.join(names)}) or 'all'")
    if not -1 < move < 1:
        raise ValueError(f"the move must be within (-100%, +100%) (got {move:g})")
    first = scenario.shocks[0] if scenario.shocks else None
    at = int(at_ms if at_ms is not None else (first.at if first else DEFAULT_AT_MS))
    over = int(over_ms if over_ms is not None else (first.over if first else DEFAULT_OVER_MS))
    if over < 0:
        raise ValueError(f"over: a duration of 0 or more (got {over} ms)")
    data = scenario.to_dict()
    data["shocks"] = [{"asset": a, "at": f"{at}ms", "move": float(move), "over": f"{over}ms",
                       "co_move": False} for a in (names if asset == "all" else [asset])]
    return parse_scenario(data)


def full_run_stress(scenario: Scenario, seed: int, moves: Sequence[float],
                    assets: Sequence[str] | None = None, over_ms: int | None = None,
                    workers: int = 1, progress: Progress | None = None) -> pd.DataFrame:
    """Each (asset or "all", move) cell run in full at ``seed`` (``stressed_scenario``):
    per venue ``FULL_COLUMNS`` (``book.STRESS_COLUMNS``, then the ADL notional and haircut,
    ``source`` "run" and the run's status). As in the static pass, ``adl_usd`` is the bad debt
    the funds did not pay (left to ADL, socialization or the venue); ``fund_drawdown_usd``
    is the funds' start minus end balance (net of the fees they earned)."""
    moves = [float(m) for m in moves]
    if not moves:
        raise ValueError("moves: give at least one price move")
    assets = list(assets) if assets is not None else [*(a.name for a in scenario.assets), "all"]
    cells = [(a, m) for a in assets for m in moves]
    try:
        jobs = [(stressed_scenario(scenario, a, m, over_ms=over_ms), seed) for a, m in cells]
    except ScenarioError as exc:
        raise ValueError(f"full-run stress: {str(exc).splitlines()[0]}") from None
    names = [v.name for v in scenario.venues]
    nan = float("nan")
    rows = []
    for (asset, move), outcome in zip(cells, _outcomes(jobs, workers, progress), strict=True):
        by_venue = {r["venue"]: r for r in outcome["venues"]}
        for name in names:
            r = by_venue.get(name, {})
            rows.append((name, asset, move, r.get("liquidated_usd", nan),
                         r.get("positions", 0), r.get("accounts", 0),
                         r.get("bad_debt_usd", nan), r.get("fund_usd", nan),
                         r.get("fund_loss_usd", nan),
                         r.get("unpaid_usd", nan),
                         r.get("adl_usd", nan), r.get("adl_haircut_usd", nan), "run",
                         outcome["status"]))
    return pd.DataFrame(rows, columns=list(FULL_COLUMNS)).astype(
        {"positions": "int64", "accounts": "int64"})


def stress_comparison(static: pd.DataFrame, full: pd.DataFrame) -> pd.DataFrame:
    """Cell by cell (venue, asset, move): each of ``COMPARED`` from the static pass
    (``<name>_static``) and the full run (``<name>_run``), and ``liquidated_ratio`` run /
    static (NaN where the static pass liquidates nothing). Cells of the full runs only."""
    keys = ["venue", "asset", "move"]
    left = full[keys + list(COMPARED)].copy()
    right = static[keys + list(COMPARED)].copy()
    for frame in (left, right):  # moves from different grids: the same cell to 1e-9
        frame["move"] = frame["move"].round(9)
    both = left.merge(right, on=keys, how="left", suffixes=("_run", "_static"))
    cols = keys + [f"{c}_{s}" for c in COMPARED for s in ("static", "run")]
    both = both[cols]
    static_liq = both["liquidated_usd_static"]
    both["liquidated_ratio"] = (both["liquidated_usd_run"] / static_liq).where(static_liq > 0)
    return both
