"""Flow the replayed traded price already absorbed: a per-bar budget of USD notional by side.

When a replay is the *traded* price of a market (``mode: traded``), the real path already
moved with the real taker flow of each bar. A simulated order on that market is then taken,
up to what is left of its bar's budget on its side, as part of that real flow: it fills,
but it neither depletes the book nor moves the mid (``markets.venue.Venue.walk_book``).
Only its excess over the budget is new flow that moves the price.

The budget of bar ``k`` (``[start_k, end_k)`` in run ms) is ``max(0, -net_k) x share`` on the
sell side and ``max(0, net_k) x share`` on the buy side, ``net_k`` the bar's net taker buying
in USD; what is left at the end of a bar is lost (no carry-over), and outside every bar the
budget is zero. Sides are the asset's (a sell of the coin), in USD: the venue converts.

Pure arithmetic on numbers; nothing here knows SimPy, venues, files or configs.
"""

from __future__ import annotations

import numpy as np

from markets.book import BUY, SELL  # the sides' values only


class FlowBudget:
    """Per-bar USD budgets of absorbed flow for one market, consumed as time moves forward.

    ``starts`` / ``ends`` (run ms, increasing, ``start_k < end_k <= start_{k+1}``) bound the
    bars; ``sell_usd`` / ``buy_usd`` are each bar's budget. ``absorbed_usd`` and
    ``excess_usd`` total what ``absorb`` took as already in the path and what it left over."""

    def __init__(
        self, starts: np.ndarray, ends: np.ndarray, sell_usd: np.ndarray, buy_usd: np.ndarray,
    ) -> None:
        self.starts = np.asarray(starts, dtype=np.int64)
        self.ends = np.asarray(ends, dtype=np.int64)
        self.sell_usd = np.asarray(sell_usd, dtype=float)
        self.buy_usd = np.asarray(buy_usd, dtype=float)
        n = self.starts.size
        if self.starts.ndim != 1 or any(a.shape != (n,) for a in
                                        (self.ends, self.sell_usd, self.buy_usd)):
            raise ValueError("a flow budget needs one start, end, sell and buy value per bar")
        if np.any(self.ends <= self.starts) or np.any(self.starts[1:] < self.ends[:-1]):
            raise ValueError("flow budget bars must be non-empty, in time order, not overlapping")
        for name, values in (("sell", self.sell_usd), ("buy", self.buy_usd)):
            if not np.all(np.isfinite(values)) or np.any(values < 0):
                raise ValueError(f"flow budget {name} values must be finite and non-negative")
        self._bar = -1  # the bar the remaining budgets belong to (-1: none yet)
        self._k = 0  # the first bar that has not ended by the last call's time
        self._t = None  # the last call's time
        self._left = {SELL: 0.0, BUY: 0.0}
        self.absorbed_usd = 0.0
        self.excess_usd = 0.0

    def _current(self, now_ms: int) -> int:
        """The bar ``now_ms`` falls in (-1: none), moving forward only."""
        if self._t is not None and now_ms < self._t:
            raise ValueError("flow budget time cannot go backwards")
        self._t = now_ms
        k, ends = self._k, self.ends
        while k < ends.size and ends[k] <= now_ms:
            k += 1
        self._k = k
        return k if k < ends.size and self.starts[k] <= now_ms else -1

    def absorb(self, now_ms: int, side: int, usd: float) -> float:
        """An order of ``usd`` notional on ``side`` (the asset's: BUY or SELL) at ``now_ms``:
        the part of it (USD) the real flow of the current bar already holds."""
        if side not in (BUY, SELL):
            raise ValueError(f"side must be {BUY} (buy) or {SELL} (sell), got {side}")
        if usd < 0:
            raise ValueError("an order's notional must be non-negative")
        k = self._current(now_ms)
        if k != self._bar:  # a new bar: its budgets, whatever the last one left
            self._bar = k
            self._left = ({SELL: 0.0, BUY: 0.0} if k < 0 else
                          {SELL: float(self.sell_usd[k]), BUY: float(self.buy_usd[k])})
        taken = min(usd, self._left[side])
        self._left[side] -= taken
        self.absorbed_usd += taken
        self.excess_usd += usd - taken
        return taken

    def remaining(self, side: int) -> float:
        """What is left of the budget on ``side`` in the bar of the last call."""
        return self._left[side]
