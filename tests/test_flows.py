"""New flow during a crash: dip buyers' resting bids and momentum sellers' triggers, the pure
bookkeeping by hand, then in runs: a bid fills at or below its price once the market trades
down to it, a momentum seller shorts at the first tick its drop is reached, and flow set off by
a liquidation's move carries that liquidation's generation."""

from __future__ import annotations

import numpy as np
import pytest

from markets.attribution import ImpactLedger, move_tag
from markets.events import Reason
from markets.flows import DropTriggers, RestingBids, TrailingHigh, draw_bids, draw_drops
from simulator import run
from simulator.config import ScenarioError
from simulator.config.scenario import parse_scenario
from simulator.run.build import build_paths_for


def test_resting_bids_fill_highest_first_and_rest_again_in_order():
    bids = RestingBids(1, [(5, 0, 95.0, 1.0), (6, 0, 97.0, 2.0), (7, 0, 95.0, 3.0),
                           (8, 0, 90.0, 4.0)])
    assert bids.reached(0, 97.5) == []
    assert bids.reached(0, 96.0) == [(6, 97.0, 2.0)]
    assert bids.reached(0, 95.0) == [(5, 95.0, 1.0), (7, 95.0, 3.0)]  # ties in row order
    bids.rest(0, 7, 95.0, 1.5)  # what 7 did not fill rests at its price, above 90
    bids.rest(0, 5, 95.0, 0.5)
    assert bids.reached(0, 91.0) == [(5, 95.0, 0.5), (7, 95.0, 1.5)]
    assert len(bids) == 1 and bids.reached(0, 90.0) == [(8, 90.0, 4.0)]


def test_drawn_bids_sit_below_the_start_for_the_budget_at_their_price():
    usd = np.array([[1000.0, 0.0], [0.0, 500.0]])
    bids = draw_bids(10, usd, np.array([100.0, 20.0]), 0.05, 0.05, np.random.default_rng(0))
    assert bids == [(10, 0, pytest.approx(95.0), pytest.approx(1000 / 95)),
                    (11, 1, pytest.approx(19.0), pytest.approx(500 / 19))]
    drops = draw_drops(3, -usd, 0.04, 0.04, np.random.default_rng(0))
    assert drops == [(3, 0, pytest.approx(0.04), 1000.0), (4, 1, pytest.approx(0.04), 500.0)]


def test_the_trailing_high_forgets_what_left_its_window():
    high = TrailingHigh(10_000)
    assert [high.update(t, p) for t, p in [(0, 100.0), (5_000, 104.0), (8_000, 99.0),
                                           (15_000, 98.0), (16_000, 97.0)]] == \
        [100.0, 104.0, 104.0, 104.0, 99.0]  # 104 at 5 s is out of the window at 16 s


def test_momentum_fires_on_a_fall_from_the_trailing_high_not_on_a_slow_drift():
    triggers = DropTriggers(1, 10_000, [(1, 0, 0.04, 100.0), (2, 0, 0.06, 200.0)])
    assert triggers.fired(0, 0, 100.0) == []
    assert triggers.fired(0, 1_000, 96.5) == []  # 3.5% down
    assert triggers.fired(0, 2_000, 96.0) == [(1, 100.0, 0.04)]  # 4%: the first fires
    slow = DropTriggers(1, 10_000, [(1, 0, 0.04, 100.0)])
    # 1% every 5 s: never 4% within 10 s
    assert all(slow.fired(0, 5_000 * k, 100.0 * 0.99**k) == [] for k in range(20))


def test_the_tag_names_the_first_level_that_passed_the_price_and_its_largest_trade():
    """Levels 100 (the path alone), 97 (with generation 1), 95.5 (with 2): a threshold of 98
    was passed by the path with generation 1's sells, of 96 only with generation 2's."""
    ledger = ImpactLedger(1)
    ledger.record(0, 11, 1, -0.010, 0, 0)
    ledger.record(0, 12, 1, -0.020, 0, 0)
    ledger.record(0, 13, 2, -0.015, 0, 0)
    levels = np.array([100.0, 97.0, 95.5])
    assert move_tag(levels, 98.0, -1, ledger, 0, 0, None) == (1, 12)
    assert move_tag(levels, 96.0, -1, ledger, 0, 0, None) == (2, 13)
    assert move_tag(levels, 100.5, -1, ledger, 0, 0, None) == (0, -1)  # the path passed it
    assert move_tag(levels, 101.0, +1, ledger, 0, 0, None) == (2, 13)  # none: the last


def world(**block) -> dict:
    """A venue whose mark is the fundamental (the oracle's path): X falls 10% from 1 s over
    10 s. One population block of flat accounts, notional 10,000 each at 2x."""
    return {
        "name": "flows", "duration": "20s", "clock": {"oracle_interval": "1s"},
        "assets": [{"name": "X", "price": 100, "volatility": 0}],
        "shocks": [{"asset": "X", "at": "1s", "move": "-10%", "over": "10s"}],
        "venues": [{"name": "v", "insurance_fund": 0,
                    "mark": {"method": "index", "index_impact_share": 0},
                    "markets": [{"name": "X-PERP", "asset": "X", "tick": 0.01,
                                 "tiers": [{"notional": 0, "mmr": "1%", "max_leverage": 10}],
                                 "depth": {"profile": [["1%", 1e6], ["20%", 5e7]]}}]}],
        "populations": [{"name": "f", "venue": "v", "count": 0,
                         "notional": {"distribution": "lognormal", "median": 10_000,
                                      "sigma": 0},
                         "leverage": {2: 1.0}, "entry_spread": 0, "markets": {"X-PERP": 1.0},
                         **block}],
    }


def test_a_dip_bid_fills_at_or_below_its_price_once_the_market_comes_down_to_it():
    sc = parse_scenario(world(dip_buyers={"count": 3, "distance": ["5%", "5%"]}))
    path = build_paths_for(sc, np.random.default_rng(0))
    result = run(sc, check=True)
    ev, acc = result.events, result.accounts.set_index("account")
    buys = ev[(ev["kind"] == "trade") & (ev["reason"] == Reason.DIP_BUY)]
    buyers = acc.index[acc["group"] == "f:dip_buyers"]
    assert sorted(set(buys["account"])) == sorted(buyers)
    assert (buys["side"] == 1).all() and (buys["price"] <= 95.0).all()
    # not before the path is within half a level of 95: the mid is the path's price
    first = int(path.times_ms[np.flatnonzero(path.prices[:, 0] <= 95.0)[0]])
    assert buys["time_ms"].min() >= first - 1_000
    # each bought its budget at its price, 10,000 / 95, long at the end
    assert acc.loc[buyers, "qty.X-PERP"].tolist() == pytest.approx([10_000 / 95] * 3)
    assert buys.groupby("account")["qty"].sum().tolist() == pytest.approx([10_000 / 95] * 3)


def test_a_momentum_seller_shorts_at_the_first_tick_its_drop_is_reached():
    sc = parse_scenario(world(momentum={"count": 2, "drop": ["4%", "4%"], "window": "1m"}))
    path = build_paths_for(sc, np.random.default_rng(0))
    first = int(path.times_ms[np.flatnonzero(path.prices[:, 0] <= 96.0)[0]])
    result = run(sc, check=True)
    ev, acc = result.events, result.accounts.set_index("account")
    sells = ev[(ev["kind"] == "trade") & (ev["reason"] == Reason.MOMENTUM)]
    assert len(sells) == 2 and (sells["side"] == -1).all()
    assert (sells["time_ms"] == first).all()
    mark = float(path.prices[np.flatnonzero(path.times_ms == first)[0], 0])
    assert sells["qty"].tolist() == pytest.approx([10_000 / mark] * 2, rel=1e-9)
    assert (sells["generation"] == 0).all()  # the path alone fell: no cascade to pass on
    sellers = acc.index[acc["group"] == "f:momentum"]
    assert (acc.loc[sellers, "qty.X-PERP"] < 0).all()


def test_flow_set_off_by_liquidations_carries_their_generation():
    """Longs at 25x whose forced sells take the book well below the path's 3.5% fall: the
    momentum sellers (7% drop) only fire on that cascade, so their shorts carry a generation
    above 0 and name a liquidation as their cause."""
    data = world(momentum={"count": 5, "drop": ["7%", "7%"], "window": "1m"})
    data["shocks"][0]["move"] = "-3.5%"
    data["venues"][0]["mark"] = {"method": "mid"}
    market = data["venues"][0]["markets"][0]
    market["depth"] = {"profile": [["1%", 2e5], ["20%", 2e6]]}
    market["tiers"][0]["max_leverage"] = 50
    data["populations"].append({
        "name": "longs", "venue": "v", "count": 300, "long_share": 1.0, "entry_spread": 0,
        "notional": {"median": 20_000, "sigma": 0.3}, "leverage": {25: 1.0},
        "markets": {"X-PERP": 1.0}})
    result = run(parse_scenario(data), check=True)
    ev = result.events
    sells = ev[(ev["kind"] == "trade") & (ev["reason"] == Reason.MOMENTUM)]
    assert len(sells) > 0 and (sells["generation"] > 0).all()
    kinds = ev.set_index("seq")["kind"]
    assert set(kinds[sells["cause"]].tolist()) == {"liquidation"}


def test_flow_blocks_validate():
    for block, message in (({"dip_buyers": {"count": 1, "distance": ["0%", "5%"]}},
                            "0 < low <= high < 1"),
                           ({"momentum": {"count": 1, "drop": ["5%", "2%"]}}, "low <= high"),
                           ({"momentum": {"count": 0, "drop": ["5%", "6%"]}}, "greater than 0")):
        with pytest.raises(ScenarioError, match=message):
            parse_scenario(world(**block))
