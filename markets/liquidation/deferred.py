"""Socialized losses charged at the venue's settlement times rather than at each bankruptcy.

A venue that socializes may charge a deficit at once (``socialize_ms`` 0) or, as venues that
settle socialized losses periodically do, pool the deficits of each market and charge the pool
pro rata over the market's holders at the next multiple of ``socialize_ms``. Until then the
bankrupt accounts are already made whole and the pool is a receivable of the venue
(``counters.deferred``). Pooling makes the charge, which touches every holder of a market, be
paid once per interval instead of once per bankruptcy: a crash with thousands of bankruptcies
past an empty fund costs what its intervals do. An account whose deficit is in the pool does
not pay its share of it, as at once.

The pool is kept here; ``settle.charge_deferred`` charges it, at times the simulator's clock
chooses. Acts on a ``Venue``'s public state; nothing here knows SimPy.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from markets.venue import Venue


@dataclass
class Pool:
    """One market's deficits waiting for the next charge."""

    amount: float = 0.0
    accounts: list[int] = field(default_factory=list)  # whose deficits (they do not pay)
    causes: list[int] = field(default_factory=list)  # the liquidations that left them


def defer(venue: Venue, m: int, amount: float, account: int, cause: int) -> None:
    """Pool ``amount`` of account ``account``'s deficit in market ``m`` (left by liquidation
    ``cause``) for the next charge."""
    pools = venue.deferred_losses
    if m not in pools:
        pools[m] = Pool()
        venue.loss_deferred()
    pool = pools[m]
    pool.amount += amount
    pool.accounts.append(account)
    pool.causes.append(cause)
    venue.counters.deferred += amount
