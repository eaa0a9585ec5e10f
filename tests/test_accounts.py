"""Accounts as struct-of-arrays: trade accounting, margin evaluation, conservation."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from markets.margin.accounts import Accounts
from markets.margin.formulas import MarginTiers

FLAT = MarginTiers.flat(0.01, 50)
TIERED = MarginTiers.from_table([0, 1_000], [0.01, 0.05], [50, 10])


def fresh(n: int = 3, m: int = 2) -> Accounts:
    return Accounts(n, [FLAT] * m)


def test_open_increase_reduce_flip():
    acc = fresh()
    assert acc.trade(0, 0, 2.0, 100.0) == 0.0
    acc.trade(0, 0, 2.0, 110.0)
    assert acc.entry[0, 0] == pytest.approx(105.0)  # average entry on increase
    assert acc.trade(0, 0, -1.0, 120.0) == pytest.approx(15.0)  # realised on reduction
    assert acc.entry[0, 0] == pytest.approx(105.0) and acc.pos[0, 0] == 3.0
    # Sell 4 at 90: closes 3 (realised 3 * (90 - 105) = -45) and opens a 1 short at 90.
    assert acc.trade(0, 0, -4.0, 90.0) == pytest.approx(-45.0)
    assert acc.pos[0, 0] == -1.0 and acc.entry[0, 0] == 90.0
    assert acc.wallet[0] == pytest.approx(15.0 - 45.0)
    acc.trade(0, 0, 1.0, 80.0)
    assert acc.pos[0, 0] == 0.0 and acc.entry[0, 0] == 0.0
    assert acc.wallet[0] == pytest.approx(-30.0 + 10.0)


def test_closing_leaves_no_float_residue():
    acc = fresh()
    acc.trade(0, 0, 0.3, 100.0)
    acc.trade(0, 0, -0.1, 101.0)
    acc.trade(0, 0, -0.2, 102.0)
    assert acc.pos[0, 0] == 0.0 and acc.is_flat(0)


@settings(max_examples=100, deadline=None, derandomize=True)
@given(st.lists(st.tuples(st.floats(-5, 5).filter(lambda x: abs(x) > 1e-6),
                          st.floats(50, 150)), min_size=1, max_size=30))
def test_trades_conserve_cash_value(trades):
    """Each trade moves ``wallet - pos * entry`` by ``-qty * price`` on each side: the two
    sides of a trade together leave the total unchanged."""
    acc = fresh(2, 1)
    start = acc.cash_value()
    for qty, price in trades:
        acc.trade(0, 0, qty, price)
        acc.trade(1, 0, -qty, price)
    assert acc.cash_value() == pytest.approx(start, abs=1e-9 * sum(abs(q) * p for q, p in trades))
    assert acc.pos[0, 0] == pytest.approx(-acc.pos[1, 0], abs=1e-9)


def test_isolated_positions_keep_their_own_margin():
    acc = fresh()
    acc.isolated[1, 0] = True
    acc.iso_margin[1, 0] = 10.0
    acc.wallet[1] = 100.0
    acc.trade(1, 0, 1.0, 100.0)
    acc.trade(1, 0, -0.5, 90.0)  # realises -5 into the isolated margin, not the wallet
    assert acc.iso_margin[1, 0] == pytest.approx(5.0) and acc.wallet[1] == 100.0
    cross_eq, cross_mm, iso_eq, iso_mm = acc.margin_state(np.array([1]), np.array([80.0, 1.0]))
    assert iso_eq[0, 0] == pytest.approx(5.0 + 0.5 * (80 - 100))
    assert iso_mm[0, 0] == pytest.approx(0.01 * 0.5 * 80)
    assert cross_eq[0] == 100.0 and cross_mm[0] == 0.0
    cross, iso = acc.slack(np.array([1]), np.array([80.0, 1.0]))
    assert cross[0] == np.inf  # no cross position: nothing to breach
    assert iso[0, 0] == pytest.approx(-5.0 - 0.4)
    assert iso[0, 1] == np.inf


def test_cross_margin_nets_positions():
    acc = Accounts(1, [FLAT, TIERED])
    acc.wallet[0] = 100.0
    acc.pos[0] = [1.0, -20.0]
    acc.entry[0] = [100.0, 50.0]
    marks = np.array([90.0, 60.0])
    cross_eq, cross_mm, _, _ = acc.margin_state(np.array([0]), marks)
    # equity 100 - 10 - 200 = -110; maintenance 0.9 + (1200 * 5% - 1000 * 4%) = 0.9 + 20
    assert cross_eq[0] == pytest.approx(-110.0)
    assert cross_mm[0] == pytest.approx(0.9 + 20.0)
    assert acc.scope_slack(0, -1, marks) == pytest.approx(-130.9)
    assert acc.equity_backing(0, 1, marks) == pytest.approx(100.0 - 10.0)
    assert acc.equity_backing_rows(np.array([0]), 1, marks).tolist() == pytest.approx([90.0])


def test_slack_levels_match_one_level_at_a_time():
    rng = np.random.default_rng(5)
    acc = Accounts(20, [FLAT, TIERED])
    acc.wallet[:] = rng.uniform(10, 200, 20)
    acc.pos[:] = rng.normal(0, 10, (20, 2))
    acc.pos[3] = 0.0
    acc.entry[:] = np.array([100.0, 50.0]) * rng.uniform(0.9, 1.1, (20, 2))
    acc.isolated[10:, 1] = True
    acc.iso_margin[10:, 1] = 30.0
    rows = np.arange(20)
    scopes = np.where(rows < 10, -1, 1)
    levels = np.array([[100.0, 50.0], [95.0, 52.0], [90.0, 55.0]])
    out = acc.slack_levels(rows, scopes, levels, 1.25)
    for j, marks in enumerate(levels):
        cross, iso = acc.slack(rows, marks, 1.25)
        expected = np.where(scopes < 0, cross, iso[:, 1])
        live = np.isfinite(expected)
        assert out[j][live] == pytest.approx(expected[live])
        for r in rows[(scopes < 0) & live]:
            assert acc.scope_slack(int(r), -1, marks) == pytest.approx(
                acc.slack(np.array([r]), marks)[0][0])


def test_open_interest_is_kept_by_trades():
    acc = fresh(3, 1)
    acc.pos[:, 0] = [2.0, -1.0, -1.0]
    acc.recount()
    assert acc.open_interest().tolist() == [2.0]
    acc.trade(1, 0, 3.0, 100.0)  # short 1 -> long 2
    acc.trade(0, 0, -3.0, 100.0)  # long 2 -> short 1
    assert acc.open_interest().tolist() == [2.0]
    assert acc.open_interest().tolist() == [np.where(acc.pos > 0, acc.pos, 0).sum()]


def test_credit_goes_to_the_right_pocket():
    acc = fresh()
    acc.isolated[0, 1] = True
    acc.credit(0, 1, 5.0)
    acc.credit(0, 0, 7.0)
    acc.credit(0, None, 1.0)
    assert acc.iso_margin[0, 1] == 5.0 and acc.wallet[0] == 8.0


@pytest.mark.parametrize("isolated_share", [0.0, 0.4])
def test_slack_pair_is_slack_of_at_both_thresholds(isolated_share):
    """The detector's fused evaluation gives bit for bit what two ``slack_of`` calls give, and
    the padded tier gather gives each market's own ``MarginTiers.maintenance``."""
    rng = np.random.default_rng(5)
    tiers = [MarginTiers.from_table([0, 5_000, 50_000], [0.005, 0.01, 0.05], [100, 50, 10]),
             MarginTiers.flat(0.02, 25),
             MarginTiers.from_table([0, 1_000], [0.01, 0.02], [50, 25])]
    acc = Accounts(400, tiers)
    acc.pos[:] = rng.normal(0, 50, (400, 3)) * (rng.random((400, 3)) < 0.6)
    acc.entry[:] = 100 * np.exp(rng.normal(0, 0.05, (400, 3)))
    acc.isolated[:] = (rng.random((400, 3)) < isolated_share) & (acc.pos != 0)
    acc.iso_margin[:] = np.where(acc.isolated, 300.0, 0.0)
    acc.wallet[:] = rng.uniform(-100, 2_000, 400)
    marks = np.array([101.0, 97.0, 103.0])
    rows = np.arange(400)
    mult = np.where(rng.random(400) < 0.5, 1.25, 1.0)
    state = acc.margin_state(rows, marks)
    got = acc.slack_pair(rows, state, mult)
    want = (*acc.slack_of(rows, state), *acc.slack_of(rows, state, mult))
    for g, w in zip(got, want, strict=True):
        np.testing.assert_array_equal(g, w)
    notional = np.abs(acc.pos) * marks
    for m, t in enumerate(tiers):
        np.testing.assert_array_equal(acc.maintenance(rows, marks)[:, m],
                                      t.maintenance(notional[:, m]))
