"""New flow during a crash as a SimPy process: after every oracle update and every move of a
mid, dip buyers' bids that the asks have come down to are filled, and momentum sellers whose
market has fallen far enough from its trailing high open their shorts.

Each order carries the generation of the move that set it off (``markets.attribution.
move_tag``): a short sold into a fall that liquidations made passes their cascade on. Which
bids and triggers fire is ``markets.flows``'s. Thin SimPy glue.
"""

from __future__ import annotations

from collections.abc import Generator

import simpy

from agents.wakeup import Wakeup
from markets.attribution import move_tag
from markets.book import BUY
from markets.events import Reason
from markets.flows import DropTriggers, RestingBids
from markets.venue import Venue


def flows_process(
    env: simpy.Environment, venue: Venue, bids: RestingBids, drops: DropTriggers,
) -> Generator:
    wake = Wakeup(env)
    venue.ticked.subscribe(wake)
    venue.mid_moved.subscribe(wake)
    while len(bids) or len(drops):
        yield wake.event
        wake.reset()
        now = env.now
        for m in range(len(venue.markets)):
            if drops.waiting[m]:
                _momentum(venue, drops, m, now)
            if bids.bids[m]:
                _dip_bids(venue, bids, m, now)


def _tag(venue: Venue, m: int, threshold: float, now: int) -> tuple[int, int]:
    """The generation and cause of the fall that took market ``m`` to ``threshold``."""
    return move_tag(venue.level_marks()[:, m], threshold, -1, venue.ledger, m, now,
                    venue.markets[m].prices.recentre_ms)


def _momentum(venue: Venue, drops: DropTriggers, m: int, now: int) -> None:
    venue.sync(m, now)
    price = float(venue.trigger_prices()[m])
    fired = drops.fired(m, now, price)
    if not fired:
        return
    # The price the first of them needed (the others needed less of a fall).
    generation, cause = _tag(venue, m, drops.highs[m].high * (1.0 - fired[0][2]), now)
    for row, usd, _ in fired:
        venue.sync(m, now)
        venue.market_orders(row, [(m, -usd / float(venue.marks[m]))], now, generation, cause,
                            Reason.MOMENTUM)


def _dip_bids(venue: Venue, bids: RestingBids, m: int, now: int) -> None:
    mk = venue.markets[m]
    venue.sync_book(m, now)
    if bids.bids[m][-1][0] < mk.prices.mid:  # every ask is above the mid: none is reached
        return
    reached = bids.reached(m, mk.book.best_prices(mk.prices.mid)[1])
    if not reached:
        return
    for row, limit, qty in reached:
        generation, cause = _tag(venue, m, limit, now)
        venue.sync_book(m, now)
        walk = mk.book.preview(BUY, qty, mk.prices.mid)
        fill = float(walk.sizes[walk.prices <= limit].sum())
        if fill > 0 and venue.market_orders(row, [(m, fill)], now, generation, cause,
                                            Reason.DIP_BUY):
            qty -= fill
        if qty > 1e-9 * (qty + fill):
            bids.rest(m, row, limit, qty)
