"""An order book kept by a market maker: a ladder of price levels at fixed offsets from the mid.

Level ``j`` on each side sits ``(j + 0.5) * step`` from the mid (bids below, asks above). Its
quoted size is the maker's target (the depth profile, cumulative USD by relative distance,
times the maker's depth factor) less what trading has consumed and not yet refilled. The
state is the *depletion* of each level (0 = full, 1 = empty): a market order walks the
opposite side, every fully consumed level moves the mid one step and leaves the ladder, so the
consumed side stays depleted near the touch (a second sell goes deeper) while the maker
re-quotes the other side around the new mid. Depletion decays with time constant
``refill_ms`` (resilience). When the maker withdraws (depth factor falls) quotes shrink at
once, because sizes are always a share of the current target.

Sizes are computed only for the prefix of levels a walk reaches, so a refill is one multiply
and a walk costs what it touches. Pure state and arithmetic: time is a number passed in;
nothing here knows SimPy, accounts, generations or who sent an order.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from markets.depth_schedule import DepthSchedule

BUY = 1
SELL = -1
_PREFIX = 256  # levels read at a time when observing the book
# Levels sized at a time when walking (grown 4x while the order is larger): most walks touch a
# few levels, and sizing a level does not depend on how many are sized with it.
_WALK_PREFIX = 32


@dataclass(frozen=True)
class DepthProfile:
    """Cumulative USD depth per side at relative distances from the mid (piecewise linear).

    Beyond the last point depth keeps the last segment's density up to ``max_distance``, so a
    large order meets ever thinner but never missing liquidity.
    """

    distances: np.ndarray  # relative distance from mid, increasing, > 0
    cumulative_usd: np.ndarray  # depth within that distance, non-decreasing, > 0
    max_distance: float = 0.5

    def __post_init__(self) -> None:
        d, c = self.distances, self.cumulative_usd
        if len(d) == 0 or len(d) != len(c):
            raise ValueError("a depth profile needs matching distances and cumulative depths")
        if np.any(d <= 0) or np.any(np.diff(d) <= 0):
            raise ValueError("depth profile distances must be positive and increasing")
        if np.any(c <= 0) or np.any(np.diff(c) < 0):
            raise ValueError("cumulative depth must be positive and non-decreasing")
        if not 0 < self.max_distance < 1 or self.max_distance < d[-1]:
            raise ValueError("max_distance must lie in (last profile distance, 1)")
        xs = np.concatenate(([0.0], d, [self.max_distance]))
        slope = (c[-1] - (c[-2] if len(c) > 1 else 0.0)) / (d[-1] - (d[-2] if len(d) > 1 else 0.0))
        cs = np.concatenate(([0.0], c, [c[-1] + slope * (self.max_distance - d[-1])]))
        object.__setattr__(self, "_xs", xs)
        object.__setattr__(self, "_cs", cs)

    def cumulative(self, x: np.ndarray) -> np.ndarray:
        """USD depth within relative distance(s) ``x`` (flat beyond ``max_distance``)."""
        return np.interp(x, self._xs, self._cs)


@dataclass(slots=True)
class Walk:
    """A market order's path through one side of the book (a preview until applied)."""

    side: int  # BUY consumes asks, SELL consumes bids
    prices: np.ndarray  # fill price per touched level
    sizes: np.ndarray  # base quantity filled per touched level
    levels_consumed: int  # fully consumed levels: the mid moves this many steps
    exhausted: bool  # the ladder ran out; the rest was filled at the last level's price
    quoted: np.ndarray  # what each touched level held before the walk
    target: np.ndarray  # the maker's target size of each touched level
    # A walk's arrays are never changed once made, so its totals are computed once: a close
    # asks for them several times (split, record, trade, settlement).
    _qty: float | None = field(default=None, repr=False, compare=False)
    _notional: float | None = field(default=None, repr=False, compare=False)

    @property
    def qty(self) -> float:
        if self._qty is None:
            self._qty = float(self.sizes.sum())
        return self._qty

    @property
    def notional(self) -> float:
        if self._notional is None:
            self._notional = float(self.prices @ self.sizes)
        return self._notional

    @property
    def vwap(self) -> float:
        q = self.qty
        return self.notional / q if q > 0 else float("nan")

    def truncate(self, qty: float) -> Walk:
        """The walk of a smaller order of ``qty`` on the same book: a prefix of this one."""
        if qty >= self.qty * (1 - 1e-12):
            return self
        cum = np.cumsum(self.sizes)
        last = int(np.searchsorted(cum, qty * (1 - 1e-12), side="left"))
        sizes = self.sizes[: last + 1].copy()
        sizes[last] = qty - (float(cum[last - 1]) if last > 0 else 0.0)
        full = last + 1 if sizes[last] >= self.quoted[last] * (1 - 1e-12) else last
        n = last + 1
        return Walk(self.side, self.prices[:n], sizes, full, False, self.quoted[:n],
                    self.target[:n])


class OrderBook:
    """Two ladders of level depletion, indexed by distance from the mid."""

    # A depth window's factors over time, set by the build: the maker multiplies its own depth
    # factor by the one in force. None (the class default): the maker's factor alone.
    schedule: DepthSchedule | None = None

    def __init__(
        self, profile: DepthProfile, step: float, tick: float, ref_price: float,
        refill_ms: float, now_ms: int = 0,
    ) -> None:
        if step <= 0 or tick <= 0 or ref_price <= 0:
            raise ValueError("step, tick and reference price must be positive")
        self.profile = profile
        self.step = float(step)
        self.tick = float(tick)
        self.refill_ms = float(refill_ms)
        self.n_levels = max(1, int(math.ceil(profile.max_distance * ref_price / step)))
        self.depth_factor = 1.0
        self.spread_levels = 0
        self._set_ladder()
        self._target_key: tuple[float, float, int, int] | None = None
        self._target = np.zeros(0)
        self.bid_depletion = np.zeros(self.n_levels)
        self.ask_depletion = np.zeros(self.n_levels)
        self._t = now_ms

    # --- the maker's quotes -------------------------------------------------------------
    def target(self, mid: float, levels: int | None = None) -> np.ndarray:
        """Target base size of the first ``levels`` levels around ``mid`` (same both sides)."""
        n = self.n_levels if levels is None else min(levels, self.n_levels)
        key = (mid, self.depth_factor, n, self.spread_levels)
        if key != self._target_key:  # a walk's preview and its execution share one target
            self._target = self._target_sizes(mid, n)
            self._target_key = key
        return self._target

    def _target_sizes(self, mid: float, n: int) -> np.ndarray:
        usd = np.diff(self.profile.cumulative(self._edges[: n + 1] / mid)) * self.depth_factor
        # Levels at or below zero price cannot exist (deep bids when the step is coarse).
        return np.where(mid - self._offsets[:n] > self.tick, usd / mid, 0.0)

    def quoted(self, side: int, mid: float, levels: int | None = None) -> np.ndarray:
        """Sizes resting on the side a ``side`` order consumes (bids for a sell)."""
        return self._quoted(side, self.target(mid, levels))

    def _quoted(self, side: int, target: np.ndarray) -> np.ndarray:
        depletion = self.bid_depletion if side == SELL else self.ask_depletion
        return target * (1.0 - depletion[: target.size])

    def advance(self, now_ms: int) -> None:
        """Refill both sides for the time elapsed since the last call."""
        dt = now_ms - self._t
        if dt < 0:
            raise ValueError("order book time cannot go backwards")
        if dt > 0:
            keep = math.exp(-dt / self.refill_ms) if self.refill_ms > 0 else 0.0
            self.bid_depletion *= keep
            self.ask_depletion *= keep
            self._t = now_ms

    def set_depth_factor(self, factor: float) -> None:
        self.depth_factor = float(factor)

    def set_spread(self, levels: int) -> None:
        """Quote ``levels`` ladder steps further from the mid (0: from the first step): the
        depth within them is withdrawn, the rest keeps its distance-based size."""
        if levels != self.spread_levels:
            self.spread_levels = int(levels)
            self._set_ladder()

    def _set_ladder(self) -> None:
        first = self.spread_levels
        self._offsets = (np.arange(self.n_levels) + 0.5 + first) * self.step
        self._edges = (np.arange(self.n_levels + 1) + first) * self.step

    # --- market orders -----------------------------------------------------------------
    def level_prices(self, side: int, mid: float, levels: int | None = None) -> np.ndarray:
        """Prices of the levels a market order of ``side`` would hit, rounded to the tick
        against the taker (sells fill at or below the level, buys at or above)."""
        offsets = self._offsets[:levels]
        if side == SELL:
            # Deep bids of a coarse ladder can sit at or below zero: no fill is below one tick.
            return np.maximum(np.floor((mid - offsets) / self.tick + 1e-9) * self.tick, self.tick)
        return np.ceil((mid + offsets) / self.tick - 1e-9) * self.tick

    def preview(self, side: int, qty: float, mid: float) -> Walk:
        """Walk ``qty`` through the side opposite to ``side`` without changing the book."""
        if qty < 0:
            raise ValueError("order quantity must be non-negative")
        levels = min(_WALK_PREFIX, self.n_levels)
        while True:
            target = self.target(mid, levels)
            quoted = self._quoted(side, target)
            cum = np.cumsum(quoted)
            if qty == 0 or cum[-1] >= qty * (1 - 1e-12) or levels == self.n_levels:
                break
            levels = min(4 * levels, self.n_levels)
        prices = self.level_prices(side, mid, levels)
        if qty == 0:
            return Walk(side, prices[:0], quoted[:0], 0, False, quoted[:0], target[:0])
        last = int(np.searchsorted(cum, qty * (1 - 1e-12), side="left"))
        if last >= levels:
            sizes = quoted.copy()
            sizes[-1] += qty - float(cum[-1])
            return Walk(side, prices, sizes, levels, True, quoted, target)
        sizes = quoted[: last + 1].copy()
        sizes[last] = qty - (float(cum[last - 1]) if last > 0 else 0.0)
        full = last + 1 if sizes[last] >= quoted[last] * (1 - 1e-12) else last
        n = last + 1
        return Walk(side, prices[:n], sizes, full, False, quoted[:n], target[:n])

    def apply(self, walk: Walk, mid: float) -> float:
        """Execute a walk previewed at ``mid``; returns the mid's move in price units."""
        n = walk.sizes.size
        if n == 0:
            return 0.0
        is_sell = walk.side == SELL
        depletion = self.bid_depletion if is_sell else self.ask_depletion
        k = walk.levels_consumed
        live = walk.target > 0
        left = np.where(live, (walk.quoted - walk.sizes) / np.where(live, walk.target, 1.0), 0.0)
        touched = depletion.copy()
        touched[:n] = 1.0 - np.minimum(np.maximum(left, 0.0), 1.0)
        # Consumed levels leave the ladder; the far end gets fresh, full quotes.
        shifted = np.concatenate((touched[k:], np.zeros(k)))
        if is_sell:
            self.bid_depletion = shifted
        else:
            self.ask_depletion = shifted
        return (-k if is_sell else k) * self.step

    # --- observations ------------------------------------------------------------------
    def depth_within(self, fraction: float, mid: float) -> tuple[float, float]:
        """USD depth within ``fraction`` of the mid on (bid, ask) sides."""
        levels = int(np.searchsorted(self._offsets, fraction * mid, side="right"))
        if levels == 0:
            return 0.0, 0.0
        bid = self.quoted(SELL, mid, levels) @ (mid - self._offsets[:levels])
        ask = self.quoted(BUY, mid, levels) @ (mid + self._offsets[:levels])
        return float(bid), float(ask)

    def observe(
        self, now_ms: int, mid: float, fraction: float,
    ) -> tuple[float, float, float, float]:
        """(best bid, best ask, USD bid depth, USD ask depth within ``fraction`` of ``mid``) as
        the book stands at ``now_ms``, refilled for the time elapsed but without changing the
        book (not even its cached target): observing must not change what is observed."""
        dt = now_ms - self._t
        if dt < 0:
            raise ValueError("order book time cannot go backwards")
        keep = 1.0
        if dt > 0:
            keep = math.exp(-dt / self.refill_ms) if self.refill_ms > 0 else 0.0
        n = min(max(_PREFIX, int(np.searchsorted(self._offsets, fraction * mid, side="right"))),
                self.n_levels)
        target = self._target_sizes(mid, n)
        bids = target * (1.0 - self.bid_depletion[:n] * keep)
        asks = target * (1.0 - self.ask_depletion[:n] * keep)
        k = min(_PREFIX, self.n_levels)

        def first(sizes: np.ndarray) -> int:
            live = np.nonzero(sizes[:k] > 0)[0]
            return int(live[0]) if live.size else k - 1

        levels = int(np.searchsorted(self._offsets, fraction * mid, side="right"))
        depth_bid = float(bids[:levels] @ (mid - self._offsets[:levels])) if levels else 0.0
        depth_ask = float(asks[:levels] @ (mid + self._offsets[:levels])) if levels else 0.0
        return (float(mid - self._offsets[first(bids)]), float(mid + self._offsets[first(asks)]),
                depth_bid, depth_ask)

    def best_prices(self, mid: float) -> tuple[float, float]:
        """Best bid and ask: the first level with any size on each side."""
        def first(side: int) -> int:
            sizes = self.quoted(side, mid, min(_PREFIX, self.n_levels))
            live = np.nonzero(sizes > 0)[0]
            return int(live[0]) if live.size else sizes.size - 1
        return float(mid - self._offsets[first(SELL)]), float(mid + self._offsets[first(BUY)])
