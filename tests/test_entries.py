"""Entries from history (a population's entry prices drawn from the replayed bars before the
start, by volume) and spare collateral (collateral beyond the initial margin, drawn apart from
the leverage)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from agents.population import EntryLadder
from markets.events import NullSink
from simulator import default_scenario, run
from simulator.config import ScenarioError, parse_scenario
from simulator.config.entries import Entries, history_bars
from simulator.run.build import build_world

T0 = 1_760_119_200_000  # 2025-10-10T18:00:00Z in ms
START = "2025-10-10T18:02:00Z"  # the third bar


def klines(path: Path, bars: list[tuple[float, float, float, float]]) -> Path:
    """One-minute bars of (open, low, high, quote volume); close = open, base volume 1."""
    rows = ["open_time,open,high,low,close,volume,close_time,quote_volume"]
    rows += [f"{T0 + k * 60_000},{o},{h},{lo},{o},1,{T0 + k * 60_000 + 59_999},{q}"
             for k, (o, lo, h, q) in enumerate(bars)]
    path.write_text("\n".join(rows) + "\n")
    return path


# Two bars before the start, disjoint ranges [90, 94] and [104, 110], 10% and 90% of the
# volume; the start bar opens at 100 (the reference the ratios are taken against).
BARS = [(92, 90, 94, 1e6), (107, 104, 110, 9e6), (100, 99, 101, 5e6), (100, 99, 101, 5e6)]


def scenario(csv: Path | str, entries: dict | None = None, **block: object) -> dict:
    retail = {"name": "retail", "venue": "v", "count": 4000, "markets": {"X-PERP": 1},
              "leverage": {2: 1}, "long_share": 0.5, "entry_spread": 0.0,
              "response": {"none": 1, "top_up": 0, "reduce": 0}}
    if entries is not None:
        retail["entries"] = entries
    retail.update(block)
    return {
        "name": "entries", "duration": "1m", "clock": {"oracle_interval": "1s"},
        "assets": [{"name": "X", "price": 1000, "volatility": 0}],
        "replays": [{"asset": "X", "csv": str(csv), "start": START, "field": "open"}],
        "venues": [{"name": "v", "insurance_fund": 0, "markets": [{
            "name": "X-PERP", "asset": "X", "tick": 0.01,
            "tiers": [{"notional": 0, "mmr": "1%", "max_leverage": 50}],
            "depth": {"profile": [["1%", 1e7]]}}]}],
        "populations": [retail],
    }


def entries_of(sc: dict) -> np.ndarray:
    world = build_world(parse_scenario(sc), 5, NullSink())
    acc = world.venues[0].accounts
    rows = np.flatnonzero(world.accounts["group"].to_numpy() == "retail")
    return acc.entry[rows, 0]


def test_a_ladder_picks_a_bar_by_weight_and_a_price_uniform_within_it():
    ladder = EntryLadder(np.array([0.9, 1.04]), np.array([0.94, 1.10]), np.array([0.25, 0.75]))
    # u_bar below 0.25 -> the first bar, above -> the second; u_within places it in [low, high].
    ratios = ladder.ratios(np.array([0.1, 0.2499, 0.25, 0.99]), np.array([0.5, 0.0, 1.0, 0.5]))
    assert ratios == pytest.approx([0.92, 0.90, 1.10, 1.07])


def test_history_bars_are_the_bars_before_the_start_relative_to_its_open(tmp_path):
    sc = parse_scenario(scenario(klines(tmp_path / "k.csv", BARS), {"source": "history"}))
    bars = history_bars(sc.replays[0], sc.populations[0].entries)
    assert bars.low == pytest.approx([0.90, 1.04])
    assert bars.high == pytest.approx([0.94, 1.10])
    assert bars.weight == pytest.approx([0.1, 0.9])  # by quote volume
    assert bars.before_ms.tolist() == [120_000, 60_000]
    equal = history_bars(sc.replays[0], Entries(source="history", weight="equal"))
    assert equal.weight == pytest.approx([0.5, 0.5])
    last = history_bars(sc.replays[0], Entries(source="history", lookback="1m"))
    assert last.low == pytest.approx([1.04])


def test_entries_follow_the_volume_of_the_bars_before_the_start(tmp_path):
    entry = entries_of(scenario(klines(tmp_path / "k.csv", BARS), {"source": "history"}))
    # The asset starts at 1000: entries lie in [900, 940] or [1040, 1100], about 90% in the
    # second. 2x leverage longs entered at 1100 are 9% under water with 50% margin: none is
    # breached, so no entry is redrawn or moved to the start price.
    low = (entry >= 900 - 1e-9) & (entry <= 940 + 1e-9)
    high = (entry >= 1040 - 1e-9) & (entry <= 1100 + 1e-9)
    assert (low | high).all()
    assert 0.87 < high.mean() < 0.93
    # Within the busy bar the draw is uniform: its mean sits at the middle, 1070.
    assert entry[high].mean() == pytest.approx(1070, abs=2)


def test_survivors_only_the_entries_a_breach_would_have_removed_are_redrawn(tmp_path):
    # 50x shorts entered at 900-940 would be far below maintenance at 1000: redrawn, they
    # end in the busy bar's range above the start price (a short entered higher is in profit).
    sc = scenario(klines(tmp_path / "k.csv", BARS), {"source": "history"}, long_share=0.0,
                  leverage={50: 1})
    entry = entries_of(sc)
    busy = (entry >= 1040 - 1e-9) & (entry <= 1100 + 1e-9)
    # 10% of first draws land in the quiet bar and are redrawn until they leave it (nine
    # draws all in it, 1e-9 a position, would leave one at the start price): all end busy.
    assert busy.all()


def test_the_spread_is_still_the_default_and_a_missing_file_falls_back_to_it(tmp_path):
    csv = klines(tmp_path / "k.csv", BARS)
    assert np.allclose(entries_of(scenario(csv)), 1000)  # spread 0: all at the start price
    sc = scenario(tmp_path / "none-such.csv", {"source": "history"})
    sc["replays"][0]["synthetic"] = [["0s", 1.0], ["1m", 0.9]]
    assert np.allclose(entries_of(sc), 1000)  # the stand-in path has no past bars


@pytest.mark.parametrize(("change", "message"), [
    ({"start": None}, "give the replay a start"),
    ({"start": "2025-10-10T18:00:00Z"}, "no bar of .* opens before the replay's start"),
])
def test_history_without_bars_before_the_start_is_a_clear_error(tmp_path, change, message):
    sc = scenario(klines(tmp_path / "k.csv", BARS), {"source": "history"})
    sc["replays"][0].update(change)
    if change["start"] is None:
        del sc["replays"][0]["start"]
    with pytest.raises(ScenarioError, match=r"populations\[0\]\.entries: .*" + message):
        parse_scenario(sc)


def test_history_needs_a_replayed_market(tmp_path):
    sc = scenario(klines(tmp_path / "k.csv", BARS), {"source": "history"})
    sc["replays"] = []
    with pytest.raises(ScenarioError, match="source history needs a replayed asset"):
        parse_scenario(sc)


def test_spare_collateral_is_drawn_apart_from_the_leverage(tmp_path):
    csv = klines(tmp_path / "k.csv", BARS)
    sc = parse_scenario(scenario(csv, spare_collateral={0: 1, 1: 1, 3: 2}))
    world = build_world(sc, 5, NullSink())
    acc = world.venues[0].accounts
    table = world.accounts
    rows = np.flatnonzero(table["group"].to_numpy() == "retail")
    margin = np.abs(acc.pos[rows, 0]) * acc.entry[rows, 0] / 2  # 2x at entry 1000
    multiple = acc.wallet[rows] / margin - 1
    assert set(np.round(multiple, 9)) == {0.0, 1.0, 3.0}
    shares = [np.mean(np.isclose(multiple, s)) for s in (0, 1, 3)]
    assert shares == pytest.approx([0.25, 0.25, 0.5], abs=0.03)
    # The chosen leverage is 2x for all; the effective leverage 2 / (1 + spare).
    assert (table.loc[rows, "leverage"] == 2).all()
    assert np.allclose(table.loc[rows, "effective_leverage"], 2 / (1 + multiple))
    # Positions are those drawn without spare collateral (the spare is drawn after them).
    plain = build_world(parse_scenario(scenario(csv)), 5, NullSink()).venues[0].accounts
    assert np.array_equal(plain.pos[rows], acc.pos[rows])


def test_spare_collateral_saves_positions_in_a_crash():
    base = default_scenario()
    spared = base.with_overrides(["populations.retail.spare_collateral={1: 1}"])
    plain, cushioned = run(base, 7).summary, run(spared, 7).summary
    assert cushioned["liquidated_notional"] < 0.8 * plain["liquidated_notional"]


def test_the_default_scenario_draws_no_spare_and_no_history():
    retail = default_scenario().populations[0]
    assert retail.entries.source == "spread" and retail.spare_collateral == {}
