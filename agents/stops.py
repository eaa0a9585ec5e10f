"""Stop-loss orders as a SimPy process: after every oracle update and every move of a mid, the
venue's stops whose trigger price has been reached close their positions by market order.

Each account's fired stops go out as one batch, checked once (``Venue.market_orders``); a stop
whose position is gone (liquidated, closed, flipped) is dropped. Which stops fire is decided in
``markets.stops``. Thin SimPy glue.
"""

from __future__ import annotations

from collections.abc import Generator

import simpy

from agents.wakeup import Wakeup
from markets.events import Reason
from markets.stops import StopLadder
from markets.venue import Venue


def stops_process(env: simpy.Environment, venue: Venue, ladder: StopLadder) -> Generator:
    wake = Wakeup(env)
    venue.ticked.subscribe(wake)
    venue.mid_moved.subscribe(wake)
    acc = venue.accounts
    while ladder:
        yield wake.event
        wake.reset()
        now = env.now
        prices = venue.trigger_prices()
        orders: dict[int, list[tuple[int, float]]] = {}
        for m in range(len(venue.markets)):
            for row, side in ladder.triggered(m, float(prices[m])):
                q = float(acc.pos[row, m])
                if q * side > 0:  # still the position the stop protects
                    orders.setdefault(row, []).append((m, -q))
        for row in sorted(orders):
            for m, _ in orders[row]:
                venue.sync(m, now)
            venue.market_orders(row, orders[row], now, reason=Reason.STOP)
