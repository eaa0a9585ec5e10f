"""Scheduled disruptions, by hand, on the hand cascade's book (``test_cascade``) with X gapping
from 100 to 90 at t = 1000 ms (oracle ticks every second):

- ``a`` long 5 @ 100 with collateral 52 is breached at 90 and, normally, liquidated at once.
  A **matching outage** over [500, 1500) ms holds the liquidation until 1500 ms; an **oracle
  outage** over [500, 2500) ms freezes the venue's mark at 100 through the ticks at 1000 and
  2000, so the breach is seen at the 3000 ms tick.
- ``c`` long 5 @ 100 with collateral 55 is not breached at 90 (equity 5 >= 4.5) but is below
  the call level (4.5 / 5 = 0.9 >= 0.8): it is called at 1000 ms and tops up after its 1 s
  delay. With **deposits halted** the top-up is refused; with the **API degraded** 5x it comes
  5 s after the call.
- An arbitrageur (latency 100 ms) between two copies of the venue trades 1 s after the gap
  opens when the second venue's API is degraded 10x.
"""

from __future__ import annotations

import pytest

from simulator import run
from simulator.config import ScenarioError, parse_scenario


def _venue(name: str) -> dict:
    return {
        "name": name, "insurance_fund": 10, "mark": {"method": "mid"},
        "liquidation": {"fee_rate": 0, "throughput_per_s": 1000000, "latency": "0ms"},
        "funding": {"enabled": False},
        "markets": [{
            "name": "X-PERP", "asset": "X", "tick": 0.01,
            "tiers": [{"notional": 0, "mmr": "1%", "max_leverage": 50}],
            "depth": {"profile": [["1%", 100]], "level_step": "1%"},
            "resilience": "100000h", "recentre": None, "withdrawal": {"enabled": False},
        }],
    }


def scenario(*disruptions: dict, collateral: float = 52, arbitrage: bool = False) -> dict:
    account = {"name": "a", "venue": "v", "collateral": collateral,
               "positions": [{"market": "X-PERP", "qty": 5, "entry": 100}],
               "response": {"none": 0, "top_up": 1, "delay": "1s", "delay_sigma": 0,
                            "top_up_to": 0.5}}
    sc = {
        "name": "disruptions", "duration": "8s",
        "assets": [{"name": "X", "price": 100, "volatility": 0}],
        "shocks": [{"asset": "X", "at": "0s", "move": "-10%", "over": "0s"}],
        "venues": [_venue("v")] + ([_venue("w")] if arbitrage else []),
        "accounts": [account],
        "disruptions": list(disruptions),
    }
    if arbitrage:
        sc["arbitrage"] = [{"name": "arb", "asset": "X", "venues": ["v", "w"],
                            "latency": "100ms", "threshold": 0, "capital": 1000}]
    return sc


def events(result, kind: str):
    ev = result.events
    return ev[ev["kind"] == kind].reset_index(drop=True)


def test_without_disruptions_the_liquidation_is_immediate():
    result = run(parse_scenario(scenario()), seed=1, check=True)
    assert events(result, "liquidation")["time_ms"].tolist() == [1000]


def test_a_matching_outage_holds_the_liquidation_until_it_ends():
    outage = {"venue": "v", "kind": "matching", "at": "500ms", "over": "1s"}
    result = run(parse_scenario(scenario(outage)), seed=1, check=True)
    liq = events(result, "liquidation")
    assert liq["time_ms"].tolist() == [1500]
    assert liq["detected_ms"].tolist() == [1000]  # seen at once, closed when the books reopen
    log = events(result, "disruption")
    assert log[["time_ms", "reason", "until_ms"]].values.tolist() == [[500, "matching", 1500]]


def test_an_oracle_outage_freezes_the_mark_until_the_first_tick_after_it():
    outage = {"venue": "v", "kind": "oracle", "at": "500ms", "over": "2s"}
    result = run(parse_scenario(scenario(outage)), seed=1, check=True)
    liq = events(result, "liquidation")
    assert liq["time_ms"].tolist() == [3000] and liq["detected_ms"].tolist() == [3000]


def test_deposits_halted_refuse_the_top_up():
    normal = run(parse_scenario(scenario(collateral=55)), seed=1)
    assert events(normal, "margin_call")["time_ms"].tolist() == [1000]
    assert events(normal, "top_up")["time_ms"].tolist() == [2000]
    halt = {"venue": "v", "kind": "deposits", "at": "0ms", "over": "5s"}
    halted = run(parse_scenario(scenario(halt, collateral=55)), seed=1, check=True)
    assert len(events(halted, "top_up")) == 0
    refused = events(halted, "rejected")
    assert refused["reason"].tolist() == ["deposits_halted"]
    assert refused["time_ms"].tolist() == [2000]
    # It would have brought maintenance / equity to 0.5: equity 4.5 / 0.5 = 9, so 4 more.
    assert refused["amount"].tolist() == pytest.approx([4.0], rel=1e-9)


def test_a_degraded_api_slows_the_response():
    slow = {"venue": "v", "kind": "api", "at": "0ms", "over": "5s", "latency_multiplier": 5}
    result = run(parse_scenario(scenario(slow, collateral=55)), seed=1)
    assert events(result, "top_up")["time_ms"].tolist() == [6000]


def test_a_degraded_api_slows_the_arbitrageur():
    normal = run(parse_scenario(scenario(arbitrage=True)), seed=1)
    trades = events(normal, "trade")
    assert sorted(set(trades.loc[trades["reason"] == "arbitrage", "time_ms"])) == [1100]
    slow = {"venue": "w", "kind": "api", "at": "0ms", "over": "5s", "latency_multiplier": 10}
    slowed = run(parse_scenario(scenario(slow, arbitrage=True)), seed=1)
    trades = events(slowed, "trade")
    assert sorted(set(trades.loc[trades["reason"] == "arbitrage", "time_ms"]))[0] == 2000


@pytest.mark.parametrize(("change", "message"), [
    ({"venue": "nowhere"}, "unknown name 'nowhere'"),
    ({"kind": "weather"}, "kind"),
    ({"at": "9s"}, "starts after the run ends"),
    ({"latency_multiplier": 3}, "only an api disruption"),
    ({"kind": "api"}, "needs a multiplier above 1"),
])
def test_a_disruption_that_cannot_happen_is_refused(change, message):
    bad = {"venue": "v", "kind": "matching", "at": "1s", "over": "1s", **change}
    with pytest.raises(ScenarioError, match=message):
        parse_scenario(scenario(bad))
