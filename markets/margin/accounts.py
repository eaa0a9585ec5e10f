"""Accounts of one venue as struct-of-arrays: collateral, positions, entries (accounts x markets).

Cross margin: one wallet backs every cross position; isolated margin: each isolated position has
its own margin. Equity and maintenance are evaluated for any set of rows against any marks
(actual or counterfactual), vectorised. A trade updates position, entry price and realised PnL
with the exchange convention (average entry on increase, realised PnL on reduction, entry reset
on flip), so ``wallet + iso_margin - position * entry`` summed over a trade's two sides is
unchanged: value is conserved by construction.

Pure arrays and arithmetic; nothing here knows SimPy, books, generations or events.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Sequence

import numpy as np

from markets.margin.formulas import MarginTiers

# A position smaller than this share of what it was, or of the trade, is float residue from
# closing in pieces (book, several ADL counterparties), not a position.
_FLAT_RTOL = 1e-9


class Accounts:
    """Rows are accounts (row 0 is usually the venue's market maker), columns are markets."""

    def __init__(self, n: int, tiers: Sequence[MarginTiers]) -> None:
        m = len(tiers)
        self.tiers = list(tiers)
        self.wallet = np.zeros(n)
        self.pos = np.zeros((n, m))
        self.entry = np.zeros((n, m))
        self.isolated = np.zeros((n, m), dtype=bool)
        self.iso_margin = np.zeros((n, m))
        self.liquidatable = np.ones(n, dtype=bool)
        self.mm_mult = np.ones(m)  # per-market maintenance multiplier (volatility controls)
        # Isolated positions' maintenance valued at their entry price rather than the mark
        # (Bybit): constant in the price, so the risk index's bounds still hold.
        self.iso_mm_at_entry = False
        self._scaled = False  # some multiplier differs from 1 (set_maintenance_multiplier)
        self.max_mmr = np.array([t.max_mmr for t in self.tiers])
        self._oi: np.ndarray | None = None  # open interest, kept up to date by trade()
        # Markets sharing one tier table (often all of a venue's) get their tiers from one
        # searchsorted over all their columns, instead of one per market.
        self._tier_groups: list[tuple[np.ndarray, MarginTiers]] = []
        for k, t in enumerate(self.tiers):
            for cols, table in self._tier_groups:
                if _same_table(table, t):
                    cols.append(k)
                    break
            else:
                self._tier_groups.append(([k], t))
        self._tier_groups = [(np.array(cols), t) for cols, t in self._tier_groups]
        self._group_of = np.zeros(m, dtype=np.int64)  # each market's tier group
        for g, (cols, _) in enumerate(self._tier_groups):
            self._group_of[cols] = g
        # Each market's table as Python lists, for the scalar paths (one position, a few rows):
        # bisect on a list is the same tier as searchsorted, without NumPy's per-call cost.
        self.tier_lists = [(t.floors.tolist(), t.mmr.tolist(), t.cum.tolist()) for t in self.tiers]

    @property
    def n(self) -> int:
        return self.wallet.shape[0]

    @property
    def n_markets(self) -> int:
        return self.pos.shape[1]

    # --- evaluation --------------------------------------------------------------------------
    def maintenance(self, rows: np.ndarray | slice, marks: np.ndarray) -> np.ndarray:
        """Maintenance margin per (row, market) at ``marks``; tiers are per market."""
        return self._maintenance(np.abs(self.pos[rows]) * marks)

    def _maintenance(self, notional: np.ndarray) -> np.ndarray:
        """``MarginTiers.maintenance`` of every market's column, one tier table at a time (the
        same arithmetic: the tier is ``searchsorted(floors, notional, "right") - 1``)."""
        if len(self._tier_groups) == 1:
            t = self._tier_groups[0][1]
            k = np.searchsorted(t.floors, notional, side="right") - 1
            out = notional * t.mmr[k] - t.cum[k]
        else:
            out = np.empty_like(notional)
            for cols, t in self._tier_groups:
                part = notional[..., cols]
                k = np.searchsorted(t.floors, part, side="right") - 1
                out[..., cols] = part * t.mmr[k] - t.cum[k]
        if self._scaled:
            out *= self.mm_mult
        return out

    def rate_at(self, cols: np.ndarray, notional: np.ndarray) -> np.ndarray:
        """The maintenance rate of the tier holding ``notional`` in market ``cols`` (one per
        entry, volatility multiplier included): maintenance grows no faster than this rate
        up to that notional, since rates do not fall in higher tiers."""
        out = np.empty_like(notional)
        groups = self._group_of[cols] if len(self._tier_groups) > 1 else None
        for g, (_, t) in enumerate(self._tier_groups):
            at = slice(None) if groups is None else groups == g
            out[at] = t.mmr[np.searchsorted(t.floors, notional[at], side="right") - 1]
        return out * self.mm_mult[cols]

    def position_maintenance(self, m: int, notional: float) -> float:
        """Maintenance of one position of ``notional`` in market ``m`` (``MarginTiers.
        maintenance``'s arithmetic on Python floats)."""
        floors, rates, cum = self.tier_lists[m]
        n = abs(float(notional))
        k = bisect_right(floors, n) - 1
        return (n * rates[k] - cum[k]) * float(self.mm_mult[m])

    def tier_rate(self, m: int, notional: float) -> float:
        """The maintenance rate of market ``m``'s tier holding ``notional`` (no multiplier)."""
        floors, rates, _ = self.tier_lists[m]
        return rates[bisect_right(floors, abs(notional)) - 1]

    def set_maintenance_multiplier(self, m: int, factor: float) -> None:
        """Scale market ``m``'s maintenance (a venue raising margins as volatility rises)."""
        self.mm_mult[m] = factor
        self._scaled = bool((self.mm_mult != 1.0).any())
        self.max_mmr[m] = self.tiers[m].max_mmr * factor

    def upnl(self, rows: np.ndarray | slice, marks: np.ndarray) -> np.ndarray:
        return self.pos[rows] * (marks - self.entry[rows])

    def margin_state(
        self, rows: np.ndarray | slice, marks: np.ndarray,
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """(cross equity, cross maintenance, isolated equity, isolated maintenance).

        Cross values are per row; isolated ones per (row, market), with zero equity and zero
        maintenance where there is no isolated position.
        """
        pos = self.pos[rows]
        upnl = pos * (marks - self.entry[rows])
        iso = self.isolated[rows]
        mm = self._maintenance(np.abs(pos) * self._valued_at(rows, iso, marks))
        if not iso.any():  # the common all-cross case: skip the isolated bookkeeping
            zeros = np.zeros_like(upnl)
            return self.wallet[rows] + upnl.sum(axis=1), mm.sum(axis=1), zeros, zeros
        cross = ~iso
        cross_eq = self.wallet[rows] + (upnl * cross).sum(axis=1)
        cross_mm = (mm * cross).sum(axis=1)
        iso_eq = (self.iso_margin[rows] + upnl) * iso
        iso_mm = mm * iso
        return cross_eq, cross_mm, iso_eq, iso_mm

    def slack(
        self, rows: np.ndarray | slice, marks: np.ndarray, multiplier: np.ndarray | float = 1.0,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Equity minus ``multiplier`` x maintenance: (cross per row, isolated per row x market).

        Isolated slack is +inf where there is no isolated position, so ``< 0`` means breached.
        """
        return self.slack_of(rows, self.margin_state(rows, marks), multiplier)

    def slack_of(
        self, rows: np.ndarray | slice, state: tuple[np.ndarray, ...],
        multiplier: np.ndarray | float = 1.0,
    ) -> tuple[np.ndarray, np.ndarray]:
        """``slack`` from an already computed ``margin_state`` of the same rows."""
        return _slack(state, np.asarray(multiplier, dtype=np.float64), *self._scopes(rows))

    def slack_pair(
        self, rows: np.ndarray, state: tuple[np.ndarray, ...], multiplier: np.ndarray,
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """``slack_of`` at the liquidation threshold and at ``multiplier`` x maintenance, from
        one ``margin_state``: (cross, isolated, cross at multiplier, isolated at multiplier)."""
        scopes = self._scopes(rows)
        return (*_slack(state, np.float64(1.0), *scopes), *_slack(state, multiplier, *scopes))

    def _scopes(self, rows: np.ndarray | slice) -> tuple[np.ndarray, np.ndarray]:
        """Per row, whether it has an open cross position; per (row, market), whether an
        isolated position is open there."""
        live, isolated = self.pos[rows] != 0, self.isolated[rows]
        return (live & ~isolated).any(axis=1), isolated & live

    def slack_levels(
        self, rows: np.ndarray, scopes: np.ndarray, level_marks: np.ndarray, multiplier: float,
    ) -> np.ndarray:
        """Slack of each row's ``scope`` (-1 cross, else that isolated market) at every row of
        ``level_marks`` (levels x markets) at once: (levels, rows)."""
        pos, iso = self.pos[rows], self.isolated[rows]
        marks = level_marks[:, None, :]  # (levels, 1, markets)
        upnl = pos * (marks - self.entry[rows])
        mm = self._maintenance(np.abs(pos) * self._valued_at(rows, iso, marks))
        live = pos != 0
        cross = ~iso & live
        cross_eq = self.wallet[rows] + (upnl * cross).sum(axis=2)
        cross_slack = cross_eq - multiplier * (mm * cross).sum(axis=2)
        col = np.maximum(scopes, 0)
        k = np.arange(rows.size)
        iso_slack = self.iso_margin[rows, col] + upnl[:, k, col] - multiplier * mm[:, k, col]
        return np.where(scopes < 0, cross_slack, iso_slack)

    def _valued_at(self, rows, iso: np.ndarray, marks: np.ndarray) -> np.ndarray:
        """The prices maintenance is valued at: the marks, or an isolated position's entry."""
        if not self.iso_mm_at_entry:
            return marks
        return np.where(iso, self.entry[rows], marks)

    def iso_valuation(self, i: int, m: int, mark: float) -> float:
        """The price isolated position (i, m)'s maintenance is valued at."""
        return float(self.entry[i, m]) if self.iso_mm_at_entry else mark

    def scope_slack(self, i: int, scope: int, marks: np.ndarray) -> float:
        """Equity minus maintenance of one account's cross part (``scope`` < 0) or of its
        isolated position in market ``scope``: the scalar path for a single account."""
        pos, entry = self.pos[i], self.entry[i]
        if scope >= 0:
            q = float(pos[scope])
            notional = abs(q) * self.iso_valuation(i, scope, float(marks[scope]))
            mm = self.position_maintenance(scope, notional) if q else 0.0
            return float(self.iso_margin[i, scope]) + q * (float(marks[scope]) - entry[scope]) - mm
        eq, mm = float(self.wallet[i]), 0.0
        for m in np.nonzero((pos != 0) & ~self.isolated[i])[0]:
            q, mark = float(pos[m]), float(marks[m])
            eq += q * (mark - float(entry[m]))
            mm += self.position_maintenance(int(m), abs(q) * mark)
        return eq - mm

    def cross_equity(self, i: int, marks: np.ndarray) -> float:
        pos, entry, iso = self.pos[i], self.entry[i], self.isolated[i]
        eq = float(self.wallet[i])
        for m in range(pos.size):
            if pos[m] != 0 and not iso[m]:
                eq += float(pos[m]) * (float(marks[m]) - float(entry[m]))
        return eq

    def equity_backing(self, i: int, m: int, marks: np.ndarray) -> float:
        """Equity backing position (i, m) other than its own unrealised PnL."""
        if self.isolated[i, m]:
            return float(self.iso_margin[i, m])
        own = float(self.pos[i, m]) * (float(marks[m]) - float(self.entry[i, m]))
        return self.cross_equity(i, marks) - own

    def maintenance_share_backing(self, i: int, m: int, marks: np.ndarray) -> float:
        """dYdX v4's backing of cross position (i, m): the account's cross equity (TNC) times
        the position's share of its cross maintenance (|DMMR| / TMMR), less the position's own
        unrealised PnL, so that ``bankruptcy_price`` gives ``mark - TNC x share / qty``
        (``-DNNV - TNC x |DMMR| / TMMR`` per unit; closing there keeps TNC / TMMR)."""
        pos, iso = self.pos[i], self.isolated[i]
        mm = {k: self.position_maintenance(k, abs(float(pos[k])) * float(marks[k]))
              for k in np.nonzero((pos != 0) & ~iso)[0].tolist()}
        total = sum(mm.values())
        if total <= 0 or m not in mm:
            return self.equity_backing(i, m, marks)
        own = float(pos[m]) * (float(marks[m]) - float(self.entry[i, m]))
        return self.cross_equity(i, marks) * mm[m] / total - own

    def equity_backing_rows(self, rows: np.ndarray, m: int, marks: np.ndarray) -> np.ndarray:
        """``equity_backing`` of position ``m`` for many rows (no maintenance needed)."""
        pos, iso = self.pos[rows], self.isolated[rows]
        upnl = pos * (marks - self.entry[rows])
        cross = self.wallet[rows] + (upnl * ~iso).sum(axis=1) - upnl[:, m]
        return np.where(iso[:, m], self.iso_margin[rows, m], cross)

    def is_flat(self, i: int) -> bool:
        return not bool(np.any(self.pos[i] != 0))

    # --- changes --------------------------------------------------------------------------
    def trade(self, i: int, m: int, dq: float, price: float) -> float:
        """Account ``i`` trades ``dq`` (signed, + buys) of market ``m`` at ``price``.

        Returns the realised PnL, credited to the wallet (cross) or the isolated margin.
        """
        q = float(self.pos[i, m])
        e = float(self.entry[i, m])
        new_q = q + dq
        if abs(new_q) <= _FLAT_RTOL * max(abs(q), abs(dq)):
            new_q = 0.0
        realised = 0.0
        if q == 0.0 or (q > 0) == (dq > 0):
            new_e = (q * e + dq * price) / new_q if new_q != 0 else 0.0
        else:
            closed = -q if abs(dq) >= abs(q) else dq  # the part of dq that reduces |q|
            realised = -closed * (price - e)
            if new_q == 0.0:
                new_e = 0.0
            elif (new_q > 0) == (q > 0):
                new_e = e
            else:
                new_e = price  # flipped: the new position was opened at this price
        self.pos[i, m] = new_q
        self.entry[i, m] = new_e
        if self._oi is not None:
            self._oi[m] += max(new_q, 0.0) - max(q, 0.0)
        if self.isolated[i, m]:
            # Stays in the isolated margin even when the position closes: a deficit there is
            # bad debt for the waterfall, never the wallet's. The venue hands what is left
            # back to the wallet once the close is settled.
            self.iso_margin[i, m] += realised
        else:
            self.wallet[i] += realised
        return realised

    def credit(self, i: int, m: int | None, amount: float) -> None:
        """Add ``amount`` (may be negative) to what backs the account or its isolated position."""
        if m is not None and self.isolated[i, m]:
            self.iso_margin[i, m] += amount
        else:
            self.wallet[i] += amount

    # --- aggregates for invariants and results ------------------------------------------------
    def cash_value(self) -> float:
        """``sum(wallet + iso_margin - pos * entry)``: conserved by trades (zero-sum positions)."""
        return float(self.wallet.sum() + self.iso_margin.sum() - (self.pos * self.entry).sum())

    def open_interest(self) -> np.ndarray:
        """Open interest per market: the sum of long positions (equal to the short sum).

        Counted once from the arrays, then kept up to date by ``trade``; positions written
        directly (when building a world) must be followed by ``recount``."""
        if self._oi is None:
            self.recount()
        return self._oi.copy()

    def recount(self) -> None:
        self._oi = np.where(self.pos > 0, self.pos, 0.0).sum(axis=0)


def _same_table(a: MarginTiers, b: MarginTiers) -> bool:
    return (a.floors.shape == b.floors.shape and bool((a.floors == b.floors).all())
            and bool((a.mmr == b.mmr).all()) and bool((a.cum == b.cum).all()))


def _slack(state: tuple[np.ndarray, ...], mult: np.ndarray, has_cross: np.ndarray,
           iso_live: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Equity minus ``mult`` x maintenance of each scope; +inf where there is none."""
    cross_eq, cross_mm, iso_eq, iso_mm = state
    cross = np.where(has_cross, cross_eq - mult * cross_mm, np.inf)
    if not iso_live.any():
        return cross, np.full(iso_live.shape, np.inf)
    iso_mult = mult[:, None] if mult.ndim == 1 else mult
    return cross, np.where(iso_live, iso_eq - iso_mult * iso_mm, np.inf)
