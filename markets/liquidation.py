"""Closing a queued breach and paying for it: the market-order mechanism and the waterfall.

For each position of the breach (a cross account's positions, winners first so their realised
gains back the losers; or one isolated position): compute the bankruptcy price, preview the
book, and split the close (``waterfall.split_close``) into a fund-backed book part, an ADL part
matched with the highest-ranked opposite profitable positions at the bankruptcy price (the
ADL queue, ``adl``), and a remainder sent to the book whose shortfall is socialized pro rata
over the market's open positions. Then settle: a negative equity is bad debt, paid by the
insurance fund (and socialization for what it cannot pay); a positive one repays earlier fund
support within the same liquidation, then pays the liquidation fee to the fund; the rest stays
the trader's.

Nothing here knows SimPy or the simulator; it acts on a ``Venue`` through its public state.
"""

from __future__ import annotations

import numpy as np

from markets import adl
from markets.book import BUY, SELL
from markets.margin import bankruptcy_price
from markets.venue import CROSS, Breach, Venue
from markets.waterfall import pro_rata, split_close


def liquidate(venue: Venue, breach: Breach, now_ms: int) -> None:
    """Serve one breach from the queue at ``now_ms``."""
    acc, i = venue.accounts, breach.account
    if breach.scope == CROSS:
        venue.queued_cross[i] = False
    else:
        venue.queued_iso[i, breach.scope] = False
    for m in range(len(venue.markets)):
        venue.sync(m, now_ms)
    marks = venue.marks
    if acc.scope_slack(i, breach.scope, marks) >= 0:
        # Prices recovered while the breach waited in the queue: nothing to close.
        venue.sink.emit("recovered", now_ms, venue.name, account=i, generation=breach.generation)
        venue.touch(i)
        return
    venue.before_liquidation(venue, breach)
    if breach.scope == CROSS:
        live = [
            m for m in range(len(venue.markets)) if acc.pos[i, m] != 0 and not acc.isolated[i, m]
        ]
        upnl = [acc.pos[i, m] * (marks[m] - acc.entry[i, m]) for m in live]
        order = [live[k] for k in np.lexsort((live, -np.asarray(upnl)))]
    else:
        order = [breach.scope]
    support = 0.0
    for m in order:
        support = _close_position(venue, breach, m, now_ms, support)
    venue.touch(i)
    venue.after_liquidation(venue, breach, now_ms)
    venue.detect(now_ms)


def _close_position(venue: Venue, breach: Breach, m: int, now_ms: int, support: float) -> float:
    acc, mk, i = venue.accounts, venue.markets[m], breach.account
    venue.sync_book(m, now_ms)
    q = float(acc.pos[i, m])
    if q == 0.0:
        return support
    closing_long = q > 0
    sign = 1.0 if closing_long else -1.0
    side = SELL if closing_long else BUY
    marks = venue.marks
    # A cross account whose other positions lost heavily can be bankrupt at any price (a short's
    # bankruptcy price below zero): ADL never fills below one tick; the rest is bad debt.
    bp = max(bankruptcy_price(q, acc.entry[i, m], acc.equity_backing(i, m, marks)), mk.book.tick)
    mid = mk.prices.mid
    walk = mk.book.preview(side, abs(q), mid)
    split = split_close(walk.prices, walk.sizes, closing_long, bp, venue.fund.balance, np.inf)
    ids, qty = np.zeros(0, dtype=np.int64), np.zeros(0)
    if split.adl > 0:
        # What the fund cannot back goes to the ADL queue, as far as it reaches.
        if venue.rules.adl:
            ids, qty = adl.take(venue, m, closing_long, i, split.adl, now_ms, marks)
        split = split_close(
            walk.prices, walk.sizes, closing_long, bp, venue.fund.balance, float(qty.sum()),
        )
    book_walk = walk.truncate(split.book)
    notional = book_walk.notional + split.adl * bp
    liq_seq = venue.sink.emit(
        "liquidation", now_ms, venue.name, mk.name, account=i, side=side, qty=abs(q),
        price=notional / abs(q), notional=notional, generation=breach.generation,
        cause=breach.causes[0] if breach.causes else -1,
        detail=f"detected={breach.detected_ms} bankruptcy={bp:.10g}",
    )
    for parent in breach.causes:
        venue.sink.edge(parent, liq_seq)
    if split.book > 0:
        venue.walk_book(i, m, -sign * split.book, now_ms, breach.generation, liq_seq,
                        "liquidation", book_walk)
    if split.adl > 0:
        _deleverage(venue, breach, m, sign, ids, qty, bp, liq_seq, now_ms)
    support = _settle(venue, breach, m, book_walk.notional, liq_seq, now_ms, support)
    if acc.isolated[i, m]:
        venue.release_isolated(i, m)
    return support


def _deleverage(
    venue: Venue, breach: Breach, m: int, sign: float, hit_ids: np.ndarray, hit_qty: np.ndarray,
    bp: float, liq_seq: int, now_ms: int,
) -> None:
    """Close the bankrupt remainder (of a position of direction ``sign``) against ADL
    counterparties at the bankruptcy price."""
    acc, mk, i = venue.accounts, venue.markets[m], breach.account
    mark = mk.prices.mark
    for c, x in zip(hit_ids.tolist(), hit_qty.tolist(), strict=True):
        # Never past flat: ADL closes the bankrupt position, it never flips it. (Float residue
        # of closing in pieces is snapped to flat by Accounts.trade.)
        left = abs(float(acc.pos[i, m]))
        x = min(x, left)
        if x <= 0.0:
            break
        acc.trade(i, m, -sign * x, bp)
        acc.trade(c, m, sign * x, bp)
        # What the deleveraged trader gives up against closing at the mark.
        haircut = sign * x * (bp - mark)
        venue.adl_haircut[c] += haircut
        venue.adl_qty[c] += x
        seq = venue.sink.emit(
            "adl", now_ms, venue.name, mk.name, account=c, side=BUY if sign > 0 else SELL, qty=x,
            price=bp, notional=x * bp, generation=breach.generation, cause=liq_seq, amount=haircut,
        )
        venue.sink.edge(liq_seq, seq)
        if acc.isolated[c, m] and acc.pos[c, m] == 0:
            venue.release_isolated(c, m)
    venue.touch(hit_ids)


def _settle(
    venue: Venue, breach: Breach, m: int, book_notional: float, liq_seq: int, now_ms: int,
    support: float,
) -> float:
    """Pay for what the close left: bad debt down the waterfall, or fee and clawback."""
    acc, fund, i = venue.accounts, venue.fund, breach.account
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

    if equity < 0:
        deficit = -equity
        paid = fund.pay(deficit)
        acc.credit(i, iso_m, paid)
        if paid > 0:
            fund_event(-paid, "bad_debt")
        rest = deficit - paid
        if rest > 1e-9 * max(deficit, 1.0):
            socialize(venue, m, rest, i, liq_seq, now_ms)
            acc.credit(i, iso_m, rest)
        seq = venue.sink.emit(
            "bankruptcy", now_ms, venue.name, market, account=i, generation=g, cause=liq_seq,
            amount=deficit,
        )
        venue.sink.edge(liq_seq, seq)
        return support + paid
    if support > 0 and equity > 0:
        claw = min(equity, support)
        fund.receive(claw)
        acc.credit(i, iso_m, -claw)
        fund_event(claw, "clawback")
        equity -= claw
        support -= claw
    fee = min(venue.rules.fee_rate * book_notional, max(equity, 0.0))
    if fee > 0:
        fund.receive(fee)
        acc.credit(i, iso_m, -fee)
        venue.fees += fee
        fund_event(fee, "fee")
    return support


def socialize(venue: Venue, m: int, amount: float, exclude: int, cause: int, now_ms: int) -> None:
    """Charge ``amount`` pro rata to open notional in market ``m``; flat accounts never pay.

    With no open position left in the market there is nobody to charge: the venue itself
    absorbs the loss (recorded as ``venue_loss``)."""
    acc = venue.accounts
    holders = np.nonzero(acc.pos[:, m] != 0)[0]
    holders = holders[holders != exclude]
    if holders.size == 0:
        venue.absorbed += amount
        seq = venue.sink.emit("venue_loss", now_ms, venue.name, venue.markets[m].name,
                              account=exclude, amount=amount, cause=cause)
        venue.sink.edge(cause, seq)
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
