"""The run's epoch: the UTC instant of run time 0, when the scenario replays real data, and what
follows from it (the tables' ``utc`` column, a market's depth schedule in run time).

Run time 0 is the first replay with a kline file: its ``start`` if given, else the file's first
bar's open. A replay whose file is not there (its synthetic stand-in runs) but which has a
``start`` gives that start too, so a run with and without the data has the same clock. No
replay, no epoch (None): run time then is only elapsed time. Reads configs and files; runs
nothing.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pandas as pd

from markets.depth_schedule import DepthSchedule
from markets.prices.klines import read_klines
from markets.venue import Market
from simulator.config import Scenario
from simulator.config.models import Depth, Venue
from simulator.run.result import UTC_COLUMN


def run_epoch(scenario: Scenario) -> datetime | None:
    """The UTC instant of run time 0 (see the module docstring), or None."""
    for replay in scenario.replays:
        if replay.start is not None:
            return replay.start.astimezone(UTC)
        if replay.csv is not None:
            first = int(read_klines(replay.csv)["open_time"].iloc[0])
            return datetime.fromtimestamp(first / 1000, UTC)
    return None


def epoch_text(epoch: datetime | None) -> str | None:
    """The epoch as stored in a run's meta (ISO 8601, UTC), or None."""
    return None if epoch is None else epoch.astimezone(UTC).isoformat()


def parse_epoch(text: object) -> pd.Timestamp | None:
    """A stored epoch (``epoch_text``) back as a UTC timestamp; None for none."""
    return None if not text else pd.Timestamp(str(text)).tz_convert(UTC)


def with_utc(frame: pd.DataFrame, epoch: datetime | None) -> pd.DataFrame:
    """``frame`` with a ``utc`` column (datetime64[ns, UTC]) after ``time_ms``: epoch + time.
    Without an epoch, ``frame`` itself, unchanged."""
    if epoch is None or "time_ms" not in frame.columns:
        return frame
    stamps = pd.Timestamp(epoch).tz_convert(UTC) + pd.to_timedelta(
        frame["time_ms"].to_numpy(dtype="int64"), unit="ms")
    out = frame.copy()
    out.insert(out.columns.get_loc("time_ms") + 1, UTC_COLUMN,
               pd.Series(stamps, index=frame.index).astype("datetime64[ns, UTC]"))
    return out


def run_ms(when: datetime, epoch: datetime) -> int:
    """Run time (ms) of the UTC instant ``when``; negative before the epoch."""
    return round((when - epoch).total_seconds() * 1000)


def depth_schedule(depth: Depth, epoch: datetime | None) -> DepthSchedule | None:
    """A market's depth schedule in run time: its UTC minutes less the run's epoch, or less the
    depth window's start when the scenario has no replay. None without a schedule."""
    if not depth.schedule:
        return None
    origin = epoch if epoch is not None else depth.start
    return DepthSchedule([run_ms(when, origin) for when, _ in depth.schedule],
                         [factor for _, factor in depth.schedule])


def schedule_depths(scenario: Scenario, vc: Venue, markets: list[Market]) -> None:
    """Give the books of ``vc``'s markets with a depth window their schedule in run time, and
    the factor in force at time 0 (the maker applies it from then on)."""
    if not any(mc.depth.schedule for mc in vc.markets):
        return  # the default: nothing read, nothing set
    epoch = run_epoch(scenario)
    for mk, mc in zip(markets, vc.markets, strict=True):
        schedule = depth_schedule(mc.depth, epoch)
        if schedule is not None:
            mk.book.schedule = schedule
            mk.book.set_depth_factor(schedule.at(0))
