"""Trader populations: draw many accounts' collateral, positions and entries from distributions.

A population is a count, a notional distribution, a leverage mix, a long share, a spread of
entry prices around the current price (so liquidation prices form a ladder rather than a
wall), a market mix, the share of accounts holding several markets, and the share trading in
isolated margin. Accounts are directional: one account is long or short on all its markets.
Each account's leverage is capped by the market's maximum and by the tier its notional falls
in. An account that would already be below maintenance at the start price cannot exist (it
would have been liquidated), so its entry is redrawn; after a few rounds the remaining ones
enter at the start price.

Pure numpy over a generator passed in; knows the margin tiers of ``markets`` and nothing of
SimPy, venues' state or the simulator.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from markets.margin.formulas import MarginTiers

_REDRAWS = 8


@dataclass(frozen=True)
class PopulationSpec:
    count: int
    notional_distribution: str  # "lognormal" or "pareto"
    notional_median: float  # lognormal median
    notional_sigma: float  # lognormal sigma of log notional
    pareto_alpha: float
    pareto_minimum: float
    leverage_values: np.ndarray
    leverage_weights: np.ndarray
    long_share: float
    entry_spread: float  # stdev of log(entry / start price)
    market_weights: np.ndarray  # over the venue's markets (zeros for markets not traded)
    multi_market_share: float
    isolated_share: float
    # USD of position notional each market's positions must add up to (None: as drawn).
    target_usd: np.ndarray | None = None
    # Per market, the ladder its entries are drawn from (None: the spread around the price).
    entry_ladders: tuple[EntryLadder | None, ...] | None = None
    # Spare collateral beyond the initial margin, as multiples of it, and their weights.
    spare_values: np.ndarray | None = None
    spare_weights: np.ndarray | None = None


@dataclass(frozen=True)
class EntryLadder:
    """Past bars to draw entries from: each bar's low and high relative to the start price,
    and its probability (summing to 1, e.g. its share of the traded volume)."""

    low: np.ndarray
    high: np.ndarray
    weight: np.ndarray

    def ratios(self, u_bar: np.ndarray, u_within: np.ndarray) -> np.ndarray:
        """Entry / start price for uniform draws: a bar by weight, a price uniform in it."""
        cum = np.cumsum(self.weight)
        bar = np.minimum(np.searchsorted(cum, u_bar * cum[-1], side="right"), cum.size - 1)
        return self.low[bar] + u_within * (self.high[bar] - self.low[bar])


@dataclass(frozen=True)
class PopulationDraw:
    wallet: np.ndarray  # (n,) cross collateral
    pos: np.ndarray  # (n, m) signed base quantity
    entry: np.ndarray  # (n, m)
    isolated: np.ndarray  # (n, m) bool
    iso_margin: np.ndarray  # (n, m)
    leverage: np.ndarray  # (n,) leverage after caps


def draw_notional(spec: PopulationSpec, rng: np.random.Generator) -> np.ndarray:
    match spec.notional_distribution:
        case "lognormal":
            z = rng.standard_normal(spec.count)
            return spec.notional_median * np.exp(spec.notional_sigma * z)
        case "pareto":
            return spec.pareto_minimum * (1.0 + rng.pareto(spec.pareto_alpha, spec.count))
    raise ValueError(f"unknown notional distribution {spec.notional_distribution!r}")


def draw_population(
    spec: PopulationSpec, prices: np.ndarray, tiers: Sequence[MarginTiers],
    max_leverage: np.ndarray, rng: np.random.Generator,
) -> PopulationDraw:
    n, m = spec.count, len(prices)
    notional = draw_notional(spec, rng)
    lev_p = spec.leverage_weights / spec.leverage_weights.sum()
    lev = rng.choice(spec.leverage_values, size=n, p=lev_p)
    direction = np.where(rng.random(n) < spec.long_share, 1.0, -1.0)
    weights = spec.market_weights / spec.market_weights.sum()
    primary = rng.choice(m, size=n, p=weights)
    multi = rng.random(n) < spec.multi_market_share
    isolated_acct = rng.random(n) < spec.isolated_share
    # All entry draws up front, so the accounts drawn do not depend on margin rules (common
    # random numbers across mechanism variants): round r's redraws use z[r] (and, for markets
    # whose entries come from past bars, u_bar[r] and u_within[r]).
    z = rng.standard_normal((1 + _REDRAWS, n, m))
    ladders = spec.entry_ladders if spec.entry_ladders is not None else (None,) * m
    if any(ladder is not None for ladder in ladders):
        u_bar = rng.random((1 + _REDRAWS, n, m))
        u_within = rng.random((1 + _REDRAWS, n, m))
    spare = None
    if spec.spare_values is not None:
        spare_p = spec.spare_weights / spec.spare_weights.sum()
        spare = rng.choice(spec.spare_values, size=n, p=spare_p)

    def entries(r: int, rows: np.ndarray | slice) -> np.ndarray:
        """Round ``r``'s entry prices of ``rows``."""
        e = prices * np.exp(spec.entry_spread * z[r][rows])
        for k, ladder in enumerate(ladders):
            if ladder is not None:
                e[:, k] = prices[k] * ladder.ratios(u_bar[r][rows, k], u_within[r][rows, k])
        return e

    # Notional per market: all on the primary market, or split by the market mix if multi.
    share = np.zeros((n, m))
    share[np.arange(n), primary] = 1.0
    share[multi] = weights
    usd = notional[:, None] * share
    if spec.target_usd is not None:
        usd = _to_targets(usd, spec.target_usd)
    held = usd > 0
    for k in range(m):  # leverage cap of each held market's tier at its notional
        cap = np.minimum(tiers[k].leverage_cap(usd[:, k]), max_leverage[k])
        lev = np.where(held[:, k], np.minimum(lev, cap), lev)

    qty = direction[:, None] * usd / prices
    entry = np.where(held, entries(0, slice(None)), 0.0)
    isolated = held & isolated_acct[:, None]
    for r in range(1, 1 + _REDRAWS):
        bad = _breached_at_start(qty, entry, lev, isolated, prices, tiers, spare)
        if not bad.any():
            break
        entry[bad] = np.where(held[bad], entries(r, bad), 0.0)
    bad = _breached_at_start(qty, entry, lev, isolated, prices, tiers, spare)
    entry[bad] = np.where(held[bad], prices, 0.0)

    margin = np.abs(qty) * entry / lev[:, None]  # initial margin at entry
    iso_margin = np.where(isolated, margin, 0.0)
    wallet = np.where(isolated_acct, 0.0, margin.sum(axis=1))
    if spare is not None:  # free collateral in the cross wallet, beyond every position's margin
        wallet = wallet + spare * margin.sum(axis=1)
    return PopulationDraw(wallet, qty, entry, isolated, iso_margin, lev)


def _to_targets(usd: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Scale each market's column of drawn USD notional so that it adds up to its target."""
    drawn = usd.sum(axis=0)
    missing = (target > 0) & (drawn <= 0)
    if missing.any():
        raise ValueError(f"target_oi: no account of the block was drawn in market "
                         f"{int(np.flatnonzero(missing)[0])}; give it more accounts (count)")
    factor = np.divide(target, drawn, out=np.ones_like(drawn), where=drawn > 0)
    return usd * np.where(target > 0, factor, 1.0)


def _breached_at_start(
    qty: np.ndarray, entry: np.ndarray, lev: np.ndarray, isolated: np.ndarray,
    prices: np.ndarray, tiers: Sequence[MarginTiers], spare: np.ndarray | None = None,
) -> np.ndarray:
    """Accounts that would start below maintenance (cross) or with any isolated position so;
    ``spare`` collateral (multiples of the initial margin) backs the cross positions only."""
    margin = np.abs(qty) * entry / lev[:, None]
    upnl = qty * (prices - entry)
    mm = np.column_stack(
        [t.maintenance(np.abs(qty[:, k]) * prices[k]) for k, t in enumerate(tiers)]
    )
    cross_eq = np.where(isolated, 0.0, margin + upnl).sum(axis=1)
    if spare is not None:
        cross_eq = cross_eq + spare * margin.sum(axis=1)
    cross_mm = np.where(isolated, 0.0, mm).sum(axis=1)
    iso_bad = (isolated & (margin + upnl <= mm)).any(axis=1)
    return (cross_eq <= cross_mm) & (cross_mm > 0) | iso_bad


@dataclass(frozen=True)
class ResponseDraw:
    kind: np.ndarray  # (n,) int8: NONE, TOP_UP or REDUCE
    delay_ms: np.ndarray  # (n,) int64


NONE, TOP_UP, REDUCE = 0, 1, 2


def draw_responses(
    n: int, weights: Sequence[float], delay_median_ms: float, delay_sigma: float,
    rng: np.random.Generator,
) -> ResponseDraw:
    """Each account's response to a margin call (none / top up / reduce) and its delay."""
    w = np.asarray(weights, dtype=np.float64)
    kind = rng.choice(3, size=n, p=w / w.sum()).astype(np.int8)
    delay = np.rint(delay_median_ms * np.exp(delay_sigma * rng.standard_normal(n))).astype(np.int64)
    return ResponseDraw(kind, np.maximum(delay, 1))
