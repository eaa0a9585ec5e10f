"""Which accounts could have crossed a margin threshold since they were last evaluated.

Coarse level: a full evaluation (``rebuild``) fixes reference marks ``P0`` and gives every
position a budget: the relative move of its market's mark from ``P0`` it can take before its
account could breach, from a conservative bound (equity falls by at most ``|q| * |dP|``,
maintenance rises by at most ``max_mmr * |q| * |dP|``; a cross account splits its slack evenly
across its markets). Budgets are sorted per market, so the candidates after any move are a
prefix found by binary search. An account evaluated exactly later gets a fresh budget (a
"patch") without re-sorting; an account that changed (trade, deposit, haircut) is "dirty" and
a candidate until evaluated. When candidates grow past a limit the index rebuilds at the
current marks.

Exact level: for each account evaluated exactly, its smallest slack and per-market sensitivity
at the marks it was evaluated at. A candidate whose slack the moves since then cannot have used
up is skipped (``needs_exact``), so a margin check after one liquidation evaluates only the few
accounts that may have crossed.

Quiet ticks: after a check, ``settle`` records the smallest move that could change anything
(the next coarse budget per market, the least remaining exact slack over the candidates); a
later check with no account touched and smaller moves returns at once (``quiet``).

Exact margin evaluation is the caller's; this is a conservative filter over ``Accounts``.
Nothing here knows SimPy, books or events.
"""

from __future__ import annotations

import numpy as np

from markets.accounts import Accounts


class RiskIndex:
    def __init__(self, accounts: Accounts, rebuild_fraction: float = 0.05, min_limit: int = 512):
        self.accounts = accounts
        n, m = accounts.n, accounts.n_markets
        self.limit = max(min_limit, int(rebuild_fraction * n))
        self.ref_marks = np.ones(m)
        self._sorted_budget: list[np.ndarray] = [np.zeros(0)] * m
        self._sorted_rows: list[np.ndarray] = [np.zeros(0, dtype=np.int64)] * m
        self.dirty = np.zeros(n, dtype=bool)
        self._dirty_rows = np.zeros(0, dtype=np.int64)
        self._patched = np.zeros(n, dtype=bool)  # sorted entry stale: _patch_budget answers
        self._listed = np.zeros(n, dtype=bool)  # in _patch_rows
        self._patch_rows = np.zeros(0, dtype=np.int64)
        self._patch_budget = np.full((n, m), np.inf)
        self._exact_slack = np.full(n, -np.inf)  # -inf: must be evaluated
        self._exact_marks = np.zeros((n, m))
        self._exact_sens = np.zeros((n, m))
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
        self._patch_budget[rows] = np.inf
        self._patched[rows] = True
        self._exact_slack[rows] = np.inf
        self._exact_sens[rows] = 0.0

    def rebuild(self, marks: np.ndarray, multiplier: np.ndarray, eligible: np.ndarray) -> None:
        """Budgets for every eligible account at ``marks``; ``multiplier`` scales maintenance
        (1 for the liquidation threshold, 1/call level while a margin call is armed)."""
        acc = self.accounts
        self.ref_marks = marks.copy()
        cross, iso = acc.slack(slice(None), marks, multiplier)
        budget = self._budgets(cross, iso, multiplier, acc.pos, acc.isolated, marks)
        budget = np.where(eligible[:, None], budget, np.inf)
        self._sorted_budget, self._sorted_rows = [], []
        for m in range(acc.n_markets):
            col = budget[:, m]
            rows = np.nonzero(np.isfinite(col))[0]
            order = np.argsort(col[rows], kind="stable")
            self._sorted_rows.append(rows[order])
            self._sorted_budget.append(col[rows][order])
        self.dirty[:] = False
        self._dirty_rows = np.zeros(0, dtype=np.int64)
        self._patched[:] = False
        self._listed[:] = False
        self._patch_rows = np.zeros(0, dtype=np.int64)
        self._changed = True
        self.rebuilds += 1

    def _budgets(self, cross, iso, multiplier, pos, isolated, marks, used=0.0) -> np.ndarray:
        """Relative move from the reference marks each position can take; ``used`` is slack
        already spent by the distance between the evaluation marks and the reference."""
        live = pos != 0
        sens = np.abs(pos) * self.ref_marks * (1.0 + multiplier[:, None] * self.accounts.max_mmr)
        cross_live = live & ~isolated
        n_cross = np.maximum(cross_live.sum(axis=1), 1)
        with np.errstate(divide="ignore", invalid="ignore"):
            budget = np.where(
                cross_live, (cross - used)[:, None] / (n_cross[:, None] * sens),
                (iso - used[:, None] if np.ndim(used) else iso) / sens,
            )
        return np.where(live, budget, np.inf)

    # --- queries ------------------------------------------------------------------------------
    def candidates(self, marks: np.ndarray) -> np.ndarray | None:
        """Rows that may be past a threshold, sorted; ``None`` asks for a rebuild."""
        moves = np.abs(marks - self.ref_marks) / self.ref_marks
        self._quiet_next = np.zeros_like(moves)  # until this pass completes, nothing is quiet
        self._dirty_rows = self._dirty_rows[self.dirty[self._dirty_rows]]
        parts = [self._dirty_rows]
        total = self._dirty_rows.size
        nxt = np.full(len(self._sorted_rows), np.inf)
        for m in range(len(self._sorted_rows)):
            budgets = self._sorted_budget[m]
            k = int(np.searchsorted(budgets, moves[m], side="right"))
            total += k
            if total > self.limit:
                return None
            if k < budgets.size:
                nxt[m] = budgets[k]
            rows = self._sorted_rows[m][:k]
            parts.append(rows[~self._patched[rows]])  # patched rows answer below instead
        if self._patch_rows.size:
            budgets = self._patch_budget[self._patch_rows]
            hit = (budgets <= moves).any(axis=1)
            parts.append(self._patch_rows[hit])
            if not hit.all():
                nxt = np.minimum(nxt, budgets[~hit].min(axis=0))
        self._quiet_next = nxt
        rows = np.unique(np.concatenate(parts))
        return None if rows.size > self.limit else rows

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
        """No account changed since ``settle`` and no coarse budget was crossed: the candidates
        are still ``watched``."""
        if self._changed:
            return False
        return not ((np.abs(marks - self.ref_marks) / self.ref_marks) >= self._quiet_next).any()

    def quiet(self, marks: np.ndarray) -> bool:
        """``unchanged``, and prices moved too little to use up any watched account's slack."""
        moved = float((np.abs(marks - self._quiet_marks) / self._quiet_marks).max())
        return moved < self._quiet_delta

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
        # Coarse budget relative to the reference marks, net of the move already made.
        used = (sens * np.abs(marks - self.ref_marks)).sum(axis=1)
        self._patch_budget[rows] = self._budgets(cross, iso, multiplier, pos, isolated, marks, used)
        self._patched[rows] = True
        new = rows[~self._listed[rows]]
        self._listed[new] = True
        self._patch_rows = np.concatenate((self._patch_rows, new))
        self.dirty[rows] = False
