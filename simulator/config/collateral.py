"""Collateral in other assets than USD, in a scenario: what a venue accepts and at what
haircut, and a venue's depeg of one of them (``markets.collateral`` says how it is valued)."""

from __future__ import annotations

from pydantic import Field

from simulator.config.base import Strict
from simulator.config.units import Duration, Fraction


class CollateralAsset(Strict):
    """``asset`` (one of the scenario's assets, valued at its price) is accepted as collateral,
    counted at ``1 - haircut`` of its value."""

    asset: str
    haircut: Fraction = Field(default=0.0, ge=0, lt=1)


class Depeg(Strict):
    """``venue`` values collateral ``asset`` at ``1 + move`` times its price, ramped in over
    ``over`` from ``at`` (a stablecoin trading below its peg on that venue)."""

    venue: str
    asset: str
    at: Duration = Field(ge=0)
    over: Duration = Field(default=0, ge=0)
    move: Fraction = Field(gt=-1, lt=0)
