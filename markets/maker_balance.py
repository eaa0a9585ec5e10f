"""A market maker's balance sheet: its trading PnL across the markets (and venues) it quotes.

The maker's account on a venue holds the other side of every position at the start (it stands
for the rest of the market); those positions are not its inventory. Its trading PnL is the
change of its equity since the start less what the inherited positions made at the marks:
``(equity_t - equity_0) - sum_m pos0_m x (mark_t,m - mark_0,m)``, summed over every member
(venue, market) of the sheet. Funding it paid or received counts. While the loss exceeds the
limit the sheet is *breached*; it is restored once the loss is back under ``resume`` x the
limit (hysteresis, so that quotes do not flicker at the threshold). PnL is in USD (an inverse
venue's coin at its mark), so one sheet may span linear and inverse venues.

Pure arithmetic on venues' public state; nothing here knows SimPy. The maker process that
reads it is ``agents.market_maker``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from markets.venue import Venue


@dataclass(frozen=True)
class MakerLimit:
    loss_limit: float  # USD
    floor: float  # depth factor at most this while breached
    spread_levels: int  # ladder steps withdrawn next to the mid while breached
    resume: float  # restored below resume x loss_limit


@dataclass
class BalanceSheet:
    """One maker's books on one or several venues, sharing ``limit``."""

    name: str
    limit: MakerLimit
    venues: list[Venue] = field(default_factory=list)
    breached: bool = False
    _start: list[tuple[float, np.ndarray, np.ndarray]] = field(default_factory=list)

    def add(self, venue: Venue) -> None:
        """Quote ``venue``'s markets from this sheet, from its state now (the start)."""
        acc, row = venue.accounts, venue.maker_row
        marks = venue.marks
        self.venues.append(venue)
        self._start.append((acc.cross_equity(row, marks), acc.pos[row].copy(), marks))

    def pnl(self) -> float:
        """Trading PnL since the start, over every member venue, at the marks now."""
        total = 0.0
        for venue, (equity0, pos0, marks0) in zip(self.venues, self._start, strict=True):
            marks = venue.marks
            equity = venue.accounts.cross_equity(venue.maker_row, marks)
            total += venue.usd((equity - equity0) - float(pos0 @ (marks - marks0)))
        return total

    def update(self) -> bool | None:
        """Re-read the PnL: True when the loss just crossed the limit, False when it just came
        back under ``resume`` x the limit, None when nothing changed."""
        loss = -self.pnl()
        if not self.breached and loss > self.limit.loss_limit:
            self.breached = True
            return True
        if self.breached and loss < self.limit.resume * self.limit.loss_limit:
            self.breached = False
            return False
        return None
