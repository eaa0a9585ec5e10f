"""The market makers of a venue's markets: each pulls depth when realised volatility rises,
and all of them when their balance sheet's losses pass its limit.

Every ``interval_ms`` each maker measures the mid's log return, keeps an exponentially weighted
estimate of annualised variance (half-life ``half_life_ms``), and sets the book's depth factor:
1 while realised volatility is at or below ``reference_vol``, falling as
``(reference_vol / vol) ** sensitivity`` above it, never below ``floor``. Quotes are a share
of the target, so withdrawal cancels at once and depth returns as the estimate calms. This is a main
amplifier of real cascades (Binance's ask depth within 1% fell by about 84% on 10 Oct 2025).
With a balance sheet (``markets.maker_balance``), a maker whose trading loss passes its limit
quotes at most the limit's floor and widens its spread by withdrawing the levels next to the
mid, on every market (and venue) of the sheet, until the loss is back under the resume level.

SimPy glue over the venue's public interface; the book arithmetic lives in ``markets.book``.
"""

from __future__ import annotations

import math
from collections.abc import Generator
from dataclasses import dataclass

import simpy

from markets.events import EventKind, Reason
from markets.maker_balance import BalanceSheet
from markets.prices.paths import MS_PER_YEAR
from markets.venue import Venue


@dataclass(frozen=True)
class WithdrawalRule:
    reference_vol: float = 1.0
    sensitivity: float = 1.0
    floor: float = 0.2
    half_life_ms: float = 30_000.0
    enabled: bool = True

    def depth_factor(self, vol: float) -> float:
        if not self.enabled or vol <= self.reference_vol or vol == 0:
            return 1.0
        return max(self.floor, (self.reference_vol / vol) ** self.sensitivity)


class MarketMaker:
    """The maker of market ``m``: its variance estimate and the depth it last logged."""

    def __init__(
        self, venue: Venue, m: int, rule: WithdrawalRule, interval_ms: int, initial_vol: float,
        sheet: BalanceSheet | None = None,
    ) -> None:
        self.venue, self.m, self.rule, self.sheet = venue, m, rule, sheet
        self.market = venue.markets[m]
        self.dt_years = interval_ms / MS_PER_YEAR
        self.keep = math.exp(-interval_ms * math.log(2.0) / rule.half_life_ms)
        self.variance = initial_vol**2
        self.last_mid = self.market.prices.mid
        self.logged = 1.0

    def step(self, now_ms: int) -> None:
        """One interval: the mid's return updates the variance, the variance the depth."""
        venue, market = self.venue, self.market
        venue.sync(self.m, now_ms)
        mid = market.prices.mid
        r = math.log(mid / self.last_mid)
        self.last_mid = mid
        self.variance = self.keep * self.variance + (1.0 - self.keep) * r * r / self.dt_years
        vol = math.sqrt(self.variance)
        factor = self.rule.depth_factor(vol)
        if self.sheet is not None:
            breached = self.sheet.breached
            if breached:
                factor = min(factor, self.sheet.limit.floor)
            market.book.set_spread(self.sheet.limit.spread_levels if breached else 0)
        schedule = market.book.schedule
        if schedule is not None:  # a depth window's data (markets.depth_schedule), on top
            factor *= schedule.at(now_ms)
        market.book.set_depth_factor(factor)
        # Log the depth state when it moves by 5 percentage points, not every tick.
        if abs(factor - self.logged) >= 0.05 or (factor == 1.0 and self.logged != 1.0):
            venue.sink.emit(
                EventKind.DEPTH, now_ms, venue.name, market.name, price=mid, amount=factor,
                vol=vol,
            )
            self.logged = factor


def market_makers(
    env: simpy.Environment, makers: list[MarketMaker], interval_ms: int,
    sheet: BalanceSheet | None = None,
) -> Generator:
    """The makers of one venue's markets, stepped in market order every ``interval_ms``: one
    process for all of them (their steps at one instant always ran back to back, so the order
    of work is the same as one process each, for a tenth of the scheduling in a 10-market
    venue). With a balance sheet, it is re-read first; a crossing is logged on every venue of
    the sheet."""
    while True:
        yield env.timeout(interval_ms)
        now = env.now
        if sheet is not None:
            for venue in sheet.venues:
                for m in range(len(venue.markets)):
                    venue.sync(m, now)
            crossed = sheet.update()
            if crossed is not None:
                loss = -sheet.pnl()
                for venue in sheet.venues:
                    venue.sink.emit(EventKind.MAKER_LIMIT, now, venue.name, amount=loss,
                                    balance=sheet.limit.loss_limit,
                                    reason=Reason.LOSS_LIMIT if crossed else Reason.RESUMED)
        for maker in makers:
            maker.step(now)
