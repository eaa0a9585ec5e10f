"""An arbitrageur between two venues' books of one asset: what it trades, and the tag it carries.

When the two mids differ by more than ``threshold`` in log, the arbitrageur buys on the cheap
book and sells the same quantity on the rich one: the largest quantity after which the gap is
still at least ``threshold`` (books move in whole levels, so it is found by bisection on the
books' previews), within its room. Room: each leg's position may reach ``leverage`` times the
equity of its account on that venue. Quantities worth less than ``MIN_NOTIONAL`` are not
traded. An arbitrageur whose account is queued for liquidation on either venue, or whose
venue has halted trading, does not trade (open-interest caps do not apply to it).

Both legs carry the generation of the move they pass on: the generation whose displacement
makes most of the gap, and as cause the forced trade whose still-live impact in that
generation is largest in the market that moved. A liquidation on the other venue that needed
this trade is then one generation later than the forced sell that started it, with that sell
as its cause.

Acts on venues' public interface; nothing here knows SimPy or the simulator.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from markets.book import BUY, SELL
from markets.events import Reason
from markets.venue import Venue

MIN_NOTIONAL = 1.0  # USD: below this an arbitrage trade is dust
_BISECTIONS = 48


@dataclass(frozen=True)
class Leg:
    """One side of an arbitrage: the arbitrageur's account ``row`` in ``venue``'s market."""

    venue: Venue
    market: int
    row: int

    @property
    def mid(self) -> float:
        return self.venue.markets[self.market].prices.mid

    @property
    def price(self) -> float:
        """The mid in USD per coin (an inverse venue's book trades 1/P)."""
        mid = self.mid
        return 1.0 / mid if self.venue.inverse else mid

    def order(self, qty: float) -> float:
        """The venue's signed order for buying ``qty`` coin (selling, if negative): the
        quantity itself, or on an inverse venue contracts of 1 USD, sold in x to buy."""
        return -qty * self.price if self.venue.inverse else qty


@dataclass(frozen=True)
class ArbitrageRule:
    latency_ms: int
    threshold: float
    leverage: float
    rebalance_below: float  # move capital to a leg below this share of its start (0: never)
    transfer_ms: int  # how long capital takes between venues


class Arbitrageur:
    """Trades the gap between two legs; ``act`` is called after its latency."""

    def __init__(self, name: str, a: Leg, b: Leg, rule: ArbitrageRule) -> None:
        self.name, self.a, self.b, self.rule = name, a, b, rule
        self.trades = 0
        # Each leg's starting collateral, in USD (legs may be linear and inverse).
        self.start = a.venue.usd(float(a.venue.accounts.wallet[a.row]))
        self.in_transit = False  # a transfer between its venues is under way

    def equity(self, leg: Leg) -> float:
        """The leg's account equity in USD."""
        return leg.venue.usd(float(leg.venue.accounts.cross_equity(leg.row, leg.venue.marks)))

    def spare(self, leg: Leg) -> float:
        """Equity (USD) the leg's position does not need at the arbitrageur's own leverage."""
        venue = leg.venue
        notional = abs(float(venue.accounts.pos[leg.row, leg.market])) * venue.marks[leg.market]
        return max(self.equity(leg) - venue.usd(notional) / self.rule.leverage, 0.0)

    def transfer(self) -> tuple[Leg, Leg, float] | None:
        """(from, to, USD) when one leg's equity is below ``rebalance_below`` of its start:
        half the difference from the other leg, at most what that leg can spare; None when no
        transfer is due (or one is under way)."""
        if self.rule.rebalance_below <= 0 or self.in_transit:
            return None
        legs = (self.a, self.b)
        equity = [self.equity(leg) for leg in legs]
        low = 0 if equity[0] <= equity[1] else 1
        if equity[low] >= self.rule.rebalance_below * self.start:
            return None
        source, target = legs[1 - low], legs[low]
        amount = min((equity[1 - low] - equity[low]) / 2, self.spare(source))
        return (source, target, amount) if amount >= MIN_NOTIONAL else None

    def gap(self) -> float:
        """log(price_a / price_b), in USD per coin."""
        return math.log(self.a.price / self.b.price)

    def act(self, now_ms: int) -> float:
        """Trade the gap as it stands now; returns the quantity bought (and sold)."""
        for leg in (self.a, self.b):
            leg.venue.sync_book(leg.market, now_ms)
        gap = self.gap()
        if abs(gap) <= self.rule.threshold or self._queued() or self._halted(now_ms):
            return 0.0
        rich, cheap = (self.a, self.b) if gap > 0 else (self.b, self.a)
        room = min(self._room(cheap, BUY), self._room(rich, SELL))
        qty = self._size(rich, cheap, room)
        if qty * cheap.price < MIN_NOTIONAL:
            return 0.0
        generation, cause = self._tag(rich, cheap, now_ms)
        cheap.venue.walk_book(cheap.row, cheap.market, cheap.order(qty), now_ms, generation,
                              cause, Reason.ARBITRAGE)
        rich.venue.walk_book(rich.row, rich.market, rich.order(-qty), now_ms, generation, cause,
                             Reason.ARBITRAGE)
        self.trades += 1
        for leg in (cheap, rich):
            leg.venue.touch(leg.row)
            leg.venue.detect(now_ms)
        return qty

    def _halted(self, now_ms: int) -> bool:
        return any(leg.venue.paused_until(now_ms, "trading") is not None
                   for leg in (self.a, self.b))

    def _queued(self) -> bool:
        return any(bool(leg.venue.queued_cross[leg.row]) for leg in (self.a, self.b))

    def _room(self, leg: Leg, side: int) -> float:
        """How much more (coin) the leg's position may grow towards ``side`` (+1 buy, -1
        sell)."""
        venue = leg.venue
        marks = venue.marks
        equity = venue.accounts.cross_equity(leg.row, marks)
        limit = max(equity, 0.0) * self.rule.leverage / marks[leg.market]
        if venue.inverse:  # contracts, and a buy of P is a sell of x
            contracts = max(limit + side * float(venue.accounts.pos[leg.row, leg.market]), 0.0)
            return contracts / leg.price
        return max(limit - side * float(venue.accounts.pos[leg.row, leg.market]), 0.0)

    def _size(self, rich: Leg, cheap: Leg, room: float) -> float:
        """The largest quantity up to ``room`` after which log(rich / cheap) >= threshold."""
        if room <= 0:
            return 0.0
        if self._gap_after(rich, cheap, room) >= self.rule.threshold:
            return room
        lo, hi = 0.0, room
        for _ in range(_BISECTIONS):
            mid = 0.5 * (lo + hi)
            if self._gap_after(rich, cheap, mid) >= self.rule.threshold:
                lo = mid
            else:
                hi = mid
        return lo

    @staticmethod
    def _gap_after(rich: Leg, cheap: Leg, qty: float) -> float:
        """log(rich / cheap) after selling ``qty`` on rich and buying it on cheap (the books
        move a step per consumed level, as ``Venue.walk_book`` applies them)."""
        prices = []
        for leg, side in ((rich, SELL), (cheap, BUY)):
            book, mid = leg.venue.markets[leg.market].book, leg.mid
            order = leg.order(side * qty)
            side = BUY if order > 0 else SELL if order < 0 else side
            walk = book.preview(side, abs(order), mid)
            delta = (walk.levels_consumed if side == BUY else -walk.levels_consumed) * book.step
            after = mid + max(delta, book.tick - mid)
            prices.append(1.0 / after if leg.venue.inverse else after)
        return math.log(prices[0] / prices[1])

    @staticmethod
    def _tag(rich: Leg, cheap: Leg, now_ms: int) -> tuple[int, int]:
        """(generation, cause seq) of the move this trade passes on."""
        # Displacements of the legs' USD prices (an inverse book's x moves the other way).
        d_rich = rich.venue.markets[rich.market].prices.d
        d_cheap = cheap.venue.markets[cheap.market].prices.d
        if rich.venue.inverse:
            d_rich = -d_rich
        if cheap.venue.inverse:
            d_cheap = -d_cheap
        n = max(d_rich.size, d_cheap.size)
        up = np.zeros(n)  # how much the rich market's rise makes of the gap, per generation
        down = np.zeros(n)  # and the cheap market's fall
        up[: d_rich.size] = d_rich
        down[: d_cheap.size] = -d_cheap
        g = int(np.argmax(up + down))
        if g == 0 or up[g] + down[g] <= 0:
            return 0, -1
        leg, sign = (cheap, -1.0) if down[g] >= up[g] else (rich, 1.0)
        prices = leg.venue.markets[leg.market].prices
        seqs, live, _ = leg.venue.ledger.live(leg.market, g, now_ms, prices.recentre_ms)
        if seqs.size == 0:
            return g, -1
        if leg.venue.inverse:
            sign = -sign
        return g, int(seqs[int(np.argmax(sign * live))])
