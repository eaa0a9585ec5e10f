"""Paying for what a close left: bad debt, clawback, the fee, the surplus, and the epilogue.

After each close (market fill, keeper take), ``settle`` looks at the scope's equity. A negative
equity is bad debt: paid by the insurance fund within its caps, the rest socialized pro rata
over open positions (``socialize``; at once, or pooled for the venue's next settlement time,
``deferred``) or, when the venue does not socialize or nobody else holds
the market, absorbed by the venue (``absorb``). A positive one first repays fund support given
earlier in the same liquidation (clawback), then pays the fee to where the rules send it
(``pay_fee``). Once a close emptied a scope, ``after_close`` runs the one epilogue: with
``surplus: insurance_fund`` what is left of the scope's margin goes to the fund
(``clear_surplus``), and a closed isolated position's margin is released to the wallet.

Acts on a ``Venue``'s public state; nothing here chooses how a position is closed or knows SimPy.
"""

from __future__ import annotations

import numpy as np

from markets.events import EventKind, Reason
from markets.liquidation.adl import fund_locked
from markets.liquidation.deferred import defer
from markets.liquidation.waterfall import pro_rata
from markets.margin.detection import Breach
from markets.venue import Venue


def settle(
    venue: Venue, breach: Breach, m: int, book_notional: float, liq_seq: int, now_ms: int,
    support: float, keeper: int | None = None,
) -> float:
    """Pay for what a close left: bad debt down the waterfall, or clawback and fee. Returns
    the fund support given so far in this liquidation."""
    acc, fund, i = venue.accounts, venue.fund_for(m), breach.account
    market = venue.markets[m].name
    iso_m = m if acc.isolated[i, m] else None
    equity = acc.iso_margin[i, m] if iso_m is not None else acc.cross_equity(i, venue.marks)
    g = breach.generation

    def fund_event(amount: float, reason: Reason) -> None:
        seq = venue.sink.emit(
            EventKind.INSURANCE_FUND, now_ms, venue.name, market, account=i, generation=g,
            cause=liq_seq, amount=amount, balance=fund.balance, reason=reason,
        )
        venue.sink.edge(liq_seq, seq)

    # Closing exactly at the bankruptcy price in pieces (fund takeover, ADL) leaves float
    # residue of ~1e-14: that is not bad debt.
    if equity < 0 and -equity <= 1e-9 * max(book_notional, 1.0):
        equity = 0.0
    if equity < 0:
        deficit = -equity
        # A fund locked by its drawdown (OKX) protects what is left: it pays no more bad debt.
        paid = 0.0 if fund_locked(venue, m, now_ms) else fund.pay(deficit, now_ms)
        acc.credit(i, iso_m, paid)
        if paid > 0:
            fund_event(-paid, Reason.BAD_DEBT)
        rest = deficit - paid
        if rest > 1e-9 * max(deficit, 1.0):
            if venue.rules.socializes and venue.rules.socialize_ms > 0:
                defer(venue, m, rest, i, liq_seq)
            elif venue.rules.socializes:
                socialize(venue, m, rest, np.array([i]), [liq_seq], now_ms)
            else:
                absorb(venue, m, rest, i, [liq_seq], now_ms)
            acc.credit(i, iso_m, rest)
        seq = venue.sink.emit(
            EventKind.BANKRUPTCY, now_ms, venue.name, market, account=i, generation=g,
            cause=liq_seq, amount=deficit,
        )
        venue.sink.edge(liq_seq, seq)
        return support + paid
    if support > 0 and equity > 0:
        claw = min(equity, support)
        fund.receive(claw, now_ms)
        acc.credit(i, iso_m, -claw)
        fund_event(claw, Reason.CLAWBACK)
        equity -= claw
        support -= claw
    fee = min(venue.rules.fee_rate * book_notional, max(equity, 0.0))
    if fee > 0:
        acc.credit(i, iso_m, -fee)
        venue.counters.fees += fee
        kept = pay_fee(venue, m, fee, keeper, now_ms)
        if kept > 0:
            fund_event(kept, Reason.FEE)
    return support


def absorb(
    venue: Venue, m: int, amount: float, account: int, causes: list[int], now_ms: int,
) -> None:
    """A loss nobody is charged for, left by liquidations ``causes``: the venue itself carries
    it (``venue_loss``)."""
    venue.counters.absorbed += amount
    seq = venue.sink.emit(EventKind.VENUE_LOSS, now_ms, venue.name, venue.markets[m].name,
                          account=account, amount=amount, cause=causes[0],
                          reason=Reason.BAD_DEBT)
    for cause in causes:
        venue.sink.edge(cause, seq)


def socialize(
    venue: Venue, m: int, amount: float, exclude: np.ndarray, causes: list[int], now_ms: int,
) -> None:
    """Charge ``amount`` pro rata to open notional in market ``m``, except to the accounts
    ``exclude`` whose deficits it is (left by liquidations ``causes``), and to the maker's row
    unless the rules charge it; flat accounts never pay.

    With no open position left in the market there is nobody to charge: the venue itself
    absorbs the loss (recorded as ``venue_loss``)."""
    acc = venue.accounts
    holders = np.nonzero(acc.pos[:, m] != 0)[0]
    holders = holders[holders != exclude[0]] if exclude.size == 1 else \
        holders[~np.isin(holders, exclude)]
    if not venue.rules.socialize_maker:  # Drift: users pay, the AMM does not
        holders = holders[holders != venue.maker_row]
    if holders.size == 0:
        absorb(venue, m, amount, int(exclude[0]), causes, now_ms)
        return
    size = np.abs(acc.pos[holders, m])
    shares = pro_rata(size * venue.markets[m].prices.mark, amount)
    iso = acc.isolated[holders, m]
    acc.wallet[holders[~iso]] -= shares[~iso]
    acc.iso_margin[holders[iso], m] -= shares[iso]
    venue.counters.social_charged[holders] += shares
    venue.counters.socialized += float(shares.sum())
    seq = venue.sink.emit(
        EventKind.SOCIALIZED_LOSS, now_ms, venue.name, venue.markets[m].name,
        account=int(exclude[0]), qty=float(holders.size), amount=float(shares.sum()),
        cause=causes[0],
    )
    for cause in causes:
        venue.sink.edge(cause, seq)
    # The same charge per unit of position for every holder: a shift of the market's prices
    # for the margin index, not a change of each row (which would check them all again).
    venue.detector.charge(m, float((shares / size).max()), holders)


def charge_deferred(venue: Venue, now_ms: int, check: bool = True) -> None:
    """Charge every market's pool to its holders (in market order), then (``check``) check
    margins."""
    pools = venue.deferred_losses
    if not pools:
        return
    for m in sorted(pools):
        pool = pools.pop(m)
        venue.counters.deferred -= pool.amount
        socialize(venue, m, pool.amount, np.array(sorted(set(pool.accounts))), pool.causes,
                  now_ms)
    if check:
        venue.detect(now_ms)


def pay_fee(venue: Venue, m: int, fee: float, keeper: int | None, now_ms: int) -> float:
    """Send a liquidation fee where the rules say; returns what the fund received. A fee for a
    missing recipient (no vault row; a market close, which has no keeper) goes to the fund."""
    acc = venue.accounts
    match venue.rules.fee_to:
        case "vault" if venue.rows.vault is not None:
            acc.wallet[venue.rows.vault] += fee
            return 0.0
        case "keeper" if keeper is not None:
            acc.wallet[keeper] += fee
            return 0.0
        case "venue":
            venue.counters.revenue += fee
            return 0.0
    kept = fee * venue.rules.fee_share
    venue.counters.revenue += fee - kept
    venue.fund_for(m).receive(kept, now_ms)
    return kept


def after_close(venue: Venue, breach: Breach, m: int | None, now_ms: int) -> None:
    """The epilogue of a close that emptied a scope: the isolated position in market ``m``, or
    (``m`` None) the cross scope, which has no position left. With ``surplus:
    insurance_fund`` what is left of its margin goes to the fund; an isolated position's
    margin (what is left of it) then returns to the wallet."""
    if venue.rules.surplus == "insurance_fund":
        clear_surplus(venue, breach, m, now_ms)
    if m is not None:
        venue.release_isolated(breach.account, m)


def clear_surplus(venue: Venue, breach: Breach, m: int | None, now_ms: int) -> None:
    """After a full close, what is left of the scope's margin goes to the insurance fund (the
    trader is closed at the bankruptcy price)."""
    acc, i = venue.accounts, breach.account
    left = float(acc.iso_margin[i, m]) if m is not None else float(acc.wallet[i])
    if left <= 1e-9:  # float residue of a close at the bankruptcy price is not a surplus
        return
    fund_m = m if m is not None else next(
        (k for k in range(len(venue.markets)) if venue.markets[k].fund == 0), 0)
    acc.credit(i, m, -left)
    fund = venue.fund_for(fund_m)
    fund.receive(left, now_ms)
    venue.sink.emit(EventKind.INSURANCE_FUND, now_ms, venue.name, venue.markets[fund_m].name,
                    account=i, generation=breach.generation, amount=left, balance=fund.balance,
                    reason=Reason.SURPLUS)
