"""The log of a venue's scheduled disruptions as a SimPy process: a ``disruption`` event as
each window opens. What a window does is the venue's, the oracle's and the agents' own
(``markets.disruptions``); this only marks it in the event log."""

from __future__ import annotations

from collections.abc import Generator

import simpy

from markets.events import NAN, EventKind, Reason
from markets.venue import Venue


def disruption_log(env: simpy.Environment, venue: Venue) -> Generator:
    """A ``disruption`` event (reason: its kind, ``until_ms``: its end) as each window
    of ``venue`` opens."""
    for w in venue.disruptions.windows:
        if w.start_ms > env.now:
            yield env.timeout(w.start_ms - env.now)
        venue.sink.emit(EventKind.DISRUPTION, env.now, venue.name, reason=Reason(w.kind),
                        until_ms=w.end_ms, amount=w.multiplier if w.kind == "api" else NAN)
