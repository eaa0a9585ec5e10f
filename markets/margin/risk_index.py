"""Which accounts could have crossed a margin threshold since they were last evaluated.

Coarse level: every evaluation gives an account's positions *budgets*: the relative move of a
market's mark from the reference marks ``P0`` (fixed at the last ``rebuild``) it can take
before the account could breach, from a conservative bound (equity falls by at most
``|q| * |dP|``, maintenance rises by at most ``max_mmr * |q| * |dP|``; a cross account splits
its slack evenly across its markets). Budgets are kept sorted per market, so the candidates
after any move are prefixes found by binary search. Entries carry the account's version: a
re-evaluated account adds a fresh entry and its old ones are skipped when read (lazy deletion);
fresh entries wait in a small buffer merged into the sorted arrays in batches. An account that
changed (trade, deposit, haircut) is "dirty" and a candidate until evaluated. When candidates
grow past a limit the index rebuilds at the current marks.

Exact level: for each account evaluated exactly, its smallest slack and per-market sensitivity
at the marks it was evaluated at. A candidate whose slack the moves since then cannot have used
up is skipped (``needs_exact``), so a margin check after one liquidation evaluates only the few
accounts that may have crossed.

Quiet ticks: candidates include a look-ahead margin beyond the current move, and ``settle``
records the smallest move that could change anything (the next coarse budget per market, the
least remaining exact slack over the candidates). A later check with no account touched and
smaller moves reuses the last candidates (``unchanged``) or returns at once (``quiet``).

Exact margin evaluation is the caller's; this is a conservative filter over ``Accounts``.
Nothing here knows SimPy, books or events.
"""

from __future__ import annotations

import numpy as np

from markets.margin.accounts import Accounts

_MERGE = 512  # fresh entries buffered before a merge into the sorted arrays
_LOOKAHEAD = 0.002  # relative move of look-ahead beyond the current move


class _Entries:
    """Sorted (budget, row, version) entries of one market, with a buffer of fresh ones."""

    def __init__(self) -> None:
        self.budget = np.zeros(0)
        self.row = np.zeros(0, dtype=np.int64)
        self.ver = np.zeros(0, dtype=np.int64)
        self._fb = np.zeros(_MERGE)  # fresh entries, unsorted: budget, row, version
        self._fr = np.zeros(_MERGE, dtype=np.int64)
        self._fv = np.zeros(_MERGE, dtype=np.int64)
        self._n = 0

    def reset(self, budget: np.ndarray, row: np.ndarray, ver: np.ndarray) -> None:
        order = np.argsort(budget, kind="stable")
        self.budget, self.row, self.ver = budget[order], row[order], ver[order]
        self._n = 0

    def add(self, budget: np.ndarray, row: np.ndarray, ver: np.ndarray, current: np.ndarray):
        k = budget.size
        if self._n + k > self._fb.size:
            merged_b = np.concatenate((self.budget, self._fb[: self._n], budget))
            merged_r = np.concatenate((self.row, self._fr[: self._n], row))
            merged_v = np.concatenate((self.ver, self._fv[: self._n], ver))
            live = current[merged_r] == merged_v
            self.reset(merged_b[live], merged_r[live], merged_v[live])
            return
        self._fb[self._n : self._n + k] = budget
        self._fr[self._n : self._n + k] = row
        self._fv[self._n : self._n + k] = ver
        self._n += k

    def below(self, move: float, current: np.ndarray) -> tuple[np.ndarray, float]:
        """Live rows with budget <= ``move``, and the smallest live-or-stale budget above it
        (a stale one only makes the next check come sooner)."""
        k = int(np.searchsorted(self.budget, move, side="right"))
        rows, vers = self.row[:k], self.ver[:k]
        nxt = float(self.budget[k]) if k < self.budget.size else np.inf
        if self._n == 0:
            return rows[current[rows] == vers], nxt
        fb, fr, fv = self._fb[: self._n], self._fr[: self._n], self._fv[: self._n]
        hit = (fb <= move) & (current[fr] == fv)
        above = fb[fb > move]
        if above.size:
            nxt = min(nxt, float(above.min()))
        rows = np.concatenate((rows[current[rows] == vers], fr[hit]))
        return rows, nxt


class RiskIndex:
    def __init__(self, accounts: Accounts, rebuild_fraction: float = 0.05, min_limit: int = 512):
        self.accounts = accounts
        n, m = accounts.n, accounts.n_markets
        self.limit = max(min_limit, int(rebuild_fraction * n))
        self.ref_marks = np.ones(m)
        self._entries = [_Entries() for _ in range(m)]
        self._ver = np.zeros(n, dtype=np.int64)
        self.dirty = np.zeros(n, dtype=bool)
        self._dirty_rows = np.zeros(0, dtype=np.int64)
        self._exact_slack = np.full(n, -np.inf)  # -inf: must be evaluated
        self._exact_marks = np.zeros((n, m))
        self._exact_sens = np.zeros((n, m))
        self._changed = True  # an account changed (or a rebuild) since the last settle
        self._quiet_marks = np.ones(m)
        self._quiet_next = np.zeros(m)  # per market: relative move from ref_marks that matters
        self._quiet_delta = 0.0  # relative move from _quiet_marks that may use up exact slack
        self.watched = np.zeros(0, dtype=np.int64)  # eligible candidates of the last check
        self.rebuilds = 0

    # --- changes ----------------------------------------------------------------------------
    def touch(self, rows) -> None:
        """Accounts whose state changed: candidates until evaluated exactly again.

        A flat account cannot breach, so touching one changes nothing."""
        rows = np.atleast_1d(np.asarray(rows, dtype=np.int64))
        rows = rows[(self.accounts.pos[rows] != 0).any(axis=1)]
        if rows.size == 0:
            return
        self._changed = True
        self._exact_slack[rows] = -np.inf
        fresh = np.unique(rows[~self.dirty[rows]])
        if fresh.size:
            self.dirty[fresh] = True
            self._dirty_rows = np.concatenate((self._dirty_rows, fresh))

    def forget(self, rows: np.ndarray) -> None:
        """Accounts that cannot breach now (flat, or already queued): drop until touched."""
        self.dirty[rows] = False
        self._ver[rows] += 1
        self._exact_slack[rows] = np.inf
        self._exact_sens[rows] = 0.0

    def rebuild(self, marks: np.ndarray, multiplier: np.ndarray, eligible: np.ndarray) -> None:
        """Budgets for every eligible account at ``marks``; ``multiplier`` scales maintenance
        (1 for the liquidation threshold, 1/call level while a margin call is armed)."""
        acc = self.accounts
        self.ref_marks = marks.copy()
        self._ver[:] = 0
        cross, iso = acc.slack(slice(None), marks, multiplier)
        budget = self._budgets(cross, iso, multiplier, acc.pos, acc.isolated)
        budget[~eligible] = np.inf
        for m, entries in enumerate(self._entries):
            rows = np.nonzero(np.isfinite(budget[:, m]))[0]
            entries.reset(budget[rows, m], rows, np.zeros(rows.size, dtype=np.int64))
        self.dirty[:] = False
        self._dirty_rows = np.zeros(0, dtype=np.int64)
        self._changed = True
        self.rebuilds += 1

    def _budgets(self, cross, iso, multiplier, pos, isolated, used=None) -> np.ndarray:
        """Relative move from the reference marks each position can take; ``used`` is slack
        already spent by the distance between the evaluation marks and the reference."""
        live = pos != 0
        sens = np.abs(pos) * self.ref_marks * (1.0 + multiplier[:, None] * self.accounts.max_mmr)
        cross_live = live & ~isolated
        n_cross = np.maximum(cross_live.sum(axis=1), 1)
        if used is not None:
            cross, iso = cross - used, iso - used[:, None]
        with np.errstate(divide="ignore", invalid="ignore"):
            budget = np.where(cross_live, cross[:, None] / (n_cross[:, None] * sens), iso / sens)
        return np.where(live, budget, np.inf)

    # --- queries ------------------------------------------------------------------------------
    def candidates(self, marks: np.ndarray) -> np.ndarray | None:
        """Rows that may be past a threshold (with look-ahead), sorted; ``None`` asks for a
        rebuild."""
        moves = np.abs(marks - self.ref_marks) / self.ref_marks
        reach = moves + np.maximum(_LOOKAHEAD, 0.25 * moves)
        self._quiet_next = np.zeros_like(moves)  # until this pass completes, nothing is quiet
        self._dirty_rows = self._dirty_rows[self.dirty[self._dirty_rows]]
        parts = [self._dirty_rows]
        nxt = np.empty_like(moves)
        for m, entries in enumerate(self._entries):
            rows, nxt[m] = entries.below(float(reach[m]), self._ver)
            # One market holds an account at most once per version, so more rows than the
            # limit there is already too many (asking for a rebuild is always safe, only
            # slower). The sum over markets is not: an account in several markets is in each
            # of their entries, so the limit is compared after de-duplication.
            if rows.size > self.limit:
                return None
            parts.append(rows)
        rows = np.unique(np.concatenate(parts))
        if rows.size > self.limit:
            return None
        self._quiet_next = nxt
        return rows

    def needs_exact(self, rows: np.ndarray, marks: np.ndarray) -> np.ndarray:
        """Mask of ``rows`` whose remembered exact slack may have been used up since."""
        used = (self._exact_sens[rows] * np.abs(marks - self._exact_marks[rows])).sum(axis=1)
        return self._exact_slack[rows] <= used

    def remember(
        self, rows: np.ndarray, marks: np.ndarray, cross: np.ndarray, iso: np.ndarray,
        multiplier: np.ndarray,
    ) -> None:
        """Exact evaluation of ``rows`` at ``marks``: slack (cross per row, isolated per row x
        market) over the thresholds still armed (``multiplier`` x maintenance)."""
        acc = self.accounts
        pos, isolated = acc.pos[rows], acc.isolated[rows]
        sens = np.abs(pos) * (1.0 + multiplier[:, None] * acc.max_mmr)
        self._exact_slack[rows] = np.minimum(cross, iso.min(axis=1))
        self._exact_marks[rows] = marks
        self._exact_sens[rows] = sens
        # A fresh coarse entry relative to the reference marks, net of the move already made.
        used = (sens * np.abs(marks - self.ref_marks)).sum(axis=1)
        budget = self._budgets(cross, iso, multiplier, pos, isolated, used)
        self._ver[rows] += 1
        ver = self._ver[rows]
        for m, entries in enumerate(self._entries):
            live = np.isfinite(budget[:, m])
            if live.any():
                entries.add(budget[live, m], rows[live], ver[live], self._ver)
        self.dirty[rows] = False

    def settle(self, marks: np.ndarray, rows: np.ndarray) -> None:
        """After a check at ``marks`` whose candidates were ``rows`` (all still eligible):
        remember how far prices may move before the next check can find anything."""
        sens = self._exact_sens[rows]
        moved = np.abs(marks - self._exact_marks[rows])
        left = self._exact_slack[rows] - (sens * moved).sum(axis=1)
        scale = (sens * marks).sum(axis=1)
        with np.errstate(divide="ignore", invalid="ignore"):
            room = np.where(scale > 0, left / scale, np.inf)
        self._quiet_delta = float(room.min()) if room.size else np.inf
        self._quiet_marks = marks.copy()
        self.watched = rows
        self._changed = False

    def unchanged(self, marks: np.ndarray) -> bool:
        """No account changed since ``settle`` and no coarse budget was reached: the
        candidates are still ``watched``."""
        if self._changed:
            return False
        return not ((np.abs(marks - self.ref_marks) / self.ref_marks) >= self._quiet_next).any()

    def quiet(self, marks: np.ndarray) -> bool:
        """``unchanged``, and prices moved too little to use up any watched account's slack."""
        moved = float((np.abs(marks - self._quiet_marks) / self._quiet_marks).max())
        return moved < self._quiet_delta
