"""Each liquidation mechanism on a small hand-checked world: who is closed, at what price, in
what order, and what each waterfall layer paid (the rest: ``test_mechanisms_more.py``).

World (as in ``test_mechanics``): asset X at 100 gapping to 90 on the first oracle tick
(t = 1 s), no volatility; one market with a flat maintenance rate (1% unless stated), mark =
mid, no refill, no re-centring, no withdrawal, fee 0 unless stated, an engine with no latency
and unlimited throughput, ADL ranked at every use. Books:

- DEEP (step 0.10, a billion USD per 1%): any order here fills at mid -/+ 0.05 without moving
  the mid, so every fill is hand-computable;
- THIN (step 1.00, linear 100 USD per 1%): ``10000 / mid**2`` base units per level, as in
  ``test_cascade`` (a sell of 5 at mid 90 fills at 87.969136 and moves the mid to 86).

Every account row is 1, 2, ... in the order listed (row 0 is the market maker).
"""

import pandas as pd
import pytest

from markets.events import Mechanism, Reason
from markets.liquidation import auction as dutch
from markets.rules import AuctionRules
from simulator import run
from simulator.config import parse_scenario

DEEP = {"profile": [["1%", 1e9]], "level_step": "0.1%"}
THIN = {"profile": [["1%", 100]], "level_step": "1%"}
GAP = [{"asset": "X", "at": "0s", "move": "-10%", "co_move": False}]


def market(name: str = "X-PERP", asset: str = "X", mmr: str = "1%", lev: float = 50,
           depth: dict = DEEP, **extra: object) -> dict:
    return {"name": name, "asset": asset, "tick": 0.01,
            "tiers": [{"notional": 0, "mmr": mmr, "max_leverage": lev}],
            "depth": depth, "resilience": "100000h", "recentre": None,
            "withdrawal": {"enabled": False}, **extra}


def world(accounts: list[dict], duration: str = "5s", markets: list[dict] | None = None,
          shocks: list[dict] | None = None, **venue: object) -> dict:
    """The scenario; ``venue`` keys override (a mapping is merged into the default one)."""
    v: dict = {"name": "v", "insurance_fund": 100, "mark": {"method": "mid"},
               "liquidation": {"fee_rate": 0, "throughput_per_s": 1000000, "latency": "0ms"},
               "adl": {"ranking_interval": "0ms"}, "funding": {"enabled": False},
               "markets": markets or [market()]}
    for key, value in venue.items():
        v[key] = {**v[key], **value} if isinstance(value, dict) and key in v else value
    return {"name": "mechanisms", "duration": duration,
            "assets": [{"name": "X", "price": 100, "volatility": 0},
                       {"name": "Y", "price": 100, "volatility": 0}],
            "correlation": [[1, 0], [0, 1]],
            "shocks": GAP if shocks is None else shocks,
            "venues": [v], "accounts": accounts}


def acct(name: str, collateral: float, qty: float = 0, entry: float = 100,
         market_name: str = "X-PERP") -> dict:
    positions = [{"market": market_name, "qty": qty, "entry": entry}] if qty else []
    return {"name": name, "venue": "v", "collateral": collateral, "positions": positions}


def go(scenario: dict):
    res = run(parse_scenario(scenario), seed=0, check=True)
    assert res.ok, res.meta["error"]
    return res, res.events, res.accounts.set_index("label")


def kind(ev, name: str):
    return ev[ev["kind"] == name]


# --- 1. trigger: mark or last price ----------------------------------------------------------
@pytest.mark.parametrize("trigger", ["mark", "last"])
def test_trigger_last_sees_the_book_impact_the_index_mark_does_not(trigger):
    # Mark = index (the fundamental; no share of the venue's impact), THIN book.
    # A long 5 @ 100 with 52: at 90 equity 2 < MM 4.5 -> closed on both triggers; its sell walks
    # four levels: mid 90 -> 86 (VWAP 87.969136), the index stays 90.
    # B long 1 @ 100 with 11.5: at 90 equity 1.5 >= MM 0.9 (safe at the mark); at the mid 86
    # equity -2.5 < 0.86. Only trigger: last closes B: at 85.5 (the next bid), bankruptcy 88.5,
    # deficit 3.0 paid by the fund; generation 2 (A's impact breached it).
    sc = world([acct("A", 52, 5), acct("B", 11.5, 1)],
               markets=[market(depth=THIN)], mark={"method": "index"},
               liquidation={"trigger": trigger})
    res, ev, acc = go(sc)
    liq = kind(ev, "liquidation")
    assert liq.iloc[0]["account"] == 1
    assert liq.iloc[0]["price"] == pytest.approx(87.969136, rel=1e-8)
    if trigger == "mark":
        assert liq["account"].tolist() == [1]
        assert acc.loc["B", "qty.X-PERP"] == 1.0
        assert acc.loc["B", "final_collateral"] == 11.5
    else:
        assert liq["account"].tolist() == [1, 2]
        b = liq.iloc[1]
        assert (b["price"], b["qty"], b["generation"]) == pytest.approx((85.5, 1.0, 2))
        assert b["bankruptcy_price"] == pytest.approx(88.5, rel=1e-12)
        assert kind(ev, "bankruptcy")["amount"].tolist() == pytest.approx([8.154321, 3.0],
                                                                          rel=1e-6)
        assert acc.loc["B", "qty.X-PERP"] == 0.0


# --- 2. check_interval: polling ----------------------------------------------------------------
@pytest.mark.parametrize(("interval", "when"), [("0s", 1000), ("5s", 5000)])
def test_polling_detects_a_breach_only_at_the_next_poll(interval, when):
    # Long 10 @ 100 with 105: breached at 90 from t = 1000 (equity 5 < MM 9). Checked on every
    # mark update it is detected and closed at 1000; polled every 5 s (at 5000, 10000) only at
    # 5000. Either way all 10 sell at 89.95.
    res, ev, acc = go(world([acct("A", 105, 10)], duration="12s",
                            liquidation={"check_interval": interval}))
    liq = kind(ev, "liquidation")
    assert len(liq) == 1
    assert liq.iloc[0]["time_ms"] == when
    assert liq.iloc[0]["detected_ms"] == when
    assert (liq.iloc[0]["qty"], liq.iloc[0]["price"]) == pytest.approx((10, 89.95))
    assert acc.loc["A", "final_collateral"] == pytest.approx(105 - 10 * 10.05)


# --- 3. close: partial ---------------------------------------------------------------------------
def test_partial_close_restores_the_target_ratio():
    # Long 10 @ 100 with 105, at 90: equity 5, MM 9 (ratio 1.8). Closing x at 89.95 costs
    # 0.05 x slippage (fee 0) against the trigger price 90, so the target 0.5 needs
    #   0.01 * (10 - x) * 90 <= 0.5 * (5 - 0.05 x)  <=>  9 - 0.9 x <= 2.5 - 0.025 x
    #   <=>  x >= 6.5 / 0.875 = 7.4285714...
    # The account keeps 10 - x = 2.5714286 (wallet 105 - 10.05 x = 30.342857).
    x = 6.5 / 0.875
    res, ev, acc = go(world([acct("P", 105, 10)], liquidation={"close": "partial"}))
    liq = kind(ev, "liquidation")
    assert len(liq) == 1
    assert liq.iloc[0]["qty"] == pytest.approx(x, rel=1e-9)
    assert liq.iloc[0]["price"] == pytest.approx(89.95)
    assert liq.iloc[0]["partial_fraction"] == pytest.approx(x / 10, rel=1e-9)
    left = acc.loc["P", "qty.X-PERP"]
    assert left == pytest.approx(10 - x, rel=1e-9)
    wallet = acc.loc["P", "final_collateral"]
    assert wallet == pytest.approx(105 - 10.05 * x, rel=1e-9)
    ratio = 0.01 * left * 90 / (wallet + left * (90 - 100))
    assert ratio == pytest.approx(0.5, rel=1e-9)
    assert res.summary["partial_liquidations"] == 1
    assert res.summary["bad_debt"] == 0.0


def test_partial_close_of_a_bankrupt_account_closes_everything():
    # With 99 the equity at 90 is -1: no reduction can bring maintenance / equity to 0.5, so all
    # 10 are closed at 89.95; deficit 99 - 10 * 10.05 = -1.5, paid by the fund.
    res, ev, acc = go(world([acct("P", 99, 10)], liquidation={"close": "partial"}))
    liq = kind(ev, "liquidation")
    assert liq["qty"].tolist() == [10.0]
    assert pd.isna(liq.iloc[0]["partial_fraction"])
    assert res.summary["partial_liquidations"] == 0
    assert kind(ev, "bankruptcy")["amount"].tolist() == pytest.approx([1.5])
    assert acc.loc["P", "qty.X-PERP"] == 0.0


# --- 4. chunking -------------------------------------------------------------------------------
def test_chunks_are_a_fraction_of_what_is_left_a_cooldown_apart():
    # Chunks above 500 USD, 25% at a time, 2 s apart. Long 10 @ 100 with 105 at 90:
    #  t=1000: notional 900 > 500: close 2.5 at 89.95 -> 7.5 left, equity 5 - 0.125 = 4.875
    #          < MM 6.75: still breached, served again at 3000;
    #  t=3000: notional 675 > 500: close 1.875 -> 5.625 left, equity 4.78125 < MM 5.0625;
    #  t=5000: notional 506.25 > 500: close 1.40625 -> 4.21875 left, equity 4.7109375 >= MM
    #          3.796875: healthy, no further chunk.
    sc = world([acct("C", 105, 10)], duration="8s",
               liquidation={"chunking": {"above": 500, "fraction": 0.25, "cooldown": "2s"}})
    res, ev, acc = go(sc)
    liq = kind(ev, "liquidation")
    assert liq["time_ms"].tolist() == [1000, 3000, 5000]
    assert liq["qty"].tolist() == pytest.approx([2.5, 1.875, 1.40625], rel=1e-12)
    assert liq["price"].tolist() == pytest.approx([89.95] * 3)
    assert (liq["detected_ms"] == 1000).all()  # one breach, re-served
    assert liq["chunk_fraction"].tolist() == pytest.approx([0.25] * 3, rel=1e-12)
    assert acc.loc["C", "qty.X-PERP"] == pytest.approx(4.21875, rel=1e-12)
    assert acc.loc["C", "final_collateral"] == pytest.approx(105 - 5.78125 * 10.05, rel=1e-12)


# --- 5. backstop vault -------------------------------------------------------------------------
def test_backstop_vault_takes_over_at_the_mark_and_unwinds():
    # Backstop below 2/3, capital null: the venue's fund (100) is the vault's capital, the
    # fund starts at 0. Long 10 @ 100 with 104 at 90: equity 4, MM 9; 0 <= 4 < 6 = 2/3 x 9:
    # the vault takes all 10 at the mark 90 and keeps the remaining margin 4 (the account
    # ends with 0). It unwinds over 4 s, an order every second: 2.5 at 89.95 at 2000, 3000,
    # 4000, 5000. Vault: 100 + 4 + 10 * (89.95 - 90) = 103.5; vault_pnl 3.5.
    sc = world([acct("V", 104, 10)], duration="8s",
               liquidation={"backstop": {"unwind": "4s", "unwind_interval": "1s"}})
    res, ev, acc = go(sc)
    liq = kind(ev, "liquidation")
    assert len(liq) == 1
    assert liq.iloc[0]["mechanism"] == Mechanism.VAULT
    assert (liq.iloc[0]["qty"], liq.iloc[0]["price"], liq.iloc[0]["time_ms"]) == (10, 90, 1000)
    assert kind(ev, "backstop")["amount"].tolist() == pytest.approx([4.0])
    assert acc.loc["V", "final_collateral"] == pytest.approx(0.0, abs=1e-12)
    assert acc.loc["V", "qty.X-PERP"] == 0.0
    vault = int(acc.loc["vault", "account"])
    unwind = ev[(ev["kind"] == "trade") & (ev["account"] == vault)]
    assert unwind["time_ms"].tolist() == [2000, 3000, 4000, 5000]
    assert unwind["qty"].tolist() == pytest.approx([2.5] * 4)
    assert (unwind["reason"] == Reason.UNWIND).all() and (unwind["side"] == -1).all()
    assert acc.loc["vault", "initial_collateral"] == 100.0
    assert acc.loc["vault", "qty.X-PERP"] == 0.0
    assert acc.loc["vault", "final_collateral"] == pytest.approx(103.5)
    s = res.summary
    assert (s["vault_takeovers"], s["insurance_fund_start"], s["insurance_fund_end"]) == (1, 0, 0)
    assert s["vault_pnl"] == pytest.approx(3.5)
    assert s["bad_debt"] == 0.0


def test_backstop_does_not_take_a_bankrupt_account():
    # Equity -1 at 90 (collateral 99) is below zero: the waterfall closes it at the book.
    sc = world([acct("V", 99, 10)], liquidation={"backstop": {"capital": 50}})
    res, ev, acc = go(sc)
    assert res.summary["vault_takeovers"] == 0
    assert kind(ev, "liquidation")["price"].tolist() == pytest.approx([89.95])
    assert res.summary["insurance_fund_start"] == 100  # own capital: the fund is kept
    assert acc.loc["vault", "final_collateral"] == 50


# --- 6. insurance-fund takeover ------------------------------------------------------------
def test_fund_takes_over_what_the_book_cannot_fill_then_adl_then_offload():
    # Fund 300, capacity 1 x its balance. L long 10 @ 100 with 99: bankruptcy 90.1, above every
    # fill (89.95): the book gets nothing. The fund takes 300 / 90.1 = 3.3296337 at 90.1;
    # the rest, 6.6703663, goes to ADL: S (short 10 @ 100) buys it at 90.1. L ends at 0 with
    # no deficit (up to float residue). The fund's row offloads over 2 s, an order a second:
    # 1.6648169 at 89.95 at 2000 and 3000, each realising 1.6648169 * (89.95 - 90.1) =
    # -0.2497225 swept from the fund: 300 -> 299.7502775 -> 299.5005549.
    taken = 300 / 90.1
    sc = world([acct("L", 99, 10), acct("S", 1000, -10)], insurance_fund=300,
               liquidation={"fund_takeover": {"capacity": 1.0, "offload": "2s",
                                              "offload_interval": "1s"}})
    res, ev, acc = go(sc)
    liq = kind(ev, "liquidation")
    assert len(liq) == 1 and liq.iloc[0]["price"] == pytest.approx(90.1, rel=1e-12)
    take = ev[(ev["kind"] == "insurance_fund") & (ev["reason"] == Reason.TAKEOVER)]
    assert len(take) == 1
    assert (take.iloc[0]["qty"], take.iloc[0]["price"]) == pytest.approx((taken, 90.1), rel=1e-12)
    assert not (kind(ev, "trade")["reason"] == Reason.LIQUIDATION).any()  # nothing to the book
    adl = kind(ev, "adl")
    assert adl["account"].tolist() == [2]
    assert (adl.iloc[0]["qty"], adl.iloc[0]["price"]) == pytest.approx((10 - taken, 90.1),
                                                                        rel=1e-12)
    assert res.summary["bad_debt"] < 1e-9
    assert acc.loc["L", "final_collateral"] == pytest.approx(0.0, abs=1e-9)
    off = ev[(ev["kind"] == "insurance_fund") & (ev["reason"] == Reason.OFFLOAD)]
    assert off["time_ms"].tolist() == [2000, 3000]
    loss = taken / 2 * (89.95 - 90.1)
    assert off["amount"].tolist() == pytest.approx([loss, loss], rel=1e-9)
    assert off["balance"].tolist() == pytest.approx([300 + loss, 300 + 2 * loss], rel=1e-12)
    assert acc.loc["fund:v", "qty.X-PERP"] == 0.0
    assert acc.loc["fund:v", "final_collateral"] == 0.0  # swept
    s = res.summary
    assert (s["fund_takeovers"], s["fund_takeover_notional"]) == pytest.approx((1, 300.0))
    assert s["insurance_fund_end"] == pytest.approx(300 + 2 * loss, rel=1e-12)


# --- 7. Dutch auctions to keepers --------------------------------------------------------------
def _auction_world(keepers: dict, duration: str = "8s", **auction: object) -> dict:
    # Flat 2% maintenance (max 20x). A long 10 @ 100 with 115: at 90 equity 15 < MM 18.
    lq = {"auction": {"step": "1s", "duration": "5m", **auction, "keepers": keepers}}
    return world([acct("A", 115, 10)], duration=duration,
                 markets=[market(mmr="2%", lev=20)], liquidation=lq)


def test_rich_keeper_takes_the_lot_at_the_first_price_meeting_its_discount():
    # start_premium 2%, cut 0.99 a second, mark0 = mark = 90 throughout. A keeper bids when
    # (1.02 * 0.99**k) <= 1 - 1% : k = 3 (0.98970498), age 3 s, t = 4000, price 89.0734482.
    # Keeper 0 (row 2) has capacity for everything. A: 115 - 10 * (100 - 89.0734482) = 5.734482;
    # the fee 0.5% of 890.734482 = 4.4536724 goes to the keeper, not to the fund or venue.
    rules = AuctionRules(0.02, 0.99, 1000, 0.6, 300_000)
    price = 90 * (1 - dutch.discount(rules, 3000))
    assert price == pytest.approx(90 * 1.02 * 0.99**3, rel=1e-12)
    assert 90 * (1 - dutch.discount(rules, 2000)) > 90 * 0.99  # not at age 2 s
    keepers = {"count": 2, "capital": 1e6, "min_discount": 0.01, "leverage": 5,
               "unwind": "1m", "unwind_interval": "5s"}
    sc = _auction_world(keepers, duration="6s", start_premium=0.02, cut=0.99, cusp=0.6)
    sc["venues"][0]["liquidation"].update(fee_rate="0.5%", fee_to="keeper")
    res, ev, acc = go(sc)
    start = kind(ev, "auction")
    assert start["reason"].tolist() == ["start"] and start.iloc[0]["price"] == 90
    liq = kind(ev, "liquidation")
    assert len(liq) == 1
    assert (liq.iloc[0]["time_ms"], liq.iloc[0]["qty"]) == (4000, 10)
    assert liq.iloc[0]["price"] == pytest.approx(price, rel=1e-12)
    assert liq.iloc[0]["mechanism"] == Mechanism.AUCTION and liq.iloc[0]["keeper"] == 2
    fee = 0.005 * 10 * price
    assert acc.loc["A", "final_collateral"] == pytest.approx(115 - 10 * (100 - price) - fee)
    assert acc.loc["A", "qty.X-PERP"] == 0.0
    # Keeper 0 holds 10 less what it unwound by the end (one order at 5000: 10 * 5 s / 60 s).
    assert acc.loc["keeper#0", "qty.X-PERP"] == pytest.approx(10 - 10 / 12)
    assert acc.loc["keeper#1", "qty.X-PERP"] == 0.0
    s = res.summary
    assert s["liquidation_fees"] == pytest.approx(fee)
    assert (s["auction_takes"], s["auctions_failed"], s["venue_revenue"]) == (1, 0, 0)
    assert s["insurance_fund_end"] == 100 and s["bad_debt"] == 0


def test_zero_bid_auction_sells_deep_and_leaves_bad_debt():
    # Keepers that want 30% off the mark (a crash: nobody bids near it); start_premium 0,
    # cut 0.9, cusp 0.5. Factors 1, 0.9, 0.81, 0.729 are above 0.7: no bid at ages 0-3 s; at
    # age 4 s (t = 5000) 0.9**4 = 0.6561: the keeper (capital 200 x 5 backs 16.9 units) takes
    # all 10 at 59.049. A: 115 + 10 * (59.049 - 100) = -294.51: the fund pays its 100, the
    # remaining 194.51 is socialized over the open positions (maker short 10, keeper long 10 at
    # mark 90: half each, 97.255).
    keepers = {"count": 1, "capital": 200, "min_discount": 0.3, "leverage": 5}
    res, ev, acc = go(_auction_world(keepers, start_premium=0, cut=0.9, cusp=0.5))
    liq = kind(ev, "liquidation")
    assert liq["time_ms"].tolist() == [5000]
    assert (liq.iloc[0]["qty"], liq.iloc[0]["price"]) == pytest.approx((10, 59.049), rel=1e-12)
    assert kind(ev, "bankruptcy")["amount"].tolist() == pytest.approx([294.51], rel=1e-12)
    assert kind(ev, "insurance_fund")["amount"].tolist() == pytest.approx([-100.0])
    assert kind(ev, "socialized_loss")["amount"].tolist() == pytest.approx([194.51], rel=1e-12)
    assert acc.loc["keeper#0", "socialized_paid"] == pytest.approx(97.255, rel=1e-12)
    assert acc.loc["maker", "socialized_paid"] == pytest.approx(97.255, rel=1e-12)
    assert res.summary["auctions_failed"] == 0 and res.summary["auction_takes"] == 1


def test_poor_keeper_nibbles_then_the_auction_fails_to_the_book():
    # Keeper capital 1 at 5x, min discount 1%; start_premium 0, cut 0.9, cusp 0.6: fails once
    # 0.9**k < 0.6, k = 5 (age 5 s, t = 6000). Age 1 s: price 81 <= 89.1; capacity
    # 1 * 5 / 81 = 0.0617284. Age 2 s: price 72.9; the keeper's free capital is
    # 1 + 0.0617284 * (90 - 81) - 0.0617284 * 90 / 5 = 0.4444444: takes 0.4444444 * 5 / 72.9.
    # At 6000 the auction fails and the rest is closed at the book (89.95); A stays solvent.
    keepers = {"count": 1, "capital": 1, "min_discount": 0.01, "leverage": 5}
    res, ev, acc = go(_auction_world(keepers, start_premium=0, cut=0.9, cusp=0.6))
    takes = ev[(ev["kind"] == "liquidation") & (ev["mechanism"] == Mechanism.AUCTION)]
    assert takes["time_ms"].tolist() == [2000, 3000, 4000, 5000]
    assert takes["price"].tolist() == pytest.approx([81, 72.9, 65.61, 59.049], rel=1e-12)
    q1, q2 = 5 / 81, (1 + 5 / 81 * 9 - 5 / 81 * 18) * 5 / 72.9
    assert takes["qty"].tolist()[:2] == pytest.approx([q1, q2], rel=1e-9)
    failed = ev[(ev["kind"] == "auction") & (ev["reason"] == Reason.FAILED)]
    assert failed["time_ms"].tolist() == [6000]
    rest = 10 - takes["qty"].sum()
    assert failed.iloc[0]["qty"] == pytest.approx(rest, rel=1e-12)
    book = ev[(ev["kind"] == "liquidation") & (ev["mechanism"] == Mechanism.MARKET)]
    assert book["time_ms"].tolist() == [6000]
    assert (book.iloc[0]["qty"], book.iloc[0]["price"]) == pytest.approx((rest, 89.95))
    paid = (takes["qty"] * takes["price"]).sum() + rest * 89.95
    assert acc.loc["A", "final_collateral"] == pytest.approx(115 - 1000 + paid, rel=1e-12)
    s = res.summary
    assert (s["auction_takes"], s["auctions_failed"], s["bad_debt"]) == (4, 1, 0)
