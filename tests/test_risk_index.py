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


def evaluate(index: RiskIndex, acc: Accounts, rows: np.ndarray, marks, mult, bulk=False):
    """What the detector does with due rows: evaluate them exactly and remember the slack."""
    cross, iso = acc.slack(rows, marks, mult[rows])
    index.remember(rows, marks, cross, iso, mult[rows], bulk)


@settings(max_examples=60, deadline=None, derandomize=True)
@given(seed=st.integers(0, 10_000), moves=st.lists(
    st.tuples(st.floats(-0.08, 0.08), st.floats(-0.1, 0.1)), min_size=1, max_size=8),
    touch=st.lists(st.integers(0, 299), max_size=10),
    armed=st.floats(0.0, 1.0))
def test_no_breach_is_ever_hidden(seed, moves, touch, armed):
    """After any path of moves (both ways, both markets at once) and touches, every account
    past its threshold is due: the triggers are a conservative bound."""
    acc = world(seed)
    rng = np.random.default_rng(seed)
    mult = np.where(rng.random(acc.n) < armed, 1.25, 1.0)
    index = RiskIndex(acc)
    marks = np.array([100.0, 20.0])
    index.clear()
    evaluate(index, acc, np.arange(acc.n), marks, mult, bulk=True)
    for step, (a, b) in enumerate(moves):
        if touch and step % 2:
            acc.wallet[touch] *= 0.5  # a change the index only hears of through touch
            index.touch(touch)
        marks = marks * np.exp([a, b])
        due = index.due(marks)
        assert breached(acc, marks, mult) <= set(due.tolist()), step
        assert due.tolist() == sorted(set(due.tolist()))
        evaluate(index, acc, due, marks, mult)


def test_a_quiet_check_finds_nothing_and_a_move_only_the_accounts_it_reaches():
    """Account 0: long 1 @ 100, wallet 10, mmr 0.5% (maintenance 0.5 at 100). Its slack at
    100 is 9.5 less the float margin; a fall of d costs it at most d, so it is due below
    about 90.5 and never on a rise (its maintenance grows slower than its equity). Account 1:
    short 1 @ 100 with the same wallet: up to a doubling of the price, a rise of d costs it at
    most d (1 + 0.5%), 0.5% being the rate of the tier holding twice its notional, so it is due
    above 100 + 9.5 / 1.005 = 109.45, never on a fall."""
    acc = Accounts(2, TIERS)
    acc.pos[:, 0] = [1.0, -1.0]
    acc.entry[:, 0] = 100.0
    acc.wallet[:] = 10.0
    index = RiskIndex(acc)
    mult = np.ones(2)
    marks = np.array([100.0, 20.0])
    index.clear()
    evaluate(index, acc, np.arange(2), marks, mult, bulk=True)
    assert index.due(marks).size == 0
    assert index.due(np.array([90.6, 20.0])).size == 0
    assert index.due(np.array([109.4, 3.0])).size == 0  # market 1: no position, no trigger
    assert index.due(np.array([90.4, 20.0])).tolist() == [0]
    assert index.due(np.array([90.4, 20.0])).size == 0  # consumed: paid for once
    assert index.due(np.array([109.5, 20.0])).tolist() == [1]
    assert index.entries() == 0


def test_a_consumed_trigger_is_renewed_around_the_new_price():
    acc = Accounts(1, TIERS)
    acc.pos[0, 0], acc.entry[0, 0], acc.wallet[0] = 1.0, 100.0, 10.0
    index = RiskIndex(acc)
    mult = np.ones(1)
    index.clear()
    evaluate(index, acc, np.arange(1), np.array([100.0, 20.0]), mult, bulk=True)
    due = index.due(np.array([95.0, 20.0]))  # past the first trigger? no: it is at ~90.5
    assert due.size == 0
    acc.wallet[0] = 6.0  # withdrew 4: due now whatever the price
    index.touch(0)
    at = np.array([95.0, 20.0])
    assert index.due(at).tolist() == [0]
    evaluate(index, acc, np.arange(1), at, mult)
    # slack at 95: 6 - 5 - 0.475 = 0.525: the new trigger sits just under 94.475
    assert index.due(np.array([94.48, 20.0])).size == 0
    assert index.due(np.array([94.47, 20.0])).tolist() == [0]


def test_below_threshold_rows_are_due_again_and_forgotten_rows_are_not():
    acc = Accounts(3, TIERS)
    acc.pos[:, 0], acc.entry[:, 0] = 1.0, 100.0
    acc.wallet[:] = [0.2, 10.0, 10.0]  # row 0 is below maintenance (0.5) at 100
    index = RiskIndex(acc)
    mult = np.ones(3)
    marks = np.array([100.0, 20.0])
    index.clear()
    evaluate(index, acc, np.arange(3), marks, mult, bulk=True)
    assert index.due(marks * [1.05, 1.0]).tolist() == [0]  # even though the price rose
    index.touch([1, 2])
    index.forget(np.array([2]))
    assert index.due(marks).tolist() == [1]


def test_touching_a_flat_account_changes_nothing():
    acc = world(3)
    acc.pos[7] = 0.0
    index = RiskIndex(acc)
    index.clear()
    index.touch([7])
    assert index.due(np.array([100.0, 20.0])).size == 0
    index.touch([8])
    assert index.due(np.array([100.0, 20.0])).tolist() == [8]


def test_merging_the_buffer_keeps_every_trigger():
    """More fresh entries than the buffer holds: the merge (insertion into the sorted keys)
    loses none and keeps the keys sorted."""
    acc = world(11, n=2_000)
    acc.isolated[:] = False
    acc.iso_margin[:] = 0.0
    index = RiskIndex(acc)
    mult = np.ones(acc.n)
    marks = np.array([100.0, 20.0])
    index.clear()
    rows = np.arange(acc.n)
    evaluate(index, acc, rows[: acc.n // 2], marks, mult, bulk=True)
    for part in np.array_split(rows[acc.n // 2 :], 10):  # 1,000 fresh rows: past the buffer
        evaluate(index, acc, part, marks, mult)
    for side in (*index._down, *index._up):
        assert np.all(np.diff(side.key[side.start :]) >= 0)
    moved = marks * 0.6
    assert breached(acc, moved, mult) <= set(index.due(moved).tolist())


def test_the_scalar_path_gives_the_vectorised_triggers():
    """A handful of rows take a scalar path; it must give the same triggers as arrays do."""
    acc = world(21)
    mult = np.where(np.arange(acc.n) % 3 == 0, 1.25, 1.0)
    marks = np.array([101.0, 19.5])
    acc.wallet[::7] = -1.0  # some rows below: due again, no triggers
    cross, iso = acc.slack(slice(None), marks, mult)

    def triggers(index):
        out = []
        for side in (*index._down, *index._up):
            keys = np.concatenate((side.key[side.start:], side._bk[: side._n]))
            rows = np.concatenate((side.row[side.start:], side._br[: side._n]))
            out.append(sorted(zip(rows.tolist(), keys.tolist(), strict=True)))
        return out, sorted(np.nonzero(index.dirty)[0].tolist())

    few, arrays = RiskIndex(acc), RiskIndex(acc)
    for start in range(0, 60, 3):
        rows = np.arange(start, start + 3)
        few.remember(rows, marks, cross[rows], iso[rows], mult[rows])  # scalar path
    rows = np.arange(60)
    arrays.remember(rows, marks, cross[rows], iso[rows], mult[rows])  # array path
    (a, da), (b, db) = triggers(few), triggers(arrays)
    assert da == db and any(da)
    for x, y in zip(a, b, strict=True):
        assert [r for r, _ in x] == [r for r, _ in y]
        np.testing.assert_allclose([k for _, k in x], [k for _, k in y], rtol=1e-12)


def test_a_rise_bound_holds_up_to_a_doubling_and_fires_there():
    """A short with a huge wallet: its rise trigger is capped at twice the price (beyond, the
    rate of a higher tier could apply), so a doubling makes it due whatever its slack."""
    acc = Accounts(1, TIERS)
    acc.pos[0, 0], acc.entry[0, 0], acc.wallet[0] = -1.0, 100.0, 1e6
    index = RiskIndex(acc)
    index.clear()
    evaluate(index, acc, np.arange(1), np.array([100.0, 20.0]), np.ones(1), bulk=True)
    assert index.due(np.array([199.0, 20.0])).size == 0
    assert index.due(np.array([200.0, 20.0])).tolist() == [0]


def charge(acc: Accounts, m: int, per_unit: float) -> None:
    """A socialized loss of ``per_unit`` per unit of position in market ``m``, as ``settle``
    charges it: to the wallet of a cross position, the margin of an isolated one."""
    size = np.abs(acc.pos[:, m])
    iso = acc.isolated[:, m]
    acc.wallet[~iso] -= size[~iso] * per_unit
    acc.iso_margin[iso, m] -= size[iso] * per_unit


@settings(max_examples=60, deadline=None, derandomize=True)
@given(seed=st.integers(0, 10_000), steps=st.lists(
    st.tuples(st.floats(-0.06, 0.06), st.floats(-0.08, 0.08), st.integers(0, 1),
              st.floats(0.0, 3.0)), min_size=1, max_size=8),
    armed=st.floats(0.0, 1.0))
def test_no_breach_is_hidden_by_socialized_charges(seed, steps, armed):
    """Moves both ways mixed with socialized charges that no row is touched for: every
    account past its threshold is still due (the charge shifts the prices the triggers see)."""
    acc = world(seed)
    rng = np.random.default_rng(seed)
    mult = np.where(rng.random(acc.n) < armed, 1.25, 1.0)
    index = RiskIndex(acc)
    marks = np.array([100.0, 20.0])
    index.clear()
    evaluate(index, acc, np.arange(acc.n), marks, mult, bulk=True)
    for step, (a, b, m, pct) in enumerate(steps):
        marks = marks * np.exp([a, b])
        per_unit = float(marks[m]) * pct / 100
        charge(acc, m, per_unit)
        assert index.charge(m, per_unit, 1.25)
        due = index.due(marks)
        assert breached(acc, marks, mult) <= set(due.tolist()), step
        evaluate(index, acc, due, marks, mult)


def test_a_charge_reaches_a_short_as_a_rise_would():
    """Short 1 @ 100, wallet 10, mmr 0.5%: due above 109.45 (see above). Charged 5 per unit,
    it is due once the price plus 5 passes 109.45: at 104.5, not at 104.4."""
    acc = Accounts(1, TIERS)
    acc.pos[0, 0], acc.entry[0, 0], acc.wallet[0] = -1.0, 100.0, 10.0
    index = RiskIndex(acc)
    index.clear()
    evaluate(index, acc, np.arange(1), np.array([100.0, 20.0]), np.ones(1), bulk=True)
    charge(acc, 0, 5.0)
    index.charge(0, 5.0, 1.0)
    assert index.due(np.array([104.4, 20.0])).size == 0
    assert index.due(np.array([104.5, 20.0])).tolist() == [0]


def test_a_long_charged_after_a_rise_is_due_before_it_breaches():
    """Long 1 @ 100, wallet 35, mmr 20%, threshold 1.25 x maintenance: slack 35 - 25 = 10 at
    100, so due below 90. At 120 its slack is 35 + 20 - 1.25 x 24 = 25: a charge of more than
    25 per unit breaches it. Counting the charge as a fall of the same size would wait for
    120 - c <= 90, c = 30, and hide the breach at 27; the fall counts it 1 / (1 - 1.25 x 20%)
    = 4/3 times, so it is due from c = 22.5."""
    acc = Accounts(1, [MarginTiers.flat(0.2, 4)])
    acc.pos[0, 0], acc.entry[0, 0], acc.wallet[0] = 1.0, 100.0, 35.0
    mult = np.full(1, 1.25)
    index = RiskIndex(acc)
    index.clear()
    evaluate(index, acc, np.arange(1), np.array([100.0]), mult, bulk=True)
    at = np.array([120.0])
    assert index.due(at).size == 0
    charge(acc, 0, 22.4)
    index.charge(0, 22.4, 1.25)
    assert index.due(at).size == 0
    charge(acc, 0, 4.6)  # 27 in all: breached
    index.charge(0, 4.6, 1.25)
    assert breached(acc, at, mult) == {0}
    assert index.due(at).tolist() == [0]


def test_a_market_whose_top_rate_leaves_no_bound_is_not_shifted():
    acc = Accounts(1, [MarginTiers.flat(0.5, 1.5)])
    index = RiskIndex(acc)
    assert not index.charge(0, 1.0, 2.0)  # 2 x 50%: a rise may cost a long as much as it gains
    assert index.charge(0, 1.0, 1.25)
