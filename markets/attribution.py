"""Cascade attribution: a breach's generation and the earlier forced trades it needed.

A breach is **generation 1** when the account would have breached with exogenous moves alone,
and **generation k+1** when it needed the price impact of generation-k forced trades (and no
higher). Given the account's slack at each counterfactual level ``j`` (prices had only
generations ``<= j`` traded), the generation is one more than the first level that breaches.
Its *causes* are the generation-k trades whose still-live impact was needed: ranked by how much
each hurt the account, taken until they cover the share of generation-k impact the breach
required.

Pure arithmetic; nothing here knows SimPy, accounts' storage or events.
"""

from __future__ import annotations

import numpy as np


def first_breach_level(slack_levels: np.ndarray) -> np.ndarray:
    """``slack_levels`` is (levels, accounts); the first level with negative slack per account.

    The last level is the actual state, so an account breached in fact breaches there at the
    latest; accounts that do not breach at any level get the last level too.
    """
    below = slack_levels < 0
    first = np.argmax(below, axis=0)
    return np.where(below.any(axis=0), first, slack_levels.shape[0] - 1)


def needed_share(slack_before: float, slack_at: float) -> float:
    """Share of the breaching level's added impact that was needed to cross zero.

    Linear interpolation of slack between the two levels (exact while no maintenance tier
    boundary is crossed); 1 when the level alone is not enough to explain the crossing.
    """
    drop = slack_before - slack_at
    if not drop > 0:
        return 1.0
    return min(max(slack_before / drop, 0.0), 1.0)


class _Records:
    """Growable columns of one (market, generation): source seq, move, time."""

    def __init__(self) -> None:
        self.n = 0
        self.seq = np.zeros(16, dtype=np.int64)
        self.delta = np.zeros(16)
        self.time = np.zeros(16, dtype=np.int64)

    def append(self, seq: int, delta: float, time_ms: int) -> None:
        if self.n == self.seq.size:
            self.seq = np.resize(self.seq, 2 * self.n)
            self.delta = np.resize(self.delta, 2 * self.n)
            self.time = np.resize(self.time, 2 * self.n)
        self.seq[self.n], self.delta[self.n], self.time[self.n] = seq, delta, time_ms
        self.n += 1


class ImpactLedger:
    """Live price impact of each forced trade, per market and generation, so causes can be
    named later."""

    def __init__(self, n_markets: int) -> None:
        self._records: list[dict[int, _Records]] = [{} for _ in range(n_markets)]

    def record(self, market: int, seq: int, generation: int, delta: float, time_ms: int) -> None:
        self._records[market].setdefault(generation, _Records()).append(seq, delta, time_ms)

    def live(
        self, market: int, generation: int, now_ms: int, recentre_ms: float | None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """(source seqs, log move still in the price now) of one generation in one market."""
        rec = self._records[market].get(generation)
        if rec is None:
            return np.zeros(0, dtype=np.int64), np.zeros(0)
        n = rec.n
        # Every displacement in a market decays at the maker's re-centring rate.
        factor = np.exp(-(now_ms - rec.time[:n]) / recentre_ms) if recentre_ms else 1.0
        return rec.seq[:n], rec.delta[:n] * factor


def needed_causes(seqs: np.ndarray, harm: np.ndarray, share: float) -> list[int]:
    """The sources that hurt most, in order, until they cover ``share`` of the total harm.

    Only sources that hurt (positive harm) count; ties break by sequence number.
    """
    hurt = harm > 0
    seqs, harm = seqs[hurt], harm[hurt]
    if seqs.size == 0:
        return []
    order = np.lexsort((seqs, -harm))
    cum = np.cumsum(harm[order])
    need = share * cum[-1]
    k = int(np.searchsorted(cum, need * (1 - 1e-12), side="left")) + 1
    return [int(s) for s in seqs[order][: min(k, seqs.size)]]


def breach_causes(
    ledger: ImpactLedger, markets: list[int], exposure: list[float],
    recentre_ms: list[float | None], generation: int, share: float, now_ms: int,
) -> list[int]:
    """The generation-``generation`` sources whose still-live impact hurt a breached scope
    most, taken until they cover ``share`` of what it needed. ``exposure`` per market is the
    scope's signed notional harm per unit of log move (``-position x mark``)."""
    seqs, harms = [], []
    for m, expo, rc in zip(markets, exposure, recentre_ms, strict=True):
        s, live = ledger.live(m, generation, now_ms, rc)
        seqs.append(s)
        harms.append(expo * live)
    if not seqs:
        return []
    if len(seqs) == 1:  # one market: each source moved it once
        return needed_causes(seqs[0], harms[0], share)
    seq_all, harm_all = np.concatenate(seqs), np.concatenate(harms)
    # One source can move several markets (cross impact): add its harms up.
    uniq, inv = np.unique(seq_all, return_inverse=True)
    return needed_causes(uniq, np.bincount(inv, weights=harm_all), share)
