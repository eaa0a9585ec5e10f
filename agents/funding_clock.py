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
    first_ms: int | None = None,
) -> Generator:
    """Settle at ``first_ms`` (default: one interval in), then every ``interval_ms``."""
    yield env.timeout(interval_ms if first_ms is None else first_ms)
    while True:
        apply_funding(venue, env.now, interest, cap)
        yield env.timeout(interval_ms)
