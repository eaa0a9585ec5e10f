"""Socialized losses pooled per market and charged at the venue's settlement times, by hand.

The world of ``test_adl_trigger``: ``L`` long 5 @ 100 with collateral 52 gaps to 90, solvent at
the mark, so (``adl.on: negative_equity``) its 5 go to the book and leave a deficit of 8.1543
against its bankruptcy price 89.6; the fund is empty, and the venue socializes after ADL. The
holders left are ``S`` (short 3) and the maker (long 3 after taking L's 5 against its short 2):
equal notional at the mark, so each pays 4.0772. The gap reaches the venue at the first oracle
tick, 1,000 ms.
"""

from __future__ import annotations

import pytest
from test_adl_trigger import kinds, scenario

from simulator import run
from simulator.config import parse_scenario

DEFICIT = 5 * 89.6 - (10000 / 90**2) * (89.5 + 88.5 + 87.5 + 86.5) \
    - (5 - 4 * 10000 / 90**2) * 85.5  # 8.1543


def world(interval, duration: str = "3s", collateral: float = 52, extra=()):
    sc = scenario(collateral, on="negative_equity")
    return sc.with_overrides(["venues.v.socialize=after_adl", f"duration={duration}",
                              f"venues.v.socialize_interval={interval}", *extra])


@pytest.mark.parametrize(("interval", "at"), [(0, 1000), ("1s", 2000), ("750ms", 1500)])
def test_a_deficit_is_charged_at_once_or_at_the_next_settlement_time(interval, at):
    result = run(world(interval), check=True)  # check: value is conserved meanwhile
    bankrupt = kinds(result, "bankruptcy")
    assert bankrupt["time_ms"].tolist() == [1000]
    assert bankrupt["amount"].tolist() == pytest.approx([DEFICIT], rel=1e-9)
    social = kinds(result, "socialized_loss")
    assert social["time_ms"].tolist() == [at]
    assert social["amount"].tolist() == pytest.approx([DEFICIT], rel=1e-9)
    assert social["qty"].tolist() == [2.0]  # holders charged
    assert social["cause"].tolist() == kinds(result, "liquidation")["seq"].tolist()
    paid = result.accounts.set_index("label")["socialized_paid"]
    assert paid.to_dict() == pytest.approx({"maker": DEFICIT / 2, "L": 0.0, "S": DEFICIT / 2},
                                           rel=1e-9)


def test_a_pool_left_at_the_end_is_charged_at_the_end():
    result = run(world("1s", duration="1500ms"), check=True)
    social = kinds(result, "socialized_loss")
    assert social["time_ms"].tolist() == [1500]
    assert social["amount"].tolist() == pytest.approx([DEFICIT], rel=1e-9)
    assert result.summary["socialized_loss"] == pytest.approx(DEFICIT, rel=1e-9)


def test_deficits_of_one_interval_are_pooled_into_one_charge():
    """A second long like ``L`` (``L2``) in the same gap, and no ADL (L's sells take L2 past
    its bankruptcy price at the mark): two bankruptcies at 1,000 ms, one charge at 2,000 ms of
    both deficits to the holders left (``S`` and the maker), with an edge from each
    liquidation."""
    data = world("1s", extra=["venues.v.adl.trigger=never"]).model_dump(mode="json")
    data["accounts"].append({"name": "L2", "venue": "v", "collateral": 52,
                             "positions": [{"market": "X-PERP", "qty": 5, "entry": 100}]})
    result = run(parse_scenario(data), check=True)
    deficits = kinds(result, "bankruptcy")["amount"]
    assert len(deficits) == 2
    social = kinds(result, "socialized_loss")
    assert social["time_ms"].tolist() == [2000]
    assert social["amount"].tolist() == pytest.approx([deficits.sum()], rel=1e-12)
    edges = result.cascade_edges
    liqs = kinds(result, "liquidation")["seq"].tolist()
    into = edges[edges["child"] == int(social["seq"].iloc[0])]["parent"].tolist()
    assert sorted(into) == sorted(liqs)
    paid = result.accounts.set_index("label")["socialized_paid"]
    assert paid[["L", "L2"]].tolist() == [0.0, 0.0]
    assert paid["S"] + paid["maker"] == pytest.approx(deficits.sum(), rel=1e-12)
