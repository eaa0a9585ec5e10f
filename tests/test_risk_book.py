"""The pre-crash risk report (``simulator.risk.book``, ``liqsim risk``), by hand and against runs.

Tiny world: one linear venue, X at 8000 (vol 50%), flat 0.5% maintenance and 100x max
leverage, a fund of 500 USD and three accounts (entries 8000):

- A: cross, long 1 X, 1000 USD: equity 1000 + (P - 8000), breached below 7035.18 (-12.06%).
- B: cross, short 2 X, 2000 USD: equity 2000 - 2 (P - 8000), breached above 8955.22.
- C: isolated long 0.5 X, margin 500: equity 500 + 0.5 (P - 8000), breached below 7035.18.

The market maker (row 0) holds the other side: long 0.5 X, no wallet, not liquidatable.
"""

from __future__ import annotations

import math
import re

import numpy as np
import pandas as pd
import pytest
from conftest import invoke
from test_inverse import account, venue
from test_liquidation_map import slow_world

from simulator import run
from simulator.config import parse_scenario
from simulator.risk import book


def tiny() -> dict:
    return {"name": "tiny", "duration": "400s",
            "assets": [{"name": "X", "price": 8000, "volatility": 0.5}], "shocks": [],
            "venues": [venue("lin", "linear", insurance_fund=500)],
            "accounts": [account("A", "lin", 1, 1000), account("B", "lin", -2, 2000),
                         account("C", "lin", 0.5, 0, margin=500)]}


@pytest.fixture(scope="module")
def world():
    return book.world_of(parse_scenario(tiny()), 0)


def test_exposure_by_hand(world):
    t = book.exposure_table(world).set_index("market")
    x = t.loc["X-PERP"]
    # Longs: maker 0.5 + A 1 + C 0.5 = 2 X = 16,000; short B 2 X = 16,000.
    assert (x["long_usd"], x["short_usd"], x["net_usd"], x["gross_usd"]) == (16000, 16000, 0,
                                                                               32000)
    assert (x["open_interest"], x["accounts_long"], x["accounts_short"]) == (2.0, 3, 1)
    assert x["initial_margin_usd"] == pytest.approx(32000 / 100)  # tier max leverage 100
    assert x["maintenance_usd"] == pytest.approx(0.005 * 32000)
    assert math.isnan(x["funding_interest"])  # funding disabled
    usd = t.loc["USD"]
    assert usd["kind"] == "collateral" and usd["long_usd"] == 3000 and usd["accounts_long"] == 2


def test_concentration_by_hand(world):
    table, lorenz = book.concentration(world)
    row = table[(table["measure"] == "gross") & (table["group"] == "all")].iloc[0]
    # Traders' gross: A 8000, B 16000, C 4000 -> shares 2/7, 4/7, 1/7 (the maker left out).
    assert row["n"] == 3 and row["total"] == 28000
    assert row["hhi"] == pytest.approx((4 + 16 + 1) / 49)
    assert row["gini"] == pytest.approx(6 / 21)  # 2 (1 + 4 + 12) / (3 x 7) - 4/3
    assert row["top1_share"] == pytest.approx(4 / 7)
    # Every account's effective leverage is 8: the same shares weighted by leverage.
    lev = table[(table["measure"] == "leverage_weighted") & (table["group"] == "all")].iloc[0]
    assert lev["total"] == 8 * 28000 and lev["hhi"] == pytest.approx(row["hhi"])
    curve = lorenz[(lorenz["measure"] == "gross") & (lorenz["group"] == "all")]
    assert curve["y"].tolist() == pytest.approx([0, 1 / 7, 3 / 7, 1])


def test_parametric_var_by_hand(world):
    v = book.parametric_var(world)
    normal99 = v[(v["dist"] == "normal") & (v["level"] == 0.99)]
    # B: -16,000 USD of X, sigma = 16000 x 0.5 / sqrt(365); traders: 8000 - 16000 + 4000.
    b = normal99[(normal99["scope"] == "account") & (normal99["account"] == 2)].iloc[0]
    assert b["sigma"] == pytest.approx(16000 * 0.5 / math.sqrt(365))
    assert b["var"] == pytest.approx(2.326348 * b["sigma"], rel=1e-6)
    venue_row = normal99[normal99["scope"] == "venue"].iloc[0]
    assert venue_row["sigma"] == pytest.approx(4000 * 0.5 / math.sqrt(365))
    t99 = v[(v["scope"] == "venue") & (v["dist"] == "t") & (v["level"] == 0.99)].iloc[0]
    assert t99["var"] == pytest.approx(2.6495 * venue_row["sigma"], rel=1e-4)  # docs/risk.md
    # Every account with a position has its own rows, the maker (0.5 X) too.
    assert set(v.loc[v["scope"] == "account", "account"]) == {0, 1, 2, 3}
    assert len(v) == (4 + 2) * 3 * 2  # (accounts, venue, all) x levels x distributions


def test_stress_cells_by_hand():
    sc = parse_scenario(tiny())
    grid, losses = book.stress_cells(sc, 0, moves=[-0.2, -0.1, 0.0, 0.2])
    g = grid.set_index("move")
    assert list(grid["asset"].unique()) == ["X", "all"]
    x = grid[grid["asset"] == "X"].set_index("move")
    # -10% (7200): A 200 > 36, C 100 > 18: nothing.
    assert x.loc[-0.1, "positions"] == 0 and x.loc[-0.1, "bad_debt_usd"] == 0
    # -20% (6400): A at -600, C at -300: 900 of bad debt, 500 from the fund, 400 to ADL;
    # notional 1 x 6400 + 0.5 x 6400.
    row = x.loc[-0.2]
    assert (row["positions"], row["accounts"]) == (2, 2)
    assert row["liquidated_usd"] == pytest.approx(9600)
    assert row["bad_debt_usd"] == pytest.approx(900)
    assert (row["fund_drawdown_usd"], row["adl_usd"]) == (pytest.approx(500), pytest.approx(400))
    # +20% (9600): B at 2000 - 3200 = -1200.
    assert x.loc[0.2, "bad_debt_usd"] == pytest.approx(1200) and x.loc[0.2, "positions"] == 1
    assert g.loc[0.0, "liquidated_usd"].tolist() == [0, 0]
    # One asset: "all" is the same move.
    pd.testing.assert_frame_equal(
        grid[grid["asset"] == "all"].drop(columns="asset").reset_index(drop=True),
        grid[grid["asset"] == "X"].drop(columns="asset").reset_index(drop=True))
    cell = losses[losses["scenario"] == "X -20%"].set_index("account")
    assert sorted(cell.index) == ["A", "C/X-PERP"]
    # Margin = equity at the start, loss = its fall: 1000 and 1600 for A.
    assert (cell.loc["A", "margin_usd"], cell.loc["A", "loss_usd"]) == (1000, 1600)


def test_cover2_by_hand(world):
    sc = parse_scenario(tiny())
    grid, losses = book.stress_cells(sc, 0, moves=[-0.2, 0.2], world=world)
    c2 = book.cover2(world, losses, grid).set_index("scenario")
    down = c2.loc["X -20%"]
    # Uncovered: A 600, C 300 -> 900 through the 500 fund, 400 to ADL.
    assert down["defaulters"] == "A, C" and down["uncovered_usd"] == pytest.approx(900)
    assert down["insurance_fund_usd"] == pytest.approx(500)
    assert down["adl_usd"] == pytest.approx(400) and down["deepest_layer"] == "adl"
    up = c2.loc["X +20%"]
    assert up["defaulters"] == "B" and up["insurance_fund_usd"] == pytest.approx(500)
    assert up["adl_usd"] == pytest.approx(700)


def test_a_bad_grid_is_refused():
    with pytest.raises(ValueError, match="0 < step <= max_move < 1"):
        book.default_moves(0.3, 0.5)
    assert book.default_moves(0.1, 0.05).tolist() == [-0.1, -0.05, 0.0, 0.05, 0.1]


@pytest.mark.parametrize("over", ["1s", "15m"])
def test_the_static_pass_against_a_run(over):
    """test_liquidation_map's world (deep books, no responses, a huge fund), BTC -15%: as a
    gap (over 1 s) the run liquidates the static pass's accounts at about its prices, so the
    notional and the bad debt agree; slowly (15 min) the same accounts, at higher prices on
    the way down (the static notional is a lower bound) and with no bad debt to speak of."""
    data = slow_world()
    data["shocks"][0]["over"] = over
    sc = parse_scenario(data)
    cell = book.stress_grid(sc, 4, moves=[-0.15])
    cell = cell[cell["asset"] == "BTC"].iloc[0]
    res = run(sc, seed=4, check=True)
    assert res.ok, res.meta["error"]
    ev = res.events
    liq = ev[ev["kind"] == "liquidation"]
    fund = ev[ev["kind"] == "insurance_fund"]
    paid = -float(fund.loc[fund["reason"] == "bad_debt", "amount"].sum())
    assert liq["account"].nunique() == cell["accounts"] > 300
    ran = float(liq["notional"].sum())
    if over == "1s":
        assert ran == pytest.approx(cell["liquidated_usd"], rel=1e-3)
        # The run fills half a book level below the moved price: slightly more bad debt.
        assert cell["bad_debt_usd"] <= paid == pytest.approx(cell["bad_debt_usd"], rel=2e-3)
    else:
        assert cell["liquidated_usd"] < ran < cell["liquidated_usd"] / 0.85
        assert paid < 0.01 * cell["bad_debt_usd"]
    assert cell["fund_drawdown_usd"] == cell["bad_debt_usd"] and cell["adl_usd"] == 0
    assert np.isfinite(cell["liquidated_usd"])


def test_liqsim_risk_writes_every_file_and_a_self_contained_page(tmp_path):
    import yaml

    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump(tiny()))
    out = tmp_path / "r"
    result = invoke("risk", path, "--out", out, "--max-move", "20%", "--step", "10%")
    assert result.exit_code == 0, result.output
    for name in ("exposure", "concentration", "var", "stress", "cover2", "lorenz",
                 "liquidation_map"):
        assert not pd.read_parquet(out / f"{name}.parquet").empty
    stress = pd.read_parquet(out / "stress.parquet")
    assert sorted(set(stress["move"].round(6))) == [-0.2, -0.1, 0.0, 0.1, 0.2]
    assert stress.loc[(stress["asset"] == "X") & (stress["move"] == -0.2),
                      "bad_debt_usd"].item() == pytest.approx(900)
    for name in ("stress_liquidated", "stress_bad_debt", "lorenz", "var", "liquidation_map"):
        for fmt in ("png", "svg"):
            assert (out / "figures" / f"{name}.{fmt}").stat().st_size > 0
    page = (out / "risk.html").read_text()
    # Self-contained: every image inline (SVG markup, or a data URI), nothing relative.
    assert re.findall(r'src="(?!data:)', page) == [] and "<svg" in page
    assert page.count("<svg") == len(list((out / "figures").glob("*.svg"))) >= 6
    assert "Cover-2" in page and "Liquidation levels" in page
    assert "&quot;name&quot;: &quot;tiny&quot;" in page  # the scenario as run
    assert "$0.00M / $0.00M" in result.output and "risk report in" in result.output


def test_liqsim_risk_refuses_a_bad_grid():
    result = invoke("risk", "--max-move", "20%", "--step", "30%")
    assert result.exit_code == 2 and "--max-move/--step" in result.output
    result = invoke("risk", "--step", "lots")
    assert result.exit_code == 2 and "--step" in result.output


def test_an_inverse_venues_book_in_usd():
    # test_inverse's account: long 1.25 @ 8000 with 4000 USD, on a linear venue (1.25 X) and
    # an inverse one (10,000 contracts, 0.5 coin). At -30% (5600) the inverse equity is
    # 0.5 + 10000 (1/8000 - 1/5600) = -0.0357 coin = -200 USD: bad debt 200; the linear one
    # keeps 4000 - 1.25 x 2400 = 1000 > 35 of maintenance.
    from test_inverse import world as inverse_world

    data = inverse_world("-50%", [account("L", "lin", 1.25, 4000),
                                  account("I", "inv", 1.25, 4000)])
    sc = parse_scenario(data)
    w = book.world_of(sc, 0)
    grid = book.stress_grid(sc, 0, moves=[-0.3], world=w)
    cells = grid[grid["asset"] == "X"].set_index("venue")
    assert cells.loc["inv", "bad_debt_usd"] == pytest.approx(200)
    assert cells.loc["inv", "liquidated_usd"] == pytest.approx(10000)
    assert cells.loc["lin", "positions"] == 0
    exposure = book.exposure_table(w).set_index(["venue", "market"])
    assert exposure.loc[("inv", "X-PERP"), "long_usd"] == pytest.approx(10000)
    assert exposure.loc[("inv", "coin"), "long_usd"] == pytest.approx(4000)
    # USD delta: linear 1.25 x 8000; inverse 10,000 of contracts + 0.5 coin x 8000.
    delta, _ = book.linear_exposure(w)
    traders = delta[delta["liquidatable"]].set_index("venue")["X"]
    assert traders.loc["lin"] == pytest.approx(10000)
    assert traders.loc["inv"] == pytest.approx(14000)
