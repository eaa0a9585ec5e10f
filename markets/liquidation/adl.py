"""The ADL queue: who is deleveraged, in what order, when the insurance fund cannot pay.

Counterparties are opposite-side positions in profit (with ``queue: all``, every opposite-side
position, as venues whose ranking orders losers after winners), ranked by the venue's rule:
``bitmex`` (PnL% x effective leverage), ``hyperliquid`` ((mark / entry) x (notional / account
value)), ``profit`` (unrealised profit in USD), or ``pro_rata`` (every profitable position takes
a share in proportion to its size: no queue). Venues publish the queue as a periodically
refreshed ranking (an "ADL indicator"), so the ranking here is a snapshot per (market, side)
refreshed at most every ``ranking_ms`` (0: at every use). Execution walks the snapshot against
*live* positions: an account that went flat, was queued for liquidation or (``queue:
profitable``) is no longer in profit is skipped, and each is taken for at most its current position.

Acts on a ``Venue``'s public state; nothing here knows SimPy or the simulator.
"""

from __future__ import annotations

import numpy as np

from markets.margin.formulas import bitmex_adl_score, hyperliquid_adl_score
from markets.venue import Venue

_CHUNK = 64  # queue entries examined at a time


def fund_locked(venue: Venue, m: int, now_ms: int) -> bool:
    """The fund stops backing closes: its drawdown within the window reached the trigger."""
    adl = venue.rules.adl
    if adl.trigger != "drawdown" or not venue.rules.adl_enabled:
        return False
    return venue.fund_for(m).drawdown(now_ms, adl.window_ms) >= adl.drawdown


def _scores(venue: Venue, rows: np.ndarray, m: int, marks: np.ndarray) -> np.ndarray:
    acc = venue.accounts
    pos, entry = acc.pos[rows, m], acc.entry[rows, m]
    match venue.rules.adl.ranking:
        case "profit" | "pro_rata":
            return pos * (marks[m] - entry)
        case "hyperliquid":
            equity = acc.equity_backing_rows(rows, m, marks) + pos * (marks[m] - entry)
            return hyperliquid_adl_score(pos, entry, marks[m], equity)
        case "bitmex":
            equity = acc.equity_backing_rows(rows, m, marks) + pos * (marks[m] - entry)
            return bitmex_adl_score(pos, entry, marks[m], equity)
    # LiquidationRules refuses other names when it is made; this is never reached.
    raise AssertionError(f"unknown ADL ranking {venue.rules.adl.ranking!r}")


def ranking(venue: Venue, m: int, side: int, now_ms: int, marks: np.ndarray) -> np.ndarray:
    """Rows holding ``side`` (+1 long, -1 short) positions in market ``m``, in ADL order."""
    key = (m, side)
    cached = venue.adl_rankings.get(key)
    interval = venue.rules.adl.ranking_ms
    if cached is not None and interval > 0 and now_ms - cached[0] < interval:
        return cached[1]
    acc = venue.accounts
    pos = acc.pos[:, m]
    mask = (pos > 0) if side > 0 else (pos < 0)
    mask &= acc.liquidatable & ~venue.queued_cross & ~venue.queued_iso[:, m]
    rows = np.nonzero(mask)[0]
    if venue.rules.adl.queue == "profitable":
        rows = rows[side * (marks[m] - acc.entry[rows, m]) > 0]
    scores = _scores(venue, rows, m, marks)
    # Best score first, ties by row: rows ascend, so a stable sort of the scores alone.
    order = rows[np.argsort(-scores, kind="stable")]
    venue.adl_rankings[key] = (now_ms, order)
    return order


def take(
    venue: Venue, m: int, closing_long: bool, exclude: int, needed: float, now_ms: int,
    marks: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Counterparties and quantities covering up to ``needed`` of a bankrupt position."""
    side = -1 if closing_long else 1
    order = ranking(venue, m, side, now_ms, marks)
    if venue.rules.adl.ranking == "pro_rata":
        rows, size = _live(venue, order, m, side, exclude, marks)
        total = float(size.sum())
        if total <= 0:
            return np.zeros(0, dtype=np.int64), np.zeros(0)
        qty = size * min(needed / total, 1.0)
        hit = qty > 1e-9 * needed
        return rows[hit], qty[hit]
    ids, qty = [], []
    left = needed
    for start in range(0, order.size, _CHUNK):
        rows, size = _live(venue, order[start:start + _CHUNK], m, side, exclude, marks)
        taken = np.minimum(size, np.maximum(left - (np.cumsum(size) - size), 0.0))
        hit = taken > 1e-9 * needed  # float residue is not a counterparty's share
        ids.append(rows[hit])
        qty.append(taken[hit])
        left -= float(taken.sum())
        if left <= needed * 1e-12:
            break
    if not ids:
        return np.zeros(0, dtype=np.int64), np.zeros(0)
    return np.concatenate(ids), np.concatenate(qty)


def _live(
    venue: Venue, rows: np.ndarray, m: int, side: int, exclude: int, marks: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """The rows of a ranking still eligible now, with their position sizes."""
    acc = venue.accounts
    pos = acc.pos[rows, m]
    live = (side * pos > 0) & (rows != exclude) & ~venue.queued_cross[rows]
    live &= ~venue.queued_iso[rows, m]
    if venue.rules.adl.queue == "profitable":
        live &= side * (marks[m] - acc.entry[rows, m]) > 0
    return rows[live], np.abs(pos[live])
