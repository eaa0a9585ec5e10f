"""Dutch auction arithmetic: the discount schedule, prices, end conditions and keeper takes."""

import numpy as np
import pytest

from markets.liquidation.auction import (
    Auction,
    AuctionRules,
    allocate,
    auction_price,
    discount,
    failed,
    failure_age_ms,
    price_factor,
)

# MakerDAO-like: start 10% worse than the mark, cut 1% every second.
SLOW = AuctionRules(start_premium=0.1, cut=0.99, step_ms=1000, cusp=0.5, max_duration_ms=60_000)
# Round numbers: start 20% worse, halve (1 - d) every 100 ms; factors 1.2, 0.6, 0.3, 0.15, ...
FAST = AuctionRules(start_premium=0.2, cut=0.5, step_ms=100, cusp=0.3, max_duration_ms=10_000)


def arr(*xs):
    return np.array(xs, dtype=float)


@pytest.mark.parametrize(
    ("age", "expected"),
    [
        (0, 1 - 1.1),  # no cut yet: a 10% premium, d = -0.1
        (999, 1 - 1.1),  # still inside the first step
        (1000, 1 - 1.1 * 0.99),  # one cut: 1 - 1.089 = -0.089
        (1500, 1 - 1.1 * 0.99),  # floor(1.5) = 1 cut
        (10_000, 1 - 1.1 * 0.99**10),  # ten cuts: 1 - 0.99482... = 0.00518...
    ],
)
def test_discount_slow_schedule(age, expected):
    assert discount(SLOW, age) == pytest.approx(expected)


def test_discount_round_numbers():
    assert discount(SLOW, 0) == pytest.approx(-0.1)
    assert discount(SLOW, 1500) == pytest.approx(-0.089)
    assert discount(SLOW, 10_000) == pytest.approx(0.0051797175, abs=1e-9)
    # FAST: 1 - 1.2 = -0.2; 1 - 0.6 = 0.4; 1 - 0.3 = 0.7 (250 ms is two cuts); 1 - 0.15 = 0.85
    assert [discount(FAST, a) for a in (0, 100, 250, 300)] == pytest.approx(
        [-0.2, 0.4, 0.7, 0.85])
    assert price_factor(FAST, 250) == pytest.approx(0.3)


def test_prices_for_long_and_short_lots():
    # Long lot (keeper becomes long): mark0 * (1 - d) = mark0 * factor.
    assert auction_price(FAST, 50_000.0, +1, 0) == pytest.approx(60_000.0)  # 50k * 1.2
    assert auction_price(FAST, 50_000.0, +1, 100) == pytest.approx(30_000.0)  # 50k * 0.6
    assert auction_price(FAST, 50_000.0, +1, 300) == pytest.approx(7_500.0)  # 50k * 0.15
    # Short lot (keeper becomes short): mark0 * (1 + d), the mirror image around mark0.
    assert auction_price(FAST, 50_000.0, -1, 0) == pytest.approx(40_000.0)  # 50k * 0.8
    assert auction_price(FAST, 50_000.0, -1, 100) == pytest.approx(70_000.0)  # 50k * 1.4
    assert auction_price(FAST, 50_000.0, -1, 250) == pytest.approx(85_000.0)  # 50k * 1.7
    # Only the sign of lot_sign matters.
    assert auction_price(FAST, 50_000.0, -3.5, 100) == auction_price(FAST, 50_000.0, -1, 100)


def test_long_price_stays_non_negative_and_short_price_is_uncapped():
    # 2000 cuts by half: the factor underflows to 0, a long lot is free, a short lot at 2 * mark0.
    assert auction_price(FAST, 50_000.0, +1, 200_000) == 0.0
    assert auction_price(FAST, 50_000.0, -1, 200_000) == pytest.approx(100_000.0)


def test_failed_by_cusp_at_the_boundary():
    # FAST factors: 1.2, 0.6, 0.3 (== cusp: not below it yet), 0.15 (< 0.3: failed).
    assert not failed(FAST, 0)
    assert not failed(FAST, 199)
    assert not failed(FAST, 200)
    assert not failed(FAST, 299)
    assert failed(FAST, 300)
    assert failure_age_ms(FAST) == 300


def test_failed_by_cusp_slow_schedule():
    # 1.1 * 0.99**78 = 0.50227 >= 0.5, 1.1 * 0.99**79 = 0.49725 < 0.5: fails at 79 s, but the
    # tail (60 s) comes first.
    assert not failed(SLOW, 60_000)
    assert failed(SLOW, 60_001)
    assert failure_age_ms(SLOW) == 60_001
    long_tail = AuctionRules(0.1, 0.99, 1000, cusp=0.5, max_duration_ms=10**9)
    assert not failed(long_tail, 78_999)
    assert failed(long_tail, 79_000)
    assert failure_age_ms(long_tail) == 79_000


def test_failed_by_tail_at_the_boundary():
    no_cusp = AuctionRules(0.2, 0.5, 100, cusp=0.0, max_duration_ms=60_000)
    assert not failed(no_cusp, 60_000)  # exactly the tail: still running
    assert failed(no_cusp, 60_001)
    assert failure_age_ms(no_cusp) == 60_001


@pytest.mark.parametrize(
    "rules",
    [
        FAST,
        SLOW,
        AuctionRules(0.0, 0.9, 7, cusp=0.9, max_duration_ms=10**6),  # 0.9 == cusp at k=1
        AuctionRules(0.3, 0.97, 250, cusp=0.01, max_duration_ms=10**7),
        AuctionRules(0.0, 0.5, 1, cusp=0.999, max_duration_ms=10),  # fails after one cut
    ],
)
def test_failure_age_agrees_with_failed(rules):
    end = failure_age_ms(rules)
    assert failed(rules, end)
    assert not failed(rules, end - 1)
    assert not any(failed(rules, a) for a in range(0, end, max(end // 97, 1)))


def test_a_single_rich_keeper_takes_the_whole_lot():
    # Long lot of 10 at 45k with the mark at 50k: 10% off, more than the 5% it asks for.
    take = allocate(10.0, 45_000.0, 50_000.0, arr(1e9), arr(0.05), arr(1.0))
    assert take.tolist() == [10.0]


def test_a_keeper_whose_min_discount_is_not_met_takes_nothing():
    # 45k vs mark 50k is 10% off; keeper 0 wants 20% (bids at <= 40k), keeper 1 wants 10%.
    take = allocate(10.0, 45_000.0, 50_000.0, arr(1e9, 1e9), arr(0.2, 0.1), arr(1.0, 1.0))
    assert take.tolist() == [0.0, 10.0]
    # Short lot at 52k vs 50k is 4% better for a new short; the keeper wants 5% (>= 52.5k).
    assert allocate(-10.0, 52_000.0, 50_000.0, arr(1e9), arr(0.05), arr(1.0)).tolist() == [0.0]


def test_capital_limited_keepers_split_the_lot_in_index_order():
    # At 40k: 80k * 2 / 40k = 4, 120k * 1 / 40k = 3, 1M / 40k = 25 -> 4, 3, then the last 3.
    take = allocate(10.0, 40_000.0, 50_000.0, arr(80_000, 120_000, 1e6), arr(0, 0, 0),
                    arr(2, 1, 1))
    assert take == pytest.approx([4.0, 3.0, 3.0])
    # The same keepers in reverse order: the rich one takes it all.
    take = allocate(10.0, 40_000.0, 50_000.0, arr(1e6, 120_000, 80_000), arr(0, 0, 0),
                    arr(1, 1, 2))
    assert take == pytest.approx([10.0, 0.0, 0.0])
    # Not enough capital between them: 4 + 3 = 7 of 10 is taken, 3 stays unsold.
    take = allocate(10.0, 40_000.0, 50_000.0, arr(80_000, 120_000), arr(0, 0), arr(2, 1))
    assert take == pytest.approx([4.0, 3.0])


def test_keepers_without_capital_take_nothing():
    # 40k * 5 / 40k = 5 for the third; the first two have nothing to put up.
    take = allocate(10.0, 40_000.0, 50_000.0, arr(0, -5, 40_000), arr(0, 0, 0), arr(5, 5, 5))
    assert take == pytest.approx([0.0, 0.0, 5.0])


def test_zero_bid_a_deep_discount_makes_the_lot_affordable_to_a_poor_keeper():
    # Capital 1000 at leverage 5 backs 5000 of notional; the lot is 10 BTC.
    poor = dict(free_capital=arr(1000), min_discount=arr(0), leverage=arr(5))
    # At 60k it can take 5000 / 60000 = 1/12 BTC (the mark is 60k too: no discount asked).
    assert allocate(10.0, 60_000.0, 60_000.0, **poor) == pytest.approx([1 / 12])
    # At 100 it could take 5000 / 100 = 50 >= 10: the whole lot for 1000 of notional.
    assert allocate(10.0, 100.0, 50_000.0, **poor) == pytest.approx([10.0])
    # At price 0 the lot is free: capacity is the whole lot.
    assert allocate(10.0, 0.0, 50_000.0, **poor) == pytest.approx([10.0])


def test_zero_bid_on_a_schedule():
    # FAST on mark0 = 50k, the mark stays at 50k; a poor keeper (5000 of notional) wants 1% off.
    # Prices 60k (above the mark: no bid), 30k, 15k, 7.5k, ...: capacity 5000 / price.
    poor = dict(free_capital=arr(1000), min_discount=arr(0.01), leverage=arr(5))
    takes = [allocate(10.0, auction_price(FAST, 50_000.0, 1, a), 50_000.0, **poor)[0]
             for a in (0, 100, 200, 300)]
    assert takes == pytest.approx([0.0, 1 / 6, 1 / 3, 2 / 3])
    # Only after 10 cuts (60k / 1024 = 58.59 -> 85.3 BTC of capacity) is the lot affordable;
    # the venue sold 10 BTC marked at 50k for 586 and carries the difference as bad debt.
    price = auction_price(FAST, 50_000.0, 1, 1000)
    assert price == pytest.approx(60_000.0 / 1024)
    assert allocate(10.0, price, 50_000.0, **poor) == pytest.approx([10.0])


def test_short_lot_mirror():
    # Short lot of 10 at 55k with the mark at 50k: a new short 10% above the mark.
    rich = allocate(-10.0, 55_000.0, 50_000.0, arr(1e9), arr(0.05), arr(1.0))
    assert rich.tolist() == [10.0]  # magnitudes, never signed
    # The poor keeper: 5000 / 55000 = 1/11 BTC; a short lot grows dearer as the discount deepens,
    # so at 100k (d = 1) it gets only 5000 / 100000 = 1/20.
    poor = dict(free_capital=arr(1000), min_discount=arr(0.05), leverage=arr(5))
    assert allocate(-10.0, 55_000.0, 50_000.0, **poor) == pytest.approx([1 / 11])
    assert allocate(-10.0, 100_000.0, 50_000.0, **poor) == pytest.approx([1 / 20])
    # Capital-limited split in index order: 110k / 55k = 2, 55k * 3 / 55k = 3, then 5 of 1000.
    take = allocate(-10.0, 55_000.0, 50_000.0, arr(110_000, 55_000, 55e6), arr(0, 0, 0),
                    arr(1, 3, 1))
    assert take == pytest.approx([2.0, 3.0, 5.0])


def test_an_empty_lot_or_no_keepers():
    assert allocate(0.0, 40_000.0, 50_000.0, arr(1e9), arr(0), arr(1)).tolist() == [0.0]
    assert allocate(10.0, 40_000.0, 50_000.0, arr(), arr(), arr()).shape == (0,)


def test_auction_record():
    a = Auction(lot=-2.0, left=-2.0, mark0=50_000.0, started_ms=1_000, account=3, market=0,
                scope=-1, generation=2, cause=17)
    assert a.age(1_250) == 250
    a.left += 0.5  # keepers took 0.5 of a short lot
    assert a.left == -1.5 and a.lot == -2.0
    assert not hasattr(a, "__dict__")  # slots: a plain record


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        (dict(start_premium=-0.1), "start_premium"),
        (dict(start_premium=1.0), "start_premium"),
        (dict(cut=0.0), "cut"),
        (dict(cut=1.0), "cut"),
        (dict(step_ms=0), "step_ms"),
        (dict(cusp=-0.1), "cusp"),
        (dict(cusp=1.0), "cusp"),
        (dict(max_duration_ms=0), "max_duration_ms"),
    ],
)
def test_bad_rules(kwargs, match):
    base = dict(start_premium=0.1, cut=0.99, step_ms=1000, cusp=0.5, max_duration_ms=60_000)
    with pytest.raises(ValueError, match=match):
        AuctionRules(**(base | kwargs))


def test_bad_arguments():
    with pytest.raises(ValueError, match="age must be non-negative"):
        discount(FAST, -1)
    with pytest.raises(ValueError, match="mark0 must be positive"):
        auction_price(FAST, 0.0, 1, 0)
    with pytest.raises(ValueError, match="lot_sign must be non-zero"):
        auction_price(FAST, 50_000.0, 0, 0)
    one = (arr(1.0), arr(0.0), arr(1.0))
    with pytest.raises(ValueError, match="aligned"):
        allocate(1.0, 1.0, 1.0, arr(1.0, 2.0), arr(0.0), arr(1.0))
    with pytest.raises(ValueError, match="price must be non-negative"):
        allocate(1.0, -1.0, 1.0, *one)
    with pytest.raises(ValueError, match="mark must be positive"):
        allocate(1.0, 1.0, 0.0, *one)
    with pytest.raises(ValueError, match="leverage must be positive"):
        allocate(1.0, 1.0, 1.0, arr(1.0), arr(0.0), arr(0.0))
