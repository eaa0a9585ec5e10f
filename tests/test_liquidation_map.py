"""The liquidation map before a run, against the run itself.

World: the default's traders (fewer of them), no diffusion, books a million times deeper (no
forced sell moves a price), no margin-call responses, a fund large enough that nothing reaches
ADL or socialization, and BTC falling 15% in a straight line over 15 minutes (ETH held). Then
every BTC position the run liquidates is one the map puts within -15%, at the level it
breaches, so the two agree: the same positions, and the notional within the grid's spacing.
"""

from __future__ import annotations

import pandas as pd
import pytest
from conftest import invoke

from simulator import default_scenario, run
from simulator.config import parse_scenario
from simulator.run.liquidation_map import COLUMNS, grid, liquidation_map, map_totals


def slow_world() -> dict:
    data = default_scenario().to_dict()
    for a in data["assets"]:
        a["volatility"] = 0.0
    data["shocks"] = [{"asset": "BTC", "at": "0s", "move": "-15%", "over": "15m",
                       "co_move": False}]
    data["duration"] = "16m"
    v = data["venues"][0]
    v["insurance_fund"] = 1e12
    for m in v["markets"]:
        m["depth"]["profile"] = [[d, usd * 1e6] for d, usd in m["depth"]["profile"]]
        m["withdrawal"] = {"enabled": False}
    v["funding"] = {"enabled": False}
    for p in data["populations"]:
        p["response"] = {"none": 1.0}
    data["populations"][0]["count"] = 3000
    return data


@pytest.fixture(scope="module")
def both():
    scenario = parse_scenario(slow_world())
    frame = liquidation_map(scenario, seed=4, max_move=0.2, step=0.001)
    result = run(scenario, seed=4, check=True)
    assert result.ok, result.meta["error"]
    return frame, result


def test_the_map_liquidates_what_a_slow_move_liquidates(both):
    frame, result = both
    ev = result.events
    liq = ev[(ev["kind"] == "liquidation") & (ev["market"] == "BTC-PERP")]
    assert (liq["side"] == -1).all()  # a fall liquidates longs only
    assert not (ev["kind"] == "adl").any()
    mapped = frame[(frame["market"] == "BTC-PERP") & (frame["side"] == "long")
                   & (frame["move"] >= -0.15 - 1e-12)]
    assert int(mapped["positions"].sum()) == liq["account"].nunique() > 100
    total = map_totals(frame, -0.15).loc[("cex", "BTC-PERP")]
    # The map prices each position at its 0.1% level, the run at its 1 s tick's fill.
    assert total == pytest.approx(float(liq["notional"].sum()), rel=2e-3)
    # Level by level: the run liquidates a position at the first 1 s tick (0.017% apart)
    # below its threshold, filled half a book level (0.005%) lower; the map at the first 0.1%
    # level below it. So up to a level's price the run has the map's positions, and perhaps a
    # few of the next level's whose threshold lies within 0.03% of it.
    for move in (-0.03, -0.07, -0.12):
        price = 100_000 * (1 + move)
        ran = liq.loc[liq["price"] >= price * (1 - 0.0003), "account"].nunique()
        upto = int(mapped.loc[mapped["move"] >= move, "positions"].sum())
        assert upto <= ran <= upto + max(3, 0.02 * upto)


def test_the_map_has_both_sides_and_cumulates_outward(both):
    frame, _ = both
    btc = frame[frame["market"] == "BTC-PERP"]
    longs, shorts = btc[btc["side"] == "long"], btc[btc["side"] == "short"]
    assert (longs["move"] < 0).all() and (shorts["move"] > 0).all()
    assert (longs["price"] < 100_000).all() and (shorts["price"] > 100_000).all()
    for part in (longs, shorts):
        ordered = part.sort_values("move", key=abs)
        assert ordered["cumulative_notional"].is_monotonic_increasing
        assert ordered["cumulative_notional"].iloc[-1] == pytest.approx(part["notional"].sum())


def test_a_bad_grid_is_refused():
    with pytest.raises(ValueError, match="0 < step <= max_move < 1"):
        grid(0.2, 0.3)
    result = invoke("map", "--max-move", "1.5")
    assert result.exit_code == 2 and "--max-move/--step" in result.output


def test_liqsim_map_writes_the_table_chart_and_config(tmp_path):
    result = invoke("map", "--out", tmp_path / "m", "--set", "populations.retail.count=500",
                    "--max-move", "0.1")
    assert result.exit_code == 0, result.output
    frame = pd.read_parquet(tmp_path / "m" / "liquidation_map.parquet")
    assert set(frame["market"]) == {"BTC-PERP", "ETH-PERP"} and frame["move"].abs().max() <= 0.1
    for name in ("liquidation_map.png", "liquidation_map.pdf", "map.json"):
        assert (tmp_path / "m" / name).stat().st_size > 0
    assert "liquidation map in" in result.output and "longs" in result.output


def test_an_inverse_venues_map_is_in_usd_and_its_long_goes_sooner():
    # test_inverse's account on both venues: long 1.25 @ 8000 with 4000 USD. Liquidated below
    # 5742.86 on the inverse venue (the first 0.5% level below: -28.5%, 5720) and below 4824.1
    # on the linear one (-40%, 4800); notional: 10,000 contracts, and 1.25 x 4800.
    from test_inverse import account, world

    data = world("-50%", [account("L", "lin", 1.25, 4000), account("I", "inv", 1.25, 4000)])
    frame = liquidation_map(parse_scenario(data), seed=0, max_move=0.45, step=0.005)
    rows = frame.set_index("venue")[["side", "move", "price", "notional", "positions"]]
    assert rows.loc["inv"].tolist() == ["long", pytest.approx(-0.285), pytest.approx(5720),
                                        pytest.approx(10000), 1]
    assert rows.loc["lin"].tolist() == ["long", pytest.approx(-0.40), pytest.approx(4800),
                                        pytest.approx(6000), 1]


def test_a_map_with_nothing_in_range_keeps_its_columns():
    from test_inverse import account, world

    # A long with 10x the collateral it needs is not liquidated within 10% either way.
    frame = liquidation_map(parse_scenario(world("-50%", [account("L", "lin", 1.25, 40000)])),
                            seed=0, max_move=0.1, step=0.01)
    assert frame.empty and list(frame.columns) == list(COLUMNS)
    assert frame["notional"].dtype == float and frame["positions"].dtype == "int64"
