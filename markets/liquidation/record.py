"""The one ``liquidation`` event: (part of) a position leaving a liquidated account.

Every close records it here, however the position left (its ``mechanism``): by market order
down the waterfall (``market``: with its bankruptcy price, and the closed share of the position
as ``partial_fraction`` or ``chunk_fraction`` when less than the whole), taken over whole by the
backstop vault at the mark (``vault``), or taken by a keeper in an auction (``auction``, with
its ``keeper`` row). Every one carries when its breach was detected (``detected_ms``). The event
is caused by the breach's causes (an edge from each), and when a venue-side holder (vault, fund,
keeper) took the position, the holder's unwinding is tagged with this liquidation
(``venue.held_from``).

Acts on a ``Venue``'s event sink; nothing here trades, settles or knows SimPy.
"""

from __future__ import annotations

from markets.attribution import CHANNEL_NAMES
from markets.events import NAN, EventKind, Mechanism, Share
from markets.margin.detection import Breach
from markets.venue import Venue


def record_liquidation(
    venue: Venue, breach: Breach, m: int, now_ms: int, *, how: Mechanism, side: int,
    qty: float, price: float, notional: float, bankruptcy: float | None = None,
    fraction: float | None = None, share: Share = Share.PARTIAL, keeper: int | None = None,
    holder: int | None = None,
) -> int:
    """Emit the liquidation of ``qty`` of position (breach.account, m); returns its seq.

    ``bankruptcy`` and ``fraction`` (of the position, None when whole; ``share`` says why) go
    with a market close, ``keeper`` with an auction; ``holder`` is the venue-side row that now
    holds what was taken (none when it went to the book or to ADL counterparties)."""
    fractions = {Share.PARTIAL: NAN, Share.CHUNK: NAN}
    if fraction is not None:
        fractions[share] = fraction
    seq = venue.sink.emit(
        EventKind.LIQUIDATION, now_ms, venue.name, venue.markets[m].name,
        account=breach.account, side=side, qty=qty, price=price, notional=notional,
        generation=breach.generation, cause=breach.causes[0].seq if breach.causes else -1,
        mechanism=how, detected_ms=breach.detected_ms,
        bankruptcy_price=NAN if bankruptcy is None else bankruptcy,
        partial_fraction=fractions[Share.PARTIAL], chunk_fraction=fractions[Share.CHUNK],
        keeper=keeper,
    )
    for parent in breach.causes:
        venue.sink.edge(parent.seq, seq, CHANNEL_NAMES[parent.channel], parent.share)
    if holder is not None:
        venue.held_from[(holder, m)] = (breach.generation, seq)
    return seq
