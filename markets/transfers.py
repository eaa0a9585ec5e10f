"""Collateral leaving a venue: a withdrawal, refused while the venue's withdrawals are halted.

Deposits are the venue's own (``Venue.deposit``); this is the other direction, used by
arbitrageurs moving capital between their venues. What may be withdrawn is the caller's to
decide (an arbitrageur keeps what its position needs at its leverage); the venue only refuses
during a ``withdrawals`` disruption. Acts on a ``Venue``'s public state; nothing here knows
SimPy.
"""

from __future__ import annotations

from markets.events import EventKind, Reason
from markets.venue import Venue


def withdraw(venue: Venue, i: int, amount: float, now_ms: int) -> bool:
    """Take ``amount`` of account ``i``'s cross collateral out of the venue; False (and a
    ``rejected`` event) while withdrawals are halted."""
    if venue.disruptions and venue.disruptions.until("withdrawals", now_ms) is not None:
        venue.counters.rejected += 1
        venue.sink.emit(EventKind.REJECTED, now_ms, venue.name, account=i, amount=amount,
                        reason=Reason.WITHDRAWALS_HALTED)
        return False
    venue.accounts.credit(i, None, -amount)
    venue.counters.withdrawals += amount
    venue.sink.emit(EventKind.WITHDRAWAL, now_ms, venue.name, account=i, amount=amount)
    venue.touch(i)
    venue.detect(now_ms)
    return True
