"""A book's depth over time: a step function of run time giving the factor the depth profile is
scaled by, e.g. one point per minute read from a depth-band file (``simulator.config.depth_data``).

The factor is 1 before the first point and the last point's from then on. The maker quotes
profile x its withdrawal factor x this factor (``agents.market_maker``). Pure arithmetic on
times passed in: nothing here knows SimPy, files, UTC or configs.
"""

from __future__ import annotations

import math
from bisect import bisect_right
from collections.abc import Sequence


class DepthSchedule:
    """Factors ``factors[k]`` from run time ``times_ms[k]`` (ms, increasing) on."""

    __slots__ = ("factors", "times_ms")

    def __init__(self, times_ms: Sequence[int], factors: Sequence[float]) -> None:
        if len(times_ms) != len(factors) or not times_ms:
            raise ValueError("a depth schedule needs matching, non-empty times and factors")
        if any(b <= a for a, b in zip(times_ms, times_ms[1:], strict=False)):
            raise ValueError("depth schedule times must increase")
        if any(not (math.isfinite(f) and f > 0) for f in factors):
            raise ValueError("depth schedule factors must be positive and finite")
        self.times_ms = [int(t) for t in times_ms]
        self.factors = [float(f) for f in factors]

    def at(self, now_ms: float) -> float:
        """The factor in force at ``now_ms``: the last point's at or before it (1 before all)."""
        k = bisect_right(self.times_ms, now_ms)
        return self.factors[k - 1] if k else 1.0

    def __len__(self) -> int:
        return len(self.times_ms)

    def __repr__(self) -> str:
        return f"DepthSchedule({len(self)} points from {self.times_ms[0]} ms)"
