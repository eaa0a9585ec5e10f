"""Serving a queued breach, and the venue's closer: how its liquidations leave the account.

A served breach is first re-checked (prices may have recovered in the queue); otherwise the
venue's closer closes it. The closer is chosen once, from the rules, when the venue is built
(``closer_for``): a market close (``close.MarketClose``: whole, partial or chunked), an
auction to keepers (``AuctionToKeepers``, stepped by ``keepers``), and in front of either a
backstop vault (``BackstopVault``) that takes over an account whose equity is below its
threshold and hands every other one to the closer behind it.

Paying for a close is ``settle``; the single liquidation event is ``record``. Nothing here
knows SimPy or the simulator; it acts on a ``Venue`` through its public state.
"""

from __future__ import annotations

from markets.events import EventKind
from markets.liquidation.close import MarketClose, ToTarget, WholePositions
from markets.liquidation.keepers import start_auctions
from markets.liquidation.vault import below_backstop, vault_takeover
from markets.margin.detection import Breach
from markets.rules import LiquidationRules
from markets.venue import Closer, Venue

__all__ = ["AuctionToKeepers", "BackstopVault", "closer_for", "liquidate"]


def liquidate(venue: Venue, breach: Breach, now_ms: int) -> None:
    """Serve one breach from the queue at ``now_ms``."""
    acc, i = venue.accounts, breach.account
    venue.detector.set_queued(breach, False)
    for m in range(len(venue.markets)):
        venue.sync(m, now_ms)
    prices = venue.trigger_prices()
    if acc.scope_slack(i, breach.scope, prices) >= 0:
        # Prices recovered while the breach waited in the queue: nothing to close.
        venue.sink.emit(EventKind.RECOVERED, now_ms, venue.name, account=i,
                        generation=breach.generation)
        venue.touch(i)
        return
    venue.liquidating(venue, breach)
    for fund in venue.funds:
        fund.begin_event()
    positions = venue.scope_markets(i, breach.scope)
    if not venue.closer.close(venue, breach, positions, now_ms):
        return  # the account waits for its auctions, which release it
    venue.touch(i)
    venue.liquidated(venue, breach, now_ms)
    venue.detect(now_ms)


class AuctionToKeepers:
    """Offer the positions to keepers in Dutch auctions; the breach stays queued until they
    finish (a failed auction falls back to a market close)."""

    def close(self, venue: Venue, breach: Breach, positions: list[int], now_ms: int) -> bool:
        venue.detector.set_queued(breach, True)
        start_auctions(venue, breach, positions, now_ms)
        return False


class BackstopVault:
    """The vault takes over an account whose equity is in [0, ``below`` x maintenance);
    every other breach goes to ``fallback``."""

    def __init__(self, below: float, fallback: Closer) -> None:
        self.below = below
        self.fallback = fallback

    def close(self, venue: Venue, breach: Breach, positions: list[int], now_ms: int) -> bool:
        prices = venue.trigger_prices()
        if below_backstop(venue, breach.account, breach.scope, prices, self.below):
            vault_takeover(venue, breach, positions, now_ms)
            return True
        return self.fallback.close(venue, breach, positions, now_ms)


def closer_for(rules: LiquidationRules) -> Closer:
    """The closer a venue with these rules uses for every breach it serves."""
    closer: Closer
    if rules.auction is not None:
        closer = AuctionToKeepers()
    else:
        sizing = ToTarget(rules.partial_target) if rules.close == "partial" else WholePositions()
        closer = MarketClose(sizing, rules.chunk)
    if rules.backstop is not None:
        closer = BackstopVault(rules.backstop.below, closer)
    return closer
