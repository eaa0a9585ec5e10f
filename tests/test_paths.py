"""Tests for markets.prices.paths: correlation helpers, GBM paths, jumps, shocks and replays."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from markets.prices.paths import (
    MS_PER_YEAR,
    Jumps,
    PathError,
    PricePaths,
    Replay,
    Shock,
    build_paths,
    check_correlation,
    correlation_factor,
)

RHO2 = np.array([[1.0, 0.8], [0.8, 1.0]])


def _two_assets(seed: int = 7, n_steps: int = 120, **kwargs) -> PricePaths:
    # Asset 0 has vol 0.8, asset 1 vol 0.6, correlation 0.8, 1 s steps.
    return build_paths(
        [100.0, 50.0], [0.8, 0.6], [0.0, 0.0], RHO2, 1000, n_steps,
        np.random.default_rng(seed), **kwargs,
    )


# --------------------------------------------------------------------------- correlation


def test_check_correlation_rejects_non_psd_with_eigenvalue() -> None:
    bad = np.array([[1, 0.9, -0.9], [0.9, 1, 0.9], [-0.9, 0.9, 1]])
    # Eigenvalues are 1 + 0.9 * {1, 1, -2}; the smallest is -0.8.
    with pytest.raises(PathError, match="positive semi-definite") as err:
        check_correlation(bad)
    assert "-0.8" in str(err.value)


@pytest.mark.parametrize(
    ("matrix", "fragment"),
    [
        (np.ones((2, 3)), "square"),
        (np.array([[1.0, 0.5], [0.4, 1.0]]), "symmetric"),
        (np.array([[2.0, 0.5], [0.5, 1.0]]), "diagonal"),
        (np.array([[1.0, 1.5], [1.5, 1.0]]), "outside"),
        (np.array([[1.0, np.nan], [np.nan, 1.0]]), "NaN"),
    ],
)
def test_check_correlation_rejections(matrix: np.ndarray, fragment: str) -> None:
    with pytest.raises(PathError, match=fragment):
        check_correlation(matrix)


def test_singular_psd_accepted_and_factored() -> None:
    ones = np.array([[1.0, 1.0], [1.0, 1.0]])
    check_correlation(ones)
    f = correlation_factor(ones)
    np.testing.assert_allclose(f @ f.T, ones, atol=1e-12)


def test_correlation_factor_positive_definite_is_cholesky() -> None:
    c = np.array([[1.0, 0.3, -0.2], [0.3, 1.0, 0.5], [-0.2, 0.5, 1.0]])
    f = correlation_factor(c)
    np.testing.assert_allclose(f @ f.T, c, atol=1e-14)
    assert np.allclose(np.triu(f, 1), 0.0)
    assert f[1, 0] == pytest.approx(0.3)


# --------------------------------------------------------------------------- deterministic parts


def test_zero_vol_is_exactly_constant() -> None:
    p = build_paths(
        [100.0, 3.7], [0.0, 0.0], [0.0, 0.0], RHO2, 1000, 500, np.random.default_rng(1)
    )
    assert p.prices.shape == (501, 2)
    assert p.times_ms.dtype == np.int64
    assert p.times_ms[:3].tolist() == [0, 1000, 2000]
    assert np.array_equal(p.prices, np.tile([100.0, 3.7], (501, 1)))
    assert p.at(250).tolist() == [100.0, 3.7]


def test_zero_vol_with_drift_grows_exponentially() -> None:
    p = build_paths([100.0], [0.0], [0.5], [[1.0]], 60_000, 1440, np.random.default_rng(1))
    years = 1440 * 60_000 / MS_PER_YEAR
    assert p.prices[-1, 0] == pytest.approx(100.0 * np.exp(0.5 * years), rel=1e-12)


def test_shock_spread_linearly_in_log_space() -> None:
    shock = Shock(asset=0, start_ms=30_000, duration_ms=60_000, move=-0.10)
    p = build_paths([100.0], [0.0], [0.0], [[1.0]], 1000, 120, np.random.default_rng(0),
                    shocks=[shock])
    px = p.prices[:, 0]
    assert np.all(px[:31] == 100.0)
    assert px[90] == pytest.approx(90.0, rel=1e-12)
    assert np.all(px[90:] == px[90])
    steps = np.diff(np.log(px))[30:90]
    np.testing.assert_allclose(steps, np.log(0.9) / 60, rtol=1e-9)


def test_zero_duration_shock_lands_in_first_step_at_or_after_start() -> None:
    shock = Shock(asset=0, start_ms=2500, duration_ms=0, move=0.25)
    p = build_paths([10.0], [0.0], [0.0], [[1.0]], 1000, 10, np.random.default_rng(0),
                    shocks=[shock])
    # Step 3 covers (3000, 4000]: the first step starting at or after 2500 ms.
    assert p.prices[:4, 0].tolist() == [10.0] * 4
    assert p.prices[4, 0] == pytest.approx(12.5, rel=1e-12)
    assert p.prices[-1, 0] == pytest.approx(12.5, rel=1e-12)


def test_co_move_uses_conditional_beta() -> None:
    shock = Shock(asset=0, start_ms=30_000, duration_ms=60_000, move=-0.10)
    base = _two_assets()
    hit = _two_assets(shocks=[shock])
    log_ratio = np.log(hit.prices / base.prices)
    beta = 0.8 * 0.6 / 0.8  # rho * vol_other / vol_shocked = 0.6
    assert log_ratio[90, 0] == pytest.approx(np.log(0.9), rel=1e-12)
    assert log_ratio[90, 1] == pytest.approx(beta * np.log(0.9), rel=1e-12)
    np.testing.assert_allclose(np.diff(log_ratio[:, 1])[30:90], 0.6 * np.log(0.9) / 60,
                               rtol=1e-9)
    np.testing.assert_allclose(log_ratio[:31], 0.0, atol=1e-15)


def test_co_move_off_and_zero_vol_fallback() -> None:
    shock = Shock(asset=0, start_ms=0, duration_ms=0, move=-0.5, co_move=False)
    base = _two_assets()
    hit = _two_assets(shocks=[shock])
    assert np.array_equal(hit.prices[:, 1], base.prices[:, 1])
    # vol of the shocked asset is 0: beta falls back to the correlation itself.
    p = build_paths([100.0, 100.0], [0.0, 0.0], [0.0, 0.0], RHO2, 1000, 5,
                    np.random.default_rng(0), shocks=[Shock(0, 0, 0, -0.5)])
    assert p.prices[-1, 1] == pytest.approx(100.0 * 0.5**0.8, rel=1e-12)


def test_shock_past_horizon_is_truncated() -> None:
    shock = Shock(asset=0, start_ms=5000, duration_ms=10_000, move=-0.2)
    p = build_paths([1.0], [0.0], [0.0], [[1.0]], 1000, 10, np.random.default_rng(0),
                    shocks=[shock])
    # Steps 5..14 would carry the move; only 5..9 exist, so half of it (in log space) lands.
    assert p.prices[-1, 0] == pytest.approx(0.8**0.5, rel=1e-12)


@settings(max_examples=40, deadline=None)
@given(
    move=st.floats(min_value=-0.95, max_value=3.0),
    start=st.integers(min_value=0, max_value=50_000),
    duration=st.integers(min_value=0, max_value=40_000),
)
def test_shock_total_move_property(move: float, start: int, duration: int) -> None:
    p = build_paths([7.0], [0.0], [0.0], [[1.0]], 1000, 100, np.random.default_rng(0),
                    shocks=[Shock(0, start, duration, move)])
    assert p.prices[-1, 0] == pytest.approx(7.0 * (1 + move), rel=1e-10)
    assert p.prices[0, 0] == 7.0


# --------------------------------------------------------------------------- randomness


def test_same_seed_identical_different_seed_differs() -> None:
    jumps = [Jumps(1e5, -0.001, 0.002), Jumps()]
    a = _two_assets(seed=42, jumps=jumps)
    b = _two_assets(seed=42, jumps=jumps)
    c = _two_assets(seed=43, jumps=jumps)
    assert np.array_equal(a.prices, b.prices)
    assert not np.array_equal(a.prices, c.prices)
    assert not a.prices.flags.writeable


def test_statistics_match_correlation_and_vol() -> None:
    corr = np.array([[1.0, 0.6, -0.3], [0.6, 1.0, 0.2], [-0.3, 0.2, 1.0]])
    vols = np.array([0.5, 0.9, 0.2])
    step = 60_000
    p = build_paths([1.0, 2.0, 3.0], vols, [0.1, -0.2, 0.0], corr, step, 200_000,
                    np.random.default_rng(2024))
    r = np.diff(np.log(p.prices), axis=0)
    np.testing.assert_allclose(np.corrcoef(r.T), corr, atol=0.01)
    annual = r.std(axis=0) / np.sqrt(step / MS_PER_YEAR)
    np.testing.assert_allclose(annual, vols, rtol=0.02)


def test_jumps_count_and_mean() -> None:
    step = 1000
    lam = 0.1  # expected jumps per step
    rate = lam * MS_PER_YEAR / step
    n = 100_000
    p = build_paths([100.0], [0.0], [0.0], [[1.0]], step, n, np.random.default_rng(5),
                    jumps=[Jumps(rate, -0.02, 0.01)])
    r = np.diff(np.log(p.prices[:, 0]))
    nonzero = r[r != 0]
    p_any = 1 - np.exp(-lam)
    assert len(nonzero) == pytest.approx(n * p_any, rel=0.03)
    # E[log return | at least one jump] = mean * E[N | N > 0] = mean * lam / (1 - e^-lam).
    assert nonzero.mean() == pytest.approx(-0.02 * lam / p_any, rel=0.05)
    assert r.sum() / n == pytest.approx(-0.02 * lam, rel=0.05)


# --------------------------------------------------------------------------- replays


def _gbm_replay(seed: int, n: int, vol: float, step: int) -> np.ndarray:
    dt = step / MS_PER_YEAR
    z = np.random.default_rng(seed).standard_normal(n)
    logp = np.concatenate(([0.0], np.cumsum(-0.5 * vol**2 * dt + vol * np.sqrt(dt) * z)))
    return 20.0 * np.exp(logp)


def test_replay_rescaled_hits_replay_points() -> None:
    rep = Replay(0, np.array([0, 5000, 10_000, 12_000]), np.array([10.0, 11.0, 9.0, 9.5]))
    p = build_paths([100.0], [0.5], [0.0], [[1.0]], 1000, 20, np.random.default_rng(1),
                    replays=[rep])
    px = p.prices[:, 0]
    np.testing.assert_allclose(px[[0, 5, 10, 12]], [100.0, 110.0, 90.0, 95.0], rtol=1e-13)
    # Linear in log space between points, held flat after the end.
    assert px[7] == pytest.approx(100.0 * 11.0 * (9.0 / 11.0) ** 0.4 / 10.0, rel=1e-13)
    assert np.allclose(px[12:], 95.0, rtol=1e-13)


def test_replay_not_rescaled_with_shock_on_top() -> None:
    rep = Replay(0, np.array([0, 4000]), np.array([10.0, 12.0]), rescale=False)
    p = build_paths([100.0], [0.5], [0.0], [[1.0]], 1000, 8, np.random.default_rng(1),
                    replays=[rep], shocks=[Shock(0, 5000, 0, -0.5)])
    px = p.prices[:, 0]
    assert px[0] == 10.0
    assert px[4] == pytest.approx(12.0, rel=1e-13)
    assert px[5] == pytest.approx(12.0, rel=1e-13)
    assert px[6] == pytest.approx(6.0, rel=1e-13)


def test_replay_conditioning_rho_one_reproduces_returns() -> None:
    step, n = 1000, 2000
    path = _gbm_replay(3, n, 0.7, step)
    rep = Replay(0, np.arange(n + 1) * step, path)
    p = build_paths([100.0, 50.0], [0.7, 0.7], [0.0, 0.0], np.ones((2, 2)), step, n,
                    np.random.default_rng(9), replays=[rep])
    r = np.diff(np.log(p.prices), axis=0)
    np.testing.assert_allclose(r[:, 1], r[:, 0], atol=1e-12)
    assert p.prices[-1, 1] == pytest.approx(50.0 * path[-1] / path[0], rel=1e-9)


@pytest.mark.parametrize("rho", [0.0, 0.5])
def test_replay_conditioning_correlation(rho: float) -> None:
    step, n = 1000, 50_000
    path = _gbm_replay(4, n, 0.7, step)
    rep = Replay(1, np.arange(n + 1) * step, path)
    corr = np.array([[1.0, rho], [rho, 1.0]])
    p = build_paths([100.0, 50.0], [0.4, 0.7], [0.0, 0.0], corr, step, n,
                    np.random.default_rng(10), replays=[rep])
    r = np.diff(np.log(p.prices), axis=0)
    assert np.corrcoef(r.T)[0, 1] == pytest.approx(rho, abs=0.02)
    assert r[:, 0].std() / np.sqrt(step / MS_PER_YEAR) == pytest.approx(0.4, rel=0.03)


def test_zero_vol_replay_leaves_others_unconditional() -> None:
    rep = Replay(1, np.array([0, 50_000]), np.array([1.0, 2.0]))
    cond = build_paths([100.0, 50.0], [0.8, 0.0], [0.0, 0.0], np.ones((2, 2)), 1000, 100,
                       np.random.default_rng(11), replays=[rep])
    # Same draws, no replay, independent assets: asset 0 uses its marginal N(0, 1) in both.
    free = build_paths([100.0, 50.0], [0.8, 0.0], [0.0, 0.0], np.eye(2), 1000, 100,
                       np.random.default_rng(11))
    assert np.array_equal(cond.prices[:, 0], free.prices[:, 0])
    assert cond.prices[50, 1] == pytest.approx(100.0, rel=1e-13)


def test_co_move_does_not_bend_a_replay() -> None:
    rep = Replay(1, np.array([0, 10_000]), np.array([1.0, 1.1]))
    p = build_paths([100.0, 50.0], [0.8, 0.6], [0.0, 0.0], RHO2, 1000, 20,
                    np.random.default_rng(3), replays=[rep], shocks=[Shock(0, 0, 5000, -0.3)])
    assert p.prices[10, 1] == pytest.approx(55.0, rel=1e-13)
    assert p.prices[20, 1] == pytest.approx(55.0, rel=1e-13)


# --------------------------------------------------------------------------- validation / speed


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"start_prices": [100.0, -1.0]}, "start_prices"),
        ({"vols": [0.5, -0.1]}, "vols"),
        ({"vols": [0.5]}, "vols has 1"),
        ({"drifts": [0.0, 0.0, 0.0]}, "drifts has 3"),
        ({"corr": np.eye(3)}, "corr has shape"),
        ({"corr": np.array([[1.0, 2.0], [2.0, 1.0]])}, "outside"),
        ({"step_ms": 0}, "step_ms"),
        ({"n_steps": 0}, "n_steps"),
        ({"shocks": [Shock(0, 0, 10, -1.0)]}, "must be > -1"),
        ({"shocks": [Shock(2, 0, 10, -0.1)]}, "asset 2"),
        ({"shocks": [Shock(0, -5, 10, -0.1)]}, "start_ms"),
        ({"jumps": [Jumps()]}, "jumps has 1"),
        ({"jumps": [Jumps(-1.0), Jumps()]}, "rate_per_year"),
        ({"replays": [Replay(0, np.array([0, 1]), np.array([1.0, 0.0]))]}, "not > 0"),
        ({"replays": [Replay(0, np.array([0, 0]), np.array([1.0, 2.0]))]}, "increasing"),
        ({"replays": [Replay(5, np.array([0]), np.array([1.0]))]}, "asset 5"),
        ({"replays": [Replay(0, np.array([0, 1]), np.array([1.0]))]}, "equal length"),
        (
            {"replays": [Replay(0, np.array([0]), np.array([1.0])),
                         Replay(0, np.array([0]), np.array([2.0]))]},
            "more than one replay",
        ),
    ],
)
def test_validation_errors(kwargs: dict, fragment: str) -> None:
    args = {
        "start_prices": [100.0, 50.0], "vols": [0.5, 0.5], "drifts": [0.0, 0.0],
        "corr": RHO2, "step_ms": 1000, "n_steps": 10, "rng": np.random.default_rng(0),
    }
    args.update(kwargs)
    with pytest.raises(PathError, match=fragment):
        build_paths(**args)
