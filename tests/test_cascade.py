"""A hand-computed three-account cascade, end to end through the SimPy run.

World: one asset at 100 with no volatility, one market with a flat 1% maintenance rate, mark =
mid, a ladder with a 1.00 step whose linear depth profile (100 USD per 1% of distance) quotes
``10000 / mid**2`` base units per level, no refill, no re-centring, no withdrawal, a liquidation
engine fast enough to serve the whole cascade within the shock's millisecond, an insurance
fund of 10 and ADL ranked at every use, on a thin book (``adl.on: thin_book``: ADL takes what
the book cannot fill with the fund's backing, solvent at the mark or not; the default rule is
in ``test_adl_trigger``).

    A  long 5 @ 100, collateral 52   liquidation price 90.909; bankruptcy 89.6
    B  long 5 @ 100, collateral 72   liquidation price 86.87;  bankruptcy 85.6
    C  long 2 @ 100, collateral 32   liquidation price 84.85;  bankruptcy 84.0
    S  short 3 @ 100, collateral 100 (profitable in a fall: the ADL counterparty)
    D  long 1 @ 100, collateral 50   (a healthy bystander)
    maker: the other side, short 10 @ 100

At t = 1000 ms the fundamental gaps to 90 (-10%). Every number below is worked out by hand in
the comments; the test compares the run with them.
"""

import math

import pytest

from simulator import run
from simulator.config import parse_scenario

# Ladder sizes at a given mid: 10000 / mid^2 base units per level.
S90 = 10000 / 90**2  # 1.2345679
S86 = 10000 / 86**2  # 1.3520822
S84 = 10000 / 84**2  # 1.4172336

# A (gen 1): breached at 90 (equity 52 - 50 = 2 < MM 0.01*5*90 = 4.5). Sells 5 into bids at
# 89.5, 88.5, 87.5, 86.5 (4 full levels of S90) and 5 - 4*S90 = 0.0617284 at 85.5: four levels
# consumed, mid 90 -> 86. Equity vs bankruptcy 89.6: sum q*(p - 89.6) = -8.1543210.
A_LAST = 5 - 4 * S90
A_NOTIONAL = S90 * (89.5 + 88.5 + 87.5 + 86.5) + A_LAST * 85.5  # 439.8456790
A_DEFICIT = 5 * 89.6 - A_NOTIONAL  # 8.1543210, paid by the fund (10 -> 1.8456790)
FUND_AFTER_A = 10 - A_DEFICIT

# B (gen 2): at 90 not breached (72 - 50 = 22 >= 4.5); at 86 breached (2 < 4.3). Bids at mid 86:
# level 0 is A's half-eaten level (5% consumed) -> 0.95*S86 at 85.5, then S86 at 84.5, 83.5...
# Per-unit shortfall vs bankruptcy 85.6: -0.1, -1.1, -2.1. The fund (1.8456790) backs
# 0.95*S86 + S86 + x with 0.95*S86*0.1 + S86*1.1 + 2.1*x = 1.8456790 -> x = 0.1095056.
B_L0 = 0.95 * S86
B_X = (FUND_AFTER_A - B_L0 * 0.1 - S86 * 1.1) / 2.1
B_BOOK = B_L0 + S86 + B_X  # 2.7460559 to the book: two levels consumed, mid 86 -> 84
B_ADL = 5 - B_BOOK  # 2.2539441 to ADL: S buys it at 85.6
B_BOOK_NOTIONAL = B_L0 * 85.5 + S86 * 84.5 + B_X * 83.5

# C (gen 3): at 86 not breached (32 - 28 = 4 >= 1.72); at 84 breached (0 < 1.68). The fund is
# empty, so nothing goes to the book backed by it; ADL takes what S has left (3 - B_ADL =
# 0.7460559 at 84.0); the rest, 1.2539441, goes to the book at 83.5 (level 0 holds
# S84*(1 - B_X/S86) = 1.3024618, so no level is consumed and the mid stays 84) and its
# shortfall 1.2539441 * 0.5 = 0.6269720 is socialized over the open positions: the maker
# (short 1 after buying 5 + 2.7460559 + 1.2539441) and D (long 1), at mark 84: half each.
C_ADL = 3 - B_ADL
C_BOOK = 2 - C_ADL
C_DEFICIT = C_BOOK * 0.5


def cascade_scenario() -> dict:
    return {
        "name": "hand_cascade",
        "duration": "3s",
        "assets": [{"name": "X", "price": 100, "volatility": 0}],
        "shocks": [{"asset": "X", "at": "0s", "move": "-10%", "over": "0s"}],
        "venues": [{
            "name": "v",
            "insurance_fund": 10,
            "mark": {"method": "mid"},
            "liquidation": {"fee_rate": 0, "throughput_per_s": 1000000, "latency": "0ms"},
            "adl": {"ranking_interval": "0ms", "on": "thin_book"},
            "funding": {"enabled": False},
            "markets": [{
                "name": "X-PERP", "asset": "X", "tick": 0.01,
                "tiers": [{"notional": 0, "mmr": "1%", "max_leverage": 50}],
                "depth": {"profile": [["1%", 100]], "level_step": "1%"},
                "resilience": "100000h", "recentre": None,
                "withdrawal": {"enabled": False},
            }],
        }],
        "accounts": [
            {"name": "A", "venue": "v", "collateral": 52,
             "positions": [{"market": "X-PERP", "qty": 5, "entry": 100}]},
            {"name": "B", "venue": "v", "collateral": 72,
             "positions": [{"market": "X-PERP", "qty": 5, "entry": 100}]},
            {"name": "C", "venue": "v", "collateral": 32,
             "positions": [{"market": "X-PERP", "qty": 2, "entry": 100}]},
            {"name": "S", "venue": "v", "collateral": 100,
             "positions": [{"market": "X-PERP", "qty": -3, "entry": 100}]},
            {"name": "D", "venue": "v", "collateral": 50,
             "positions": [{"market": "X-PERP", "qty": 1, "entry": 100}]},
        ],
    }


ROW = {"maker": 0, "A": 1, "B": 2, "C": 3, "S": 4, "D": 5}


@pytest.fixture(scope="module")
def result():
    res = run(parse_scenario(cascade_scenario()), seed=1, check=True)
    assert res.ok, res.meta["error"]
    return res


def approx(x):
    return pytest.approx(x, rel=1e-9, abs=1e-9)


def test_liquidations_times_generations_and_fills(result):
    liq = result.events[result.events["kind"] == "liquidation"].reset_index(drop=True)
    assert liq["account"].tolist() == [ROW["A"], ROW["B"], ROW["C"]]
    assert liq["time_ms"].tolist() == [1000, 1000, 1000]
    assert liq["generation"].tolist() == [1, 2, 3]
    assert liq["side"].tolist() == [-1, -1, -1]  # forced sells of longs
    assert liq["qty"].tolist() == approx([5, 5, 2])
    # Close notional: book fills plus the ADL part at the bankruptcy price.
    assert liq["notional"].tolist() == approx([
        A_NOTIONAL, B_BOOK_NOTIONAL + B_ADL * 85.6, C_ADL * 84.0 + C_BOOK * 83.5,
    ])
    assert liq.loc[0, "price"] == approx(A_NOTIONAL / 5)  # 87.9691358


def test_book_trades_and_price_path(result):
    trades = result.events[result.events["kind"] == "trade"].reset_index(drop=True)
    assert trades["account"].tolist() == [ROW["A"], ROW["B"], ROW["C"]]
    assert trades["qty"].tolist() == approx([5, B_BOOK, C_BOOK])
    assert trades["price"].tolist() == approx([A_NOTIONAL / 5, B_BOOK_NOTIONAL / B_BOOK, 83.5])
    ts = result.timeseries
    last = ts[ts["time_ms"] == ts["time_ms"].max()].iloc[0]
    assert last["fundamental"] == approx(90.0)
    assert last["mid"] == approx(84.0)  # 90 - 4 levels (A) - 2 levels (B) - 0 (C)
    assert last["mark"] == approx(84.0)
    assert result.summary["max_drawdown"] == approx(0.16)
    assert result.summary["exogenous_drawdown"] == approx(0.10)
    assert result.summary["amplification"] == approx(1.6)


def test_insurance_fund_changes(result):
    fund = result.events[result.events["kind"] == "insurance_fund"].reset_index(drop=True)
    assert fund["account"].tolist() == [ROW["A"], ROW["B"]]
    assert fund["amount"].tolist() == approx([-A_DEFICIT, -FUND_AFTER_A])
    assert fund["balance"].tolist() == approx([FUND_AFTER_A, 0.0])
    assert fund["reason"].tolist() == ["bad_debt", "bad_debt"]
    s = result.summary
    assert s["insurance_fund_paid"] == approx(10.0)
    assert s["insurance_fund_end"] == 0.0
    assert s["insurance_fund_depleted"] is True


def test_adl_amounts_and_prices(result):
    adl = result.events[result.events["kind"] == "adl"].reset_index(drop=True)
    assert adl["account"].tolist() == [ROW["S"], ROW["S"]]
    assert adl["qty"].tolist() == approx([B_ADL, C_ADL])
    assert adl["price"].tolist() == approx([85.6, 84.0])  # the bankrupt positions' prices
    assert adl["side"].tolist() == [1, 1]  # S buys back its short
    # S gives up (bankruptcy price - mark) per unit against closing at the mark (84 both times).
    assert adl["amount"].tolist() == approx([B_ADL * 1.6, 0.0])
    s = result.summary
    assert s["adl_events"] == 2 and s["adl_accounts"] == 1
    assert s["adl_notional"] == approx(B_ADL * 85.6 + C_ADL * 84.0)


def test_bankruptcies_and_socialized_loss(result):
    ev = result.events
    bank = ev[ev["kind"] == "bankruptcy"].reset_index(drop=True)
    assert bank["account"].tolist() == [ROW["A"], ROW["B"], ROW["C"]]
    assert bank["amount"].tolist() == approx([A_DEFICIT, FUND_AFTER_A, C_DEFICIT])
    social = ev[ev["kind"] == "socialized_loss"].reset_index(drop=True)
    assert social["amount"].tolist() == approx([C_DEFICIT])
    acc = result.accounts.set_index("label")
    assert acc.loc["maker", "socialized_paid"] == approx(C_DEFICIT / 2)
    assert acc.loc["D", "socialized_paid"] == approx(C_DEFICIT / 2)
    assert acc.loc[["A", "B", "C", "S"], "socialized_paid"].tolist() == [0, 0, 0, 0]
    assert result.summary["bad_debt"] == approx(A_DEFICIT + FUND_AFTER_A + C_DEFICIT)
    assert result.summary["socialized_loss"] == approx(C_DEFICIT)


def test_final_accounts(result):
    acc = result.accounts.set_index("label")
    # The liquidated end flat with nothing left; S was deleveraged to flat and kept its profit:
    # 100 + 2.2539441*(100 - 85.6) + 0.7460559*(100 - 84).
    assert acc.loc[["A", "B", "C", "S"], "qty.X-PERP"].tolist() == [0, 0, 0, 0]
    assert acc.loc[["A", "B", "C"], "final_collateral"].tolist() == approx([0, 0, 0])
    assert acc.loc["S", "final_collateral"] == approx(100 + B_ADL * 14.4 + C_ADL * 16.0)
    assert acc.loc["D", "final_collateral"] == approx(50 - C_DEFICIT / 2)
    assert acc.loc["maker", "qty.X-PERP"] == approx(-1.0)
    assert acc.loc["D", "qty.X-PERP"] == 1.0
    assert acc.loc[["A", "B", "C"], "generation"].tolist() == [1, 2, 3]


def test_cascade_graph_names_the_causes(result):
    ev = result.events.set_index("seq")
    seq = {ev.loc[s, "account"]: s for s in ev.index[ev["kind"] == "liquidation"]}
    g = result.cascade
    a, b, c = seq[ROW["A"]], seq[ROW["B"]], seq[ROW["C"]]
    liq_edges = {(u, v) for u, v in g.edges if g.nodes[v]["kind"] == "liquidation"}
    assert liq_edges == {(a, b), (b, c)}
    assert ev.loc[b, "cause"] == a and ev.loc[c, "cause"] == b and ev.loc[a, "cause"] == -1
    kinds_after_b = sorted(g.nodes[v]["kind"] for v in g.successors(b))
    assert kinds_after_b == ["adl", "bankruptcy", "insurance_fund", "liquidation"]
    # Each liquidation needed its parent's move on the same book, all of it, at once; what it
    # set off hangs off it as waterfall edges.
    for u, v in liq_edges:
        assert (g.edges[u, v]["kind"], g.edges[u, v]["share"], g.edges[u, v]["lag_ms"]) == (
            "book", 1.0, 0)
    assert {g.edges[b, v]["kind"] for v in g.successors(b) if v != c} == {"waterfall"}
    assert result.summary["cascade_depth"] == 3
    assert all(g.nodes[n]["generation"] == k for n, k in ((a, 1), (b, 2), (c, 3)))


def test_counterfactual_levels_explain_the_generations():
    """The same numbers without the engine: marks had only generations <= j traded."""
    from markets.prices.marks import MarketPrices, MarkRule

    p = MarketPrices(90.0, MarkRule("mid"), recentre_ms=None)
    p.add_impact(1, -4.0)  # A's walk
    p.add_impact(2, -2.0)  # B's walk
    assert p.mark_levels(2).tolist() == pytest.approx([90.0, 86.0, 84.0], rel=1e-12)
    # B breaches first at level 1 (86): generation 2; C first at level 2 (84): generation 3.
    assert 72 + 5 * (86 - 100) < 0.01 * 5 * 86 and 72 + 5 * (90 - 100) >= 0.01 * 5 * 90
    assert 32 + 2 * (84 - 100) < 0.01 * 2 * 84 and 32 + 2 * (86 - 100) >= 0.01 * 2 * 86
    assert math.isclose(S90, 1.2345679012345678)
