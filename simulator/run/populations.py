"""Drawing a venue's population blocks into its account rows.

Each block gives the accounts holding positions at the start (with their stop-losses), then
the flat accounts that act during the run, all drawn from the block's rules: arrivals opening
positions at drawn times, dip buyers resting bids below the market, momentum sellers waiting
for a fall. Randomness comes from the run's named streams (``population:<name>``,
``arrivals:<name>``, ``dip_buyers:<name>``, ``momentum:<name>``, ``stops:<name>`` and
``behaviour:...``), so adding a block leaves the others' draws unchanged. Nothing here
advances time.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

from agents.population import (
    NONE,
    EntryLadder,
    PopulationSpec,
    draw_population,
    draw_responses,
)
from markets.collateral import CollateralBook
from markets.flows import draw_bids, draw_drops
from markets.margin.accounts import Accounts
from markets.stops import draw_stops
from simulator.config import ScenarioError
from simulator.config import models as cfg
from simulator.config.entries import history_bars
from simulator.config.replays import Replay
from simulator.run.rng import RunRandom


@dataclass
class Behaviour:
    """What one venue's accounts do: margin-call responses (row-aligned); the arrivals'
    openings, (time ms, row, [(market, signed USD notional)]) in time order; stop-losses
    (``markets.stops``); dip bids and momentum triggers (``markets.flows``), the latter as
    (window ms, triggers) per population block."""

    kind: np.ndarray
    delay_ms: np.ndarray
    top_up_to: np.ndarray
    reduce_fraction: np.ndarray
    arrivals: list[tuple[int, int, list[tuple[int, float]]]] = field(default_factory=list)
    stops: list[tuple[int, int, float, int]] = field(default_factory=list)
    bids: list[tuple[int, int, float, float]] = field(default_factory=list)
    momentum: list[tuple[int, list[tuple[int, int, float, float]]]] = field(default_factory=list)

    @classmethod
    def rows(cls, n: int) -> Behaviour:
        return cls(np.full(n, NONE, dtype=np.int8), np.ones(n, dtype=np.int64), np.full(n, 0.5),
                   np.full(n, 0.5))

    def respond(self, r: cfg.Response, start: int, stop: int, rng: np.random.Generator) -> None:
        """Rows [start, stop) respond to margin calls as ``r`` says (drawn per row)."""
        draw = draw_responses(stop - start, [r.none, r.top_up, r.reduce], r.delay,
                              r.delay_sigma, rng)
        self.kind[start:stop] = draw.kind
        self.delay_ms[start:stop] = draw.delay_ms
        self.top_up_to[start:stop] = r.top_up_to
        self.reduce_fraction[start:stop] = r.reduce_fraction


def flat_rows(p: cfg.Population) -> int:
    """Accounts a block adds beyond those holding positions at the start."""
    return sum(b.count for b in (p.arrivals, p.dip_buyers, p.momentum) if b is not None)


@dataclass
class Labels:
    """Row-aligned descriptions of the accounts, for the accounts table."""

    labels: list[str]
    groups: list[str]
    leverage: list[float]

    def add(self, names: list[str], group: str, leverage: list[float]) -> None:
        self.labels.extend(names)
        self.groups.extend([group] * len(names))
        self.leverage.extend(leverage)


def draw_block(
    p: cfg.Population, market_names: list[str], prices: np.ndarray, tiers: list,
    max_leverage: np.ndarray, acc: Accounts, book: CollateralBook, behaviour: Behaviour,
    labels: Labels, rnd: RunRandom, row: int,
    ladders: tuple[EntryLadder | None, ...] | None = None,
) -> int:
    """Draw population block ``p`` into rows from ``row`` on; returns the next free row.
    ``ladders``: per market, the past bars entries are drawn from (``entry_ladders``)."""
    spec = replace(population_spec(p, market_names), entry_ladders=ladders)
    try:
        draw = draw_population(spec, prices, tiers, max_leverage,
                               rnd.stream(f"population:{p.name}"))
    except ValueError as exc:  # a target the block's draw cannot meet
        raise ScenarioError(f"populations.{p.name}.{exc}") from None
    rows = slice(row, row + p.count)
    acc.wallet[rows] = draw.wallet
    hold(book, p, rows, draw.wallet)
    acc.pos[rows] = draw.pos
    acc.entry[rows] = draw.entry
    acc.isolated[rows] = draw.isolated
    acc.iso_margin[rows] = draw.iso_margin
    behaviour.respond(p.response, row, row + p.count, rnd.stream(f"behaviour:{p.name}"))
    if p.stops is not None:
        behaviour.stops += draw_stops(row, draw.pos, prices, p.stops.share, *p.stops.distance,
                                      rnd.stream(f"stops:{p.name}"))
    labels.add([f"{p.name}#{k}" for k in range(p.count)], p.name, draw.leverage.tolist())
    row += p.count

    def flat(block: str, count: int, long_share: float, stream: np.random.Generator,
             tag: str) -> tuple[int, np.ndarray]:
        """``count`` flat accounts from the block's rules (cross margin, entries at the
        start): their first row and USD notional per market (signed by side)."""
        nonlocal row
        sub = replace(spec, count=count, isolated_share=0.0, entry_spread=0.0, target_usd=None,
                      long_share=long_share, entry_ladders=None, spare_values=None,
                      spare_weights=None)
        d = draw_population(sub, prices, tiers, max_leverage, stream)
        start = row
        acc.wallet[start:start + count] = d.wallet  # flat until they trade
        hold(book, p, slice(start, start + count), d.wallet)
        behaviour.respond(p.response, start, start + count,
                          rnd.stream(f"behaviour:{p.name}:{block}"))
        labels.add([f"{p.name}{tag}{k}" for k in range(count)], f"{p.name}:{block}",
                   d.leverage.tolist())
        row += count
        return start, d.pos * prices

    if p.arrivals is not None:
        a = p.arrivals
        stream = rnd.stream(f"arrivals:{p.name}")
        start, usd = flat("arrivals", a.count,
                          p.long_share if a.long_share is None else a.long_share, stream, "+")
        times = stream.integers(a.start, a.end, size=a.count)
        for k in range(a.count):
            behaviour.arrivals.append((int(times[k]), start + k, [
                (int(m), float(usd[k, m])) for m in np.flatnonzero(usd[k])]))
    if p.dip_buyers is not None:
        b = p.dip_buyers
        stream = rnd.stream(f"dip_buyers:{p.name}")
        start, usd = flat("dip_buyers", b.count, 1.0, stream, "^")
        behaviour.bids += draw_bids(start, usd, prices, *b.distance, stream)
    if p.momentum is not None:
        mo = p.momentum
        stream = rnd.stream(f"momentum:{p.name}")
        start, usd = flat("momentum", mo.count, 0.0, stream, "v")
        behaviour.momentum.append((mo.window, draw_drops(start, usd, *mo.drop, stream)))
    return row


def hold(book: CollateralBook, p: cfg.Population, rows: slice, wallet: np.ndarray) -> None:
    """Hold the population's ``collateral_mix`` share of each account's collateral value in
    those assets (the wallet's value after haircuts is unchanged)."""
    for name, share in p.collateral_mix.items():
        c = book.names.index(name)
        book.holdings[rows, c] = share * wallet / (book.prices[c] * (1.0 - book.haircuts[c]))


def entry_ladders(
    p: cfg.Population, markets: list[cfg.Market], replays: list[Replay],
) -> tuple[EntryLadder | None, ...] | None:
    """Per market, the replayed bars before the start that block ``p`` draws entries from
    (None for a market without a replayed file, or for every market with ``source:
    spread``)."""
    if p.entries.source != "history":
        return None
    by_asset = {r.asset: r for r in replays}
    out: list[EntryLadder | None] = []
    for mc in markets:
        bars = history_bars(by_asset[mc.asset], p.entries) if mc.asset in by_asset else None
        out.append(None if bars is None else EntryLadder(bars.low, bars.high, bars.weight))
    return tuple(out)


def population_spec(p: cfg.Population, market_names: list[str]) -> PopulationSpec:
    lev, weights = p.leverage_arrays()
    spare = p.spare_arrays()
    mix = np.array([p.markets.get(name, 0.0) for name in market_names])
    target = None
    if p.target_oi is not None:
        target = np.array([p.target_oi.get(name, 0.0) for name in market_names])
    return PopulationSpec(
        p.count, p.notional.distribution, p.notional.median, p.notional.sigma, p.notional.alpha,
        p.notional.minimum, lev, weights, p.long_share, p.entry_spread, mix,
        p.multi_market_share, p.isolated_share, target,
        spare_values=None if spare is None else spare[0],
        spare_weights=None if spare is None else spare[1],
    )
