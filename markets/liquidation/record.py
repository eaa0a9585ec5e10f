"""The one ``liquidation`` event: (part of) a position leaving a liquidated account.

Every close records it here, however the position left: by market order down the waterfall
(``market``: with its bankruptcy price, and the closed fraction when less than the whole
position), taken over whole by the backstop vault at the mark (``vault``), or taken by a keeper
in an auction (``auction``). The event is caused by the breach's causes (an edge from each), and
when a venue-side holder (vault, fund, keeper) took the position, the holder's unwinding is
tagged with this liquidation (``venue.held_from``). The event's ``detail`` text is composed here
and only here.

Acts on a ``Venue``'s event sink; nothing here trades, settles or knows SimPy.
"""

from __future__ import annotations

from typing import Literal

from markets.margin.detection import Breach
from markets.venue import Venue

How = Literal["market", "vault", "auction"]  # how the position left the account
Share = Literal["partial", "chunk"]  # why a market close took less than the whole position


def record_liquidation(
    venue: Venue, breach: Breach, m: int, now_ms: int, *, how: How, side: int, qty: float,
    price: float, notional: float, bankruptcy: float | None = None,
    fraction: float | None = None, share: Share = "partial", keeper: int | None = None,
    holder: int | None = None,
) -> int:
    """Emit the liquidation of ``qty`` of position (breach.account, m); returns its seq.

    ``bankruptcy`` and ``fraction`` (of the position, None when whole; ``share`` says why) go
    with a market close, ``keeper`` with an auction; ``holder`` is the venue-side row that now
    holds what was taken (none when it went to the book or to ADL counterparties)."""
    seq = venue.sink.emit(
        "liquidation", now_ms, venue.name, venue.markets[m].name, account=breach.account,
        side=side, qty=qty, price=price, notional=notional, generation=breach.generation,
        cause=breach.causes[0] if breach.causes else -1,
        detail=_detail(breach, how, bankruptcy, fraction, share, keeper),
    )
    for parent in breach.causes:
        venue.sink.edge(parent, seq)
    if holder is not None:
        venue.held_from[(holder, m)] = (breach.generation, seq)
    return seq


def _detail(
    breach: Breach, how: How, bankruptcy: float | None, fraction: float | None, share: Share,
    keeper: int | None,
) -> str:
    head = f"detected={breach.detected_ms}"
    match how:
        case "market":
            part = "" if fraction is None else f" {share}={fraction:.6g}"
            return f"{head} bankruptcy={bankruptcy:.10g}{part}"
        case "vault":
            return f"{head} vault"
        case "auction":
            return f"{head} auction keeper={keeper}"
    raise AssertionError(f"unknown liquidation exit {how!r}")
