"""Arbitrageurs moving capital between their venues, and withdrawal and deposit halts.

The amount rule by hand on the arbitrage world of ``test_arbitrage`` (capital 1,000: 500 of
collateral per venue, leverage 5), then the built-in two_venues crash with rebalancing: the
arbitrageur's long on the crashing venue loses, so capital leaves the other venue and arrives
``transfer`` later, and a halt holds it until the halt ends.
"""

from __future__ import annotations

import pytest
from test_arbitrage import scenario as arbitrage_world

from markets.arbitrage import Arbitrageur
from simulator import run
from simulator.config import ScenarioError, parse_scenario
from simulator.config.scenarios import load_builtin
from simulator.run.build import build_world
from simulator.run.recorder import Recorder


def arbitrageur(below: float = 0.5) -> Arbitrageur:
    data = arbitrage_world()
    data["arbitrage"][0]["rebalance"] = {"below": below, "transfer": "1m"}
    world = build_world(parse_scenario(data), 0, Recorder())
    return world.arbitrageurs[0]


def test_half_the_difference_moves_to_the_low_leg_at_most_what_the_other_can_spare():
    arb = arbitrageur()
    a, b = arb.a, arb.b
    assert arb.start == 500 and arb.transfer() is None  # both at their start
    a.venue.accounts.wallet[a.row] = 240.0  # below half of 500
    b.venue.accounts.wallet[b.row] = 700.0
    source, target, amount = arb.transfer()
    assert (source, target, amount) == (b, a, pytest.approx(230.0))  # (700 - 240) / 2
    # B short 5 at the mark 100: its position needs 500 / 5 = 100; 600 can go, 230 does.
    b.venue.accounts.trade(b.row, b.market, -5.0, 100.0)
    assert arb.transfer()[2] == pytest.approx(230.0)
    # Short 30: it needs 600 of the 700, so only 100 can go.
    b.venue.accounts.trade(b.row, b.market, -25.0, 100.0)
    assert arb.transfer()[2] == pytest.approx(100.0)
    arb.in_transit = True
    assert arb.transfer() is None  # one transfer at a time


def two_venues(*disruptions: dict, below: float = 0.9) -> dict:
    data = load_builtin("two_venues").model_dump(mode="json")
    data["duration"] = "5m"
    data["arbitrage"][0]["rebalance"] = {"below": below, "transfer": "30s"}
    data["disruptions"] = list(disruptions)
    return data


def moves(result):
    ev = result.events
    arb = result.accounts.set_index(["venue", "label"])["account"]
    rows = {(v, int(arb[(v, "arb:btc")])) for v in ("lev", "deep")}
    picked = ev[ev["kind"].isin(["withdrawal", "top_up", "rejected"])]
    keep = [(v, a) in rows for v, a in zip(picked["venue"], picked["account"], strict=True)]
    return picked[keep].reset_index(drop=True)


@pytest.fixture(scope="module")
def free():
    """The transfers of the crash with no halt (run once for the tests below)."""
    return moves(run(parse_scenario(two_venues()), check=True))  # check: value is conserved


def test_capital_leaves_the_other_venue_and_arrives_after_the_transfer(free):
    m = free
    assert m["kind"].tolist() == ["withdrawal", "top_up"]
    out, arrive = m.iloc[0], m.iloc[1]
    assert (out["venue"], arrive["venue"]) == ("deep", "lev")  # to the crashing venue's leg
    assert arrive["time_ms"] - out["time_ms"] == 30_000
    assert arrive["amount"] == pytest.approx(out["amount"], rel=1e-12)


def test_a_withdrawal_halt_holds_the_transfer_until_it_ends(free):
    first = int(free["time_ms"].iloc[0])
    halt = {"venue": "deep", "kind": "withdrawals", "at": f"{first - 1_000}ms", "over": "40s"}
    m = moves(run(parse_scenario(two_venues(halt)), check=True))
    assert m["kind"].tolist()[:3] == ["rejected", "withdrawal", "top_up"]
    assert m["reason"].iloc[0] == "withdrawals_halted" and m["time_ms"].iloc[0] == first
    assert m["time_ms"].iloc[1] == first - 1_000 + 40_000  # when the halt ends
    assert m["time_ms"].iloc[2] == m["time_ms"].iloc[1] + 30_000


def test_a_deposit_halt_holds_the_arrival_until_it_ends(free):
    arrive = int(free["time_ms"].iloc[1])
    halt = {"venue": "lev", "kind": "deposits", "at": f"{arrive - 5_000}ms", "over": "20s"}
    m = moves(run(parse_scenario(two_venues(halt)), check=True))
    # the same withdrawal; the deposit refused at its time, then made when the halt ends
    assert m["kind"].tolist()[:3] == ["withdrawal", "rejected", "top_up"]
    assert m["reason"].iloc[1] == "deposits_halted" and m["time_ms"].iloc[1] == arrive
    assert m["time_ms"].iloc[2] == arrive - 5_000 + 20_000
    assert m["amount"].iloc[2] == pytest.approx(m["amount"].iloc[0], rel=1e-12)


def test_rebalancing_validates():
    data = two_venues(below=1.0)
    with pytest.raises(ScenarioError, match="less than 1"):
        parse_scenario(data)
