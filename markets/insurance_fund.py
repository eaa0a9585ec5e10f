"""An insurance fund: its balance, what it received and paid, and the caps on its use.

Pure bookkeeping on numbers; what a liquidation asks of the fund (the waterfall) is in
``markets.liquidation``. Nothing here knows SimPy, accounts or events.
"""

from __future__ import annotations

from collections import deque


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
