"""A venue: its perpetual markets, accounts, insurance fund, margin checks and order entry.

The venue publishes marks, detects accounts below maintenance (vectorised, through the risk
index) or below the margin-call level, tags every breach with its cascade generation and
causes, and queues it for the liquidation engine. It executes voluntary market orders and
deposits for agents. How a queued breach is closed and paid for lives in ``markets.liquidation``.

Order of work at one instant (documented so simultaneous events are deterministic): oracle
prices -> index and mark of every market -> margin check -> queue -> (engine) liquidation
orders -> fills -> mark update -> margin check again. Book refill and re-centring are
continuous in time and applied lazily whenever a market is touched.

Time is a number passed in; nothing here knows SimPy (the engine process is
``agents.liquidation_engine``, the funding clock ``agents.funding_clock``), agents or the
simulator. Signals let others react: ``enqueued`` (a
breach was queued), ``margin_called`` (account, scope, generation, event seq),
``auction_started``, and ``liquidating`` / ``liquidated`` around each served breach; the
simulator's run wiring subscribes the listeners, in one place.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from markets.attribution import ImpactLedger, breach_causes, first_breach_level, needed_share
from markets.book import BUY, SELL, OrderBook, Walk
from markets.counters import VenueCounters
from markets.events import EventSink, Signal
from markets.insurance_fund import InsuranceFund
from markets.margin.accounts import Accounts
from markets.margin.formulas import MarginTiers
from markets.margin.risk_index import RiskIndex
from markets.prices.marks import MarketPrices
from markets.risk_controls import CircuitBreaker, VolatilityMargin, open_interest_allows
from markets.rules import LiquidationRules

__all__ = ["CROSS", "Breach", "Closer", "LiquidationRules", "Market", "Venue", "VenueRows"]

CROSS = -1  # breach scope: the cross-margined part of an account (else an isolated market)


@dataclass
class Market:
    name: str
    asset: str
    tiers: MarginTiers
    book: OrderBook
    prices: MarketPrices
    max_leverage: float
    cross_impacts: list[tuple[int, float]] = field(default_factory=list)  # (market, beta)
    fund: int = 0  # which of the venue's insurance funds backs this market
    open_interest_cap: float | None = None  # USD at mark
    volatility_margin: VolatilityMargin | None = None
    breaker: CircuitBreaker | None = None


@dataclass(frozen=True)
class VenueRows:
    """Account rows the venue itself owns (never liquidated): its market maker, the backstop
    vault, one row per insurance fund to hold taken-over positions, and keepers."""

    maker: int = 0
    vault: int | None = None
    funds: tuple[int, ...] = ()
    keepers: tuple[int, ...] = ()


@dataclass(frozen=True)
class Breach:
    account: int
    scope: int  # CROSS or the isolated market's index
    generation: int
    detected_ms: int
    causes: tuple[int, ...]


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
        self.queued_cross = np.zeros(n, dtype=bool)
        self.queued_iso = np.zeros((n, m), dtype=bool)
        self.call_armed = np.ones(n, dtype=bool)
        self.ledger = ImpactLedger(m)
        self.index = RiskIndex(accounts)
        self._stale_index = True
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

    def on_oracle(self, now_ms: int, fundamentals: np.ndarray) -> None:
        for m, mk in enumerate(self.markets):
            mk.prices.on_oracle(now_ms, float(fundamentals[m]))
            self._observe_controls(m, now_ms)
        p = np.array([(mk.prices.mark - mk.prices.index) / mk.prices.index for mk in self.markets])
        self.premium_sum += p
        self.premium_n += 1
        self.detect(now_ms)

    def _move_mid(self, m: int, delta: float, generation: int, seq: int, now_ms: int) -> None:
        """Book impact of a trade in ``m``, passed on along cross-impact edges (same tag)."""
        mk = self.markets[m]
        dlog = mk.prices.add_impact(generation, delta)
        self.ledger.record(m, seq, generation, dlog, now_ms)
        for target, beta in mk.cross_impacts:
            tp = self.markets[target].prices
            tp.advance(now_ms)
            tp.add_log_impact(generation, beta * dlog)
            self.ledger.record(target, seq, generation, beta * dlog, now_ms)

    def walk_book(
        self, i: int, m: int, qty: float, now_ms: int, generation: int, cause: int, detail: str,
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
        # The mid cannot be pushed to or below zero; deep walks stop moving it at one tick.
        delta = max(mk.book.apply(walk, mid), mk.book.tick - mid)
        vwap = walk.vwap
        self.accounts.trade(i, m, qty, vwap)
        self.accounts.trade(self.maker_row, m, -qty, vwap)
        seq = self.sink.emit(
            "trade", now_ms, self.name, mk.name, account=i, side=side, qty=abs(qty), price=vwap,
            notional=walk.notional, generation=generation, cause=cause,
            detail=detail + (" book_exhausted" if walk.exhausted else ""),
        )
        if delta != 0.0:
            self._move_mid(m, delta, generation, cause if cause >= 0 else seq, now_ms)
        return vwap, walk.notional

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
            self.sink.emit("margin_multiplier", now_ms, self.name, mk.name,
                           amount=vm.multiplier, detail=f"vol={vm.vol:.6g}")
        if mk.breaker is not None and mk.breaker.update(now_ms, mark):
            self.sink.emit("circuit_breaker", now_ms, self.name, mk.name, price=mark,
                           detail=f"{self.rules.halt} paused until {mk.breaker.paused_until}")

    def paused_until(self, now_ms: int, what: str = "liquidations") -> int | None:
        """When a tripped circuit breaker lets ``what`` resume (None: not paused). A trading
        halt pauses liquidations too."""
        if what == "trading" and self.rules.halt != "trading":
            return None
        ends = [mk.breaker.paused_until for mk in self.markets
                if mk.breaker is not None and mk.breaker.paused(now_ms)]
        return max(ends) if ends else None

    def _order_allowed(self, i: int, m: int, qty: float, now_ms: int) -> bool:
        """A voluntary order may trade: no trading halt, and within the open-interest cap."""
        mk, acc = self.markets[m], self.accounts
        reason = ""
        if self.paused_until(now_ms, "trading") is not None:
            reason = "trading halted"
        elif mk.open_interest_cap is not None:
            # Open interest grows by what the order adds to |position| beyond what it closes.
            q = float(acc.pos[i, m])
            grow = max(abs(q + qty) - abs(q), 0.0) * mk.prices.mark
            oi = float(acc.open_interest()[m]) * mk.prices.mark
            if not open_interest_allows(oi, grow, mk.open_interest_cap):
                reason = "open interest cap"
        if reason:
            self.counters.rejected += 1
            self.sink.emit("rejected", now_ms, self.name, mk.name, account=i,
                           side=BUY if qty > 0 else SELL, qty=abs(qty), detail=reason)
        return not reason

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
        if qty == 0:
            return False
        if not self._order_allowed(i, m, qty, now_ms):
            return False
        self.walk_book(i, m, qty, now_ms, generation, cause, "order")
        if self.accounts.isolated[i, m] and self.accounts.pos[i, m] == 0:
            self.release_isolated(i, m)
        self.touch(i)
        self.detect(now_ms)
        return True

    def deposit(
        self, i: int, amount: float, now_ms: int, cause: int = -1, market: int | None = None,
    ) -> None:
        """External collateral paid into the cross wallet, or an isolated position's margin."""
        if amount <= 0:
            return
        self.accounts.credit(i, market, amount)
        self.counters.deposits += amount
        name = self.markets[market].name if market is not None else ""
        self.sink.emit("top_up", now_ms, self.name, name, account=i, amount=amount, cause=cause)
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
        live = (self.accounts.pos[i] != 0) & ~self.accounts.isolated[i]
        return [int(m) for m in np.nonzero(live)[0]]

    def touch(self, rows) -> None:
        """Accounts changed: re-arm their margin calls and check them exactly from now on."""
        self.call_armed[rows] = True
        self.index.touch(rows)

    # --- detection ----------------------------------------------------------------------------
    def _multiplier(self, rows) -> np.ndarray:
        return np.where(self.call_armed[rows], 1.0 / self.rules.margin_call_level, 1.0)

    def _eligible(self, rows=slice(None)) -> np.ndarray:
        acc = self.accounts
        return acc.liquidatable[rows] & ~self.queued_cross[rows] & (acc.pos[rows] != 0).any(axis=1)

    def detect(self, now_ms: int, poll: bool = False) -> None:
        """Queue every account now below maintenance; call those below the call level.

        A venue that polls (``check_ms`` > 0) checks only when its poller calls with ``poll``;
        otherwise on every mark update."""
        if self.rules.check_ms > 0 and not poll:
            return
        marks = self.trigger_prices()
        if self._stale_index:
            self.index.rebuild(marks, self._multiplier(slice(None)), self._eligible())
            self._stale_index = False
            watched = self._watch(marks)
        elif self.index.unchanged(marks):
            if self.index.quiet(marks):
                return  # nothing changed and nothing moved far enough to matter
            watched = self.index.watched
        else:
            watched = self._watch(marks)
        rows = watched[self.index.needs_exact(watched, marks)]
        if rows.size == 0:
            self.index.settle(marks, watched)
            return
        acc = self.accounts
        state = acc.margin_state(rows, marks)
        cross, iso = acc.slack_of(rows, state)
        iso = np.where(self.queued_iso[rows], np.inf, iso)
        mult = self._multiplier(rows)
        armed_cross, armed_iso = acc.slack_of(rows, state, mult)
        armed_iso = np.where(self.queued_iso[rows], np.inf, armed_iso)
        self.index.remember(rows, marks, armed_cross, armed_iso, mult)
        scopes: list[tuple[int, int]] = []  # (row position, scope)
        for k in np.nonzero(cross < 0)[0]:
            scopes.append((int(k), CROSS))
        for k, m in zip(*np.nonzero(iso < 0), strict=True):
            scopes.append((int(k), int(m)))
        breached = np.zeros(rows.size, dtype=bool)
        breached[[k for k, _ in scopes]] = True
        self.index.settle(marks, watched if not scopes else _without(watched, rows[breached]))
        if scopes:
            self._queue_breaches(rows, scopes, now_ms)
        armed = self.call_armed[rows] & ~breached
        pick = np.nonzero(armed & ((armed_cross < 0) | (armed_iso < 0).any(axis=1)))[0]
        if pick.size:
            self._issue_calls(rows[pick], armed_cross[pick], armed_iso[pick],
                              [a[pick] for a in state], now_ms)

    def _watch(self, marks: np.ndarray) -> np.ndarray:
        """Eligible accounts that may be past a threshold (rebuilding the index if needed)."""
        rows = self.index.candidates(marks)
        if rows is None:
            eligible = self._eligible()
            self.index.rebuild(marks, self._multiplier(slice(None)), eligible)
            rows = self.index.candidates(marks)
            if rows is None:
                rows = np.nonzero(eligible)[0]
        eligible = self._eligible(rows)
        self.index.forget(rows[~eligible])
        return rows[eligible]

    def _slack_levels(self, rows: np.ndarray, scopes: np.ndarray, mult: float) -> np.ndarray:
        return self.accounts.slack_levels(rows, scopes, self.level_marks(), mult)

    def _queue_breaches(self, rows: np.ndarray, scopes: list[tuple[int, int]], now_ms: int) -> None:
        acc_rows = np.array([rows[k] for k, _ in scopes], dtype=np.int64)
        scope_arr = np.array([s for _, s in scopes], dtype=np.int64)
        slack = self._slack_levels(acc_rows, scope_arr, 1.0)
        level = first_breach_level(slack)
        for n, (i, scope) in enumerate(zip(acc_rows.tolist(), scope_arr.tolist(), strict=True)):
            j = int(level[n])
            causes: tuple[int, ...] = ()
            if j > 0:
                share = needed_share(float(slack[j - 1, n]), float(slack[j, n]))
                causes = tuple(self._causes(i, scope, j, share, now_ms))
            breach = Breach(i, scope, j + 1, now_ms, causes)
            if scope == CROSS:
                self.queued_cross[i] = True
            else:
                self.queued_iso[i, scope] = True
            self.enqueue(breach, now_ms + self.rules.latency_ms)
        self.enqueued()

    def _causes(self, i: int, scope: int, generation: int, share: float, now_ms: int) -> list[int]:
        acc = self.accounts
        markets = self.scope_markets(i, scope)
        # What each source's still-live (log) move costs the account; a long is hurt by a fall.
        # Notional makes moves in different markets comparable.
        exposure = [-float(acc.pos[i, m]) * self.markets[m].prices.mark for m in markets]
        recentre = [self.markets[m].prices.recentre_ms for m in markets]
        return breach_causes(self.ledger, markets, exposure, recentre, generation, share, now_ms)

    def _issue_calls(
        self, rows: np.ndarray, cross: np.ndarray, iso: np.ndarray, state: list[np.ndarray],
        now_ms: int,
    ) -> None:
        mult = 1.0 / self.rules.margin_call_level
        first_iso = np.argmin(iso, axis=1)
        scopes = np.where(cross < 0, CROSS, first_iso)
        level = first_breach_level(self._slack_levels(rows, scopes, mult))
        ratios = _ratio(*state)
        for n, i in enumerate(rows.tolist()):
            self.call_armed[i] = False
            seq = self.sink.emit(
                "margin_call", now_ms, self.name, account=i, generation=int(level[n]) + 1,
                amount=float(ratios[n]),
            )
            self.margin_called(i, int(scopes[n]), int(level[n]) + 1, seq)


    def invalidate_margins(self) -> None:
        """Every account's margin changed (funding, a maintenance rescale): the next check
        rebuilds the margin index and re-arms margin calls."""
        self._stale_index = True
        self.call_armed[:] = True

    def revalue_all(self, now_ms: int) -> None:
        """Every account's value changed outside trading (funding): check everyone afresh."""
        self.invalidate_margins()
        self.detect(now_ms)

    # --- observation ---------------------------------------------------------------------------
    def observed_trigger_prices(self, now_ms: int) -> np.ndarray:
        """The trigger prices as they stand at ``now_ms``, read without advancing any market
        (for observers: see ``MarketPrices.observed``)."""
        k = 0 if self.rules.trigger == "last" else 2
        return np.array([mk.prices.observed(now_ms)[k] for mk in self.markets])

    def margin_ratios(
        self, at_most: int | None = None, prices: np.ndarray | None = None,
    ) -> np.ndarray:
        """Margin ratios of open accounts at ``prices`` (default: the trigger prices); with
        ``at_most``, of an evenly strided subset (a deterministic sample, so sampling every
        interval stays cheap at 100k accounts)."""
        acc = self.accounts
        rows = np.arange(acc.n)
        if at_most is not None and acc.n > at_most:
            rows = rows[:: -(-acc.n // at_most)]
        rows = rows[acc.liquidatable[rows] & (acc.pos[rows] != 0).any(axis=1)]
        return _ratio(*acc.margin_state(rows, self.trigger_prices() if prices is None else prices))

    def open_interest(self) -> np.ndarray:
        return self.accounts.open_interest()


def _ratio(cross_eq, cross_mm, iso_eq, iso_mm) -> np.ndarray:
    """Account margin ratio: total maintenance over total equity (inf when equity <= 0)."""
    eq = cross_eq + iso_eq.sum(axis=1)
    mm = cross_mm + iso_mm.sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(eq > 0, mm / eq, np.inf)


def _without(rows: np.ndarray, drop: np.ndarray) -> np.ndarray:
    """``rows`` minus ``drop`` (a subset), keeping order."""
    return rows[~np.isin(rows, drop, assume_unique=True)]
