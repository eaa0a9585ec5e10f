"""A venue's dynamic risk controls: volatility-scaled margin, a price-band circuit breaker, an
open-interest cap.

- ``VolatilityMargin`` turns realised volatility of the mark into a maintenance-margin
  multiplier that moves in discrete steps (each change makes the venue rebuild its margin
  index, so it must not move on every tick).
- ``CircuitBreaker`` blocks liquidations for a while when the oracle jumps away from its own
  time-weighted average (Drift-style price band).
- ``open_interest_allows`` says whether an order that grows open interest fits under a cap.

Pure arithmetic on numbers fed in with integer-millisecond times; nothing here knows SimPy,
accounts, books, agents or events. The venue decides when to feed prices and what to do with
the answers.
"""

from __future__ import annotations

import math
from collections import deque

MS_PER_YEAR = 365 * 24 * 3600 * 1000
# Quantisation tolerance: (raw - 1) / step lands a hair under an integer in floating point
# (0.3 / 0.1 == 2.9999999999999996); without it a raw value exactly on a step drops a step.
_STEP_EPS = 1e-9


def vol_multiplier(
    vol: float, reference_vol: float, sensitivity: float, max_multiplier: float, step: float,
) -> float:
    """Maintenance-margin multiplier for annualised volatility ``vol``.

    Raw multiplier ``1 + sensitivity * max(0, vol / reference_vol - 1)``; at or above
    ``max_multiplier`` it is ``max_multiplier`` (even when that is not on the step grid),
    otherwise it is quantised down to ``1 + k * step``.
    """
    raw = 1.0 + sensitivity * max(0.0, vol / reference_vol - 1.0)
    if raw >= max_multiplier:
        return float(max_multiplier)
    k = math.floor((raw - 1.0) / step + _STEP_EPS)
    return 1.0 + k * step


class VolatilityMargin:
    """Volatility-responsive maintenance-margin multiplier from a stream of mark prices.

    The variance rate (per ms) is an EWMA of squared log returns per unit time with time-decay
    weight ``w = 1 - 0.5 ** (dt / half_life_ms)``, so irregular observation intervals weigh
    correctly: ``var = (1 - w) * var + w * r**2 / dt``.
    """

    def __init__(
        self,
        reference_vol: float,
        sensitivity: float,
        max_multiplier: float,
        half_life_ms: float,
        step: float,
    ) -> None:
        if not reference_vol > 0:
            raise ValueError(f"reference_vol must be > 0, got {reference_vol}")
        if not sensitivity >= 0:
            raise ValueError(f"sensitivity must be >= 0, got {sensitivity}")
        if not max_multiplier >= 1:
            raise ValueError(f"max_multiplier must be >= 1, got {max_multiplier}")
        if not half_life_ms > 0:
            raise ValueError(f"half_life_ms must be > 0, got {half_life_ms}")
        if not step > 0:
            raise ValueError(f"step must be > 0, got {step}")
        self.reference_vol = float(reference_vol)
        self.sensitivity = float(sensitivity)
        self.max_multiplier = float(max_multiplier)
        self.half_life_ms = float(half_life_ms)
        self.step = float(step)
        self._var = 0.0  # variance rate of log returns, per ms
        self._t: int | None = None
        self._price = 0.0
        self._multiplier = 1.0

    def update(self, now_ms: int, price: float) -> bool:
        """Feed a mark observation; True when the published multiplier changed."""
        if not price > 0:
            raise ValueError(f"price must be > 0, got {price}")
        if self._t is None:
            self._t, self._price = now_ms, float(price)
            return False
        dt = now_ms - self._t
        if dt < 0:
            raise ValueError("volatility time cannot go backwards")
        r = math.log(price / self._price)
        if dt == 0:
            # Several marks at one instant (oracle, then fills): the limit dt -> 0 of
            # w * r**2 / dt is ln 2 / half_life * r**2 with nothing decayed, so a move within
            # an instant still counts, with the weight a very short interval would give it.
            self._var += math.log(2.0) / self.half_life_ms * r * r
        else:
            w = 1.0 - 0.5 ** (dt / self.half_life_ms)
            self._var = (1.0 - w) * self._var + w * r * r / dt
        self._t, self._price = now_ms, float(price)
        new = vol_multiplier(self.vol, self.reference_vol, self.sensitivity,
                             self.max_multiplier, self.step)
        changed = new != self._multiplier
        self._multiplier = new
        return changed

    @property
    def multiplier(self) -> float:
        """The published (stepped) maintenance-margin multiplier, >= 1."""
        return self._multiplier

    @property
    def vol(self) -> float:
        """Annualised realised volatility of the observed prices."""
        return math.sqrt(self._var * MS_PER_YEAR)


class CircuitBreaker:
    """Price band: trips when a new price deviates >= ``threshold`` from the TWAP of the
    observations before it over the last ``window_ms``; liquidations are then paused for
    ``pause_ms`` (a trip while paused extends the pause).

    Each observation's price holds until the next one. Only the observations inside the window
    are kept, plus the one straddling its start (its price still holds over part of it), and
    the area under the price step function is kept incrementally so a query costs O(1).
    """

    def __init__(self, threshold: float, window_ms: int, pause_ms: int) -> None:
        if not threshold > 0:
            raise ValueError(f"threshold must be > 0, got {threshold}")
        if not window_ms > 0:
            raise ValueError(f"window_ms must be > 0, got {window_ms}")
        if not pause_ms >= 0:
            raise ValueError(f"pause_ms must be >= 0, got {pause_ms}")
        self.threshold = float(threshold)
        self.window_ms = int(window_ms)
        self.pause_ms = int(pause_ms)
        self.paused_until: int | None = None
        self.trips = 0
        self.trip_times: list[int] = []
        self._obs: deque[tuple[int, float]] = deque()
        # Area under the price between the first and the last stored observation.
        self._area = 0.0

    def update(self, now_ms: int, price: float) -> bool:
        """Record an oracle price; True when it tripped the breaker on this update."""
        if not price > 0:
            raise ValueError(f"price must be > 0, got {price}")
        if self._obs and now_ms < self._obs[-1][0]:
            raise ValueError("circuit breaker time cannot go backwards")
        tripped = False
        if self._obs:
            self._prune(now_ms)
            # The new price has held for no time yet, so this is the pre-jump average.
            if abs(price / self.twap(now_ms) - 1.0) >= self.threshold:
                tripped = True
                self.trips += 1
                self.trip_times.append(now_ms)
                self.paused_until = now_ms + self.pause_ms
            t_last, p_last = self._obs[-1]
            if now_ms == t_last:
                # The earlier price at this instant never held; only the latest one counts (the
                # area up to now is unchanged).
                self._obs.pop()
            else:
                self._area += p_last * (now_ms - t_last)
        self._obs.append((now_ms, float(price)))
        if len(self._obs) == 1:
            self._area = 0.0  # restart the sum exactly, shedding float residue
        return tripped

    def twap(self, now_ms: int) -> float:
        """Time-weighted average price over ``[now - window, now]`` of the stored observations
        (over the part of the window they cover; the latest price when they cover none)."""
        if not self._obs:
            raise ValueError("no price observed yet")
        obs = self._obs
        t_last, p_last = obs[-1]
        if now_ms < t_last:
            raise ValueError("circuit breaker time cannot go backwards")
        start = max(now_ms - self.window_ms, obs[0][0])
        span = now_ms - start
        if span <= 0:
            return p_last
        area = self._area + p_last * (now_ms - t_last)
        # Take off what lies before the window start. After ``update`` pruned, only the first
        # observation can (partly); a query later than the last update may find more.
        i = 0
        while i + 1 < len(obs) and obs[i + 1][0] <= start:
            area -= obs[i][1] * (obs[i + 1][0] - obs[i][0])
            i += 1
        area -= obs[i][1] * (start - obs[i][0])
        return area / span

    def paused(self, now_ms: int) -> bool:
        """Liquidations are blocked (the last trip's pause has not run out)."""
        return self.paused_until is not None and now_ms < self.paused_until

    @property
    def observations(self) -> tuple[tuple[int, float], ...]:
        """The stored ``(time_ms, price)`` observations, oldest first."""
        return tuple(self._obs)

    def _prune(self, now_ms: int) -> None:
        # Drop the oldest while the next one already starts at or before the window start: the
        # oldest then holds over no part of the window.
        start = now_ms - self.window_ms
        obs = self._obs
        while len(obs) >= 2 and obs[1][0] <= start:
            (t0, p0), t1 = obs.popleft(), obs[0][0]
            self._area -= p0 * (t1 - t0)


def open_interest_allows(
    open_interest_usd: float, increase_usd: float, cap_usd: float | None,
) -> bool:
    """Whether an order growing open interest by ``increase_usd`` fits under ``cap_usd``.

    An order that does not grow open interest (``increase_usd <= 0``) is always allowed, so
    a capped venue never stops traders from reducing risk; ``cap_usd=None`` means no cap.
    """
    if cap_usd is None or increase_usd <= 0:
        return True
    return open_interest_usd + increase_usd <= cap_usd
