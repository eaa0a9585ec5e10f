"""New flow during a crash in a scenario: dip buyers resting limit bids below the market, and
momentum sellers who open shorts once a market has fallen (``markets.flows`` says how each
fires). Both are more accounts of a population, drawn from its rules and flat at the start."""

from __future__ import annotations

from typing import Annotated

from pydantic import BeforeValidator, Field, model_validator

from simulator.config.base import Strict
from simulator.config.units import Duration, Fraction, whole_number


def _range(name: str, pair: tuple[float, float]) -> None:
    low, high = pair
    if not 0 < low <= high < 1:
        raise ValueError(f"{name}: [low, high] with 0 < low <= high < 1")


class DipBuyers(Strict):
    """``count`` more accounts drawn from the population's rules, flat at the start. Each
    rests a limit bid in each of its drawn markets, ``distance`` below the start price (one
    distance per account, drawn uniformly in [low, high]), for its drawn notional (its
    budget) at that price: long only, opened as the market trades down to it."""

    count: Annotated[int, BeforeValidator(whole_number)] = Field(gt=0)
    distance: tuple[Fraction, Fraction]

    @model_validator(mode="after")
    def _check(self) -> DipBuyers:
        _range("distance", self.distance)
        return self


class Momentum(Strict):
    """``count`` more accounts drawn from the population's rules, flat at the start. Each
    opens a short of its drawn notional (sized at the mark of the moment) by market order once
    a market it trades has fallen ``drop`` (drawn uniformly in [low, high] per account) from
    its highest mark within the last ``window``: momentum and panic selling into a fall."""

    count: Annotated[int, BeforeValidator(whole_number)] = Field(gt=0)
    drop: tuple[Fraction, Fraction]
    window: Duration = Field(default="5m", gt=0)

    @model_validator(mode="after")
    def _check(self) -> Momentum:
        _range("drop", self.drop)
        return self
