"""Traders arriving during the run: each opens its position by market order at its time.

The plan (who, when, how much notional in which markets) is drawn when the world is built;
this process only waits for each time and places the orders, sized at the mark of the
moment (``Venue.qty_for``), as one batch checked once (``Venue.market_orders``). A refused
order (a trading halt, an open-interest cap) is simply not placed. Thin SimPy glue.
"""

from __future__ import annotations

from collections.abc import Generator

import simpy

from markets.venue import Venue


def arrivals_process(
    env: simpy.Environment, venue: Venue, plan: list[tuple[int, int, list[tuple[int, float]]]],
) -> Generator:
    """``plan``: (time ms, row, [(market, signed USD notional)]) in time order."""
    for time_ms, row, notional in plan:
        if time_ms > env.now:
            yield env.timeout(time_ms - env.now)
        now = env.now
        for m, _ in notional:
            venue.sync(m, now)
        venue.market_orders(row, [(m, venue.qty_for(m, usd)) for m, usd in notional], now)
