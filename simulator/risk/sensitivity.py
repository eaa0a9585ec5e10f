"""Margin sensitivity of the static stress pass: how the liquidated notional and the bad debt
of one stress cell (every asset moved together) change when every market's maintenance rates
(or its tiers' leverage caps) are scaled, for the ``liqsim risk`` report.

Each step rebuilds the world from the scenario with the tiers edited as data (``to_dict`` then
``parse_scenario``, so the scenario's own checks apply: a step it refuses is skipped with a
note) and runs ``simulator.risk.book.stress_cells`` on it; the stress arithmetic lives there
only. Populations are drawn against the tiers, so a step is the same seed's world built under
the scaled rules. Knows no SimPy, writes nothing, draws nothing.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, Literal

import pandas as pd

from simulator.config import Scenario, ScenarioError, parse_scenario
from simulator.risk.book import stress_cells

WHATS = ("mmr", "leverage_cap")
SENSITIVITY_COLUMNS = ("step", "what", "factor", "liquidated_usd", "bad_debt_usd",
                       "liquidated_elasticity", "bad_debt_elasticity", "note")


def scaled_scenario(scenario: Scenario, factor: float, what: str) -> Scenario:
    """The scenario with every market's tiers' ``mmr`` (``what`` "mmr") or ``max_leverage``
    (and the market's own ``max_leverage`` cap, if set; "leverage_cap") times ``factor``.
    Raises ``ScenarioError`` where the scenario refuses the result (mmr x leverage >= 1)."""
    if what not in WHATS:
        raise ValueError(f"what must be one of {', '.join(WHATS)} (got {what!r})")
    if not factor > 0:
        raise ValueError(f"the scale factor must be positive (got {factor:g})")
    data: dict[str, Any] = scenario.to_dict()
    for venue in data["venues"]:
        for market in venue["markets"]:
            key = "mmr" if what == "mmr" else "max_leverage"
            for tier in market["tiers"]:
                tier[key] = tier[key] * factor
            if what == "leverage_cap" and market.get("max_leverage") is not None:
                market["max_leverage"] = market["max_leverage"] * factor
    return parse_scenario(data)


def _all_cell(scenario: Scenario, seed: int, move: float) -> tuple[float, float]:
    grid, _ = stress_cells(scenario, seed, [move])
    cell = grid[grid["asset"] == "all"]
    return float(cell["liquidated_usd"].sum()), float(cell["bad_debt_usd"].sum())


def _elasticity(y: float, y0: float, x: float) -> float:
    """Arc elasticity d ln y / d ln x against step 0 (x = 1); NaN where y is 0 or x is 1."""
    if not (y > 0 and y0 > 0) or x == 1.0:
        return float("nan")
    return (math.log(y) - math.log(y0)) / math.log(x) + 0.0  # + 0.0: no -0.0 on the page


def margin_sensitivity(scenario: Scenario, seed: int, move: float = -0.2,
                       steps: Sequence[float] = (-0.5, -0.25, 0.25, 0.5),
                       what: Literal["mmr", "leverage_cap"] = "mmr") -> pd.DataFrame:
    """One row per step (0, the scenario as given, first; then ``steps`` sorted) of the
    static "all" stress cell at ``move``: ``SENSITIVITY_COLUMNS``, ``factor`` = 1 + step,
    liquidated and bad debt summed over venues, their arc elasticities against step 0 and a
    ``note`` (why a step is skipped: its rows' numbers are NaN)."""
    if not -1 < move < 1:
        raise ValueError(f"the move must be within (-100%, +100%) (got {move:g})")
    bad = [s for s in steps if not s > -1]
    if bad:
        raise ValueError(f"every step must be above -100% (got {bad[0]:g})")
    if what not in WHATS:
        raise ValueError(f"what must be one of {', '.join(WHATS)} (got {what!r})")
    liq0, bad0 = _all_cell(scenario, seed, move)
    rows = [(0.0, what, 1.0, liq0, bad0, float("nan"), float("nan"), "")]
    nan = float("nan")
    for step in sorted({float(s) for s in steps} - {0.0}):
        factor = 1.0 + step
        try:
            scaled = scaled_scenario(scenario, factor, what)
        except ScenarioError as exc:
            # Typically mmr x max_leverage >= 1: the venue could not list such a tier.
            note = f"refused: {str(exc).splitlines()[0]}"
            rows.append((step, what, factor, nan, nan, nan, nan, note))
            continue
        liq, bad_debt = _all_cell(scaled, seed, move)
        rows.append((step, what, factor, liq, bad_debt, _elasticity(liq, liq0, factor),
                     _elasticity(bad_debt, bad0, factor), ""))
    return pd.DataFrame(rows, columns=list(SENSITIVITY_COLUMNS))
