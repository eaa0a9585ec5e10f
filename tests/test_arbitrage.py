"""Arbitrage between two venues, by hand: a forced sell on A reaches B through an arbitrageur.

Both venues list X with the hand-computed cascade's book (``test_cascade``: a 1.00 step, level
sizes ``10000 / mid**2``, no refill, no re-centring, mark = mid). On A, ``a`` long 5 @ 100 with
collateral 52 is liquidated when X gaps to 90 at t = 1000 ms; its sell walks four bid levels:
A's mid 90 -> 86, B's stays 90. The arbitrageur waits its latency (100 ms) and at 1100 ms buys
on A (asks of S86 = 1.3521 per level) and sells on B (bids of S90 = 1.2346 per level):

- **Enough capital** (threshold 0): the largest quantity that leaves B's mid >= A's: 3 x S90
  (less a hair) consumes two levels on each book, both mids end at 88. ``b`` long 10 @ 100 with
  collateral 120 on B, safe at 90 (20 >= 9), is breached at 88 (0 < 8.8): generation 2, caused
  by ``a``'s liquidation. Its forced sell makes B the cheap book, and at 1200 ms the
  arbitrageur carries that move back to A as generation 2.
- **Capital-limited**: capital 270 at 1x leverage is 135 of collateral per venue, room for a
  position of 135 / 90 = 1.5 on B: it sells 1.5 (one level, B's mid 90 -> 89) and buys 1.5 on A
  (one level, 86 -> 87). ``b`` is safe at 89 (10 >= 8.9). Its short's gain makes a little more
  room, used 100 ms later; then what is left is dust.

Without the arbitrage edge, B never moves and ``b`` is never liquidated.
"""

from __future__ import annotations

import pytest
from conftest import check_linked_run, linked_venues
from hypothesis import given, settings
from hypothesis import strategies as st

from simulator import RunResult, default_scenario, market_graph, run
from simulator.config import ScenarioError, parse_scenario

S86 = 10000 / 86**2
S90 = 10000 / 90**2


def _market() -> dict:
    return {
        "name": "X-PERP", "asset": "X", "tick": 0.01,
        "tiers": [{"notional": 0, "mmr": "1%", "max_leverage": 50}],
        "depth": {"profile": [["1%", 100]], "level_step": "1%"},
        "resilience": "100000h", "recentre": None, "withdrawal": {"enabled": False},
    }


def _venue(name: str) -> dict:
    return {
        "name": name, "insurance_fund": 10, "mark": {"method": "mid"},
        "liquidation": {"fee_rate": 0, "throughput_per_s": 1000000, "latency": "0ms"},
        "funding": {"enabled": False}, "markets": [_market()],
    }


def scenario(capital: float = 1000, leverage: float = 5, threshold: float = 0.0) -> dict:
    return {
        "name": "arbitrage", "duration": "3s",
        "assets": [{"name": "X", "price": 100, "volatility": 0}],
        "shocks": [{"asset": "X", "at": "0s", "move": "-10%", "over": "0s"}],
        "venues": [_venue("A"), _venue("B")],
        "accounts": [
            {"name": "a", "venue": "A", "collateral": 52,
             "positions": [{"market": "X-PERP", "qty": 5, "entry": 100}]},
            {"name": "b", "venue": "B", "collateral": 120,
             "positions": [{"market": "X-PERP", "qty": 10, "entry": 100}]},
        ],
        "arbitrage": [{"name": "arb", "asset": "X", "venues": ["A", "B"], "latency": "100ms",
                       "threshold": threshold, "capital": capital, "leverage": leverage}],
    }


def arb_trades(result: RunResult):
    ev = result.events
    return ev[(ev["kind"] == "trade") & (ev["reason"] == "arbitrage")].reset_index(drop=True)


def liquidations(result: RunResult):
    ev = result.events
    return ev[ev["kind"] == "liquidation"].reset_index(drop=True)


def end_mid(result: RunResult, venue: str) -> float:
    ts = result.timeseries
    return float(ts[ts["venue"] == venue].sort_values("time_ms")["mid"].iloc[-1])


def test_the_arbitrageur_carries_the_forced_sell_to_the_other_venue():
    result = run(parse_scenario(scenario()), seed=1, check=True)
    assert result.ok, result.meta["error"]
    trades = arb_trades(result)
    first = trades[trades["time_ms"] == 1100]  # after its latency
    assert first["venue"].tolist() == ["A", "B"]
    assert first["side"].tolist() == [1, -1]  # buys the cheap book, sells the rich one
    assert first["qty"].tolist() == pytest.approx([3 * S90, 3 * S90], rel=1e-9)
    # Two levels and a part on A (86.5, 87.5, then 88.5); three levels but the last not quite
    # whole on B (89.5, 88.5, 87.5): both mids end at 88.
    a_notional = S86 * 86.5 + S86 * 87.5 + (3 * S90 - 2 * S86) * 88.5
    b_notional = S90 * 89.5 + S90 * 88.5 + S90 * 87.5
    assert first["notional"].tolist() == pytest.approx([a_notional, b_notional], rel=1e-9)
    liq = liquidations(result)
    assert liq["venue"].tolist() == ["A", "B"]
    assert liq["time_ms"].tolist() == [1000, 1100]
    assert liq["generation"].tolist() == [1, 2]
    a_seq, b_seq = (int(s) for s in liq["seq"])
    # The arbitrage legs pass on generation 1 with a's liquidation as their cause ...
    assert first["generation"].tolist() == [1, 1]
    assert first["cause"].tolist() == [a_seq, a_seq]
    # ... so b's liquidation is caused by a's, across the venues, through the arbitrageur,
    # 100 ms later; a's is the only generation-1 move on B.
    assert list(result.cascade.predecessors(b_seq)) == [a_seq]
    edge = result.cascade.edges[a_seq, b_seq]
    assert (edge["kind"], edge["share"], edge["lag_ms"]) == ("arbitrage", 1.0, 100)
    # The summary counts it: B's one liquidation came from A's cascade, A's own did not.
    assert result.summary["B.cross_venue_liquidations"] == 1
    assert result.summary["B.cross_venue_share"] == 1.0
    assert result.summary["A.cross_venue_liquidations"] == 0
    assert result.summary["cross_venue_share"] == 0.5
    # b's forced sell then makes B the cheap book: 100 ms later the arbitrageur carries that
    # move back to A, as generation 2 caused by b's liquidation.
    back = trades[trades["time_ms"] == 1200]
    assert back["venue"].tolist() == ["B", "A"] and back["side"].tolist() == [1, -1]
    assert back["generation"].tolist() == [2, 2]
    assert back["cause"].tolist() == [b_seq, b_seq]


def test_the_move_is_as_large_as_the_arbitrageurs_capital_allows():
    result = run(parse_scenario(scenario(capital=270, leverage=1)), seed=1, check=True)
    trades = arb_trades(result)
    first = trades[trades["time_ms"] == 1100]
    assert first["qty"].tolist() == pytest.approx([1.5, 1.5], rel=1e-9)
    # One level and a part of each book: B's mid 90 -> 89, A's 86 -> 87.
    b_vwap = (S90 * 89.5 + (1.5 - S90) * 88.5) / 1.5
    assert first["price"].tolist()[1] == pytest.approx(b_vwap, rel=1e-12)
    assert liquidations(result)["venue"].tolist() == ["A"]
    # Its short on B gained 1.5 x (vwap - 89), which is room for a little more at 1x: the
    # last trade, after which less than a dollar's worth is left.
    more = (135 + 1.5 * (b_vwap - 89)) / 89 - 1.5
    assert trades["qty"].tolist() == pytest.approx([1.5, 1.5, more, more], rel=1e-9)
    accounts = result.accounts
    arb_b = accounts[(accounts["venue"] == "B") & (accounts["label"] == "arb:arb")]
    assert arb_b["qty.X-PERP"].tolist() == pytest.approx([-1.5 - more])
    assert end_mid(result, "A") == pytest.approx(87.0, rel=1e-12)
    assert end_mid(result, "B") == pytest.approx(89.0, rel=1e-12)


def test_a_threshold_leaves_that_gap():
    result = run(parse_scenario(scenario(threshold=0.03)), seed=1)
    # log(B / A) must stay >= 3%. One B level (S90) alone leaves 89 / 86 (3.43%); one A level
    # more (89 / 87, 2.27%) or a second B level (88 / 86, 2.30%) would cross it. So it trades
    # at least S90 and less than S86: B's mid 89, A's 86.
    trades = arb_trades(result)
    qty = float(trades["qty"].iloc[0])
    assert S90 <= qty < min(2 * S90, S86)
    assert end_mid(result, "A") == pytest.approx(86.0, rel=1e-12)
    assert end_mid(result, "B") == pytest.approx(89.0, rel=1e-12)


def test_removing_the_arbitrage_edge_removes_the_contagion():
    sc = parse_scenario(scenario())
    graph = market_graph(sc, seed=1)
    graph.remove_edge("market:A:X-PERP", "market:B:X-PERP", key="arbitrage")
    result = run(sc, seed=1, graph=graph)
    assert len(arb_trades(result)) == 0
    assert liquidations(result)["venue"].tolist() == ["A"]
    assert end_mid(result, "B") == pytest.approx(90.0, rel=1e-12)


def test_editing_the_edges_capital_changes_the_run():
    sc = parse_scenario(scenario())
    graph = market_graph(sc, seed=1)
    edge = graph.edges["market:A:X-PERP", "market:B:X-PERP", "arbitrage"]
    edge["capital"], edge["leverage"] = 270.0, 1.0
    result = run(sc, seed=1, graph=graph)
    assert arb_trades(result)["qty"].tolist()[:2] == pytest.approx([1.5, 1.5], rel=1e-9)


@pytest.mark.parametrize(("change", "message"), [
    ({"venues": ["A", "A"]}, "two different venues"),
    ({"venues": ["A", "C"]}, "unknown name 'C'"),
    ({"asset": "Y"}, "unknown name 'Y'"),
    ({"leverage": 80}, "exceeds the maximum leverage 50x"),
    ({"capital": 0}, "greater than 0"),
])
def test_an_arbitrageur_that_cannot_trade_is_refused(change, message):
    data = scenario()
    data["arbitrage"][0].update(change)
    with pytest.raises(ScenarioError, match=message):
        parse_scenario(data)


@settings(max_examples=6, deadline=None, derandomize=True)
@given(seed=st.integers(0, 1_000), retail=st.integers(200, 600),
       shock=st.sampled_from([-6, -12, -20]), latency=st.sampled_from(["0ms", "50ms", "1s"]),
       capital=st.sampled_from([1e4, 1e6, 1e8]))
def test_linked_venues_keep_the_invariants_and_are_deterministic(seed, retail, shock, latency,
                                                                   capital):
    scenario = linked_venues(default_scenario().with_overrides([
        f"populations.retail.count={retail}", "populations.whales.count=3", "duration=5m",
        f"shocks.0.move={shock}%"]))
    scenario = scenario.with_overrides([f"arbitrage.btc.latency={latency}",
                                        f"arbitrage.btc.capital={capital}"])
    check_linked_run(scenario, seed)
