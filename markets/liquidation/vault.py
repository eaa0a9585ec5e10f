"""The backstop vault (Hyperliquid): a venue-side account that takes over accounts close to
bankruptcy.

An account whose equity is below ``below`` x maintenance (but not negative: negative equity
goes down the waterfall, where ADL covers it) is taken over whole at the mark; its remaining
margin goes to the vault as a buffer. The vault is an account row of the venue, with its own
PnL as it unwinds (the unwinding process is an agent's). Nothing here knows SimPy.
"""

from __future__ import annotations

import numpy as np

from markets.book import BUY, SELL
from markets.events import EventKind, Mechanism
from markets.liquidation.record import record_liquidation
from markets.margin.detection import CROSS, Breach
from markets.venue import Venue


def below_backstop(venue: Venue, i: int, scope: int, prices: np.ndarray, below: float) -> bool:
    """Equity in [0, below x maintenance): the vault takes over (negative equity goes down
    the waterfall instead, where ADL covers it)."""
    acc = venue.accounts
    slack = acc.scope_slack(i, scope, prices)
    mm = _scope_maintenance(venue, i, scope, prices)
    equity = slack + mm
    return 0.0 <= equity < below * mm


def _scope_maintenance(venue: Venue, i: int, scope: int, prices: np.ndarray) -> float:
    acc = venue.accounts
    return sum(acc.position_maintenance(m, abs(float(acc.pos[i, m])) * float(prices[m]))
               for m in venue.scope_markets(i, scope))


def vault_takeover(venue: Venue, breach: Breach, positions: list[int], now_ms: int) -> None:
    """The vault takes the breach's positions at the mark and keeps what margin is left."""
    acc, i, v = venue.accounts, breach.account, venue.rows.vault
    marks = venue.marks
    for m in positions:
        q = float(acc.pos[i, m])
        mark = float(marks[m])
        acc.trade(i, m, -q, mark)
        acc.trade(v, m, q, mark)
        record_liquidation(venue, breach, m, now_ms, how=Mechanism.VAULT,
                           side=SELL if q > 0 else BUY, qty=abs(q), price=mark,
                           notional=abs(q) * mark, holder=v)
    # The maintenance margin is not returned: what is left backs the vault.
    iso = breach.scope if breach.scope != CROSS else None
    kept = float(acc.iso_margin[i, iso]) if iso is not None else float(acc.wallet[i])
    if kept > 0:
        acc.credit(i, iso, -kept)
        acc.wallet[v] += kept
    if iso is not None:
        venue.release_isolated(i, iso)
    venue.sink.emit(EventKind.BACKSTOP, now_ms, venue.name, account=i, generation=breach.generation,
                    amount=kept, balance=float(acc.wallet[v]))
    venue.touch(np.array([i, v]))
