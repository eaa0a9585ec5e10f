"""A book's depth profile read from a Binance-format depth-band file (``bookDepth``).

The file has one row per (snapshot, band): ``timestamp`` (UTC), ``percentage`` (-5 ... -1 bid
side, 1 ... 5 ask side: the cumulative band within that % of the mid), ``depth`` (base) and
``notional`` (quote). A market's ``depth: {csv, at, side}`` takes the snapshot nearest ``at``
(the first without it) and turns it into the profile the book is built from: cumulative USD
within each band's distance, of the ask side, the bid side, or their mean (``both``, since the
simulated book has one profile for both sides). Like a replay's ``synthetic`` path, a
``profile`` given beside ``csv`` stands in when the file is not there. Nothing here runs.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

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


def snapshot_profile(path: Path, at: datetime | None, side: Side) -> list[tuple[float, float]]:
    """The profile ``[(distance, cumulative USD), ...]`` of the snapshot nearest ``at``."""
    frame = read_depth_bands(path)
    times = frame["timestamp"].drop_duplicates().sort_values().reset_index(drop=True)
    if times.empty:
        raise DepthFileError(f"{path}: no snapshot in the depth file")
    if at is None:
        when = times.iloc[0]
    else:
        target = pd.Timestamp(at if at.tzinfo else at.replace(tzinfo=UTC))
        when = times.iloc[int((times - target).abs().argmin())]
    snap = frame[frame["timestamp"] == when]
    asks = snap[snap["percentage"] > 0].set_index("percentage")["notional"]
    bids = snap[snap["percentage"] < 0].set_index(-snap.loc[snap["percentage"] < 0,
                                                           "percentage"])["notional"]
    match side:
        case "ask":
            usd = asks
        case "bid":
            usd = bids
        case _:
            usd = (asks + bids.reindex(asks.index)) / 2
    usd = usd.dropna().sort_index()
    if usd.empty or (usd <= 0).any():
        raise DepthFileError(f"{path}: the snapshot of {when} has no usable {side} bands")
    return [(int(p) / 100, float(v)) for p, v in usd.items()]
