"""Collateral in other assets than USD: holdings valued at their price, after a haircut.

An account's cross wallet is its collateral's USD value after haircuts: USD cash plus, per
collateral asset, ``qty x price x (1 - haircut)``. Trading PnL, fees and funding settle in
USD, so the cash part may go negative against coin collateral (a loan against it, as in real
multi-asset margin modes). When a collateral price moves, its holders' wallets are revalued
by ``qty x (new - old) x (1 - haircut)`` and those accounts must be checked afresh: nothing
else about them changed, yet they can breach (a stablecoin depeg with no position price
moving). A venue may value an asset below its fundamental for a while (``Depeg``: a move
ramped in over a window, e.g. a stablecoin trading below its peg on that venue's own book).

Pure arithmetic on arrays; nothing here knows SimPy or the simulator.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Depeg:
    """The venue values ``asset`` (its collateral index) at ``1 + move`` times its fundamental,
    ramped in linearly over ``over_ms`` from ``at_ms``, and stays there."""

    asset: int
    at_ms: int
    over_ms: int
    move: float

    def factor(self, now_ms: int) -> float:
        if now_ms <= self.at_ms:
            return 1.0
        done = 1.0 if self.over_ms <= 0 else min((now_ms - self.at_ms) / self.over_ms, 1.0)
        return 1.0 + self.move * done


class CollateralBook:
    """One venue's non-USD collateral: per asset its haircut, price source and holdings."""

    def __init__(
        self, names: list[str], sources: np.ndarray, haircuts: np.ndarray, holdings: np.ndarray,
        prices: np.ndarray, depegs: list[Depeg] | None = None,
    ) -> None:
        self.names = list(names)
        self.sources = np.asarray(sources, dtype=np.int64)  # index into the run's assets
        self.haircuts = np.asarray(haircuts, dtype=float)
        self.holdings = np.asarray(holdings, dtype=float)  # (accounts, assets) quantities
        self.prices = np.asarray(prices, dtype=float)  # the venue's valuation now
        self.depegs = list(depegs or [])
        self.revalued = 0.0  # total USD added to wallets by revaluation (a loss is negative)
        self._holders: list[np.ndarray] | None = None  # per asset; holdings are fixed once run

    def valuation(self, now_ms: int, asset_prices: np.ndarray) -> np.ndarray:
        """The venue's price of each collateral asset at ``now_ms``."""
        prices = np.asarray(asset_prices, dtype=float)[self.sources].copy()
        for d in self.depegs:
            prices[d.asset] *= d.factor(now_ms)
        return prices

    def value(self, rows: np.ndarray | slice) -> np.ndarray:
        """USD value after haircuts of the collateral ``rows`` hold, at the current prices."""
        return self.holdings[rows] @ (self.prices * (1.0 - self.haircuts))

    def revalue(self, wallet: np.ndarray, now_ms: int, asset_prices: np.ndarray) -> np.ndarray:
        """Move ``wallet`` by the change in its holders' collateral value; returns the rows
        revalued (their margin changed with no trade)."""
        new = self.valuation(now_ms, asset_prices)
        moved = np.flatnonzero(new != self.prices)
        if moved.size == 0:
            return np.zeros(0, dtype=np.int64)
        step = (new - self.prices) * (1.0 - self.haircuts)
        if self._holders is None:
            self._holders = [np.flatnonzero(self.holdings[:, c]) for c in range(len(self.names))]
        rows = np.unique(np.concatenate([self._holders[c] for c in moved]))
        delta = self.holdings[rows][:, moved] @ step[moved]
        wallet[rows] += delta
        self.revalued += float(delta.sum())
        self.prices = new
        return rows
