"""Waterfall arithmetic: the fund-backed / ADL / socialized split, the fund, pro rata."""

import numpy as np
import pytest

from markets.insurance_fund import InsuranceFund
from markets.liquidation.waterfall import (
    fund_backed_quantity,
    level_surplus,
    pro_rata,
    split_close,
)

# Closing a long: bids at 99, 98, 97, one unit each, bankruptcy at 98.5.
PRICES = np.array([99.0, 98.0, 97.0])
SIZES = np.array([1.0, 1.0, 1.0])


def test_level_surplus_signs():
    assert level_surplus(PRICES, True, 98.5).tolist() == [0.5, -0.5, -1.5]
    assert level_surplus(PRICES, False, 98.5).tolist() == [-0.5, 0.5, 1.5]


@pytest.mark.parametrize(
    ("fund", "expected"),
    [
        # cumulative equity: +0.5, 0.0, -1.5 -> with no fund the first two units fit exactly
        (0.0, 2.0),
        # 0.75 more buys half of the third unit (each loses 1.5)
        (0.75, 2.5),
        (1.5, 3.0),
        (100.0, 3.0),
    ],
)
def test_fund_backed_quantity(fund, expected):
    assert fund_backed_quantity(PRICES, SIZES, True, 98.5, fund) == pytest.approx(expected)


def test_fund_backed_quantity_when_even_the_first_fill_is_short():
    # Bankruptcy above every bid: each unit loses; fund 0.25 backs a quarter unit at 99 (-1).
    assert fund_backed_quantity(PRICES, SIZES, True, 100.0, 0.25) == pytest.approx(0.25)


def test_split_close_layers():
    s = split_close(PRICES, SIZES, True, 98.5, fund=0.0, adl_capacity=0.4)
    assert (s.total, s.fund_backed, s.adl, s.socialized) == pytest.approx((3.0, 2.0, 0.4, 0.6))
    assert s.book == pytest.approx(2.6)  # fund-backed prefix plus the socialized remainder
    everything_to_adl = split_close(PRICES, SIZES, True, 98.5, fund=0.0, adl_capacity=5.0)
    assert everything_to_adl.adl == pytest.approx(1.0) and everything_to_adl.socialized == 0
    solvent = split_close(PRICES, SIZES, True, 90.0, fund=0.0, adl_capacity=5.0)
    assert (solvent.fund_backed, solvent.adl) == (3.0, 0.0)


def test_split_close_for_a_short():
    # Closing a short buys asks at 101, 102; bankruptcy 101.5: +0.5, -0.5 -> fits with no fund.
    asks = np.array([101.0, 102.0, 103.0])
    s = split_close(asks, SIZES, False, 101.5, fund=0.0, adl_capacity=0.0)
    assert (s.fund_backed, s.socialized) == pytest.approx((2.0, 1.0))


def test_insurance_fund_never_goes_negative():
    f = InsuranceFund(10.0)
    assert f.pay(4.0) == 4.0 and f.balance == 6.0
    assert f.pay(50.0) == 6.0 and f.balance == 0.0 and f.depleted
    f.receive(3.0)
    assert (f.balance, f.received, f.paid, f.minimum, f.start) == (3.0, 3.0, 10.0, 0.0, 10.0)
    assert f.pay(-1.0) == 0.0
    with pytest.raises(ValueError):
        f.receive(-1.0)
    with pytest.raises(ValueError):
        InsuranceFund(-1.0)


def test_insurance_fund_snaps_residue_to_zero():
    f = InsuranceFund(1.0)
    paid = f.pay(1.0 - 1e-13)
    assert f.balance == 0.0 and paid == pytest.approx(1.0)


def test_pro_rata():
    assert pro_rata(np.array([1.0, 3.0, 0.0]), 8.0).tolist() == [2.0, 6.0, 0.0]
    assert pro_rata(np.array([0.0, 0.0]), 8.0).tolist() == [0.0, 0.0]
    # Drift's published example: a $2M loss over 200k SOL of open interest is $10 per SOL:
    # a 20,000 SOL holder pays $200,000, a 10 SOL holder $100.
    shares = pro_rata(np.array([20_000.0, 10.0, 179_990.0]), 2_000_000.0)
    assert shares[:2].tolist() == pytest.approx([200_000.0, 100.0])


def test_the_scalar_split_of_a_short_walk_is_the_array_one():
    """Walks of up to 16 levels are split on Python floats: the same bits as the array path
    (checked against it on random walks, both sides, funds from none to plenty)."""
    from markets.liquidation import waterfall

    rng = np.random.default_rng(11)
    stopped = 0
    for _ in range(3000):
        n = int(rng.integers(1, waterfall._FEW_LEVELS + 1))
        closing_long = bool(rng.random() < 0.5)
        mid = float(rng.uniform(10, 1e5))
        step = mid * float(rng.uniform(1e-5, 1e-2))
        offsets = (np.arange(n) + 0.5) * step
        prices = mid - offsets if closing_long else mid + offsets
        sizes = rng.lognormal(0, 1.5, n)
        bp = mid * float(rng.uniform(0.97, 1.03))
        fund = float(rng.choice([0.0, rng.lognormal(0, 3)]))
        want = waterfall.fund_backed_quantity(prices, sizes, closing_long, bp, fund)
        stopped += want < sizes.sum()
        old, waterfall._FEW_LEVELS = waterfall._FEW_LEVELS, 0  # force the array path
        try:
            assert waterfall.fund_backed_quantity(prices, sizes, closing_long, bp, fund) == want
        finally:
            waterfall._FEW_LEVELS = old
    assert 300 < stopped < 2700  # both outcomes (the fund runs out; it does not) are covered
