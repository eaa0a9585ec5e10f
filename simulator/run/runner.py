"""The run lifecycle: build -> run -> collect, as ``run(scenario, seed) -> RunResult``.

Wires the SimPy processes: the oracle (exogenous prices -> every venue's index, mark and
margin check), each venue's liquidation engine, market makers, margin-call responders,
funding, the arbitrageurs, and the sampler. Processes are plain generators; at one instant
SimPy runs them in creation order, and the oracle is created first so a tick's prices precede
what reacts to them. A non-finite number or a broken invariant (with ``check``) stops the run
with a message; what was recorded up to then is still returned.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Generator

import networkx as nx
import numpy as np
import simpy

from agents.arbitrageur import arbitrage_process
from agents.arrivals import arrivals_process
from agents.disruptions import disruption_log
from agents.flows import flows_process
from agents.funding_clock import funding_process
from agents.holders import auction_clock, unwinder
from agents.liquidation_engine import liquidation_engine, margin_on_moves, margin_poller
from agents.market_maker import MarketMaker, market_makers
from agents.socializer import socialization_clock
from agents.stops import stops_process
from agents.traders import MarginCallResponder
from agents.wakeup import Wakeup
from markets.events import EventKind, Reason
from markets.flows import DropTriggers, RestingBids
from markets.liquidation.settle import charge_deferred
from markets.maker_balance import BalanceSheet, MakerLimit
from markets.stops import StopLadder
from markets.venue import Venue
from simulator.config import Scenario
from simulator.errors import RunFailed, SimulationError
from simulator.run.build import World, build_world, withdrawal_rule
from simulator.run.collect import collect
from simulator.run.invariants import InvariantChecker
from simulator.run.recorder import Recorder
from simulator.run.result import RunResult

Progress = Callable[[int, int], None]  # (simulated ms done, total ms)


def run(
    scenario: Scenario, seed: int | None = None, *, check: bool = False,
    progress: Progress | None = None, graph: nx.DiGraph | None = None,
) -> RunResult:
    """Simulate ``scenario`` with ``seed`` (default: the scenario's own) and collect results.

    ``graph`` replaces the scenario's market graph (``market_graph(scenario, seed)`` gives it
    to edit): its cross-impact and index edges wire the run."""
    seed = scenario.seed if seed is None else int(seed)
    t0 = time.perf_counter()
    recorder = Recorder()
    world = build_world(scenario, seed, recorder, graph)
    t_build = time.perf_counter()
    env = _CountingEnvironment()
    checker = InvariantChecker(world) if check else None
    _start_processes(env, world, recorder, checker, progress)
    error: str | None = None
    unexpected: BaseException | None = None
    try:
        env.run(until=scenario.duration + 1)
    except SimulationError as exc:
        error = str(exc)
    except Exception as exc:  # a bug: still hand back what was recorded, then re-raise
        error = f"{type(exc).__name__}: {exc}"
        unexpected = exc
    else:
        for venue in world.venues:  # the last pools, at the end: nothing acts on them
            charge_deferred(venue, min(env.now, scenario.duration), check=False)
    t_run = time.perf_counter()
    result = collect(world, recorder, end_ms=min(env.now, scenario.duration), error=error)
    result.meta["timings"] = {
        "build_s": t_build - t0, "simulate_s": t_run - t_build,
        "collect_s": time.perf_counter() - t_run, "events": len(recorder),
        "simpy_events": env.processed,
    }
    if unexpected is not None:
        raise RunFailed(error, result) from unexpected
    return result


def simulate_until(
    scenario: Scenario, seed: int | None, until_ms: int, graph: nx.DiGraph | None = None,
) -> tuple[World, Recorder]:
    """The world and its recorder after every event at or before ``until_ms`` (clamped to
    the duration) of the simulation ``run`` performs: the same build and wiring, stopped
    early, with nothing collected and the last deficit pools left uncharged (a moment of a
    run, to inspect). A ``SimulationError`` propagates."""
    world, recorder, env = start_simulation(scenario, seed, graph)
    # SimPy stops before the events due at ``until``: one ms more takes those at until_ms.
    env.run(until=min(int(until_ms), scenario.duration) + 1)
    return world, recorder


def start_simulation(
    scenario: Scenario, seed: int | None, graph: nx.DiGraph | None = None,
) -> tuple[World, Recorder, simpy.Environment]:
    """The world as ``run`` builds and wires it, its recorder and an environment with every
    process started but nothing run yet (t = 0): to read the world, then ``env.run``."""
    seed = scenario.seed if seed is None else int(seed)
    recorder = Recorder()
    world = build_world(scenario, seed, recorder, graph)
    env = simpy.Environment()
    _start_processes(env, world, recorder, None, None)
    return world, recorder, env


class _CountingEnvironment(simpy.Environment):
    """SimPy's environment, counting the events it processes (for events/s figures)."""

    processed = 0

    def step(self) -> None:
        self.processed += 1
        super().step()


def _start_processes(
    env: simpy.Environment, world: World, recorder: Recorder,
    checker: InvariantChecker | None, progress: Progress | None,
) -> None:
    """Start every process and subscribe every listener to the venues' signals: all of a run's
    wiring is here, in the order listed (listeners are called in subscription order)."""
    sc = world.scenario
    env.process(_oracle(env, world, recorder, checker, progress))
    sheets = _balance_sheets(world)
    for venue, vc, behaviour in zip(world.venues, world.venue_configs, world.behaviours,
                                    strict=True):
        engine_wake = Wakeup(env)
        venue.enqueued.subscribe(engine_wake)
        env.process(liquidation_engine(env, venue, engine_wake))
        if _reached_from_elsewhere(venue, world):
            moved_wake = Wakeup(env)
            venue.moved.subscribe(moved_wake)
            env.process(margin_on_moves(env, venue, moved_wake))
        _start_mechanism(env, venue)
        makers = []
        sheet = sheets.get(venue.name)
        for m, mc in enumerate(vc.markets):
            asset = next(a for a in sc.assets if a.name == mc.asset)
            makers.append(MarketMaker(venue, m, withdrawal_rule(mc), vc.maker_interval,
                                      asset.volatility, sheet))
        env.process(market_makers(env, makers, vc.maker_interval, sheet))
        responder = MarginCallResponder(env, venue, behaviour.kind, behaviour.delay_ms,
                                        behaviour.top_up_to, behaviour.reduce_fraction)
        venue.margin_called.subscribe(responder.on_call)
        if checker is not None:
            venue.liquidating.subscribe(checker.before_liquidation)
            venue.liquidated.subscribe(checker.after_liquidation)
        if venue.disruptions:
            env.process(disruption_log(env, venue))
        if behaviour.arrivals:
            env.process(arrivals_process(env, venue, behaviour.arrivals))
        if behaviour.stops:
            env.process(stops_process(env, venue, StopLadder(len(venue.markets),
                                                             behaviour.stops)))
        n_markets = len(venue.markets)
        if behaviour.bids:
            env.process(flows_process(env, venue, RestingBids(n_markets, behaviour.bids),
                                      DropTriggers(n_markets, 1, [])))
        for window, triggers in behaviour.momentum:
            env.process(flows_process(env, venue, RestingBids(n_markets, []),
                                      DropTriggers(n_markets, window, triggers)))
        if vc.socialize != "never" and vc.socialize_interval > 0:
            env.process(socialization_clock(env, venue, vc.socialize_interval))
        if vc.funding.enabled:
            env.process(funding_process(env, venue, vc.funding.interval, vc.funding.interest,
                                        vc.funding.cap, vc.funding.first))
    for arb in world.arbitrageurs:
        env.process(arbitrage_process(env, arb))


def _balance_sheets(world: World) -> dict[str, BalanceSheet]:
    """Per venue name, the balance sheet its maker quotes from (venues naming the same
    ``balance_sheet`` share one), from the venues' state at the start."""
    by_name: dict[str, BalanceSheet] = {}
    sheets = {}
    for venue, vc in zip(world.venues, world.venue_configs, strict=True):
        risk = vc.maker_risk
        if risk is None:
            continue
        name = risk.balance_sheet or f"venue:{vc.name}"
        if name not in by_name:
            by_name[name] = BalanceSheet(name, MakerLimit(risk.loss_limit, risk.floor,
                                                          risk.spread_levels, risk.resume))
        by_name[name].add(venue)
        sheets[vc.name] = by_name[name]
    return sheets


def _reached_from_elsewhere(venue, world: World) -> bool:
    """Another venue's moves reach this venue's prices (cross impact or index weights)."""
    return any(link.venue is venue for other in world.venues if other is not venue
               for mk in other.markets for link in (*mk.cross_impacts, *mk.index_consumers))


def market_graph(scenario: Scenario, seed: int | None = None) -> nx.DiGraph:
    """The market graph a run of ``scenario`` at ``seed`` is wired by: edit it and pass it to
    ``run(..., graph=...)`` to change the wiring (the world itself stays the scenario's)."""
    seed = scenario.seed if seed is None else int(seed)
    return build_world(scenario, seed, Recorder()).market_graph


def _start_mechanism(env: simpy.Environment, venue) -> None:
    """The venue's mechanism processes: margin polling, unwinding holders, the auction clock."""
    rules, rows = venue.rules, venue.rows
    if rules.check_ms > 0:
        env.process(margin_poller(env, venue))
    if rows.vault is not None:
        env.process(unwinder(env, venue, rows.vault, rules.backstop.unwind))
    for row in rows.funds:
        env.process(unwinder(env, venue, row, rules.takeover.offload))
    for row in rows.keepers:
        env.process(unwinder(env, venue, row, rules.keepers.unwind))
    if rules.auction is not None:
        auction_wake = Wakeup(env)
        venue.auction_started.subscribe(auction_wake)
        env.process(auction_clock(env, venue, auction_wake))


def _oracle(
    env: simpy.Environment, world: World, recorder: Recorder, checker: InvariantChecker | None,
    progress: Progress | None,
) -> Generator:
    """Every oracle interval: new fundamentals to every venue, then margin checks; samples the
    time series at the end of the ticks that fall on the sampling grid, and of the last one."""
    sc, paths = world.scenario, world.paths
    step, sample = sc.clock.oracle_interval, sc.clock.sample_interval
    for venue in world.venues:
        recorder.sample(0, venue)
    logged = _shock_log(world, step)
    report_every = max(1, len(paths.times_ms) // 200)
    for k in range(1, len(paths.times_ms)):
        yield env.timeout(step)
        now = env.now
        for venue, move, asset, reason in logged.get(k - 1, ()):
            venue.sink.emit(EventKind.SHOCK, now, venue.name, amount=move, asset=asset,
                            reason=reason)
        prices = paths.prices[k]
        for venue, idx in zip(world.venues, world.asset_of_market, strict=True):
            if venue.disruptions and venue.disruptions.until("oracle", now) is not None:
                continue  # its feed is down: marks stay where the last update left them
            venue.on_oracle(now, prices[idx], prices)
            if not np.isfinite(venue.marks).all() or not all(
                    np.isfinite(f.balance) for f in venue.funds):
                raise SimulationError(f"a non-finite price or fund balance in {venue.name} at "
                                      f"{now} ms")
        if checker is not None:
            checker.check_all(now)
        if now % sample == 0 or k == len(paths.times_ms) - 1:  # the grid, and the end state
            for venue in world.venues:
                recorder.sample(now, venue)
        if progress is not None and (k % report_every == 0 or k == len(paths.times_ms) - 1):
            progress(now, sc.duration)


def _shock_log(
    world: World, step: int,
) -> dict[int, list[tuple[Venue, float, str, Reason | None]]]:
    """The shock events to log, by the tick they start at (the first at or after their time):
    a scripted shock on every venue, then a depeg on its own venue."""
    by_name = {venue.name: venue for venue in world.venues}
    logged: dict[int, list] = {}
    for s in world.scenario.shocks:
        for venue in world.venues:
            logged.setdefault(-(-s.at // step), []).append((venue, s.move, s.asset, None))
    for d in world.scenario.depegs:
        logged.setdefault(-(-d.at // step), []).append(
            (by_name[d.venue], d.move, d.asset, Reason.DEPEG))
    return logged
