"""Depth from data: a market's profile read from a Binance-format depth-band file (a small
synthetic file in the format of ``shared/data``'s bookDepth), with a profile standing in when
the file is not there."""

from __future__ import annotations

from pathlib import Path

import pytest

from simulator.config import ScenarioError, parse_scenario

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"


def bands(path: Path) -> Path:
    rows = ["timestamp,percentage,depth,notional,weighted_avg_price"]
    for stamp, scale in (("2025-10-10 20:00:07", 1.0), (" 2025-10-10 21:20:05", 0.2)):
        for pct in (-5, -4, -3, -2, -1, 1, 2, 3, 4, 5):
            ask = pct > 0
            usd = scale * abs(pct) * (100e6 if ask else 80e6)
            rows.append(f"{stamp},{pct},{usd / 1e5:.3f},{usd},100000")
    path.write_text("\n".join(rows) + "\n")
    return path


def scenario(depth: dict) -> dict:
    return {"name": "depth", "duration": "1m",
            "assets": [{"name": "BTC", "price": 100_000, "volatility": 0}],
            "venues": [{"name": "v", "markets": [{
                "name": "BTC-PERP", "asset": "BTC", "tick": 0.1,
                "tiers": [{"notional": 0, "mmr": "0.5%", "max_leverage": 100}],
                "depth": depth}]}]}


def profile_of(depth: dict) -> list[tuple[float, float]]:
    sc = parse_scenario(scenario(depth))
    return [tuple(p) for p in sc.venues[0].markets[0].depth.profile]


def test_the_snapshot_nearest_the_time_gives_the_profile(tmp_path):
    csv = bands(tmp_path / "BTCUSDT-bookDepth.csv")
    asks = profile_of({"csv": str(csv), "at": "2025-10-10T21:00:00Z", "side": "ask"})
    assert asks == [(k / 100, 0.2 * k * 100e6) for k in range(1, 6)]  # 21:20 is nearer
    first = profile_of({"csv": str(csv), "side": "bid"})
    assert first == [(k / 100, k * 80e6) for k in range(1, 6)]  # no time: the first snapshot
    both = profile_of({"csv": str(csv), "at": "2025-10-10T20:00:00Z"})
    assert both == [(k / 100, k * 90e6) for k in range(1, 6)]  # the mean of the two sides


def test_a_missing_file_falls_back_to_the_profile_or_is_an_error(tmp_path):
    stand_in = [[0.01, 1e6], [0.05, 4e6]]
    assert profile_of({"csv": str(tmp_path / "none.csv"), "profile": stand_in}) == [
        (0.01, 1e6), (0.05, 4e6)]
    sc = parse_scenario(scenario({"csv": str(tmp_path / "none.csv"), "profile": stand_in}))
    assert sc.venues[0].markets[0].depth.csv is None  # the effective config says which
    with pytest.raises(ScenarioError, match="depth file .* not found"):
        parse_scenario(scenario({"csv": str(tmp_path / "none.csv")}))
    bad = tmp_path / "bad.csv"
    bad.write_text("time,pct\n1,2\n")
    with pytest.raises(ScenarioError, match="needs the columns timestamp, percentage"):
        parse_scenario(scenario({"csv": str(bad)}))


@pytest.mark.skipif(not (SHARED / "BTCUSDT-bookDepth-2025-10-10.csv").exists(),
                    reason="shared/data is not beside the project")
def test_binance_ask_depth_thinned_into_the_crash():
    csv = SHARED / "BTCUSDT-bookDepth-2025-10-10.csv"
    before = dict(profile_of({"csv": str(csv), "at": "2025-10-10T20:00:00Z", "side": "ask"}))
    during = dict(profile_of({"csv": str(csv), "at": "2025-10-10T21:20:00Z", "side": "ask"}))
    # shared/data/README: ~$351M within +1% before 20:50, ~$57M during 20:50-22:00.
    assert 250e6 < before[0.01] < 450e6 and 30e6 < during[0.01] < 100e6
