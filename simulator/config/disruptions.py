"""Scheduled disruptions in a scenario: a venue's matching or oracle paused, its API slowed,
its deposits or withdrawals halted, for a window (``markets.disruptions`` says what each does)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from simulator.config.base import Strict
from simulator.config.units import Duration


class Disruption(Strict):
    venue: str
    kind: Literal["matching", "oracle", "api", "deposits", "withdrawals"]
    at: Duration = Field(ge=0)
    over: Duration = Field(gt=0)
    latency_multiplier: float = Field(default=1.0, ge=1)  # api: agents this many times slower

    @model_validator(mode="after")
    def _multiplier(self) -> Disruption:
        if self.kind != "api" and self.latency_multiplier != 1.0:
            raise ValueError("latency_multiplier: only an api disruption slows agents")
        if self.kind == "api" and self.latency_multiplier == 1.0:
            raise ValueError("latency_multiplier: an api disruption needs a multiplier above 1")
        return self
