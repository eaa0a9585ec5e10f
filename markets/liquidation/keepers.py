"""Dutch auctions of liquidated positions to keepers: starting them and stepping their prices.

``start_auctions`` offers a served breach's positions; every step, keepers take what they will
at the auction's price (``auction`` has the price schedule and the allocation), each take
settled like a liquidation fill; a failed auction's remainder is closed at the market
(``close.close_position``), and an account whose auctions all finished is released. The
keepers' clock that calls ``step_auctions`` is an agent's. Nothing here knows SimPy.
"""

from __future__ import annotations

import numpy as np

from markets.book import BUY, SELL
from markets.events import EventKind, Mechanism, Reason
from markets.liquidation import auction as dutch
from markets.liquidation.close import close_position
from markets.liquidation.record import record_liquidation
from markets.liquidation.settle import after_close, settle
from markets.margin.detection import CROSS, Breach
from markets.venue import Venue


def start_auctions(venue: Venue, breach: Breach, positions: list[int], now_ms: int) -> None:
    """Offer each of the breach's positions in its own auction, starting at its mark."""
    acc = venue.accounts
    for m in positions:
        q = float(acc.pos[i := breach.account, m])
        lot = dutch.Auction(q, q, venue.markets[m].prices.mark, now_ms, i, m, breach.scope,
                            breach.generation, breach.causes[0].seq if breach.causes else -1)
        venue.auctions.append((lot, breach))
        venue.sink.emit(EventKind.AUCTION, now_ms, venue.name, venue.markets[m].name, account=i,
                        side=SELL if q > 0 else BUY, qty=abs(q), price=lot.mark0,
                        generation=breach.generation, reason=Reason.START)
    venue.auction_started()


def keeper_free_capital(venue: Venue) -> np.ndarray:
    """Each keeper's equity less the margin its holdings tie up at its leverage."""
    acc, rows = venue.accounts, np.asarray(venue.rows.keepers, dtype=np.int64)
    marks = venue.marks
    equity = acc.wallet[rows] + acc.upnl(rows, marks).sum(axis=1)
    used = (np.abs(acc.pos[rows]) * marks).sum(axis=1) / venue.rules.keepers.leverage
    return equity - used


def step_auctions(venue: Venue, now_ms: int) -> None:
    """One price step of every running auction: keepers take what they will at this price;
    a failed auction's remainder is closed at the market; finished accounts are released."""
    rules, keepers = venue.rules.auction, venue.rules.keepers
    acc = venue.accounts
    rows = np.asarray(venue.rows.keepers, dtype=np.int64)
    running, finished = [], []
    for lot, breach in venue.auctions:
        m, i = lot.market, lot.account
        venue.sync_book(m, now_ms)
        q = float(acc.pos[i, m])
        age = lot.age(now_ms)
        if q != 0.0 and dutch.failed(rules, age):
            venue.sink.emit(EventKind.AUCTION, now_ms, venue.name, venue.markets[m].name, account=i,
                            qty=abs(q), generation=breach.generation, reason=Reason.FAILED)
            close_position(venue, breach, m, abs(q), now_ms, 0.0)
            q = 0.0
        if q != 0.0 and rows.size:
            price = dutch.auction_price(rules, lot.mark0, q, age)
            takes = dutch.allocate(
                q, price, venue.markets[m].prices.mark, keeper_free_capital(venue),
                np.full(rows.size, keepers.min_discount), np.full(rows.size, keepers.leverage),
            )
            for k in np.nonzero(takes > 1e-12 * abs(q))[0]:
                _keeper_take(venue, breach, m, int(rows[k]), float(takes[k]), price, now_ms)
            q = float(acc.pos[i, m])
        lot.left = q
        if q == 0.0:
            if acc.isolated[i, m]:
                after_close(venue, breach, m, now_ms)
            finished.append(breach)
        else:
            running.append((lot, breach))
    venue.auctions = running
    for breach in finished:
        if not any(b is breach for _, b in running):
            if breach.scope == CROSS and not venue.scope_markets(breach.account, CROSS):
                after_close(venue, breach, None, now_ms)
            venue.detector.set_queued(breach, False)
            venue.touch(breach.account)
            venue.liquidated(venue, breach, now_ms)
    if finished:
        venue.detect(now_ms)


def _keeper_take(
    venue: Venue, breach: Breach, m: int, keeper: int, qty: float, price: float, now_ms: int,
) -> None:
    acc, i = venue.accounts, breach.account
    sign = 1.0 if acc.pos[i, m] > 0 else -1.0
    acc.trade(i, m, -sign * qty, price)
    acc.trade(keeper, m, sign * qty, price)
    seq = record_liquidation(venue, breach, m, now_ms, how=Mechanism.AUCTION,
                             side=SELL if sign > 0 else BUY, qty=qty, price=price,
                             notional=qty * price, keeper=keeper, holder=keeper)
    settle(venue, breach, m, qty * price, seq, now_ms, 0.0, keeper=keeper)
    venue.touch(np.array([i, keeper]))
