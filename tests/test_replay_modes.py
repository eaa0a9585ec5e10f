"""Two replay modes: the replayed path as the fundamental (default) or as the traded price,
where simulated orders up to the bar's real net taker flow (its absorbed budget) leave the
book and the mid alone and only the excess moves them (``markets.absorption``).

Hand-made world for the book tests: X at 100, flat klines at 100, a permanent-impact book
(no re-centring, no refill) with 10,000 USD per 0.1-point level (``[1%, 100k]``, step 0.1), so
a level holds 100 X and every consumed level moves the mid 0.1. Bars (1 minute each):

- bar 0: quote volume 100,000, taker buys 20,000 -> net -60,000: sell budget 60,000, buy 0;
- bar 1: quote volume 100,000, taker buys 70,000 -> net +40,000: buy budget 40,000, sell 0;
- bar 2: quote volume 50,000, taker buys 25,000 -> net 0: no budget.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from markets.absorption import FlowBudget
from markets.book import BUY, SELL
from markets.events import NullSink, Reason
from simulator.config import ScenarioError, parse_scenario
from simulator.run.build import build_world
from simulator.run.runner import run

T0 = 1_760_119_200_000  # 2025-10-10T18:00:00Z
HEADER = ("open_time,open,high,low,close,volume,close_time,quote_volume,count,"
          "taker_buy_volume,taker_buy_quote_volume,ignore")
FLAT = [(100, 100, 100, 100, 100_000, 20_000), (100, 100, 100, 100, 100_000, 70_000),
        (100, 100, 100, 100, 50_000, 25_000)]


def klines(path: Path, bars: list[tuple[float, ...]]) -> Path:
    """1-minute bars (open, high, low, close, quote volume, taker buy quote volume)."""
    rows = [HEADER]
    for k, (o, h, lo, c, qv, tb) in enumerate(bars):
        t = T0 + 60_000 * k
        rows.append(f"{t},{o},{h},{lo},{c},{qv / c},{t + 59_999},{qv},10,{tb / c},{tb},0")
    path.write_text("\n".join(rows) + "\n")
    return path


def market(**extra: object) -> dict:
    return {"name": "X-PERP", "asset": "X", "tick": 0.01,
            "tiers": [{"notional": 0, "mmr": "0.5%", "max_leverage": 100}],
            "depth": {"profile": [["1%", 100_000]], "level_step": "0.1%"},
            "resilience": "100000h", "recentre": None, "withdrawal": {"enabled": False},
            **extra}


def scenario(csv: Path | None, mode: str = "traded", contract: str = "linear",
             **replay: object) -> dict:
    rep = {"asset": "X", "csv": None if csv is None else str(csv), "field": "open",
           "mode": mode, **replay}
    if csv is None:
        rep["synthetic"] = [["0s", 1.0], ["3m", 1.0]]
    return {"name": "modes", "duration": "3m",
            "assets": [{"name": "X", "price": 100, "volatility": 0}],
            "replays": [rep],
            "venues": [{"name": "v", "insurance_fund": 0, "mark": {"method": "mid"},
                        "contract": contract, "funding": {"enabled": False},
                        "markets": [market()]}],
            "accounts": [{"name": "a", "venue": "v", "collateral": 1e9, "positions": []}]}


class Sink(NullSink):
    """Numbers events (an inverse venue's view passes every field positionally)."""

    def emit(self, *args: object, **fields: object) -> int:
        self.seq += 1
        return self.seq


def venue_of(sc: dict):
    return build_world(parse_scenario(sc), 0, Sink()).venues[0]


def trade(venue, qty: float, at_ms: int) -> float:
    """Account 1 trades ``qty`` as a generation-1 liquidation; returns the mid after."""
    venue.walk_book(1, 0, qty, at_ms, 1, 0, Reason.LIQUIDATION)
    return venue.markets[0].prices.mid


@pytest.fixture
def csv(tmp_path: Path) -> Path:
    return klines(tmp_path / "k.csv", FLAT)


# --- the budget on its own ----------------------------------------------------------------
def budget() -> FlowBudget:
    return FlowBudget(np.array([0, 60_000, 120_000]), np.array([60_000, 120_000, 180_000]),
                      np.array([60_000.0, 0.0, 0.0]), np.array([0.0, 40_000.0, 0.0]))


def test_flow_budget_by_bar_side_reset_and_partial_absorption():
    b = budget()
    assert b.absorb(0, SELL, 25_000) == 25_000  # within the bar's sell budget
    assert b.absorb(1_000, BUY, 10_000) == 0  # bar 0 was net selling: no buy budget
    assert b.absorb(59_999, SELL, 50_000) == 35_000  # partial: the 35,000 left
    assert b.remaining(SELL) == 0
    assert b.absorb(59_999, SELL, 1_000) == 0  # spent
    # Bar 1: a fresh budget (bar 0's is gone, nothing carried over).
    assert b.absorb(60_000, SELL, 5_000) == 0
    assert b.absorb(90_000, BUY, 30_000) == 30_000
    assert b.absorb(119_999, BUY, 30_000) == 10_000
    assert b.absorb(120_000, BUY, 1_000) == 0  # bar 2: net zero
    assert b.absorb(500_000, SELL, 1_000) == 0  # after the last bar: none
    assert b.absorbed_usd == 25_000 + 35_000 + 30_000 + 10_000
    assert b.excess_usd == 10_000 + 15_000 + 1_000 + 5_000 + 20_000 + 1_000 + 1_000
    with pytest.raises(ValueError, match="backwards"):
        b.absorb(100_000, SELL, 1.0)


def test_a_bar_skipped_by_time_is_lost_and_gaps_between_bars_have_no_budget():
    b = FlowBudget(np.array([0, 60_000, 180_000]), np.array([60_000, 120_000, 240_000]),
                   np.array([100.0, 200.0, 300.0]), np.zeros(3))
    assert b.absorb(10, SELL, 50) == 50
    assert b.absorb(150_000, SELL, 1_000) == 0  # between bar 1's end and bar 2's start
    assert b.absorb(200_000, SELL, 1_000) == 300
    with pytest.raises(ValueError, match="in time order"):
        FlowBudget(np.array([0, 30_000]), np.array([60_000, 90_000]), np.ones(2), np.ones(2))
    with pytest.raises(ValueError, match="non-negative"):
        FlowBudget(np.array([0]), np.array([60_000]), np.array([-1.0]), np.zeros(1))


def test_replay_flow_is_the_bars_net_taker_flow_times_the_share(csv):
    sc = parse_scenario(scenario(csv, absorbed_share="50%", start="2025-10-10T18:01:00Z"))
    starts, ends, sell, buy = sc.replays[0].flow()
    # From bar 1 on, times relative to it; net +40,000 and 0, halved.
    assert starts.tolist() == [0, 60_000] and ends.tolist() == [60_000, 120_000]
    assert sell.tolist() == [0.0, 0.0] and buy.tolist() == [20_000.0, 0.0]


# --- orders on the book --------------------------------------------------------------------
def test_a_sell_within_the_budget_leaves_the_mid_in_traded_mode(csv):
    traded, fundamental = venue_of(scenario(csv)), venue_of(scenario(csv, "fundamental"))
    # 300 X walks three full levels (99.95, 99.85, 99.75): 29,955 USD, within 60,000.
    assert trade(traded, -300, 1_000) == 100.0
    assert trade(fundamental, -300, 1_000) == pytest.approx(99.7, abs=1e-9)
    budget = traded.markets[0].flow_budget
    assert budget.absorbed_usd == pytest.approx(29_955) and budget.excess_usd == 0
    assert not np.any(traded.markets[0].book.bid_depletion)  # the book is untouched
    assert fundamental.markets[0].flow_budget is None
    # It filled all the same, at the walk's vwap.
    assert traded.accounts.pos[1, 0] == -300
    assert traded.accounts.entry[1, 0] == pytest.approx(99.85)


def test_an_order_beyond_the_budget_moves_the_mid_as_its_excess_would(csv):
    traded, direct = venue_of(scenario(csv)), venue_of(scenario(csv, "fundamental"))
    # 1,000 X sells 99,500 USD (ten levels from 99.95 to 99.05); 60,000 is absorbed, so the
    # excess is 1,000 x 39,500 / 99,500 = 396.98 X: three full levels and part of a fourth.
    after = trade(traded, -1_000, 1_000)
    assert after == pytest.approx(99.7, abs=1e-9)
    assert after == trade(direct, -1_000 * 39_500 / 99_500, 1_000)
    np.testing.assert_allclose(traded.markets[0].book.bid_depletion,
                               direct.markets[0].book.bid_depletion, rtol=0, atol=1e-12)
    budget = traded.markets[0].flow_budget
    assert budget.absorbed_usd == 60_000 and budget.excess_usd == pytest.approx(39_500)


def test_a_buy_in_a_net_selling_bar_is_not_absorbed_and_bars_reset(csv):
    traded, fundamental = venue_of(scenario(csv)), venue_of(scenario(csv, "fundamental"))
    assert trade(traded, 300, 1_000) == trade(fundamental, 300, 1_000)  # up 0.3 in both
    assert traded.markets[0].prices.mid == pytest.approx(100.3, abs=1e-9)
    assert traded.markets[0].flow_budget.absorbed_usd == 0
    # Bar 1 buys net 40,000: the same buy is now absorbed. At mid 100.3 a 0.1 level is
    # 0.1 / 100.3 of the mid: 1e5 x (0.1 / 100.3) / 1% USD, 1e6 / 100.3^2 X; three levels
    # (100.35, 100.45, 100.55) and the rest at 100.65.
    assert trade(traded, 300, 61_000) == pytest.approx(100.3, abs=1e-9)
    level = 1e6 / 100.3**2
    assert traded.markets[0].flow_budget.absorbed_usd == pytest.approx(
        level * (100.35 + 100.45 + 100.55) + (300 - 3 * level) * 100.65, rel=1e-12)
    # Bar 2 is net zero: nothing more.
    assert trade(traded, -300, 121_000) == pytest.approx(100.0, abs=1e-9)


def test_on_an_inverse_venue_a_buy_of_contracts_is_a_sell_of_the_coin(csv):
    traded = venue_of(scenario(csv, contract="inverse"))
    fundamental = venue_of(scenario(csv, "fundamental", contract="inverse"))
    x0 = traded.markets[0].prices.mid
    assert x0 == pytest.approx(0.01)
    # Buying 30,000 contracts of x = 1/P sells 30,000 USD of X: within bar 0's sell budget.
    assert trade(traded, 30_000, 1_000) == x0
    assert trade(fundamental, 30_000, 1_000) > x0  # three levels up in x
    assert traded.markets[0].flow_budget.absorbed_usd == 30_000  # contracts are the USD
    # Selling contracts buys the coin: bar 0 has no buy budget, so it moves x down in full.
    assert trade(traded, -30_000, 2_000) < x0
    assert traded.markets[0].flow_budget.excess_usd == 30_000


# --- configuration ---------------------------------------------------------------------------
def test_validation_of_the_share_and_of_the_file_s_taker_volume(tmp_path, csv):
    for share in (0, "-10%"):
        with pytest.raises(ScenarioError, match="absorbed_share"):
            parse_scenario(scenario(csv, absorbed_share=share))
    # Above 1: the simulated market stands for more flow than the file's venue.
    assert parse_scenario(scenario(csv, absorbed_share=1.5)).replays[0].absorbed_share == 1.5
    with pytest.raises(ScenarioError, match="only to mode: traded"):
        parse_scenario(scenario(csv, "fundamental", absorbed_share=0.5))
    marks = klines(tmp_path / "marks.csv", [(100, 100, 100, 100, 0, 0)] * 3)
    with pytest.raises(ScenarioError, match=r"marks\.csv: mode: traded needs traded volume "
                                            r"\(taker_buy_quote_volume\); this file has none"):
        parse_scenario(scenario(marks))
    parse_scenario(scenario(marks, "fundamental"))  # a price-only file is fine as a fundamental
    narrow = tmp_path / "narrow.csv"
    narrow.write_text("open_time,open,high,low,close\n" f"{T0},100,100,100,100\n")
    with pytest.raises(ScenarioError, match="narrow.csv: mode: traded needs traded volume"):
        parse_scenario(scenario(narrow))


def test_traded_mode_without_the_file_runs_as_fundamental(tmp_path):
    sc = scenario(tmp_path / "absent.csv", absorbed_share=0.5)
    sc["replays"][0]["synthetic"] = [["0s", 1.0], ["3m", 1.0]]
    parsed = parse_scenario(sc)
    assert parsed.replays[0].csv is None and parsed.replays[0].flow() is None
    v = build_world(parsed, 0, Sink()).venues[0]
    assert v.markets[0].flow_budget is None


# --- whole runs ------------------------------------------------------------------------------
CRASH = [(100 * 0.98 ** k, 100 * 0.98 ** k, 100 * 0.98 ** (k + 1), 100 * 0.98 ** (k + 1),
          2e6, 0.3 * 2e6) for k in range(10)] + [(100 * 0.98 ** 10,) * 4 + (2e6, 1e6)] * 4


def crash(csv: Path, mode: str) -> dict:
    return {
        "name": "crash", "duration": "14m", "clock": {"oracle_interval": "1s"},
        "assets": [{"name": "X", "price": 100, "volatility": 0}],
        "replays": [{"asset": "X", "csv": str(csv), "field": "ohlc", "mode": mode}],
        "venues": [{"name": "v", "insurance_fund": 1e6, "funding": {"enabled": False},
                    "liquidation": {"throughput_per_s": 1000, "latency": "0ms"},
                    "markets": [market(depth={"profile": [["1%", 300_000], ["5%", 900_000]]},
                                       resilience="60s", recentre="2m")]}],
        "populations": [{"name": "longs", "venue": "v", "count": 300,
                         "notional": {"distribution": "lognormal", "median": 20_000,
                                      "sigma": 0.8},
                         "leverage": {10: 0.5, 20: 0.5}, "long_share": 1.0,
                         "entry_spread": "1%", "markets": {"X-PERP": 1.0}}],
    }


def test_traded_mode_stays_closer_to_the_replayed_drawdown(tmp_path):
    csv = klines(tmp_path / "crash.csv", CRASH)
    fund = run(parse_scenario(crash(csv, "fundamental")), 5)
    traded = run(parse_scenario(crash(csv, "traded")), 5)
    assert fund.ok and traded.ok
    exo = traded.summary["exogenous_drawdown"]
    assert exo == pytest.approx(fund.summary["exogenous_drawdown"])
    assert exo == pytest.approx(1 - 0.98 ** 10, rel=1e-6)
    assert fund.summary["liquidations"] > 0 and traded.summary["absorbed_notional"] > 0
    assert fund.summary["absorbed_notional"] == 0 == fund.summary["excess_notional"]
    gap_traded = abs(traded.summary["max_drawdown"] - exo)
    gap_fund = abs(fund.summary["max_drawdown"] - exo)
    assert gap_traded < gap_fund
    s = traded.summary
    assert s["v:X-PERP.absorbed_notional"] == s["absorbed_notional"]
    assert "v:X-PERP.absorbed_notional" not in fund.summary
    # Every trade's notional is either absorbed or excess.
    trades = traded.events[traded.events["kind"] == "trade"]
    assert s["absorbed_notional"] + s["excess_notional"] == pytest.approx(
        trades["notional"].sum(), rel=1e-9)
    # Deterministic: the same run twice gives the same event log.
    again = run(parse_scenario(crash(csv, "traded")), 5)
    assert again.event_log_hash() == traded.event_log_hash()


def test_a_zero_budget_is_the_fundamental_run_exactly(tmp_path):
    # Every bar nets to zero: traded mode has nothing to absorb, so the run is mode (a)'s.
    even = [(o, h, lo, c, qv, qv / 2) for o, h, lo, c, qv, _ in CRASH]
    csv = klines(tmp_path / "even.csv", even)
    fund = run(parse_scenario(crash(csv, "fundamental")), 5)
    traded = run(parse_scenario(crash(csv, "traded")), 5)
    assert traded.summary["absorbed_notional"] == 0 and traded.summary["excess_notional"] > 0
    assert traded.event_log_hash() == fund.event_log_hash()
