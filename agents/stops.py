"""Stop-loss orders as a SimPy process: after every oracle update and every move of a mid, the
venue's stops whose trigger price has been reached close their positions by market order.

Each account's fired stops go out as one batch, checked once (``Venue.market_orders``); a stop
whose position is gone (liquidated, closed, flipped) is dropped. A stop's order carries the
generation of the move that set it off (``markets.attribution.move_tag``): a stop run that
liquidations started passes their cascade on. Which stops fire is decided in
``markets.stops``. Thin SimPy glue.
"""

from __future__ import annotations

from collections.abc import Generator

import simpy

from agents.wakeup import Wakeup
from markets.attribution import move_tag
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
        orders: dict[tuple[int, int], list[tuple[int, float]]] = {}
        for m in range(len(venue.markets)):
            fired = ladder.triggered(m, float(prices[m]))
            if not fired:
                continue
            levels = venue.level_marks()[:, m]
            recentre = venue.markets[m].prices.recentre_ms
            for row, side, stop in fired:
                q = float(acc.pos[row, m])
                if q * side > 0:  # still the position the stop protects
                    # The move that set it off: a long's stop a fall, a short's a rise.
                    tag = move_tag(levels, stop, -side, venue.ledger, m, now, recentre)
                    orders.setdefault((row, *tag), []).append((m, -q))
        for row, generation, cause in sorted(orders):
            batch = orders[(row, generation, cause)]
            for m, _ in batch:
                venue.sync(m, now)
            venue.market_orders(row, batch, now, generation, cause, Reason.STOP)
