"""Venue rules checked against the venues' own test vectors.

dYdX v4 (``dydxprotocol/v4-chain``, ``protocol/x/clob/keeper/liquidations_test.go`` @56b4b49,
``TestGetBankruptcyPriceInQuoteQuantums``; the function ``GetBankruptcyPriceInQuoteQuantums`` in
``liquidations.go``): the bankruptcy quote of closing a position inside a cross subaccount is
``-DNNV - TNC x |DMMR| / TMMR``. Markets: BTC at $50,000 and ETH at $3,000, both 20% initial and
10% maintenance margin (liquidity tier 3). In liqsim a subaccount's USDC balance plus its
positions' notional (TNC) is the wallet of an account whose entries are at the oracle price.
The vectors are exact in dollars; dYdX rounds to quote quantums ($1e-6), liqsim does not.
"""

from __future__ import annotations

import numpy as np
import pytest

from markets.margin.accounts import Accounts
from markets.margin.formulas import MarginTiers, bankruptcy_price
from simulator import run
from simulator.config import parse_scenario

PRICES = np.array([50_000.0, 3_000.0])  # BTC, ETH oracle prices
TIER = MarginTiers.flat(0.10, 5.0)  # 10% maintenance, 20% initial


def subaccount(usdc: float, btc: float, eth: float) -> Accounts:
    """One cross account holding ``btc`` and ``eth`` (signed coins) entered at the oracle,
    with the subaccount's total net collateral as its wallet."""
    acc = Accounts(1, [TIER, TIER])
    acc.pos[0] = [btc, eth]
    acc.entry[0] = PRICES
    acc.wallet[0] = usdc + btc * PRICES[0] + eth * PRICES[1]
    return acc


@pytest.mark.parametrize(("name", "usdc", "btc", "eth", "market", "expected"), [
    # expected: the bankruptcy price, the dYdX quote (its |deltaQuoteQuantums|) per coin closed.
    ("one long, slightly below maintenance", -4_501, 0.1, 0.0, 0, 4_501 / 0.1),
    ("one short, slightly below maintenance", 5_499, -0.1, 0.0, 0, 5_499 / 0.1),
    ("over-collateralised long", 1, 1.0, 0.0, 0, -1.0),
    ("two longs, the ETH long closed", -490, 0.004, 0.1, 1, 294 / 0.1),
    ("two shorts, the ETH short closed", 510, -0.004, -0.1, 1, 306 / 0.1),
    ("a BTC long and an ETH short, the short closed", 110, 0.004, -0.1, 1, 306 / 0.1),
])
def test_dydx_bankruptcy_price_is_minus_dnnv_minus_tnc_share(name, usdc, btc, eth, market,
                                                              expected):
    acc = subaccount(usdc, btc, eth)
    q = float(acc.pos[0, market])
    bp = bankruptcy_price(q, PRICES[market], acc.maintenance_share_backing(0, market, PRICES))
    assert bp == pytest.approx(expected, rel=1e-12, abs=1e-9)


def test_with_one_position_the_share_is_the_whole_account():
    acc = subaccount(-4_501, 0.1, 0.0)
    assert acc.maintenance_share_backing(0, 0, PRICES) == pytest.approx(
        acc.equity_backing(0, 0, PRICES))
    # Two positions: the whole account would back the ETH long down to 2,900, dYdX to 2,940.
    acc = subaccount(-490, 0.004, 0.1)
    assert bankruptcy_price(0.1, 3_000, acc.equity_backing(0, 1, PRICES)) == pytest.approx(2_900)


def test_the_dydx_preset_closes_at_dydx_bankruptcy_prices():
    # The two-longs vector as a run: the account is below maintenance at the start (10 < 50)
    # and is closed at once against a book deep enough not to move.
    market = {"tick": 0.01, "tiers": [{"notional": 0, "mmr": "10%", "max_leverage": 5}],
              "depth": {"profile": [["1%", 1e12]], "level_step": "0.01%"},
              "resilience": "100000h", "recentre": None, "withdrawal": {"enabled": False}}
    scenario = parse_scenario({
        "name": "dydx", "duration": "3s",
        "assets": [{"name": "BTC", "price": 50_000, "volatility": 0},
                   {"name": "ETH", "price": 3_000, "volatility": 0}],
        "venues": [{"name": "v", "preset": "dydx", "insurance_fund": 1e6,
                    "funding": {"enabled": False},
                    "markets": [{"name": "BTC-USD", "asset": "BTC", **market},
                                {"name": "ETH-USD", "asset": "ETH", **market}]}],
        "accounts": [{"name": "sub", "venue": "v", "collateral": 10,
                      "positions": [{"market": "BTC-USD", "qty": 0.004, "entry": 50_000},
                                    {"market": "ETH-USD", "qty": 0.1, "entry": 3_000}]}],
    })
    result = run(scenario, seed=0, check=True)
    assert result.ok, result.meta["error"]
    liq = result.events[result.events["kind"] == "liquidation"]
    first = liq.iloc[0]
    # The first position closed takes its maintenance share of the 10 of collateral: ETH
    # 30/50 (2,940), BTC 20/50 (49,000).
    expected = {"ETH-USD": 3_000 - 10 * 30 / 50 / 0.1, "BTC-USD": 50_000 - 10 * 20 / 50 / 0.004}
    assert first["bankruptcy_price"] == pytest.approx(expected[first["market"]], rel=1e-12)
    assert set(liq["market"]) == {"BTC-USD", "ETH-USD"}


# --- Drift v2 ----------------------------------------------------------------------------
# ``drift-labs/protocol-v2``: ``resolve_perp_bankruptcy`` (controller/liquidation.rs) turns what
# the insurance fund and the fee pool leave into a cumulative-funding delta of
# ``loss / (|users' base long| + |users' base short|)`` charged to both sides; the AMM's own
# position (``base_asset_amount_with_amm``) is not in the divisor and pays nothing. Its unit
# test ``successful_resolve_perp_bankruptcy`` (controller/liquidation/tests.rs): users 5 long
# and 5 short, a $100 loss, no fund: delta = 100e6 x 1e9 / 10e9 x 1000 = $10 per base, so the
# long user pays $50 and the short user $50.
def drift_venue(long: float, short: float):
    from markets.events import NullSink
    from simulator.run.build import build_world

    market = {"name": "SOL-PERP", "asset": "SOL", "tick": 0.01,
              "tiers": [{"notional": 0, "mmr": "5%", "max_leverage": 10}],
              "depth": {"profile": [["1%", 1e9]]}, "withdrawal": {"enabled": False}}
    scenario = parse_scenario({
        "name": "drift", "duration": "1s",
        "assets": [{"name": "SOL", "price": 100, "volatility": 0}],
        "venues": [{"name": "v", "preset": "drift", "insurance_fund": 0, "markets": [market]}],
        "accounts": [{"name": "long", "venue": "v", "collateral": 1e4,
                      "positions": [{"market": "SOL-PERP", "qty": long, "entry": 100}]},
                     {"name": "short", "venue": "v", "collateral": 1e4,
                      "positions": [{"market": "SOL-PERP", "qty": -short, "entry": 100}]}],
    })
    return build_world(scenario, 0, NullSink()).venues[0]


@pytest.mark.parametrize(("long", "short", "loss", "paid"), [
    (5, 5, 100.0, (50.0, 50.0, 0.0)),  # Drift's test vector (the maker holds nothing)
    (5, 4, 90.0, (50.0, 40.0, 0.0)),  # the maker (AMM) short 1: still $10 per users' base
])
def test_drift_socialized_loss_is_paid_by_users_base_not_the_amm(long, short, loss, paid):
    from markets.liquidation.settle import socialize

    venue = drift_venue(long, short)
    assert venue.accounts.pos[0, 0] == pytest.approx(short - long)  # the maker: the rest
    socialize(venue, 0, loss, exclude=np.array([-1]), causes=[-1], now_ms=0)
    assert venue.counters.social_charged[[1, 2, 0]].tolist() == pytest.approx(list(paid))
    assert venue.counters.socialized == pytest.approx(loss)


# --- Bybit -------------------------------------------------------------------------------
# Bybit's isolated-margin example (help centre, "Liquidation Price (USDT Contract)"): initial
# margin 400, long 1 BTC @ 20,000, maintenance rate 0.5% -> maintenance 20,000 x 0.5% = 100,
# valued at the entry, so the position is liquidated at 20,000 - (400 - 100) = 19,700. Valued
# at the mark it would be 19,600 / 0.995 = 19,698.49.
def bybit_world(preset_rule: str | None) -> dict:
    venue = {"name": "v", "preset": "bybit", "insurance_fund": 1e6, "mark": {"method": "mid"},
             "funding": {"enabled": False},
             "liquidation": {"throughput_per_s": 1e6, "latency": "0ms"},
             "markets": [{"name": "BTCUSDT", "asset": "BTC", "tick": 0.01,
                          "tiers": [{"notional": 0, "mmr": "0.5%", "max_leverage": 100}],
                          "depth": {"profile": [["1%", 1e12]], "level_step": "0.001%"},
                          "resilience": "100000h", "recentre": None,
                          "withdrawal": {"enabled": False}}]}
    if preset_rule is not None:
        venue["liquidation"]["isolated_maintenance"] = preset_rule
    return {"name": "bybit", "duration": "120s",
            "assets": [{"name": "BTC", "price": 20_000, "volatility": 0}],
            "shocks": [{"asset": "BTC", "at": "0s", "move": "-2%", "over": "100s"}],
            "venues": [venue],
            "accounts": [{"name": "iso", "venue": "v", "collateral": 0, "margin_mode": "isolated",
                          "positions": [{"market": "BTCUSDT", "qty": 1, "entry": 20_000,
                                         "margin": 400}]}]}


def test_bybit_values_isolated_maintenance_at_entry():
    from markets.events import NullSink
    from simulator.run.build import build_world

    world = build_world(parse_scenario(bybit_world(None)), 0, NullSink())
    acc = world.venues[0].accounts
    assert acc.iso_mm_at_entry  # the bybit preset's rule
    assert acc.scope_slack(1, 0, np.array([19_700.0])) == pytest.approx(0.0, abs=1e-9)
    assert acc.scope_slack(1, 0, np.array([19_700.01])) > 0 > acc.scope_slack(
        1, 0, np.array([19_699.99]))
    slack = acc.slack(np.array([1]), np.array([19_700.0]))[1][0, 0]
    assert slack == pytest.approx(0.0, abs=1e-9)  # the array path agrees


@pytest.mark.parametrize(("rule", "threshold"), [(None, 19_700.0), ("mark", 19_600 / 0.995)])
def test_bybit_isolated_long_is_liquidated_at_bybits_price(rule, threshold):
    result = run(parse_scenario(bybit_world(rule)), seed=0, check=True)
    assert result.ok, result.meta["error"]
    liq = result.events[result.events["kind"] == "liquidation"]
    assert len(liq) >= 1
    # Caught on the first 1 s tick at or below the threshold: the path falls 0.02% a tick.
    first = liq.iloc[0]
    assert threshold * (1 - 0.00025) <= first["price"] <= threshold
