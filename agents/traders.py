"""Traders' responses to margin calls: top up collateral, reduce positions, or do nothing.

Each account has a response kind and a reaction delay drawn by its population (or given for an
explicit account). A call starts one small SimPy process that waits the delay and then acts,
unless the account was liquidated or went flat meanwhile. A top-up deposits enough to bring
the margin ratio (maintenance / equity) down to ``top_up_to``; a reduction closes
``reduce_fraction`` of the called positions through the book, as one batch of orders checked
once after its last order. The reduction's price impact
carries the call's generation: forced by the cascade, it can cause the next generation.

SimPy glue over the venue's public interface.
"""

from __future__ import annotations

from collections.abc import Generator

import numpy as np
import simpy

from agents.population import REDUCE, TOP_UP
from markets.margin.detection import CROSS
from markets.venue import Venue


class MarginCallResponder:
    def __init__(
        self, env: simpy.Environment, venue: Venue, kind: np.ndarray, delay_ms: np.ndarray,
        top_up_to: np.ndarray, reduce_fraction: np.ndarray,
    ) -> None:
        self.env, self.venue = env, venue
        self.kind, self.delay_ms = kind, delay_ms
        self.top_up_to, self.reduce_fraction = top_up_to, reduce_fraction

    def on_call(self, i: int, scope: int, generation: int, seq: int) -> None:
        if self.kind[i] in (TOP_UP, REDUCE):
            self.env.process(self._respond(i, scope, generation, seq))

    def _respond(self, i: int, scope: int, generation: int, seq: int) -> Generator:
        delay = int(self.delay_ms[i])
        if self.venue.disruptions:  # a degraded API slows the response
            delay = round(delay * self.venue.disruptions.latency_factor(self.env.now))
        yield self.env.timeout(delay)
        venue, acc, now = self.venue, self.venue.accounts, self.env.now
        if venue.queued_cross[i] or acc.is_flat(i):
            return
        for m in range(len(venue.markets)):
            venue.sync(m, now)
        marks = venue.marks
        markets = [scope] if scope != CROSS else [
            m for m in range(acc.n_markets) if acc.pos[i, m] != 0 and not acc.isolated[i, m]
        ]
        if self.kind[i] == TOP_UP:
            cross_eq, cross_mm, iso_eq, iso_mm = acc.margin_state(np.array([i]), marks)
            if scope == CROSS:
                need = cross_mm[0] / self.top_up_to[i] - cross_eq[0]
                venue.deposit(i, need, now, cause=seq)
            else:
                need = iso_mm[0, scope] / self.top_up_to[i] - iso_eq[0, scope]
                venue.deposit(i, need, now, cause=seq, market=scope)
            return
        # One batch: its orders share one margin check after the last of them.
        orders = [(m, -self.reduce_fraction[i] * float(acc.pos[i, m])) for m in markets
                  if scope == CROSS or not venue.queued_iso[i, m]]
        venue.market_orders(i, orders, now, generation=generation, cause=seq)
