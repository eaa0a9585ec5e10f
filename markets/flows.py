"""New flow during a crash: dip buyers' resting bids and momentum sellers' triggers.

A dip buyer rests a limit bid below the market; once the best ask has come down to its price
it buys what the asks offer at or below it (a marketable limit order), and what is left keeps
resting. The maker's ladder holds only the maker's quotes, so a resting bid is not depth that a
sell walks through: it fills just after the fall has reached it, at the asks, and its buying
turns the fall. A momentum seller opens a short by market order once its market's price has
fallen a drawn share from its highest within a trailing window.

Pure bookkeeping: which bids and triggers fire, not how orders are placed (``agents.flows``);
nothing here knows SimPy or venues.
"""

from __future__ import annotations

from collections import deque

import numpy as np


def draw_bids(
    first_row: int, usd: np.ndarray, prices: np.ndarray, low: float, high: float,
    rng: np.random.Generator,
) -> list[tuple[int, int, float, float]]:
    """Dip buyers' bids ``(row, market, limit price, qty)``: each account (a row of ``usd``,
    its budget per market) bids at one distance drawn uniformly in [low, high] below the
    start ``prices``, for its budget at that price."""
    distance = rng.uniform(low, high, size=usd.shape[0])
    out = []
    for k in range(usd.shape[0]):
        for m in np.flatnonzero(usd[k]).tolist():
            limit = float(prices[m] * (1.0 - distance[k]))
            out.append((first_row + k, m, limit, abs(float(usd[k, m])) / limit))
    return out


class RestingBids:
    """One venue's dip bids per market, the highest last: the next to fill is at the end."""

    def __init__(self, n_markets: int, bids: list[tuple[int, int, float, float]]) -> None:
        self.bids: list[list[list[float | int]]] = [[] for _ in range(n_markets)]
        for row, m, limit, qty in bids:
            self.bids[m].append([limit, row, qty])
        for side in self.bids:
            side.sort(key=lambda b: (b[0], -b[1]))  # ties: the lowest row fills first

    def __len__(self) -> int:
        return sum(len(b) for b in self.bids)

    def reached(self, m: int, best_ask: float) -> list[tuple[int, float, float]]:
        """Pop the bids of market ``m`` at or above ``best_ask``: ``(row, limit, qty)``."""
        side, out = self.bids[m], []
        while side and side[-1][0] >= best_ask:
            limit, row, qty = side.pop()
            out.append((int(row), float(limit), float(qty)))
        return out

    def rest(self, m: int, row: int, limit: float, qty: float) -> None:
        """What a bid did not fill rests again at its price."""
        side = self.bids[m]
        key = (limit, -row)
        at = len(side)
        while at > 0 and (side[at - 1][0], -side[at - 1][1]) > key:
            at -= 1
        side.insert(at, [limit, row, qty])


def draw_drops(
    first_row: int, usd: np.ndarray, low: float, high: float, rng: np.random.Generator,
) -> list[tuple[int, int, float, float]]:
    """Momentum sellers' triggers ``(row, market, drop, USD notional)``: one drop per account,
    drawn uniformly in [low, high], for each market it trades."""
    drop = rng.uniform(low, high, size=usd.shape[0])
    return [(first_row + k, m, float(drop[k]), abs(float(usd[k, m])))
            for k in range(usd.shape[0]) for m in np.flatnonzero(usd[k]).tolist()]


class TrailingHigh:
    """The highest price within the last ``window_ms``, kept as a monotone queue."""

    def __init__(self, window_ms: int) -> None:
        self.window_ms = window_ms
        self._q: deque[tuple[int, float]] = deque()

    @property
    def high(self) -> float:
        return self._q[0][1]

    def update(self, now_ms: int, price: float) -> float:
        q = self._q
        while q and q[-1][1] <= price:
            q.pop()
        q.append((now_ms, price))
        while q[0][0] < now_ms - self.window_ms:
            q.popleft()
        return q[0][1]


class DropTriggers:
    """One venue's momentum triggers per market, the smallest drop last; each market's
    trailing high is tracked from the prices it is shown."""

    def __init__(self, n_markets: int, window_ms: int,
                 triggers: list[tuple[int, int, float, float]]) -> None:
        self.waiting: list[list[tuple[float, int, float]]] = [[] for _ in range(n_markets)]
        for row, m, drop, usd in triggers:
            self.waiting[m].append((drop, row, usd))
        for side in self.waiting:
            side.sort(key=lambda t: (-t[0], -t[1]))  # ties: the lowest row fires first
        self.highs = [TrailingHigh(window_ms) for _ in range(n_markets)]

    def __len__(self) -> int:
        return sum(len(w) for w in self.waiting)

    def fired(self, m: int, now_ms: int, price: float) -> list[tuple[int, float, float]]:
        """Pop the triggers of market ``m`` whose drop ``price`` has reached from the trailing
        high, the smallest drop first: ``(row, USD notional, drop)``."""
        high = self.highs[m].update(now_ms, price)
        fall = 1.0 - price / high
        side, out = self.waiting[m], []
        while side and side[-1][0] <= fall:
            drop, row, usd = side.pop()
            out.append((row, usd, drop))
        return out
