"""Positions that leave a liquidated account other than through the book: venue-side holders.

- Backstop vault (Hyperliquid): an account whose equity is below ``below`` x maintenance (but
  not negative) is taken over whole at the mark; its remaining margin goes to the vault as a
  buffer. The vault is an account row of the venue, with its own PnL as it unwinds.
- Fund takeover (Binance, Bybit): a bankrupt remainder the book cannot close at the bankruptcy
  price is taken over by the insurance fund at that price, up to a capacity (net positions of
  ``capacity`` x the fund's balance). The fund holds it in its own account row; what the
  offload realises is swept into (or paid from) the fund.
- Dutch auctions to keepers: ``start_auctions`` offers each position to keeper rows at a
  falling price (``auction``); ``keepers`` steps them, and a failed auction
  falls back to the market close.

Also where fees and surpluses are paid. Acts on a ``Venue``'s public state; the processes that
step auctions and unwind holdings are agents'. Nothing here knows SimPy.
"""

from __future__ import annotations

import numpy as np

from markets.book import BUY, SELL
from markets.liquidation import auction as dutch
from markets.margin.detection import CROSS, Breach
from markets.venue import Venue


# --- backstop vault --------------------------------------------------------------------------
def below_backstop(venue: Venue, i: int, scope: int, prices: np.ndarray) -> bool:
    """Equity in [0, below x maintenance): the vault takes over (negative equity goes down
    the waterfall instead, where ADL covers it)."""
    acc = venue.accounts
    slack = acc.scope_slack(i, scope, prices)
    mm = _scope_maintenance(venue, i, scope, prices)
    equity = slack + mm
    return 0.0 <= equity < venue.rules.backstop.below * mm


def _scope_maintenance(venue: Venue, i: int, scope: int, prices: np.ndarray) -> float:
    acc = venue.accounts
    return sum(acc.position_maintenance(m, abs(float(acc.pos[i, m])) * float(prices[m]))
               for m in venue.scope_markets(i, scope))


def vault_takeover(venue: Venue, breach: Breach, positions: list[int], now_ms: int) -> None:
    acc, i, v = venue.accounts, breach.account, venue.rows.vault
    marks = venue.marks
    for m in positions:
        q = float(acc.pos[i, m])
        mark = float(marks[m])
        acc.trade(i, m, -q, mark)
        acc.trade(v, m, q, mark)
        seq = venue.sink.emit(
            "liquidation", now_ms, venue.name, venue.markets[m].name, account=i,
            side=SELL if q > 0 else BUY, qty=abs(q), price=mark, notional=abs(q) * mark,
            generation=breach.generation, cause=breach.causes[0] if breach.causes else -1,
            detail=f"detected={breach.detected_ms} vault",
        )
        for parent in breach.causes:
            venue.sink.edge(parent, seq)
        venue.held_from[(v, m)] = (breach.generation, seq)
    # The maintenance margin is not returned: what is left backs the vault.
    iso = breach.scope if breach.scope != CROSS else None
    kept = float(acc.iso_margin[i, iso]) if iso is not None else float(acc.wallet[i])
    if kept > 0:
        acc.credit(i, iso, -kept)
        acc.wallet[v] += kept
    if iso is not None:
        venue.release_isolated(i, iso)
    venue.sink.emit("backstop", now_ms, venue.name, account=i, generation=breach.generation,
                    amount=kept, balance=float(acc.wallet[v]))
    venue.touch(np.array([i, v]))


# --- insurance fund takeover -------------------------------------------------------------------
def fund_row(venue: Venue, m: int) -> int:
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
    """The fund takes over signed ``qty`` of the bankrupt position at ``price``."""
    acc, i, row = venue.accounts, breach.account, fund_row(venue, m)
    acc.trade(i, m, -qty, price)
    acc.trade(row, m, qty, price)
    venue.held_from[(row, m)] = (breach.generation, cause)
    seq = venue.sink.emit(
        "insurance_fund", now_ms, venue.name, venue.markets[m].name, account=i,
        side=BUY if qty > 0 else SELL, qty=abs(qty), price=price, notional=abs(qty) * price,
        generation=breach.generation, cause=cause, amount=0.0,
        balance=venue.fund_for(m).balance, detail="takeover",
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
            venue.absorbed += -cash - paid
            venue.sink.emit("venue_loss", now_ms, venue.name, venue.markets[m].name,
                            account=row, amount=-cash - paid, detail="offload")
    acc.wallet[row] = 0.0
    if cash != 0:
        venue.sink.emit("insurance_fund", now_ms, venue.name, venue.markets[m].name,
                        account=row, amount=cash, balance=fund.balance, detail="offload")


# --- fees and surplus -----------------------------------------------------------------------
def pay_fee(
    venue: Venue, m: int, fee: float, to: str, keeper: int | None, now_ms: int,
) -> float:
    """Send a liquidation fee where the rules say; returns what the fund received."""
    acc = venue.accounts
    if to == "vault" and venue.rows.vault is not None:
        acc.wallet[venue.rows.vault] += fee
        return 0.0
    if to == "keeper" and keeper is not None:
        acc.wallet[keeper] += fee
        return 0.0
    if to == "venue":
        venue.revenue += fee
        return 0.0
    kept = fee * venue.rules.fee_share
    venue.revenue += fee - kept
    venue.fund_for(m).receive(kept, now_ms)
    return kept


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
    venue.sink.emit("insurance_fund", now_ms, venue.name, venue.markets[fund_m].name, account=i,
                    generation=breach.generation, amount=left, balance=fund.balance,
                    detail="surplus")


# --- auctions ---------------------------------------------------------------------------------
def start_auctions(venue: Venue, breach: Breach, positions: list[int], now_ms: int) -> None:
    acc = venue.accounts
    for m in positions:
        q = float(acc.pos[i := breach.account, m])
        lot = dutch.Auction(q, q, venue.markets[m].prices.mark, now_ms, i, m, breach.scope,
                            breach.generation, breach.causes[0] if breach.causes else -1)
        venue.auctions.append((lot, breach))
        venue.sink.emit("auction", now_ms, venue.name, venue.markets[m].name, account=i,
                        side=SELL if q > 0 else BUY, qty=abs(q), price=lot.mark0,
                        generation=breach.generation, detail="start")
    venue.auction_started()
