"""Who pays for a liquidation that the account's own margin cannot: waterfall arithmetic.

Layers, in order: the account's own margin -> the insurance fund -> auto-deleveraging (ADL) of
opposite-side profitable positions at the bankruptcy price -> socialized loss pro rata over the
market's open positions. The split of one position's close is decided before anything trades:
the largest quantity the book can take while the fund can still pay the book's shortfall
against the bankruptcy price goes to the book; what remains is matched by ADL counterparties
at the bankruptcy price (no shortfall by definition); what ADL cannot match goes to the book
anyway and its shortfall is socialized.

Pure arithmetic on arrays; nothing here knows SimPy, the order book's storage or events.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import numpy as np


class InsuranceFund:
    """An insurance fund: never negative; records what it received and paid.

    Optional limits on its use: at most ``cap_per_event`` per liquidation (``begin_event``
    starts one) and at most ``cap_per_period`` within any rolling ``period_ms``. It also keeps
    its running peak over a window, for drawdown-triggered ADL (OKX)."""

    def __init__(
        self, balance: float, cap_per_event: float | None = None,
        cap_per_period: float | None = None, period_ms: int = 86_400_000, name: str = "",
    ) -> None:
        if balance < 0:
            raise ValueError("an insurance fund cannot start negative")
        self.name = name
        self.balance = float(balance)
        self.start = float(balance)
        self.minimum = float(balance)
        self.received = 0.0
        self.paid = 0.0
        self.cap_per_event = cap_per_event
        self.cap_per_period = cap_per_period
        self.period_ms = period_ms
        self._event_paid = 0.0
        self._payments: deque[tuple[int, float]] = deque()  # (time, amount) within the period
        self._period_paid = 0.0
        self._peaks: deque[tuple[int, float]] = deque([(0, self.balance)])  # decreasing

    # --- limits --------------------------------------------------------------------------
    def begin_event(self) -> None:
        self._event_paid = 0.0

    def available(self, now_ms: int = 0) -> float:
        """What the fund may pay now: its balance within the per-event and per-period caps."""
        room = self.balance
        if self.cap_per_event is not None:
            room = min(room, self.cap_per_event - self._event_paid)
        if self.cap_per_period is not None:
            self._expire(now_ms)
            room = min(room, self.cap_per_period - self._period_paid)
        return max(room, 0.0)

    def _expire(self, now_ms: int) -> None:
        while self._payments and self._payments[0][0] <= now_ms - self.period_ms:
            self._period_paid -= self._payments.popleft()[1]
        if not self._payments:
            self._period_paid = 0.0  # no float residue left behind

    def drawdown(self, now_ms: int, window_ms: int) -> float:
        """Fall of the balance from its peak within the last ``window_ms`` (0 to 1)."""
        cutoff = now_ms - window_ms
        # Keep one entry at or before the cutoff: its balance held at the window's start.
        while len(self._peaks) > 1 and self._peaks[1][0] <= cutoff:
            self._peaks.popleft()
        peak = self._peaks[0][1]
        return 1.0 - self.balance / peak if peak > 0 else 0.0

    def _record(self, now_ms: int) -> None:
        while self._peaks and self._peaks[-1][1] <= self.balance:
            self._peaks.pop()
        self._peaks.append((now_ms, self.balance))

    # --- flows ---------------------------------------------------------------------------
    def receive(self, amount: float, now_ms: int = 0) -> None:
        if amount < 0:
            raise ValueError("the insurance fund receives non-negative amounts")
        self.balance += amount
        self.received += amount
        self._record(now_ms)

    def pay(self, amount: float, now_ms: int = 0) -> float:
        """Pay up to ``amount`` within the caps; returns what was actually paid."""
        paid = min(max(amount, 0.0), self.available(now_ms))
        self.balance -= paid
        # Exactly zero when drained, so depletion is a clean test and never -1e-12.
        if self.balance < 1e-9 * max(self.start, 1.0):
            paid += self.balance
            self.balance = 0.0
        self.paid += paid
        self.minimum = min(self.minimum, self.balance)
        self._event_paid += paid
        if self.cap_per_period is not None and paid > 0:
            self._payments.append((now_ms, paid))
            self._period_paid += paid
        self._record(now_ms)
        return paid

    @property
    def depleted(self) -> bool:
        """The fund ran dry at some point (fees may have refilled it since)."""
        return self.minimum <= 0.0


@dataclass(frozen=True)
class CloseSplit:
    """How one position of size ``total`` is closed."""

    total: float
    fund_backed: float  # book quantity whose shortfall the fund can pay (a walk prefix)
    adl: float  # matched with ADL counterparties at the bankruptcy price
    socialized: float  # sent to the book after the fund-backed part; shortfall socialized

    @property
    def book(self) -> float:
        return self.fund_backed + self.socialized


def level_surplus(prices: np.ndarray, closing_long: bool, bankruptcy: float) -> np.ndarray:
    """Equity each unit filled at ``prices`` leaves above (+) or below (-) bankruptcy."""
    return prices - bankruptcy if closing_long else bankruptcy - prices


def fund_backed_quantity(
    prices: np.ndarray, sizes: np.ndarray, closing_long: bool, bankruptcy: float, fund: float,
) -> float:
    """Largest book quantity whose cumulative shortfall against bankruptcy is at most ``fund``.

    Fill prices worsen level by level, so cumulative equity is concave in quantity and the
    admissible quantities form an interval starting at zero.
    """
    per_unit = level_surplus(prices, closing_long, bankruptcy)
    cum = np.cumsum(per_unit * sizes)
    below = np.nonzero(cum < -fund)[0]
    if below.size == 0:
        return float(sizes.sum())
    j = int(below[0])
    before_qty = float(sizes[:j].sum())
    before_eq = float(cum[j - 1]) if j > 0 else 0.0
    # Within level j each unit loses -per_unit[j] (> 0 here): stop where the fund runs out.
    extra = (before_eq + fund) / -per_unit[j]
    return before_qty + min(max(extra, 0.0), float(sizes[j]))


def split_close(
    prices: np.ndarray, sizes: np.ndarray, closing_long: bool, bankruptcy: float,
    fund: float, adl_capacity: float,
) -> CloseSplit:
    """Split a close previewed as ``(prices, sizes)`` into fund-backed book, ADL and socialized."""
    total = float(sizes.sum())
    backed = fund_backed_quantity(prices, sizes, closing_long, bankruptcy, fund)
    rest = max(total - backed, 0.0)
    if rest <= 1e-9 * total:  # float residue, not a remainder worth other layers
        backed, rest = total, 0.0
    adl = min(rest, max(adl_capacity, 0.0))
    return CloseSplit(total, backed, adl, rest - adl)


def pro_rata(weights: np.ndarray, amount: float) -> np.ndarray:
    """Split ``amount`` in proportion to ``weights`` (e.g. open notional); zero weight pays zero."""
    total = float(weights.sum())
    if total <= 0:
        return np.zeros_like(weights)
    return amount * weights / total
