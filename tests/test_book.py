"""Order book walks, impact, depletion, refill and withdrawal, worked out by hand.

Profile: 100 USD of depth per 1% of distance (linear), step 1.00 at mid 100, so every level
quotes 10000 / mid**2 base units: 1.0 per level at mid 100.
"""

import math

import numpy as np
import pytest

from markets.book import BUY, SELL, DepthProfile, OrderBook


def book(refill_ms: float = 60_000.0) -> OrderBook:
    profile = DepthProfile(np.array([0.01]), np.array([100.0]), max_distance=0.1)
    return OrderBook(profile, step=1.0, tick=0.01, ref_price=100.0, refill_ms=refill_ms)


def test_levels_and_target():
    b = book()
    assert b.n_levels == 10  # 10% of 100 in steps of 1.00
    assert b.target(100.0).tolist() == pytest.approx([1.0] * 10)
    assert b.target(80.0)[0] == pytest.approx(10000 / 80**2)
    assert b.level_prices(SELL, 100.0, 3).tolist() == pytest.approx([99.5, 98.5, 97.5])
    assert b.level_prices(BUY, 100.0, 3).tolist() == pytest.approx([100.5, 101.5, 102.5])
    assert b.best_prices(100.0) == pytest.approx((99.5, 100.5))
    # Within 1% of 100 lies level 0 only (offset 0.5): 1 unit at 99.5 / at 100.5.
    assert b.depth_within(0.01, 100.0) == pytest.approx((99.5, 100.5))


def test_sell_walks_levels_and_moves_the_mid():
    b = book()
    w = b.preview(SELL, 2.5, 100.0)
    assert w.prices.tolist() == pytest.approx([99.5, 98.5, 97.5])
    assert w.sizes.tolist() == pytest.approx([1.0, 1.0, 0.5])
    assert w.vwap == pytest.approx((99.5 + 98.5 + 0.5 * 97.5) / 2.5)
    assert w.levels_consumed == 2 and not w.exhausted
    assert b.apply(w, 100.0) == -2.0
    # The half-eaten level is now the top of the bids, half full; asks re-quoted at new mid.
    assert b.bid_depletion[:3].tolist() == pytest.approx([0.5, 0.0, 0.0])
    assert b.quoted(SELL, 98.0, 2).tolist() == pytest.approx([0.5 * 10000 / 98**2,
                                                              10000 / 98**2])
    assert b.quoted(BUY, 98.0, 1)[0] == pytest.approx(10000 / 98**2)


def test_a_second_sell_goes_deeper_than_the_first():
    b = book()
    first = b.preview(SELL, 1.0, 100.0)
    b.apply(first, 100.0)  # mid 100 -> 99: exactly one level consumed
    second = b.preview(SELL, 1.0, 99.0)
    # Level 0 at mid 99 is fresh (the eaten level left the ladder): 10000/99^2 at 98.5.
    assert second.prices[0] == pytest.approx(98.5)
    assert second.quoted[0] == pytest.approx(10000 / 99**2)
    assert second.sizes.tolist() == pytest.approx([1.0]) and second.levels_consumed == 0


def test_buy_walks_the_asks():
    b = book()
    w = b.preview(BUY, 1.5, 100.0)
    assert w.prices.tolist() == pytest.approx([100.5, 101.5])
    assert b.apply(w, 100.0) == 1.0
    assert b.ask_depletion[0] == pytest.approx(0.5)
    assert b.bid_depletion[0] == 0.0


def test_refill_is_exponential_in_time():
    b = book(refill_ms=1_000.0)
    b.apply(b.preview(SELL, 0.5, 100.0), 100.0)  # half of level 0, no level consumed
    assert b.bid_depletion[0] == pytest.approx(0.5)
    b.advance(1_000)
    assert b.bid_depletion[0] == pytest.approx(0.5 * math.exp(-1.0))
    b.advance(3_000)
    assert b.bid_depletion[0] == pytest.approx(0.5 * math.exp(-3.0))
    with pytest.raises(ValueError):
        b.advance(2_000)


def test_withdrawal_shrinks_quotes_at_once():
    b = book()
    b.set_depth_factor(0.25)
    assert b.quoted(SELL, 100.0, 2).tolist() == pytest.approx([0.25, 0.25])
    w = b.preview(SELL, 0.5, 100.0)  # now eats two levels of 0.25
    assert w.levels_consumed == 2
    assert w.vwap == pytest.approx((99.5 + 98.5) / 2)


def test_exhausted_ladder_fills_the_rest_at_the_last_level():
    b = book()
    w = b.preview(SELL, 12.0, 100.0)  # 10 levels of 1.0 exist
    assert w.exhausted
    assert w.sizes.sum() == pytest.approx(12.0)
    assert w.prices[-1] == pytest.approx(90.5) and w.sizes[-1] == pytest.approx(3.0)


def test_truncate_equals_preview_of_the_smaller_order():
    b = book()
    b.apply(b.preview(SELL, 0.3, 100.0), 100.0)
    full = b.preview(SELL, 3.7, 100.0)
    for qty in (0.2, 0.7, 1.7, 3.7):
        a, c = full.truncate(qty), b.preview(SELL, qty, 100.0)
        assert a.sizes.tolist() == pytest.approx(c.sizes.tolist())
        assert a.prices.tolist() == pytest.approx(c.prices.tolist())
        assert a.levels_consumed == c.levels_consumed


def test_zero_and_negative_orders():
    b = book()
    assert b.preview(SELL, 0.0, 100.0).qty == 0.0
    assert b.apply(b.preview(SELL, 0.0, 100.0), 100.0) == 0.0
    with pytest.raises(ValueError):
        b.preview(SELL, -1.0, 100.0)


def test_profile_validation():
    with pytest.raises(ValueError, match="increasing"):
        DepthProfile(np.array([0.02, 0.01]), np.array([1.0, 2.0]))
    with pytest.raises(ValueError, match="non-decreasing"):
        DepthProfile(np.array([0.01, 0.02]), np.array([2.0, 1.0]))
    with pytest.raises(ValueError, match="max_distance"):
        DepthProfile(np.array([0.01, 0.2]), np.array([1.0, 2.0]), max_distance=0.1)
    # Beyond the last point depth continues at the last segment's density (50 per 1%) up to
    # max_distance, and no further.
    p = DepthProfile(np.array([0.01, 0.02]), np.array([100.0, 150.0]), max_distance=0.05)
    assert p.cumulative(np.array([0.03, 0.05, 0.06])).tolist() == pytest.approx([200, 300, 300])
