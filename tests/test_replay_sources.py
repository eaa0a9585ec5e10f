"""Replay sources: a kline file from a UTC start, hand-made waypoints, and the waypoints standing
in for a file that is not there (how ``oct-2025-like`` runs from a fresh install)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import yaml

from simulator.config import ScenarioError
from simulator.config.scenario import load_scenario, parse_scenario
from simulator.run.build import build_paths_for

T0 = 1_760_119_200_000  # 2025-10-10T18:00:00Z in ms


def klines(path: Path, opens: list[float]) -> Path:
    """One-minute bars opening at ``opens`` (flat bars: high = low = close = open)."""
    rows = ["open_time,open,high,low,close,volume"]
    rows += [f"{T0 + k * 60_000},{p},{p},{p},{p},1" for k, p in enumerate(opens)]
    path.write_text("\n".join(rows) + "\n")
    return path


def scenario(replay: dict, duration: str = "3m") -> dict:
    return {
        "name": "replay", "duration": duration, "clock": {"oracle_interval": "1s"},
        "assets": [{"name": "X", "price": 100, "volatility": 0}],
        "replays": [{"asset": "X", **replay}],
        "venues": [{"name": "v", "insurance_fund": 0, "markets": [{
            "name": "X-PERP", "asset": "X", "tick": 0.01,
            "tiers": [{"notional": 0, "mmr": "1%", "max_leverage": 50}],
            "depth": {"profile": [["1%", 1000]]}}]}],
    }


def path_of(sc: dict, base_dir: Path | None = None) -> np.ndarray:
    parsed = parse_scenario(sc, base_dir=base_dir)
    return build_paths_for(parsed, np.random.default_rng(0)).prices[:, 0]


def test_start_skips_the_bars_that_open_before_it(tmp_path):
    csv = klines(tmp_path / "k.csv", [200, 210, 220, 240, 250])
    # From the third bar (18:02 UTC) on, rescaled to the asset's 100: 220 -> 100, 240 -> 109.09.
    prices = path_of(scenario({"csv": str(csv), "field": "open",
                               "start": "2025-10-10T18:02:00Z"}))
    assert prices[0] == pytest.approx(100.0)
    assert prices[60] == pytest.approx(100 * 240 / 220)
    assert prices[120] == pytest.approx(100 * 250 / 220)
    # halfway through a bar, the opens are interpolated in log price
    assert prices[30] == pytest.approx(100 * np.sqrt(220 * 240) / 220)


def test_a_start_without_a_zone_is_utc_and_one_after_the_file_is_an_error(tmp_path):
    csv = klines(tmp_path / "k.csv", [200, 210, 220])
    naive = path_of(scenario({"csv": str(csv), "field": "open", "start": "2025-10-10T18:01:00"}))
    assert naive[60] == pytest.approx(100 * 220 / 210)
    with pytest.raises(ScenarioError, match="no bar opens at or after start"):
        path_of(scenario({"csv": str(csv), "field": "open", "start": "2025-10-11T00:00:00Z"}))


def test_waypoints_are_the_path_without_a_file():
    prices = path_of(scenario({"synthetic": [["0s", 1.0], ["1m", 0.9], ["2m", 0.99]]}))
    assert prices[0] == pytest.approx(100.0)
    assert prices[60] == pytest.approx(90.0)
    assert prices[30] == pytest.approx(100 * np.sqrt(0.9))  # linear in log price between them
    assert prices[120] == pytest.approx(99.0)


def test_waypoints_stand_in_for_a_missing_file_and_the_config_says_so(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # nothing named data/ above tmp_path's folder
    sc = scenario({"csv": "data/none-such.csv", "synthetic": [["0s", 1.0], ["1m", 0.9]]})
    parsed = parse_scenario(sc, base_dir=tmp_path)
    assert parsed.replays[0].csv is None
    assert parsed.to_dict()["replays"][0]["csv"] is None
    assert path_of(sc, tmp_path)[60] == pytest.approx(90.0)
    # The file, once there, is found from a sub-folder of the one holding it and wins.
    (tmp_path / "data").mkdir()
    klines(tmp_path / "data" / "none-such.csv", [100, 50, 50, 50])
    (tmp_path / "scenarios").mkdir()
    found = parse_scenario(sc, base_dir=tmp_path / "scenarios").replays[0].csv
    assert found == tmp_path / "data" / "none-such.csv"
    assert path_of({**sc, "replays": [{**sc["replays"][0], "field": "open"}]},
                   tmp_path / "scenarios")[60] == pytest.approx(50.0)


@pytest.mark.parametrize("replay, message", [
    ({"synthetic": [["1s", 1.0], ["1m", 0.9]]}, "first waypoint must be at time 0"),
    ({"synthetic": [["0s", 1.0], ["1m", 0.9], ["1m", 0.8]]}, "waypoint times must increase"),
    ({"synthetic": [["0s", 1.0]]}, "at least two waypoints"),
    ({"synthetic": [["0s", 1.0], ["1m", -1]]}, "replays[0].synthetic"),
    ({}, "a replay needs a csv file or a synthetic path"),
])
def test_bad_waypoints_get_a_clear_message(replay, message):
    with pytest.raises(ScenarioError, match=message.replace("[", r"\[").replace("]", r"\]")):
        parse_scenario(scenario(replay))


def test_a_file_that_is_there_but_broken_is_an_error_even_with_waypoints(tmp_path):
    bad = tmp_path / "k.csv"
    bad.write_text("open_time,open\nnot,numbers\n")
    with pytest.raises(ScenarioError, match=r"replays\[0\]\.csv"):
        parse_scenario(scenario({"csv": str(bad), "synthetic": [["0s", 1.0], ["1m", 0.9]]}))


def test_a_scenario_file_finds_its_data_beside_the_project(tmp_path, monkeypatch):
    # <root>/shared/data/k.csv and <root>/project/scenarios/s.yaml: the file is found by
    # going up from the scenario's folder, as the built-in oct-2025-like finds ../shared.
    (tmp_path / "shared").mkdir()
    klines(tmp_path / "shared" / "k.csv", [100, 120, 120])
    folder = tmp_path / "project" / "scenarios"
    folder.mkdir(parents=True)
    (folder / "s.yaml").write_text(yaml.safe_dump(scenario({"csv": "shared/k.csv",
                                                            "field": "open"})))
    monkeypatch.chdir(folder)
    parsed = load_scenario(folder / "s.yaml")
    assert parsed.replays[0].csv == tmp_path / "shared" / "k.csv"


def test_end_drops_the_bars_that_open_at_or_after_it(tmp_path):
    csv = klines(tmp_path / "k.csv", [200, 210, 220, 240, 250])
    window = {"csv": str(csv), "field": "open", "start": "2025-10-10T18:01:00Z",
              "end": "2025-10-10T18:03:00Z"}
    cut = path_of(scenario(window))
    whole = path_of(scenario({**window, "end": None}))
    assert cut[60] == pytest.approx(100 * 220 / 210)
    # The bars of 18:01 and 18:02 only: the 18:03 bar's 240 is never reached.
    assert cut.max() == pytest.approx(100 * 220 / 210)
    assert whole.max() == pytest.approx(100 * 250 / 210)
    with pytest.raises(ScenarioError, match="must be after start"):
        parse_scenario(scenario({**window, "end": "2025-10-10T18:00:00Z"}))
