"""One market's prices: fundamental, mid, index and mark, with every move tagged by its source.

The mid is ``fundamental * exp(sum_g d[g])``: ``d[g]`` is the log displacement caused by forced
trades of cascade generation ``g`` (``d[0]`` is ordinary flow). Log space keeps the mid
positive whatever the fundamental does after an impact, and the decomposition additive. The
maker re-centres towards the fundamental, so every displacement decays at the same rate. The
counterfactual "prices had only generations <= j traded" is exact: the mid, index and mark at
*level* ``j`` use ``cumsum(d)[j]``. Non-linear mark rules (clamp, median)
are applied per level, and the EMA of the basis is kept per level, so counterfactual marks
are what the venue would really have published.

The index is ``fundamental * exp(index_log)``: ``index_log`` is the market's own displacement
times its ``index_share`` plus, for an index that several venues' prices make up, each other
source market's displacement (as it stands now, read without advancing the source) times its
weight, a geometric weighting of the venues' mids. Generations are global, so a source's level
``j`` lines up with this market's.

Pure arithmetic on numbers; nothing here knows SimPy, accounts, books or events.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

MARK_METHODS = ("mid", "index", "ema_basis", "median")


@dataclass(frozen=True)
class MarkRule:
    """How a venue publishes its mark price.

    - ``mid``: the book's mid (follows every trade at once);
    - ``index``: the index (ignores the venue's own trades, except its index share);
    - ``ema_basis``: index + EMA of (mid - index), clamped to +/- ``clamp`` of the index;
    - ``median``: median(index, index + clamped EMA basis, mid), Binance's construction with
      the funding-basis term approximated by the index.
    """

    method: str = "median"
    ema_half_life_ms: float = 30_000.0
    clamp: float = 0.05

    def __post_init__(self) -> None:
        if self.method not in MARK_METHODS:
            raise ValueError(f"mark method must be one of {MARK_METHODS}, got {self.method!r}")

    def mark(self, index: float, mid: float, ema: float) -> float:
        """The published mark from scalars (the hot path: the actual prices)."""
        match self.method:
            case "mid":
                return mid
            case "index":
                return index
            case "ema_basis":
                return index + min(max(ema, -self.clamp * index), self.clamp * index)
            case "median":
                basis = index + min(max(ema, -self.clamp * index), self.clamp * index)
                return max(min(index, basis), min(max(index, basis), mid))
        raise AssertionError("unreachable")  # pragma: no cover - guarded in __post_init__

    def apply(self, index: np.ndarray, mid: np.ndarray, ema: np.ndarray) -> np.ndarray:
        """The mark at every counterfactual level at once (same rule as ``mark``)."""
        match self.method:
            case "mid":
                return mid
            case "index":
                return index
            case "ema_basis":
                return index + np.clip(ema, -self.clamp * index, self.clamp * index)
            case "median":
                basis = index + np.clip(ema, -self.clamp * index, self.clamp * index)
                lo, hi = np.minimum(index, basis), np.maximum(index, basis)
                return np.maximum(lo, np.minimum(hi, mid))
        raise AssertionError("unreachable")  # pragma: no cover - guarded in __post_init__


class MarketPrices:
    """Fundamental, per-generation displacement, index and mark of one market.

    The actual prices are kept as scalars (read on every margin check); the counterfactual
    levels are computed only when a breach needs its generation.
    """

    def __init__(
        self,
        fundamental: float,
        rule: MarkRule,
        recentre_ms: float | None,
        index_share: float = 0.0,
        now_ms: int = 0,
        capacity: int = 8,
    ) -> None:
        self.fundamental = float(fundamental)
        self.rule = rule
        self.recentre_ms = recentre_ms  # None: impact is permanent
        self.index_share = float(index_share)
        # Other markets whose mids make up part of this index: (their prices, weight).
        self.index_sources: list[tuple[MarketPrices, float]] = []
        self.d = np.zeros(capacity)  # log displacement of the mid, per generation
        self.displacement = 0.0  # sum(d), kept alongside
        self.ema = np.zeros(capacity)  # EMA of the basis at each counterfactual level
        self.max_generation = 0
        self._t = now_ms
        self._t_ema = now_ms
        self.mark = self._actual_mark()
        # Exact peak-to-trough fall and trough-to-peak rise of the traded price (mid), updated
        # on every change rather than sampled.
        self.peak_mid = self.trough_mid = self.mid
        self.max_drawdown = 0.0
        self.max_runup = 0.0

    # --- time ------------------------------------------------------------------------------
    def decay_factor(self, dt_ms: float) -> float:
        if self.recentre_ms is None or dt_ms <= 0:
            return 1.0
        return math.exp(-dt_ms / self.recentre_ms)

    def advance(self, now_ms: int) -> None:
        """Let the maker re-centre for the time elapsed (all generations decay alike)."""
        if now_ms < self._t:
            raise ValueError("price time cannot go backwards")
        if now_ms > self._t:
            if self.displacement != 0.0:
                keep = self.decay_factor(now_ms - self._t)
                self.d *= keep
                self.displacement *= keep
                self.mark = self._actual_mark()
            self._t = now_ms

    def observed(self, now_ms: int) -> tuple[float, float, float]:
        """(mid, index, mark) as they stand at ``now_ms``, without advancing anything.

        Observers (the recorder) read through this: advancing in their own steps would round
        the re-centring differently and so change the run they observe."""
        if now_ms < self._t:
            raise ValueError("price time cannot go backwards")
        displacement = self.displacement
        if now_ms > self._t and displacement != 0.0:
            displacement *= self.decay_factor(now_ms - self._t)
        mid = self.fundamental * math.exp(displacement)
        index = self.fundamental * math.exp(self._index_log(displacement, now_ms))
        return mid, index, self.rule.mark(index, mid, float(self.ema[-1]))

    def on_oracle(self, now_ms: int, fundamental: float) -> None:
        """A new fundamental (oracle) price: decay, update the basis EMA, recompute marks."""
        self.advance(now_ms)
        self.fundamental = float(fundamental)
        dt = now_ms - self._t_ema
        if dt > 0:
            alpha = (1.0 - math.exp(-dt * math.log(2.0) / self.rule.ema_half_life_ms)
                     if self.rule.ema_half_life_ms > 0 else None)
            if self.max_generation == 0:
                self._ema_one_level(alpha)
            else:
                self._ema_levels(alpha)
        self._t_ema = now_ms
        self.mark = self._actual_mark()
        self._track()

    def _ema_levels(self, alpha: float | None) -> None:
        """The basis EMA of every counterfactual level moves ``alpha`` of the way to the basis
        (None: no smoothing, the EMA is the basis)."""
        top = self.max_generation + 1
        levels = np.cumsum(self.d[:top])
        f = self.fundamental
        basis = f * np.exp(levels) - f * np.exp(self._index_levels(levels))  # mid - index
        if alpha is not None:
            self.ema[:top] += alpha * (basis - self.ema[:top])
        else:
            self.ema[:top] = basis
        self.ema[top:] = self.ema[top - 1]

    def _ema_one_level(self, alpha: float | None) -> None:
        """``_ema_levels`` while there is one level (no forced trade yet), on scalars: the same
        operations in the same order. np.exp, not math.exp: the C library's exp can differ from
        numpy's in the last bit."""
        f, level = self.fundamental, float(self.d[0])
        basis = f * np.exp(level) - f * np.exp(self._index_log(level))
        if alpha is not None:
            ema = float(self.ema[0])
            self.ema.fill(ema + alpha * (basis - ema))
        else:
            self.ema.fill(basis)

    # --- impact ----------------------------------------------------------------------------
    def add_impact(self, generation: int, delta: float) -> float:
        """A forced (or ordinary, generation 0) trade moved the mid by ``delta`` (price units,
        leaving it positive); returns the move as a log displacement."""
        dlog = math.log((self.mid + delta) / self.mid)
        self.add_log_impact(generation, dlog)
        return dlog

    def add_log_impact(self, generation: int, dlog: float) -> None:
        """Move the mid by ``dlog`` in log space, tagged with ``generation``."""
        self._reserve(generation)
        self.d[generation] += dlog
        self.displacement += dlog
        self.max_generation = max(self.max_generation, generation)
        self.mark = self._actual_mark()
        self._track()

    def follow_index(self, generation: int) -> None:
        """A source of this index moved (tagged ``generation``): republish the mark, and keep
        counterfactual levels up to that generation."""
        self._reserve(generation)
        self.max_generation = max(self.max_generation, generation)
        self.mark = self._actual_mark()

    def _reserve(self, generation: int) -> None:
        if generation >= len(self.d):
            grow = max(generation + 1, 2 * len(self.d)) - len(self.d)
            self.d = np.concatenate((self.d, np.zeros(grow)))
            # Levels above the highest generation equal the actual state; extend with it.
            self.ema = np.concatenate((self.ema, np.full(grow, self.ema[-1])))

    def _index_log(self, own: float, at_ms: int | None = None) -> float:
        """The index's log displacement, from ``own`` (this market's) and its other sources
        as they stand at ``at_ms`` (default: this market's time)."""
        log = self.index_share * own
        if self.index_sources:
            at = self._t if at_ms is None else at_ms
            for src, weight in self.index_sources:
                log += weight * src.displacement_at(at)
        return log

    def _index_levels(self, levels: np.ndarray) -> np.ndarray:
        """``_index_log`` at every counterfactual level, from this market's ``levels``."""
        log = self.index_share * levels
        if self.index_sources:
            n = levels.size
            for src, weight in self.index_sources:
                log = log + weight * src.levels_at(self._t, n)
        return log

    def displacement_at(self, now_ms: int) -> float:
        """The mid's log displacement as it stands at ``now_ms``, without advancing."""
        if now_ms > self._t and self.displacement != 0.0:
            return self.displacement * self.decay_factor(now_ms - self._t)
        return self.displacement

    def levels_at(self, now_ms: int, n: int) -> np.ndarray:
        """Cumulative displacement at levels ``0..n-1`` as they stand at ``now_ms`` (levels
        above this market's highest generation equal its actual state)."""
        k = min(n, len(self.d))
        levels = np.cumsum(self.d[:k])
        if now_ms > self._t:
            levels = levels * self.decay_factor(now_ms - self._t)
        if k < n:
            levels = np.concatenate((levels, np.full(n - k, levels[-1])))
        return levels

    def _actual_mark(self) -> float:
        return self.rule.mark(self.index, self.mid, float(self.ema[-1]))

    def _track(self) -> None:
        mid = self.mid
        if mid > self.peak_mid:
            self.peak_mid = mid
        else:
            self.max_drawdown = max(self.max_drawdown, 1.0 - mid / self.peak_mid)
        if mid < self.trough_mid:
            self.trough_mid = mid
        else:
            self.max_runup = max(self.max_runup, mid / self.trough_mid - 1.0)

    # --- prices by counterfactual level ------------------------------------------------------
    def mark_levels(self, top: int) -> np.ndarray:
        """Marks had only generations ``<= j`` traded, for ``j = 0..top``."""
        n = min(top, len(self.d) - 1) + 1
        levels = np.cumsum(self.d[:n])
        f = self.fundamental
        marks = self.rule.apply(f * np.exp(self._index_levels(levels)), f * np.exp(levels),
                                self.ema[:n])
        if n <= top:
            marks = np.concatenate((marks, np.full(top + 1 - n, marks[-1])))
        return marks

    def mid_levels(self, top: int) -> np.ndarray:
        """Mids had only generations ``<= j`` traded, for ``j = 0..top`` (the last price)."""
        n = min(top, len(self.d) - 1) + 1
        mids = self.fundamental * np.exp(np.cumsum(self.d[:n]))
        if n <= top:
            mids = np.concatenate((mids, np.full(top + 1 - n, mids[-1])))
        return mids

    @property
    def mid(self) -> float:
        return self.fundamental * math.exp(self.displacement)

    @property
    def index(self) -> float:
        return self.fundamental * math.exp(self._index_log(self.displacement))
