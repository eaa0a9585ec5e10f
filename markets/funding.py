"""Perpetual funding settlement: positions pay the funding rate at the mark.

The rate is the average premium of mark over index since the last settlement plus an interest
term, clamped to +/- ``cap``; longs pay shorts when it is positive. Pure arithmetic on the
venue's accounts; the clock that calls it every interval is ``agents.funding_clock``.
"""

from __future__ import annotations

import numpy as np

from markets.events import EventKind
from markets.venue import Venue


def apply_funding(venue: Venue, now_ms: int, interest: float, cap: float) -> None:
    """Settle funding: positions pay ``rate * notional`` at mark, longs to shorts if > 0."""
    if venue.premium_n == 0:
        return
    if venue.inverse:  # its book trades x = 1/P: P's longs, who pay the interest, are x's shorts
        interest = -interest
    rates = np.clip(venue.premium_sum / venue.premium_n + interest, -cap, cap)
    venue.premium_sum[:] = 0.0
    venue.premium_n = 0
    acc, marks = venue.accounts, venue.marks
    for m, mk in enumerate(venue.markets):
        pay = acc.pos[:, m] * marks[m] * rates[m]  # zero-sum: positions net to zero
        iso = acc.isolated[:, m]
        acc.wallet -= np.where(iso, 0.0, pay)
        acc.iso_margin[:, m] -= np.where(iso, pay, 0.0)
        longs = float(pay[acc.pos[:, m] > 0].sum())
        venue.sink.emit(EventKind.FUNDING, now_ms, venue.name, mk.name, amount=longs,
                        price=rates[m])
    venue.revalue_all(now_ms)
