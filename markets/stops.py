"""Traders' stop-loss orders: each closes one position by market order once the venue's trigger
price has moved a drawn distance against it from the price at the start.

Resting stops are what turns a fall into a stop run: a cluster of them below the market sells
into the book all at once. The ladder keeps one venue's stops sorted per market and direction,
so a check pops only the stops the price has passed (O(1) when none has). Pure bookkeeping:
it decides which stops fire, not how the orders are placed (``agents.stops``); nothing here
knows SimPy.
"""

from __future__ import annotations

import numpy as np


def draw_stops(
    first_row: int, pos: np.ndarray, prices: np.ndarray, share: float, low: float, high: float,
    rng: np.random.Generator,
) -> list[tuple[int, int, float, int]]:
    """Stops of a drawn population block: ``(row, market, stop price, side)`` for each open
    position of the accounts (a share ``share`` of them) that keep stops, each account at one
    distance drawn uniformly in [``low``, ``high``] from the start ``prices``; side +1 is a
    long's stop (sells at or below), -1 a short's (buys at or above)."""
    n = pos.shape[0]
    keeps = rng.random(n) < share
    distance = rng.uniform(low, high, size=n)
    out = []
    for k in np.flatnonzero(keeps).tolist():
        for m in np.flatnonzero(pos[k]).tolist():
            side = 1 if pos[k, m] > 0 else -1
            out.append((first_row + k, m, float(prices[m] * (1 - side * distance[k])), side))
    return out


class StopLadder:
    """One venue's resting stops, per market: longs' stops with the highest price last, shorts'
    with the lowest last, so the next to fire is always at the end of its list."""

    def __init__(self, n_markets: int, stops: list[tuple[int, int, float, int]]) -> None:
        self.falling: list[list[tuple[float, int]]] = [[] for _ in range(n_markets)]
        self.rising: list[list[tuple[float, int]]] = [[] for _ in range(n_markets)]
        for row, m, price, side in stops:
            (self.falling if side > 0 else self.rising)[m].append((price, row))
        for m in range(n_markets):
            # Ties fire in row order: the lowest row last in the list, popped first.
            self.falling[m].sort(key=lambda s: (s[0], -s[1]))
            self.rising[m].sort(key=lambda s: (-s[0], -s[1]))

    def __len__(self) -> int:
        return sum(len(f) + len(r) for f, r in zip(self.falling, self.rising, strict=True))

    def triggered(self, m: int, price: float) -> list[tuple[int, int, float]]:
        """Pop the stops of market ``m`` that ``price`` has reached: ``(row, side, stop
        price)``."""
        fired = []
        falling, rising = self.falling[m], self.rising[m]
        while falling and falling[-1][0] >= price:
            stop, row = falling.pop()
            fired.append((row, 1, stop))
        while rising and rising[-1][0] <= price:
            stop, row = rising.pop()
            fired.append((row, -1, stop))
        return fired
