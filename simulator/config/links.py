"""The scenario's links between markets: the edges of the market graph it describes.

``CrossImpact`` (a share of one market's moves passes to another, possibly on another venue),
``IndexWeights`` (an index made of several venues' prices) and ``Arbitrage`` (an arbitrageur
with latency, a threshold and finite capital trading two venues' books of one asset). The
scenario checks the names they use; the build turns them into the graph's edges.
"""

from __future__ import annotations

from pydantic import Field, PositiveFloat, field_validator

from simulator.config.base import Strict
from simulator.config.units import Duration, Fraction


class CrossImpact(Strict):
    """Part of a move in one market passes to another: ``beta`` of the (log) return of
    ``venue``'s ``source`` moves ``target``, on ``target_venue`` (default: the same venue)."""

    venue: str
    source: str
    target: str
    target_venue: str | None = None
    beta: float = Field(ge=-1, le=1)


class IndexWeights(Strict):
    """The index ``venue`` publishes for ``asset``: a weighted (geometric) mean of the venues'
    prices of the asset. ``weights`` maps a venue listing the asset to its share; what the
    weights leave of 1 is the fundamental (spot venues outside the model). It replaces the
    venue's own ``mark.index_impact_share`` for that asset."""

    venue: str
    asset: str
    weights: dict[str, Fraction] = Field(min_length=1)

    @field_validator("weights")
    @classmethod
    def _shares(cls, weights: dict[str, float]) -> dict[str, float]:
        bad = [v for v, w in weights.items() if not 0 <= w <= 1]
        if bad:
            raise ValueError(f"the weight of {bad[0]} must be between 0 and 1")
        if sum(weights.values()) > 1 + 1e-12:
            raise ValueError(f"the weights add up to {sum(weights.values()):g}, more than 1")
        return weights


class Rebalance(Strict):
    """When one leg's equity falls below ``below`` of its starting collateral, the arbitrageur
    withdraws capital from the other venue (half the difference, at most what that leg's
    position leaves free at its leverage) and deposits it on the low leg ``transfer`` later.
    A withdrawal or deposit halt on either venue holds the transfer until the halt ends."""

    below: Fraction = Field(default=0.5, gt=0, lt=1)
    transfer: Duration = Field(default="10m", ge=0)


class Arbitrage(Strict):
    """An arbitrageur between the markets on ``asset`` of two ``venues``.

    After each move of either book it waits ``latency``, then, when the mids differ by more
    than ``threshold`` (in log), buys on the cheap venue and sells the same quantity on the
    rich one, as much as brings the gap back to ``threshold``, within its capital: ``capital``
    USD split equally as collateral on the two venues, each position at most ``leverage``
    times its venue's equity. Its accounts are ordinary accounts: it can run out of room and
    be liquidated."""

    name: str = Field(min_length=1, pattern=r"^[A-Za-z0-9_.\-]+$")
    asset: str
    venues: list[str] = Field(min_length=2, max_length=2)
    latency: Duration = Field(default="200ms", ge=0)
    threshold: Fraction = Field(default=0.001, ge=0, lt=1)
    capital: PositiveFloat
    leverage: PositiveFloat = 5.0
    rebalance: Rebalance | None = None  # moves capital to a leg that ran low
