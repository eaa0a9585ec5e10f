"""Build: turn a validated scenario and a seed into the objects a run needs.

Draws the exogenous price paths, builds every venue (markets with their books and prices,
accounts from the explicit list and the population generators, the insurance fund), and the
market graph, which then wires the venues (cross impacts, indices). Randomness comes from the
run's named streams: ``prices`` for the paths, ``population:<name>`` and ``behaviour:<name>``
per population, so variants of a scenario that differ only in mechanism see the same world.
Nothing here advances time.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import networkx as nx
import numpy as np
import pandas as pd

from agents.market_maker import WithdrawalRule
from markets.absorption import FlowBudget
from markets.arbitrage import Arbitrageur
from markets.book import DepthProfile, OrderBook
from markets.collateral import CollateralBook, Depeg
from markets.disruptions import Disruptions, Window
from markets.events import EventSink
from markets.insurance_fund import InsuranceFund
from markets.inverse import CoinEventView, coin_positions, coin_stops
from markets.liquidation.pipeline import closer_for
from markets.margin.accounts import Accounts
from markets.market_graph import market_node
from markets.prices.marks import MarketPrices, MarkRule
from markets.prices.paths import Jumps, PricePaths, Replay, Shock, build_paths
from markets.risk_controls import CircuitBreaker, VolatilityMargin
from markets.rules import (
    AdlRules,
    AuctionRules,
    BackstopRule,
    ChunkRule,
    KeeperRule,
    LiquidationRules,
    TakeoverRule,
    UnwindRule,
)
from markets.venue import Market, Venue, VenueRows
from markets.wiring import WiringError, arbitrageurs, compile_wiring, wire
from simulator.config import Scenario, ScenarioError
from simulator.config import models as cfg
from simulator.config.scaling import scaled
from simulator.run.coin_terms import coin_terms
from simulator.run.epoch import schedule_depths
from simulator.run.populations import (
    Behaviour,
    Labels,
    draw_block,
    entry_ladders,
    flat_rows,
)
from simulator.run.rng import RunRandom
from simulator.run.world_graph import scenario_graph

MAKER = "maker"
ARBITRAGE = "arbitrage"  # the account group of arbitrageurs' accounts


@dataclass
class World:
    scenario: Scenario
    seed: int
    paths: PricePaths
    venues: list[Venue]
    venue_configs: list[cfg.Venue]
    asset_of_market: list[np.ndarray]  # per venue: asset index of each market
    behaviours: list[Behaviour]
    accounts: pd.DataFrame  # static description of every account (venue, row, label, ...)
    market_graph: nx.MultiDiGraph
    initial: list[dict[str, np.ndarray]] = field(default_factory=list)
    arbitrageurs: list[Arbitrageur] = field(default_factory=list)


def build_paths_for(scenario: Scenario, rng: np.random.Generator) -> PricePaths:
    names = [a.name for a in scenario.assets]
    step = scenario.clock.oracle_interval
    n_steps = max(1, scenario.duration // step)
    jumps = [
        Jumps(a.jumps.rate_per_day * 365, a.jumps.mean, a.jumps.stdev) if a.jumps else Jumps()
        for a in scenario.assets
    ]
    shocks = [
        Shock(names.index(s.asset), s.at, s.over, s.move, s.co_move) for s in scenario.shocks
    ]
    replays = []
    for r in scenario.replays:
        times, prices = r.series()
        replays.append(Replay(names.index(r.asset), times, prices, r.rescale))
    return build_paths(
        [a.price for a in scenario.assets], [a.volatility for a in scenario.assets],
        [a.drift for a in scenario.assets], scenario.correlation_matrix(), step, n_steps, rng,
        jumps=jumps, shocks=shocks, replays=replays,
    )


def build_world(
    scenario: Scenario, seed: int, sink: EventSink, graph: nx.DiGraph | None = None,
) -> World:
    """The world of ``scenario`` at ``seed``, wired by ``graph`` (default: the scenario's own
    market graph, ``scenario_graph``). A scenario with a ``scale`` is built at that size
    (``simulator.config.scaling``); the world holds the scaled scenario."""
    if scenario.scale != 1.0:
        scenario = scaled(scenario)
    rnd = RunRandom(seed)
    paths = build_paths_for(scenario, rnd.stream("prices"))
    asset_names = [a.name for a in scenario.assets]
    venues, asset_idx, behaviours, frames, initial = [], [], [], [], []
    for vc in scenario.venues:
        idx = np.array([asset_names.index(m.asset) for m in vc.markets])
        venue, behaviour, frame = _build_venue(scenario, vc, paths.prices[0][idx], sink, rnd,
                                               paths.prices[0])
        venues.append(venue)
        asset_idx.append(idx)
        behaviours.append(behaviour)
        frames.append(frame)
    accounts = pd.concat(frames, ignore_index=True)
    _flow_budgets(scenario, venues)
    if graph is None:
        graph = scenario_graph(scenario, venues, accounts)
    arb_rows: dict[str, dict[str, int]] = {}
    for rec in accounts[accounts["group"] == ARBITRAGE].itertuples(index=False):
        arb_rows.setdefault(rec.label.removeprefix("arb:"), {})[rec.venue] = int(rec.account)
    try:
        wiring = compile_wiring(graph, [market_node(v.name, m.name) for v in venues
                                        for m in v.markets])
        wire(venues, wiring)
        arbs = arbitrageurs(venues, wiring, arb_rows)
    except WiringError as exc:
        raise ScenarioError(str(exc)) from None
    for venue in venues:  # after the wiring: it sets the arbitrageurs' collateral
        acc = venue.accounts
        initial.append({"wallet": acc.wallet.copy(), "pos": acc.pos.copy(),
                        "iso_margin": acc.iso_margin.copy()})
    return World(scenario, seed, paths, venues, list(scenario.venues), asset_idx, behaviours,
                 accounts, graph, initial, arbs)


def _flow_budgets(scenario: Scenario, venues: list[Venue]) -> None:
    """A traded-price replay (``mode: traded``) with its file: every market of its asset, on
    every venue, gets its own budget of the bars' absorbed flow (``markets.absorption``)."""
    for r in scenario.replays:
        bars = r.flow() if r.mode == "traded" else None
        if bars is None:  # fundamental, or a stand-in path without flow data
            continue
        for venue in venues:
            for mk in venue.markets:
                if mk.asset == r.asset:
                    mk.flow_budget = FlowBudget(*bars)


def _market(vc: cfg.Venue, mc: cfg.Market, price: float) -> Market:
    step = max(1, round(mc.depth.level_step * price / mc.tick)) * mc.tick
    profile = DepthProfile(
        np.array([p[0] for p in mc.depth.profile]),
        np.array([p[1] * mc.depth.scale for p in mc.depth.profile]), mc.depth.max_distance,
    )
    book = OrderBook(profile, step, mc.tick, price, float(mc.resilience))
    rule = MarkRule(vc.mark.method, float(vc.mark.ema_half_life), vc.mark.clamp)
    prices = MarketPrices(price, rule, mc.recentre, vc.mark.index_impact_share)
    controls = vc.risk_controls
    vm = controls.volatility_margin
    cb = controls.circuit_breaker
    return Market(
        mc.name, mc.asset, mc.margin_tiers(), book, prices, mc.leverage_limit,
        open_interest_cap=mc.open_interest_cap,
        volatility_margin=None if vm is None else VolatilityMargin(
            vm.reference_vol, vm.sensitivity, vm.max_multiplier, float(vm.half_life), vm.step),
        breaker=None if cb is None else CircuitBreaker(cb.threshold, cb.window, cb.pause),
    )


def liquidation_rules(vc: cfg.Venue) -> LiquidationRules:
    """The venue's mechanism as the plain values the markets code reads."""
    lq, a = vc.liquidation, vc.adl
    chunk = lq.chunking
    backstop = lq.backstop
    take = lq.fund_takeover
    auction = lq.auction
    keepers = auction.keepers if auction is not None else None
    return LiquidationRules(
        fee_rate=lq.fee_rate, fee_to=lq.fee_to, fee_share=vc.fund.fee_share, surplus=lq.surplus,
        margin_call_level=lq.margin_call_level, throughput_per_s=lq.throughput_per_s,
        latency_ms=lq.latency, trigger=lq.trigger, check_ms=lq.check_interval, close=lq.close,
        partial_target=lq.partial_target,
        chunk=None if chunk is None else ChunkRule(chunk.above, chunk.fraction, chunk.cooldown),
        backstop=None if backstop is None else BackstopRule(
            backstop.below, UnwindRule(backstop.unwind, backstop.unwind_interval)),
        takeover=None if take is None else TakeoverRule(
            take.capacity, UnwindRule(take.offload, take.offload_interval), take.whole),
        auction=None if auction is None else AuctionRules(
            auction.start_premium, auction.cut, auction.step, auction.cusp, auction.duration),
        keepers=None if keepers is None else KeeperRule(
            keepers.count, keepers.capital, keepers.min_discount, keepers.leverage,
            UnwindRule(keepers.unwind, keepers.unwind_interval)),
        adl=AdlRules(a.trigger, a.drawdown, a.window, a.ranking, a.price, a.ranking_interval,
                     a.on, a.queue),
        socialize=vc.socialize, socialize_ms=vc.socialize_interval,
        socialize_maker=vc.socialize_maker,
        halt=vc.risk_controls.circuit_breaker.halt if vc.risk_controls.circuit_breaker else
        "liquidations",
        backing=lq.backing,
    )


def _funds(vc: cfg.Venue, markets: list[Market]) -> list[InsuranceFund]:
    """The shared fund first, then one per market that has its own."""
    f = vc.fund
    shared = vc.insurance_fund
    if vc.liquidation.backstop is not None and vc.liquidation.backstop.capital is None:
        shared = 0.0  # the fund's money is the vault's capital
    funds = [InsuranceFund(shared, f.cap_per_event, f.cap_per_period, f.period, vc.name)]
    for mk, mc in zip(markets, vc.markets, strict=True):
        if mc.insurance_fund is not None:
            mk.fund = len(funds)
            funds.append(InsuranceFund(mc.insurance_fund, f.cap_per_event, f.cap_per_period,
                                       f.period, f"{vc.name}:{mc.name}"))
    return funds


def _build_venue(
    scenario: Scenario, vc: cfg.Venue, prices: np.ndarray, sink: EventSink, rnd: RunRandom,
    asset_prices: np.ndarray,
) -> tuple[Venue, Behaviour, pd.DataFrame]:
    usd_terms = vc
    inverse = vc.contract == "inverse"
    if inverse:  # the venue runs in x = 1/P with money in the coin; traders are drawn in USD
        vc = coin_terms(vc, float(prices[0]))
    venue_prices = 1.0 / prices if inverse else prices
    markets = [_market(vc, mc, float(p)) for mc, p in zip(vc.markets, venue_prices, strict=True)]
    schedule_depths(scenario, vc, markets)  # depth windows: the books follow their files
    names = [m.name for m in markets]
    explicit = [a for a in scenario.accounts if a.venue == vc.name]
    pops = [p for p in scenario.populations if p.venue == vc.name]
    rules = liquidation_rules(vc)
    funds = _funds(vc, markets)
    arbs = [a for a in scenario.arbitrage if vc.name in a.venues]
    traders = 1 + len(explicit) + len(arbs) + sum(p.count + flat_rows(p) for p in pops)
    own = _venue_rows(rules, len(funds), traders)
    n = traders + int(own.vault is not None) + len(own.funds) + len(own.keepers)
    acc = Accounts(n, [m.tiers for m in markets])
    acc.iso_mm_at_entry = vc.liquidation.isolated_maintenance == "entry"
    book = _collateral_book(scenario, vc, n, asset_prices)
    behaviour = Behaviour.rows(n)
    labels = Labels([MAKER], [MAKER], [np.nan])
    acc.liquidatable[0] = False
    row = 1
    for a in explicit:
        acc.wallet[row] = a.collateral
        for name, qty in a.collateral_assets.items():
            c = book.names.index(name)
            book.holdings[row, c] = qty
            acc.wallet[row] += qty * book.prices[c] * (1.0 - book.haircuts[c])
        for p in a.positions:
            m = names.index(p.market)
            acc.pos[row, m] += p.qty
            acc.entry[row, m] = p.entry
            if a.margin_mode == "isolated":
                acc.isolated[row, m] = True
                acc.iso_margin[row, m] = p.margin or 0.0
        behaviour.respond(a.response, row, row + 1, rnd.stream(f"behaviour:{a.name}"))
        labels.add([a.name], "accounts", [np.nan])
        row += 1
    tiers = [mc.margin_tiers() for mc in usd_terms.markets]
    max_leverage = np.array([m.max_leverage for m in markets])
    for p in pops:
        row = draw_block(p, names, prices, tiers, max_leverage, acc, book, behaviour, labels,
                         rnd, row, entry_ladders(p, usd_terms.markets, scenario.replays))
    if inverse:
        _to_coin(acc, behaviour, slice(1, row), float(prices[0]))
    for a in arbs:  # ordinary accounts, flat at the start; collateral: half the capital
        acc.wallet[row] = a.capital / 2
        labels.add([f"arb:{a.name}"], ARBITRAGE, [a.leverage])
        row += 1
    # Venue-side rows: never liquidated; the vault and keepers start with their capital.
    if own.vault is not None:
        backstop = vc.liquidation.backstop
        acc.wallet[own.vault] = (vc.insurance_fund if backstop.capital is None
                                  else backstop.capital)
        labels.labels.append("vault")
    labels.labels.extend(f"fund:{f.name}" for f in funds[: len(own.funds)])
    if own.keepers:
        acc.wallet[list(own.keepers)] = vc.liquidation.auction.keepers.capital
        labels.labels.extend(f"keeper#{k}" for k in range(len(own.keepers)))
    extra = n - traders
    labels.groups.extend(["venue"] * extra)
    labels.leverage.extend([np.nan] * extra)
    acc.liquidatable[traders:] = False
    # The maker stands for the rest of the market: it holds the other side of every position.
    acc.pos[0] = -acc.pos[1:].sum(axis=0)
    acc.entry[0] = np.where(acc.pos[0] != 0, venue_prices, 0.0)
    acc.recount()
    venue = Venue(vc.name, markets, acc, funds, rules, sink, own, closer=closer_for(rules))
    if inverse:
        venue.inverse, venue.usd_at_start = True, float(prices[0])
        venue.sink = CoinEventView(sink, lambda: venue.markets[0].prices.mark)
    if vc.collateral:
        venue.collateral = book
    venue.disruptions = Disruptions([
        Window(d.kind, d.at, d.at + d.over, d.latency_multiplier)
        for d in scenario.disruptions if d.venue == vc.name])
    mode = np.where(acc.isolated.any(axis=1), "isolated", "cross")
    frame = pd.DataFrame({
        "venue": vc.name, "account": np.arange(n), "label": labels.labels,
        "group": labels.groups, "margin_mode": mode, "leverage": labels.leverage,
        "effective_leverage": _effective_leverage(acc, venue_prices, traders),
        "response": np.array(["none", "top_up", "reduce"])[behaviour.kind],
    })
    behaviour.arrivals.sort(key=lambda o: (o[0], o[1]))
    return venue, behaviour, frame


def _effective_leverage(acc: Accounts, prices: np.ndarray, traders: int) -> np.ndarray:
    """Each trader's position notional over its equity at the start (wallet, isolated margin
    and unrealised PnL): the leverage its collateral really carries, spare included. NaN for
    flat accounts, the maker and the venue's own rows."""
    notional = (np.abs(acc.pos) * prices).sum(axis=1)
    equity = acc.wallet + acc.iso_margin.sum(axis=1) + (acc.pos * (prices - acc.entry)).sum(axis=1)
    out = np.full(acc.pos.shape[0], np.nan)
    rows = np.arange(acc.pos.shape[0])
    ok = (rows >= 1) & (rows < traders) & (notional > 0) & (equity > 0)
    out[ok] = notional[ok] / equity[ok]
    return out


def _to_coin(acc: Accounts, behaviour: Behaviour, rows: slice, price: float) -> None:
    """Traders' rows drawn in USD terms, as the inverse venue holds them (``markets.inverse``)."""
    acc.pos[rows], acc.entry[rows], acc.wallet[rows] = coin_positions(
        acc.pos[rows], acc.entry[rows], acc.wallet[rows], price)
    acc.iso_margin[rows] /= price
    behaviour.stops = coin_stops(behaviour.stops)


def _collateral_book(
    scenario: Scenario, vc: cfg.Venue, n: int, asset_prices: np.ndarray,
) -> CollateralBook:
    """The venue's non-USD collateral (empty when it takes USD only), valued at the start."""
    assets = [a.name for a in scenario.assets]
    names = [c.asset for c in vc.collateral]
    sources = np.array([assets.index(a) for a in names], dtype=np.int64)
    depegs = [Depeg(names.index(d.asset), d.at, d.over, d.move) for d in scenario.depegs
              if d.venue == vc.name]
    return CollateralBook(names, sources, np.array([c.haircut for c in vc.collateral]),
                          np.zeros((n, len(names))), np.asarray(asset_prices)[sources], depegs)


def _venue_rows(rules: LiquidationRules, n_funds: int, start: int) -> VenueRows:
    row = start
    vault = None
    if rules.backstop is not None:
        vault, row = row, row + 1
    funds: tuple[int, ...] = ()
    if rules.takeover is not None:
        funds, row = tuple(range(row, row + n_funds)), row + n_funds
    keepers: tuple[int, ...] = ()
    if rules.keepers is not None:
        keepers = tuple(range(row, row + rules.keepers.count))
    return VenueRows(0, vault, funds, keepers)


def withdrawal_rule(mc: cfg.Market) -> WithdrawalRule:
    w = mc.withdrawal
    return WithdrawalRule(w.reference_vol, w.sensitivity, w.floor, float(w.half_life), w.enabled)

