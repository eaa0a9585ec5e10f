"""A venue: its perpetual markets, accounts, insurance fund, margin checks and order entry.

The venue publishes marks and checks margin whenever they move (or on a polling clock): its
``BreachDetector`` (``markets.margin.detection``) reports the accounts below maintenance and
those only below the margin-call level; the venue queues the breaches for the liquidation
engine and issues the calls. Cascade causes are named from the venue's impact ledger. It
executes voluntary market orders and deposits for agents. How a queued breach is closed and
paid for lives in ``markets.liquidation``.

Order of work at one instant (documented so simultaneous events are deterministic): oracle
prices -> index and mark of every market -> margin check -> queue -> margin calls -> (engine)
liquidation orders -> fills -> mark update -> margin check again. Book refill and re-centring
are continuous in time and applied lazily whenever a market is touched.

Time is a number passed in; nothing here knows SimPy (the engine process is
``agents.liquidation_engine``, the funding clock ``agents.funding_clock``), agents or the
simulator. Signals let others react: ``enqueued`` (a breach was queued), ``moved`` (another
venue's move reached one of its prices), ``mid_moved`` (market), ``ticked`` (an oracle update
was applied), ``margin_called`` (account,
scope, generation, event seq), ``auction_started``, and ``liquidating`` / ``liquidated``
around each served breach; the simulator's run wiring subscribes the listeners, in one place.
"""

from __future__ import annotations

import heapq
from typing import Protocol

import numpy as np

from markets.attribution import Cause, Channel, ImpactLedger, breach_causes
from markets.book import BUY, SELL, Walk
from markets.collateral import CollateralBook
from markets.counters import VenueCounters
from markets.disruptions import Disruptions
from markets.events import HALTS, EventKind, EventSink, Reason, Signal
from markets.insurance_fund import InsuranceFund
from markets.margin.accounts import Accounts
from markets.margin.detection import CROSS, Breach, BreachDetector
from markets.market import Link, Market, VenueRows
from markets.risk_controls import open_interest_allows
from markets.rules import LiquidationRules

__all__ = ["Closer", "LiquidationRules", "Link", "Market", "Venue", "VenueRows"]


class Closer(Protocol):
    """How a venue closes a served breach (``markets.liquidation.pipeline.closer_for`` picks
    one from the rules when the venue is built)."""

    def close(self, venue: Venue, breach: Breach, positions: list[int], now_ms: int) -> bool:
        """Close the breach's ``positions``; False when the close goes on later (auctions)."""
        ...


class Venue:
    def __init__(
        self, name: str, markets: list[Market], accounts: Accounts,
        funds: InsuranceFund | list[InsuranceFund], rules: LiquidationRules, sink: EventSink,
        rows: VenueRows | None = None, *, closer: Closer,
    ) -> None:
        self.name = name
        self.markets = markets
        self.accounts = accounts
        self.funds = funds if isinstance(funds, list) else [funds]
        self.rules = rules
        self.closer = closer
        self.sink = sink
        self.rows = rows or VenueRows()
        self.maker_row = self.rows.maker
        n, m = accounts.n, len(markets)
        # Breaches waiting for the engine: a heap of (due ms, arrival, breach), so re-queued
        # chunks wait out their cooldown while newer breaches are served in arrival order.
        self.queue: list[tuple[int, int, Breach]] = []
        self._arrivals = 0
        self.auctions: list = []  # running auctions (markets.liquidation.auction.Auction)
        self.auction_started = Signal()  # ()
        self.ledger = ImpactLedger(m)
        self.detector = BreachDetector(accounts, rules.margin_call_level, self.level_marks,
                                       self._causes)
        self.counters = VenueCounters.start(
            n, float(accounts.wallet[self.rows.vault]) if self.rows.vault is not None else 0.0)
        self._next_check = 0  # polling: the next time a margin check is due
        # Which liquidation a venue-side holder's position came from, per (row, market):
        # (generation, event seq), so its unwinding trades carry the cascade's tag.
        self.held_from: dict[tuple[int, int], tuple[int, int]] = {}
        self.adl_rankings: dict[tuple[int, int], tuple[int, np.ndarray]] = {}
        self.premium_sum = np.zeros(m)
        self.premium_n = 0
        self.enqueued = Signal()  # ()
        self.margin_called = Signal()  # (account, scope, generation, event seq)
        self.liquidating = Signal()  # (venue, breach) before a served breach is closed
        self.liquidated = Signal()  # (venue, breach, now_ms) after it was closed
        self.moved = Signal()  # () another venue's move reached a price here: check margins
        self.mid_moved = Signal()  # (market) a market's mid moved (a trade or a cross impact)
        self.ticked = Signal()  # () an oracle update was applied and checked
        self.loss_deferred = Signal()  # () a deficit was pooled for the next socialization
        self.deferred_losses: dict = {}  # market -> liquidation.deferred.Pool, to be charged
        self.disruptions = Disruptions()  # scheduled outages (set when the world is built)
        self.collateral: CollateralBook | None = None  # non-USD collateral, if any
        # Inverse (coin-margined): the venue runs in x = 1/P with the coin as unit of account
        # (``markets.inverse``); its sink reports events back in USD.
        self.inverse = False
        self.usd_at_start = 1.0  # USD per unit of account at the start (an inverse venue's P)
        # The dynamic risk controls observe the starting marks at time 0; otherwise a jump on
        # the first oracle tick would be their first observation and could neither trip the
        # breaker nor count as volatility.
        for mk in markets:
            if mk.volatility_margin is not None:
                mk.volatility_margin.update(0, mk.prices.mark)
            if mk.breaker is not None:
                mk.breaker.update(0, mk.prices.mark)

    # --- prices ------------------------------------------------------------------------------
    @property
    def marks(self) -> np.ndarray:
        return np.array([mk.prices.mark for mk in self.markets])

    @property
    def fund(self) -> InsuranceFund:
        """The venue's shared insurance fund."""
        return self.funds[0]

    def fund_for(self, m: int) -> InsuranceFund:
        return self.funds[self.markets[m].fund]

    def usd(self, amount: float) -> float:
        """Money of the venue's unit of account in USD (an inverse venue's coin, at its mark)."""
        return amount / self.markets[0].prices.mark if self.inverse else amount

    def from_usd(self, usd: float) -> float:
        """USD in the venue's unit of account (an inverse venue's coin, at its mark)."""
        return usd * self.markets[0].prices.mark if self.inverse else usd

    def qty_for(self, m: int, usd: float) -> float:
        """The signed quantity of market ``m`` worth ``usd`` at its mark (long > 0): base units,
        or on an inverse venue contracts of 1 USD, short in x for a long."""
        return -usd if self.inverse else usd / self.markets[m].prices.mark

    def trigger_prices(self) -> np.ndarray:
        """The prices margin is checked at: the marks, or the last traded prices (mids)."""
        if self.rules.trigger == "last":
            return np.array([mk.prices.mid for mk in self.markets])
        return self.marks

    def level_marks(self) -> np.ndarray:
        """Counterfactual trigger prices, (levels, markets): row j had only generations <= j
        traded."""
        top = max(mk.prices.max_generation for mk in self.markets)
        if self.rules.trigger == "last":
            return np.stack([mk.prices.mid_levels(top) for mk in self.markets], axis=1)
        return np.stack([mk.prices.mark_levels(top) for mk in self.markets], axis=1)

    def sync(self, m: int, now_ms: int) -> None:
        """Bring market ``m``'s re-centring (hence its marks) up to ``now_ms``."""
        self.markets[m].prices.advance(now_ms)

    def sync_book(self, m: int, now_ms: int) -> None:
        """Also refill market ``m``'s book up to ``now_ms`` (before walking or observing it)."""
        mk = self.markets[m]
        mk.prices.advance(now_ms)
        mk.book.advance(now_ms)

    def on_oracle(
        self, now_ms: int, fundamentals: np.ndarray, asset_prices: np.ndarray | None = None,
    ) -> None:
        """New fundamentals of the markets (and ``asset_prices``, every asset's, to value
        non-USD collateral): marks, collateral, then the margin check. An inverse venue's
        markets trade 1/P."""
        if self.inverse:
            fundamentals = 1.0 / np.asarray(fundamentals)
        for m, mk in enumerate(self.markets):
            mk.prices.on_oracle(now_ms, float(fundamentals[m]))
            self._observe_controls(m, now_ms)
        if self.collateral is not None and asset_prices is not None:
            rows = self.collateral.revalue(self.accounts.wallet, now_ms, asset_prices)
            if rows.size:
                self.touch(rows)  # their margin moved with no trade
        p = np.array([(mk.prices.mark - mk.prices.index) / mk.prices.index for mk in self.markets])
        self.premium_sum += p
        self.premium_n += 1
        self.detect(now_ms)
        self.ticked()

    # --- impact and where it travels (the wiring is compiled from the market graph) ----------
    def _move_mid(
        self, m: int, delta: float, generation: int, seq: int, now_ms: int,
        channel: Channel = Channel.BOOK,
    ) -> None:
        """Book impact of a trade in ``m``, passed on along its cross-impact links (same tag),
        to this venue's markets or another venue's (one hop)."""
        dlog = self.markets[m].prices.add_impact(generation, delta)
        self._moved(m, generation, dlog, seq, now_ms, channel)
        for link in self.markets[m].cross_impacts:
            link.venue.receive_impact(link.market, generation, link.weight * dlog, seq, now_ms)
            if link.venue is not self:
                link.venue.moved()

    def receive_impact(self, m: int, generation: int, dlog: float, seq: int, now_ms: int) -> None:
        """A move elsewhere passed on to market ``m``'s mid (a cross-impact link)."""
        tp = self.markets[m].prices
        tp.advance(now_ms)
        tp.add_log_impact(generation, dlog)
        self._moved(m, generation, dlog, seq, now_ms, Channel.CROSS_IMPACT)

    def _moved(
        self, m: int, generation: int, dlog: float, seq: int, now_ms: int, channel: Channel,
    ) -> None:
        """Market ``m``'s mid moved: record the source (and the channel the move came by),
        and republish the indices it is part of (on this venue or others)."""
        self.ledger.record(m, seq, generation, dlog, now_ms, channel)
        self.mid_moved(m)
        for link in self.markets[m].index_consumers:
            link.venue.follow_index(link.market, generation, link.weight * dlog, seq, now_ms)
            if link.venue is not self:
                link.venue.moved()

    def follow_index(self, m: int, generation: int, dlog: float, seq: int, now_ms: int) -> None:
        """A source of market ``m``'s index moved its (log) index by ``dlog``."""
        prices = self.markets[m].prices
        prices.advance(now_ms)
        prices.follow_index(generation)
        # The ledger names causes by the moves of the account's markets' prices: this one
        # moved the index, and through it the mark.
        self.ledger.record(m, seq, generation, dlog, now_ms, Channel.INDEX)

    def walk_book(
        self, i: int, m: int, qty: float, now_ms: int, generation: int, cause: int, reason: Reason,
        walk: Walk | None = None,
    ) -> tuple[float, float]:
        """Account ``i`` trades signed ``qty`` of market ``m`` against the maker's book.

        ``walk`` may be the preview of exactly this order at this instant. Returns (vwap,
        notional). The trade event is the impact's source unless ``cause`` names the event
        that forced it (a liquidation)."""
        mk = self.markets[m]
        self.sync_book(m, now_ms)
        side = BUY if qty > 0 else SELL
        mid = mk.prices.mid
        if walk is None:
            walk = mk.book.preview(side, abs(qty), mid)
        if mk.flow_budget is None:
            # The mid cannot be pushed to or below zero; deep walks stop moving it at one tick.
            delta = max(mk.book.apply(walk, mid), mk.book.tick - mid)
        else:
            delta = self._apply_excess(mk, walk, abs(qty), now_ms, mid)
        vwap = walk.vwap
        self.accounts.trade(i, m, qty, vwap)
        self.accounts.trade(self.maker_row, m, -qty, vwap)
        seq = self.sink.emit(
            EventKind.TRADE, now_ms, self.name, mk.name, account=i, side=side, qty=abs(qty),
            price=vwap, notional=walk.notional, generation=generation, cause=cause,
            reason=reason, book_exhausted=walk.exhausted,
        )
        if delta != 0.0:
            channel = Channel.ARBITRAGE if reason == Reason.ARBITRAGE else Channel.BOOK
            self._move_mid(m, delta, generation, cause if cause >= 0 else seq, now_ms, channel)
        return vwap, walk.notional

    def _apply_excess(self, mk: Market, walk: Walk, qty: float, now_ms: int,
                      mid: float) -> float:
        """A traded-price replay (``markets.absorption``): the part of the order the bar's
        real flow already holds fills at the whole walk's vwap but leaves book and mid alone;
        only the excess walks the book (a prefix of the walk). Returns the mid's move."""
        if self.inverse:  # contracts of 1 USD each; buying x = 1/P sells the coin
            usd, side = qty, -walk.side
        else:
            usd, side = walk.notional, walk.side
        absorbed = mk.flow_budget.absorb(now_ms, side, usd)
        if absorbed <= 0.0:
            return max(mk.book.apply(walk, mid), mk.book.tick - mid)
        excess = qty * (1.0 - absorbed / usd)
        if excess <= 0.0:
            return 0.0
        return max(mk.book.apply(walk.truncate(excess), mid), mk.book.tick - mid)

    # --- dynamic risk controls (their arithmetic is in ``risk_controls``) -------------------
    def _observe_controls(self, m: int, now_ms: int) -> None:
        """The market's controls read its new mark: volatility-scaled maintenance (rescaling
        it invalidates the margin index) and the circuit breaker."""
        mk = self.markets[m]
        mark = mk.prices.mark
        vm = mk.volatility_margin
        if vm is not None and vm.update(now_ms, mark):
            self.accounts.set_maintenance_multiplier(m, vm.multiplier)
            self.invalidate_margins()
            self.sink.emit(EventKind.MARGIN_MULTIPLIER, now_ms, self.name, mk.name,
                           amount=vm.multiplier, vol=vm.vol)
        if mk.breaker is not None and mk.breaker.update(now_ms, mark):
            self.sink.emit(EventKind.CIRCUIT_BREAKER, now_ms, self.name, mk.name, price=mark,
                           reason=HALTS[self.rules.halt], until_ms=mk.breaker.paused_until)

    def paused_until(self, now_ms: int, what: str = "liquidations") -> int | None:
        """When a tripped circuit breaker or a matching outage lets ``what`` resume (None: not
        paused). A trading halt pauses liquidations too; an outage pauses both."""
        outage = self.disruptions.until("matching", now_ms) if self.disruptions else None
        if what == "trading" and self.rules.halt != "trading":
            return outage
        ends = [mk.breaker.paused_until for mk in self.markets
                if mk.breaker is not None and mk.breaker.paused(now_ms)]
        if outage is not None:
            ends.append(outage)
        return max(ends) if ends else None

    def _order_allowed(self, i: int, m: int, qty: float, now_ms: int) -> bool:
        """A voluntary order may trade: no trading halt, and within the open-interest cap."""
        mk, acc = self.markets[m], self.accounts
        reason: Reason | None = None
        if self.paused_until(now_ms, "trading") is not None:
            reason = Reason.TRADING_HALTED
        elif mk.open_interest_cap is not None:
            # Open interest grows by what the order adds to |position| beyond what it closes.
            q = float(acc.pos[i, m])
            grow = max(abs(q + qty) - abs(q), 0.0) * mk.prices.mark
            oi = float(acc.open_interest()[m]) * mk.prices.mark
            if not open_interest_allows(oi, grow, mk.open_interest_cap):
                reason = Reason.OPEN_INTEREST_CAP
        if reason is not None:
            self.counters.rejected += 1
            self.sink.emit(EventKind.REJECTED, now_ms, self.name, mk.name, account=i,
                           side=BUY if qty > 0 else SELL, qty=abs(qty), reason=reason)
        return reason is None

    # --- the liquidation queue ------------------------------------------------------------------
    def enqueue(self, breach: Breach, due_ms: int) -> None:
        heapq.heappush(self.queue, (due_ms, self._arrivals, breach))
        self._arrivals += 1
        self.counters.peak_queue = max(self.counters.peak_queue, len(self.queue))

    def next_due(self) -> int | None:
        return self.queue[0][0] if self.queue else None

    def pop_breach(self) -> Breach:
        return heapq.heappop(self.queue)[2]

    # --- voluntary actions -------------------------------------------------------------------
    def market_order(
        self, i: int, m: int, qty: float, now_ms: int, generation: int = 0, cause: int = -1,
    ) -> bool:
        """A voluntary market order; False when refused (trading halt or open-interest cap)."""
        return self.market_orders(i, [(m, qty)], now_ms, generation, cause) == 1

    def market_orders(
        self, i: int, orders: list[tuple[int, float]], now_ms: int, generation: int = 0,
        cause: int = -1, reason: Reason = Reason.ORDER,
    ) -> int:
        """Account ``i``'s batch of market orders ``(market, signed qty)``, executed in order
        and margin-checked once after the last (as a venue checks a batch order); returns
        how many were executed (a halt or an open-interest cap refuses an order)."""
        done = 0
        for m, qty in orders:
            if qty == 0 or not self._order_allowed(i, m, qty, now_ms):
                continue
            self.walk_book(i, m, qty, now_ms, generation, cause, reason)
            if self.accounts.isolated[i, m] and self.accounts.pos[i, m] == 0:
                self.release_isolated(i, m)
            done += 1
        if done:
            self.touch(i)
            self.detect(now_ms)
        return done

    def deposit(
        self, i: int, amount: float, now_ms: int, cause: int = -1, market: int | None = None,
    ) -> None:
        """External collateral paid into the cross wallet, or an isolated position's margin
        (refused while deposits are halted)."""
        if amount <= 0:
            return
        if self.disruptions and self.disruptions.until("deposits", now_ms) is not None:
            self.counters.rejected += 1
            self.sink.emit(EventKind.REJECTED, now_ms, self.name, account=i, amount=amount,
                           reason=Reason.DEPOSITS_HALTED, cause=cause)
            return
        self.accounts.credit(i, market, amount)
        self.counters.deposits += amount
        name = self.markets[market].name if market is not None else ""
        self.sink.emit(EventKind.TOP_UP, now_ms, self.name, name, account=i, amount=amount,
                       cause=cause)
        self.touch(i)

    def release_isolated(self, i: int, m: int) -> None:
        acc = self.accounts
        acc.wallet[i] += acc.iso_margin[i, m]
        acc.iso_margin[i, m] = 0.0

    def scope_markets(self, i: int, scope: int) -> list[int]:
        """Markets of a breach scope's positions: a cross account's open cross positions, or
        the one isolated position."""
        if scope != CROSS:
            return [scope]
        acc = self.accounts
        return [m for m, (q, iso) in enumerate(zip(acc.pos[i].tolist(), acc.isolated[i].tolist(),
                                                   strict=True)) if q != 0.0 and not iso]

    def touch(self, rows) -> None:
        """Accounts changed: re-arm their margin calls and check them exactly from now on."""
        self.detector.touch(rows)

    # --- detection (the arithmetic is the detector's) ------------------------------------------
    @property
    def queued_cross(self) -> np.ndarray:
        """Per account: its cross part is queued (the liquidation engine clears it)."""
        return self.detector.queued_cross

    @property
    def queued_iso(self) -> np.ndarray:
        """Per (account, market): that isolated position is queued."""
        return self.detector.queued_iso

    def detect(self, now_ms: int, poll: bool = False) -> None:
        """Queue every account now below maintenance; call those below the call level.

        A venue that polls (``check_ms`` > 0) checks only when its poller calls with ``poll``;
        otherwise on every mark update. Breaches are queued before calls are issued; each call
        disarms its account before its event and signal."""
        if self.rules.check_ms > 0 and not poll:
            return
        found = self.detector.check(now_ms, self.trigger_prices())
        if found.breaches:
            for breach in found.breaches:
                self.detector.set_queued(breach, True)
                self.enqueue(breach, now_ms + self.rules.latency_ms)
            self.enqueued()
        for call in found.calls:
            self.detector.disarm(call.account)
            seq = self.sink.emit(EventKind.MARGIN_CALL, now_ms, self.name, account=call.account,
                                 generation=call.generation, amount=call.ratio)
            self.margin_called(call.account, call.scope, call.generation, seq)

    def _causes(
        self, i: int, scope: int, generation: int, share: float, now_ms: int,
    ) -> list[Cause]:
        acc = self.accounts
        markets = self.scope_markets(i, scope)
        # What each source's still-live (log) move costs the account; a long is hurt by a fall.
        # Notional makes moves in different markets comparable.
        exposure = [-float(acc.pos[i, m]) * self.markets[m].prices.mark for m in markets]
        recentre = [self.markets[m].prices.recentre_ms for m in markets]
        return breach_causes(self.ledger, markets, exposure, recentre, generation, share, now_ms)

    def invalidate_margins(self) -> None:
        """Every account's margin changed (funding, a maintenance rescale): the next check
        rebuilds the margin index and re-arms margin calls."""
        self.detector.invalidate()

    def revalue_all(self, now_ms: int) -> None:
        """Every account's value changed outside trading (funding): check everyone afresh."""
        self.invalidate_margins()
        self.detect(now_ms)

    def open_interest(self) -> np.ndarray:
        return self.accounts.open_interest()

