"""Margin math against venues' published worked examples, and tier arithmetic."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from markets.margin.accounts import Accounts
from markets.margin.formulas import (
    MarginTiers,
    bankruptcy_price,
    bitmex_adl_score,
    cross_liquidation_price,
    isolated_liquidation_price,
)
from simulator.config.models import TIER_PRESETS

BTC_2021 = MarginTiers.from_table(*zip(*TIER_PRESETS["binance_btcusdt_2021"], strict=True))


def test_binance_worked_example_liquidation_price():
    # Binance FAQ: wallet 500 USDT, long 0.02 BTC at 50,000, MMR 0.4%, cum 0 -> 25,100.40.
    lp = cross_liquidation_price(wallet=500, qty=0.02, entry=50_000, mmr=0.004, cum=0.0)
    assert round(lp, 2) == 25_100.40


def test_binance_example_breaches_exactly_at_its_liquidation_price():
    acc = Accounts(1, [BTC_2021])
    acc.wallet[0], acc.pos[0, 0], acc.entry[0, 0] = 500.0, 0.02, 50_000.0
    lp = cross_liquidation_price(500, 0.02, 50_000, 0.004)
    cross, _ = acc.slack(np.array([0]), np.array([lp]))
    assert cross[0] == pytest.approx(0.0, abs=1e-9)
    above, _ = acc.slack(np.array([0]), np.array([lp + 0.01]))
    below, _ = acc.slack(np.array([0]), np.array([lp - 0.01]))
    assert above[0] > 0 > below[0]


def test_binance_btcusdt_2021_maintenance_amounts():
    # cum_n = floor_n * (MMR_n - MMR_{n-1}) + cum_{n-1}, as listed in the venue rules.
    expected = [0, 50, 1_300, 16_300, 266_300, 1_266_300, 2_516_300, 5_016_300, 25_016_300,
                100_016_300]
    assert BTC_2021.cum.tolist() == pytest.approx(expected)


def test_tier_maintenance_by_hand():
    # 200k notional sits in tier 2 (50k-250k, 0.5%, cum 50): 200,000 * 0.005 - 50 = 950.
    assert BTC_2021.maintenance(200_000.0) == pytest.approx(950.0)
    # 2M in tier 4 (1M-10M, 2.5%, cum 16,300): 50,000 - 16,300 = 33,700.
    assert BTC_2021.maintenance(2_000_000.0) == pytest.approx(33_700.0)
    assert BTC_2021.rate_and_cum(2_000_000.0) == pytest.approx((0.025, 16_300.0))
    assert BTC_2021.leverage_cap(2_000_000.0) == 20
    assert BTC_2021.maintenance(0.0) == 0.0


@settings(max_examples=200, deadline=None, derandomize=True)
@given(st.floats(0, 6e8), st.floats(0, 1e6))
def test_maintenance_is_continuous_monotone_and_bounded(notional, step):
    m0, m1 = BTC_2021.maintenance(notional), BTC_2021.maintenance(notional + step)
    assert m1 >= m0 - 1e-6
    assert m1 - m0 <= BTC_2021.max_mmr * step + 1e-6  # slope never above the largest rate
    assert m0 <= notional * BTC_2021.max_mmr + 1e-6


def test_tiers_at_boundaries_are_continuous():
    for floor in BTC_2021.floors[1:]:
        left = BTC_2021.maintenance(np.nextafter(floor, 0))
        assert BTC_2021.maintenance(floor) == pytest.approx(left, rel=1e-12, abs=1e-6)


@pytest.mark.parametrize(
    ("floors", "mmr", "lev", "fragment"),
    [
        ([0, 10], [0.02, 0.03], [60, 20], "below initial margin"),
        ([5], [0.01], [10], "start at notional 0"),
        ([0, 0], [0.01, 0.02], [10, 5], "increase"),
        ([0, 10], [0.02, 0.01], [10, 5], "must not fall"),
    ],
)
def test_tier_validation(floors, mmr, lev, fragment):
    with pytest.raises(ValueError, match=fragment):
        MarginTiers.from_table(floors, mmr, lev)


def test_dydx_isolated_liquidation_price_example():
    # dYdX v4 docs: e = 1000, s = -3, p = 3000, MMF = 0.05 -> 3,174.60.
    assert round(isolated_liquidation_price(1000, -3, 3000, 0.05), 2) == 3174.60


def test_bankruptcy_price():
    assert bankruptcy_price(qty=1.0, entry=100.0, margin=10.0) == 90.0
    assert bankruptcy_price(qty=-2.0, entry=100.0, margin=10.0) == 105.0
    # Binance example: 500 of margin on 0.02 BTC: bankrupt 25,000 below entry.
    assert bankruptcy_price(0.02, 50_000.0, 500.0) == pytest.approx(25_000.0)


def test_bitmex_ranking_on_a_hand_built_book():
    # mark 120; PnL% = (120 - entry)/entry; effective leverage = 120*|q| / equity.
    qty = np.array([1.0, 2.0, 1.0, 1.0, 4.0])
    entry = np.array([100.0, 110.0, 130.0, 100.0, 100.0])
    equity = np.array([40.0, 48.0, 60.0, 0.0, 96.0])
    score = bitmex_adl_score(qty, entry, 120.0, equity)
    # A: 0.2 * 3 = 0.6; B: (10/110) * 5 = 0.4545; C: in loss, (-10/130) / 2 = -0.0385;
    # D: no equity -> last; E: 0.2 * 5 = 1.0.
    assert score[:3] == pytest.approx([0.6, 10 / 110 * 5, (-10 / 130) / 2])
    assert score[3] == -np.inf
    assert score[4] == pytest.approx(1.0)
    assert np.argsort(-score, kind="stable").tolist() == [4, 0, 1, 2, 3]
    # Shorts rank on their own side: a short entered at 130 is in profit at 120.
    assert bitmex_adl_score(np.array([-1.0]), np.array([130.0]), 120.0, np.array([30.0]))[0] \
        == pytest.approx((10 / 130) * 4)
