"""Small hand-checked worlds for the parts of the pipeline the cascade test does not reach:
a solvent liquidation paying its fee, isolated margin, margin-call responses, and the
engine's latency and throughput.

World: X at 100 gapping to 90 at t = 1 s; one market, flat 1% maintenance, mark = mid, no
refill, no re-centring. A deep book (step 0.10, a billion USD per 1%) fills any order at
mid - 0.05 without moving the mid, so fills are hand-computable.
"""

import pytest

from simulator import run
from simulator.config import parse_scenario


def world(accounts: list[dict], **venue: object) -> dict:
    v = {
        "name": "v", "insurance_fund": 100, "mark": {"method": "mid"},
        "liquidation": {"fee_rate": "0.5%", "throughput_per_s": 1000000, "latency": "0ms"},
        "adl": {"ranking_interval": "0ms"}, "funding": {"enabled": False},
        "markets": [{
            "name": "X-PERP", "asset": "X", "tick": 0.01,
            "tiers": [{"notional": 0, "mmr": "1%", "max_leverage": 50}],
            "depth": {"profile": [["1%", 1e9]], "level_step": "0.1%"},
            "resilience": "100000h", "recentre": None, "withdrawal": {"enabled": False},
        }],
    }
    for key, value in venue.items():
        v[key] = {**v[key], **value} if isinstance(value, dict) else value
    return {
        "name": "mechanics", "duration": "5s",
        "assets": [{"name": "X", "price": 100, "volatility": 0}],
        "shocks": [{"asset": "X", "at": "0s", "move": "-10%"}],
        "venues": [v], "accounts": accounts,
    }


def long1(name: str, collateral: float, **extra: object) -> dict:
    return {"name": name, "venue": "v", "collateral": collateral,
            "positions": [{"market": "X-PERP", "qty": 1, "entry": 100}], **extra}


def go(scenario: dict):
    res = run(parse_scenario(scenario), seed=0, check=True)
    assert res.ok, res.meta["error"]
    return res, res.events, res.accounts.set_index("label")


def test_solvent_liquidation_pays_its_fee_to_the_fund():
    # At 90: equity 10.8 - 10 = 0.8 < 0.9 maintenance. Sold at 89.95: equity 10.8 - 10.05 =
    # 0.75; fee 0.5% of 89.95 = 0.44975 to the fund; the trader keeps 0.30025.
    res, ev, acc = go(world([long1("E", 10.8)]))
    fund = ev[ev["kind"] == "insurance_fund"]
    assert fund["amount"].tolist() == pytest.approx([0.44975])
    assert fund["reason"].tolist() == ["fee"]
    assert acc.loc["E", "final_collateral"] == pytest.approx(0.30025)
    assert res.summary["insurance_fund_end"] == pytest.approx(100.44975)
    assert res.summary["bad_debt"] == 0.0 and not (ev["kind"] == "bankruptcy").any()
    liq = ev[ev["kind"] == "liquidation"].iloc[0]
    assert (liq["price"], liq["generation"], liq["time_ms"]) == pytest.approx((89.95, 1, 1000))


def test_fee_is_capped_by_what_is_left():
    # Collateral 10.3: after the close 0.25 is left, less than the 0.44975 fee.
    _, ev, acc = go(world([long1("E", 10.3)]))
    assert ev.loc[ev["kind"] == "insurance_fund", "amount"].tolist() == pytest.approx([0.25])
    assert acc.loc["E", "final_collateral"] == pytest.approx(0.0)


def test_isolated_loss_stops_at_the_isolated_margin():
    # Isolated long with margin 9 and 1,000 in the wallet: at 90 the position is bankrupt
    # (9 - 10 = -1 after the close at 89.95: -1.05). The fund pays 1.05; the wallet is untouched.
    iso = {"name": "F", "venue": "v", "collateral": 1000, "margin_mode": "isolated",
           "positions": [{"market": "X-PERP", "qty": 1, "entry": 100, "margin": 9}]}
    res, ev, acc = go(world([iso]))
    assert ev.loc[ev["kind"] == "bankruptcy", "amount"].tolist() == pytest.approx([1.05])
    assert ev.loc[ev["kind"] == "insurance_fund", "amount"].tolist() == pytest.approx([-1.05])
    assert acc.loc["F", "final_collateral"] == pytest.approx(1000.0)
    assert acc.loc["F", "qty.X-PERP"] == 0.0


def test_cross_account_is_backed_by_its_whole_wallet():
    # The same position in cross margin with 1,009: far from maintenance, not liquidated.
    res, ev, _ = go(world([long1("G", 1009.0)]))
    assert not (ev["kind"] == "liquidation").any()


def test_margin_call_top_up():
    # Long 1 with 12: at 90 equity 2, maintenance 0.9; the call level 80% (ratio 0.45 >= 0.8?
    # no)... use 11: equity 1.0, ratio 0.9 >= 0.8: called, not liquidated. The trader tops up
    # after 1 s to a ratio of 0.5: maintenance 0.9 / 0.5 - equity 1.0 = 0.8.
    resp = {"none": 0, "top_up": 1, "delay": "1s", "delay_sigma": 0, "top_up_to": 0.5}
    res, ev, acc = go(world([long1("H", 11.0, response=resp)]))
    call = ev[ev["kind"] == "margin_call"].iloc[0]
    assert (call["time_ms"], call["generation"]) == (1000, 1)
    assert call["amount"] == pytest.approx(0.9)  # margin ratio at the call
    top = ev[ev["kind"] == "top_up"].iloc[0]
    assert (top["time_ms"], top["cause"]) == (2000, call["seq"])
    assert top["amount"] == pytest.approx(0.8)
    assert acc.loc["H", "final_collateral"] == pytest.approx(11.8)
    assert not (ev["kind"] == "liquidation").any()


def test_margin_call_reduce_carries_the_call_generation():
    resp = {"none": 0, "reduce": 1, "delay": "500ms", "delay_sigma": 0, "reduce_fraction": 0.5}
    _, ev, acc = go(world([long1("R", 11.0, response=resp)]))
    call = ev[ev["kind"] == "margin_call"].iloc[0]
    trade = ev[ev["kind"] == "trade"].iloc[0]
    assert (trade["time_ms"], trade["cause"], trade["generation"]) == (1500, call["seq"], 1)
    assert (trade["side"], trade["qty"], trade["price"]) == pytest.approx((-1, 0.5, 89.95))
    assert acc.loc["R", "qty.X-PERP"] == pytest.approx(0.5)


def test_latency_and_throughput_pace_the_queue():
    # Three accounts breach at 1 s; latency 200 ms; 10 liquidations per second: served at
    # 1200, 1300 and 1400 ms, in the order they were detected.
    accounts = [long1(f"Q{k}", 10.5) for k in range(3)]
    scenario = world(accounts, liquidation={"throughput_per_s": 10, "latency": "200ms"})
    res, ev, _ = go(scenario)
    liq = ev[ev["kind"] == "liquidation"]
    assert liq["time_ms"].tolist() == [1200, 1300, 1400]
    assert liq["account"].tolist() == [1, 2, 3]
    assert res.summary["peak_liquidation_queue"] == 3


def test_a_reduce_response_is_one_batch_with_one_margin_check(monkeypatch):
    """A cross account called on two positions reduces both as one batch: both trades, then
    one margin check (not a check between the legs)."""
    import markets.venue

    scenario = world([{
        "name": "R", "venue": "v", "collateral": 22.0,
        "positions": [{"market": "X-PERP", "qty": 1, "entry": 100},
                      {"market": "Y-PERP", "qty": 1, "entry": 100}],
        "response": {"none": 0, "reduce": 1, "delay": "500ms", "delay_sigma": 0,
                     "reduce_fraction": 0.5},
    }])
    scenario["assets"].append({"name": "Y", "price": 100, "volatility": 0})
    scenario["shocks"].append({"asset": "Y", "at": "0s", "move": "-10%"})
    second = {**scenario["venues"][0]["markets"][0], "name": "Y-PERP", "asset": "Y"}
    scenario["venues"][0]["markets"].append(second)
    batches = []
    checks = {"n": 0}
    detect, batch = markets.venue.Venue.detect, markets.venue.Venue.market_orders

    def counting_detect(self, *args, **kwargs):
        checks["n"] += 1
        return detect(self, *args, **kwargs)

    def spying_batch(self, i, orders, *args, **kwargs):
        before = checks["n"]
        done = batch(self, i, orders, *args, **kwargs)
        batches.append((len(orders), done, checks["n"] - before))
        return done

    monkeypatch.setattr(markets.venue.Venue, "detect", counting_detect)
    monkeypatch.setattr(markets.venue.Venue, "market_orders", spying_batch)
    _, ev, acc = go(scenario)
    # At 90 and 90: equity 22 - 20 = 2.0 against maintenance 0.9 + 0.9 = 1.8, a ratio of 0.9
    # (called at 0.8, not liquidated); half of each position is sold at 89.95 after 500 ms.
    trades = ev[ev["kind"] == "trade"]
    assert batches == [(2, 2, 1)]
    assert sorted(trades["market"]) == ["X-PERP", "Y-PERP"]
    assert set(trades["time_ms"]) == {1500}
    assert acc.loc["R", "qty.X-PERP"] == pytest.approx(0.5)
    assert acc.loc["R", "qty.Y-PERP"] == pytest.approx(0.5)
    assert not (ev["kind"] == "liquidation").any()
