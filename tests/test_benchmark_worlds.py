"""The benchmark builds its standard worlds itself: the day-3x10 world is the one named by
``../shared/scenarios/day-3x10.yaml`` (compared when that file is beside the project), and a
small version of it runs: three venues of ten markets, the BTC move at noon."""

from __future__ import annotations

import math
import sys
from pathlib import Path

import pytest

from simulator import run
from simulator.config import parse_scenario
from simulator.config.scenario import load_scenario

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "experiments"))
import benchmark  # noqa: E402

SHARED = ROOT.parent / "shared" / "scenarios" / "day-3x10.yaml"


def differences(a, b, path=""):
    if isinstance(a, dict) and isinstance(b, dict):
        for key in sorted(set(a) | set(b), key=str):
            if key not in a or key not in b:
                yield f"{path}.{key}: only in one"
            else:
                yield from differences(a[key], b[key], f"{path}.{key}")
    elif isinstance(a, list) and isinstance(b, list):
        if len(a) != len(b):
            yield f"{path}: {len(a)} vs {len(b)} items"
        for k, (x, y) in enumerate(zip(a, b, strict=False)):
            yield from differences(x, y, f"{path}[{k}]")
    elif isinstance(a, float) and isinstance(b, float):
        if not math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12):
            yield f"{path}: {a} vs {b}"
    elif a != b:
        yield f"{path}: {a!r} vs {b!r}"


@pytest.mark.skipif(not SHARED.exists(), reason="../shared/scenarios/day-3x10.yaml not beside")
def test_the_day_world_is_the_shared_definition():
    ours = parse_scenario(benchmark.day_3x10_data()).to_dict()
    theirs = load_scenario(SHARED).to_dict()
    assert list(differences(ours, theirs)) == []


def test_a_small_day_world_runs_with_three_venues_of_ten_markets():
    data = benchmark.day_3x10_data(accounts=1_000)
    data["duration"] = "725m"
    data["clock"]["oracle_interval"] = "60s"
    result = run(parse_scenario(data), seed=7)
    assert result.ok, result.meta.get("error")
    ev = result.events
    assert sorted(ev["venue"].dropna().unique()) == ["cex0", "cex1", "cex2"]
    assert ev.loc[ev["kind"] == "trade", "market"].nunique() == 10
    shock = ev[ev["kind"] == "shock"]
    # The shock is logged on the first tick its move shows in (one tick after it starts).
    assert len(shock) == 3 and set(shock["time_ms"]) == {12 * 3_600_000 + 60_000}
    assert (ev["kind"] == "liquidation").sum() > 0


def test_a_small_linked_day_world_keeps_the_invariants_and_its_venues_trade_each_other():
    """day-3x10-linked: index weights of all three venues and 30 arbitrageurs on the small
    day world, its move at 30 min, with the invariants checked at every tick (the
    arbitrageurs trade any gap: with 600 traders a venue, few gaps reach 0.05%)."""
    data = benchmark.day_3x10_linked_data(accounts=600)
    assert len(data["arbitrage"]) == 30 and len(data["index_weights"]) == 30
    for arb in data["arbitrage"]:
        arb["threshold"] = 0.0
    data["duration"] = "40m"
    data["shocks"][0]["at"] = "30m"
    data["clock"]["oracle_interval"] = "5s"
    result = run(parse_scenario(data), seed=7, check=True)
    assert result.ok, result.meta.get("error")
    ev = result.events
    arb = ev[ev["reason"] == "arbitrage"]
    assert arb["market"].nunique() >= 3 and sorted(arb["venue"].unique()) == ["cex0", "cex1",
                                                                               "cex2"]
    assert result.summary["cross_venue_liquidations"] > 0
