"""The venue's dynamic risk controls at work: observing marks, pausing, refusing orders.

Feeds each new mark to a market's volatility margin (rescaling maintenance, which invalidates
the margin index) and circuit breaker, answers whether liquidations or trading are paused, and
whether a voluntary order may trade under a halt or an open-interest cap. The controls'
arithmetic is in ``risk_controls``; this is the glue to a venue's state. Nothing here knows
SimPy.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from markets.book import BUY, SELL
from markets.risk_controls import open_interest_allows

if TYPE_CHECKING:
    from markets.venue import Venue


def observe(venue: Venue, m: int, now_ms: int) -> None:
    """Dynamic risk controls read each new mark: volatility-scaled maintenance, breaker."""
    mk = venue.markets[m]
    mark = mk.prices.mark
    vm = mk.volatility_margin
    if vm is not None and vm.update(now_ms, mark):
        venue.accounts.set_maintenance_multiplier(m, vm.multiplier)
        venue.invalidate_margins()
        venue.sink.emit("margin_multiplier", now_ms, venue.name, mk.name, amount=vm.multiplier,
                        detail=f"vol={vm.vol:.6g}")
    if mk.breaker is not None and mk.breaker.update(now_ms, mark):
        venue.sink.emit("circuit_breaker", now_ms, venue.name, mk.name, price=mark,
                        detail=f"{venue.rules.halt} paused until {mk.breaker.paused_until}")


def paused_until(venue: Venue, now_ms: int, what: str = "liquidations") -> int | None:
    """When a tripped circuit breaker lets ``what`` resume (None: not paused). A trading
    halt pauses liquidations too."""
    if what == "trading" and venue.rules.halt != "trading":
        return None
    ends = [mk.breaker.paused_until for mk in venue.markets
            if mk.breaker is not None and mk.breaker.paused(now_ms)]
    return max(ends) if ends else None


def order_allowed(venue: Venue, i: int, m: int, qty: float, now_ms: int) -> bool:
    """A voluntary order may trade: no trading halt, and within the open-interest cap."""
    mk, acc = venue.markets[m], venue.accounts
    reason = ""
    if paused_until(venue, now_ms, "trading") is not None:
        reason = "trading halted"
    elif mk.open_interest_cap is not None:
        # Open interest grows by what the order adds to |position| beyond what it closes.
        q = float(acc.pos[i, m])
        grow = max(abs(q + qty) - abs(q), 0.0) * mk.prices.mark
        oi = float(acc.open_interest()[m]) * mk.prices.mark
        if not open_interest_allows(oi, grow, mk.open_interest_cap):
            reason = "open interest cap"
    if reason:
        venue.rejected += 1
        venue.sink.emit("rejected", now_ms, venue.name, mk.name, account=i,
                        side=BUY if qty > 0 else SELL, qty=abs(qty), detail=reason)
    return not reason
