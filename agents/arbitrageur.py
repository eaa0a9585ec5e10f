"""The arbitrageurs as SimPy processes: each waits for a move of either of its books, then for
its latency, then trades the gap as it stands (``markets.arbitrage``).

Moves that arrive while it waits are seen together when it acts; its own trades wake it once
more, to find the gap closed down to its threshold. Thin glue: what it trades is decided in
``markets.arbitrage``.
"""

from __future__ import annotations

from collections.abc import Generator

import simpy

from agents.wakeup import Wakeup
from markets.arbitrage import Arbitrageur


def arbitrage_process(env: simpy.Environment, arb: Arbitrageur) -> Generator:
    wake = Wakeup(env)
    for leg in (arb.a, arb.b):
        leg.venue.mid_moved.subscribe(_on_market(leg.market, wake))
    while True:
        yield wake.event
        wake.reset()
        latency = arb.rule.latency_ms
        if latency > 0:
            # A degraded API on either venue slows it by that venue's factor.
            factor = max(leg.venue.disruptions.latency_factor(env.now) for leg in (arb.a, arb.b))
            yield env.timeout(round(latency * factor))
        arb.act(env.now)


def _on_market(market: int, wake: Wakeup):
    def listener(moved: int) -> None:
        if moved == market:
            wake()
    return listener
