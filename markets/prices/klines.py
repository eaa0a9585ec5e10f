"""Reading Binance-format kline (candlestick) CSVs and turning them into replay paths.

Binance publishes 1-minute klines as CSV files (``data.binance.vision``); a replay of such a day
is the most direct way to drive the simulator with a real crash. This module parses and validates
those files and converts bars into a (times, prices) series that ``paths.Replay`` accepts.

It knows only about files, pandas and numpy: no simpy, no pydantic, nothing from ``agents`` or
``simulator``, and no network access (downloading data is someone else's job).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

# Column order of Binance kline files; the archive files sometimes ship without a header line.
KLINE_COLUMNS = (
    "open_time",
    "open",
    "high",
    "low",
    "close",
    "volume",
    "close_time",
    "quote_volume",
    "count",
    "taker_buy_volume",
    "taker_buy_quote_volume",
    "ignore",
)
REQUIRED = KLINE_COLUMNS[:5]
# The traded-volume columns a traded-price replay needs (``kline_flow``), in USD (quote).
FLOW_COLUMNS = ("quote_volume", "taker_buy_quote_volume")
PRICE_COLUMNS = ("open", "high", "low", "close")
FIELDS = ("open", "high", "low", "close", "ohlc")

# Binance switched spot files to microsecond timestamps in 2025; no millisecond timestamp before
# the year 5000 exceeds this, while every microsecond one after 1973 does.
_MICROSECOND_THRESHOLD = 1e14
_DEFAULT_INTERVAL_MS = 60_000


class KlineError(ValueError):
    """A kline file or frame is missing, malformed or inconsistent."""


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _normalise(name: str) -> str:
    return str(name).strip().lower().replace(" ", "_")


def read_klines(path: str | Path, flow: bool = False) -> pd.DataFrame:
    """Read and validate a Binance kline CSV (with or without header line).

    Returns a frame with int64 ``open_time`` (ms UTC) and float64 ``open``, ``high``, ``low``,
    ``close`` (plus float64 ``volume`` when the file has it, and with ``flow`` the
    ``FLOW_COLUMNS`` it has), indexed 0..n-1 in time order. ``flow`` is opt-in so that the
    frame others read (entry weights) stays what it was.
    With a header, columns are found by name; without one, by Binance's column order.
    Raises KlineError with one message naming the file and the problem.
    """
    p = Path(path)
    if not p.is_file():
        raise KlineError(f"{p}: file not found")
    try:
        with p.open("r", encoding="utf-8-sig") as fh:
            first_line = fh.readline().strip()
            fh.read()  # the whole file must be text, not only its first line
    except UnicodeDecodeError:
        raise KlineError(f"{p}: not a text CSV file (not valid UTF-8)") from None
    except OSError as exc:
        raise KlineError(f"{p}: cannot read file: {exc.strerror}") from None
    if "\x00" in first_line:
        raise KlineError(f"{p}: not a text CSV file (it holds NUL bytes)")
    if not first_line:
        raise KlineError(f"{p}: file is empty")
    has_header = not _is_number(first_line.split(",")[0].strip())

    try:
        # Read as text so that a bad cell can be reported with its value and row number.
        # na_filter=False: otherwise pandas silently turns "n/a", "null", ... into NaN and the
        # message could not show the offending text.
        raw = pd.read_csv(
            p,
            header=0 if has_header else None,
            dtype=str,
            encoding="utf-8-sig",
            na_filter=False,
        )
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        problem = " ".join(str(exc).split())
        raise KlineError(f"{p}: cannot parse CSV ({problem})") from None

    if not isinstance(raw.index, pd.RangeIndex):  # pandas made the extra fields an index
        raise KlineError(f"{p}: cannot parse CSV (data rows have more fields than the header "
                         f"has columns)")
    if has_header:
        raw.columns = [_normalise(c) for c in raw.columns]
        missing = [c for c in REQUIRED if c not in raw.columns]
        if missing:
            raise KlineError(f"{p}: missing column(s) {', '.join(missing)}")
    else:
        if raw.shape[1] < len(REQUIRED):
            raise KlineError(
                f"{p}: missing column(s) {', '.join(REQUIRED[raw.shape[1]:])} "
                f"(headerless file has {raw.shape[1]} columns, need at least {len(REQUIRED)})"
            )
        raw.columns = list(KLINE_COLUMNS[: raw.shape[1]]) + [
            f"extra_{i}" for i in range(max(0, raw.shape[1] - len(KLINE_COLUMNS)))
        ]
    if raw.empty:
        raise KlineError(f"{p}: no data rows")

    extra = ("volume", *FLOW_COLUMNS) if flow else ("volume",)
    wanted = list(REQUIRED) + [c for c in extra if c in raw.columns]
    out: dict[str, np.ndarray] = {}
    for col in wanted:
        text = raw[col]
        values = pd.to_numeric(text, errors="coerce")
        bad = values.isna().to_numpy()
        if bad.any():
            row = int(np.argmax(bad))
            cell = text.iloc[row]
            blank = pd.isna(cell) or not str(cell).strip()
            what = ("missing value" if blank else
                    f"non-finite value {str(cell).strip()!r}" if _is_number(str(cell)) else
                    f"non-numeric value {str(cell)!r}")
            raise KlineError(f"{p}: {what} in column '{col}' at data row {row + 1}")
        values = values.to_numpy(dtype=float)
        infinite = ~np.isfinite(values)
        if infinite.any():
            row = int(np.argmax(infinite))
            raise KlineError(f"{p}: non-finite value {str(text.iloc[row]).strip()!r} in column "
                             f"'{col}' at data row {row + 1}")
        out[col] = values

    t = out["open_time"]
    if np.any(t != np.floor(t)):
        row = int(np.argmax(t != np.floor(t)))
        raise KlineError(f"{p}: open_time {t[row]} at data row {row + 1} is not an integer")
    huge = np.abs(t) >= 2.0**62
    if huge.any():
        row = int(np.argmax(huge))
        raise KlineError(f"{p}: open_time {t[row]:g} at data row {row + 1} is out of range "
                         "(milliseconds or microseconds since 1970)")
    # Re-parse as integers: float64 is exact to 2**53, but int64 keeps µs values honest too.
    times = pd.to_numeric(raw["open_time"]).to_numpy().astype(np.int64)
    times = np.where(times > _MICROSECOND_THRESHOLD, times // 1000, times)

    for col in PRICE_COLUMNS:
        nonpos = out[col] <= 0
        if nonpos.any():
            row = int(np.argmax(nonpos))
            raise KlineError(
                f"{p}: non-positive price {out[col][row]} in column '{col}' at data row {row + 1}"
            )
    inverted = out["high"] < out["low"]
    if inverted.any():
        row = int(np.argmax(inverted))
        raise KlineError(
            f"{p}: high {out['high'][row]} < low {out['low'][row]} at data row {row + 1}"
        )
    steps = np.diff(times)
    if np.any(steps <= 0):
        row = int(np.argmax(steps <= 0)) + 2
        kind = "duplicated" if steps[row - 2] == 0 else "non-increasing"
        raise KlineError(f"{p}: {kind} open_time {times[row - 1]} at data row {row}")

    frame = pd.DataFrame({"open_time": times})
    for col in wanted[1:]:
        frame[col] = out[col]
    return frame


def _interval_ms(open_time: np.ndarray) -> int:
    """Bar length: the median spacing of open times (robust to the odd missing bar)."""
    if open_time.size < 2:
        return _DEFAULT_INTERVAL_MS  # a single bar carries no spacing; assume 1-minute bars
    return int(np.median(np.diff(open_time)))


def kline_replay_series(df: pd.DataFrame, field: str = "close") -> tuple[np.ndarray, np.ndarray]:
    """Turn klines into ``(times_ms, prices)`` for a replay, times relative to the first bar.

    * ``"close"`` / ``"high"`` / ``"low"``: the first bar's open at time 0, then the field's value
      of every bar at its close time (open_time + interval).
    * ``"open"``: every bar's open at its open time.
    * ``"ohlc"``: per bar O at +0, then L, H (bar closing up, close >= open) or H, L (closing
      down) at +1/3 and +2/3 of the interval, and C at +interval. Intrabar extremes matter for
      liquidations, so they are kept. A bar's open that falls on the previous bar's close time is
      dropped (same instant; replays need strictly increasing times), so contiguous bars after
      the first contribute three points.

    The interval is the median spacing of open times (60 s for a single bar).
    """
    if field not in FIELDS:
        raise KlineError(f"unknown field {field!r}; expected one of {', '.join(FIELDS)}")
    needed = ["open_time"] + (list(PRICE_COLUMNS) if field == "ohlc" else ["open", field])
    missing = [c for c in dict.fromkeys(needed) if c not in df.columns]
    if missing:
        raise KlineError(f"kline frame is missing column(s) {', '.join(missing)}")
    if len(df) == 0:
        raise KlineError("kline frame has no rows")

    ot = df["open_time"].to_numpy(dtype=np.int64)
    if np.any(np.diff(ot) <= 0):
        raise KlineError("kline frame open_time must be strictly increasing")
    rel = ot - ot[0]
    interval = _interval_ms(ot)
    if interval <= 0:
        raise KlineError(f"kline frame has a non-positive bar interval ({interval} ms)")
    opens = df["open"].to_numpy(dtype=float)

    if field == "open":
        return rel.astype(np.int64), opens.copy()
    if field in ("close", "high", "low"):
        times = np.concatenate(([0], rel + interval)).astype(np.int64)
        prices = np.concatenate(([opens[0]], df[field].to_numpy(dtype=float)))
        return times, prices

    highs = df["high"].to_numpy(dtype=float)
    lows = df["low"].to_numpy(dtype=float)
    closes = df["close"].to_numpy(dtype=float)
    # Bars followed by a closer-than-usual bar are shortened so all points stay in order.
    length = np.full(rel.shape, interval, dtype=np.int64)
    length[:-1] = np.minimum(interval, np.diff(rel))
    up = closes >= opens
    t = np.stack([rel, rel + length // 3, rel + (2 * length) // 3, rel + length], axis=1)
    px = np.stack(
        [opens, np.where(up, lows, highs), np.where(up, highs, lows), closes], axis=1
    )
    keep = np.ones(t.shape, dtype=bool)
    keep[1:, 0] = rel[1:] > t[:-1, 3]  # drop an open that coincides with the previous close
    return t[keep].astype(np.int64), px[keep].astype(float)


def kline_flow(df: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each bar's ``(start_ms, end_ms, net_usd)``: times relative to the first bar, as in
    ``kline_replay_series`` (a bar ends one interval after it opens, or when the next one
    opens if that is sooner), and the net taker flow ``2 x taker_buy_quote_volume -
    quote_volume`` (> 0: net buying, < 0: net selling).

    Raises KlineError when the frame has no traded volume (a taker column missing or all zero,
    as in a mark- or index-price series) or the volumes are inconsistent."""
    missing = [c for c in FLOW_COLUMNS if c not in df.columns]
    if "taker_buy_quote_volume" in missing or (
            not missing and not np.any(df["taker_buy_quote_volume"].to_numpy() != 0)):
        raise KlineError("mode: traded needs traded volume (taker_buy_quote_volume); this "
                         "file has none")
    if missing:
        raise KlineError("mode: traded needs traded volume (quote_volume); this file has none")
    if len(df) == 0:
        raise KlineError("kline frame has no rows")
    quote = df["quote_volume"].to_numpy(dtype=float)
    taker = df["taker_buy_quote_volume"].to_numpy(dtype=float)
    bad = (quote < 0) | (taker < 0) | (taker > quote * (1 + 1e-9))
    if bad.any():
        row = int(np.argmax(bad))
        raise KlineError(f"taker_buy_quote_volume {taker[row]} is not within [0, quote_volume "
                         f"{quote[row]}] at data row {row + 1}")
    ot = df["open_time"].to_numpy(dtype=np.int64)
    if np.any(np.diff(ot) <= 0):
        raise KlineError("kline frame open_time must be strictly increasing")
    rel = ot - ot[0]
    interval = _interval_ms(ot)
    length = np.full(rel.shape, interval, dtype=np.int64)
    length[:-1] = np.minimum(interval, np.diff(rel))
    return rel.astype(np.int64), rel + length, 2.0 * taker - quote
