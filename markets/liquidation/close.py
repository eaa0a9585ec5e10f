"""Closing a served breach's positions by market order, down the waterfall.

``MarketClose`` is the venue's market close, its sizing chosen once from the rules: all of
each position, winners first so a cross account's realised gains back its losers
(``WholePositions``), or with ``close: partial`` only as much as brings the account back to the
target margin ratio, largest maintenance first (``ToTarget``); with chunking, a fraction of a
large position, after which a still-breached account waits out a cooldown and is served again.

``close_position`` closes one position. It is split (``waterfall.split_close``) into a book
part the insurance fund can back against the bankruptcy price, a part taken over by the fund at
the bankruptcy price (fund takeover, up to its capacity), an ADL part matched with the venue's
ADL queue (``adl``) at the bankruptcy price or the mark (``_deleverage``), and a remainder sent
to the book whose shortfall falls to the last layer; then ``settle`` pays for what it left.

Acts on a ``Venue``'s public state; which closer a venue uses is ``pipeline``'s. Nothing here
knows SimPy or the simulator.
"""

from __future__ import annotations

import numpy as np

from markets.book import BUY, SELL
from markets.events import EventKind, Mechanism, Reason, Share
from markets.liquidation import adl
from markets.liquidation.fund_takeover import capacity_qty, fund_row, fund_take
from markets.liquidation.record import record_liquidation
from markets.liquidation.settle import after_close, settle
from markets.liquidation.sizing import chunk_qty, partial_close_qty
from markets.liquidation.waterfall import CloseSplit, split_close
from markets.margin.detection import CROSS, Breach
from markets.margin.formulas import bankruptcy_price
from markets.rules import ChunkRule
from markets.venue import Venue


# --- sizing: in what order, and how much of each position --------------------------------
class WholePositions:
    """Close every position whole, the largest unrealised profit first."""

    def order(self, venue: Venue, i: int, positions: list[int], marks: np.ndarray) -> list[int]:
        acc = venue.accounts
        upnl = [acc.pos[i, m] * (marks[m] - acc.entry[i, m]) for m in positions]
        return [positions[k] for k in np.lexsort((positions, -np.asarray(upnl)))]

    def quantity(self, venue: Venue, breach: Breach, m: int, size: float) -> float:
        return size


class ToTarget:
    """Close the largest maintenance first, each only until the scope is back at ``target``
    (maintenance / equity); 0 once it is."""

    def __init__(self, target: float) -> None:
        self.target = target

    def order(self, venue: Venue, i: int, positions: list[int], marks: np.ndarray) -> list[int]:
        acc = venue.accounts
        mm = [acc.position_maintenance(m, abs(float(acc.pos[i, m])) * marks[m]) for m in positions]
        return [positions[k] for k in np.lexsort((positions, -np.asarray(mm)))]

    def quantity(self, venue: Venue, breach: Breach, m: int, size: float) -> float:
        return _partial_qty(venue, breach.account, breach.scope, m, self.target)


class MarketClose:
    """Close a breach's positions by market order, sized by ``sizing``, chunked by ``chunk``."""

    def __init__(self, sizing: WholePositions | ToTarget, chunk: ChunkRule | None) -> None:
        self.sizing = sizing
        self.chunk = chunk

    def close(self, venue: Venue, breach: Breach, positions: list[int], now_ms: int) -> bool:
        acc, i, chunk = venue.accounts, breach.account, self.chunk
        support, chunked = 0.0, False
        for m in self.sizing.order(venue, i, positions, venue.marks):
            size = abs(float(acc.pos[i, m]))
            if size == 0.0:
                continue
            qty = self.sizing.quantity(venue, breach, m, size)
            if qty <= 0.0:
                break  # the account is back at its target
            cut = qty
            if chunk is not None:
                mark = venue.markets[m].prices.mark
                cut = chunk_qty(qty, size, size * mark, chunk.above, chunk.fraction)
                chunked |= cut < qty
            support = close_position(venue, breach, m, cut, now_ms, support,
                                     Share.CHUNK if cut < qty else Share.PARTIAL)
        left = venue.scope_markets(i, breach.scope)
        if chunked and left and acc.scope_slack(i, breach.scope, venue.trigger_prices()) < 0:
            # Still breached: the rest waits out the cooldown, then is served again.
            venue.detector.set_queued(breach, True)
            venue.enqueue(breach, now_ms + chunk.cooldown_ms)
        elif not left and breach.scope == CROSS:
            after_close(venue, breach, None, now_ms)
        return True


def _partial_qty(venue: Venue, i: int, scope: int, m: int, target: float) -> float:
    """Smallest close of position (i, m) that brings the scope back to the target ratio."""
    acc, mk, rules = venue.accounts, venue.markets[m], venue.rules
    prices = venue.trigger_prices()
    q = float(acc.pos[i, m])
    size, p = abs(q), float(prices[m])
    valued = p  # the price the position's maintenance is valued at
    if scope == CROSS:
        equity = acc.cross_equity(i, prices)
        live = venue.scope_markets(i, CROSS)
        other = sum(acc.position_maintenance(k, abs(float(acc.pos[i, k])) * prices[k])
                    for k in live if k != m)
    else:
        equity = float(acc.iso_margin[i, m]) + q * (p - float(acc.entry[i, m]))
        other = 0.0
        valued = acc.iso_valuation(i, m, p)
    side = SELL if q > 0 else BUY
    mid = mk.prices.mid

    def cost(x: float) -> float:
        if x <= 0.0:
            return 0.0
        walk = mk.book.preview(side, x, mid)
        slip = x * p - walk.notional if q > 0 else walk.notional - x * p
        return slip + rules.fee_rate * walk.notional

    return partial_close_qty(
        size, equity, other, lambda x: acc.position_maintenance(m, (size - x) * valued), cost,
        target,
    )


# --- one position ---------------------------------------------------------------------------
def close_position(
    venue: Venue, breach: Breach, m: int, qty: float, now_ms: int, support: float,
    label: Share = Share.PARTIAL,
) -> float:
    """Close ``qty`` (magnitude) of position (breach.account, m) down the waterfall; a close
    of less than the position records its share as ``label`` (partial or chunk). Returns the
    fund support given so far in this liquidation."""
    acc, mk, i, rules = venue.accounts, venue.markets[m], breach.account, venue.rules
    venue.sync_book(m, now_ms)
    q = float(acc.pos[i, m])
    qty = min(qty, abs(q))
    if qty <= 0.0:
        return support
    closing_long = q > 0
    sign = 1.0 if closing_long else -1.0
    side = SELL if closing_long else BUY
    marks = venue.marks
    # A cross account whose other positions lost heavily can be bankrupt at any price (a short's
    # bankruptcy price below zero): ADL never fills below one tick; the rest is bad debt.
    backing = (acc.maintenance_share_backing(i, m, marks)
               if rules.backing == "maintenance_share" and not acc.isolated[i, m]
               else acc.equity_backing(i, m, marks))
    bp = max(bankruptcy_price(q, acc.entry[i, m], backing), mk.book.tick)
    walk = mk.book.preview(side, qty, mk.prices.mid)
    fund = venue.fund_for(m)
    locked = adl.fund_locked(venue, m, now_ms)
    # With a fund takeover the book takes only what fills at or above the bankruptcy price.
    room = 0.0 if (rules.takeover is not None or locked) else fund.available(now_ms)
    # Bybit: a position that must be closed whole is taken over at bankruptcy, not walked.
    whole = (rules.takeover is not None and rules.takeover.whole and not locked
             and qty == abs(q))
    if whole:
        split = CloseSplit(qty, 0.0, 0.0, qty)
    else:
        split = split_close(walk.prices, walk.sizes, closing_long, bp, room, 0.0)
    taken, ids, adl_qty = 0.0, np.zeros(0, dtype=np.int64), np.zeros(0)
    if split.socialized > 0:  # a bankrupt remainder the book cannot close at bankruptcy
        if rules.takeover is not None and not locked:
            taken = min(split.socialized, capacity_qty(venue, m, bp))
        if rules.adl_enabled and split.socialized - taken > 0 and _adl_applies(
                rules.adl.on, sign, float(marks[m]), bp):
            ids, adl_qty = adl.take(venue, m, closing_long, i, split.socialized - taken, now_ms,
                                    marks)
        other = min(taken + float(adl_qty.sum()), split.socialized)
        if whole:
            split = CloseSplit(qty, 0.0, other, qty - other)
        else:
            split = split_close(walk.prices, walk.sizes, closing_long, bp, room, other)
    taken = min(taken, split.adl)
    adl_price = bp if rules.adl.price == "bankruptcy" else float(marks[m])
    book_walk = walk.truncate(split.book)
    notional = book_walk.notional + taken * bp + (split.adl - taken) * adl_price
    liq_seq = record_liquidation(
        venue, breach, m, now_ms, how=Mechanism.MARKET, side=side, qty=qty, price=notional / qty,
        notional=notional, bankruptcy=bp, fraction=None if qty == abs(q) else qty / abs(q),
        share=label, holder=fund_row(venue, m) if taken > 0 else None,
    )
    if split.book > 0:
        venue.walk_book(i, m, -sign * split.book, now_ms, breach.generation, liq_seq,
                        Reason.LIQUIDATION, book_walk)
    if taken > 0:
        fund_take(venue, breach, m, sign * taken, bp, liq_seq, now_ms)
    if split.adl - taken > 0:
        _deleverage(venue, breach, m, sign, ids, adl_qty, adl_price, bp, liq_seq, now_ms)
    support = settle(venue, breach, m, book_walk.notional, liq_seq, now_ms, support)
    if acc.isolated[i, m] and acc.pos[i, m] == 0:
        after_close(venue, breach, m, now_ms)
    return support


def _adl_applies(on: str, sign: float, mark: float, bp: float) -> bool:
    """ADL may take this position's remainder: always on a thin book; by default only when
    the account is bankrupt at the mark (a long's mark below its bankruptcy price)."""
    return on == "thin_book" or sign * (mark - bp) < 0


def _deleverage(
    venue: Venue, breach: Breach, m: int, sign: float, hit_ids: np.ndarray, hit_qty: np.ndarray,
    price: float, bp: float, liq_seq: int, now_ms: int,
) -> None:
    """Close the bankrupt remainder (of a position of direction ``sign``) against ADL
    counterparties at ``price`` (the bankruptcy price ``bp``, or the mark)."""
    acc, mk, i, counters = venue.accounts, venue.markets[m], breach.account, venue.counters
    mark = mk.prices.mark
    for c, x in zip(hit_ids.tolist(), hit_qty.tolist(), strict=True):
        # Never past flat: ADL closes the bankrupt position, it never flips it. (Float residue
        # of closing in pieces is snapped to flat by Accounts.trade.)
        left = abs(float(acc.pos[i, m]))
        x = min(x, left)
        if x <= 0.0:
            break
        # The counterparty's unrealised profit at the mark on what it loses (a loss, negative,
        # when the queue takes every position).
        profit = -sign * x * (mark - float(acc.entry[c, m]))
        acc.trade(i, m, -sign * x, price)
        acc.trade(c, m, sign * x, price)
        # What the deleveraged trader gives up against closing at the mark, and the shortfall
        # at the mark it covered: the least a pro-rata haircut of profits would have needed.
        haircut = sign * x * (price - mark)
        counters.adl_haircut[c] += haircut
        counters.adl_qty[c] += x
        counters.adl_needed += max(sign * x * (bp - mark), 0.0)
        counters.adl_profit_closed += profit
        seq = venue.sink.emit(
            EventKind.ADL, now_ms, venue.name, mk.name, account=c,
            side=BUY if sign > 0 else SELL, qty=x, price=price, notional=x * price,
            generation=breach.generation, cause=liq_seq,
            amount=haircut, balance=profit, bankruptcy_price=bp, mark_price=mark,
        )
        venue.sink.edge(liq_seq, seq)
        if acc.isolated[c, m] and acc.pos[c, m] == 0:
            venue.release_isolated(c, m)
    venue.touch(hit_ids)
