"""Tests for markets.prices.klines: parsing Binance kline CSVs and building replay series."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from markets.prices.klines import KlineError, kline_replay_series, read_klines
from markets.prices.paths import Replay, build_paths

DATA = Path(__file__).resolve().parent / "data"
SMALL = DATA / "klines_small.csv"
BAD = DATA / "klines_bad.csv"
REAL = Path(__file__).resolve().parents[2] / "shared" / "data" / "klines" / (
    "BTCUSDT-1m-2025-10-10.csv"
)
HEADER = (
    "open_time,open,high,low,close,volume,close_time,quote_volume,count,"
    "taker_buy_volume,taker_buy_quote_volume,ignore"
)


def _write(tmp_path: Path, text: str, name: str = "k.csv") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_read_small_file() -> None:
    df = read_klines(SMALL)
    assert len(df) == 30
    assert df["open_time"].dtype == np.int64
    for col in ("open", "high", "low", "close", "volume"):
        assert df[col].dtype == np.float64
    assert df["open_time"].iloc[0] == 1_704_067_200_000
    assert np.all(np.diff(df["open_time"]) == 60_000)
    first = df.iloc[0]
    assert (first["open"], first["high"], first["low"], first["close"]) == (
        42000.0, 42046.5, 41968.2, 42028.7,
    )
    assert df["low"].min() == 40992.5
    assert int(df["low"].idxmin()) == 14
    assert df["close"].iloc[-1] == 41953.8


def test_headerless_and_five_column_variants(tmp_path: Path) -> None:
    ref = read_klines(SMALL)
    body = SMALL.read_text().splitlines()[1:]
    headerless = read_klines(_write(tmp_path, "\n".join(body) + "\n", "noheader.csv"))
    pd.testing.assert_frame_equal(headerless, ref)
    five = "\n".join(",".join(line.split(",")[:5]) for line in body)
    narrow = read_klines(_write(tmp_path, five + "\n", "five.csv"))
    assert list(narrow.columns) == ["open_time", "open", "high", "low", "close"]
    pd.testing.assert_frame_equal(narrow, ref[narrow.columns])


def test_microsecond_open_time_is_converted(tmp_path: Path) -> None:
    text = "1760119200000000,10,11,9,10.5\n1760119260000000,10.5,12,10,11\n"
    df = read_klines(_write(tmp_path, text))
    assert df["open_time"].tolist() == [1_760_119_200_000, 1_760_119_260_000]
    assert df["open_time"].dtype == np.int64


def test_bad_fixture_names_value_column_and_row() -> None:
    with pytest.raises(KlineError) as err:
        read_klines(BAD)
    msg = str(err.value)
    assert "klines_bad.csv" in msg
    assert "non-numeric value 'n/a'" in msg
    assert "'close'" in msg
    assert "row 3" in msg


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("open_time,open,high,low,volume\n1,2,3,1,5\n", "missing column(s) close"),
        ("1,2,3,1\n2,2,3,1\n", "missing column(s) close"),
        ("open_time,open,high,low,close\n0,1,2,1,1\n60000,1,2,1,0\n", "non-positive price 0.0"),
        ("open_time,open,high,low,close\n0,1,2,1,1\n60000,1,1,2,1\n", "high 1.0 < low 2.0"),
        ("open_time,open,high,low,close\n0,1,2,1,1\n0,1,2,1,1\n", "duplicated open_time 0"),
        ("open_time,open,high,low,close\n60000,1,2,1,1\n0,1,2,1,1\n", "non-increasing"),
        ("open_time,open,high,low,close\n0,1,2,1,1\n60000,1,2,,1\n", "missing value in column"),
        ("open_time,open,high,low,close\n0.5,1,2,1,1\n", "not an integer"),
        ("open_time,open,high,low,close\n", "no data rows"),
        ("", "empty"),
    ],
)
def test_bad_files(tmp_path: Path, text: str, fragment: str) -> None:
    path = _write(tmp_path, text, "broken.csv")
    with pytest.raises(KlineError) as err:
        read_klines(path)
    assert fragment in str(err.value)
    assert "broken.csv" in str(err.value)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(KlineError, match="file not found"):
        read_klines(tmp_path / "nope.csv")


def _frame(rows: list[tuple[int, float, float, float, float]]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["open_time", "open", "high", "low", "close"])


def test_close_series() -> None:
    df = read_klines(SMALL)
    t, p = kline_replay_series(df)
    assert t.dtype == np.int64
    assert len(t) == 31
    assert t[:3].tolist() == [0, 60_000, 120_000]
    assert t[-1] == 30 * 60_000
    assert p[0] == 42000.0
    assert p[1:].tolist() == df["close"].tolist()


def test_open_high_low_series() -> None:
    df = _frame([(1000, 100, 110, 95, 105), (61_000, 105, 108, 90, 92)])
    t, p = kline_replay_series(df, "open")
    assert (t.tolist(), p.tolist()) == ([0, 60_000], [100.0, 105.0])
    t, p = kline_replay_series(df, "low")
    assert (t.tolist(), p.tolist()) == ([0, 60_000, 120_000], [100.0, 95.0, 90.0])


def test_ohlc_ordering_rule() -> None:
    # Bar 1 closes up (low first), bar 2 closes down (high first); bar 2's open coincides with
    # bar 1's close time and is dropped.
    df = _frame([(5000, 100, 110, 95, 105), (65_000, 105, 108, 90, 92)])
    t, p = kline_replay_series(df, "ohlc")
    assert t.tolist() == [0, 20_000, 40_000, 60_000, 80_000, 100_000, 120_000]
    assert p.tolist() == [100.0, 95.0, 110.0, 105.0, 108.0, 90.0, 92.0]


def test_ohlc_keeps_open_after_gap() -> None:
    # Median spacing is 60 s; the missing bar at 120 s leaves a gap, so the last open is kept.
    df = _frame([
        (0, 100, 110, 95, 105),
        (60_000, 105, 106, 101, 104),
        (180_000, 99, 99, 97, 98),
        (240_000, 98, 100, 96, 100),
    ])
    t, p = kline_replay_series(df, "ohlc")
    assert t.tolist()[7:] == [180_000, 200_000, 220_000, 240_000, 260_000, 280_000, 300_000]
    assert p.tolist()[7:] == [99.0, 99.0, 97.0, 98.0, 96.0, 100.0, 100.0]  # bar 3 closes down
    assert len(t) == 4 + 3 + 4 + 3
    assert np.all(np.diff(t) > 0)


def test_series_errors() -> None:
    df = _frame([(0, 100, 110, 95, 105)])
    with pytest.raises(KlineError, match="unknown field 'vwap'"):
        kline_replay_series(df, "vwap")
    with pytest.raises(KlineError, match="missing column"):
        kline_replay_series(df.drop(columns="high"), "ohlc")
    t, p = kline_replay_series(df, "close")  # a single bar assumes 1-minute spacing
    assert (t.tolist(), p.tolist()) == ([0, 60_000], [100.0, 105.0])


def test_replay_from_klines_drives_path() -> None:
    t, p = kline_replay_series(read_klines(SMALL), "ohlc")
    paths = build_paths([1000.0], [0.5], [0.0], [[1.0]], 20_000, 90, np.random.default_rng(0),
                        replays=[Replay(0, t, p)])
    # Every ohlc point sits on the 20 s grid, so the path reproduces it exactly (rescaled).
    idx = t // 20_000
    np.testing.assert_allclose(paths.prices[idx, 0], 1000.0 * p / p[0], rtol=1e-12)
    assert paths.prices[:, 0].min() == pytest.approx(1000.0 * 40992.5 / 42000.0, rel=1e-12)


@pytest.mark.skipif(not REAL.exists(), reason="shared Binance sample not available")
def test_real_btc_crash_day() -> None:
    df = read_klines(REAL)
    assert len(df) == 420
    assert df["low"].min() == 101516.5
    t, p = kline_replay_series(df, "ohlc")
    assert p.min() == 101516.5
    assert np.all(np.diff(t) > 0)
