"""Dynamic margin and collateral health of ``liqsim risk`` (``simulator.risk.dynamic_margin``,
``simulator.risk.collateral_health``), by hand.

Path pass: the tiny book of tests/test_risk_book.py (X at 8000, flat 0.5% maintenance; A cross
long 1 X with 1000 USD, C isolated long 0.5 X with 500 margin, both breached below
7000 / 0.995 = 7035.18 at multiplier 1 and below 7000 / 0.985 = 7106.60 at 3) walked along
the hand path 8000, 7800, 7100, 6900 (one step a second). The 2.5% drop at 1 s puts the
realised vol at ~100 (annualised), so a rule with reference 1 jumps to its cap of 3: A and C
are closed at 7100 (2 s) with equity 100 and 50 (no bad debt); at multiplier 1 they are closed
at 6900 (3 s), 100 and 50 short of zero.

Collateral: BTC at 20000, a stablecoin S at 1 (haircut 2%), BTC also collateral (haircut 10%),
flat 4% maintenance. A holds 1000 S + 0.1 BTC (2780 after haircuts) and is long 3 BTC-PERP
(maintenance 2400: ratio 1.1583); B 1000 S (980) long 1.15 (920: ratio 1.0652); C 500 USD long
0.5 (400: ratio 1.25). S -10% takes 98 off A and B: only B (882 < 920) breaches; BTC -30% takes
540 off A only: 2240 < 2400.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import yaml
from conftest import invoke
from test_chart_quality import problems
from test_risk_book import tiny

from markets.prices.paths import PricePaths
from markets.risk_controls import MS_PER_YEAR, vol_multiplier
from simulator.charts import risk_margin
from simulator.config import parse_scenario
from simulator.config.mechanisms import VolatilityMargin
from simulator.risk import book
from simulator.risk import collateral_health as ch
from simulator.risk import dynamic_margin as dm

PATH = [8000.0, 7800.0, 7100.0, 6900.0]
CAPPED = VolatilityMargin(reference_vol=1.0, sensitivity=1.0, max_multiplier=3.0,
                          half_life="1s", step=0.5)


def path_world(rule: dict | None = None):
    """The tiny world with the hand path in place of its own (and the venue's own volatility
    margin ``rule``, if given)."""
    sc = tiny()
    if rule is not None:
        sc["venues"][0]["risk_controls"] = {"volatility_margin": rule}
    world = book.world_of(parse_scenario(sc), 0)
    world.paths = PricePaths(np.arange(4, dtype=np.int64) * 1000, np.array(PATH)[:, None])
    return world


def test_multiplier_equals_vol_multiplier_by_hand():
    rule = VolatilityMargin(reference_vol=1.0, sensitivity=0.01, max_multiplier=3.0,
                            half_life="1s", step=0.25)
    marks = np.array(PATH)[:, None]
    out = dm.multiplier_path(marks, np.arange(4) * 1000, rule)
    # One second at a half-life of one second: w = 1/2; var = w r^2 / dt per ms.
    r1, r2 = math.log(7800 / 8000), math.log(7100 / 7800)
    var1 = 0.5 * r1 * r1 / 1000
    var2 = 0.5 * var1 + 0.5 * r2 * r2 / 1000
    vol1, vol2 = math.sqrt(var1 * MS_PER_YEAR), math.sqrt(var2 * MS_PER_YEAR)
    assert vol1 == pytest.approx(100.54, abs=0.01)  # 1 + 0.01 x 99.54 = 1.995 -> 1.75
    assert out[:3, 0].tolist() == [1.0, 1.75, vol_multiplier(vol2, 1.0, 0.01, 3.0, 0.25)]
    assert out[1, 0] == vol_multiplier(vol1, 1.0, 0.01, 3.0, 0.25) == 1.75
    assert out[2, 0] == 3.0  # vol2 ~ 367: capped


def test_volatility_rule_breaches_earlier_with_less_bad_debt():
    world = path_world()
    before = world.venues[0].accounts.pos.copy()
    summary, path = dm.dynamic_margin(world, CAPPED, every_ms=1000)
    s = summary.set_index("rule")
    fixed, vol = s.loc["fixed"], s.loc["volatility"]
    assert (vol["source"], fixed["max_multiplier"], vol["max_multiplier"]) == ("default", 1, 3)
    # Volatility: A (1 X) and C (0.5 X) closed at 7100, at 2 s, equity 100 and 50.
    assert (vol["first_breach_ms"], vol["scopes"], vol["accounts"]) == (2000, 2, 2)
    assert vol["liquidated_usd"] == pytest.approx(1.5 * 7100) and vol["bad_debt_usd"] == 0
    # Fixed: the same two at 6900, at 3 s, 100 and 50 short of zero.
    assert (fixed["first_breach_ms"], fixed["scopes"], fixed["accounts"]) == (3000, 2, 2)
    assert fixed["liquidated_usd"] == pytest.approx(1.5 * 6900)
    assert fixed["bad_debt_usd"] == pytest.approx(150)
    one = path[path["rule"] == "volatility"]
    assert one["multiplier"].tolist() == [1, 3, 3, 3]
    assert one["liquidated_usd"].tolist() == pytest.approx([0, 0, 10650, 10650])
    assert path.loc[path["rule"] == "fixed", "bad_debt_usd"].tolist() == pytest.approx(
        [0, 0, 0, 150])
    # The world is left as built: positions and multipliers untouched.
    acc = world.venues[0].accounts
    assert (acc.pos == before).all() and (acc.mm_mult == 1).all()


def test_the_venues_own_rule_is_used_and_the_check_interval_coarsens():
    world = path_world({"reference_vol": 1.0, "sensitivity": 1.0, "max_multiplier": 3.0,
                        "half_life": "1s", "step": 0.5})
    # The default rule passed would never move (reference 1000): the venue's own is used.
    summary, _ = dm.dynamic_margin(world, VolatilityMargin(reference_vol=1000), every_ms=1000)
    assert summary.set_index("rule").loc["volatility", "source"] == "venue"
    assert summary.set_index("rule").loc["volatility", "first_breach_ms"] == 2000
    # Checked every 2 s (0, 2 s and the last step): the same closes.
    assert dm.check_steps(np.arange(4) * 1000, 2000).tolist() == [0, 2, 3]


def test_bad_rules_and_intervals_name_the_option():
    with pytest.raises(ValueError, match="--vol-max"):
        dm.volatility_rule(max_multiplier=0.5)
    with pytest.raises(ValueError, match="--margin-every"):
        dm.check_interval("0s")
    assert dm.volatility_rule(step=0.5, half_life="1m").half_life == 60000


def collateral() -> dict:
    venue = {
        "name": "cex", "insurance_fund": 100, "mark": {"method": "mid"},
        "liquidation": {"fee_rate": 0, "throughput_per_s": 1000000, "latency": "0ms"},
        "funding": {"enabled": False},
        "collateral": [{"asset": "S", "haircut": 0.02}, {"asset": "BTC", "haircut": 0.1}],
        "markets": [{
            "name": "BTC-PERP", "asset": "BTC", "tick": 0.01,
            "tiers": [{"notional": 0, "mmr": "4%", "max_leverage": 20}],
            "depth": {"profile": [["1%", 1e9]], "level_step": "1%"},
            "resilience": "100000h", "recentre": None, "withdrawal": {"enabled": False},
        }],
    }

    def acc(name, usd, assets, qty):
        return {"name": name, "venue": "cex", "collateral": usd, "collateral_assets": assets,
                "positions": [{"market": "BTC-PERP", "qty": qty, "entry": 20000}]}

    return {"name": "coll", "duration": "3s",
            "assets": [{"name": "BTC", "price": 20000, "volatility": 0},
                       {"name": "S", "price": 1, "volatility": 0}],
            "venues": [venue],
            "accounts": [acc("A", 0, {"S": 1000, "BTC": 0.1}, 3),
                         acc("B", 0, {"S": 1000}, 1.15), acc("C", 500, {}, 0.5)]}


@pytest.fixture(scope="module")
def cworld():
    return book.world_of(parse_scenario(collateral()), 0)


def test_collateral_ratio_by_hand(cworld):
    per = ch.account_ratios(cworld).set_index("account")
    a = per.loc[1]  # A: 1000 x 0.98 + 0.1 x 20000 x 0.9 = 2780 against 4% of 60000
    assert (a["collateral_usd"], a["haircut_usd"]) == (pytest.approx(3000), pytest.approx(220))
    assert a["adjusted_usd"] == pytest.approx(2780) and a["maintenance_usd"] == pytest.approx(2400)
    assert a["ratio"] == pytest.approx(2780 / 2400)
    assert per["ratio"].tolist() == pytest.approx([2780 / 2400, 980 / 920, 500 / 400])
    g = ch.collateral_health(cworld).iloc[0]
    assert (g["group"], g["collateral"], g["accounts"]) == ("accounts", "USD + S, BTC", 3)
    assert (g["collateral_usd"], g["haircut_usd"], g["adjusted_usd"]) == (
        pytest.approx(4500), pytest.approx(240), pytest.approx(4260))
    assert g["maintenance_usd"] == pytest.approx(3720)
    assert g["ratio_median"] == pytest.approx(2780 / 2400)
    # 10th percentile of three, linearly: B + 0.2 (A - B).
    assert g["ratio_p10"] == pytest.approx(980 / 920 + 0.2 * (2780 / 2400 - 980 / 920))
    assert (g["share_below_1_5"], g["share_below_1"]) == (1.0, 0.0)


def test_depeg_breaches_exactly_the_accounts_computed(cworld):
    before = cworld.venues[0].accounts.wallet.copy()
    d = ch.depeg_sensitivity(cworld).set_index(["collateral", "move"])
    s = d.loc["S"]
    # S -5%: B at 980 - 49 = 931 > 920; -10%: 882 < 920 (B only, equity positive).
    assert s.loc[-0.05, "breached_scopes"] == 0
    assert (s.loc[-0.1, "breached_scopes"], s.loc[-0.1, "accounts"]) == (1, 1)
    assert s.loc[-0.1, "liquidated_usd"] == pytest.approx(1.15 * 20000)
    assert s.loc[-0.3, "accounts"] == 1 and s.loc[-0.3, "bad_debt_usd"] == 0  # A: 2486 > 2400
    btc = d.loc["BTC"]
    # BTC collateral -20%: A at 2780 - 360 = 2420 > 2400; -30%: 2240, breached.
    assert btc.loc[-0.2, "breached_scopes"] == 0 and btc.loc[-0.3, "accounts"] == 1
    assert btc.loc[-0.3, "liquidated_usd"] == pytest.approx(60000)
    assert (cworld.venues[0].accounts.wallet == before).all()
    with pytest.raises(ValueError, match="depeg move"):
        ch.depeg_sensitivity(cworld, [0.1])


def test_no_collateral_book_says_so():
    world = book.world_of(parse_scenario(tiny()), 0)
    d = ch.depeg_sensitivity(world)
    assert len(d) == 1 and d["collateral"].item() == ch.NO_BOOK
    assert (d["breached_scopes"].item(), d["bad_debt_usd"].item()) == (0, 0)
    g = ch.collateral_health(world).iloc[0]
    assert g["collateral"] == "wallet only (haircut 0)" and g["haircut_usd"] == 0
    # A 1000 / 40, B 2000 / 80, C (isolated margin 500) / 20: 25 each.
    assert g["ratio_median"] == pytest.approx(25) and g["ratio_p10"] == pytest.approx(25)


def test_charts_pass_the_quality_checks(cworld):
    _, path = dm.dynamic_margin(path_world(), CAPPED, every_ms=1000)
    ratios, depeg = ch.account_ratios(cworld), ch.depeg_sensitivity(cworld)
    import matplotlib.style

    with matplotlib.style.context(risk_margin.STYLE_PATH):
        figures = {"dynamic_margin": risk_margin.dynamic_margin_figure(path),
                   "collateral_ratio": risk_margin.ratio_figure(ratios),
                   "depeg": risk_margin.depeg_figure(depeg)}
    assert problems(figures) == {}


def test_liqsim_risk_writes_the_margin_and_collateral_sections(tmp_path):
    path = tmp_path / "coll.yaml"
    path.write_text(yaml.safe_dump(collateral()))
    out = tmp_path / "r"
    result = invoke("risk", path, "--out", out, "--depeg-moves", "10%, 30%",
                    "--margin-every", "1s")
    assert result.exit_code == 0, result.output
    summary = pd.read_parquet(out / "dynamic_margin.parquet")
    assert summary["rule"].tolist() == ["fixed", "volatility"]
    assert not pd.read_parquet(out / "dynamic_margin_path.parquet").empty
    depeg = pd.read_parquet(out / "depeg_sensitivity.parquet")
    assert sorted(set(depeg["move"])) == [-0.3, -0.1]
    assert depeg.loc[(depeg["collateral"] == "S") & (depeg["move"] == -0.1),
                     "accounts"].item() == 1
    assert pd.read_parquet(out / "collateral_health.parquet")["accounts"].item() == 3
    page = (out / "risk.html").read_text()
    for heading in ("Dynamic margin", "Collateral health", "Depeg sensitivity"):
        assert f">{heading}</h2>" in page
    for name in ("dynamic_margin", "collateral_ratio", "depeg"):
        assert (out / "figures" / f"{name}.svg").stat().st_size > 0
    off = tmp_path / "off"
    result = invoke("risk", path, "--out", off, "--no-dynamic-margin", "--no-collateral-health")
    assert result.exit_code == 0, result.output
    assert not (off / "dynamic_margin.parquet").exists()
    assert not (off / "collateral_health.parquet").exists()
    assert ">Dynamic margin</h2>" not in (off / "risk.html").read_text()


def test_liqsim_risk_refuses_a_bad_rule():
    result = invoke("risk", "--vol-max", "0.5")
    assert result.exit_code == 2 and "--vol-max" in result.output
    result = invoke("risk", "--depeg-moves", "lots")
    assert result.exit_code == 2 and "--depeg-moves" in result.output
