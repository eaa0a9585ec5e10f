"""Inverse (coin-margined) contracts, by hand: contracts of 1 USD, collateral and PnL in the coin.

World: X at 8000 falling 50% over 300 s (or rising), one market per venue, flat 0.5%
maintenance, mark = mid, a book deep enough that no order moves the mid. The same account
(long 1.25 X @ 8000 = 10,000 USD, 4,000 USD of collateral) sits on a linear venue and on an
inverse one, where it is 10,000 contracts and 0.5 coin:

- linear: bankrupt where 4000 + 1.25 (P - 8000) = 0, at 4800; liquidated below 4824.1.
- inverse: bankrupt where 0.5 + 10000 (1/8000 - 1/P) = 0, at 5714.29 (Bybit's cross-margin
  example, "How to calculate Liquidation Price (Inverse Contract)": balance 0.5 BTC, long 10,000
  contracts at 8,000; Bybit's 5,718.57 adds the 0.075% closing fee, which liqsim does not
  reserve); liquidated where 0.5 + 10000 (1/8000 - 1/P) = 0.005 x 10000 / P, at 5742.86. The
  coin collateral falls with the position, so the inverse long goes first.
- isolated at 10x (margin 0.125 coin = 1000 USD): bankruptcy EP x L / (L + 1) = 7272.73
  (shared/reference/venue-rules.md, Bybit inverse).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from conftest import check_linked_run
from hypothesis import given, settings
from hypothesis import strategies as st

from simulator import default_scenario, market_graph, run
from simulator.config import ScenarioError, parse_scenario


def venue(name: str, contract: str, **extra: object) -> dict:
    return {
        "name": name, "insurance_fund": 100000, "mark": {"method": "mid"}, "contract": contract,
        "liquidation": {"fee_rate": 0, "throughput_per_s": 1000000, "latency": "0ms"},
        "funding": {"enabled": False},
        "markets": [{
            "name": "X-PERP", "asset": "X", "tick": 0.01,
            "tiers": [{"notional": 0, "mmr": "0.5%", "max_leverage": 100}],
            "depth": {"profile": [["1%", 1e12]], "level_step": "0.01%"},
            "resilience": "100000h", "recentre": None, "withdrawal": {"enabled": False},
        }],
        **extra,
    }


def account(name: str, v: str, qty: float, collateral: float, margin: float | None = None):
    position = {"market": "X-PERP", "qty": qty, "entry": 8000}
    mode = "cross"
    if margin is not None:
        position["margin"], mode = margin, "isolated"
    return {"name": name, "venue": v, "collateral": collateral, "margin_mode": mode,
            "positions": [position]}


def world(move: str, accounts: list[dict]) -> dict:
    return {"name": "inverse", "duration": "400s",
            "assets": [{"name": "X", "price": 8000, "volatility": 0}],
            "shocks": [{"asset": "X", "at": "0s", "move": move, "over": "300s"}],
            "venues": [venue("lin", "linear"), venue("inv", "inverse")],
            "accounts": accounts}


def go(scenario: dict):
    res = run(parse_scenario(scenario), seed=0, check=True)
    assert res.ok, res.meta["error"]
    return res


def liquidations(res) -> pd.DataFrame:
    ev = res.events
    return ev[ev["kind"] == "liquidation"].set_index("account")


@pytest.fixture(scope="module")
def falling():
    return go(world("-50%", [account("L", "lin", 1.25, 4000), account("I", "inv", 1.25, 4000),
                             account("Iiso", "inv", 1.25, 0, margin=1000)]))


def test_an_inverse_long_is_bankrupt_and_liquidated_where_the_coin_formula_says(falling):
    liq = liquidations(falling)
    lin = liq[liq["venue"] == "lin"].loc[1]
    inv = liq[liq["venue"] == "inv"].loc[1]
    assert lin["bankruptcy_price"] == pytest.approx(4800, rel=1e-12)
    assert inv["bankruptcy_price"] == pytest.approx(10000 / 1.75, rel=1e-12)  # 5714.29
    # Liquidated on the first 1 s tick at or below the threshold; the path falls 0.23% a
    # tick and the fill is half a level (0.005%) below the mid.
    for row, threshold in ((lin, 6000 / 1.24375), (inv, 10050 / 1.75)):
        assert threshold * (1 - 0.0024) <= row["price"] <= threshold
    assert inv["time_ms"] < lin["time_ms"]  # the coin collateral fell with the position


def test_an_isolated_inverse_position_is_bankrupt_at_entry_times_l_over_l_plus_1(falling):
    liq = liquidations(falling)
    iso = liq[liq["venue"] == "inv"].loc[2]
    assert iso["bankruptcy_price"] == pytest.approx(8000 * 10 / 11, rel=1e-12)
    # Liquidated where 0.125 + 10000 (1/8000 - 1/P) = 50 / P.
    assert 10050 / 1.375 * (1 - 0.0024) <= iso["price"] <= 10050 / 1.375


def test_the_event_log_and_tables_read_in_usd(falling):
    ev, inv = falling.events, falling.events["venue"] == "inv"
    liq = liquidations(falling)
    row = liq[liq["venue"] == "inv"].loc[1]
    # A long's liquidation is a sell of 10,000 contracts (USD), worth their coin at the fill.
    assert (row["side"], row["notional"]) == (-1, pytest.approx(10000))
    assert row["qty"] * row["price"] == pytest.approx(10000, rel=1e-12)
    trades = ev[inv & (ev["kind"] == "trade")]
    assert (trades["qty"] * trades["price"]).to_numpy() == pytest.approx(
        trades["notional"].to_numpy(), rel=1e-12)
    acc = falling.accounts.set_index(["venue", "label"])
    assert acc.loc[("inv", "I"), "initial_collateral"] == pytest.approx(4000)
    assert acc.loc[("inv", "I"), "notional0.X-PERP"] == pytest.approx(10000)
    assert acc.loc[("inv", "maker"), "notional0.X-PERP"] == pytest.approx(-20000)
    ts = falling.timeseries
    start = ts[(ts["time_ms"] == 0) & (ts["venue"] == "inv")].iloc[0]
    assert (start["mark"], start["open_interest_usd"]) == pytest.approx((8000, 20000))
    assert start["open_interest"] == pytest.approx(2.5)  # coin
    assert start["best_bid"] < start["mid"] < start["best_ask"]
    # The fund holds 12.5 coin: 100,000 USD at the start, half that at the end's 4000.
    assert falling.summary["inv.insurance_fund_end"] == pytest.approx(50000)
    assert falling.summary["insurance_fund_start"] == pytest.approx(200000)
    assert falling.summary["inv:X-PERP.max_drawdown"] == pytest.approx(0.5, rel=1e-9)


def test_a_1x_inverse_short_is_never_liquidated_by_a_rise():
    # Short 1.25 @ 8000 with 10,000 USD: linear, liquidated near 15,920 (10000 - 1.25 (P -
    # 8000) = 0.00625 P); inverse, 1.25 coin backing 10,000 contracts can never run out.
    res = go(world("+150%", [account("L", "lin", -1.25, 10000),
                             account("I", "inv", -1.25, 10000)]))
    liq = liquidations(res)
    assert liq["venue"].tolist() == ["lin"]
    assert liq.loc[1, "bankruptcy_price"] == pytest.approx(16000, rel=1e-12)
    acc = res.accounts.set_index(["venue", "label"])
    # The short keeps its 10,000 contracts and its 1.25 coin, 25,000 USD at 20,000 (its equity:
    # 1.25 + 10000 (1/20000 - 1/8000) = 0.5 coin).
    assert acc.loc[("inv", "I"), "final_collateral"] == pytest.approx(25000, rel=1e-9)
    assert acc.loc[("inv", "I"), "qty.X-PERP"] == pytest.approx(-10000 / 20000, rel=1e-9)


def test_inverse_settings_that_cannot_work_are_refused_with_the_field():
    data = world("-50%", [])
    data["assets"].append({"name": "Y", "price": 10, "volatility": 0})
    two = {**data["venues"][1]["markets"][0], "name": "Y-PERP", "asset": "Y"}
    data["venues"][1]["markets"].append(two)
    with pytest.raises(ScenarioError, match="inverse venue margins in one coin"):
        parse_scenario(data)
    data = world("-50%", [])
    data["venues"][1]["collateral"] = [{"asset": "X", "haircut": 0.1}]
    with pytest.raises(ScenarioError, match="takes no other collateral"):
        parse_scenario(data)
    data = world("-50%", [])
    data["populations"] = [{"name": "p", "venue": "inv", "count": 10, "markets": {"X-PERP": 1},
                            "dip_buyers": {"count": 2, "distance": [0.05, 0.1]}}]
    with pytest.raises(ScenarioError, match="dip_buyers: not available on an inverse venue"):
        parse_scenario(data)


def twins() -> dict:
    """The default scenario's BTC market on a linear venue and on an inverse twin, the same
    retail drawn on each (their own streams), BTC -12%."""
    data = default_scenario().to_dict()
    v = data["venues"][0]
    v["markets"] = [m for m in v["markets"] if m["asset"] == "BTC"]
    data["venues"] = [v, {**v, "name": "coin", "contract": "inverse"}]
    pops = []
    for p in data["populations"]:
        p["markets"] = {"BTC-PERP": 1.0}
        p["multi_market_share"] = 0.0
        pops += [p, {**p, "name": f"{p['name']}_coin", "venue": "coin"}]
    data["populations"] = pops
    data["duration"] = "8m"
    return data


def test_a_population_on_an_inverse_venue_keeps_the_invariants_and_its_longs_go_first():
    scenario = parse_scenario(twins())
    a = run(scenario, seed=5, check=True)
    assert a.ok, a.meta["error"]
    b = run(scenario, seed=5)
    pd.testing.assert_frame_equal(a.events, b.events)  # deterministic
    liq = a.events[a.events["kind"] == "liquidation"]
    longs = liq[liq["side"] == -1].groupby("venue")["notional"].sum()
    # The same traders and the same fall: coin-margined longs lose collateral value as well.
    assert longs["coin"] > 1.1 * longs["cex"]
    assert np.isfinite(a.summary["coin.insurance_fund_end"])


# --- links between an inverse and a linear venue -----------------------------------------
def linked(**links: object) -> dict:
    """X gaps 100 -> 90 at 1 s; on linear A, ``a`` long 5 @ 100 (collateral 52) is sold into
    four 1.00 bid levels (A's mid 90 -> 86, as in test_arbitrage); B is inverse."""
    market = {"name": "X-PERP", "asset": "X", "tick": 0.01,
              "tiers": [{"notional": 0, "mmr": "1%", "max_leverage": 50}],
              "depth": {"profile": [["1%", 100]], "level_step": "1%"},
              "resilience": "100000h", "recentre": None, "withdrawal": {"enabled": False}}
    deep = {**market, "depth": {"profile": [["1%", 1e9]], "level_step": "0.01%"}}
    base = {"insurance_fund": 10, "mark": {"method": "mid"},
            "liquidation": {"fee_rate": 0, "throughput_per_s": 1000000, "latency": "0ms"},
            "funding": {"enabled": False}}
    return {
        "name": "linked", "duration": "3s",
        "assets": [{"name": "X", "price": 100, "volatility": 0}],
        "shocks": [{"asset": "X", "at": "0s", "move": "-10%", "over": "0s"}],
        "clock": {"oracle_interval": "1s", "sample_interval": "1s"},
        "venues": [{"name": "A", **base, "markets": [market]},
                   {"name": "B", **base, "contract": "inverse",
                    "markets": [links.pop("b_market", deep)]}],
        "accounts": [{"name": "a", "venue": "A", "collateral": 52,
                      "positions": [{"market": "X-PERP", "qty": 5, "entry": 100}]},
                     *links.pop("accounts", [])],
        **links,
    }


def b_row(res, t: int) -> pd.Series:
    ts = res.timeseries
    return ts[(ts["venue"] == "B") & (ts["time_ms"] == t)].iloc[0]


def test_an_index_weight_from_a_linear_venue_moves_the_inverse_index_the_same_way():
    res = go(linked(index_weights=[{"venue": "B", "asset": "X", "weights": {"A": 0.5}}]))
    # Half of A's log move 90 -> 86, in USD: B's index sqrt(90 x 86).
    assert b_row(res, 2000)["index"] == pytest.approx(np.sqrt(90 * 86), rel=1e-9)
    assert b_row(res, 2000)["mid"] == pytest.approx(90, rel=1e-9)


def test_a_cross_impact_from_a_linear_venue_moves_the_inverse_mid_the_same_way():
    res = go(linked(cross_impact=[{"venue": "A", "source": "X-PERP", "target_venue": "B",
                                   "target": "X-PERP", "beta": 0.3}]))
    assert b_row(res, 2000)["mid"] == pytest.approx(90 * (86 / 90) ** 0.3, rel=1e-9)


def test_arbitrage_carries_a_linear_forced_sell_to_inverse_longs():
    # On inverse B, ``b`` long 10 @ 100 = 1,000 contracts with 1.30 coin (130 USD) is safe at
    # 90 (1.30 + 1000 (0.01 - 1/90) = 0.189 >= 10 / 90) and liquidated below 1010 / 11.30 =
    # 89.38. B's book is A's in USD (100 USD within 1%, 1% levels).
    thin = {"name": "X-PERP", "asset": "X", "tick": 0.01,
            "tiers": [{"notional": 0, "mmr": "1%", "max_leverage": 50}],
            "depth": {"profile": [["1%", 100]], "level_step": "1%"},
            "resilience": "100000h", "recentre": None, "withdrawal": {"enabled": False}}
    b = [{"name": "b", "venue": "B", "collateral": 130,
          "positions": [{"market": "X-PERP", "qty": 10, "entry": 100}]}]
    arb = [{"name": "arb", "asset": "X", "venues": ["A", "B"], "latency": "100ms",
            "threshold": 0, "capital": 1000, "leverage": 5}]
    scenario = parse_scenario(linked(b_market=thin, accounts=b, arbitrage=arb))
    res = run(scenario, seed=1, check=True)
    assert res.ok, res.meta["error"]
    ev = res.events
    trades = ev[(ev["kind"] == "trade") & (ev["reason"] == "arbitrage")]
    first = trades[trades["time_ms"] == 1100]
    assert first["venue"].tolist() == ["A", "B"]
    assert first["side"].tolist() == [1, -1]  # buys on A (cheap), sells on B, in USD terms
    # The same coin bought and sold, up to the two books' fill prices.
    assert first["qty"].iloc[1] == pytest.approx(first["qty"].iloc[0], rel=0.05)
    liq = ev[ev["kind"] == "liquidation"]
    assert liq["venue"].tolist()[:2] == ["A", "B"] and liq["time_ms"].tolist()[:2] == [1000, 1100]
    a_seq, b_seq = (int(s) for s in liq["seq"].iloc[:2])
    assert list(res.cascade.predecessors(b_seq)) == [a_seq]
    assert res.cascade.edges[a_seq, b_seq]["kind"] == "arbitrage"
    # Without the arbitrage edge B never moves and b is never liquidated.
    graph = market_graph(scenario, seed=1)
    graph.remove_edges_from([(u, v, k) for u, v, k, d in graph.edges(keys=True, data=True)
                             if d.get("kind") == "arbitrage"])
    alone = run(scenario, seed=1, graph=graph)
    assert alone.events[alone.events["kind"] == "liquidation"]["venue"].tolist() == ["A"]


@settings(max_examples=5, deadline=None, derandomize=True)
@given(seed=st.integers(0, 1_000), retail=st.integers(200, 600),
       shock=st.sampled_from([-6, -12, -20]), latency=st.sampled_from(["0ms", "50ms", "1s"]),
       capital=st.sampled_from([1e4, 1e6, 1e8]), weight=st.sampled_from([0.0, 0.3]))
def test_linked_linear_and_inverse_venues_keep_the_invariants(seed, retail, shock, latency,
                                                              capital, weight):
    data = twins()
    data["duration"] = "5m"
    data["shocks"][0]["move"] = f"{shock}%"
    for p in data["populations"]:
        p["count"] = retail if p["name"].startswith("retail") else 3
    data["arbitrage"] = [{"name": "btc", "asset": "BTC", "venues": ["cex", "coin"],
                          "latency": latency, "threshold": 0.0005, "capital": capital}]
    if weight:
        data["index_weights"] = [{"venue": "coin", "asset": "BTC",
                                  "weights": {"cex": weight, "coin": 0.2}}]
    check_linked_run(parse_scenario(data), seed)


def test_inverse_longs_pay_the_funding_interest_in_coin():
    # A flat price, mark = index: the rate is the interest, 0.01%, and P's longs pay it. On
    # 10,000 contracts at 8000 that is 1.25 coin x 0.01% = 0.000125 coin, 1 USD.
    data = world("0%", [account("I", "inv", 1.25, 4000)])
    data["venues"] = [venue("inv", "inverse", funding={"enabled": True, "interval": "1m",
                                                       "interest": "0.01%"})]
    data["duration"] = "90s"
    res = go(data)
    funding = res.events[res.events["kind"] == "funding"]
    assert funding["price"].tolist() == pytest.approx([0.0001])
    assert funding["amount"].tolist() == pytest.approx([1.0])  # what the longs paid, USD
    acc = res.accounts.set_index("label")
    assert acc.loc["I", "final_collateral"] == pytest.approx(4000 - 1.0, rel=1e-9)
