"""Depth per minute over a window of a depth-band file, and the profile's scale: the schedule's
factors, the book quoting profile x factor, validation, and what thinner books do to a crash.
Synthetic files in the format of shared/data's bookDepth; the real file only when it is there."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest

from markets.depth_schedule import DepthSchedule
from simulator import default_scenario
from simulator.config import ScenarioError, parse_scenario
from simulator.run.runner import run

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
REAL = SHARED / "BTCUSDT-bookDepth-2025-10-10.csv"
# Per minute from 21:00 UTC: the scale of its snapshots at :10 and :40 (asks k x 100M within k%,
# bids k x 80M). The profile is the snapshot nearest 21:00, 21:00:10 (scale 1); a minute's
# factor is its last snapshot's, the :40 one: 1.0, 0.6, 0.4, 0.25.
SCALES = [(1.0, 1.0), (0.8, 0.6), (0.5, 0.4), (0.3, 0.25)]
FACTORS = [1.0, 0.6, 0.4, 0.25]
WINDOW = {"start": "2025-10-10T21:00:00Z", "end": "2025-10-10T21:04:00Z"}


def bands(path: Path, scales: list[tuple[float, float]] = SCALES, hour: int = 21) -> Path:
    rows = ["timestamp,percentage,depth,notional,weighted_avg_price"]
    for minute, pair in enumerate(scales):
        for second, scale in zip((10, 40), pair, strict=True):
            for pct in (-5, -4, -3, -2, -1, 1, 2, 3, 4, 5):
                usd = scale * abs(pct) * (100e6 if pct > 0 else 80e6)
                rows.append(f"2025-10-10 {hour}:{minute:02d}:{second:02d},{pct},"
                            f"{usd / 1e5:.3f},{usd},100000")
    path.write_text("\n".join(rows) + "\n")
    return path


def scenario(depth: dict, duration: str = "4m") -> dict:
    """One market, no traders, no volatility: the book stays full, only the schedule moves it."""
    return {"name": "depth", "duration": duration,
            "assets": [{"name": "BTC", "price": 100_000, "volatility": 0}],
            "venues": [{"name": "v", "markets": [{
                "name": "BTC-PERP", "asset": "BTC", "tick": 0.1,
                "tiers": [{"notional": 0, "mmr": "0.5%", "max_leverage": 100}],
                "depth": depth}]}]}


def depth_of(depth: dict):
    return parse_scenario(scenario(depth)).venues[0].markets[0].depth


def test_the_schedule_step_function():
    s = DepthSchedule([0, 60_000, 120_000], [0.8, 0.5, 0.9])
    assert [s.at(t) for t in (-1, 0, 59_999, 60_000, 1e9)] == [1.0, 0.8, 0.8, 0.5, 0.9]
    assert DepthSchedule([5_000], [0.3]).at(4_999) == 1.0  # 1 before the first point
    for times, factors in (([0, 0], [1, 1]), ([0], [0.0]), ([0, 1], [1]), ([], [])):
        with pytest.raises(ValueError):
            DepthSchedule(times, factors)


def test_each_minute_takes_its_last_snapshot_over_the_profile_snapshot(tmp_path):
    csv = bands(tmp_path / "b.csv")
    d = depth_of({"csv": str(csv), "side": "ask", **WINDOW})
    assert d.profile == [(k / 100, k * 100e6) for k in range(1, 6)]
    assert [f for _, f in d.schedule] == pytest.approx(FACTORS, rel=1e-12)
    assert [t.isoformat() for t, _ in d.schedule] == [
        f"2025-10-10T21:0{m}:00+00:00" for m in range(4)]
    # A minute without a snapshot keeps the last one; `at` picks the profile snapshot.
    later = depth_of({"csv": str(csv), "side": "bid", "at": "2025-10-10T21:01:35Z",
                      "start": "2025-10-10T21:00:00Z", "end": "2025-10-10T21:06:00Z"})
    assert later.profile == [(k / 100, 0.6 * k * 80e6) for k in range(1, 6)]
    assert [f for _, f in later.schedule] == pytest.approx(
        [1 / 0.6, 1.0, 0.4 / 0.6, 0.25 / 0.6, 0.25 / 0.6, 0.25 / 0.6], rel=1e-12)


def test_the_book_quotes_profile_times_factor_in_each_minute(tmp_path):
    csv = bands(tmp_path / "b.csv")
    ts = run(parse_scenario(scenario({"csv": str(csv), "side": "ask", **WINDOW}))).timeseries
    for minute, factor in enumerate(FACTORS):
        row = ts[ts["time_ms"] == minute * 60_000 + 30_000].iloc[0]
        # within 1%: 100M on the ask side (the profile), times the minute's factor
        assert row["depth_ask_1pct"] == pytest.approx(100e6 * factor, rel=0.01)
        assert row["depth_bid_1pct"] == pytest.approx(100e6 * factor, rel=0.01)
        assert row["depth_factor"] == pytest.approx(factor, rel=1e-12)
    scaled = run(parse_scenario(scenario({"csv": str(csv), "side": "ask", "scale": 0.5,
                                          **WINDOW}))).timeseries
    assert scaled["depth_ask_1pct"].to_numpy() == pytest.approx(
        0.5 * ts["depth_ask_1pct"].to_numpy(), rel=1e-9)


def test_scale_multiplies_a_given_profile():
    base = {"profile": [["1%", 4e6], ["5%", 1e7]]}
    one = run(parse_scenario(scenario(base, "10s"))).timeseries["depth_ask_1pct"]
    three = run(parse_scenario(scenario({**base, "scale": 3}, "10s"))).timeseries
    assert three["depth_ask_1pct"].to_numpy() == pytest.approx(3 * one.to_numpy(), rel=1e-12)
    assert one.iloc[0] == pytest.approx(4e6, rel=0.01)
    with pytest.raises(ScenarioError, match="scale"):
        parse_scenario(scenario({**base, "scale": 0}))


def test_bad_windows_are_clear_errors(tmp_path):
    csv = str(bands(tmp_path / "b.csv"))
    cases = [
        ({"start": "2025-10-10T21:03:00Z", "end": "2025-10-10T21:01:00Z"}, "must be after"),
        ({"start": "2025-10-10T21:00:00Z"}, "needs both start and end"),
        ({"start": "2025-10-10T22:00:00Z", "end": "2025-10-10T23:00:00Z"}, "no snapshot between"),
        ({"start": "yesterday", "end": "2025-10-10T23:00:00Z"}, "is not a date-time"),
    ]
    for window, message in cases:
        with pytest.raises(ScenarioError, match=message):
            depth_of({"csv": csv, "side": "ask", **window})
    stand_in = [[0.01, 1e6]]
    with pytest.raises(ScenarioError, match="needs the window's start"):
        depth_of({"profile": stand_in, "schedule": [["2025-10-10T21:00:00Z", 0.5]]})
    with pytest.raises(ScenarioError, match="schedule times must increase"):
        depth_of({"profile": stand_in, **WINDOW, "schedule": [
            ["2025-10-10T21:01:00Z", 0.5], ["2025-10-10T21:00:00Z", 0.4]]})


def test_a_missing_file_has_no_schedule_and_the_effective_config_reruns_without_it(tmp_path):
    stand_in = [[0.01, 1e8], [0.05, 5e8]]
    missing = depth_of({"csv": str(tmp_path / "none.csv"), "profile": stand_in, **WINDOW})
    assert missing.csv is None and missing.schedule == []
    csv = bands(tmp_path / "b.csv")
    first = run(parse_scenario(scenario({"csv": str(csv), "side": "ask", **WINDOW})))
    effective = first.meta["scenario"]
    assert effective["venues"][0]["markets"][0]["depth"]["schedule"][1] == [
        "2025-10-10T21:01:00Z", pytest.approx(0.6)]
    csv.unlink()  # without the file, the written profile and schedule stand in
    again = run(parse_scenario(copy.deepcopy(effective)))
    assert again.meta["scenario"]["venues"][0]["markets"][0]["depth"]["csv"] is None
    assert again.event_log_hash() == first.event_log_hash()
    assert again.timeseries["depth_ask_1pct"].equals(first.timeseries["depth_ask_1pct"])


def _crash(tmp_path: Path, later: float) -> dict:
    """The default crash (BTC -12% at 3m) for 5 minutes, BTC's book from a window whose
    minutes from 1 on have ``later`` x the first minute's depth (scale: the default's 8M at
    1%)."""
    scales = [(1.0, 1.0)] + [(later, later)] * 5
    csv = bands(tmp_path / f"crash-{later}.csv", scales)
    data = default_scenario().to_dict()
    data["duration"] = "5m"
    data["venues"][0]["markets"][0]["depth"] = {
        "csv": str(csv), "side": "ask", "scale": 0.08,
        "start": "2025-10-10T21:00:00Z", "end": "2025-10-10T21:06:00Z"}
    return data


def test_a_schedule_that_halves_depth_deepens_the_crash(tmp_path):
    full = run(parse_scenario(_crash(tmp_path, 1.0)))
    half = run(parse_scenario(_crash(tmp_path, 0.5)))
    plain = default_scenario().to_dict()
    plain["duration"] = "5m"
    plain["venues"][0]["markets"][0]["depth"] = {
        "profile": [[k / 100, 0.08 * k * 100e6] for k in range(1, 6)]}
    # A schedule of ones is no schedule: the same run, event for event.
    assert run(parse_scenario(plain)).event_log_hash() == full.event_log_hash()
    # Half the book from minute 1 on (the shock is at 3m): more forced selling, and it moves
    # the price further (about 2,780 -> 3,120 liquidations, max drawdown 18% -> 23%).
    assert half.summary["liquidations"] > 1.05 * full.summary["liquidations"]
    assert half.summary["liquidated_notional"] > full.summary["liquidated_notional"]
    assert half.summary["max_drawdown"] > full.summary["max_drawdown"] + 0.02
    btc = [r.timeseries[r.timeseries["market"] == "BTC-PERP"]["mid"].min() for r in (full, half)]
    assert btc[1] < 0.97 * btc[0]


@pytest.mark.skipif(not REAL.exists(), reason="shared/data is not beside the project")
def test_the_real_ask_depth_fell_to_a_fifth_in_the_crash_hour():
    d = depth_of({"csv": str(REAL), "side": "ask", "at": "2025-10-10T19:00:00Z",
                  "start": "2025-10-10T21:00:00Z", "end": "2025-10-10T22:00:00Z"})
    factors = sorted(f for _, f in d.schedule)
    assert len(factors) == 60
    # The trough (21:20) is ~0.16-0.2 of 19:00's (shared/data/README's $57M against $351M
    # within +1%); the hour's median is about half.
    assert 0.1 < factors[0] < 0.3
    assert 0.3 < factors[30] < 0.7
