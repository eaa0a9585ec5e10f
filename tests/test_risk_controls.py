"""Dynamic risk controls: stepped volatility margin, the price-band circuit breaker, the OI cap."""

import math

import numpy as np
import pytest

from markets.risk_controls import (
    MS_PER_YEAR,
    CircuitBreaker,
    VolatilityMargin,
    open_interest_allows,
    vol_multiplier,
)

# --- vol_multiplier ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("vol", "sensitivity", "max_multiplier", "step", "expected"),
    [
        (1.6, 1.0, 3.0, 0.25, 1.5),  # raw 1 + 1 * (1.6 - 1) = 1.6 -> down to 1.5
        (1.5, 1.0, 3.0, 0.25, 1.5),  # exactly on a step stays there
        (0.5, 1.0, 3.0, 0.25, 1.0),  # below the reference: no add-on
        (1.0, 1.0, 3.0, 0.25, 1.0),  # at the reference: no add-on
        (10.0, 1.0, 3.0, 0.25, 3.0),  # raw 10 -> capped at the max
        (1.7, 1.0, 3.0, 0.1, 1.7),  # 0.7 / 0.1 is 6.999999999999999 in floats: still 1.7
        (1.55, 1.0, 1.6, 0.25, 1.5),  # max off the grid: below it, quantised as usual
        (1.7, 1.0, 1.6, 0.25, 1.6),  # ... at or above it, the max itself
        (5.0, 0.0, 3.0, 0.25, 1.0),  # zero sensitivity: never moves
        (3.0, 0.5, 3.0, 0.25, 2.0),  # raw 1 + 0.5 * (3 - 1) = 2.0
    ],
)
def test_vol_multiplier(vol, sensitivity, max_multiplier, step, expected):
    assert vol_multiplier(vol, 1.0, sensitivity, max_multiplier, step) == pytest.approx(expected)


def test_vol_multiplier_scales_by_the_reference():
    # vol 0.96 against reference 0.6: ratio 1.6, raw 1.6 -> 1.5
    assert vol_multiplier(0.96, 0.6, 1.0, 3.0, 0.25) == pytest.approx(1.5)


# --- VolatilityMargin ----------------------------------------------------------------------


def make_margin(**kw) -> VolatilityMargin:
    args = dict(reference_vol=1.0, sensitivity=0.5, max_multiplier=5.0, half_life_ms=60_000,
                step=0.25)
    args.update(kw)
    return VolatilityMargin(**args)


def test_constant_price_keeps_the_multiplier_at_one():
    vm = make_margin()
    for t in range(0, 10_000, 1_000):
        assert vm.update(t, 100.0) is False
    assert vm.multiplier == 1.0 and vm.vol == 0.0


def test_first_observation_only_stores_the_price():
    vm = make_margin()
    assert vm.update(0, 100.0) is False
    assert vm.vol == 0.0 and vm.multiplier == 1.0


def test_known_return_gives_the_hand_computed_vol_and_multiplier():
    vm = make_margin()
    vm.update(0, 100.0)
    # A log return of exactly 0.01 over one half-life (dt = 60_000 ms):
    #   w   = 1 - 0.5 ** 1 = 0.5
    #   var = 0.5 * 0 + 0.5 * 0.01**2 / 60_000 = 8.3333e-10 per ms
    #   vol = sqrt(8.3333e-10 * 31_536_000_000) = sqrt(26.28) = 5.126402
    #   raw = 1 + 0.5 * (5.126402 / 1.0 - 1) = 3.063201 -> stepped down to 3.0
    assert vm.update(60_000, 100.0 * math.exp(0.01)) is True
    assert MS_PER_YEAR == 31_536_000_000
    assert vm.vol == pytest.approx(5.126402, rel=1e-6)
    assert vm.multiplier == 3.0
    # Another half-life with no move: var halves to 4.1667e-10, vol = sqrt(13.14) = 3.624914,
    # raw = 1 + 0.5 * 2.624914 = 2.312457 -> 2.25.
    assert vm.update(120_000, 100.0 * math.exp(0.01)) is True
    assert vm.vol == pytest.approx(3.624914, rel=1e-6)
    assert vm.multiplier == 2.25
    # No time and no move: nothing changes.
    assert vm.update(120_000, 100.0 * math.exp(0.01)) is False
    assert vm.multiplier == 2.25


def test_small_moves_do_not_change_the_step():
    vm = make_margin()
    vm.update(0, 100.0)
    vm.update(60_000, 100.0 * math.exp(0.01))  # multiplier 3.0, as in the test above
    # A 1-second tick with a 1e-4 log return adds ~1e-8 / 1000 * w: far below one step.
    assert vm.update(61_000, 100.0 * math.exp(0.0101)) is False
    assert vm.multiplier == 3.0


def test_same_instant_move_uses_the_short_interval_limit():
    # dt = 0: var += ln 2 / half_life * r**2 = 0.693147 / 60_000 * 1e-4 = 1.155245e-9 per ms,
    # vol = sqrt(1.155245e-9 * 31_536_000_000) = sqrt(36.4318) = 6.035877.
    vm = make_margin()
    vm.update(0, 100.0)
    vm.update(0, 100.0 * math.exp(0.01))
    assert vm.vol == pytest.approx(6.035877, rel=1e-6)
    # ... which is what a 1 ms interval gives, to first order in 1 / half_life.
    one_ms = make_margin()
    one_ms.update(0, 100.0)
    one_ms.update(1, 100.0 * math.exp(0.01))
    assert one_ms.vol == pytest.approx(vm.vol, rel=1e-4)


def test_multiplier_is_capped_and_decays_back_to_one():
    vm = make_margin(max_multiplier=2.0)
    vm.update(0, 100.0)
    vm.update(1_000, 50.0)  # a 50% crash in a second
    assert vm.multiplier == 2.0
    # Forty half-lives of calm: var shrinks by 2**-40, vol far below the reference.
    assert vm.update(1_000 + 40 * 60_000, 50.0) is True
    assert vm.multiplier == 1.0


@pytest.mark.parametrize(
    ("kw", "match"),
    [
        ({"reference_vol": 0.0}, "reference_vol must be > 0"),
        ({"sensitivity": -0.1}, "sensitivity must be >= 0"),
        ({"max_multiplier": 0.9}, "max_multiplier must be >= 1"),
        ({"half_life_ms": 0}, "half_life_ms must be > 0"),
        ({"step": 0.0}, "step must be > 0"),
    ],
)
def test_volatility_margin_bad_arguments(kw, match):
    with pytest.raises(ValueError, match=match):
        make_margin(**kw)


def test_volatility_margin_bad_updates():
    vm = make_margin()
    with pytest.raises(ValueError, match="price must be > 0"):
        vm.update(0, 0.0)
    vm.update(1_000, 100.0)
    with pytest.raises(ValueError, match="cannot go backwards"):
        vm.update(999, 100.0)


# --- CircuitBreaker ------------------------------------------------------------------------


def test_breaker_trips_on_a_jump_against_the_pre_jump_twap():
    cb = CircuitBreaker(threshold=0.10, window_ms=5_000, pause_ms=3_000)
    assert cb.update(0, 100.0) is False
    assert cb.update(1_000, 100.0) is False
    assert not cb.paused(1_000)
    # TWAP over [0, 2000] of what came before: 100. |80 / 100 - 1| = 0.2 >= 0.1.
    assert cb.update(2_000, 80.0) is True
    assert cb.paused_until == 5_000 and cb.trips == 1 and cb.trip_times == [2_000]
    assert cb.paused(2_000) and cb.paused(4_999)
    assert not cb.paused(5_000)


def test_a_five_percent_move_does_not_trip():
    cb = CircuitBreaker(threshold=0.10, window_ms=5_000, pause_ms=3_000)
    cb.update(0, 100.0)
    cb.update(1_000, 100.0)
    assert cb.update(2_000, 95.0) is False
    assert cb.trips == 0 and cb.paused_until is None and not cb.paused(2_000)


def test_upward_jumps_trip_and_the_threshold_is_inclusive():
    up = CircuitBreaker(threshold=0.10, window_ms=5_000, pause_ms=1_000)
    up.update(0, 100.0)
    assert up.update(1_000, 111.0) is True
    # 75 / 100 - 1 = -0.25 exactly in floating point: at the threshold it trips.
    edge = CircuitBreaker(threshold=0.25, window_ms=5_000, pause_ms=1_000)
    edge.update(0, 100.0)
    assert edge.update(1_000, 75.0) is True


def test_a_trip_while_paused_extends_the_pause():
    cb = CircuitBreaker(threshold=0.10, window_ms=5_000, pause_ms=3_000)
    cb.update(0, 100.0)
    cb.update(1_000, 100.0)
    cb.update(2_000, 80.0)  # paused until 5000
    # TWAP [0, 3000] = (100 * 2000 + 80 * 1000) / 3000 = 93.333; 80 / 93.333 - 1 = -0.1429
    assert cb.update(3_000, 80.0) is True
    assert cb.paused_until == 6_000
    # TWAP [0, 4000] = (100 * 2000 + 80 * 2000) / 4000 = 90; 80 / 90 - 1 = -0.1111
    assert cb.update(4_000, 80.0) is True
    assert cb.paused_until == 7_000
    # TWAP [0, 5000] = (100 * 2000 + 80 * 3000) / 5000 = 88; 80 / 88 - 1 = -0.0909: no trip
    assert cb.twap(5_000) == pytest.approx(88.0)
    assert cb.update(5_000, 80.0) is False
    assert cb.trips == 3 and cb.trip_times == [2_000, 3_000, 4_000]
    assert cb.paused(6_999) and not cb.paused(7_000)


def test_old_observations_are_dropped_and_the_twap_stays_exact():
    cb = CircuitBreaker(threshold=0.10, window_ms=5_000, pause_ms=1_000)
    cb.update(0, 100.0)
    cb.update(1_000, 104.0)
    cb.update(4_000, 108.0)
    # [0, 4000]: (100 * 1000 + 104 * 3000) / 4000 = 103
    assert cb.twap(4_000) == pytest.approx(103.0)
    assert cb.update(7_000, 108.0) is False
    # Window [2000, 7000]: 100@0 held only until 1000 and is gone; 104@1000 straddles the
    # window start and counts from 2000 to 4000; 108 from 4000 to 7000:
    # (104 * 2000 + 108 * 3000) / 5000 = (208_000 + 324_000) / 5000 = 106.4
    assert cb.observations == ((1_000, 104.0), (4_000, 108.0), (7_000, 108.0))
    assert cb.twap(7_000) == pytest.approx(106.4)
    # Much later, only the observation straddling [15000, 20000] survives, plus the new one.
    cb.update(20_000, 108.0)
    assert cb.observations == ((7_000, 108.0), (20_000, 108.0))
    assert cb.twap(20_000) == pytest.approx(108.0)


def test_twap_query_later_than_the_last_update():
    cb = CircuitBreaker(threshold=0.10, window_ms=5_000, pause_ms=1_000)
    cb.update(0, 100.0)
    cb.update(1_000, 104.0)
    cb.update(4_000, 108.0)
    # Window [3000, 8000], nothing pruned yet: (104 * 1000 + 108 * 4000) / 5000 = 107.2
    assert cb.twap(8_000) == pytest.approx(107.2)
    # Window [5000, 10000]: 108 throughout
    assert cb.twap(10_000) == pytest.approx(108.0)


def test_single_observation_and_same_instant_updates():
    cb = CircuitBreaker(threshold=0.10, window_ms=5_000, pause_ms=1_000)
    with pytest.raises(ValueError, match="no price observed"):
        cb.twap(0)
    cb.update(0, 100.0)
    assert cb.twap(0) == 100.0 and cb.twap(3_000) == 100.0
    cb.update(1_000, 100.0)
    # A second price at t=1000: the first never held; the jump is measured against 100.
    assert cb.update(1_000, 80.0) is True
    assert cb.observations == ((0, 100.0), (1_000, 80.0))
    # [0, 2000]: (100 * 1000 + 80 * 1000) / 2000 = 90
    assert cb.twap(2_000) == pytest.approx(90.0)


def test_twap_matches_a_brute_force_integral():
    rng = np.random.default_rng(7)
    window = 5_000
    cb = CircuitBreaker(threshold=10.0, window_ms=window, pause_ms=0)  # never trips
    history: list[tuple[int, float]] = []
    t = 0
    for _ in range(500):
        t += int(rng.integers(0, 1_500))  # includes same-instant updates
        price = float(100.0 * np.exp(rng.normal(0.0, 0.02)))
        cb.update(t, price)
        if history and history[-1][0] == t:
            history.pop()
        history.append((t, price))
        now = t + int(rng.integers(0, 3_000))
        start = max(now - window, history[0][0])
        if now == start:
            continue
        area = 0.0
        for i, (ti, pi) in enumerate(history):
            end = history[i + 1][0] if i + 1 < len(history) else now
            area += pi * max(0, min(end, now) - max(ti, start))
        assert cb.twap(now) == pytest.approx(area / (now - start), rel=1e-9)


def test_memory_stays_bounded_by_the_window():
    cb = CircuitBreaker(threshold=0.10, window_ms=5_000, pause_ms=1_000)
    for k in range(10_000):
        cb.update(100 * k, 100.0 + (k % 7) * 0.1)
    # 5000 / 100 = 50 intervals inside the window, plus the straddling and the newest.
    assert len(cb.observations) <= 52


@pytest.mark.parametrize(
    ("args", "match"),
    [
        ((0.0, 5_000, 1_000), "threshold must be > 0"),
        ((0.1, 0, 1_000), "window_ms must be > 0"),
        ((0.1, 5_000, -1), "pause_ms must be >= 0"),
    ],
)
def test_circuit_breaker_bad_arguments(args, match):
    with pytest.raises(ValueError, match=match):
        CircuitBreaker(*args)


def test_circuit_breaker_bad_updates():
    cb = CircuitBreaker(threshold=0.10, window_ms=5_000, pause_ms=1_000)
    with pytest.raises(ValueError, match="price must be > 0"):
        cb.update(0, -1.0)
    cb.update(1_000, 100.0)
    with pytest.raises(ValueError, match="cannot go backwards"):
        cb.update(999, 100.0)
    with pytest.raises(ValueError, match="cannot go backwards"):
        cb.twap(999)


# --- open interest cap ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("oi", "increase", "cap", "expected"),
    [
        (1_000.0, 500.0, 2_000.0, True),
        (1_000.0, 1_000.0, 2_000.0, True),  # exactly at the cap is allowed
        (1_000.0, 1_001.0, 2_000.0, False),
        (5_000.0, -100.0, 2_000.0, True),  # already above the cap, but reducing
        (5_000.0, 0.0, 2_000.0, True),  # does not increase open interest
        (1e12, 1e12, None, True),  # no cap
        (0.0, 1.0, 0.0, False),  # zero cap: nothing new opens
    ],
)
def test_open_interest_allows(oi, increase, cap, expected):
    assert open_interest_allows(oi, increase, cap) is expected
