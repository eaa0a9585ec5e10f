"""How much of a position a liquidation closes: partial closes to a target and chunking.

A partial close (Binance, Bybit, Drift) reduces a position only until the account is healthy
again: the smallest quantity after which maintenance / equity is at most ``target``, counting
the slippage and fee of the close itself and stepping down the maintenance tiers as the
notional shrinks. When no reduction gets there, the whole position is closed. Chunking
(Hyperliquid) caps one step of a large position at a fraction of it.

Pure arithmetic on numbers and callables; nothing here knows SimPy, the book's storage,
accounts' arrays or events.
"""

from __future__ import annotations

from collections.abc import Callable

_ITERATIONS = 50  # bisection steps: the quantity is found to ~1e-15 of the position


def partial_close_qty(
    size: float, equity: float, other_maintenance: float,
    maintenance_after: Callable[[float], float], close_cost: Callable[[float], float],
    target: float,
) -> float:
    """Smallest quantity ``x`` in ``(0, size]`` of a position of ``size`` (magnitude) to close
    so that ``(other_maintenance + maintenance_after(x)) / (equity - close_cost(x))`` is at
    most ``target``; ``size`` when no ``x`` does.

    ``equity`` is the scope's equity at the trigger price now, ``maintenance_after(x)`` the
    position's maintenance once ``x`` is closed, ``close_cost(x)`` the slippage against the
    trigger price plus fee of closing ``x``. The condition is assumed to hold from some ``x``
    on (less position, less maintenance) until costs outgrow the relief; the search finds the
    first such ``x`` by bisection, checking the full close first.
    """
    if size <= 0:
        return 0.0

    def healthy(x: float) -> bool:
        left = equity - close_cost(x)
        return left > 0 and other_maintenance + maintenance_after(x) <= target * left

    if healthy(0.0):
        return 0.0
    if not healthy(size):
        return size
    lo, hi = 0.0, size
    for _ in range(_ITERATIONS):
        mid = 0.5 * (lo + hi)
        if healthy(mid):
            hi = mid
        else:
            lo = mid
    return hi


def chunk_qty(qty: float, size: float, notional: float, above: float, fraction: float) -> float:
    """Cap a close of ``qty`` out of a position of ``size`` (magnitudes) whose notional is
    ``notional``: above ``above`` only ``fraction`` of the position is closed per step."""
    if notional <= above:
        return qty
    return min(qty, fraction * size)
