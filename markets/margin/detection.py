"""Breach detection: which accounts are below maintenance, and which only below the call level.

A check at the trigger prices finds every eligible account (liquidatable, not flat, that
scope not already queued) whose equity is below maintenance: a *breach* of its cross part
(scope ``CROSS``) or of one isolated position (scope = that market). Accounts whose margin
call is armed are also checked against the stricter margin-call level (maintenance /
``margin_call_level``); those past it but not breached get a *call*. The first check (and the
first after ``invalidate``) evaluates every account in one vectorised pass; later checks
evaluate exactly only the accounts the risk index says are due (changed, or with a trigger
price passed), so a check after one liquidation costs O(accounts affected).

Each breach carries its cascade generation (one more than the first counterfactual price level,
prices with only generations ``<= j`` traded, at which it breaches) and its causes (the forced
trades whose impact it needed, named by a callable the caller gives: that needs price history
this module does not hold). Each call carries the generation of the scope it calls and the
account's margin ratio.

The detector owns the risk index, whether it is stale, which accounts' margin calls are armed
(a call disarms the account until it changes) and which scopes are queued. It only reports
what it found: queueing breaches, emitting events and telling listeners is the caller's, in
the order it chooses. Knows accounts and prices as arrays; nothing of venues, books, events or
how a breach is closed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from markets.attribution import Cause, first_breach_level, needed_share
from markets.margin.accounts import Accounts
from markets.margin.risk_index import RiskIndex
from markets.margin.scalar import MAX_TERMS, row_slack_pair

_FEW = 4  # up to this many due rows, a check is first tried with scalars

__all__ = ["CROSS", "Breach", "BreachDetector", "CausesOf", "Detection", "MarginCall",
           "margin_ratio"]

CROSS = -1  # breach scope: the cross-margined part of an account (else an isolated market)

# (account, scope, generation, needed share of that generation's impact, now ms) -> causes
CausesOf = Callable[[int, int, int, float, int], list[Cause]]


@dataclass(frozen=True)
class Breach:
    account: int
    scope: int  # CROSS or the isolated market's index
    generation: int
    detected_ms: int
    causes: tuple[Cause, ...]  # (event seq, channel, share), the largest harm first


@dataclass(frozen=True)
class MarginCall:
    account: int
    scope: int  # CROSS, or the isolated market furthest below the call level
    generation: int
    ratio: float  # the account's margin ratio: maintenance / equity


@dataclass(frozen=True)
class Detection:
    """What one check found, in the order the caller must act on it."""

    breaches: tuple[Breach, ...] = ()
    calls: tuple[MarginCall, ...] = ()


_NOTHING = Detection()


class BreachDetector:
    def __init__(
        self, accounts: Accounts, margin_call_level: float,
        level_marks: Callable[[], np.ndarray], causes: CausesOf,
    ) -> None:
        """``level_marks`` gives the counterfactual trigger prices (levels x markets), asked
        only when a check found something; ``causes`` names a breach's causes."""
        n, m = accounts.n, accounts.n_markets
        self.accounts = accounts
        self.margin_call_level = margin_call_level
        self.level_marks = level_marks
        self.causes = causes
        self.index = RiskIndex(accounts)
        self._few_in_scalars = m <= MAX_TERMS  # row_sum reproduces NumPy's sums that far
        self.stale = True  # the next check rebuilds the index
        self.call_armed = np.ones(n, dtype=bool)
        self.queued_cross = np.zeros(n, dtype=bool)
        self.queued_iso = np.zeros((n, m), dtype=bool)

    # --- changes ----------------------------------------------------------------------------
    def touch(self, rows: int | np.ndarray) -> None:
        """Accounts changed: re-arm their margin calls and check them exactly at the next
        check."""
        self.call_armed[rows] = True
        self.index.touch(rows)

    def charge(self, m: int, per_unit: float, rows: np.ndarray) -> None:
        """``rows``, the holders of market ``m``, were each charged at most ``per_unit`` per unit
        of position (a socialized loss). Their margin is checked as after a change, but the
        charge re-arms no margin call: it is the venue's doing, not the account's, and a call
        per charge would call every called holder again at each one."""
        top = max(1.0, 1.0 / self.margin_call_level)
        if not self.index.charge(m, per_unit, top):
            self.index.touch(rows)

    def invalidate(self) -> None:
        """Every account's margin changed: the next check evaluates every account and
        re-arms every margin call."""
        self.stale = True
        self.call_armed[:] = True

    def disarm(self, i: int) -> None:
        """Account ``i`` was called: no further call until it changes."""
        self.call_armed[i] = False

    def set_queued(self, breach: Breach, queued: bool) -> None:
        """A queued scope is skipped until it is served; a served one is checked again."""
        if breach.scope == CROSS:
            self.queued_cross[breach.account] = queued
        else:
            self.queued_iso[breach.account, breach.scope] = queued
        if not queued:
            self.index.touch(breach.account)

    # --- the check --------------------------------------------------------------------------
    def check(self, now_ms: int, marks: np.ndarray) -> Detection:
        """Breaches and calls at trigger prices ``marks``; changes only the index's memory."""
        if self.stale:
            # Everyone afresh, in one vectorised pass that also rebuilds the index.
            self.index.clear()
            self.stale = False
            rows = np.nonzero(self._eligible())[0]
            return self._evaluate(now_ms, marks, rows, bulk=True)
        rows = self.index.due(marks)
        if rows.size == 0:
            return _NOTHING
        eligible = self._eligible(rows)
        if not eligible.all():
            self.index.forget(rows[~eligible])
            rows = rows[eligible]
            if rows.size == 0:
                return _NOTHING
        if rows.size <= _FEW and self._few_in_scalars:
            return self._check_few(now_ms, marks, rows)
        return self._evaluate(now_ms, marks, rows)

    def _check_few(self, now_ms: int, marks: np.ndarray, rows: np.ndarray) -> Detection:
        """``check`` of a few due, eligible rows with scalars, which give the array path's
        slack bit for bit (``markets.margin.scalar``). Most such checks find nothing and only
        remember the rows' triggers; one that finds something reports it as the array path
        does."""
        prices, call_mult = marks.tolist(), 1.0 / self.margin_call_level
        ids, slacks, hit = rows.tolist(), [], False
        for i in ids:
            armed = bool(self.call_armed[i])
            mult = call_mult if armed else 1.0
            cross, iso, cross_at, iso_at = row_slack_pair(self.accounts, i, prices, mult,
                                                          self.queued_iso[i].tolist())
            hit = hit or cross < 0 or any(x < 0 for x in iso) or (
                armed and (cross_at < 0 or any(x < 0 for x in iso_at)))
            slacks.append((cross, iso, cross_at, iso_at, mult))
        if not hit:
            for i, (_, _, cross_at, iso_at, mult) in zip(ids, slacks, strict=True):
                self.index.remember_row(i, prices, cross_at, iso_at, mult)
            return _NOTHING
        # Something found: report it from these slacks as the array path would.
        cross, iso, cross_at, iso_at, mult = (np.array(col) for col in zip(*slacks, strict=True))
        return self._report(now_ms, marks, rows, cross, iso, cross_at, iso_at, mult)

    def _evaluate(
        self, now_ms: int, marks: np.ndarray, rows: np.ndarray, bulk: bool = False,
    ) -> Detection:
        """The exact margin state of ``rows`` (sorted, eligible): their breaches and margin
        calls."""
        acc = self.accounts
        state = acc.margin_state(rows, marks)
        mult = self._multiplier(rows)
        cross, iso, armed_cross, armed_iso = acc.slack_pair(rows, state, mult)
        queued = self.queued_iso[rows]
        if queued.any():
            iso = np.where(queued, np.inf, iso)
            armed_iso = np.where(queued, np.inf, armed_iso)
        return self._report(now_ms, marks, rows, cross, iso, armed_cross, armed_iso, mult, bulk,
                            state)

    def _report(
        self, now_ms: int, marks: np.ndarray, rows: np.ndarray, cross: np.ndarray,
        iso: np.ndarray, armed_cross: np.ndarray, armed_iso: np.ndarray, mult: np.ndarray,
        bulk: bool = False, state: tuple[np.ndarray, ...] | None = None,
    ) -> Detection:
        """Remember ``rows``' slack (queued isolated scopes already +inf) and report their
        breaches and calls; ``state`` is their ``margin_state``, computed here if needed."""
        self._remember(rows, marks, armed_cross, armed_iso, mult, bulk)
        breached_cross = cross < 0
        breached_iso = iso < 0
        breached = breached_cross | breached_iso.any(axis=1)
        armed = self.call_armed[rows] & ~breached
        pick = np.nonzero(armed & ((armed_cross < 0) | (armed_iso < 0).any(axis=1)))[0]
        if not breached.any() and not pick.size:
            return _NOTHING
        scopes: list[tuple[int, int]] = []  # (row position, scope): cross first, then isolated
        for k in np.nonzero(breached_cross)[0]:
            scopes.append((int(k), CROSS))
        for k, m in zip(*np.nonzero(breached_iso), strict=True):
            scopes.append((int(k), int(m)))
        levels = self.level_marks()
        breaches = self._breaches(rows, scopes, levels, now_ms) if scopes else ()
        calls = ()
        if pick.size:
            picked = (self.accounts.margin_state(rows[pick], marks) if state is None
                      else [a[pick] for a in state])
            calls = self._calls(rows[pick], armed_cross[pick], armed_iso[pick], picked, levels)
        return Detection(breaches, calls)

    def _remember(self, rows, marks, armed_cross, armed_iso, mult, bulk) -> None:
        self.index.remember(rows, marks, armed_cross, armed_iso, mult, bulk)

    def _multiplier(self, rows) -> np.ndarray:
        return np.where(self.call_armed[rows], 1.0 / self.margin_call_level, 1.0)

    def _eligible(self, rows=slice(None)) -> np.ndarray:
        acc = self.accounts
        return acc.liquidatable[rows] & ~self.queued_cross[rows] & (acc.pos[rows] != 0).any(axis=1)

    def _breaches(
        self, rows: np.ndarray, scopes: list[tuple[int, int]], levels: np.ndarray, now_ms: int,
    ) -> tuple[Breach, ...]:
        acc_rows = np.array([rows[k] for k, _ in scopes], dtype=np.int64)
        scope_arr = np.array([s for _, s in scopes], dtype=np.int64)
        slack = self.accounts.slack_levels(acc_rows, scope_arr, levels, 1.0)
        level = first_breach_level(slack)
        found = []
        for n, (i, scope) in enumerate(zip(acc_rows.tolist(), scope_arr.tolist(), strict=True)):
            j = int(level[n])
            causes: tuple[Cause, ...] = ()
            if j > 0:
                share = needed_share(float(slack[j - 1, n]), float(slack[j, n]))
                causes = tuple(self.causes(i, scope, j, share, now_ms))
            found.append(Breach(i, scope, j + 1, now_ms, causes))
        return tuple(found)

    def _calls(
        self, rows: np.ndarray, cross: np.ndarray, iso: np.ndarray, state: list[np.ndarray],
        levels: np.ndarray,
    ) -> tuple[MarginCall, ...]:
        mult = 1.0 / self.margin_call_level
        scopes = np.where(cross < 0, CROSS, np.argmin(iso, axis=1))
        level = first_breach_level(self.accounts.slack_levels(rows, scopes, levels, mult))
        ratios = margin_ratio(*state)
        return tuple(MarginCall(i, int(scopes[n]), int(level[n]) + 1, float(ratios[n]))
                     for n, i in enumerate(rows.tolist()))


def margin_ratio(cross_eq, cross_mm, iso_eq, iso_mm) -> np.ndarray:
    """Account margin ratio: total maintenance over total equity (inf when equity <= 0)."""
    eq = cross_eq + iso_eq.sum(axis=1)
    mm = cross_mm + iso_mm.sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(eq > 0, mm / eq, np.inf)


class ExactScanDetector(BreachDetector):
    """The brute-force check: every eligible account evaluated exactly at every check, no
    index. Slow (O(accounts) per check) and kept only to prove the fast path exact: a run
    with it must give the same event log as a run with ``BreachDetector``."""

    def check(self, now_ms: int, marks: np.ndarray) -> Detection:
        rows = np.nonzero(self._eligible())[0]
        if rows.size == 0:
            return _NOTHING
        return self._evaluate(now_ms, marks, rows)

    def _remember(self, rows, marks, armed_cross, armed_iso, mult, bulk) -> None:
        pass  # nothing to remember: the next check evaluates everyone again
