"""The breach detector on its own (no venue): a hand-computed world, and brute force."""

import ast
from pathlib import Path

import numpy as np
import pytest

import markets.margin.detection as detection
from markets.margin.accounts import Accounts
from markets.margin.detection import CROSS, Breach, BreachDetector, MarginCall
from markets.margin.formulas import MarginTiers

# Maintenance is 1% of notional in market 0 and 5% in market 1; a call at ratio 0.8 means
# equity below 1.25 x maintenance.
TIERS = [MarginTiers.flat(0.01, 50), MarginTiers.flat(0.05, 10)]
CALL_LEVEL = 0.8
MARKS = np.array([100.0, 20.0])


def hand_world() -> Accounts:
    """At marks (100, 20), by hand (eq = equity, mm = maintenance, call line = 1.25 mm):"""
    acc = Accounts(10, TIERS)
    acc.liquidatable[0] = False

    def put(i, m, qty, entry, iso_margin=None):
        acc.pos[i, m], acc.entry[i, m] = qty, entry
        if iso_margin is not None:
            acc.isolated[i, m], acc.iso_margin[i, m] = True, iso_margin

    # 0: the venue's own row, deeply underwater (eq -500, mm 10) but never liquidatable.
    put(0, 0, -10, 50.0)
    # 1: cross long 10 @ 110: eq 109 - 100 = 9 < mm 10 -> breach (CROSS).
    acc.wallet[1] = 109.0
    put(1, 0, 10, 110.0)
    # 2: cross long 10 @ 100 and short 50 @ 20: eq 70, mm 10 + 50 = 60, call line 75 -> call.
    acc.wallet[2] = 70.0
    put(2, 0, 10, 100.0)
    put(2, 1, -50, 20.0)
    # 3: cross long 1 @ 100 with wallet 100: eq 100, mm 1 -> nothing.
    acc.wallet[3] = 100.0
    put(3, 0, 1, 100.0)
    # 4: isolated short 100 @ 18 in market 1: eq 299 - 200 = 99 < mm 100 -> breach (scope 1);
    #    its cross long 5 @ 100 (eq 50, mm 5) is healthy, and a breached account gets no call.
    acc.wallet[4] = 50.0
    put(4, 0, 5, 100.0)
    put(4, 1, -100, 18.0, iso_margin=299.0)
    # 5: isolated long 20 @ 100 in market 0: eq 24, mm 20, call line 25 -> call (scope 0).
    put(5, 0, 20, 100.0, iso_margin=24.0)
    # 6: like 1, but its cross part is already queued -> nothing.
    acc.wallet[6] = 109.0
    put(6, 0, 10, 110.0)
    # 7: flat with a negative wallet: nothing to liquidate -> nothing.
    acc.wallet[7] = -5.0
    # 8: like 2, but its call is disarmed -> nothing.
    acc.wallet[8] = 70.0
    put(8, 0, 10, 100.0)
    put(8, 1, -50, 20.0)
    # 9: like 5, but that isolated position is queued -> nothing.
    put(9, 0, 20, 100.0, iso_margin=9.0)
    acc.recount()
    return acc


def hand_detector(levels: np.ndarray | None = None, causes=None) -> BreachDetector:
    acc = hand_world()
    det = BreachDetector(acc, CALL_LEVEL, lambda: MARKS[None, :] if levels is None else levels,
                         causes or (lambda *a: pytest.fail(f"no causes expected: {a}")))
    det.queued_cross[6] = True
    det.queued_iso[9, 0] = True
    det.call_armed[8] = False
    return det


def test_hand_computed_breaches_and_calls():
    found = hand_detector().check(1_000, MARKS)
    assert found.breaches == (Breach(1, CROSS, 1, 1_000, ()), Breach(4, 1, 1, 1_000, ()))
    assert [(c.account, c.scope, c.generation) for c in found.calls] == [(2, CROSS, 1), (5, 0, 1)]
    assert [c.ratio for c in found.calls] == pytest.approx([60 / 70, 20 / 24], rel=1e-12)


def test_generation_and_causes_from_the_counterfactual_levels():
    # Level 0 (no forced trades) had market 0 at 105: account 1 then had eq 109 - 50 = 59 and
    # mm 10.5 (slack 48.5), at level 1 slack is 9 - 10 = -1, so it is generation 2 and needed
    # 48.5 / 49.5 of generation 1's impact. Account 4's isolated market 1 did not move: gen 1.
    asked = []

    def causes(i, scope, generation, share, now_ms):
        asked.append((i, scope, generation, share, now_ms))
        return [42, 7]

    levels = np.array([[105.0, 20.0], MARKS])
    found = hand_detector(levels, causes).check(5, MARKS)
    assert found.breaches == (Breach(1, CROSS, 2, 5, (42, 7)), Breach(4, 1, 1, 5, ()))
    assert asked == [(1, CROSS, 1, pytest.approx(48.5 / 49.5, rel=1e-12), 5)]
    # The called scopes were above the call line at 105 (account 2: eq 120 > 1.25 x 60.5;
    # account 5: eq 124): both calls are generation 2.
    assert [(c.account, c.generation) for c in found.calls] == [(2, 2), (5, 2)]


def test_it_reports_and_never_acts():
    det = hand_detector()
    armed, queued = det.call_armed.copy(), det.queued_cross.copy()
    det.check(0, MARKS)
    assert (det.call_armed == armed).all() and (det.queued_cross == queued).all()


def test_queued_and_disarmed_scopes_stay_silent_until_touched():
    det = hand_detector()
    found = det.check(0, MARKS)
    for breach in found.breaches:  # what a venue does with the findings
        det.set_queued(breach, True)
    for call in found.calls:
        det.disarm(call.account)
    assert det.check(1, MARKS) == detection.Detection()
    det.touch(2)  # account 2 changed: its call is armed again
    assert det.check(2, MARKS).calls == (MarginCall(2, CROSS, 1, pytest.approx(60 / 70)),)
    det.disarm(2)
    det.set_queued(Breach(1, CROSS, 1, 0, ()), False)  # served, but not closed: still short
    det.touch(1)  # as the engine does after serving a breach
    assert det.check(3, MARKS) == detection.Detection((Breach(1, CROSS, 1, 3, ()),))


def test_invalidate_calls_every_account_below_the_call_line_again():
    det = hand_detector()
    found = det.check(0, MARKS)
    for breach in found.breaches:
        det.set_queued(breach, True)
    for call in found.calls:
        det.disarm(call.account)
    det.check(1, MARKS)
    det.invalidate()  # every call re-armed, the index rebuilt: 2, 5 and 8 are below the line
    assert [c.account for c in det.check(2, MARKS).calls] == [2, 5, 8]


def test_second_isolated_position_of_a_queued_account_is_found():
    acc = Accounts(1, TIERS)
    # Isolated long 10 @ 100 with margin 15 (mm 10) and short 100 @ 20 with margin 123.1: the
    # short breaches when 123.1 - 100 (P - 20) < 5 P, i.e. above P = 2123.1 / 105 = 20.22.
    acc.pos[0], acc.entry[0], acc.isolated[0] = [10, -100], MARKS, True
    acc.iso_margin[0] = [15.0, 123.1]
    det = BreachDetector(acc, CALL_LEVEL, lambda: MARKS[None, :], lambda *a: [])
    det.disarm(0)
    assert det.check(0, MARKS) == detection.Detection()
    found = det.check(1, np.array([90.0, 20.2]))  # the long breaches, the short not yet
    assert [(b.account, b.scope) for b in found.breaches] == [(0, 0)]
    det.set_queued(found.breaches[0], True)
    found = det.check(2, np.array([90.0, 20.3]))
    assert [(b.account, b.scope) for b in found.breaches] == [(0, 1)]


# --- brute force ------------------------------------------------------------------------------
def generated(seed: int, n: int = 1500) -> Accounts:
    rng = np.random.default_rng(seed)
    acc = Accounts(n, [MarginTiers.from_table([0, 5_000, 50_000], [0.005, 0.01, 0.05],
                                              [100, 50, 10]), MarginTiers.flat(0.02, 25)])
    notional = rng.lognormal(7, 1.5, (n, 2)) * (rng.random((n, 2)) < 0.7)
    acc.pos[:] = np.where(rng.random((n, 2)) < 0.6, 1, -1) * notional / MARKS
    acc.entry[:] = MARKS * np.exp(rng.normal(0, 0.03, (n, 2)))
    lev = rng.choice([2, 5, 10, 20, 40], n)
    margin = (np.abs(acc.pos) * acc.entry).sum(axis=1) / lev
    # Some isolated accounts hold one position; the others hold two isolated scopes.
    iso = rng.random(n) < 0.3
    one = iso & (rng.random(n) < 0.5)
    acc.pos[one, rng.integers(0, 2, n)[one]] = 0.0
    acc.isolated[:] = iso[:, None] & (acc.pos != 0)
    acc.iso_margin[:] = np.where(acc.isolated, np.abs(acc.pos) * acc.entry / lev[:, None], 0)
    acc.wallet[:] = np.where(acc.isolated.any(axis=1), 10.0, margin)
    acc.liquidatable[:] = rng.random(n) < 0.97
    acc.recount()
    return acc


def brute_force(det: BreachDetector, marks: np.ndarray):
    """Every account's exact margin state: the (account, scope) breaches and the calls."""
    acc = det.accounts
    rows = np.arange(acc.n)
    eligible = acc.liquidatable & ~det.queued_cross & (acc.pos != 0).any(axis=1)
    cross, iso = acc.slack(rows, marks)
    iso[det.queued_iso] = np.inf
    mult = np.where(det.call_armed, 1 / CALL_LEVEL, 1.0)
    armed_cross, armed_iso = acc.slack(rows, marks, mult)
    armed_iso[det.queued_iso] = np.inf
    breaches = {(int(i), CROSS) for i in np.nonzero(eligible & (cross < 0))[0]}
    iso_hit = np.nonzero(eligible[:, None] & (iso < 0))
    breaches |= {(int(i), int(m)) for i, m in zip(*iso_hit, strict=True)}
    breached = np.zeros(acc.n, dtype=bool)
    breached[[i for i, _ in breaches]] = True
    called = eligible & det.call_armed & ~breached
    called &= (armed_cross < 0) | (armed_iso < 0).any(axis=1)
    ratio = detection.margin_ratio(*acc.margin_state(rows, marks))
    calls = {int(i): (CROSS if armed_cross[i] < 0 else int(np.argmin(armed_iso[i])), ratio[i])
             for i in np.nonzero(called)[0]}
    return breaches, calls


def check_as_a_venue_does(det: BreachDetector, step: int, marks: np.ndarray):
    """One check, compared with brute force, then acted on: breaches queued, calls disarmed."""
    want_breaches, want_calls = brute_force(det, marks)
    found = det.check(step, marks)
    assert {(b.account, b.scope) for b in found.breaches} == want_breaches, step
    assert {c.account: (c.scope, c.ratio) for c in found.calls} == want_calls, step
    for b in found.breaches:
        det.set_queued(b, True)
    for c in found.calls:
        det.disarm(c.account)
    return found


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_matches_brute_force_as_prices_move(seed):
    rng = np.random.default_rng(100 + seed)
    acc = generated(seed)
    marks = MARKS.copy()
    det = BreachDetector(acc, CALL_LEVEL, lambda: marks[None, :], lambda *a: [])
    seen_breaches = seen_calls = 0
    for step in range(40):
        if step % 7 == 3:  # some accounts withdraw collateral
            rows = rng.choice(acc.n, 20, replace=False)
            acc.wallet[rows] *= 0.7
            det.touch(rows)
        marks = marks * np.exp(rng.normal(0, 0.01, 2))
        found = check_as_a_venue_does(det, step, marks)
        seen_breaches += len(found.breaches)
        seen_calls += len(found.calls)
    assert seen_breaches > 20 and seen_calls > 20  # the walk did exercise both


@pytest.mark.parametrize("seed", [3, 4])
def test_matches_brute_force_when_breaches_are_served_and_margins_invalidated(seed):
    """Rebounds, served breaches (unqueued without a separate touch), partial closes and a
    margin rescale midway: every check still finds exactly what a full scan finds."""
    rng = np.random.default_rng(200 + seed)
    acc = generated(seed)
    marks = MARKS.copy()
    det = BreachDetector(acc, CALL_LEVEL, lambda: marks[None, :], lambda *a: [])
    queued: list[Breach] = []
    served = calls = 0
    for step in range(60):
        if queued and step % 3 == 0:  # the engine serves a few: half of each position goes
            served += len(queued[:5])
            for b in queued[:5]:
                cols = [b.scope] if b.scope != CROSS else list(range(2))
                acc.pos[b.account, cols] *= 0.5
                acc.wallet[b.account] += 50.0
                det.set_queued(b, False)
            queued = queued[5:]
        if step == 30:
            acc.set_maintenance_multiplier(1, 1.5)
            det.invalidate()
        marks = marks * np.exp(rng.normal(0, 0.015, 2) + (0.01 if step > 40 else -0.004))
        found = check_as_a_venue_does(det, step, marks)
        queued += found.breaches
        calls += len(found.calls)
    assert served > 30 and calls > 20


def test_detection_knows_no_venue_and_no_liquidation():
    tree = ast.parse(Path(detection.__file__).read_text())
    names = {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
    names |= {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    assert not {x for x in names if x and x.startswith(("markets.venue", "markets.liquidation"))}
