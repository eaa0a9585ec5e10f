"""Perpetual funding as a SimPy process: every interval, positions pay the funding rate.

The rate is the average premium of mark over index since the last settlement plus an interest
term, clamped to +/- ``cap``; longs pay shorts when it is positive. The arithmetic is in
``Venue.apply_funding``; this is only the clock.
"""

from __future__ import annotations

from collections.abc import Generator

import simpy

from markets.venue import Venue


def funding_process(
    env: simpy.Environment, venue: Venue, interval_ms: int, interest: float, cap: float,
) -> Generator:
    while True:
        yield env.timeout(interval_ms)
        venue.apply_funding(env.now, interest, cap)
