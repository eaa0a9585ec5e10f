"""Cascade attribution: a breach's generation and the earlier forced trades it needed.

A breach is **generation 1** when the account would have breached with exogenous moves alone,
and **generation k+1** when it needed the price impact of generation-k forced trades (and no
higher). Given the account's slack at each counterfactual level ``j`` (prices had only
generations ``<= j`` traded), the generation is one more than the first level that breaches.
Its *causes* are the generation-k trades whose still-live impact was needed: ranked by how much
each hurt the account, taken until they cover the share of generation-k impact the breach
required. Each cause says through which channel its move reached the account's market (its
own book, a cross impact, an index, an arbitrageur: the last hop) and its share of that
generation's harm to the account.

Pure arithmetic; nothing here knows SimPy, accounts' storage or events.
"""

from __future__ import annotations

from enum import IntEnum
from typing import NamedTuple

import numpy as np


class Channel(IntEnum):
    """How a move reached a market: the last edge it travelled."""

    BOOK = 0  # a trade on the market's own book
    CROSS_IMPACT = 1
    INDEX = 2  # a source of the market's index moved
    ARBITRAGE = 3  # an arbitrageur's trade on the book


CHANNEL_NAMES = tuple(c.name.lower() for c in Channel)


class Cause(NamedTuple):
    """A source a breach needed: its event seq, the channel of its (largest) harm, and its
    share of the harm that generation's live impact did to the breached scope."""

    seq: int
    channel: int
    share: float


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
    """Growable columns of one (market, generation): source seq, move, time, channel."""

    def __init__(self) -> None:
        self.n = 0
        self.seq = np.zeros(16, dtype=np.int64)
        self.delta = np.zeros(16)
        self.time = np.zeros(16, dtype=np.int64)
        self.channel = np.zeros(16, dtype=np.int8)

    def append(self, seq: int, delta: float, time_ms: int, channel: int) -> None:
        if self.n == self.seq.size:
            self.seq = np.resize(self.seq, 2 * self.n)
            self.delta = np.resize(self.delta, 2 * self.n)
            self.time = np.resize(self.time, 2 * self.n)
            self.channel = np.resize(self.channel, 2 * self.n)
        n = self.n
        self.seq[n], self.delta[n], self.time[n], self.channel[n] = seq, delta, time_ms, channel
        self.n += 1


class ImpactLedger:
    """Live price impact of each forced trade, per market and generation, so causes can be
    named later."""

    def __init__(self, n_markets: int) -> None:
        self._records: list[dict[int, _Records]] = [{} for _ in range(n_markets)]

    def record(
        self, market: int, seq: int, generation: int, delta: float, time_ms: int,
        channel: int = Channel.BOOK,
    ) -> None:
        self._records[market].setdefault(generation, _Records()).append(seq, delta, time_ms,
                                                                        channel)

    def live(
        self, market: int, generation: int, now_ms: int, recentre_ms: float | None,
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(source seqs, log move still in the price now, channels) of one generation in one
        market."""
        rec = self._records[market].get(generation)
        if rec is None:
            return np.zeros(0, dtype=np.int64), np.zeros(0), np.zeros(0, dtype=np.int8)
        n = rec.n
        # Every displacement in a market decays at the maker's re-centring rate.
        factor = np.exp(-(now_ms - rec.time[:n]) / recentre_ms) if recentre_ms else 1.0
        return rec.seq[:n], rec.delta[:n] * factor, rec.channel[:n]


def needed_causes(
    seqs: np.ndarray, harm: np.ndarray, share: float, channels: np.ndarray | None = None,
) -> list[Cause]:
    """The sources that hurt most, in order, until they cover ``share`` of the total harm.

    ``seqs`` are distinct. Only sources that hurt (positive harm) count; ties break by
    sequence number. Each cause's share is its part of the total harm."""
    hurt = harm > 0
    seqs, harm = seqs[hurt], harm[hurt]
    if seqs.size == 0:
        return []
    channels = np.zeros(seqs.size, dtype=np.int8) if channels is None else channels[hurt]
    order = np.lexsort((seqs, -harm))
    cum = np.cumsum(harm[order])
    total = float(cum[-1])
    k = min(int(np.searchsorted(cum, share * total * (1 - 1e-12), side="left")) + 1, seqs.size)
    top = order[:k]
    return [Cause(int(s), int(c), float(h) / total)
            for s, c, h in zip(seqs[top], channels[top], harm[top], strict=True)]


def breach_causes(
    ledger: ImpactLedger, markets: list[int], exposure: list[float],
    recentre_ms: list[float | None], generation: int, share: float, now_ms: int,
) -> list[Cause]:
    """The generation-``generation`` sources whose still-live impact hurt a breached scope
    most, taken until they cover ``share`` of what it needed. ``exposure`` per market is the
    scope's signed notional harm per unit of log move (``-position x mark``)."""
    seqs, harms, channels = [], [], []
    for m, expo, rc in zip(markets, exposure, recentre_ms, strict=True):
        s, live, ch = ledger.live(m, generation, now_ms, rc)
        seqs.append(s)
        harms.append(expo * live)
        channels.append(ch)
    if not seqs:
        return []
    if len(seqs) == 1:
        seq_all, harm_all, chan_all = seqs[0], harms[0], channels[0]
    else:
        seq_all, harm_all = np.concatenate(seqs), np.concatenate(harms)
        chan_all = np.concatenate(channels)
    if seq_all.size > 1 and not (seq_all[1:] > seq_all[:-1]).all():
        # One source can move a market several times (an arbitrageur passing it on, a
        # holder unwinding) or several markets (cross impact): add its harms up; its channel
        # is that of its largest harm.
        uniq, inv = np.unique(seq_all, return_inverse=True)
        by_harm = np.lexsort((-harm_all, inv))
        first = by_harm[np.searchsorted(inv[by_harm], np.arange(uniq.size))]
        return needed_causes(uniq, np.bincount(inv, weights=harm_all), share, chan_all[first])
    return needed_causes(seq_all, harm_all, share, chan_all)


def move_tag(
    levels: np.ndarray, threshold: float, direction: int, ledger: ImpactLedger, market: int,
    now_ms: int, recentre_ms: float | None,
) -> tuple[int, int]:
    """(generation, cause seq) of an order set off once ``market``'s price passed
    ``threshold`` going ``direction`` (-1 down, +1 up), as a breach's generation is found: the
    first counterfactual level ``k`` (``levels[k]``: the price with only generations ``<= k``
    traded) at which the price has passed it, and the generation-``k`` trade whose still-live
    impact moved it most that way. ``(0, -1)`` when the exogenous path alone passed it (the
    order then passes on no cascade); the last level when float rounding leaves none."""
    passed = np.flatnonzero(direction * (levels - threshold) >= 0)
    g = int(passed[0]) if passed.size else levels.size - 1
    if g == 0:
        return 0, -1
    seqs, live, _ = ledger.live(market, g, now_ms, recentre_ms)
    if seqs.size == 0:
        return g, -1
    return g, int(seqs[int(np.argmax(direction * live))])
