"""The fast margin check is exact: whole runs with the index-driven ``BreachDetector`` and with
the brute-force ``ExactScanDetector`` (every eligible account evaluated at every check) give
identical event logs, on generated worlds: small scaled defaults under random seeds, shock
sizes and presets, so liquidations, margin calls, ADL and the optional mechanisms all occur.
"""

from __future__ import annotations

import pandas as pd
import pytest
from conftest import linked_venues
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import markets.venue
from markets.margin.detection import ExactScanDetector
from simulator import default_scenario
from simulator.run.runner import run


def world(retail: int, shock: float, preset: str | None, duration: str):
    sets = [f"populations.retail.count={retail}", "populations.whales.count=5",
            f"duration={duration}", f"shocks.0.move={shock}%"]
    if preset:
        sets.append(f"venues.cex.preset={preset}")
    return default_scenario().with_overrides(sets)


def both(scenario, seed: int, monkeypatch) -> tuple[pd.DataFrame, pd.DataFrame]:
    fast = run(scenario, seed)
    with monkeypatch.context() as patch:
        patch.setattr(markets.venue, "BreachDetector", ExactScanDetector)
        exact = run(scenario, seed)
    return fast.events, exact.events


@settings(max_examples=8, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(seed=st.integers(0, 1_000), retail=st.integers(300, 1_200),
       shock=st.sampled_from([-4, -8, -12, -20]),
       preset=st.sampled_from([None, "binance", "bybit", "okx", "bitmex", "dydx"]))
def test_fast_check_matches_a_brute_force_scan(seed, retail, shock, preset, monkeypatch):
    fast, exact = both(world(retail, shock, preset, "5m"), seed, monkeypatch)
    pd.testing.assert_frame_equal(fast, exact)


@pytest.mark.parametrize("preset", [None, "hyperliquid", "drift"])
def test_a_cascade_is_detected_at_the_same_ticks(preset, monkeypatch):
    fast, exact = both(world(1_500, -12, preset, "10m"), 7, monkeypatch)
    liquidations = fast[fast["kind"] == "liquidation"]
    assert len(liquidations) > 50  # a real cascade, not a quiet run
    assert (fast["kind"] == "margin_call").any()
    pd.testing.assert_frame_equal(fast, exact)


def test_three_venues_of_ten_markets_match_a_brute_force_scan(monkeypatch):
    """Cross accounts in several markets, isolated positions and three venues: a small
    day-3x10 world, its BTC move brought forward to 30 min, gives the brute-force scan's event
    log."""
    import sys
    from pathlib import Path

    from simulator.config import parse_scenario

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "experiments"))
    import benchmark

    data = benchmark.day_3x10_data(accounts=800)
    data["duration"] = "40m"
    data["shocks"][0]["at"] = "30m"
    data["clock"]["oracle_interval"] = "5s"
    fast, exact = both(parse_scenario(data), 7, monkeypatch)
    assert (fast["kind"] == "liquidation").sum() > 50 and (fast["kind"] == "margin_call").any()
    pd.testing.assert_frame_equal(fast, exact)


def test_venues_linked_by_index_weights_and_cross_impact_match_a_brute_force_scan(monkeypatch):
    """Two copies of the default venue: the second's BTC index weights the first's price, the
    first's BTC moves pass to the second's ETH, and an arbitrageur trades the two BTC books,
    so moves arrive from the other venue."""
    fast, exact = both(linked_venues(world(600, -12, None, "6m")), 7, monkeypatch)
    dex = fast[(fast["kind"] == "liquidation") & (fast["venue"] == "dex")]
    assert len(dex) > 20
    assert (fast["reason"] == "arbitrage").sum() > 10
    pd.testing.assert_frame_equal(fast, exact)


def test_collateral_in_a_volatile_asset_matches_a_brute_force_scan(monkeypatch):
    """A third of retail collateral held in BTC (5% haircut), revalued at every tick, and a
    venue-side 20% markdown of it during the crash: accounts breach with no position price
    moving, and the fast check still finds them when a scan of everyone would."""
    scenario = world(800, -12, None, "5m").with_overrides([
        'venues.cex.collateral=[{"asset": "BTC", "haircut": 0.05}]',
        'populations.retail.collateral_mix={"BTC": 0.35}',
        'depegs=[{"venue": "cex", "asset": "BTC", "at": "4m", "over": "20s", "move": -0.2}]'])
    fast, exact = both(scenario, 5, monkeypatch)
    assert (fast["kind"] == "liquidation").sum() > 50
    pd.testing.assert_frame_equal(fast, exact)


@settings(max_examples=4, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(seed=st.integers(0, 1_000), retail=st.integers(1_000, 2_000),
       fund=st.sampled_from([0, 1_000]))
def test_socialized_losses_match_a_brute_force_scan(seed, retail, fund, monkeypatch):
    """Bad debt past a small fund is socialized over every holder, which the index takes as a
    shift of the market's price rather than a change of each row: still the brute-force log."""
    sc = world(retail, -20, None, "5m").with_overrides([f"venues.cex.insurance_fund={fund}"])
    fast, exact = both(sc, seed, monkeypatch)
    assert (fast["kind"] == "socialized_loss").sum() > 10
    pd.testing.assert_frame_equal(fast, exact)
