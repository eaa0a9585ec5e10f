"""Dutch auctions of liquidated positions to keepers: the price schedule and who takes how much.

An alternative to closing a liquidated position at the book (MakerDAO Liquidations 2.0, the
``Clipper`` contract): the venue offers the position, as it is, to keepers. The offer starts
``start_premium`` worse for the keeper than the mark at the start (``mark0``; MakerDAO's ``buf``
minus one) and improves by a factor ``cut`` every ``step_ms`` (MakerDAO's
``StairstepExponentialDecrease``). The keeper's discount at age ``a`` is

    d(a) = 1 - (1 + start_premium) * cut ** floor(a / step_ms)

negative at first (a premium), rising towards 1. A long lot (the liquidated account was long;
the keeper becomes long) sells at ``mark0 * (1 - d)``, a short lot at ``mark0 * (1 + d)``.
Keepers bid when the deal beats the *current* mark by their own minimum discount, each as much
as its free capital backs at its leverage, served in the order the caller gives.

The auction fails when it is older than ``max_duration_ms`` (MakerDAO's ``tail``) or when
``1 - d`` falls below ``cusp`` (here measured against ``mark0``, i.e. the discount passed
``1 - cusp``; MakerDAO measures ``price / top`` with ``top = buf * oracle``, which only shifts
where the same threshold sits). MakerDAO then needs a ``redo``; we call it failed and the
caller falls back to another mechanism.

Failure modes this reproduces:

(a) Zero-bid. When keepers lack capital (or cannot raise it in a crash), nobody bids while the
    discount is small, because a poor keeper's capacity ``capital * leverage / price`` is a
    sliver of the lot. The price keeps falling and the position is finally taken by whoever
    can afford it at a deep discount: on Black Thursday (12 March 2020) MakerDAO vaults went
    for zero bids. The account is closed far below its bankruptcy price and the venue carries
    the difference as bad debt.
(b) The auction fails (cusp or tail) with part of the lot unsold, and the caller must close the
    remainder another way (book, insurance fund, ADL).

Pure arithmetic on numbers and arrays; nothing here knows SimPy, the venue's accounts, the book
or events. Time is integer milliseconds passed in by the caller, who also settles each take
(moving the position, the margin and any shortfall into the waterfall).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from markets.rules import AuctionRules

# Relative slack when a keeper compares the auction price with its own threshold: the two are
# different products of the same numbers, and a keeper exactly at its threshold must not be
# turned away by the last bit of rounding.
_PRICE_RTOL = 1e-12


@dataclass(slots=True)
class Auction:
    """One running auction, as the venue keeps it. ``left`` shrinks as keepers take."""

    lot: float  # signed base quantity auctioned (long > 0), fixed
    left: float  # signed base quantity not yet taken
    mark0: float  # mark when the auction started ("top" before the premium)
    started_ms: int
    account: int
    market: int
    scope: int  # margin scope of the liquidated position (cross or an isolated market)
    generation: int  # cascade generation of the liquidation that started it
    cause: int  # sequence number of the event that caused it

    def age(self, now_ms: int) -> int:
        return now_ms - self.started_ms


def _steps(rules: AuctionRules, age_ms: int) -> int:
    if age_ms < 0:
        raise ValueError(f"auction age must be non-negative, got {age_ms}")
    return int(age_ms // rules.step_ms)


def price_factor(rules: AuctionRules, age_ms: int) -> float:
    """``1 - discount``: (1 + start_premium) * cut ** floor(age / step)."""
    return (1.0 + rules.start_premium) * rules.cut ** _steps(rules, age_ms)


def discount(rules: AuctionRules, age_ms: int) -> float:
    """The keeper's discount on mark0 at ``age_ms``; negative (a premium) at the start."""
    return 1.0 - price_factor(rules, age_ms)


def auction_price(rules: AuctionRules, mark0: float, lot_sign: float, age_ms: int) -> float:
    """Price at which a keeper takes over the lot: below mark0 for a long lot once d > 0."""
    if mark0 <= 0:
        raise ValueError(f"mark0 must be positive, got {mark0}")
    if lot_sign == 0:
        raise ValueError("lot_sign must be non-zero (+ for a long lot, - for a short lot)")
    d = discount(rules, age_ms)
    if lot_sign > 0:
        return max(mark0 * (1.0 - d), 0.0)
    return mark0 * (1.0 + d)


def failed(rules: AuctionRules, age_ms: int) -> bool:
    """The auction is over without selling out: past the tail, or the price fell below cusp."""
    return age_ms > rules.max_duration_ms or price_factor(rules, age_ms) < rules.cusp


def failure_age_ms(rules: AuctionRules) -> int:
    """The first age (ms) at which ``failed`` is true, so a caller can schedule the end."""
    tail = rules.max_duration_ms + 1
    if rules.cusp <= 0.0:
        return tail
    # Smallest k with (1 + p) * cut**k < cusp from logs, then nudged to agree with failed()
    # exactly, since log rounding can be off by one step at the boundary.
    k = max(math.floor(math.log(rules.cusp / (1.0 + rules.start_premium)) / math.log(rules.cut)),
            0)
    while k > 0 and price_factor(rules, (k - 1) * rules.step_ms) < rules.cusp:
        k -= 1
    while price_factor(rules, k * rules.step_ms) >= rules.cusp:
        k += 1
    return min(tail, k * rules.step_ms)


def allocate(
    lot_left: float,
    price: float,
    mark: float,
    free_capital: np.ndarray,
    min_discount: np.ndarray,
    leverage: np.ndarray,
) -> np.ndarray:
    """Base quantity (>= 0) each keeper takes of ``lot_left`` at ``price``, in index order.

    A keeper bids only if ``price`` beats the current ``mark`` by its ``min_discount`` (long
    lot: price <= mark * (1 - min_discount); short lot: price >= mark * (1 + min_discount)),
    and takes at most ``free_capital * leverage / price``: margin at its leverage for the
    notional. At price 0 a long lot costs nothing, so capacity is the whole lot. The takes sum
    to at most ``|lot_left|``.
    """
    free_capital = np.asarray(free_capital, dtype=float)
    min_discount = np.asarray(min_discount, dtype=float)
    leverage = np.asarray(leverage, dtype=float)
    if not free_capital.shape == min_discount.shape == leverage.shape or free_capital.ndim != 1:
        raise ValueError("free_capital, min_discount and leverage must be 1-d and aligned")
    if price < 0:
        raise ValueError(f"price must be non-negative, got {price}")
    if mark <= 0:
        raise ValueError(f"mark must be positive, got {mark}")
    if np.any(leverage <= 0):
        raise ValueError("keeper leverage must be positive")
    take = np.zeros_like(free_capital)
    size = abs(float(lot_left))
    if size == 0.0:
        return take
    if lot_left > 0:
        willing = price <= mark * (1.0 - min_discount) * (1.0 + _PRICE_RTOL)
    else:
        willing = price >= mark * (1.0 + min_discount) * (1.0 - _PRICE_RTOL)
    able = willing & (free_capital > 0)
    if price > 0:
        capacity = np.where(able, free_capital * leverage / price, 0.0)
    else:
        capacity = np.where(able, size, 0.0)
    # First come, first served: each keeper gets what the ones before it left, up to capacity.
    before = np.concatenate(([0.0], np.cumsum(capacity)[:-1]))
    take = np.clip(size - before, 0.0, capacity)
    return take
