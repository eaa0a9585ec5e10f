"""A venue's market and the small records a venue holds: the compiled links out of a market
and the rows the venue owns.

Plain data; the ``Venue`` (``markets.venue``) acts on them. Nothing here knows SimPy.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

from markets.events import Signal
from markets.margin.formulas import MarginTiers
from markets.prices.marks import MarketPrices
from markets.risk_controls import CircuitBreaker, VolatilityMargin

if TYPE_CHECKING:
    from markets.absorption import FlowBudget
    from markets.book import OrderBook


@dataclass
class Market:
    name: str
    asset: str
    tiers: MarginTiers
    book: OrderBook
    prices: MarketPrices
    max_leverage: float
    # Compiled from the market graph when the world is built (``markets.wiring``):
    cross_impacts: list[Link] = field(default_factory=list)  # a share of this mid's moves
    index_consumers: list[Link] = field(default_factory=list)  # indices this mid is part of
    fund: int = 0  # which of the venue's insurance funds backs this market
    open_interest_cap: float | None = None  # USD at mark
    volatility_margin: VolatilityMargin | None = None
    breaker: CircuitBreaker | None = None
    # A traded-price replay's absorbed real flow (``markets.absorption``); None: every order
    # moves the book in full.
    flow_budget: FlowBudget | None = None


class LinkedVenue(Protocol):
    """What a link needs of the venue at its far end (``markets.venue.Venue``): a share of a
    move arrives there as impact or as an index move, and its detector hears of it."""

    def receive_impact(self, m: int, generation: int, dlog: float, seq: int,
                       now_ms: int) -> None: ...

    def follow_index(self, m: int, generation: int, dlog: float, seq: int,
                     now_ms: int) -> None: ...

    moved: Signal


@dataclass(frozen=True)
class Link:
    """One compiled edge out of a market: ``weight`` of its log moves reaches ``venue``'s
    market ``market`` (a cross-impact beta, or an index weight)."""

    venue: LinkedVenue
    market: int
    weight: float


@dataclass(frozen=True)
class VenueRows:
    """Account rows the venue itself owns (never liquidated): its market maker, the backstop
    vault, one row per insurance fund to hold taken-over positions, and keepers."""

    maker: int = 0
    vault: int | None = None
    funds: tuple[int, ...] = ()
    keepers: tuple[int, ...] = ()
