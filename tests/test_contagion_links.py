"""Moves that cross venues through the market graph: cross impact and index weights, by hand.

Venue A is the hand-computed cascade's world (``test_cascade``) with one account: ``a`` long 5
@ 100 with collateral 52 (liquidation price 90.909). X gaps -10% at t = 1000 ms; ``a`` is
liquidated (generation 1) and its sell walks four levels of A's book: the mid goes 90 -> 86,
a log move of ln(86/90).

- **Cross impact**: venue B lists another asset, Y at 100, with no move of its own; the graph
  passes beta = 0.5 of A's X move to B's Y. B's mid becomes 100 * (86/90)^0.5 = 97.7525.
  ``b`` long 10 @ 100 with collateral 30 is safe at 100 (30 >= 10) and breached at 97.7525
  (30 - 22.475 = 7.525 < 9.775): generation 2, caused by ``a``'s liquidation.
- **Index weights**: venue B lists X too and marks at its index, which weights A's price 0.5
  (B's own 0, the rest the fundamental): index = 90 * (86/90)^0.5 = 87.9773 once ``a`` has
  sold. ``b`` long 10 @ 100 with collateral 120 is safe at 90 (20 >= 9) and breached at
  87.9773 (-0.227 < 8.798): generation 2, caused by ``a``'s liquidation.

Removing the edge from the graph removes ``b``'s liquidation.
"""

from __future__ import annotations

import math
import re

import networkx as nx
import numpy as np
import pytest

from markets.events import Reason
from markets.market_graph import build_market_graph, index_node, market_node
from markets.prices.marks import MarketPrices, MarkRule
from markets.wiring import WiringError, compile_wiring
from simulator import RunResult, market_graph, run
from simulator.config import ScenarioError, parse_scenario
from simulator.run.build import build_world
from simulator.run.recorder import Recorder

MOVE = math.log(86 / 90)  # A's mid after a's liquidation, in log


def _market(name: str, asset: str) -> dict:
    return {
        "name": name, "asset": asset, "tick": 0.01,
        "tiers": [{"notional": 0, "mmr": "1%", "max_leverage": 50}],
        "depth": {"profile": [["1%", 100]], "level_step": "1%"},
        "resilience": "100000h", "recentre": None, "withdrawal": {"enabled": False},
    }


def _venue(name: str, market: dict, mark: str = "mid") -> dict:
    return {
        "name": name, "insurance_fund": 10, "mark": {"method": mark},
        "liquidation": {"fee_rate": 0, "throughput_per_s": 1000000, "latency": "0ms"},
        "funding": {"enabled": False}, "markets": [market],
    }


def two_venues(link: str) -> dict:
    """``link``: "cross_impact" (B lists Y) or "index" (B lists X and marks at its index)."""
    b_asset, b_collateral = ("Y", 30) if link == "cross_impact" else ("X", 120)
    sc = {
        "name": f"two_venues_{link}", "duration": "3s",
        "assets": [{"name": "X", "price": 100, "volatility": 0},
                   {"name": "Y", "price": 100, "volatility": 0}],
        "shocks": [{"asset": "X", "at": "0s", "move": "-10%", "over": "0s"}],
        "venues": [_venue("A", _market("X-PERP", "X")),
                   _venue("B", _market(f"{b_asset}-PERP", b_asset),
                          "mid" if link == "cross_impact" else "index")],
        "accounts": [
            {"name": "a", "venue": "A", "collateral": 52,
             "positions": [{"market": "X-PERP", "qty": 5, "entry": 100}]},
            {"name": "b", "venue": "B", "collateral": b_collateral,
             "positions": [{"market": f"{b_asset}-PERP", "qty": 10, "entry": 100}]},
        ],
    }
    if link == "cross_impact":
        sc["cross_impact"] = [{"venue": "A", "source": "X-PERP", "target_venue": "B",
                               "target": "Y-PERP", "beta": 0.5}]
    else:
        sc["index_weights"] = [{"venue": "B", "asset": "X", "weights": {"A": 0.5}}]
    return sc


def liquidations(result: RunResult):
    return result.events[result.events["kind"] == "liquidation"].reset_index(drop=True)


@pytest.mark.parametrize("link", ["cross_impact", "index"])
def test_a_forced_sell_on_one_venue_liquidates_an_account_on_the_other(link):
    result = run(parse_scenario(two_venues(link)), seed=1, check=True)
    assert result.ok, result.meta["error"]
    liq = liquidations(result)
    assert liq["venue"].tolist() == ["A", "B"]
    assert liq["time_ms"].tolist() == [1000, 1000]
    assert liq["generation"].tolist() == [1, 2]
    # The cascade graph links the venues: a's liquidation caused b's.
    a_seq, b_seq = (int(s) for s in liq["seq"])
    assert list(result.cascade.predecessors(b_seq)) == [a_seq]
    edge = result.cascade.edges[a_seq, b_seq]
    assert (edge["kind"], edge["share"], edge["lag_ms"]) == (link, 1.0, 0)
    assert result.summary["cascade_depth"] == 2


@pytest.mark.parametrize("link", ["cross_impact", "index"])
def test_removing_the_edge_from_the_graph_removes_the_contagion(link):
    scenario = parse_scenario(two_venues(link))
    graph = market_graph(scenario, seed=1)
    kind = "cross_impact" if link == "cross_impact" else "index_weight"
    edges = [(u, v) for u, v, k in graph.edges(data="kind") if k == kind]
    assert len(edges) == 1
    graph.remove_edges_from(edges)
    result = run(scenario, seed=1, graph=graph)
    assert liquidations(result)["venue"].tolist() == ["A"]
    # The graph that wired the run is the one handed in.
    assert not any(k == kind for *_, k in result.market_graph.edges(data="kind"))


def test_cross_impact_moves_the_other_venues_mid_by_beta_of_the_log_move():
    world = build_world(parse_scenario(two_venues("cross_impact")), 1, Recorder())
    a, b = world.venues
    calls = []
    b.moved.subscribe(lambda: calls.append(1))
    a.walk_book(1, 0, -5.0, 1000, 1, -1, Reason.ORDER)
    # At 100 the ladder quotes 1 unit per level: 5 units consume five levels, 100 -> 95.
    assert a.markets[0].prices.mid == pytest.approx(95.0, rel=1e-12)
    assert b.markets[0].prices.mid == pytest.approx(100 * math.sqrt(0.95), rel=1e-12)
    assert b.markets[0].prices.max_generation == 1
    assert calls == [1]


def test_index_weights_make_an_index_of_several_venues_prices():
    # Two sources beside the market's own share: index = f * exp(0.2 d_self + 0.3 d_1 + 0.1 d_2).
    own, s1, s2 = (MarketPrices(100.0, MarkRule("index"), None, 0.0) for _ in range(3))
    own.index_share = 0.2
    own.index_sources = [(s1, 0.3), (s2, 0.1)]
    own.add_log_impact(0, 0.05)
    s1.add_log_impact(1, -0.10)
    s2.add_log_impact(2, -0.20)
    own.follow_index(2)
    expected = 100 * math.exp(0.2 * 0.05 + 0.3 * -0.10 + 0.1 * -0.20)
    assert own.index == pytest.approx(expected, rel=1e-12)
    assert own.mark == pytest.approx(expected, rel=1e-12)
    # Counterfactual levels: level j has only generations <= j traded, in every source.
    levels = own.mark_levels(2)
    assert levels == pytest.approx(100 * np.exp([0.01, 0.01 - 0.03, 0.01 - 0.03 - 0.02]),
                                   rel=1e-12)
    assert own.observed(0)[1] == pytest.approx(expected, rel=1e-12)


def test_a_source_that_recentres_is_read_as_it_stands_now():
    own = MarketPrices(100.0, MarkRule("index"), None, 0.0)
    src = MarketPrices(100.0, MarkRule("mid"), 1000.0, 0.0)
    own.index_sources = [(src, 0.5)]
    src.add_log_impact(1, -0.1)
    own.advance(1000)  # the source is not advanced: it is read at the reader's time
    own.follow_index(1)
    assert own.index == pytest.approx(100 * math.exp(0.5 * -0.1 * math.exp(-1)), rel=1e-12)
    assert src._t == 0


def test_the_market_graph_is_saved_and_loaded_with_the_run(tmp_path):
    result = run(parse_scenario(two_venues("index")), seed=1)
    result.save(tmp_path / "r", graphs=False)
    back = RunResult.load(tmp_path / "r")
    g = back.market_graph
    assert g.nodes["market:B:X-PERP"]["kind"] == "market"
    edge = g.edges[market_node("A", "X-PERP"), index_node("B", "X-PERP")]
    assert edge["kind"] == "index_weight" and edge["weight"] == 0.5
    # Account groups' exposure at the start: a is long 5 x 100 on A.
    assert g.edges["group:A:accounts", "market:A:X-PERP"]["long"] == pytest.approx(500.0)
    assert g.edges["group:A:accounts", "collateral:USD"]["amount"] == pytest.approx(52.0)
    # A graph read back from disk wires a run the same way.
    again = run(parse_scenario(two_venues("index")), seed=1, graph=g)
    assert again.event_log_hash() == result.event_log_hash()


@pytest.mark.parametrize(("change", "message"), [
    ({"cross_impact": [{"venue": "A", "source": "X-PERP", "target_venue": "C",
                        "target": "Y-PERP", "beta": 0.5}]}, "cross_impact[0].target_venue"),
    ({"cross_impact": [{"venue": "A", "source": "X-PERP", "target_venue": "B",
                        "target": "Z-PERP", "beta": 0.5}]}, "cross_impact[0].target"),
    ({"index_weights": [{"venue": "B", "asset": "X", "weights": {"A": 0.5}}]},
     "venue 'B' lists 0 markets on 'X'"),
    ({"index_weights": [{"venue": "A", "asset": "X", "weights": {"A": 0.7, "B": 0.5}}]},
     "more than 1"),
])
def test_links_that_cannot_be_wired_are_refused_with_the_field(change, message):
    with pytest.raises(ScenarioError, match=re.escape(message)):
        parse_scenario({**two_venues("cross_impact"), **change})


def test_wiring_refuses_edges_between_the_wrong_nodes_and_weights_out_of_range():
    g = build_market_graph([("A", "X", "X"), ("B", "X", "X")])
    nodes = [market_node("A", "X"), market_node("B", "X")]
    bad = g.copy()
    bad.add_edge("venue:A", market_node("B", "X"), kind="cross_impact", beta=0.5)
    with pytest.raises(WiringError, match="cross_impact edge runs market -> market"):
        compile_wiring(bad, nodes)
    heavy = g.copy()
    heavy.add_edge(nodes[0], index_node("B", "X"), kind="index_weight", weight=0.6)
    heavy.add_edge(nodes[1], index_node("B", "X"), kind="index_weight", weight=0.6)
    with pytest.raises(WiringError, match="add up to 1.2"):
        compile_wiring(heavy, nodes)
    with pytest.raises(WiringError, match="not a market of this world"):
        compile_wiring(g, nodes[:1])
    wiring = compile_wiring(nx.DiGraph(g), nodes)
    assert wiring.cross_impact == ((), ()) and wiring.index_weight == ((), ())


def test_a_liquidation_descending_from_another_venue_counts_as_cross_venue():
    import pandas as pd

    from simulator.run.metrics import contagion_stats, cross_venue

    # A's liquidation 0 causes B's 1 (across, all of its harm); B's 2 needed B's 1 (0.25 of
    # its harm) and B's trade 5 (0.75, not foreign): 0.25; B's 3 needed B's 2 and A's 0 half
    # each: 0.5 x 0.25 + 0.5 x 1 = 0.625; B's 6 is what B's 3 set off (a waterfall edge):
    # 0.625; A's 4 needed B's 2: across, 1.
    events = pd.DataFrame({"seq": [0, 1, 2, 3, 4, 5, 6],
                           "venue": ["A", "B", "B", "B", "A", "B", "B"],
                           "kind": ["liquidation"] * 5 + ["trade", "adl"]})
    edges = pd.DataFrame({"parent": [0, 1, 5, 2, 0, 2, 3], "child": [1, 2, 2, 3, 3, 4, 6],
                          "share": [1.0, 0.25, 0.75, 0.5, 0.5, 1.0, math.nan]})
    foreign = cross_venue(events, edges)
    assert foreign.tolist() == pytest.approx([0, 1, 0.25, 0.625, 1, 0, 0.625])
    stats = contagion_stats(events, foreign)
    assert stats["cross_venue_liquidations"] == pytest.approx(2.875)
    assert stats["cross_venue_share"] == pytest.approx(2.875 / 5)
