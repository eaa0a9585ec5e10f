"""Scenario configuration: pydantic models (the single home of defaults), units, loading."""

from simulator.config.scenario import (
    Scenario,
    ScenarioError,
    apply_override,
    format_errors,
    load_scenario,
    parse_scenario,
)

__all__ = [
    "Scenario", "ScenarioError", "apply_override", "format_errors", "load_scenario",
    "parse_scenario",
]
