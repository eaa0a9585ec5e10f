"""Stop-loss orders in a scenario: which share of a population keeps them, and how far from
the start price (``markets.stops`` says how they fire)."""

from __future__ import annotations

from pydantic import Field, model_validator

from simulator.config.base import Strict
from simulator.config.units import Fraction


class Stops(Strict):
    """A share ``share`` of the population's accounts keep a stop on each position they hold
    at the start: a market order closing it once the venue's trigger price has moved
    ``distance`` against it from the start price (one distance per account, drawn uniformly
    in [low, high])."""

    share: Fraction = Field(gt=0, le=1)
    distance: tuple[Fraction, Fraction]

    @model_validator(mode="after")
    def _range(self) -> Stops:
        low, high = self.distance
        if not 0 < low <= high < 1:
            raise ValueError("distance: [low, high] with 0 < low <= high < 1")
        return self
