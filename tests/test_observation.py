"""Observing never changes the run: the recorder reads prices and books without advancing them.

Sampling used to refill the book and re-centre the mid in its own steps, so a run sampled every
second and the same run sampled every five seconds rounded their exponential decays differently
and gave different event logs (and different last digits of bad debt).
"""

import copy
import math
from pathlib import Path

import numpy as np
import pytest

from markets.book import SELL, DepthProfile, OrderBook
from markets.prices.marks import MarketPrices, MarkRule
from simulator import default_scenario, load_scenario, run

ROOT = Path(__file__).resolve().parent.parent


def _book() -> OrderBook:
    profile = DepthProfile(np.array([0.01]), np.array([100.0]), max_distance=0.1)
    return OrderBook(profile, step=1.0, tick=0.01, ref_price=100.0, refill_ms=60_000.0)


def test_book_observe_matches_a_refilled_copy_and_leaves_the_book_alone():
    b = _book()
    b.apply(b.preview(SELL, 2.5, 100.0), 100.0)  # bids depleted; the mid moved down 2
    before = (b.bid_depletion.copy(), b.ask_depletion.copy(), b._t, b._target_key)
    seen = b.observe(30_000, 98.0, 0.05)
    # Nothing about the book changed, not even its cached target.
    assert np.array_equal(b.bid_depletion, before[0]) and b._t == before[2]
    assert np.array_equal(b.ask_depletion, before[1]) and b._target_key == before[3]
    # What it saw is what a book refilled to 30 s would show: half a level left at 99.5 came
    # back by exp(-0.5) of its depletion.
    twin = copy.deepcopy(b)
    twin.advance(30_000)
    expected = (*twin.best_prices(98.0), *twin.depth_within(0.05, 98.0))
    assert seen == pytest.approx(expected, rel=1e-12)
    top = twin.quoted(SELL, 98.0, 1)[0]
    assert top == pytest.approx(10_000 / 98.0**2 * (1 - 0.5 * math.exp(-0.5)))


def test_prices_observed_match_an_advanced_copy_and_leave_the_prices_alone():
    p = MarketPrices(100.0, MarkRule("ema_basis", clamp=0.05, ema_half_life_ms=10_000),
                     recentre_ms=20_000.0, index_share=0.25)
    p.on_oracle(1_000, 100.0)
    p.add_impact(1, -4.0)
    state = (p.displacement, p.mark, p._t)
    seen = p.observed(11_000)
    assert (p.displacement, p.mark, p._t) == state
    twin = copy.deepcopy(p)
    twin.advance(11_000)
    assert seen == pytest.approx((twin.mid, twin.index, twin.mark), rel=1e-13)
    assert seen[0] == pytest.approx(100.0 * math.exp(math.log(0.96) * math.exp(-0.5)))


def _at_interval(scenario, interval_ms: int):
    clock = scenario.clock.model_copy(update={"sample_interval": interval_ms})
    return scenario.model_copy(update={"clock": clock})


@pytest.mark.parametrize("name", ["default", "flash_crash"])
def test_the_sample_interval_changes_nothing_but_the_series(name):
    base = (default_scenario() if name == "default"
            else load_scenario(ROOT / "experiments" / "scenarios" / f"{name}.yaml"))
    fine = run(_at_interval(base, 1_000), seed=7)
    coarse = run(_at_interval(base, 5_000), seed=7)
    assert fine.event_log_hash() == coarse.event_log_hash()
    assert fine.events.equals(coarse.events)
    assert fine.summary == coarse.summary
    # Only the sampled series differ: five times as many rows.
    markets = fine.timeseries["market"].nunique()
    span = int(fine.timeseries["time_ms"].max())
    assert len(fine.timeseries) == markets * (span // 1_000 + 1)
    assert len(coarse.timeseries) == markets * (span // 5_000 + 1)
    # The shared sampling instants saw the same prices.
    both = fine.timeseries[fine.timeseries["time_ms"] % 5_000 == 0].reset_index(drop=True)
    assert both[["time_ms", "mark", "mid", "insurance_fund"]].equals(
        coarse.timeseries[["time_ms", "mark", "mid", "insurance_fund"]])
