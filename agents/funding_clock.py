"""The funding clock as a SimPy process: every interval, the venue settles funding.

The arithmetic (``markets.funding.apply_funding``) is pure; this is only the clock.
"""

from __future__ import annotations

from collections.abc import Generator

import simpy

from markets.funding import apply_funding
from markets.venue import Venue


def funding_process(
    env: simpy.Environment, venue: Venue, interval_ms: int, interest: float, cap: float,
) -> Generator:
    while True:
        yield env.timeout(interval_ms)
        apply_funding(venue, env.now, interest, cap)
