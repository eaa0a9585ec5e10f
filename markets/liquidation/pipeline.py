"""Closing a queued breach and paying for it: the venue's close mechanism and the waterfall.

A served breach is first re-checked (prices may have recovered in the queue). Then, by the
venue's rules: an account whose equity is below the backstop threshold is taken over by the
vault (``takeover``); with auctions its positions go to keepers (``takeover``, stepped by the
keepers' process); otherwise positions are closed by market order - all of each position, or
with ``close: partial`` only as much as brings the account back to the target margin ratio
(largest maintenance first), or, with chunking, a fraction of a large position followed by a
cooldown before the breach is served again. A cross account's positions close winners first
so their realised gains back the losers.

Each close is split (``waterfall.split_close``) into a book part the insurance fund can back
against the bankruptcy price, a part taken over by the fund at the bankruptcy price (fund
takeover, up to its capacity), an ADL part matched with the venue's ADL queue (``adl``) at the
bankruptcy price or the mark, and a remainder sent to the book whose shortfall falls to the
last layer. Then settle: a negative equity is bad debt, paid by the fund within its caps, then
socialized pro rata (or absorbed by the venue when the venue does not socialize); a positive
one repays earlier fund support within the same liquidation, then pays the fee to where the
rules send it; with ``surplus: insurance_fund`` what a full close leaves goes to the fund.

Nothing here knows SimPy or the simulator; it acts on a ``Venue`` through its public state.
"""

from __future__ import annotations

import numpy as np

from markets.book import BUY, SELL
from markets.liquidation import adl, takeover
from markets.liquidation.sizing import chunk_qty, partial_close_qty
from markets.liquidation.waterfall import CloseSplit, pro_rata, split_close
from markets.margin.detection import CROSS, Breach
from markets.margin.formulas import bankruptcy_price
from markets.venue import Venue


def liquidate(venue: Venue, breach: Breach, now_ms: int) -> None:
    """Serve one breach from the queue at ``now_ms``."""
    acc, i, rules = venue.accounts, breach.account, venue.rules
    set_queued(venue, breach, False)
    for m in range(len(venue.markets)):
        venue.sync(m, now_ms)
    prices = venue.trigger_prices()
    if acc.scope_slack(i, breach.scope, prices) >= 0:
        # Prices recovered while the breach waited in the queue: nothing to close.
        venue.sink.emit("recovered", now_ms, venue.name, account=i, generation=breach.generation)
        venue.touch(i)
        return
    venue.liquidating(venue, breach)
    for fund in venue.funds:
        fund.begin_event()
    positions = venue.scope_markets(i, breach.scope)
    if rules.backstop is not None and takeover.below_backstop(venue, i, breach.scope, prices):
        takeover.vault_takeover(venue, breach, positions, now_ms)
    elif rules.auction is not None:
        set_queued(venue, breach, True)  # the account waits for its auctions
        takeover.start_auctions(venue, breach, positions, now_ms)
        return
    else:
        market_close(venue, breach, positions, now_ms)
    venue.touch(i)
    venue.liquidated(venue, breach, now_ms)
    venue.detect(now_ms)


def set_queued(venue: Venue, breach: Breach, queued: bool) -> None:
    if breach.scope == CROSS:
        venue.queued_cross[breach.account] = queued
    else:
        venue.queued_iso[breach.account, breach.scope] = queued


def market_close(venue: Venue, breach: Breach, positions: list[int], now_ms: int) -> None:
    """Close the breach's positions by market order (full, partial or chunked)."""
    acc, i, rules = venue.accounts, breach.account, venue.rules
    marks = venue.marks
    if rules.close == "partial":
        mm = [acc.position_maintenance(m, abs(float(acc.pos[i, m])) * marks[m]) for m in positions]
        order = [positions[k] for k in np.lexsort((positions, -np.asarray(mm)))]
    else:
        upnl = [acc.pos[i, m] * (marks[m] - acc.entry[i, m]) for m in positions]
        order = [positions[k] for k in np.lexsort((positions, -np.asarray(upnl)))]
    support, chunked = 0.0, False
    for m in order:
        size = abs(float(acc.pos[i, m]))
        if size == 0.0:
            continue
        qty = size
        if rules.close == "partial":
            qty = _partial_qty(venue, i, breach.scope, m)
            if qty <= 0.0:
                break  # the account is back at its target
        cut = qty
        if rules.chunk is not None:
            mark = venue.markets[m].prices.mark
            cut = chunk_qty(qty, size, size * mark, rules.chunk.above, rules.chunk.fraction)
            chunked |= cut < qty
        support = close_position(venue, breach, m, cut, now_ms, support,
                                 "chunk" if cut < qty else "partial")
    left = venue.scope_markets(i, breach.scope)
    if chunked and left and acc.scope_slack(i, breach.scope, venue.trigger_prices()) < 0:
        # Still breached: the rest waits out the cooldown, then is served again.
        set_queued(venue, breach, True)
        venue.enqueue(breach, now_ms + rules.chunk.cooldown_ms)
    elif not left and rules.surplus == "insurance_fund" and breach.scope == CROSS:
        takeover.clear_surplus(venue, breach, None, now_ms)


def _partial_qty(venue: Venue, i: int, scope: int, m: int) -> float:
    """Smallest close of position (i, m) that brings the scope back to the target ratio."""
    acc, mk, rules = venue.accounts, venue.markets[m], venue.rules
    prices = venue.trigger_prices()
    q = float(acc.pos[i, m])
    size, p = abs(q), float(prices[m])
    if scope == CROSS:
        equity = acc.cross_equity(i, prices)
        live = venue.scope_markets(i, CROSS)
        other = sum(acc.position_maintenance(k, abs(float(acc.pos[i, k])) * prices[k])
                    for k in live if k != m)
    else:
        equity = float(acc.iso_margin[i, m]) + q * (p - float(acc.entry[i, m]))
        other = 0.0
    side = SELL if q > 0 else BUY
    mid = mk.prices.mid

    def cost(x: float) -> float:
        if x <= 0.0:
            return 0.0
        walk = mk.book.preview(side, x, mid)
        slip = x * p - walk.notional if q > 0 else walk.notional - x * p
        return slip + rules.fee_rate * walk.notional

    return partial_close_qty(
        size, equity, other, lambda x: acc.position_maintenance(m, (size - x) * p), cost,
        rules.partial_target,
    )


def close_position(
    venue: Venue, breach: Breach, m: int, qty: float, now_ms: int, support: float,
    label: str = "partial",
) -> float:
    """Close ``qty`` (magnitude) of position (breach.account, m) down the waterfall; a close
    of less than the position says ``label=<share>`` (partial or chunk) in its detail."""
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
    bp = max(bankruptcy_price(q, acc.entry[i, m], acc.equity_backing(i, m, marks)), mk.book.tick)
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
            taken = min(split.socialized, takeover.capacity_qty(venue, m, bp))
        if rules.adl_enabled and split.socialized - taken > 0:
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
    liq_seq = venue.sink.emit(
        "liquidation", now_ms, venue.name, mk.name, account=i, side=side, qty=qty,
        price=notional / qty, notional=notional, generation=breach.generation,
        cause=breach.causes[0] if breach.causes else -1,
        detail=f"detected={breach.detected_ms} bankruptcy={bp:.10g}"
        + ("" if qty == abs(q) else f" {label}={qty / abs(q):.6g}"),
    )
    for parent in breach.causes:
        venue.sink.edge(parent, liq_seq)
    if split.book > 0:
        venue.walk_book(i, m, -sign * split.book, now_ms, breach.generation, liq_seq,
                        "liquidation", book_walk)
    if taken > 0:
        takeover.fund_take(venue, breach, m, sign * taken, bp, liq_seq, now_ms)
    if split.adl - taken > 0:
        _deleverage(venue, breach, m, sign, ids, adl_qty, adl_price, bp, liq_seq, now_ms)
    support = settle(venue, breach, m, book_walk.notional, liq_seq, now_ms, support)
    if acc.isolated[i, m] and acc.pos[i, m] == 0:
        if rules.surplus == "insurance_fund":
            takeover.clear_surplus(venue, breach, m, now_ms)
        venue.release_isolated(i, m)
    return support


def _deleverage(
    venue: Venue, breach: Breach, m: int, sign: float, hit_ids: np.ndarray, hit_qty: np.ndarray,
    price: float, bp: float, liq_seq: int, now_ms: int,
) -> None:
    """Close the bankrupt remainder (of a position of direction ``sign``) against ADL
    counterparties at ``price`` (the bankruptcy price ``bp``, or the mark)."""
    acc, mk, i = venue.accounts, venue.markets[m], breach.account
    mark = mk.prices.mark
    for c, x in zip(hit_ids.tolist(), hit_qty.tolist(), strict=True):
        # Never past flat: ADL closes the bankrupt position, it never flips it. (Float residue
        # of closing in pieces is snapped to flat by Accounts.trade.)
        left = abs(float(acc.pos[i, m]))
        x = min(x, left)
        if x <= 0.0:
            break
        # The counterparty's unrealised profit at the mark on what it loses (it is in profit).
        profit = -sign * x * (mark - float(acc.entry[c, m]))
        acc.trade(i, m, -sign * x, price)
        acc.trade(c, m, sign * x, price)
        # What the deleveraged trader gives up against closing at the mark, and the shortfall
        # at the mark it covered: the least a pro-rata haircut of profits would have needed.
        haircut = sign * x * (price - mark)
        venue.adl_haircut[c] += haircut
        venue.adl_qty[c] += x
        venue.adl_needed += max(sign * x * (bp - mark), 0.0)
        venue.adl_profit_closed += profit
        seq = venue.sink.emit(
            "adl", now_ms, venue.name, mk.name, account=c, side=BUY if sign > 0 else SELL, qty=x,
            price=price, notional=x * price, generation=breach.generation, cause=liq_seq,
            amount=haircut, balance=profit, detail=f"bankruptcy={bp:.10g} mark={mark:.10g}",
        )
        venue.sink.edge(liq_seq, seq)
        if acc.isolated[c, m] and acc.pos[c, m] == 0:
            venue.release_isolated(c, m)
    venue.touch(hit_ids)


def settle(
    venue: Venue, breach: Breach, m: int, book_notional: float, liq_seq: int, now_ms: int,
    support: float, fee_to: str | None = None, keeper: int | None = None,
) -> float:
    """Pay for what a close left: bad debt down the waterfall, or clawback and fee."""
    acc, fund, i = venue.accounts, venue.fund_for(m), breach.account
    market = venue.markets[m].name
    iso_m = m if acc.isolated[i, m] else None
    equity = acc.iso_margin[i, m] if iso_m is not None else acc.cross_equity(i, venue.marks)
    g = breach.generation

    def fund_event(amount: float, detail: str) -> None:
        seq = venue.sink.emit(
            "insurance_fund", now_ms, venue.name, market, account=i, generation=g, cause=liq_seq,
            amount=amount, balance=fund.balance, detail=detail,
        )
        venue.sink.edge(liq_seq, seq)

    # Closing exactly at the bankruptcy price in pieces (fund takeover, ADL) leaves float
    # residue of ~1e-14: that is not bad debt.
    if equity < 0 and -equity <= 1e-9 * max(book_notional, 1.0):
        equity = 0.0
    if equity < 0:
        deficit = -equity
        # A fund locked by its drawdown (OKX) protects what is left: it pays no more bad debt.
        paid = 0.0 if adl.fund_locked(venue, m, now_ms) else fund.pay(deficit, now_ms)
        acc.credit(i, iso_m, paid)
        if paid > 0:
            fund_event(-paid, "bad_debt")
        rest = deficit - paid
        if rest > 1e-9 * max(deficit, 1.0):
            if venue.rules.socializes:
                socialize(venue, m, rest, i, liq_seq, now_ms)
            else:
                absorb(venue, m, rest, i, liq_seq, now_ms)
            acc.credit(i, iso_m, rest)
        seq = venue.sink.emit(
            "bankruptcy", now_ms, venue.name, market, account=i, generation=g, cause=liq_seq,
            amount=deficit,
        )
        venue.sink.edge(liq_seq, seq)
        return support + paid
    if support > 0 and equity > 0:
        claw = min(equity, support)
        fund.receive(claw, now_ms)
        acc.credit(i, iso_m, -claw)
        fund_event(claw, "clawback")
        equity -= claw
        support -= claw
    fee = min(venue.rules.fee_rate * book_notional, max(equity, 0.0))
    if fee > 0:
        acc.credit(i, iso_m, -fee)
        venue.fees += fee
        kept = takeover.pay_fee(venue, m, fee, fee_to or venue.rules.fee_to, keeper, now_ms)
        if kept > 0:
            fund_event(kept, "fee")
    return support


def absorb(venue: Venue, m: int, amount: float, account: int, cause: int, now_ms: int) -> None:
    """A loss nobody is charged for: the venue itself carries it (``venue_loss``)."""
    venue.absorbed += amount
    seq = venue.sink.emit("venue_loss", now_ms, venue.name, venue.markets[m].name,
                          account=account, amount=amount, cause=cause)
    venue.sink.edge(cause, seq)


def socialize(venue: Venue, m: int, amount: float, exclude: int, cause: int, now_ms: int) -> None:
    """Charge ``amount`` pro rata to open notional in market ``m``; flat accounts never pay.

    With no open position left in the market there is nobody to charge: the venue itself
    absorbs the loss (recorded as ``venue_loss``)."""
    acc = venue.accounts
    holders = np.nonzero(acc.pos[:, m] != 0)[0]
    holders = holders[holders != exclude]
    if holders.size == 0:
        absorb(venue, m, amount, exclude, cause, now_ms)
        return
    shares = pro_rata(np.abs(acc.pos[holders, m]) * venue.markets[m].prices.mark, amount)
    iso = acc.isolated[holders, m]
    acc.wallet[holders[~iso]] -= shares[~iso]
    acc.iso_margin[holders[iso], m] -= shares[iso]
    venue.social_charged[holders] += shares
    venue.socialized += float(shares.sum())
    seq = venue.sink.emit(
        "socialized_loss", now_ms, venue.name, venue.markets[m].name, account=exclude,
        qty=float(holders.size), amount=float(shares.sum()), cause=cause,
    )
    venue.sink.edge(cause, seq)
    venue.touch(holders)
