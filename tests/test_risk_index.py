"""The risk index is a conservative filter: it never hides an account past its threshold."""

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from markets.margin.accounts import Accounts
from markets.margin.formulas import MarginTiers
from markets.margin.risk_index import RiskIndex

TIERS = [MarginTiers.from_table([0, 5_000, 50_000], [0.005, 0.01, 0.05], [100, 50, 10]),
         MarginTiers.flat(0.02, 25)]


def world(seed: int, n: int = 300) -> Accounts:
    rng = np.random.default_rng(seed)
    acc = Accounts(n, TIERS)
    marks = np.array([100.0, 20.0])
    notional = rng.lognormal(7, 1.5, (n, 2)) * (rng.random((n, 2)) < 0.7)
    acc.pos[:] = np.where(rng.random((n, 2)) < 0.6, 1, -1) * notional / marks
    acc.entry[:] = marks * np.exp(rng.normal(0, 0.03, (n, 2)))
    lev = rng.choice([2, 5, 10, 20, 40], n)
    margin = (np.abs(acc.pos) * acc.entry).sum(axis=1) / lev
    acc.isolated[:] = (rng.random(n) < 0.3)[:, None] & (acc.pos != 0)
    acc.iso_margin[:] = np.where(acc.isolated, np.abs(acc.pos) * acc.entry / lev[:, None], 0)
    acc.wallet[:] = np.where(acc.isolated.any(axis=1), 10.0, margin)
    return acc


def breached(acc: Accounts, marks: np.ndarray, mult: np.ndarray) -> set[int]:
    cross, iso = acc.slack(slice(None), marks, mult)
    return set(np.nonzero((cross < 0) | (iso < 0).any(axis=1))[0].tolist())


@settings(max_examples=60, deadline=None, derandomize=True)
@given(seed=st.integers(0, 10_000), moves=st.lists(
    st.tuples(st.floats(-0.08, 0.08), st.floats(-0.1, 0.1)), min_size=1, max_size=6),
    touch=st.lists(st.integers(0, 299), max_size=10))
def test_no_breach_is_ever_hidden(seed, moves, touch):
    acc = world(seed)
    index = RiskIndex(acc, min_limit=64)
    mult = np.full(acc.n, 1.25)  # margin calls armed everywhere: the tighter threshold
    eligible = (acc.pos != 0).any(axis=1)
    marks = np.array([100.0, 20.0])
    index.rebuild(marks, mult, eligible)
    for k, (a, b) in enumerate(moves):
        marks = marks * np.array([1 + a, 1 + b])
        if k == 1 and touch:  # an account changes: more collateral is withdrawn
            acc.wallet[touch] *= 0.5
            index.touch(touch)
        truth = breached(acc, marks, mult)
        if index.unchanged(marks) and index.quiet(marks):
            assert not truth & set(index.watched.tolist()) and not truth
            continue
        rows = index.candidates(marks)
        if rows is None:
            index.rebuild(marks, mult, eligible)
            rows = index.candidates(marks)
        if rows is None:
            continue  # the caller then checks every eligible account
        assert truth <= set(rows.tolist())
        need = rows[index.needs_exact(rows, marks)]
        assert truth <= set(need.tolist())
        cross, iso = acc.slack(need, marks, mult[need])
        index.remember(need, marks, cross, iso, mult[need])
        index.settle(marks, rows)


def test_touching_a_flat_account_changes_nothing():
    acc = world(1)
    acc.pos[7] = 0.0
    index = RiskIndex(acc)
    marks = np.array([100.0, 20.0])
    index.rebuild(marks, np.ones(acc.n), (acc.pos != 0).any(axis=1))
    index.settle(marks, index.candidates(marks))
    index.touch([7])
    assert index.unchanged(np.array([100.0, 20.0]))
    index.touch([8])
    assert not index.unchanged(np.array([100.0, 20.0]))


def test_the_limit_counts_accounts_not_entries():
    """An account in several markets has an entry in each; the rebuild limit is on accounts.
    60 accounts, each in both markets, all within reach after a large move: 120 entries but
    60 accounts, under a limit of 64, so the index answers instead of asking for a rebuild."""
    acc = world(5)
    acc.pos[60:] = 0.0
    acc.pos[:60] = np.where(acc.pos[:60] == 0, 1.0, acc.pos[:60])
    acc.isolated[:] = False
    acc.iso_margin[:] = 0.0
    index = RiskIndex(acc, min_limit=64)
    assert index.limit == 64
    mult = np.ones(acc.n)
    marks = np.array([100.0, 20.0])
    eligible = (acc.pos != 0).any(axis=1)
    index.rebuild(marks, mult, eligible)
    moved = marks * 0.5
    rows = index.candidates(moved)
    assert rows is not None
    assert rows.tolist() == list(range(60))
    assert breached(acc, moved, mult) <= set(rows.tolist())


def test_more_accounts_than_the_limit_ask_for_a_rebuild():
    acc = world(5)
    acc.isolated[:] = False
    acc.iso_margin[:] = 0.0
    index = RiskIndex(acc, min_limit=64)
    marks = np.array([100.0, 20.0])
    index.rebuild(marks, np.ones(acc.n), (acc.pos != 0).any(axis=1))
    assert index.candidates(marks * 0.5) is None
