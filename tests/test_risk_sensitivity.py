"""Margin sensitivity of the static stress pass (``simulator.risk.sensitivity``), by hand.

test_risk_book's tiny world (X at 8000, flat 0.5% maintenance, 100x) plus D: cross long 1 X
with 1640 USD. At -20% (6400) A (-600) and C (-300) are under water whatever the rate; D has
1640 - 1600 = 40 of equity against 0.5% x 6400 = 32 of maintenance: safe at the scenario's
rate, breached at 1.5 x 0.5% (48), safe at 0.5 x 0.5% (16).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from conftest import invoke
from test_inverse import account
from test_risk_book import tiny

from simulator.config import parse_scenario
from simulator.risk.sensitivity import margin_sensitivity, scaled_scenario


def with_d() -> dict:
    data = tiny()
    data["accounts"].append(account("D", "lin", 1, 1640))
    return data


def test_one_more_account_breaches_at_one_and_a_half_times_the_rate():
    sc = parse_scenario(with_d())
    s = margin_sensitivity(sc, 0, move=-0.2, steps=(-0.5, 0.5)).set_index("step")
    assert s.index.tolist() == [0.0, -0.5, 0.5] and set(s["what"]) == {"mmr"}
    # Step 0 and x0.5: A 6400 + C 0.5 x 6400 = 9600; bad debt 600 + 300.
    assert s.loc[0.0, "liquidated_usd"] == pytest.approx(9600)
    assert s.loc[-0.5, "liquidated_usd"] == pytest.approx(9600)
    # x1.5: D too, 6400 more; its equity is positive, so no more bad debt.
    assert s.loc[0.5, "liquidated_usd"] == pytest.approx(16000)
    assert s["bad_debt_usd"].tolist() == pytest.approx([900, 900, 900])
    # Arc elasticity ln(16000 / 9600) / ln 1.5.
    assert s.loc[0.5, "liquidated_elasticity"] == pytest.approx(math.log(5 / 3) / math.log(1.5))
    assert s.loc[0.5, "liquidated_elasticity"] == pytest.approx(1.25985, rel=1e-5)
    assert s.loc[-0.5, "liquidated_elasticity"] == 0 and s.loc[0.5, "bad_debt_elasticity"] == 0
    assert math.isnan(s.loc[0.0, "liquidated_elasticity"])


def test_elasticity_is_nan_where_nothing_is_liquidated():
    # -11.9% (7048): A has 48 of equity, 35.24 of maintenance at 0.5%, 52.86 at 0.75%; C is
    # half of A. D has 688 and stays. x1.5 liquidates A and C: 1.5 x 7048, from nothing.
    s = margin_sensitivity(parse_scenario(with_d()), 0, move=-0.119,
                           steps=(0.5,)).set_index("step")
    assert s.loc[0.0, "liquidated_usd"] == 0
    assert s.loc[0.5, "liquidated_usd"] == pytest.approx(10572)
    assert s.loc[0.5, "bad_debt_usd"] == 0
    assert s[["liquidated_elasticity", "bad_debt_elasticity"]].isna().all().all()


def test_higher_maintenance_never_liquidates_less():
    # Longs and shorts of 1 X with 1610 ... 1670 USD: at +-20% their equity is 10 ... 70
    # against 0.5% x 6400 = 32 (at -20%) of maintenance, 8 ... 56 over the steps.
    data = tiny()
    for k, cash in enumerate(np.linspace(1610, 1670, 7)):
        data["accounts"].append(account(f"L{k}", "lin", 1, float(cash)))
        data["accounts"].append(account(f"S{k}", "lin", -1, float(cash)))
    sc = parse_scenario(data)
    steps = (-0.75, -0.5, -0.25, 0.25, 0.5, 0.75)
    for move in (-0.25, -0.2, -0.15, 0.15, 0.2, 0.25):
        s = margin_sensitivity(sc, 0, move=move, steps=steps)
        liq = s.sort_values("step")["liquidated_usd"].to_numpy()
        assert (np.diff(liq) >= 0).all(), (move, liq)
        # Bad debt is equity short of zero, breached at any rate: the same at every step.
        assert s["bad_debt_usd"].nunique() == 1
    s = margin_sensitivity(sc, 0, move=-0.2, steps=steps).set_index("step")
    # x0.25 (8): none; x0.5 (16): L0 (10); x1.75 (56): L0 ... L4 (10 ... 50); plus A and C.
    assert s.loc[-0.75, "liquidated_usd"] == pytest.approx(9600)
    assert s.loc[-0.5, "liquidated_usd"] == pytest.approx(9600 + 6400)
    assert s.loc[0.75, "liquidated_usd"] == pytest.approx(9600 + 5 * 6400)


def test_a_step_the_scenario_refuses_is_skipped_with_a_note():
    data = tiny()
    data["venues"][0]["markets"][0]["tiers"][0]["mmr"] = "0.8%"  # x1.5 at 100x: 120% >= 1
    s = margin_sensitivity(parse_scenario(data), 0, steps=(-0.5, 0.5)).set_index("step")
    assert "refused" in s.loc[0.5, "note"] and "not below the initial margin" in s.loc[0.5, "note"]
    assert s.loc[[0.5], ["liquidated_usd", "bad_debt_usd"]].isna().all().all()
    assert s.loc[-0.5, "note"] == "" and s.loc[-0.5, "liquidated_usd"] == pytest.approx(9600)


def test_leverage_caps_are_scaled_and_the_static_pass_does_not_see_them():
    sc = parse_scenario(with_d())
    tier = scaled_scenario(sc, 0.5, "leverage_cap").venues[0].markets[0].tiers[0]
    assert (tier.max_leverage, tier.mmr) == (50, 0.005)
    assert scaled_scenario(sc, 1.5, "mmr").venues[0].markets[0].tiers[0].mmr == \
        pytest.approx(0.0075)
    # Hand-built positions are not drawn against the cap, and the static pass checks
    # maintenance only: every step is the scenario's cell.
    s = margin_sensitivity(sc, 0, what="leverage_cap")
    assert set(s["what"]) == {"leverage_cap"} and len(s) == 5
    assert s["liquidated_usd"].tolist() == pytest.approx([9600] * 5)


def test_bad_arguments_are_refused():
    sc = parse_scenario(tiny())
    with pytest.raises(ValueError, match="what must be one of mmr, leverage_cap"):
        margin_sensitivity(sc, 0, what="fees")
    with pytest.raises(ValueError, match="above -100%"):
        margin_sensitivity(sc, 0, steps=(-1.0,))


def test_liqsim_risk_writes_the_sensitivity(tmp_path):
    import yaml

    path = tmp_path / "d.yaml"
    path.write_text(yaml.safe_dump(with_d()))
    out = tmp_path / "r"
    result = invoke("risk", path, "--out", out, "--max-move", "20%", "--step", "10%")
    assert result.exit_code == 0, result.output
    s = pd.read_parquet(out / "sensitivity.parquet")
    assert s.groupby("what").size().to_dict() == {"leverage_cap": 5, "mmr": 5}
    mmr = s[s["what"] == "mmr"].set_index("step")
    assert mmr.loc[0.5, "liquidated_usd"] == pytest.approx(16000)
    assert mmr.loc[-0.5, "liquidated_usd"] == pytest.approx(9600)
    for fmt in ("png", "svg"):
        assert (out / "figures" / f"sensitivity.{fmt}").stat().st_size > 0
    page = (out / "risk.html").read_text()
    assert ">Margin sensitivity</h2>" in page and 'id="table-sensitivity"' in page
    assert 'id="chart-sensitivity"' in page
