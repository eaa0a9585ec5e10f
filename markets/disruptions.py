"""Scheduled disruptions of a venue: windows in which part of it stops working.

Kinds: ``matching`` (the venue's books are closed: no orders, no liquidations; its engine and
everyone else wait for the window to end), ``oracle`` (its price feed stops: marks stay where
the last update left them, and the first update after the window brings the whole move at
once), ``api`` (agents reach it ``multiplier`` times slower: margin-call responses and
arbitrageurs), ``deposits`` (deposits and margin top-ups are refused) and ``withdrawals``
(collateral cannot leave the venue: an arbitrageur's transfer to its other venue waits). A
window covers ``[start_ms, end_ms)``.

Pure bookkeeping of times; nothing here knows SimPy. The run starts a process that logs each
window as it opens (``disruption`` events).
"""

from __future__ import annotations

from dataclasses import dataclass

DISRUPTION_KINDS = ("matching", "oracle", "api", "deposits", "withdrawals")


@dataclass(frozen=True)
class Window:
    kind: str
    start_ms: int
    end_ms: int
    multiplier: float = 1.0  # api: agents' latency factor

    def __post_init__(self) -> None:
        if self.kind not in DISRUPTION_KINDS:
            raise ValueError(f"disruption kind must be one of {DISRUPTION_KINDS}, "
                             f"got {self.kind!r}")
        if not 0 <= self.start_ms < self.end_ms:
            raise ValueError("a disruption window needs 0 <= start < end")

    def covers(self, now_ms: int) -> bool:
        return self.start_ms <= now_ms < self.end_ms


class Disruptions:
    """A venue's windows, in start order."""

    def __init__(self, windows: tuple[Window, ...] | list[Window] = ()) -> None:
        self.windows = tuple(sorted(windows, key=lambda w: (w.start_ms, w.kind)))

    def __bool__(self) -> bool:
        return bool(self.windows)

    def until(self, kind: str, now_ms: int) -> int | None:
        """When the ``kind`` disruption covering ``now_ms`` ends (None: none covers it)."""
        ends = [w.end_ms for w in self.windows if w.kind == kind and w.covers(now_ms)]
        return max(ends) if ends else None

    def latency_factor(self, now_ms: int) -> float:
        """How many times slower agents reach the venue at ``now_ms`` (1: normally)."""
        return max((w.multiplier for w in self.windows
                    if w.kind == "api" and w.covers(now_ms)), default=1.0)
