"""The venue's liquidation engine as a SimPy process: a FIFO queue served at finite throughput.

Breaches wait ``latency_ms`` after detection and are then served one at a time, each taking
``1000 / throughput_per_s`` ms of engine capacity. Time has millisecond resolution: a breach
is served in the millisecond in which the engine becomes free, so above 1,000/s several are
served within one millisecond. Real engines are not instantaneous, and the
queue is part of the cascade. Thin SimPy glue: the closing itself is ``liquidation``.
"""

from __future__ import annotations

import math
from collections.abc import Generator

import simpy

from markets.liquidation import liquidate
from markets.venue import Venue


def liquidation_engine(env: simpy.Environment, venue: Venue) -> Generator:
    service_ms = 1000.0 / venue.rules.throughput_per_s
    latency = venue.rules.latency_ms
    free_at = 0.0
    wake = env.event()

    def on_enqueue() -> None:
        if not wake.triggered:
            wake.succeed()

    venue.on_enqueue = on_enqueue
    while True:
        if not venue.queue:
            yield wake
            wake = env.event()
            continue
        head = venue.queue[0]
        due = max(head.detected_ms + latency, math.floor(free_at + 1e-9))
        if due > env.now:
            yield env.timeout(due - env.now)
            continue
        venue.queue.popleft()
        liquidate(venue, head, env.now)
        free_at = max(free_at, float(env.now)) + service_ms
