"""Stop-loss orders: the ladder pops exactly the stops a price has reached, and in a run every
stop closes its whole position at the first oracle tick at which the trigger price reaches it."""

from __future__ import annotations

import numpy as np
import pytest

from markets.events import Reason
from markets.stops import StopLadder, draw_stops
from simulator import run
from simulator.config import ScenarioError
from simulator.config.scenario import parse_scenario
from simulator.run.build import build_paths_for


def test_the_ladder_pops_the_stops_a_price_has_reached_in_order():
    stops = [(10, 0, 95.0, 1), (11, 0, 97.0, 1), (12, 0, 95.0, 1), (13, 0, 103.0, -1),
             (14, 1, 50.0, 1)]
    ladder = StopLadder(2, stops)
    assert len(ladder) == 5
    assert ladder.triggered(0, 98.0) == []
    assert ladder.triggered(0, 97.0) == [(11, 1, 97.0)]  # at the stop price: fires
    assert ladder.triggered(0, 94.0) == [(10, 1, 95.0), (12, 1, 95.0)]  # ties in row order
    assert ladder.triggered(0, 94.0) == []  # a stop fires once
    assert ladder.triggered(0, 103.5) == [(13, -1, 103.0)]  # a short's stop, on the way up
    assert ladder.triggered(1, 60.0) == [] and len(ladder) == 1


def test_drawn_stops_sit_the_drawn_distance_against_each_open_position():
    pos = np.array([[1.0, 0.0], [-2.0, 3.0], [0.0, 0.0]])
    stops = draw_stops(100, pos, np.array([100.0, 10.0]), 1.0, 0.05, 0.05,
                       np.random.default_rng(0))
    assert stops == [(100, 0, pytest.approx(95.0), 1), (101, 0, pytest.approx(105.0), -1),
                     (101, 1, pytest.approx(9.5), 1)]
    assert draw_stops(0, pos, np.array([100.0, 10.0]), 0.0001, 0.05, 0.05,
                      np.random.default_rng(0)) == []


def world(share: float = 1.0, long_share: str = "100%", distance=("5%", "5%")) -> dict:
    return {
        "name": "stops", "duration": "20s", "clock": {"oracle_interval": "1s"},
        "assets": [{"name": "X", "price": 100, "volatility": 0}],
        "shocks": [{"asset": "X", "at": "1s", "move": "-10%", "over": "10s"}],
        "venues": [{"name": "v", "insurance_fund": 0,
                    # mark = index = the fundamental: the stops' trigger is the oracle's path
                    "mark": {"method": "index", "index_impact_share": 0},
                    "markets": [{"name": "X-PERP", "asset": "X", "tick": 0.01,
                                 "tiers": [{"notional": 0, "mmr": "1%", "max_leverage": 10}],
                                 "depth": {"profile": [["1%", 1e7]]}}]}],
        "populations": [{"name": "t", "venue": "v", "count": 50,
                         "notional": {"distribution": "lognormal", "median": 1000, "sigma": 0.5},
                         "leverage": {1: 1.0}, "long_share": long_share, "entry_spread": 0,
                         "markets": {"X-PERP": 1.0},
                         "stops": {"share": share, "distance": list(distance)}}],
    }


def test_every_stop_closes_its_position_at_the_first_tick_the_price_reaches_it():
    sc = parse_scenario(world())
    path = build_paths_for(sc, np.random.default_rng(0))
    first = int(path.times_ms[np.flatnonzero(path.prices[:, 0] <= 95.0)[0]])
    result = run(sc, check=True)
    ev, acc = result.events, result.accounts.set_index("account")
    traders = acc[acc["group"] == "t"]
    stops = ev[(ev["kind"] == "trade") & (ev["reason"] == Reason.STOP)]
    # One sell per trader, all at that tick, each its whole starting position.
    assert sorted(stops["account"]) == sorted(traders.index)
    assert (stops["time_ms"] == first).all() and (stops["side"] == -1).all()
    start = traders["notional0.X-PERP"] / 100.0  # entries at the start price (no spread)
    assert (start > 0).all() and (traders["qty.X-PERP"] == 0).all()
    assert stops.set_index("account")["qty"].to_dict() == pytest.approx(start.to_dict())
    assert (ev["kind"] == "liquidation").sum() == 0  # 1x: the stops, not the venue, closed


def test_only_the_share_with_stops_closes_and_shorts_stops_wait_for_a_rise():
    result = run(parse_scenario(world(share=0.5, long_share="50%")), check=True)
    ev, acc = result.events, result.accounts.set_index("account")
    stops = ev[(ev["kind"] == "trade") & (ev["reason"] == Reason.STOP)]
    stopped = set(stops["account"])
    end = acc.loc[acc["group"] == "t", "qty.X-PERP"]
    # a stopped account is flat; the shorts' stops sit above: the fall never reaches them,
    # so only longs stop, and longs without stops still hold at the end
    assert (stops["side"] == -1).all()
    assert (end[sorted(stopped)] == 0).all()
    assert (end < 0).sum() > 0 and not stopped & set(end.index[end < 0])
    assert (end > 0).sum() > 0


def test_stop_distances_validate():
    for bad, message in (((0, "5%"), "0 < low <= high < 1"), (("5%", "2%"), "low <= high")):
        data = world(distance=bad)
        with pytest.raises(ScenarioError, match=message):
            parse_scenario(data)
