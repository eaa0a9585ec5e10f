"""The interface through which venues report what happens: an event sink, and signals.

Markets emit events through this protocol; the simulator's recorder implements it. Keeping
only the protocol here lets ``markets`` report without knowing who records (no import of
``simulator``). ``NullSink`` numbers events and forgets them, for pure tests. A ``Signal`` is a
list of listeners a venue calls when something happens that others may react to (a breach
queued, a margin call issued); listeners subscribe, so a second one never replaces the first.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Protocol

NAN = math.nan


class EventSink(Protocol):
    def emit(
        self, kind: str, time_ms: int, venue: str, market: str = "", account: int = -1,
        side: int = 0, qty: float = NAN, price: float = NAN, notional: float = NAN,
        generation: int = 0, cause: int = -1, amount: float = NAN, balance: float = NAN,
        detail: str = "",
    ) -> int:
        """Record one event; returns its sequence number (strictly increasing)."""
        ...

    def edge(self, parent: int, child: int) -> None:
        """Record that event ``parent`` caused event ``child`` (the cascade graph)."""
        ...


class NullSink:
    """Counts events without keeping them."""

    def __init__(self) -> None:
        self.seq = -1

    # ``market`` may come positionally, as venues pass it (the protocol's fourth parameter).
    def emit(self, kind: str, time_ms: int, venue: str, market: str = "", **fields: object) -> int:
        self.seq += 1
        return self.seq

    def edge(self, parent: int, child: int) -> None:
        return None


class Signal:
    """Listeners called in the order they subscribed, with the arguments the venue passes."""

    def __init__(self) -> None:
        self._listeners: list[Callable[..., object]] = []

    def subscribe(self, listener: Callable[..., object]) -> None:
        self._listeners.append(listener)

    def __call__(self, *args: object) -> None:
        for listener in self._listeners:
            listener(*args)

    def __len__(self) -> int:
        return len(self._listeners)
