"""A book's depth profile read from a Binance-format depth-band file (``bookDepth``).

The file has one row per (snapshot, band): ``timestamp`` (UTC), ``percentage`` (-5 ... -1 bid
side, 1 ... 5 ask side: the cumulative band within that % of the mid), ``depth`` (base) and
``notional`` (quote). A market's ``depth: {csv, at, side}`` takes the snapshot nearest ``at``
(the first without it) and turns it into the profile the book is built from: cumulative USD
within each band's distance, of the ask side, the bid side, or their mean (``both``, since the
simulated book has one profile for both sides). Like a replay's ``synthetic`` path, a
``profile`` given beside ``csv`` stands in when the file is not there.

With a window ``[start, end)`` the book's depth also follows the file per minute
(``window_depth``): each minute's factor is its last snapshot's total (the side's band
notionals summed) over the profile snapshot's. The schedule is in UTC minutes; turning them
into run time is the run's business (``simulator.run.epoch``). Nothing here runs.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd

Side = Literal["both", "ask", "bid"]
COLUMNS = ("timestamp", "percentage", "notional")


class DepthFileError(ValueError):
    """A depth-band file that cannot give a profile; the message names the file."""


def read_depth_bands(path: Path) -> pd.DataFrame:
    """The file's rows with a UTC ``timestamp``, an integer ``percentage`` and ``notional``."""
    try:
        frame = pd.read_csv(path, skipinitialspace=True)
    except (OSError, ValueError) as exc:
        raise DepthFileError(f"{path}: cannot read the depth file ({exc})") from None
    missing = [c for c in COLUMNS if c not in frame.columns]
    if missing:
        raise DepthFileError(f"{path}: a depth-band file needs the columns "
                             f"{', '.join(COLUMNS)} (missing {', '.join(missing)})")
    try:
        frame["timestamp"] = pd.to_datetime(frame["timestamp"].astype(str).str.strip(), utc=True)
    except ValueError as exc:
        raise DepthFileError(f"{path}: unreadable timestamp ({exc})") from None
    frame["percentage"] = frame["percentage"].astype(int)
    return frame


def utc(when: datetime) -> pd.Timestamp:
    """``when`` as a UTC timestamp (a time without a zone is UTC, the files' zone)."""
    return pd.Timestamp(when if when.tzinfo else when.replace(tzinfo=UTC)).tz_convert(UTC)


def _snapshot_times(frame: pd.DataFrame, path: Path) -> pd.Series:
    times = frame["timestamp"].drop_duplicates().sort_values().reset_index(drop=True)
    if times.empty:
        raise DepthFileError(f"{path}: no snapshot in the depth file")
    return times


def _side_bands(frame: pd.DataFrame, side: Side) -> pd.DataFrame:
    """Per snapshot (rows), the cumulative USD of each band (columns 1 ... 5, %) of ``side``
    (``both``: the mean of the two sides)."""
    wide = frame.pivot_table(index="timestamp", columns="percentage", values="notional",
                             aggfunc="last")
    asks = wide[[c for c in wide.columns if c > 0]]
    bids = wide[[c for c in wide.columns if c < 0]].rename(columns=lambda c: -c)
    match side:
        case "ask":
            return asks
        case "bid":
            return bids.sort_index(axis=1)
        case _:
            return (asks + bids.reindex(columns=asks.columns)) / 2


def _side_usd(frame: pd.DataFrame, when: pd.Timestamp, side: Side, path: Path) -> pd.Series:
    """Cumulative USD by band (1 ... 5, %) of the snapshot at ``when``, of ``side``."""
    usd = _side_bands(frame[frame["timestamp"] == when], side).iloc[0].dropna().sort_index()
    if usd.empty or (usd <= 0).any():
        raise DepthFileError(f"{path}: the snapshot of {when} has no usable {side} bands")
    return usd


def _side_totals(frame: pd.DataFrame, side: Side, path: Path) -> pd.Series:
    """Per snapshot, the sum of ``_side_usd`` (the side's band USD), in one pass."""
    usd = _side_bands(frame, side)
    bad = usd.isna().all(axis=1) | (usd <= 0).any(axis=1)
    if bad.any():
        raise DepthFileError(f"{path}: the snapshot of {usd.index[bad.argmax()]} has no usable "
                             f"{side} bands")
    return usd.sum(axis=1)


def _nearest(times: pd.Series, at: datetime) -> pd.Timestamp:
    return times.iloc[int((times - utc(at)).abs().argmin())]


def snapshot_profile(path: Path, at: datetime | None, side: Side) -> list[tuple[float, float]]:
    """The profile ``[(distance, cumulative USD), ...]`` of the snapshot nearest ``at``."""
    frame = read_depth_bands(path)
    times = _snapshot_times(frame, path)
    when = times.iloc[0] if at is None else _nearest(times, at)
    return [(int(p) / 100, float(v)) for p, v in _side_usd(frame, when, side, path).items()]


def window_depth(
    path: Path, start: datetime, end: datetime, side: Side, at: datetime | None = None,
) -> tuple[list[tuple[float, float]], list[tuple[datetime, float]]]:
    """The profile (the snapshot nearest ``at``, else ``start``) and the per-minute schedule
    ``[(minute, factor), ...]`` over ``[start, end)``: for each minute from ``start``'s, the
    last snapshot in the window at or before the minute's end, its side's band total over the
    profile snapshot's. Minutes before the window's first snapshot get no point."""
    lo, hi = utc(start), utc(end)
    if hi <= lo:
        raise DepthFileError(f"{path}: the window's end ({hi}) must be after its start ({lo})")
    frame = read_depth_bands(path)
    times = _snapshot_times(frame, path)
    reference = _nearest(times, start if at is None else at)
    profile = _side_usd(frame, reference, side, path)
    inside = times[(times >= lo) & (times < hi)].reset_index(drop=True)
    if inside.empty:
        raise DepthFileError(f"{path}: no snapshot between {lo} and {hi} (the file's run "
                             f"from {times.iloc[0]} to {times.iloc[-1]})")
    minutes = pd.date_range(lo.floor("min"), hi, freq="min", inclusive="left")
    last = inside.searchsorted(minutes + pd.Timedelta(minutes=1), side="right") - 1
    keep = last >= 0
    used = inside.iloc[np.unique(last[keep])]
    totals = _side_totals(frame[frame["timestamp"].isin(used)], side, path) / float(profile.sum())
    schedule = [(m.to_pydatetime(), float(totals[inside.iloc[k]]))
                for m, k in zip(minutes[keep], last[keep], strict=True)]
    return [(int(p) / 100, float(v)) for p, v in profile.items()], schedule
