"""Where a population's entry prices come from: a spread around the start price, or the
replayed path of the hours before the run starts.

With ``entries: {source: history}`` a market whose asset is replayed from a kline file draws
each position's entry from the bars *before* the replay's ``start``: a bar with probability
proportional to its traded volume (quote volume, or base volume at
the bar's typical price), then a price uniform between its low and high. The
positions open at the start are then the ones a real book would hold: entered where the
market traded, most where it traded most, so their liquidation prices form the ladder that
history left rather than a bell around today's price. Prices are taken relative to the
replay's price at its start (the first kept bar's open), as the replayed path is.

This module only reads the bars and validates the block; the draw is in
``agents.population``. Nothing here runs anything.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
from pydantic import Field

from markets.prices.klines import read_klines
from simulator.config.base import Strict
from simulator.config.replays import Replay
from simulator.config.units import Duration


class Entries(Strict):
    """``source: spread`` (default): log(entry / start price) is normal with standard deviation
    ``entry_spread``. ``source: history``: entries from the replayed bars before the start,
    within ``lookback`` of it (default: every earlier bar in the file), weighted by
    ``weight`` (``volume``: quote volume; ``equal``: every bar alike). Markets whose asset is not
    replayed from a file (or whose file is absent, so a stand-in path runs) use the spread."""

    source: Literal["spread", "history"] = "spread"
    lookback: Duration | None = Field(default=None, gt=0)
    weight: Literal["volume", "equal"] = "volume"


@dataclass(frozen=True)
class EntryBars:
    """The bars a market's entries are drawn from: low and high relative to the replay's price
    at the start, the draw weight of each bar (summing to 1), and how long before the start
    each bar opened (ms)."""

    low: np.ndarray
    high: np.ndarray
    weight: np.ndarray
    before_ms: np.ndarray


def history_bars(replay: Replay, entries: Entries) -> EntryBars | None:
    """The bars of ``replay``'s file before its start (None when it runs a stand-in path).

    Raises ValueError when there are no bars to draw from (no ``start``, or none within
    ``lookback``, or no volume in them)."""
    if replay.csv is None:
        return None
    bars = read_klines(replay.csv, flow=True)  # with quote_volume when the file has it
    if replay.start is None:
        raise ValueError(f"history needs the replay of {replay.asset} to start after its "
                         f"file's first bar: give the replay a start")
    start_ms = int(replay.start.timestamp() * 1000)
    after = bars[bars["open_time"] >= start_ms]
    if after.empty:
        raise ValueError(f"no bar of {replay.csv} opens at or after the replay's start")
    before = bars[bars["open_time"] < start_ms]
    if entries.lookback is not None:
        before = before[before["open_time"] >= start_ms - entries.lookback]
    if before.empty:
        raise ValueError(f"no bar of {replay.csv} opens before the replay's start "
                         f"{replay.start.isoformat()}" + ("" if entries.lookback is None
                                                          else " within the lookback"))
    if entries.weight == "volume":
        if "quote_volume" in before.columns:
            w = before["quote_volume"].to_numpy(dtype=float)
        elif "volume" in before.columns:  # base volume at the bar's typical price
            typical = (before["high"] + before["low"] + before["close"]) / 3
            w = (before["volume"] * typical).to_numpy(dtype=float)
        else:
            raise ValueError(f"{replay.csv} has no volume column to weight entries by "
                             f"(use weight: equal)")
        if not np.isfinite(w).all() or (w < 0).any() or w.sum() <= 0:
            raise ValueError(f"the bars of {replay.csv} before the start carry no volume "
                             f"(use weight: equal)")
    else:
        w = np.ones(len(before))
    ref = float(after["open"].iloc[0])
    return EntryBars(
        low=before["low"].to_numpy(dtype=float) / ref,
        high=before["high"].to_numpy(dtype=float) / ref,
        weight=w / w.sum(),
        before_ms=(start_ms - before["open_time"].to_numpy(dtype=np.int64)),
    )
