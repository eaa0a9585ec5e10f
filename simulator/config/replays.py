"""A replayed path in a scenario: an asset's fundamental read from a kline file from a UTC start
time on, or a hand-made path of waypoints, which also stands in for a file that is not there.

The stand-in is what lets a scenario built on third-party data (which may not be copied into
the project) run from a fresh install: with the data beside it, the real path; without it,
a synthetic path of the same shape, and the effective config written with every run says
which one it was (a run without the file has ``csv: null``).

``mode`` says what the path stands for: ``fundamental`` (the default) the asset's value, on
which simulated trades add their impact; ``traded`` the traded price, which already holds the
bars' real taker flow, so only simulated flow beyond it moves prices (``flow`` gives the
per-bar budgets, ``markets.absorption`` spends them). Nothing here runs anything.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd
from pydantic import Field, PositiveFloat, ValidationInfo, field_validator, model_validator

from markets.prices.klines import KlineError, kline_flow, kline_replay_series, read_klines
from simulator.config.base import Strict
from simulator.config.units import Duration, Fraction


def data_paths(path: Path, base: str | Path | None) -> list[Path]:
    """Where a relative kline path may be: under the scenario's folder or the working folder,
    or under one of their parents (third-party data sits beside the project, not in it, and
    an installed scenario's folder is not the project's)."""
    starts = ([Path(base).resolve()] if base is not None else []) + [Path.cwd()]
    out = [start / path for start in starts]  # the folders themselves come first
    out += [parent / path for start in starts for parent in start.parents]
    return list(dict.fromkeys(out))


class Replay(Strict):
    """Replay a historical path (Binance kline CSV) as an asset's fundamental.

    ``csv`` is read relative to the scenario file's folder, then to the working folder, then
    to their parents (first found).
    ``start`` (UTC) skips the bars that open before it, ``end`` (UTC) those that open at or
    after it. ``synthetic`` is a path of
    ``[time, price]`` waypoints (from 0, linear in log price between them); it is the path
    when ``csv`` is not given, and the fallback when the file does not exist (a file that
    exists but cannot be read is an error, never a silent fallback).

    ``mode: traded`` takes the path as the traded price: the simulated market stands for
    ``absorbed_share`` of each bar's real net taker flow, and orders up to that budget on
    its side leave the price alone (see ``flow``). It needs the file's taker volumes; a
    stand-in path (``csv: null``) has none, so it runs as ``fundamental``."""

    asset: str
    # Before csv: the file's validator needs to know whether there is a stand-in.
    synthetic: list[tuple[Duration, PositiveFloat]] = []
    csv: Path | None = None
    start: datetime | None = None
    end: datetime | None = None
    field: Literal["open", "high", "low", "close", "ohlc"] = "ohlc"
    rescale: bool = True  # relative moves from the asset's start price
    mode: Literal["fundamental", "traded"] = "fundamental"
    # The simulated market's flow relative to the file's venue's (above 1: it stands for more,
    # e.g. the whole market on one venue's path; a scale multiplies it).
    absorbed_share: Fraction = Field(default=1.0, gt=0)

    @field_validator("start", "end")
    @classmethod
    def _utc(cls, start: datetime | None) -> datetime | None:
        # A time without a zone is read as UTC, the zone of kline open times.
        if start is not None and start.tzinfo is None:
            return start.replace(tzinfo=UTC)
        return start

    @field_validator("synthetic")
    @classmethod
    def _waypoints(cls, points: list[tuple[int, float]]) -> list[tuple[int, float]]:
        if points and points[0][0] != 0:
            raise ValueError("the first waypoint must be at time 0")
        if any(b[0] <= a[0] for a, b in zip(points, points[1:], strict=False)):
            raise ValueError("waypoint times must increase")
        if len(points) == 1:
            raise ValueError("a synthetic path needs at least two waypoints")
        return points

    @field_validator("csv")
    @classmethod
    def _located(cls, path: Path | None, info: ValidationInfo) -> Path | None:
        if path is None:
            return None
        base = (info.context or {}).get("base_dir")
        candidates = [path] if path.is_absolute() else data_paths(path, base)
        found = next((c for c in candidates if c.exists()), None)
        if found is None and info.data.get("synthetic"):
            return None  # the stand-in path is used, and the effective config says so
        try:
            read_klines(found or candidates[0])
        except KlineError as exc:
            raise ValueError(str(exc)) from None
        return found

    @model_validator(mode="after")
    def _source(self) -> Replay:
        if self.csv is None and not self.synthetic:
            raise ValueError("a replay needs a csv file or a synthetic path")
        if self.start is not None and self.end is not None and self.end <= self.start:
            raise ValueError(f"end ({self.end.isoformat()}) must be after start "
                             f"({self.start.isoformat()})")
        if self.csv is not None and (self.start is not None or self.end is not None):
            try:
                self.series()
            except KlineError as exc:
                raise ValueError(str(exc)) from None
        if self.mode == "fundamental" and self.absorbed_share != 1.0:
            raise ValueError("absorbed_share applies only to mode: traded")
        if self.mode == "traded" and self.csv is not None:
            try:
                self.flow()
            except KlineError as exc:
                raise ValueError(f"{self.csv}: {exc}") from None
        return self

    def series(self) -> tuple[np.ndarray, np.ndarray]:
        """``(times_ms, prices)`` of the path, times from 0 (raises KlineError for a bad file)."""
        if self.csv is None:
            times, prices = zip(*self.synthetic, strict=True)
            return np.asarray(times, dtype=np.int64), np.asarray(prices, dtype=float)
        return kline_replay_series(self._bars(), self.field)

    def flow(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray] | None:
        """Per kept bar ``(start_ms, end_ms, sell_budget_usd, buy_budget_usd)``, times from 0
        as in ``series``: ``max(0, -net) x absorbed_share`` and ``max(0, net) x
        absorbed_share``, ``net = 2 x taker_buy_quote_volume - quote_volume``. None without a
        file (the stand-in path has no flow); raises KlineError when the file has no taker
        volume."""
        if self.csv is None:
            return None
        starts, ends, net = kline_flow(self._bars(flow=True))
        share = float(self.absorbed_share)
        return starts, ends, np.maximum(-net, 0.0) * share, np.maximum(net, 0.0) * share

    def _bars(self, flow: bool = False) -> pd.DataFrame:
        """The file's bars between ``start`` and ``end`` (raises KlineError)."""
        klines = read_klines(self.csv, flow=flow)
        if self.start is not None:
            start_ms = int(self.start.timestamp() * 1000)
            klines = klines[klines["open_time"] >= start_ms].reset_index(drop=True)
            if klines.empty:
                raise KlineError(f"{self.csv}: no bar opens at or after start {self.start}")
        if self.end is not None:
            end_ms = int(self.end.timestamp() * 1000)
            klines = klines[klines["open_time"] < end_ms].reset_index(drop=True)
            if klines.empty:
                raise KlineError(f"{self.csv}: no bar opens between start and end {self.end}")
        return klines
