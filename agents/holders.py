"""Venue-side holders as SimPy processes: unwinding what they took over, stepping auctions.

The backstop vault, an insurance fund that took over positions, and keepers all hold
positions they did not choose; each sells them into the book evenly over its horizon (the
remaining position over a full horizon from its last increase, an order every interval). The
auction clock steps every running Dutch auction. Thin glue: the arithmetic is in
``markets.liquidation`` (``fund_takeover``, ``keepers``).
"""

from __future__ import annotations

from collections.abc import Generator

import numpy as np
import simpy

from agents.wakeup import Wakeup
from markets.events import Reason
from markets.liquidation import keepers as keeper_auction
from markets.liquidation.fund_takeover import sweep_fund_row
from markets.rules import UnwindRule
from markets.venue import Venue


def unwinder(env: simpy.Environment, venue: Venue, row: int, rule: UnwindRule) -> Generator:
    acc = venue.accounts
    m_count = len(venue.markets)
    rate = np.zeros(m_count)  # base quantity per order
    last = np.zeros(m_count)  # position size after the last order
    is_fund = row in venue.rows.funds
    share = min(1.0, rule.interval_ms / rule.horizon_ms)
    while True:
        yield env.timeout(rule.interval_ms)
        now = env.now
        traded = False
        for m in range(m_count):
            size = abs(float(acc.pos[row, m]))
            if size == 0.0:
                last[m] = 0.0
                continue
            if size > last[m] * (1 + 1e-12):  # took over more since: spread it over a horizon
                rate[m] = size * share
            qty = min(rate[m], size)
            if venue.paused_until(now, "trading") is not None:
                continue
            generation, cause = venue.held_from.get((row, m), (0, -1))
            sign = 1.0 if acc.pos[row, m] > 0 else -1.0
            venue.walk_book(row, m, -sign * qty, now, generation, cause, Reason.UNWIND)
            last[m] = abs(float(acc.pos[row, m]))
            if is_fund:
                sweep_fund_row(venue, row, m, now)
            traded = True
        if traded:
            venue.touch(row)
            venue.detect(now)


def auction_clock(env: simpy.Environment, venue: Venue, wake: Wakeup) -> Generator:
    """Step the venue's auctions every price step while any is running; ``wake`` is
    subscribed to the venue's ``auction_started`` signal."""
    step = venue.rules.auction.step_ms
    while True:
        if not venue.auctions:
            yield wake.event
            wake.reset()
        keeper_auction.step_auctions(venue, env.now)
        yield env.timeout(step)
