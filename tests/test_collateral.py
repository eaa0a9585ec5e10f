"""Collateral in other assets than USD, and a depeg that breaches accounts with no position
price moving, by hand.

X stays at 100 (no volatility, no shock). Venues ``v`` and ``w`` accept USDE (a stablecoin at
1, no volatility) at a 10% haircut, with a 10% maintenance rate. ``d`` on each venue is long
5 X @ 100 (maintenance 50) and holds 100 USDE and no USD: its collateral counts 100 x 1 x 0.9 =
90. At 1 s venue ``v`` (only) values USDE 50% below its peg: ``d``'s collateral there counts
45 < 50, so it is liquidated at the 1 s tick, generation 1 (nothing traded before), while the
same account on ``w`` is untouched.
"""

from __future__ import annotations

import re

import pytest

from simulator import market_graph, run
from simulator.config import ScenarioError, parse_scenario


def _venue(name: str) -> dict:
    return {
        "name": name, "insurance_fund": 100, "mark": {"method": "mid"},
        "liquidation": {"fee_rate": 0, "throughput_per_s": 1000000, "latency": "0ms"},
        "funding": {"enabled": False},
        "collateral": [{"asset": "USDE", "haircut": 0.1}],
        "markets": [{
            "name": "X-PERP", "asset": "X", "tick": 0.01,
            "tiers": [{"notional": 0, "mmr": "10%", "max_leverage": 5}],
            "depth": {"profile": [["1%", 100]], "level_step": "1%"},
            "resilience": "100000h", "recentre": None, "withdrawal": {"enabled": False},
        }],
    }


def scenario(move: float | None = -0.5) -> dict:
    sc = {
        "name": "depeg", "duration": "3s",
        "assets": [{"name": "X", "price": 100, "volatility": 0},
                   {"name": "USDE", "price": 1, "volatility": 0}],
        "venues": [_venue("v"), _venue("w")],
        "accounts": [{"name": f"d_{v}", "venue": v, "collateral": 0,
                      "collateral_assets": {"USDE": 100},
                      "positions": [{"market": "X-PERP", "qty": 5, "entry": 100}]}
                     for v in ("v", "w")],
    }
    if move is not None:
        sc["depegs"] = [{"venue": "v", "asset": "USDE", "at": "500ms", "move": move}]
    return sc


def test_collateral_counts_after_its_haircut():
    result = run(parse_scenario(scenario(move=None)), seed=1, check=True)
    acc = result.accounts.set_index("label")
    assert acc.loc[["d_v", "d_w"], "initial_collateral"].tolist() == pytest.approx([90.0, 90.0])
    assert (result.events["kind"] == "liquidation").sum() == 0


def test_a_depeg_on_one_venue_breaches_an_account_with_no_price_moving():
    result = run(parse_scenario(scenario()), seed=1, check=True)
    ev = result.events
    liq = ev[ev["kind"] == "liquidation"]
    assert liq["venue"].tolist() == ["v"]
    assert liq["time_ms"].tolist() == [1000] and liq["generation"].tolist() == [1]
    # Nothing had traded: the mark was 100 when it breached.
    assert ev.loc[ev["time_ms"] < 1000, "kind"].isin(["shock"]).all()
    # The revaluation took 45 off its collateral (value conserved with it: --check held).
    acc = result.accounts.set_index("label")
    assert acc.loc["d_w", "final_collateral"] == pytest.approx(90.0)


def test_the_graph_holds_collateral_assets_their_haircuts_and_holdings():
    g = market_graph(parse_scenario(scenario()), seed=1)
    assert g.edges["collateral:USDE", "venue:v", "collateral"]["haircut"] == pytest.approx(0.1)
    held = g.edges["group:v:accounts", "collateral:USDE", "exposure"]
    assert (held["amount"], held["value"]) == (pytest.approx(100.0), pytest.approx(100.0))
    assert g.edges["group:v:accounts", "collateral:USD", "exposure"]["amount"] == pytest.approx(0)


@pytest.mark.parametrize(("change", "message"), [
    (lambda s: s["accounts"][0]["collateral_assets"].update({"BTC": 1}), "unknown name 'BTC'"),
    (lambda s: s["depegs"][0].update({"venue": "z"}), "depegs[0].venue"),
    (lambda s: s["depegs"][0].update({"move": 0.2}), "less than 0"),
    (lambda s: s["venues"][0]["collateral"].append({"asset": "USDE"}), "names must be unique"),
])
def test_collateral_that_cannot_be_held_is_refused(change, message):
    data = scenario()
    change(data)
    with pytest.raises(ScenarioError, match=re.escape(message)):
        parse_scenario(data)
