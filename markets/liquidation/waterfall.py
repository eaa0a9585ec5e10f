"""Who pays for a liquidation that the account's own margin cannot: waterfall arithmetic.

Layers, in order: the account's own margin -> the insurance fund -> auto-deleveraging (ADL) of
opposite-side profitable positions at the bankruptcy price -> socialized loss pro rata over the
market's open positions. The split of one position's close is decided before anything trades:
the largest quantity the book can take while the fund can still pay the book's shortfall
against the bankruptcy price goes to the book; what remains is matched by ADL counterparties
at the bankruptcy price (no shortfall by definition); what ADL cannot match goes to the book
anyway and its shortfall is socialized.

Pure arithmetic on arrays; nothing here knows SimPy, the order book's storage or events.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from markets.margin.scalar import row_sum

_FEW_LEVELS = 16  # walks up to this many levels are split with scalars


@dataclass(slots=True)
class CloseSplit:
    """How one position of size ``total`` is closed."""

    total: float
    fund_backed: float  # book quantity whose shortfall the fund can pay (a walk prefix)
    adl: float  # matched with ADL counterparties at the bankruptcy price
    socialized: float  # sent to the book after the fund-backed part; shortfall socialized

    @property
    def book(self) -> float:
        return self.fund_backed + self.socialized


def level_surplus(prices: np.ndarray, closing_long: bool, bankruptcy: float) -> np.ndarray:
    """Equity each unit filled at ``prices`` leaves above (+) or below (-) bankruptcy."""
    return prices - bankruptcy if closing_long else bankruptcy - prices


def fund_backed_quantity(
    prices: np.ndarray, sizes: np.ndarray, closing_long: bool, bankruptcy: float, fund: float,
) -> float:
    """Largest book quantity whose cumulative shortfall against bankruptcy is at most ``fund``.

    Fill prices worsen level by level, so cumulative equity is concave in quantity and the
    admissible quantities form an interval starting at zero.
    """
    if sizes.size <= _FEW_LEVELS:
        return _fund_backed_few(prices.tolist(), sizes.tolist(), closing_long, bankruptcy, fund)
    per_unit = level_surplus(prices, closing_long, bankruptcy)
    cum = np.cumsum(per_unit * sizes)
    below = np.nonzero(cum < -fund)[0]
    if below.size == 0:
        return float(sizes.sum())
    j = int(below[0])
    before_qty = float(sizes[:j].sum())
    before_eq = float(cum[j - 1]) if j > 0 else 0.0
    # Within level j each unit loses -per_unit[j] (> 0 here): stop where the fund runs out.
    extra = (before_eq + fund) / -per_unit[j]
    return before_qty + min(max(extra, 0.0), float(sizes[j]))


def _fund_backed_few(
    prices: list[float], sizes: list[float], closing_long: bool, bankruptcy: float, fund: float,
) -> float:
    """``fund_backed_quantity`` of a walk of a few levels on Python floats, in NumPy's order
    (a running cumulative sum; ``row_sum`` for the sums), so it gives the same bits."""
    cum = 0.0
    for j, (p, q) in enumerate(zip(prices, sizes, strict=True)):
        per_unit = p - bankruptcy if closing_long else bankruptcy - p
        before_eq = cum
        cum += per_unit * q
        if cum < -fund:
            extra = float(np.float64(before_eq + fund) / -per_unit)  # NumPy's x / 0, if ever
            return row_sum(sizes[:j]) + min(max(extra, 0.0), q)
    return row_sum(sizes)


def split_close(
    prices: np.ndarray, sizes: np.ndarray, closing_long: bool, bankruptcy: float,
    fund: float, adl_capacity: float,
) -> CloseSplit:
    """Split a close previewed as ``(prices, sizes)`` into fund-backed book, ADL and socialized."""
    total = float(sizes.sum())
    backed = fund_backed_quantity(prices, sizes, closing_long, bankruptcy, fund)
    rest = max(total - backed, 0.0)
    if rest <= 1e-9 * total:  # float residue, not a remainder worth other layers
        backed, rest = total, 0.0
    adl = min(rest, max(adl_capacity, 0.0))
    return CloseSplit(total, backed, adl, rest - adl)


def pro_rata(weights: np.ndarray, amount: float) -> np.ndarray:
    """Split ``amount`` in proportion to ``weights`` (e.g. open notional); zero weight pays zero."""
    total = float(weights.sum())
    if total <= 0:
        return np.zeros_like(weights)
    return amount * weights / total
