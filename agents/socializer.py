"""The venue's socialization clock: pooled deficits are charged at multiples of its interval.

Sleeps until a deficit is pooled (``Venue.loss_deferred``), then waits for the next multiple of
the interval and charges every market's pool (``settle.charge_deferred``). Thin SimPy glue.
"""

from __future__ import annotations

from collections.abc import Generator

import simpy

from agents.wakeup import Wakeup
from markets.liquidation.settle import charge_deferred
from markets.venue import Venue


def socialization_clock(env: simpy.Environment, venue: Venue, interval_ms: int) -> Generator:
    wake = Wakeup(env)
    venue.loss_deferred.subscribe(wake)
    while True:
        yield wake.event
        wake.reset()
        yield env.timeout((env.now // interval_ms + 1) * interval_ms - env.now)
        charge_deferred(venue, env.now)
