"""Inverse (coin-margined) contracts: a venue whose unit of account is the coin it trades.

An inverse perpetual on an asset quoted at P (USD per coin) trades contracts worth 1 USD each;
collateral, PnL and margin are in the coin. A long of Q contracts entered at E gains
``Q * (1/E - 1/P)`` coin and needs ``MMR * Q / P`` coin of maintenance (BitMEX XBTUSD, Binance
COIN-M, Bybit inverse). In ``x = 1/P`` that is a linear contract: a position of ``-Q`` entered at
``1/E``, marked at ``x``, margined in the coin. So an inverse venue runs the same margin, book,
liquidation and ADL code as a linear one, in x; a fall of P is a rise of x, a long's forced
sell a buy of x. This module holds the conversions at the venue's edges:

- into x, once, at build time: a population drawn in USD terms (base quantity, USD entry, USD
  collateral) becomes contracts, 1/entry and coin (``coin_positions``); stop-losses flip side;
- out of x, for every event the venue reports (``CoinEventView``): prices back to USD per coin,
  sides back to P's, ``qty`` the coin value traded and ``notional`` the contracts (USD), money
  in USD at the moment's mark. The event log then reads like a linear venue's, in USD.

A log move of x is minus P's, so a cross-impact or index link between an inverse and a linear
market carries its weight with the sign flipped (``link_sign``). Pure arithmetic; nothing here
knows SimPy or the simulator.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from markets.events import NAN, EventKind, EventSink

# Kinds whose ``amount`` and ``balance`` are money (coin on an inverse venue). The others'
# amounts are ratios, multipliers or depth factors and pass unchanged.
MONEY_KINDS = frozenset({
    EventKind.TOP_UP, EventKind.WITHDRAWAL, EventKind.BACKSTOP, EventKind.INSURANCE_FUND,
    EventKind.BANKRUPTCY, EventKind.ADL, EventKind.SOCIALIZED_LOSS, EventKind.VENUE_LOSS,
    EventKind.REJECTED,
})  # (a maker's loss limit is reported in USD already: ``markets.maker_balance``)


def link_sign(a_inverse: bool, b_inverse: bool) -> float:
    """The sign a log move takes from one market to another: -1 between an inverse and a
    linear market (log x = -log P), +1 otherwise."""
    return -1.0 if a_inverse != b_inverse else 1.0


def usd_price(x: float) -> float:
    """USD per coin at x = 1/P (infinite where x is not positive: an inverse short at 1x or
    less has no bankruptcy price)."""
    return 1.0 / x if x > 0 else math.inf


def coin_positions(
    pos: np.ndarray, entry: np.ndarray, collateral: np.ndarray, start_price: float,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A draw in USD terms (base ``pos``, USD ``entry``, USD ``collateral`` of any shape) as an
    inverse venue holds it: (position in x = -contracts, entry in x, collateral in coin).

    The position keeps its USD notional at entry (contracts = base x entry) and the collateral
    its USD value at the start price, so leverage and margin ratio at the start are those of the
    draw."""
    contracts = pos * entry
    entry_x = np.divide(1.0, entry, out=np.zeros_like(entry), where=pos != 0)
    return -contracts, entry_x, collateral / start_price


def coin_stops(stops: list[tuple[int, int, float, int]]) -> list[tuple[int, int, float, int]]:
    """Stop-losses ``(row, market, stop price, side)`` drawn in USD, as x-space stops: a long's
    stop below P is a stop above x on a position short in x."""
    return [(row, m, 1.0 / price, -side) for row, m, price, side in stops]


class CoinEventView:
    """An ``EventSink`` in front of the run's sink for an inverse venue: every event it emits
    is reported in USD terms (see the module docstring). ``mark_x`` gives the venue's mark in
    x, at which money is converted. Observing only: the venue's state is never touched."""

    def __init__(self, sink: EventSink, mark_x: Callable[[], float]) -> None:
        self.sink = sink
        self.mark_x = mark_x

    def emit(
        self, kind: EventKind, time_ms: int, venue: str, market: str = "", account: int = -1,
        side: int = 0, qty: float = NAN, price: float = NAN, notional: float = NAN,
        generation: int = 0, cause: int = -1, amount: float = NAN, balance: float = NAN,
        **typed: object,
    ) -> int:
        x_mark = self.mark_x()
        usd_now = usd_price(x_mark)
        if kind == EventKind.FUNDING:
            # ``price`` holds the funding rate of x's longs; x's longs are P's shorts, and
            # ``amount`` what x's longs paid: report P's longs.
            price, amount = -price, -amount * usd_now
        else:
            x = price if math.isfinite(price) else x_mark
            if math.isfinite(qty):
                qty, notional = (notional if math.isfinite(notional) else qty * x), qty
            if math.isfinite(price):
                price = usd_price(price)
            if kind in MONEY_KINDS:
                amount, balance = amount * usd_now, balance * usd_now
        for key in ("bankruptcy_price", "mark_price"):
            value = typed.get(key)
            if isinstance(value, float) and math.isfinite(value):
                typed[key] = usd_price(value)
        return self.sink.emit(kind, time_ms, venue, market, account, -side, qty, price,
                              notional, generation, cause, amount, balance, **typed)

    def edge(self, parent: int, child: int, kind: str = "waterfall", share: float = NAN) -> None:
        self.sink.edge(parent, child, kind, share)
