"""Mechanisms on small hand-checked worlds, continued: fees and surplus, the insurance fund's
caps and per-market funds, ADL triggers, rankings and prices, socialization, risk controls and
venue presets. The world and its helpers are ``test_mechanisms``' (X gaps 100 -> 90 at
t = 1 s; on the DEEP book every order fills at 89.95 / 90.05 without moving the mid).
"""

from pathlib import Path

import numpy as np
import pytest
from test_mechanisms import acct, go, kind, market, world

from markets.events import NullSink, Reason
from markets.liquidation.settle import socialize
from simulator import load_scenario, run
from simulator.config import ScenarioError, parse_scenario
from simulator.config.presets import PRESETS
from simulator.run.build import build_world

SMALL = Path(__file__).parent / "data" / "scenario_small.yaml"


# --- 8. fees and surplus -----------------------------------------------------------------------
# E long 1 @ 100 with 10.8, fee 0.5%: at 90 equity 0.8 < 0.9; sold at 89.95, equity 0.75,
# fee 0.5% of 89.95 = 0.44975, the trader keeps 0.30025.
FEE = 0.005 * 89.95


def test_fee_split_between_fund_and_venue_by_fee_share():
    # fee_share 0.6: the fund keeps 0.26985, the venue 0.1799.
    res, ev, acc = go(world([acct("E", 10.8, 1)], liquidation={"fee_rate": "0.5%"},
                            fund={"fee_share": 0.6}))
    fund = kind(ev, "insurance_fund")
    assert fund["reason"].tolist() == ["fee"]
    assert fund["amount"].tolist() == pytest.approx([0.6 * FEE], rel=1e-12)
    s = res.summary
    assert s["insurance_fund_end"] == pytest.approx(100 + 0.6 * FEE, rel=1e-12)
    assert s["venue_revenue"] == pytest.approx(0.4 * FEE, rel=1e-12)
    assert s["liquidation_fees"] == pytest.approx(FEE, rel=1e-12)
    assert acc.loc["E", "final_collateral"] == pytest.approx(0.75 - FEE, rel=1e-12)


def test_fee_to_venue_is_all_revenue():
    res, ev, acc = go(world([acct("E", 10.8, 1)],
                            liquidation={"fee_rate": "0.5%", "fee_to": "venue"}))
    assert kind(ev, "insurance_fund").empty
    assert res.summary["venue_revenue"] == pytest.approx(FEE, rel=1e-12)
    assert res.summary["insurance_fund_end"] == 100


def test_surplus_to_the_fund_leaves_the_trader_nothing():
    # After the fee, the 0.30025 left is the fund's too ("surplus").
    res, ev, acc = go(world([acct("E", 10.8, 1)],
                            liquidation={"fee_rate": "0.5%", "surplus": "insurance_fund"}))
    fund = kind(ev, "insurance_fund")
    assert fund["reason"].tolist() == ["fee", "surplus"]
    assert fund["amount"].tolist() == pytest.approx([FEE, 0.75 - FEE], rel=1e-9)
    assert acc.loc["E", "final_collateral"] == pytest.approx(0.0, abs=1e-12)
    assert res.summary["insurance_fund_end"] == pytest.approx(100.75, rel=1e-12)


# --- 9. fund caps and per-market funds ---------------------------------------------------------
def test_cap_per_event_limits_the_fund_and_adl_takes_the_rest():
    # L long 1 @ 100 with 8: bankruptcy 92, every fill 2.05 short. cap_per_event 1: the book
    # takes 1 / 2.05 = 0.4878049 (the fund pays exactly 1.0); the rest 0.5121951 is ADL'd with
    # S (short 1 @ 100) at 92.
    res, ev, acc = go(world([acct("L", 8, 1), acct("S", 100, -1)], fund={"cap_per_event": 1}))
    book = kind(ev, "trade")
    assert book["qty"].tolist() == pytest.approx([1 / 2.05], rel=1e-9)
    assert kind(ev, "insurance_fund")["amount"].tolist() == pytest.approx([-1.0], rel=1e-9)
    adl = kind(ev, "adl")
    assert adl["account"].tolist() == [2]
    assert (adl.iloc[0]["qty"], adl.iloc[0]["price"]) == pytest.approx((1 - 1 / 2.05, 92))
    assert res.summary["insurance_fund_end"] == pytest.approx(99.0, rel=1e-9)
    assert res.summary["socialized_loss"] == 0


def test_cap_per_period_and_socialized_rest_spare_flat_accounts():
    # No ADL. L1, L2 long 1 @ 100 with 8 each: deficits 2.05. cap 3 per hour: L1's 2.05 is paid,
    # L2 gets 0.95 and 1.1 is socialized over open positions at mark 90: H (long 1) and the
    # maker (short 3, after buying 2: short 1) pay 0.55 each; F (flat) pays nothing.
    sc = world([acct("L1", 8, 1), acct("L2", 8, 1), acct("H", 1000, 1), acct("F", 50)],
               fund={"cap_per_period": 3, "period": "1h"}, adl={"trigger": "never"})
    res, ev, acc = go(sc)
    assert kind(ev, "insurance_fund")["amount"].tolist() == pytest.approx([-2.05, -0.95])
    assert kind(ev, "bankruptcy")["amount"].tolist() == pytest.approx([2.05, 2.05])
    assert kind(ev, "socialized_loss")["amount"].tolist() == pytest.approx([1.1])
    assert acc.loc["H", "socialized_paid"] == pytest.approx(0.55)
    assert acc.loc["maker", "socialized_paid"] == pytest.approx(0.55)
    assert acc.loc["F", "socialized_paid"] == 0 and acc.loc["F", "final_collateral"] == 50
    assert res.summary["insurance_fund_end"] == pytest.approx(97.0)


def test_a_market_with_its_own_fund_pays_only_from_it():
    # X and Y both gap to 90; Y-PERP has its own fund of 50. LX (X) and LY (Y), long 1 @ 100
    # with 8, each leave 2.05: LX's from the shared fund (100 -> 97.95), LY's from Y's (50 ->
    # 47.95).
    both = [{"asset": a, "at": "0s", "move": "-10%", "co_move": False} for a in "XY"]
    sc = world([acct("LX", 8, 1), acct("LY", 8, 1, market_name="Y-PERP")], shocks=both,
               markets=[market(), market("Y-PERP", "Y", insurance_fund=50)])
    res, ev, acc = go(sc)
    fund = kind(ev, "insurance_fund")
    assert fund["market"].tolist() == ["X-PERP", "Y-PERP"]
    assert fund["balance"].tolist() == pytest.approx([97.95, 47.95])
    s = res.summary
    assert s["insurance_fund_start"] == 150
    assert s["v:Y-PERP.insurance_fund_end"] == pytest.approx(47.95)
    assert s["v:Y-PERP.insurance_fund_paid"] == pytest.approx(2.05)
    assert s["insurance_fund_end"] == pytest.approx(145.9)


# --- 10. ADL: trigger, ranking, price ----------------------------------------------------------
@pytest.mark.parametrize(("trigger", "drawdown"), [("drawdown", 0.3), ("drawdown", 0.5),
                                                   ("fund_empty", 0.3)])
def test_drawdown_trigger_locks_the_fund(trigger, drawdown):
    # Fund 10. A long 1 @ 100 with 6.05 leaves 4.0 (bankruptcy 93.95): the fund pays, 10 -> 6,
    # a 40% drawdown. B long 1 @ 100 with 8 (bankruptcy 92): with trigger drawdown 30% the fund
    # is locked and B is ADL'd whole with S at 92, though the fund still has 6; with 50% (not
    # reached) or fund_empty the fund pays B's 2.05.
    sc = world([acct("A", 6.05, 1), acct("B", 8, 1), acct("S", 100, -5)], insurance_fund=10,
               adl={"trigger": trigger, "drawdown": drawdown, "window": "1h"})
    res, ev, acc = go(sc)
    paid = kind(ev, "insurance_fund")
    adl = kind(ev, "adl")
    if trigger == "drawdown" and drawdown == 0.3:
        assert paid["amount"].tolist() == pytest.approx([-4.0])
        assert (adl["account"].tolist(), adl["qty"].tolist()) == ([3], [1.0])
        assert adl.iloc[0]["price"] == pytest.approx(92)
        assert res.summary["insurance_fund_end"] == pytest.approx(6.0)
        assert res.summary["adl_needed"] == pytest.approx(2.0)  # 1 x (92 - 90)
    else:
        assert paid["amount"].tolist() == pytest.approx([-4.0, -2.05])
        assert adl.empty
        assert res.summary["insurance_fund_end"] == pytest.approx(3.95)


@pytest.mark.parametrize(("socialize", "layer"), [("after_adl", "socialized_loss"),
                                                  ("never", "venue_loss")])
def test_adl_never_sends_the_loss_to_socialization_or_the_venue(socialize, layer):
    # Fund 0, a profitable short S present, ADL off: L's 2.05 is socialized (over S and the
    # maker) or, with socialize: never, absorbed by the venue.
    sc = world([acct("L", 8, 1), acct("S", 100, -1)], insurance_fund=0,
               adl={"trigger": "never"}, socialize=socialize)
    res, ev, acc = go(sc)
    assert kind(ev, "adl").empty
    assert res.summary[layer] == pytest.approx(2.05)
    other = {"socialized_loss", "venue_loss"} - {layer}
    assert res.summary[other.pop()] == 0


# L long 3 @ 100 with 25.5: bankruptcy 91.5, equity -4.5 at 90; fund 0, so all 3 go to ADL.
# Profitable shorts at mark 90 (equity = wallet + profit):
#   Q  short 2 @ 120, wallet 30: profit 60, equity 90, lev 2;      PnL% 25%
#   R  short 2 @ 100, wallet 20: profit 20, equity 40, lev 4.5;    PnL% 10%
#   T  short 10 @ 100, wallet 1000: profit 100, equity 1100, lev 0.818
# bitmex (PnL% x lev):        Q 0.5 > R 0.45 > T 0.082       -> Q 2, R 1
# hyperliquid (entry/mark x lev): R 5 > Q 2.667 > T 0.909    -> R 2, Q 1
# profit (USD):               T 100 > Q 60 > R 20             -> T 3
# pro_rata (by size 2:2:10):  Q 3/7, R 3/7, T 15/7
ADL_ACCOUNTS = [acct("L", 25.5, 3), acct("Q", 30, -2, entry=120), acct("R", 20, -2),
                acct("T", 1000, -10)]
Q, R, T = 2, 3, 4


@pytest.mark.parametrize(("ranking", "expected"), [
    ("bitmex", [(Q, 2), (R, 1)]),
    ("hyperliquid", [(R, 2), (Q, 1)]),
    ("profit", [(T, 3)]),
    ("pro_rata", [(T, 15 / 7), (Q, 3 / 7), (R, 3 / 7)]),
])
def test_adl_rankings_choose_different_counterparties(ranking, expected):
    res, ev, acc = go(world(ADL_ACCOUNTS, insurance_fund=0, adl={"ranking": ranking}))
    adl = kind(ev, "adl")
    assert adl["account"].tolist() == [a for a, _ in expected]
    assert adl["qty"].tolist() == pytest.approx([q for _, q in expected], rel=1e-12)
    assert adl["price"].tolist() == pytest.approx([91.5] * len(expected))
    # Entries 120 (Q) and 100 (R, T): profit given up at the mark 90.
    entry = {Q: 120, R: 100, T: 100}
    profit = sum(q * (entry[a] - 90) for a, q in expected)
    s = res.summary
    assert s["adl_needed"] == pytest.approx(3 * 1.5)  # the shortfall at the mark
    assert s["adl_profit_closed"] == pytest.approx(profit, rel=1e-12)
    assert s["adl_overuse"] == pytest.approx(profit - 4.5, rel=1e-12)
    assert s["adl_haircut"] == pytest.approx(4.5, rel=1e-12)  # 3 x (91.5 - 90)
    assert s["bad_debt"] < 1e-9 and s["socialized_loss"] == 0


def test_adl_at_the_mark_passes_the_shortfall_to_the_next_layer():
    # BitMEX order (Q 2, R 1) but at the mark 90: L is left with 25.5 - 30 = -4.5, which the
    # empty fund cannot pay: socialized over the open positions at mark 90 - the maker (long
    # 11), R (short 1) and T (short 10) - in proportion 11 : 1 : 10. Q is flat: pays nothing.
    res, ev, acc = go(world(ADL_ACCOUNTS, insurance_fund=0, adl={"price": "mark"}))
    adl = kind(ev, "adl")
    assert adl["account"].tolist() == [Q, R]
    assert adl["price"].tolist() == [90.0, 90.0]
    assert adl["amount"].tolist() == [0.0, 0.0]  # nothing given up against the mark
    assert kind(ev, "bankruptcy")["amount"].tolist() == pytest.approx([4.5])
    assert res.summary["socialized_loss"] == pytest.approx(4.5)
    paid = acc.loc[["maker", "Q", "R", "T"], "socialized_paid"].tolist()
    assert paid == pytest.approx([4.5 * 11 / 22, 0.0, 4.5 / 22, 4.5 * 10 / 22], rel=1e-12)
    assert res.summary["adl_profit_closed"] == pytest.approx(70.0)


# --- 11. socialization instead of ADL ----------------------------------------------------------
def test_socialize_instead_of_adl_charges_holders_by_notional():
    # Drift: no ADL although S is in profit. L's deficit 2.05 goes pro rata over open notional at
    # mark 90: H long 3, S short 2, the maker short 1 (after buying L's 1) -> 3 : 2 : 1.
    sc = world([acct("L", 8, 1), acct("H", 1000, 3), acct("S", 1000, -2), acct("F", 50)],
               insurance_fund=0, socialize="instead_of_adl")
    res, ev, acc = go(sc)
    assert kind(ev, "adl").empty
    soc = kind(ev, "socialized_loss")
    assert soc["amount"].tolist() == pytest.approx([2.05]) and soc["qty"].tolist() == [3]
    paid = acc.loc[["H", "S", "maker", "F"], "socialized_paid"].tolist()
    assert paid == pytest.approx([2.05 / 2, 2.05 / 3, 2.05 / 6, 0.0], rel=1e-12)
    assert acc.loc["F", "final_collateral"] == 50
    assert res.summary["venue_loss"] == 0


# --- 12. risk controls -------------------------------------------------------------------------
@pytest.mark.parametrize("with_vm", [False, True])
def test_volatility_margin_liquidates_an_otherwise_safe_account(with_vm):
    # The gap -10% in one second: variance rate w * ln(0.9)**2 / 1000 ms with
    # w = 1 - 0.5**(1/300) (half-life 5 m), annualised vol 28.42 >> reference 1: the
    # multiplier hits its maximum 2 at t = 1000. W long 1 @ 100 with 11.5: equity 1.5 >= MM 0.9
    # but < 2 x 0.9 = 1.8: liquidated only with the volatility margin.
    w = 1 - 0.5 ** (1 / 300)
    vol = np.sqrt(w * np.log(0.9) ** 2 / 1000 * 365 * 24 * 3600 * 1000)
    vm = {"volatility_margin": {"reference_vol": 1.0, "sensitivity": 1.0,
                                "max_multiplier": 2.0, "half_life": "5m", "step": 0.25}}
    res, ev, acc = go(world([acct("W", 11.5, 1)], risk_controls=vm if with_vm else {}))
    mult = kind(ev, "margin_multiplier")
    liq = kind(ev, "liquidation")
    if with_vm:
        assert mult["time_ms"].tolist() == [1000] and mult["amount"].tolist() == [2.0]
        assert mult.iloc[0]["vol"] == pytest.approx(vol, rel=1e-9)
        assert (liq["account"].tolist(), liq["time_ms"].tolist()) == ([1], [1000])
        assert acc.loc["W", "qty.X-PERP"] == 0
    else:
        assert mult.empty and liq.empty
        assert acc.loc["W", "qty.X-PERP"] == 1


@pytest.mark.parametrize("halt", ["liquidations", "trading"])
def test_circuit_breaker_delays_liquidations_until_the_pause_ends(halt):
    # Threshold 8%: at t = 1000 the mark 90 is 10% off its TWAP 100: trip, pause 3 s. At 2000
    # the TWAP is 95 (5.3% off: no second trip). The breach detected at 1000 is served at 4000.
    cb = {"circuit_breaker": {"threshold": 0.08, "window": "5m", "pause": "3s", "halt": halt}}
    res, ev, acc = go(world([acct("A", 105, 10)], duration="6s", risk_controls=cb))
    trip = kind(ev, "circuit_breaker")
    assert trip["time_ms"].tolist() == [1000]
    assert trip.iloc[0]["reason"] == f"{halt}_halted" and trip.iloc[0]["until_ms"] == 4000
    liq = kind(ev, "liquidation")
    assert liq["time_ms"].tolist() == [4000]
    assert liq.iloc[0]["detected_ms"] == 1000
    assert res.summary["circuit_breaker_trips"] == 1


class _Log(NullSink):
    def __init__(self) -> None:
        super().__init__()
        self.events: list[tuple[str, dict]] = []

    def emit(self, kind: str, time_ms: int, venue: str, market: str = "", **fields: object) -> int:
        self.events.append((kind, {"market": market, **fields}))
        return super().emit(kind, time_ms, venue, market, **fields)


def test_open_interest_cap_refuses_orders_that_grow_it():
    # Cap 150 USD; open interest 1 unit (A long 1) x mark 100 = 100 USD.
    sc = parse_scenario(world([acct("A", 50, 1), acct("F", 1000)],
                              markets=[market(open_interest_cap=150)]))
    log = _Log()
    venue = build_world(sc, 0, log).venues[0]
    acc = venue.accounts
    assert venue.market_order(2, 0, 1.0, 0) is False  # +100 -> 200 > 150
    assert log.events[-1][0] == "rejected"
    assert log.events[-1][1]["reason"] == Reason.OPEN_INTEREST_CAP
    assert acc.pos[2, 0] == 0 and venue.counters.rejected == 1
    assert venue.market_order(2, 0, 0.5, 0) is True  # +50 -> exactly 150
    assert acc.pos[2, 0] == 0.5
    assert venue.market_order(2, 0, 0.01, 0) is False  # at the cap now
    assert venue.market_order(1, 0, -0.5, 0) is True  # reducing is always allowed
    assert acc.pos[1, 0] == 0.5 and venue.counters.rejected == 2


# --- 13. presets ---------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["binance", "bitmex", "bybit", "okx", "hyperliquid", "dydx",
                                  "drift"])
def test_each_preset_validates_and_runs(name):
    assert name in PRESETS
    scenario = load_scenario(SMALL).with_preset(name)
    venue = scenario.venues[0]
    assert venue.preset == name
    # World settings are kept; the mechanism is the preset's.
    assert (venue.insurance_fund, venue.liquidation.throughput_per_s) == (2000, 100)
    assert venue.adl.trigger == PRESETS[name]["adl"]["trigger"]
    res = run(scenario, seed=3, check=True)
    assert res.ok, res.meta["error"]
    assert res.summary["liquidations"] > 0


def test_preset_is_merged_key_by_key_and_own_settings_win():
    data = world([acct("A", 105, 10)], preset="okx", adl={"window": "1h"})
    del data["venues"][0]["mark"]
    v = parse_scenario(data).venues[0]
    assert (v.adl.window, v.adl.trigger, v.adl.drawdown) == (3_600_000, "drawdown", 0.3)
    assert (v.adl.price, v.adl.ranking, v.adl.ranking_interval) == ("mark", "bitmex", 0)
    assert v.mark.method == "ema_basis" and v.socialize == "never"
    assert v.liquidation.fee_rate == 0  # the venue's own liquidation key, merged in


def test_unknown_preset_names_the_field():
    with pytest.raises(ScenarioError, match=r"venues\[0\].*unknown preset 'nope'"):
        parse_scenario(world([acct("A", 105, 10)], preset="nope"))


def test_drift_published_socialized_loss_example_through_the_venue() -> None:
    """Drift v2 docs: a $2M residual loss over 100k SOL long + 100k SOL short (200k base) is
    $10 per SOL: a 20,000 SOL holder pays $200,000, a 10 SOL holder $100. Run through the
    venue's own socialization (preset drift: socialized instead of ADL), not just the
    arithmetic; a flat account pays nothing."""
    accounts = [acct("big", 1e7, 20_000), acct("small", 1e4, 10), acct("rest", 1e8, 79_990),
                acct("shorts", 1e8, -100_000), acct("flat", 1e4)]
    data = world(accounts)  # X-PERP stands for SOL-PERP
    data["venues"][0]["preset"] = "drift"
    sc = parse_scenario(data)
    w = build_world(sc, 0, NullSink())
    venue = w.venues[0]
    assert venue.rules.socialize == "instead_of_adl" and not venue.rules.adl_enabled
    assert venue.accounts.pos[0, 0] == 0  # the explicit accounts hold both sides themselves
    socialize(venue, 0, 2_000_000.0, exclude=np.array([-1]), causes=[-1], now_ms=0)
    rows = {w.accounts.label[k]: k for k in range(len(w.accounts))}
    charged = venue.counters.social_charged
    assert charged[rows["big"]] == pytest.approx(200_000.0, rel=1e-12)
    assert charged[rows["small"]] == pytest.approx(100.0, rel=1e-12)
    assert charged[rows["shorts"]] == pytest.approx(1_000_000.0, rel=1e-12)
    assert charged[rows["flat"]] == 0.0
    assert venue.counters.socialized == pytest.approx(2_000_000.0, rel=1e-12)
