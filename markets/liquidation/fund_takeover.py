"""Insurance-fund takeover (Binance, Bybit): the fund holds what the book cannot close.

A bankrupt remainder the book cannot close at the bankruptcy price is taken over by the
insurance fund at that price, up to a capacity (net positions of ``capacity`` x the fund's
balance). The fund holds it in its own account row; what the offload realises is swept into
(or paid from) the fund. The close that decides how much is taken is ``close``; the offload
process that sells it is an agent's. Nothing here knows SimPy.
"""

from __future__ import annotations

from markets.book import BUY, SELL
from markets.events import EventKind, Reason
from markets.margin.detection import Breach
from markets.venue import Venue


def fund_row(venue: Venue, m: int) -> int:
    """The account row of the fund backing market ``m``."""
    return venue.rows.funds[venue.markets[m].fund]


def capacity_qty(venue: Venue, m: int, price: float) -> float:
    """How much more the fund backing market ``m`` may take over at ``price``."""
    acc, f = venue.accounts, venue.markets[m].fund
    row = venue.rows.funds[f]
    held = sum(abs(float(acc.pos[row, k])) * venue.markets[k].prices.mark
               for k in range(len(venue.markets)) if venue.markets[k].fund == f)
    room = venue.rules.takeover.capacity * venue.funds[f].balance - held
    return max(room, 0.0) / price


def fund_take(
    venue: Venue, breach: Breach, m: int, qty: float, price: float, cause: int, now_ms: int,
) -> None:
    """The fund takes over signed ``qty`` of the bankrupt position at ``price`` (the
    liquidation ``cause`` recorded the fund row as the holder)."""
    acc, i, row = venue.accounts, breach.account, fund_row(venue, m)
    acc.trade(i, m, -qty, price)
    acc.trade(row, m, qty, price)
    seq = venue.sink.emit(
        EventKind.INSURANCE_FUND, now_ms, venue.name, venue.markets[m].name, account=i,
        side=BUY if qty > 0 else SELL, qty=abs(qty), price=price, notional=abs(qty) * price,
        generation=breach.generation, cause=cause, amount=0.0,
        balance=venue.fund_for(m).balance, reason=Reason.TAKEOVER,
    )
    venue.sink.edge(cause, seq)
    venue.touch(row)


def sweep_fund_row(venue: Venue, row: int, m: int, now_ms: int) -> None:
    """Move what the fund's offload realised into the fund (a loss is paid from it; what it
    cannot pay the venue absorbs)."""
    acc = venue.accounts
    f = venue.rows.funds.index(row)
    fund = venue.funds[f]
    cash = float(acc.wallet[row])
    if cash > 0:
        fund.receive(cash, now_ms)
    elif cash < 0:
        paid = fund.pay(-cash, now_ms)
        if -cash - paid > 0:
            venue.counters.absorbed += -cash - paid
            venue.sink.emit(EventKind.VENUE_LOSS, now_ms, venue.name, venue.markets[m].name,
                            account=row, amount=-cash - paid, reason=Reason.OFFLOAD)
    acc.wallet[row] = 0.0
    if cash != 0:
        venue.sink.emit(EventKind.INSURANCE_FUND, now_ms, venue.name, venue.markets[m].name,
                        account=row, amount=cash, balance=fund.balance, reason=Reason.OFFLOAD)
