"""The venue's liquidation engine and margin poller as SimPy processes.

Breaches wait ``latency_ms`` after detection (a chunked close re-enters after its cooldown)
and are then served one at a time in due order, each taking ``1000 / throughput_per_s`` ms of
engine capacity. Time has millisecond resolution: a breach is served in the millisecond in
which the engine becomes free, so above 1,000/s several are served within one millisecond.
While a circuit breaker pauses liquidations the engine waits. Real engines are not
instantaneous, and the queue is part of the cascade. A move that reaches a venue from another
(cross impact, index weights) wakes that venue's check at the same instant, after the step
that made it. A venue that polls margin
(``check_ms`` > 0) checks on a clock instead of on every mark update. Thin SimPy glue: the
closing itself is ``markets.liquidation.pipeline`` (the venue's closer).
"""

from __future__ import annotations

import math
from collections.abc import Generator

import simpy

from agents.wakeup import Wakeup
from markets.liquidation.pipeline import liquidate
from markets.venue import Venue


def liquidation_engine(env: simpy.Environment, venue: Venue, wake: Wakeup) -> Generator:
    """Serve the venue's queue; ``wake`` is subscribed to the venue's ``enqueued`` signal."""
    service_ms = 1000.0 / venue.rules.throughput_per_s
    free_at = 0.0
    while True:
        due = venue.next_due()
        if due is None:
            yield wake.event
            wake.reset()
            continue
        due = max(due, math.floor(free_at + 1e-9))
        paused = venue.paused_until(env.now)
        if paused is not None:
            due = max(due, paused)
        if due > env.now:
            if venue.rules.chunk is None:  # arrivals are due in order: nothing can jump ahead
                yield env.timeout(due - env.now)
                continue
            # A breach queued meanwhile may be due sooner (a cooldown ahead of it): wake then.
            yield env.timeout(due - env.now) | wake.event
            if wake.event.triggered:
                wake.reset()
            continue
        liquidate(venue, venue.pop_breach(), env.now)
        free_at = max(free_at, float(env.now)) + service_ms


def margin_on_moves(env: simpy.Environment, venue: Venue, wake: Wakeup) -> Generator:
    """Check margins at the instant another venue's move reaches one of this venue's prices
    (a cross-venue cross impact or index weight); ``wake`` is subscribed to ``moved``."""
    while True:
        yield wake.event
        wake.reset()
        venue.detect(env.now)


def margin_poller(env: simpy.Environment, venue: Venue) -> Generator:
    """Check margins every ``check_ms`` (venues or keepers that poll rather than stream)."""
    while True:
        yield env.timeout(venue.rules.check_ms)
        venue.detect(env.now, poll=True)
