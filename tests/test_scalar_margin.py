"""The scalar margin path gives the array path's slack bit for bit (so event logs match)."""

import numpy as np
import pytest

from markets.margin.accounts import Accounts
from markets.margin.formulas import MarginTiers
from markets.margin.scalar import MAX_TERMS, row_slack_pair, row_sum

TABLES = [MarginTiers.from_table([0, 5_000, 50_000], [0.005, 0.01, 0.05], [100, 50, 10]),
          MarginTiers.flat(0.02, 25),
          MarginTiers.from_table([0, 1_000], [0.004, 0.0125], [125, 50])]


@pytest.mark.parametrize("rows", [1, 2, 3, 5])
def test_row_sum_is_numpys_order_for_every_length(rows):
    """NumPy sums a row sequentially below 8 terms and pairwise (8 accumulators) from 8 on:
    on values spread over nine orders of magnitude, any other order differs in the last bit
    somewhere, so equality over thousands of rows pins the order down."""
    rng = np.random.default_rng(rows)
    for m in range(1, MAX_TERMS + 1, 3):
        a = rng.normal(size=(rows, m)) * 10.0 ** rng.uniform(-3, 6, (rows, m))
        want = a.sum(axis=1)
        for k in range(rows):
            assert row_sum(a[k].tolist()) == want[k], (rows, m, k)


def test_a_plain_running_sum_is_not_numpys_order_from_eight_terms():
    """The check above can fail: a running sum of 8+ terms differs from NumPy's somewhere."""
    rng = np.random.default_rng(0)
    a = rng.normal(size=(200, 9)) * 10.0 ** rng.uniform(-3, 6, (200, 9))
    running = [sum(row) for row in a.tolist()]
    assert any(r != s for r, s in zip(running, a.sum(axis=1), strict=True))


def test_row_sum_refuses_rows_it_cannot_reproduce():
    with pytest.raises(ValueError, match="128"):
        row_sum([1.0] * (MAX_TERMS + 1))


def world(seed: int, m: int, n: int = 200) -> tuple[Accounts, np.ndarray]:
    rng = np.random.default_rng(seed)
    acc = Accounts(n, [TABLES[k % len(TABLES)] for k in range(m)])
    marks = 10.0 ** rng.uniform(0, 4, m)
    notional = rng.lognormal(8, 1.5, (n, m)) * (rng.random((n, m)) < 0.6)
    acc.pos[:] = np.where(rng.random((n, m)) < 0.5, 1, -1) * notional / marks
    acc.entry[:] = marks * np.exp(rng.normal(0, 0.05, (n, m)))
    lev = rng.choice([2, 5, 10, 20, 40], n)
    acc.isolated[:] = (rng.random((n, m)) < 0.25) & (acc.pos != 0)
    acc.iso_margin[:] = np.where(acc.isolated, np.abs(acc.pos) * acc.entry / lev[:, None], 0)
    acc.wallet[:] = (np.abs(acc.pos) * acc.entry * ~acc.isolated).sum(axis=1) / lev \
        * rng.uniform(0.3, 1.5, n)
    return acc, marks * np.exp(rng.normal(0, 0.08, m))


@pytest.mark.parametrize("m", [1, 2, 3, 7, 8, 10, 17])
@pytest.mark.parametrize("scaled", [False, True])
def test_scalar_slack_equals_the_array_path(m, scaled):
    acc, marks = world(m, m)
    if scaled:
        acc.set_maintenance_multiplier(0, 1.7)
    rng = np.random.default_rng(m)
    mult = np.where(rng.random(acc.n) < 0.5, 1.0 / 1.25, 1.0)
    queued = rng.random((acc.n, m)) < 0.1
    rows = np.arange(acc.n)
    state = acc.margin_state(rows, marks)
    cross, iso, cross_at, iso_at = acc.slack_pair(rows, state, mult)
    iso = np.where(queued, np.inf, iso)
    iso_at = np.where(queued, np.inf, iso_at)
    prices = marks.tolist()
    assert acc.isolated.any() and (~acc.isolated & (acc.pos != 0)).any()
    if m > 1:  # rows with both cross and isolated positions are covered
        assert (acc.isolated.any(axis=1) & (~acc.isolated & (acc.pos != 0)).any(axis=1)).any()
    for i in rows.tolist():
        got = row_slack_pair(acc, i, prices, float(mult[i]), queued[i].tolist())
        assert got[0] == cross[i] and got[2] == cross_at[i], i
        assert got[1] == iso[i].tolist() and got[3] == iso_at[i].tolist(), i


def test_a_flat_account_has_no_scope():
    acc, marks = world(1, 3)
    acc.pos[5] = 0.0
    acc.isolated[5] = False
    got = row_slack_pair(acc, 5, marks.tolist(), 1.0, [False] * 3)
    assert got == (np.inf, [np.inf] * 3, np.inf, [np.inf] * 3)


def test_one_positions_maintenance_and_rate_are_the_tier_tables():
    """The scalar tier look-ups equal MarginTiers' searchsorted ones, at and between floors."""
    acc = Accounts(1, TABLES)
    acc.set_maintenance_multiplier(1, 1.3)
    for m, table in enumerate(TABLES):
        notionals = np.concatenate((table.floors, table.floors * (1 + 1e-12), table.floors * 0.99,
                                    [0.0, 1.0, 3e4, 7e5, 1e9]))
        for n in notionals.tolist():
            want = float(table.maintenance(n)) * float(acc.mm_mult[m])
            assert acc.position_maintenance(m, n) == want, (m, n)
            assert acc.position_maintenance(m, np.float64(-n)) == want
            assert acc.tier_rate(m, n) == table.rate_and_cum(n)[0], (m, n)
