"""Margin arithmetic: maintenance tiers, liquidation and bankruptcy prices, ADL scores.

Pure functions and a small immutable tier table, unit-tested against venues' published
worked examples. Nothing here knows about time, order books, SimPy or accounts' storage.
Sign convention: positions are signed base quantities (long > 0); money is USD float64.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class MarginTiers:
    """Binance-style notional tiers: ``MM = notional * mmr - cum`` within a tier.

    ``floors[k]`` is the notional where tier k starts (``floors[0] == 0``); the maintenance
    amount ``cum`` is derived, not configured, so the requirement is continuous in notional:
    ``cum_k = floors[k] * (mmr_k - mmr_{k-1}) + cum_{k-1}``.
    """

    floors: np.ndarray
    mmr: np.ndarray
    max_leverage: np.ndarray
    cum: np.ndarray

    @classmethod
    def from_table(
        cls,
        floors: Sequence[float],
        mmr: Sequence[float],
        max_leverage: Sequence[float],
    ) -> MarginTiers:
        f = np.asarray(floors, dtype=np.float64)
        m = np.asarray(mmr, dtype=np.float64)
        lev = np.asarray(max_leverage, dtype=np.float64)
        if not (len(f) == len(m) == len(lev) and len(f) >= 1):
            raise ValueError("tiers need equal-length floors, mmr and max_leverage")
        if f[0] != 0.0:
            raise ValueError("the first tier must start at notional 0")
        if np.any(np.diff(f) <= 0):
            raise ValueError("tier floors must increase")
        if np.any(np.diff(m) < 0):
            raise ValueError("maintenance rates must not fall in higher tiers")
        if np.any(m * lev >= 1.0):
            raise ValueError("maintenance margin must be below initial margin (mmr < 1/leverage)")
        cum = np.zeros_like(m)
        for k in range(1, len(f)):
            cum[k] = f[k] * (m[k] - m[k - 1]) + cum[k - 1]
        for arr in (f, m, lev, cum):
            arr.setflags(write=False)
        return cls(f, m, lev, cum)

    @classmethod
    def flat(cls, mmr: float, max_leverage: float) -> MarginTiers:
        return cls.from_table([0.0], [mmr], [max_leverage])

    @property
    def max_mmr(self) -> float:
        return float(self.mmr[-1])

    def tier_index(self, notional: np.ndarray | float) -> np.ndarray:
        return np.searchsorted(self.floors, notional, side="right") - 1

    def maintenance(self, notional: np.ndarray | float) -> np.ndarray | float:
        """Maintenance margin for absolute notional(s); zero notional needs zero margin."""
        n = np.abs(notional)
        k = self.tier_index(n)
        return n * self.mmr[k] - self.cum[k]

    def rate_and_cum(self, notional: float) -> tuple[float, float]:
        k = int(self.tier_index(abs(notional)))
        return float(self.mmr[k]), float(self.cum[k])

    def leverage_cap(self, notional: np.ndarray | float) -> np.ndarray | float:
        """Largest leverage allowed to open a position of this notional."""
        return self.max_leverage[self.tier_index(np.abs(notional))]


def cross_liquidation_price(
    wallet: float, qty: float, entry: float, mmr: float, cum: float = 0.0,
    other_maintenance: float = 0.0, other_upnl: float = 0.0,
) -> float:
    """Binance cross-margin liquidation price of one position (USDⓈ-M FAQ formula).

    ``LP = (WB - TMM1 + UPNL1 + cum - side*|Q|*EP) / (|Q|*MMR - side*|Q|)``.
    """
    side = 1.0 if qty > 0 else -1.0
    q = abs(qty)
    return (wallet - other_maintenance + other_upnl + cum - side * q * entry) / (q * mmr - side * q)


def isolated_liquidation_price(equity: float, qty: float, price: float, mmf: float) -> float:
    """dYdX v4 isolated liquidation price ``p' = (e - s*p) / (|s|*MMF - s)``."""
    return (equity - qty * price) / (abs(qty) * mmf - qty)


def bankruptcy_price(qty: float, entry: float, margin: float) -> float:
    """Price at which a position's backing margin is exactly used up: equity = 0.

    ``margin`` is everything else backing the position (wallet plus other positions'
    unrealised PnL for cross; the isolated margin for isolated).
    """
    return entry - margin / qty


def bitmex_adl_score(
    qty: np.ndarray, entry: np.ndarray, mark: np.ndarray | float, equity: np.ndarray,
) -> np.ndarray:
    """BitMEX ADL ranking: PnL% x effective leverage when in profit, PnL% / leverage otherwise.

    ``PnL% = (MarkValue - EntryValue) / |EntryValue|``; effective leverage
    ``|MarkValue| / (MarkValue - BankruptValue)``, where the distance to bankruptcy is the
    equity backing the position. Accounts with no positive equity rank last.
    """
    qty = np.asarray(qty, dtype=np.float64)
    pnl_pct = np.sign(qty) * (mark - entry) / entry
    with np.errstate(divide="ignore", invalid="ignore"):
        lev = np.abs(qty) * mark / equity
        score = np.where(pnl_pct > 0, pnl_pct * lev, pnl_pct / lev)
    return np.where((equity > 0) & np.isfinite(score), score, -np.inf)


def hyperliquid_adl_score(
    qty: np.ndarray, entry: np.ndarray, mark: np.ndarray | float, equity: np.ndarray,
) -> np.ndarray:
    """Hyperliquid ADL ranking: ``(mark / entry) x (notional / account value)``.

    Hyperliquid states the ratio for longs; for a short the profitable direction is a fall, so
    its price ratio is ``entry / mark`` (higher is more profitable on both sides). Accounts
    with no positive value rank last.
    """
    qty = np.asarray(qty, dtype=np.float64)
    ratio = np.where(qty > 0, mark / entry, entry / mark)
    with np.errstate(divide="ignore", invalid="ignore"):
        score = ratio * np.abs(qty) * mark / equity
    return np.where((equity > 0) & np.isfinite(score), score, -np.inf)
