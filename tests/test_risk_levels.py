"""The liquidation map's summary and the concentration of a stress cell's defaults
(``simulator.risk.levels``), on hand-built frames and on a world the map is built from."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from simulator import default_scenario
from simulator.risk import book, levels
from simulator.run.liquidation_map import liquidation_map


def _map() -> pd.DataFrame:
    return pd.DataFrame({
        "venue": "v", "market": "X", "side": ["long"] * 3 + ["short"] * 2,
        "move": [-0.05, -0.1, -0.25, 0.1, 0.3], "notional": [100.0, 200.0, 400.0, 50.0, 70.0],
        "positions": [1, 2, 4, 1, 3]})


def test_map_summary_adds_the_levels_within_each_distance():
    out = levels.map_summary(_map(), (0.05, 0.1, 0.3))
    longs = out[out["side"] == "long"].set_index("within")
    # 0.1 includes the level exactly at -10%; 0.3 every long level.
    assert longs["notional_usd"].tolist() == [100.0, 300.0, 700.0]
    assert longs["positions"].tolist() == [1, 3, 7]
    shorts = out[out["side"] == "short"].set_index("within")
    assert shorts["notional_usd"].tolist() == [0.0, 50.0, 120.0]
    with pytest.raises(ValueError, match="in \\(0, 1\\)"):
        levels.map_summary(_map(), (0.0,))


def test_map_summary_of_a_real_map_matches_its_cumulative_column():
    sc = default_scenario()
    lmap = liquidation_map(sc, 7, max_move=0.2)
    out = levels.map_summary(lmap, (0.2,))
    last = lmap.groupby(["venue", "market", "side"])["cumulative_notional"].last()
    got = out.set_index(["venue", "market", "side"])["notional_usd"]
    assert np.allclose(got.loc[last.index].to_numpy(), last.to_numpy())
    # The map of the world as built is the map of the scenario at the seed.
    again = liquidation_map(sc, 7, max_move=0.2, world=book.world_of(sc, 7))
    pd.testing.assert_frame_equal(lmap, again)


def _losses() -> pd.DataFrame:
    # Three owners on one venue in "all -20%"; owner a has two scopes (cross and isolated).
    return pd.DataFrame({
        "venue": "v", "scenario": ["all -20%"] * 4 + ["all -10%"],
        "account": ["a", "a/X", "b", "c", "a"], "owner": ["a", "a", "b", "c", "a"],
        "loss_usd": [500.0, 300.0, 900.0, 100.0, 50.0],
        "margin_usd": [400.0, 350.0, 300.0, 200.0, 400.0],
        "notional_usd": [6000.0, 2000.0, 16000.0, 4000.0, 1000.0]})


def test_owner_losses_add_each_scopes_shortfall():
    per = levels.owner_losses(_losses()).set_index(["scenario", "owner"])
    # a: max(0, 500-400) + max(0, 300-350) = 100 (the isolated surplus backs only itself).
    assert per.loc[("all -20%", "a"), "bad_debt_usd"] == 100.0
    assert per.loc[("all -20%", "a"), "notional_usd"] == 8000.0
    assert per.loc[("all -20%", "b"), "bad_debt_usd"] == 600.0
    assert per.loc[("all -20%", "c"), "bad_debt_usd"] == 0.0


def test_stress_concentration_of_a_three_owner_cell():
    out = levels.stress_concentration(_losses(), "all -20%")
    notional = out[(out["measure"] == "liquidated_notional") & (out["group"] == "all")].iloc[0]
    # Notionals 8000, 16000, 4000 of 28000: HHI (4+16+1)/49, top-1 4/7.
    assert notional["hhi"] == pytest.approx(21 / 49)
    assert notional["top1_share"] == pytest.approx(4 / 7)
    assert notional["n"] == 3 and notional["cell"] == "all -20%"
    bad = out[(out["measure"] == "bad_debt") & (out["group"] == "all")].iloc[0]
    # Bad debt 100, 600, 0: the largest owner holds 6/7 of it.
    assert bad["top1_share"] == pytest.approx(6 / 7) and bad["total"] == 700.0
    assert levels.stress_concentration(_losses(), "X +5%").empty


def test_stress_cells_losses_carry_each_scopes_notional():
    sc = default_scenario()
    grid, losses = book.stress_cells(sc, 7, [-0.2])
    for (venue, cell), part in losses.groupby(["venue", "scenario"]):
        asset, move = cell.split(" ")
        row = grid[(grid["venue"] == venue) & (grid["asset"] == asset)
                   & np.isclose(grid["move"], float(move.rstrip("%")) / 100)]
        assert part["notional_usd"].sum() == pytest.approx(row["liquidated_usd"].item())
