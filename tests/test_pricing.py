"""Mark price rules and generation-tagged prices with exact counterfactual levels."""

import math

import numpy as np
import pytest

from markets.prices.marks import MarketPrices, MarkRule


@pytest.mark.parametrize(
    ("method", "expected"),
    [("mid", 90.0), ("index", 100.0), ("ema_basis", 95.0), ("median", 95.0)],
)
def test_mark_rules(method, expected):
    rule = MarkRule(method, clamp=0.05)
    # index 100, mid 90, EMA of the basis -20: clamped to -5% of the index.
    assert rule.mark(100.0, 90.0, -20.0) == pytest.approx(expected)
    vec = rule.apply(np.array([100.0]), np.array([90.0]), np.array([-20.0]))
    assert vec[0] == pytest.approx(expected)


def test_median_follows_mid_inside_the_band():
    rule = MarkRule("median", clamp=0.05)
    # index 100, EMA basis -3 -> 97; mid 98 lies between 97 and 100: the mark is the mid.
    assert rule.mark(100.0, 98.0, -3.0) == 98.0
    assert rule.mark(100.0, 101.0, -3.0) == 100.0


def test_unknown_mark_method():
    with pytest.raises(ValueError, match="mark method"):
        MarkRule("last")


def test_counterfactual_levels_are_exact():
    # Displacements are log moves: gen 1 takes 100 -> 98 (x 0.98), gen 2 98 -> 95 (x 95/98),
    # gen 1 again 95 -> 94 (x 94/95). Without gen 2 the mid would be 100 * 0.98 * 94/95.
    p = MarketPrices(100.0, MarkRule("mid"), recentre_ms=None)
    p.add_impact(1, -2.0)
    p.add_impact(2, -3.0)
    p.add_impact(1, -1.0)
    assert p.mid == pytest.approx(94.0)
    gen1_only = 100 * 0.98 * 94 / 95  # 96.9684
    assert p.mark_levels(2).tolist() == pytest.approx([100.0, gen1_only, 94.0])
    assert p.mark_levels(4).tolist() == pytest.approx([100.0, gen1_only, 94.0, 94.0, 94.0])
    assert p.max_generation == 2


def test_the_mid_stays_positive_when_the_fundamental_falls_after_impact():
    # Permanent impact of -50% at 100, then the fundamental falls to 10: the mid is 5, not -40.
    p = MarketPrices(100.0, MarkRule("mid"), recentre_ms=None)
    p.add_impact(1, -50.0)
    p.on_oracle(1_000, 10.0)
    assert p.mid == pytest.approx(5.0) and p.mark_levels(1).tolist() == pytest.approx([10, 5])


def test_generations_beyond_capacity_grow_the_state():
    p = MarketPrices(100.0, MarkRule("mid"), recentre_ms=None, capacity=2)
    p.add_impact(5, -1.0)
    assert p.mark_levels(6).tolist() == pytest.approx([100.0] * 5 + [99.0, 99.0])


def test_recentring_decays_every_generation_alike():
    p = MarketPrices(100.0, MarkRule("mid"), recentre_ms=1_000.0)
    p.add_impact(1, -4.0)
    p.add_impact(2, -2.0)
    p.advance(1_000)
    k = math.exp(-1.0)  # log displacements log(0.96) and log(94/96) shrink by e^-1
    assert p.mark_levels(2).tolist() == pytest.approx([100.0, 100 * 0.96**k, 100 * 0.94**k])
    assert p.mid == pytest.approx(100 * 0.94**k)
    with pytest.raises(ValueError):
        p.advance(500)


def test_index_share_and_ema_basis():
    p = MarketPrices(100.0, MarkRule("ema_basis", ema_half_life_ms=1_000.0, clamp=0.5),
                     recentre_ms=None, index_share=0.25)
    p.add_impact(1, -8.0)  # mid 92
    index = 100 * 0.92**0.25  # a quarter of the venue's (log) impact reaches the index: 97.94
    assert p.index == pytest.approx(index)
    assert p.mark == pytest.approx(index)  # the basis EMA has not moved yet
    p.on_oracle(1_000, 100.0)  # one half-life: the EMA of the basis (92 - index) is half way
    assert p.mark == pytest.approx(index + (92 - index) / 2)
    assert p.mark_levels(1).tolist() == pytest.approx([100.0, index + (92 - index) / 2])


def test_drawdown_of_the_traded_price():
    p = MarketPrices(100.0, MarkRule("mid"), recentre_ms=None)
    p.on_oracle(1, 110.0)
    p.add_impact(1, -11.0)  # 110 -> 99: 10% below the peak
    p.on_oracle(2, 120.0)
    assert p.max_drawdown == pytest.approx(0.10)


@pytest.mark.parametrize("half_life", [20_000.0, 0.0])
def test_the_one_level_ema_is_the_levels_ema_bit_for_bit(half_life):
    """Before any forced trade the basis EMA is updated on scalars; it must give exactly what
    the per-level arrays give (the event log depends on the last bit of the mark)."""
    rng = np.random.default_rng(3)
    one = MarketPrices(100.0, MarkRule("median", half_life, 0.05), 60_000.0, index_share=0.3)
    levels = MarketPrices(100.0, MarkRule("median", half_life, 0.05), 60_000.0, index_share=0.3)
    for k in range(1, 400):
        dlog = float(rng.normal(0, 0.002))
        for p in (one, levels):
            p.add_log_impact(0, dlog)  # ordinary flow: still one level
        now, fundamental = 1_000 * k, 100.0 * math.exp(rng.normal(0, 0.01))
        one.on_oracle(now, fundamental)
        levels.advance(now)
        levels.fundamental = float(fundamental)
        alpha = (1.0 - math.exp(-1_000 * math.log(2.0) / half_life)) if half_life > 0 else None
        levels._ema_levels(alpha)
        levels._t_ema = now
        levels.mark = levels._actual_mark()
        assert one.max_generation == 0
        assert one.ema.tobytes() == levels.ema.tobytes(), k
        assert one.mark == levels.mark
