"""Which accounts could have crossed a margin threshold since they were last evaluated.

Every exact evaluation of an account gives each of its positions two *trigger prices*: how far
that market's trigger price may fall, and how far it may rise, from the price it was evaluated
at before the scope (the cross part, or the isolated position) could be below its threshold.
The bound is directional and conservative. A fall of ``d`` costs a long at most ``q * d`` of
slack, since its maintenance falls too, and costs a short nothing. Maintenance is continuous
and convex in notional (tier rates do not fall), so up to a doubling of the price it grows no
faster than ``mmr2``, the rate of the tier holding twice today's notional: a rise costs a short
at most ``|q| * d * (1 + k * mmr2)`` and a long at most ``q * d * max(k * mmr2 - 1, 0)``, where
``k`` is the threshold multiplier (1, or 1 / call level while a margin call is armed). Rise
triggers are capped at a doubling; a long whose threshold grows slower than its equity even at
the market's top rate has none. A cross account splits its slack evenly across its cross
positions, so the bound holds when several markets move at once.

Triggers are kept per market and direction as sorted keys. A check *consumes* the prefix the
current price has passed: those accounts are evaluated exactly again, which gives them fresh
triggers around the new price. So each trigger is paid for once, and a check after a
liquidation costs O(accounts affected), not O(accounts watched). A quiet check costs two
scalar comparisons per market. Fresh triggers wait in a small unsorted buffer that is merged
into the sorted keys (by insertion, not a re-sort) when it fills. Entries carry the account's
version: a re-evaluated or forgotten account's old entries are skipped when read and dropped
at the next merge.

Accounts that changed (a trade, a deposit, an ADL, a haircut) are *dirty*: they are due at the
next check whatever the prices did, so a change costs only the rows it touched. Accounts
evaluated below a threshold they were not reported for are due again at the next check too.

A socialized loss charges every holder of a market the same amount per unit of position, so it
is not a change of rows but a shift of the market's prices as the triggers see them (``charge``):
a charge of ``c`` costs a long ``q * c`` of slack, as a fall of ``c`` would, and a short
``|q| * c``, no more than a rise of ``c`` costs it. The down triggers fire at the price less the
charges so far, the up triggers at the price plus them, and a trigger is set relative to the
shifted price it was evaluated at. A long's rise gains it only ``q * d * (1 - k * mmr)``, not
``q * d``, so the fall counts each charge ``1 / (1 - K * top rate)`` times (``K`` the largest
multiplier), which keeps a rise plus a charge covered; a market whose top rate makes that
unbounded is not shifted, and its holders are touched instead.

Exact evaluation is the caller's; this is a conservative filter over ``Accounts``. Nothing here
knows SimPy, books, venues or events.
"""

from __future__ import annotations

import math

import numpy as np

from markets.margin.accounts import Accounts

# Slack kept back from every trigger, relative to the scope's size (wallet plus notional): the
# bound is exact arithmetic, the evaluation is floating point.
_SLACK_RTOL = 1e-9
_FEW = 4  # up to this many rows, triggers are computed with scalars


class _Side:
    """The triggers of one market in one direction, as keys: an entry fires once ``key <= x``.

    Sorted keys from ``start`` on are live; those before were consumed. A buffer holds fresh
    entries until it fills and is merged in."""

    def __init__(self, capacity: int) -> None:
        self.key = np.zeros(0)
        self.row = np.zeros(0, dtype=np.int64)
        self.ver = np.zeros(0, dtype=np.int64)
        self.start = 0
        self.first = np.inf  # key[start], or inf: the sorted part fires only from here
        self._bk = np.zeros(capacity)
        self._br = np.zeros(capacity, dtype=np.int64)
        self._bv = np.zeros(capacity, dtype=np.int64)
        self._n = 0
        self._bmin = np.inf  # the buffer's smallest key

    def reset(self, key: np.ndarray, row: np.ndarray, ver: np.ndarray) -> None:
        order = np.argsort(key, kind="stable")
        self.key, self.row, self.ver = key[order], row[order], ver[order]
        self.start = 0
        self.first = float(self.key[0]) if self.key.size else np.inf
        self._n = 0
        self._bmin = np.inf

    def add(self, key: np.ndarray, row: np.ndarray, ver: np.ndarray, current: np.ndarray) -> None:
        k, n = key.size, self._n
        if n + k > self._bk.size:
            self._merge(np.concatenate((self._bk[:n], key)), np.concatenate((self._br[:n], row)),
                        np.concatenate((self._bv[:n], ver)), current)
            return
        self._bk[n : n + k], self._br[n : n + k], self._bv[n : n + k] = key, row, ver
        self._n = n + k
        self._bmin = min(self._bmin, float(key.min()))

    def add_one(self, key: float, row: int, ver: int, current: np.ndarray) -> None:
        n = self._n
        if n == self._bk.size:
            self.add(np.array([key]), np.array([row]), np.array([ver]), current)
            return
        self._bk[n], self._br[n], self._bv[n] = key, row, ver
        self._n = n + 1
        if key < self._bmin:
            self._bmin = key

    def _merge(self, key, row, ver, current) -> None:
        """The live sorted entries and these, sorted: the new ones are sorted and inserted."""
        sk, sr, sv = self.key[self.start :], self.row[self.start :], self.ver[self.start :]
        live = current[sr] == sv
        sk, sr, sv = sk[live], sr[live], sv[live]
        live = current[row] == ver
        order = np.argsort(key[live], kind="stable")
        key, row, ver = key[live][order], row[live][order], ver[live][order]
        at = np.searchsorted(sk, key, side="right")
        self.key, self.row, self.ver = np.insert(sk, at, key), np.insert(sr, at, row), \
            np.insert(sv, at, ver)
        self.start = 0
        self.first = float(self.key[0]) if self.key.size else np.inf
        self._n = 0
        self._bmin = np.inf

    def fire(self, x: float, current: np.ndarray, out: list[np.ndarray]) -> None:
        """Consume every entry with key <= ``x``; append the rows of the live ones to ``out``."""
        if self.first <= x:
            k = int(np.searchsorted(self.key, x, side="right"))
            rows, vers = self.row[self.start : k], self.ver[self.start : k]
            out.append(rows[current[rows] == vers])
            self.start = k
            self.first = float(self.key[k]) if k < self.key.size else np.inf
        if self._bmin <= x:
            n = self._n
            bk, br, bv = self._bk[:n], self._br[:n], self._bv[:n]
            hit = bk <= x
            rows, vers = br[hit], bv[hit]
            out.append(rows[current[rows] == vers])
            keep = ~hit
            m = int(keep.sum())
            self._bk[:m], self._br[:m], self._bv[:m] = bk[keep], br[keep], bv[keep]
            self._n = m
            self._bmin = float(self._bk[:m].min()) if m else np.inf

    def __len__(self) -> int:
        return self.key.size - self.start + self._n


class RiskIndex:
    def __init__(self, accounts: Accounts) -> None:
        self.accounts = accounts
        n, m = accounts.n, accounts.n_markets
        capacity = int(min(max(256, 4 * np.sqrt(n)), 8192))
        self._down = [_Side(capacity) for _ in range(m)]  # fires when the price falls to it
        self._up = [_Side(capacity) for _ in range(m)]  # fires when the price rises to it
        self._ver = np.zeros(n, dtype=np.int64)
        # Per market: socialized charges per unit so far, as a price fall (longs; scaled) and
        # a price rise (shorts) the triggers see.
        self._fall = np.zeros(m)
        self._rise = np.zeros(m)
        self.dirty = np.zeros(n, dtype=bool)
        self._dirty_rows: list[np.ndarray] = []

    # --- changes ----------------------------------------------------------------------------
    def touch(self, rows) -> None:
        """Accounts whose state changed: due at the next check.

        A flat account cannot breach, so touching one changes nothing."""
        if isinstance(rows, (int, np.integer)):  # the common case: one account
            if not self.dirty[rows] and self.accounts.pos[rows].any():
                self.dirty[rows] = True
                self._dirty_rows.append(np.array([rows], dtype=np.int64))
            return
        rows = np.asarray(rows, dtype=np.int64)
        rows = rows[~self.dirty[rows]]
        rows = rows[self.accounts.pos[rows].any(axis=1)]
        if rows.size:
            self.dirty[rows] = True
            self._dirty_rows.append(rows)

    def charge(self, m: int, per_unit: float, top_multiplier: float) -> bool:
        """Every holder of market ``m`` was charged at most ``per_unit`` per unit of position;
        ``top_multiplier`` is the largest threshold multiplier in use. False when the market's
        rates leave no bound: the caller must touch the holders."""
        top = top_multiplier * float(self.accounts.max_mmr[m])
        if top >= 1.0:
            return False
        self._fall[m] += per_unit / (1.0 - top)
        self._rise[m] += per_unit
        return True

    def forget(self, rows: np.ndarray) -> None:
        """Accounts that cannot breach now (flat, not liquidatable, queued): drop their
        triggers until they are touched."""
        self._ver[rows] += 1
        self.dirty[rows] = False

    def clear(self) -> None:
        """Forget every trigger: the caller evaluates every eligible account afresh."""
        self._ver += 1
        self.dirty[:] = False
        self._dirty_rows = []
        for side in (*self._down, *self._up):
            side.reset(np.zeros(0), np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64))

    def remember(
        self, rows: np.ndarray, marks: np.ndarray, cross: np.ndarray, iso: np.ndarray,
        multiplier: np.ndarray, bulk: bool = False,
    ) -> None:
        """Exact evaluation of ``rows`` at ``marks``: slack (cross per row, isolated per row x
        market) over the thresholds still armed (``multiplier`` x maintenance). The rows come
        from ``due`` (which cleared them) or follow ``clear``; with ``bulk`` (after ``clear``)
        the sorted keys are built at once rather than buffered."""
        if rows.size <= _FEW and not bulk:
            self._remember_few(rows, marks, cross, iso, multiplier)
            return
        acc = self.accounts
        pos = acc.pos[rows]
        r, c = np.nonzero(pos)  # one entry per open position, by row
        q = pos[r, c]
        on_iso = acc.isolated[rows[r], c]
        n_cross = np.bincount(r[~on_iso], minlength=rows.size)
        slack = np.where(on_iso, iso[r, c], cross[r] / np.maximum(n_cross[r], 1))
        below = np.zeros(rows.size, dtype=bool)
        below[r[slack < 0]] = True
        if below.any():
            # Below a threshold it was not reported for (a breached row's other scope, a row
            # just called at the armed level): evaluated again at the next check, whichever
            # way prices go.
            self.dirty[rows[below]] = True
            self._dirty_rows.append(rows[below])
        price = marks[c]
        notional = np.abs(q) * price
        scale = np.abs(acc.wallet[rows]) + acc.iso_margin[rows].sum(axis=1) \
            + np.bincount(r, notional, minlength=rows.size)
        slack = np.maximum(slack - _SLACK_RTOL * scale[r], 0.0)
        long = q > 0
        # A rise: within a doubling of the price the maintenance rate is at most the rate at
        # twice today's notional (the trigger is capped there); a long whose threshold grows
        # slower than its equity at the top rate never loses slack on a rise.
        k = multiplier[r] * acc.rate_at(c, 2.0 * notional)
        never = long & (multiplier[r] * acc.max_mmr[c] < 1.0)
        lose_up = np.where(long, q * np.maximum(k - 1.0, 0.0), -q * (1.0 + k))
        with np.errstate(divide="ignore", invalid="ignore"):
            down = np.where(long, slack / q - price + self._fall[c], -np.inf)  # key = -price
            up = np.where(lose_up > 0, np.minimum(price + slack / lose_up, 2.0 * price),
                          2.0 * price) + self._rise[c]
        up[never] = np.inf
        self._ver[rows] += 1
        keep = ~below[r]
        ids, ver = rows[r], self._ver[rows[r]]
        for sides, keys in ((self._down, down), (self._up, up)):
            fin = keep & np.isfinite(keys)
            if bulk:
                for m, side in enumerate(sides):
                    at = fin & (c == m)
                    side.reset(keys[at], ids[at], ver[at])
                continue
            for m in np.unique(c[fin]).tolist():
                at = fin & (c == m)
                sides[m].add(keys[at], ids[at], ver[at], self._ver)

    def _remember_few(self, rows, marks, cross, iso, multiplier) -> None:
        """``remember`` for a handful of rows (most checks after a liquidation), with scalars:
        the same triggers without the fixed cost of a dozen array operations."""
        prices = marks.tolist()
        for n, i in enumerate(rows.tolist()):
            self.remember_row(i, prices, float(cross[n]), iso[n].tolist(), float(multiplier[n]))

    def remember_row(self, i: int, prices: list[float], cross: float, iso: list[float],
                     k: float) -> None:
        """``remember`` of the single row ``i``: its cross slack, isolated slack per market
        and threshold multiplier ``k``, as Python floats."""
        acc, current = self.accounts, self._ver
        qs, on_iso = acc.pos[i].tolist(), acc.isolated[i].tolist()
        open_ = [m for m, q in enumerate(qs) if q != 0.0]
        n_cross = sum(1 for m in open_ if not on_iso[m])
        per_cross = cross / max(n_cross, 1)
        slacks = [iso[m] if on_iso[m] else per_cross for m in open_]
        current[i] += 1
        if any(x < 0 for x in slacks):
            if not self.dirty[i]:
                self.dirty[i] = True
                self._dirty_rows.append(np.array([i], dtype=np.int64))
            return
        ver = int(current[i])
        scale = abs(float(acc.wallet[i])) + float(acc.iso_margin[i].sum()) \
            + sum(abs(qs[m]) * prices[m] for m in open_)
        top_rate, mm_mult = acc.max_mmr, acc.mm_mult
        fall, rise = self._fall.tolist(), self._rise.tolist()
        for m, x in zip(open_, slacks, strict=True):
            if math.isinf(x):
                continue
            x = max(x - _SLACK_RTOL * scale, 0.0)
            q, p = qs[m], prices[m]
            if q > 0:
                self._down[m].add_one(x / q - p + fall[m], i, ver, current)
                if k * float(top_rate[m]) < 1.0:
                    continue  # never loses slack on a rise
            rate = k * acc.tier_rate(m, 2.0 * abs(q) * p) * float(mm_mult[m])
            lose = q * max(rate - 1.0, 0.0) if q > 0 else -q * (1.0 + rate)
            up = min(p + x / lose, 2.0 * p) if lose > 0 else 2.0 * p
            self._up[m].add_one(up + rise[m], i, ver, current)

    # --- the query ----------------------------------------------------------------------------
    def due(self, marks: np.ndarray) -> np.ndarray:
        """Rows to evaluate exactly at ``marks`` (sorted): the dirty ones and those whose
        triggers the prices passed. Their triggers are consumed."""
        out = [rows[self.dirty[rows]] for rows in self._dirty_rows]  # not forgotten since
        self._dirty_rows = []
        for m in range(marks.size):
            p = float(marks[m])
            self._down[m].fire(-p + float(self._fall[m]), self._ver, out)
            self._up[m].fire(p + float(self._rise[m]), self._ver, out)
        if not out:
            return np.zeros(0, dtype=np.int64)
        rows = out[0] if len(out) == 1 else np.concatenate(out)
        if rows.size > 16:
            rows = np.unique(rows)
        elif rows.size > 1:  # the same rows, sorted, without np.unique's fixed cost
            rows = np.array(sorted(set(rows.tolist())), dtype=np.int64)
        self.dirty[rows] = False
        return rows

    def entries(self) -> int:
        """Trigger entries held (live or stale): the index's size."""
        return sum(len(s) for s in (*self._down, *self._up))
