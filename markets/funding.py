"""Perpetual funding as a SimPy process: every interval, positions pay the funding rate.

The rate is the average premium of mark over index since the last settlement plus an interest
term, clamped to +/- ``cap``; longs pay shorts when it is positive (``apply_funding``, pure
arithmetic on the venue's accounts); ``funding_process`` is only the clock.
"""

from __future__ import annotations

from collections.abc import Generator

import numpy as np
import simpy

from markets.venue import Venue


def funding_process(
    env: simpy.Environment, venue: Venue, interval_ms: int, interest: float, cap: float,
) -> Generator:
    while True:
        yield env.timeout(interval_ms)
        apply_funding(venue, env.now, interest, cap)


def apply_funding(venue: Venue, now_ms: int, interest: float, cap: float) -> None:
    """Settle funding: positions pay ``rate * notional`` at mark, longs to shorts if > 0."""
    if venue.premium_n == 0:
        return
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
        venue.sink.emit("funding", now_ms, venue.name, mk.name, amount=longs, price=rates[m])
    venue.revalue_all(now_ms)
