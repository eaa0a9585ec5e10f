"""Traders who open positions during the run (``populations[].arrivals``).

By hand: X at 100 with no volatility, arrivals of 3 accounts of exactly 1,000 USD at 10x
(lognormal with sigma 0, one leverage) between 1 s and 2 s: each starts flat with 100 of
collateral and buys 10 (1,000 / 100) at its drawn time, on a book of 1 unit per level.
In the default crash with a rebound, shorts opened near the low are liquidated as it
recovers, which the population present at the start (65% long) cannot give.
"""

from __future__ import annotations

import pytest

from simulator import default_scenario, run
from simulator.config import ScenarioError, parse_scenario


def scenario(**arrivals: object) -> dict:
    return {
        "name": "arrivals", "duration": "3s",
        "assets": [{"name": "X", "price": 100, "volatility": 0}],
        "venues": [{
            "name": "v", "insurance_fund": 10, "mark": {"method": "mid"},
            "liquidation": {"fee_rate": 0}, "funding": {"enabled": False},
            "markets": [{
                "name": "X-PERP", "asset": "X", "tick": 0.01,
                "tiers": [{"notional": 0, "mmr": "1%", "max_leverage": 50}],
                "depth": {"profile": [["1%", 100]], "level_step": "1%"},
                "resilience": "100000h", "recentre": None, "withdrawal": {"enabled": False},
            }],
        }],
        "populations": [{
            "name": "p", "venue": "v", "count": 0, "markets": {"X-PERP": 1},
            "notional": {"distribution": "lognormal", "median": 1000, "sigma": 0},
            "leverage": {10: 1}, "long_share": 1,
            "arrivals": {"count": 3, "start": "1s", "end": "2s", **arrivals},
        }],
    }


def test_arrivals_open_their_positions_at_their_times():
    result = run(parse_scenario(scenario()), seed=4, check=True)
    ev = result.events
    trades = ev[(ev["kind"] == "trade") & (ev["reason"] == "order")]
    assert len(trades) == 3
    assert trades["time_ms"].between(1000, 1999).all()
    assert trades["time_ms"].is_monotonic_increasing
    assert (trades["side"] == 1).all()
    # Each buys 1,000 / mark; the first at mark 100, the next after the previous buys moved it.
    assert trades["qty"].iloc[0] == pytest.approx(10.0, rel=1e-12)
    acc = result.accounts.set_index("label")
    arrived = acc.loc[["p+0", "p+1", "p+2"]]
    assert (arrived["group"] == "p:arrivals").all()
    assert arrived["initial_collateral"].tolist() == pytest.approx([100.0] * 3)
    assert (arrived["qty.X-PERP"] > 0).all()


def test_arrivals_long_share_overrides_the_populations():
    result = run(parse_scenario(scenario(long_share=0)), seed=4)
    ev = result.events
    trades = ev[(ev["kind"] == "trade") & (ev["reason"] == "order")]
    assert (trades["side"] == -1).all() and len(trades) == 3


def test_adding_arrivals_leaves_the_population_present_at_the_start_as_it_was():
    base = default_scenario().with_overrides(["duration=2m", "shocks.0.at=1m",
                                              "populations.retail.count=500"])
    more = base.with_overrides(['populations.retail.arrivals={"count": 50, "end": "2m"}'])
    a, b = run(base, 3).accounts, run(more, 3).accounts
    start = a[a["group"] == "retail"][["label", "initial_collateral", "leverage"]]
    again = b[b["group"] == "retail"][["label", "initial_collateral", "leverage"]]
    assert start.reset_index(drop=True).equals(again.reset_index(drop=True))
    assert (b["group"] == "retail:arrivals").sum() == 50


def test_shorts_opened_near_the_low_are_liquidated_on_the_rebound():
    crash_and_rebound = ('shocks=[{"asset": "BTC", "at": "2m", "move": "-12%", "over": "30s"}, '
                         '{"asset": "BTC", "at": "6m", "move": "10%", "over": "1m"}]')
    base = default_scenario().with_overrides(["duration=9m", "populations.retail.count=2000",
                                              crash_and_rebound])
    late = base.with_overrides(['populations.retail.arrivals={"count": 1000, "start": "2m", '
                                '"end": "5m", "long_share": 0.3}'])
    result = run(late, 7, check=True)
    liq = result.events[result.events["kind"] == "liquidation"].merge(
        result.accounts[["venue", "account", "group"]], on=["venue", "account"])
    shorts = liq[(liq["group"] == "retail:arrivals") & (liq["side"] == 1)]
    assert len(shorts) > 20
    assert shorts["time_ms"].min() >= 6 * 60_000  # on the rebound, not in the crash
    without = run(base, 7).events
    without = without[without["kind"] == "liquidation"]
    share = (liq["side"] == 1).mean()
    assert share > (without["side"] == 1).mean() + 0.05


@pytest.mark.parametrize(("change", "message"), [
    ({"end": "5s"}, "after the run ends"),
    ({"start": "2s", "end": "1s"}, "must end after it starts"),
    ({"count": 0}, "greater than 0"),
])
def test_arrivals_that_cannot_happen_are_refused(change, message):
    with pytest.raises(ScenarioError, match=message):
        parse_scenario(scenario(**change))


def test_arrivals_as_a_share_of_the_block_follow_its_count():
    sc = scenario()
    sc["populations"][0].update(count=40)
    sc["populations"][0]["arrivals"] = {"share": "25%", "start": "1s", "end": "2s"}
    assert parse_scenario(sc).populations[0].arrivals.count == 10
    # Changing the block's count (as a calibration or --set does) moves the arrivals with it.
    grown = parse_scenario(sc).with_overrides(["populations.p.count=80"])
    assert grown.populations[0].arrivals.count == 20
    # A scaled world keeps the share of the scaled count.
    sc["scale"] = 0.5
    from simulator.config.scaling import scaled

    assert scaled(parse_scenario(sc)).populations[0].arrivals.count == 5
    del sc["populations"][0]["arrivals"]["share"]
    with pytest.raises(ScenarioError, match="give the arrivals a count, or a share"):
        parse_scenario(sc)
