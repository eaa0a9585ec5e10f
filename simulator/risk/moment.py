"""The book at a moment of a run: the world a scenario's simulation has made by time T, for the
``liqsim risk`` report (``simulator.risk.book`` reads it as it reads the world at t = 0).

``world_at`` re-simulates a scenario to T (``simulator.run.runner.simulate_until``: the run's
own build and wiring, stopped early). ``moment_of_run`` does so for a stored run folder and
verifies the re-simulation: the events it recorded up to T must equal, value for value and
dtype for dtype, the stored event log's events with ``time_ms`` <= T (the same content hash as
``RunResult.event_log_hash``), else it refuses (the folder was written by other code, or edited).
``resolve_moment`` reads T: milliseconds, a duration ("90s", "1h30m"), a UTC time of a replay
run, or a keyword (``shock``, ``low``, ``peak``) read off the stored run's tables.

Mid-run the world holds what the run did: liquidated accounts are flat, venue-side holders
(vault, fund, keeper rows, not liquidatable) carry what they took over, breaches waiting in a
venue's queue are still open positions, funds have paid what they paid. ``book``'s static
pass counts liquidatable scopes only, so a position a holder took over is not counted again
(nor is the holder's own loss on it), and a queued breach counts once (it is still the
trader's). ``book`` reads prices and fund caps without a time: ``_as_of`` sets them to T.
Writes nothing, draws nothing.
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from simulator.config import Scenario, parse_scenario
from simulator.config.units import format_duration, parse_duration
from simulator.risk.book import notional_usd
from simulator.run.build import World
from simulator.run.epoch import parse_epoch
from simulator.run.result import UTC_COLUMN, RunResult
from simulator.run.runner import simulate_until

RUN_FILE = "run.json"  # what makes a folder a run folder (RunResult.load reads it first)
KEYWORDS = ("shock", "low", "peak")
MINUTE_MS = 60_000
_PART = re.compile(r"([0-9]*\.?[0-9]+)\s*(ms|min|s|m|h|d)")


class MomentError(ValueError):
    """A moment that cannot be had: a bad T, or a run folder that does not reproduce."""


@dataclass(frozen=True)
class Moment:
    """Where the book was taken: run time ``at_ms``, as asked (``asked``), its UTC instant for
    a replay, the run folder (None for a scenario) and the re-simulation check."""

    at_ms: int
    asked: str
    utc: str | None = None
    run_dir: str | None = None
    events_checked: int = 0  # events with time <= T compared with the stored log
    prefix_sha256: str | None = None  # their content hash (equal in both)
    queued: int = 0  # breaches waiting in the venues' queues at T
    held_usd: float = 0.0  # gross USD notional the venue-side holders carry at T

    def text(self) -> str:
        """One line for the page and the console."""
        when = format_duration(self.at_ms) if self.at_ms else "t = 0"
        if self.asked.strip().lower() in KEYWORDS:
            when += f" ({self.asked.strip().lower()})"
        if self.utc:
            when += f" (UTC {self.utc})"
        where = f" of run {self.run_dir}" if self.run_dir else " of the scenario re-simulated"
        check = (f"; re-simulation matches the stored log's {self.events_checked:,} events up "
                 f"to then" if self.run_dir else "")
        return (f"the book at {when}{where}{check}; {self.queued} breaches queued, "
                f"${self.held_usd:,.0f} held by venue-side holders")

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "text": self.text()}


def is_run_folder(path: str | Path) -> bool:
    """A directory with a run's metadata file (``liqsim run``'s output)."""
    path = Path(path)
    return path.is_dir() and (path / RUN_FILE).is_file()


def world_at(scenario: Scenario, seed: int, at_ms: int) -> World:
    """The world of ``scenario`` at ``seed`` after every event of its run at or before
    ``at_ms`` (0 <= at_ms <= the duration)."""
    return _simulate(scenario, seed, at_ms)[0]


def _simulate(scenario: Scenario, seed: int, at_ms: int) -> tuple[World, pd.DataFrame]:
    at_ms = int(at_ms)
    if not 0 <= at_ms <= scenario.duration:
        raise MomentError(f"--at: {at_ms} ms is outside the run, 0 to {scenario.duration} ms "
                          f"({format_duration(scenario.duration)})")
    world, recorder = simulate_until(scenario, seed, at_ms)
    _as_of(world, at_ms)
    events = recorder.events()
    return world, events[events["time_ms"] <= at_ms].reset_index(drop=True)


def _as_of(world: World, at_ms: int) -> None:
    """Make the thrown-away world read as of ``at_ms`` where ``book`` reads it without a
    time: each market's re-centring brought up to T (the marks the time series observes at
    T), and each fund's caps as for a new event at T (its per-event room fresh, payments older
    than its period expired), so ``available()`` is what the fund could pay the next one."""
    for venue in world.venues:
        for m in range(len(venue.markets)):
            venue.sync(m, at_ms)
        for fund in venue.funds:
            fund.begin_event()
            fund.available(at_ms)  # expires the period's old payments


def parse_at(text: str | int) -> int:
    """Milliseconds ("5400000"), or a duration with one or more units ("90s", "1h30m")."""
    if isinstance(text, int) and not isinstance(text, bool):
        return text
    s = str(text).strip()
    if re.fullmatch(r"[0-9]+", s):
        return int(s)
    if not s or _PART.sub("", s).strip():
        raise MomentError(f"--at: cannot read {text!r}: give milliseconds, a duration "
                          f"('90s', '1h30m'), a UTC time of a replay run, or one of "
                          f"{', '.join(KEYWORDS)}")
    return sum(parse_duration(f"{n}{unit}") for n, unit in _PART.findall(s))


def _prefix_hash(events: pd.DataFrame) -> str:
    """``RunResult.event_log_hash`` of ``events`` (without the ``utc`` column)."""
    frame = events.drop(columns=[UTC_COLUMN], errors="ignore").reset_index(drop=True)
    return RunResult(summary={}, events=frame, timeseries=pd.DataFrame(),
                     accounts=pd.DataFrame(), cascade_edges=pd.DataFrame()).event_log_hash()


def resolve_moment(at: str | int, result: RunResult, scenario: Scenario) -> int:
    """Run time (ms) of ``at`` in the stored run ``result`` (see the module docstring)."""
    key = str(at).strip().lower()
    events, ts = result.events, result.timeseries
    if key == "shock":
        shocks = events.loc[events["kind"] == "shock", "time_ms"]
        if shocks.empty:
            raise MomentError("--at shock: the run has no shock event; give a time")
        return int(shocks.min())
    if key == "low":
        first = scenario.assets[0].name
        mine = ts[ts["asset"] == first].sort_values("time_ms", kind="stable")
        if mine.empty:
            raise MomentError(f"--at low: the run's time series has no rows of {first}")
        return int(mine["time_ms"].to_numpy()[int(np.argmin(mine["fundamental"].to_numpy()))])
    if key == "peak":
        liq = events[events["kind"] == "liquidation"]
        if liq.empty:
            raise MomentError("--at peak: the run liquidated nothing; give a time")
        per_minute = liq.groupby(liq["time_ms"].to_numpy() // MINUTE_MS)["notional"].sum()
        return int(per_minute.idxmax()) * MINUTE_MS  # the earliest of equal minutes
    try:
        return parse_at(at)
    except MomentError:
        epoch = parse_epoch(result.meta.get("epoch_utc"))
        when = _timestamp(key)
        if when is None:
            raise
        if epoch is None:
            raise MomentError(f"--at {at}: a UTC time needs a replay run (this run has no "
                              f"epoch); give a run time such as '90s'") from None
        return round((when - epoch).total_seconds() * 1000)


def _timestamp(text: str) -> pd.Timestamp | None:
    """``text`` as a UTC instant (naive times are UTC), or None if it is not a date-time."""
    if not re.match(r"^\d{4}-\d{2}-\d{2}", text):
        return None
    try:
        when = pd.Timestamp(text.upper())
    except ValueError:
        return None
    return when.tz_localize("UTC") if when.tzinfo is None else when.tz_convert("UTC")


def load_run(run_dir: str | Path) -> tuple[RunResult, Scenario, int]:
    """The stored run, its scenario as run and its seed."""
    run_dir = Path(run_dir)
    if not is_run_folder(run_dir):
        raise MomentError(f"{run_dir} is not a run folder (no {RUN_FILE})")
    try:
        result = RunResult.load(run_dir)
    except (OSError, ValueError, json.JSONDecodeError) as exc:
        raise MomentError(f"cannot read the run folder {run_dir}: {exc}") from None
    return result, parse_scenario(result.meta["scenario"]), int(result.meta["seed"])


def moment_of_run(run_dir: str | Path, at: str | int) -> tuple[World, Moment]:
    """The world of the stored run in ``run_dir`` at ``at``, re-simulated and verified against
    the stored event log up to then; refuses (``MomentError``) a T outside the run or a
    folder whose events the code here does not reproduce."""
    result, scenario, seed = load_run(run_dir)
    at_ms = resolve_moment(at, result, scenario)
    end = int(result.meta.get("simulated_ms", scenario.duration))
    if not 0 <= at_ms <= end:
        raise MomentError(f"--at {at}: {at_ms} ms is outside the run, 0 to {end} ms "
                          f"({format_duration(end)})")
    world, mine = _simulate(scenario, seed, at_ms)
    stored = result.events[result.events["time_ms"] <= at_ms]
    ours, theirs = _prefix_hash(mine), _prefix_hash(stored)
    if ours != theirs:
        raise MomentError(
            f"{run_dir} does not reproduce: re-simulating its scenario (seed {seed}) to "
            f"{at_ms} ms gives {len(mine):,} events, the stored log has {len(stored):,} up to "
            f"then, and they differ (another code version, or an edited folder)")
    epoch = parse_epoch(result.meta.get("epoch_utc"))
    utc = None if epoch is None else (epoch + pd.Timedelta(at_ms, unit="ms")).isoformat()
    return world, moment_of(world, at_ms, str(at), utc=utc, run_dir=str(run_dir),
                            events_checked=len(mine), prefix_sha256=ours)


def moment_of(world: World, at_ms: int, asked: str, **extra: Any) -> Moment:
    """The ``Moment`` record of ``world`` at ``at_ms``, with the queue and holders' state."""
    return Moment(at_ms=int(at_ms), asked=asked, queued=sum(len(v.queue) for v in world.venues),
                  held_usd=held_usd(world), **extra)


def held_usd(world: World) -> float:
    """Gross USD notional the venue-side holders (vault, fund and keeper rows) carry."""
    total = 0.0
    for venue in world.venues:
        rows = [r for r in (venue.rows.vault, *venue.rows.funds, *venue.rows.keepers)
                if r is not None]
        if not rows:
            continue
        total += float(notional_usd(venue, venue.accounts.pos[rows],
                                    venue.trigger_prices()).sum())
    return total


def slug(at_ms: int) -> str:
    """A folder-safe name of the moment: ``at_1m30s``."""
    return f"at_{format_duration(int(at_ms))}"

