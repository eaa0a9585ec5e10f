"""A venue: its perpetual markets, accounts, insurance fund, margin checks and order entry.

The venue publishes marks, detects accounts below maintenance (vectorised, through the risk
index) or below the margin-call level, tags every breach with its cascade generation and
causes, and queues it for the liquidation engine. It executes voluntary market orders and
deposits for agents. How a queued breach is closed and paid for lives in ``liquidation``.

Order of work at one instant (documented so simultaneous events are deterministic): oracle
prices -> index and mark of every market -> margin check -> queue -> (engine) liquidation
orders -> fills -> mark update -> margin check again. Book refill and re-centring are
continuous in time and applied lazily whenever a market is touched.

Time is a number passed in; nothing here knows SimPy (the engine process is in ``engine``),
agents or the simulator. Hooks (``on_enqueue``, ``on_margin_call``) let others react.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from markets.accounts import Accounts
from markets.attribution import ImpactLedger, first_breach_level, needed_causes, needed_share
from markets.book import BUY, SELL, OrderBook, Walk
from markets.events import EventSink
from markets.margin import MarginTiers
from markets.pricing import MarketPrices
from markets.risk_index import RiskIndex
from markets.waterfall import InsuranceFund

CROSS = -1  # breach scope: the cross-margined part of an account (else an isolated market)


@dataclass(frozen=True)
class LiquidationRules:
    fee_rate: float = 0.005  # of liquidated notional, paid to the insurance fund
    margin_call_level: float = 0.8  # margin ratio (maintenance / equity) that triggers a call
    adl: bool = True
    throughput_per_s: float = 200.0
    latency_ms: int = 0
    adl_ranking_ms: int = 0  # how often the ADL queue is re-ranked (0: at every use)


@dataclass
class Market:
    name: str
    asset: str
    tiers: MarginTiers
    book: OrderBook
    prices: MarketPrices
    max_leverage: float
    cross_impacts: list[tuple[int, float]] = field(default_factory=list)  # (market, beta)


@dataclass(frozen=True)
class Breach:
    account: int
    scope: int  # CROSS or the isolated market's index
    generation: int
    detected_ms: int
    causes: tuple[int, ...]


class Venue:
    def __init__(
        self, name: str, markets: list[Market], accounts: Accounts, fund: InsuranceFund,
        rules: LiquidationRules, sink: EventSink, maker_row: int = 0,
    ) -> None:
        self.name = name
        self.markets = markets
        self.accounts = accounts
        self.fund = fund
        self.rules = rules
        self.sink = sink
        self.maker_row = maker_row
        n, m = accounts.n, len(markets)
        self.queue: deque[Breach] = deque()
        self.queued_cross = np.zeros(n, dtype=bool)
        self.queued_iso = np.zeros((n, m), dtype=bool)
        self.call_armed = np.ones(n, dtype=bool)
        self.ledger = ImpactLedger(m)
        self.index = RiskIndex(accounts)
        self._stale_index = True
        self.peak_queue = 0
        self.deposits = 0.0
        self.socialized = 0.0
        self.absorbed = 0.0  # losses nobody was left to carry, absorbed by the venue itself
        self.fees = 0.0
        self.adl_haircut = np.zeros(n)  # per account: given up to ADL against the mark
        self.adl_qty = np.zeros(n)
        self.social_charged = np.zeros(n)
        self.adl_rankings: dict[tuple[int, int], tuple[int, np.ndarray]] = {}
        self._premium_sum = np.zeros(m)
        self._premium_n = 0
        self.on_enqueue: Callable[[], None] = lambda: None
        self.on_margin_call: Callable[[int, int, int, int], None] = lambda *a: None
        self.before_liquidation: Callable[[Venue, Breach], None] = lambda *a: None
        self.after_liquidation: Callable[[Venue, Breach, int], None] = lambda *a: None

    # --- prices ------------------------------------------------------------------------------
    @property
    def marks(self) -> np.ndarray:
        return np.array([mk.prices.mark for mk in self.markets])

    def level_marks(self) -> np.ndarray:
        """Counterfactual marks, (levels, markets): row j had only generations <= j traded."""
        top = max(mk.prices.max_generation for mk in self.markets)
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
        p = np.array([(mk.prices.mark - mk.prices.index) / mk.prices.index for mk in self.markets])
        self._premium_sum += p
        self._premium_n += 1
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

    # --- voluntary actions -------------------------------------------------------------------
    def market_order(
        self, i: int, m: int, qty: float, now_ms: int, generation: int = 0, cause: int = -1,
    ) -> None:
        if qty == 0:
            return
        self.walk_book(i, m, qty, now_ms, generation, cause, "order")
        if self.accounts.isolated[i, m] and self.accounts.pos[i, m] == 0:
            self.release_isolated(i, m)
        self.touch(i)
        self.detect(now_ms)

    def deposit(
        self, i: int, amount: float, now_ms: int, cause: int = -1, market: int | None = None,
    ) -> None:
        """External collateral paid into the cross wallet, or an isolated position's margin."""
        if amount <= 0:
            return
        self.accounts.credit(i, market, amount)
        self.deposits += amount
        name = self.markets[market].name if market is not None else ""
        self.sink.emit("top_up", now_ms, self.name, name, account=i, amount=amount, cause=cause)
        self.touch(i)

    def release_isolated(self, i: int, m: int) -> None:
        acc = self.accounts
        acc.wallet[i] += acc.iso_margin[i, m]
        acc.iso_margin[i, m] = 0.0

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

    def detect(self, now_ms: int) -> None:
        """Queue every account now below maintenance; call those below the call level."""
        marks = self.marks
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
            self.queue.append(breach)
        self.peak_queue = max(self.peak_queue, len(self.queue))
        self.on_enqueue()

    def _causes(self, i: int, scope: int, generation: int, share: float, now_ms: int) -> list[int]:
        acc = self.accounts
        markets = [scope] if scope != CROSS else [
            m for m in range(len(self.markets)) if acc.pos[i, m] != 0 and not acc.isolated[i, m]
        ]
        seqs, harms = [], []
        for m in markets:
            s, live = self.ledger.live(m, generation, now_ms, self.markets[m].prices.recentre_ms)
            seqs.append(s)
            # What each source's still-live (log) move costs the account; a long is hurt by a
            # fall. Notional makes moves in different markets comparable.
            harms.append(-acc.pos[i, m] * self.markets[m].prices.mark * live)
        if not seqs:
            return []
        if len(seqs) == 1:  # one market: each source moved it once
            return needed_causes(seqs[0], harms[0], share)
        seq_all, harm_all = np.concatenate(seqs), np.concatenate(harms)
        # One source can move several markets (cross impact): add its harms up.
        uniq, inv = np.unique(seq_all, return_inverse=True)
        return needed_causes(uniq, np.bincount(inv, weights=harm_all), share)

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
            self.on_margin_call(i, int(scopes[n]), int(level[n]) + 1, seq)


    # --- funding ------------------------------------------------------------------------------
    def apply_funding(self, now_ms: int, interest: float, cap: float) -> None:
        """Settle funding: positions pay ``rate * notional`` at mark, longs to shorts if > 0."""
        if self._premium_n == 0:
            return
        rates = np.clip(self._premium_sum / self._premium_n + interest, -cap, cap)
        self._premium_sum[:] = 0.0
        self._premium_n = 0
        acc, marks = self.accounts, self.marks
        for m, mk in enumerate(self.markets):
            pay = acc.pos[:, m] * marks[m] * rates[m]  # zero-sum: positions net to zero
            iso = acc.isolated[:, m]
            acc.wallet -= np.where(iso, 0.0, pay)
            acc.iso_margin[:, m] -= np.where(iso, pay, 0.0)
            longs = float(pay[acc.pos[:, m] > 0].sum())
            self.sink.emit("funding", now_ms, self.name, mk.name, amount=longs, price=rates[m])
        self._stale_index = True
        self.call_armed[:] = True
        self.detect(now_ms)

    # --- observation ---------------------------------------------------------------------------
    def margin_ratios(self, at_most: int | None = None) -> np.ndarray:
        """Margin ratios of open accounts; with ``at_most``, of an evenly strided subset (a
        deterministic sample, so sampling every interval stays cheap at 100k accounts)."""
        acc = self.accounts
        rows = np.arange(acc.n)
        if at_most is not None and acc.n > at_most:
            rows = rows[:: -(-acc.n // at_most)]
        rows = rows[acc.liquidatable[rows] & (acc.pos[rows] != 0).any(axis=1)]
        return _ratio(*acc.margin_state(rows, self.marks))

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
