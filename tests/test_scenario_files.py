"""Every scenario file and built-in validates and runs; replays follow their CSV; no data copies.

* Smoke: each file in ``experiments/scenarios/`` and each built-in loads, and (except a replay
  of the real klines in ``../shared/data``) runs a shortened version -- 2 simulated minutes, at
  most 300 accounts, shocks moved inside the window -- with invariant checks, to completion.
* The real-data replay is validated when ``../shared/data`` is there, and must point at it.
* A replay of the synthetic ``tests/data/klines_crash.csv`` (a -15% crash in 20 one-minute
  bars) moves the fundamental exactly along the CSV's relative path and liquidates traders.
* Nothing in the project is a copy of the shared klines (no licence to redistribute them).
"""

from __future__ import annotations

import math
import os
import subprocess
from pathlib import Path

import numpy as np
import pytest

from markets.prices.klines import kline_replay_series, read_klines
from simulator import (
    Scenario,
    builtin_scenarios,
    default_scenario,
    load_builtin,
    load_scenario,
    run,
)
from simulator.config import parse_scenario

ROOT = Path(__file__).resolve().parents[1]
SCENARIOS = ROOT / "experiments" / "scenarios"
DATA = Path(__file__).resolve().parent / "data"
CRASH_CSV = DATA / "klines_crash.csv"
SHARED_KLINES = ROOT.parent / "shared" / "data" / "klines"
REAL_CSV = SHARED_KLINES / "BTCUSDT-1m-2025-10-10.csv"
MAX_ACCOUNTS = 300
SKIP_DIRS = {".git", ".venv", ".ci-venv", "node_modules", "__pycache__", ".pytest_cache",
             ".ruff_cache", ".hypothesis"}

FILES = sorted(SCENARIOS.glob("*.yaml"))
# Files that replay the real klines outside the project: validated only, and only when there.
REAL_DATA = [p for p in FILES if "shared/data" in p.read_text()]
RUNNABLE = [p for p in FILES if p not in REAL_DATA]


def shortened(sc: Scenario, duration_ms: int = 120_000) -> Scenario:
    """``sc`` for 2 simulated minutes with at most 300 accounts, shocks inside the window."""
    data = sc.to_dict()
    sets = ["duration=2m"]
    budget = MAX_ACCOUNTS - len(data["accounts"])
    total = sum(p["count"] for p in data["populations"])
    factor = min(1.0, budget / total) if total else 1.0
    counts = [math.floor(p["count"] * factor) for p in data["populations"]]
    for k, p in enumerate(data["populations"]):  # keep every population, if there is room
        if p["count"] and not counts[k] and sum(counts) < budget:
            counts[k] = 1
        sets.append(f"populations.{k}.count={counts[k]}")
        if p.get("arrivals"):  # arrivals inside the run, no more than the population
            arrivals = sc.populations[k].arrivals
            sets += [f"populations.{k}.arrivals.count={min(arrivals.count, counts[k])}",
                     f"populations.{k}.arrivals.start={min(arrivals.start, 30_000)}ms",
                     f"populations.{k}.arrivals.end={min(arrivals.end, 90_000)}ms"]
    for k, s in enumerate(sc.shocks):
        # Shocks must start inside the run: squeeze them into its first minute, same move.
        sets.append(f"shocks.{k}.at={min(s.at, 30_000)}ms")
        sets.append(f"shocks.{k}.over={min(s.over, 60_000)}ms")
    for k, d in enumerate(sc.depegs):
        sets.append(f"depegs.{k}.at={min(d.at, 30_000)}ms")
        sets.append(f"depegs.{k}.over={min(d.over, 60_000)}ms")
    out = sc.with_overrides(sets)
    assert out.duration == duration_ms
    assert len(out.accounts) + sum(p.count for p in out.populations) <= MAX_ACCOUNTS
    return out


def _smoke(sc: Scenario) -> None:
    assert sc.description.strip(), f"{sc.name}: a scenario needs a description"
    result = run(shortened(sc), check=True)
    assert result.ok, result.meta.get("error")
    assert len(result.events) > 0
    assert result.meta["simulated_ms"] == 120_000


# --- smoke runs ---------------------------------------------------------------------------------
@pytest.mark.parametrize("path", RUNNABLE, ids=[p.stem for p in RUNNABLE])
def test_scenario_file_validates_and_runs_shortened(path: Path) -> None:
    sc = load_scenario(path)
    assert sc.name == path.stem, "a scenario file is named after its scenario"
    _smoke(sc)


@pytest.mark.parametrize("name", sorted(builtin_scenarios()))
def test_builtin_validates_and_runs_shortened(name: str) -> None:
    _smoke(load_builtin(name))


def test_experiment_files_are_there() -> None:
    names = {p.stem for p in FILES}
    assert {"flash_crash", "isolated_margin", "short_squeeze", "replay_2025_10_10"} <= names
    assert [p.stem for p in REAL_DATA] == ["replay_2025_10_10"]


@pytest.mark.skipif(not REAL_CSV.exists(), reason="the real klines (../shared/data) are absent")
@pytest.mark.parametrize("path", REAL_DATA, ids=[p.stem for p in REAL_DATA])
def test_real_data_replay_validates_and_points_at_shared_data(path: Path) -> None:
    sc = load_scenario(path)
    assert sc.replays, "a real-data scenario replays something"
    for replay in sc.replays:
        resolved = replay.csv.resolve()
        assert resolved.is_relative_to(SHARED_KLINES.resolve())
        assert not resolved.is_relative_to(ROOT), "the replay must read shared/, not a copy"
    assert sc.replays[0].csv.resolve() == REAL_CSV.resolve()
    # Rescaling from the first bar's open keeps the real price levels.
    btc = next(a for a in sc.assets if a.name == sc.replays[0].asset)
    assert btc.price == read_klines(REAL_CSV)["open"].iloc[0]


# --- a replay the tests can run -------------------------------------------------------------------
def _crash_replay(field: str, start: float) -> Scenario:
    data = default_scenario().to_dict()
    data.update(name="replay_crash_test", duration="20m", shocks=[],
                replays=[{"asset": "BTC", "csv": CRASH_CSV.name, "field": field,
                          "rescale": True}])
    data["clock"]["sample_interval"] = "5s"
    data["assets"][0]["price"] = start
    data["populations"][0]["count"] = 290
    data["populations"][1]["count"] = 10
    # Relative CSV paths resolve against the folder a scenario file would sit in.
    return parse_scenario(data, base_dir=DATA)


@pytest.mark.parametrize("field", ["low", "ohlc"])
def test_replay_fundamental_follows_csv_and_crash_liquidates(field: str) -> None:
    start = 100_000.0
    sc = _crash_replay(field, start)
    assert sc.replays[0].csv == DATA / "klines_crash.csv"
    result = run(sc, check=(field == "ohlc"))
    assert result.ok, result.meta.get("error")

    bars = read_klines(CRASH_CSV)
    ts = result.timeseries[result.timeseries["asset"] == "BTC"]
    fundamental = ts["fundamental"].to_numpy()
    # Rescaled: the CSV's relative path from its first open, at the scenario's start price.
    assert fundamental.min() == pytest.approx(
        start * bars["low"].min() / bars["open"].iloc[0], rel=1e-6)
    times, prices = kline_replay_series(bars, field)
    expected = start * np.exp(np.interp(ts["time_ms"].to_numpy(), times, np.log(prices))) / (
        prices[0])
    np.testing.assert_allclose(fundamental, expected, rtol=1e-6)

    # The crash (bars 8-10) liquidates longs; the quiet first 7 minutes hardly any.
    liq = result.events[result.events["kind"] == "liquidation"]
    assert result.summary["liquidations"] > 0
    crash = liq[liq["time_ms"] >= 7 * 60_000]
    assert len(crash) > len(liq) - len(crash)
    assert (crash["side"] < 0).sum() > 0  # longs sold


# --- no copies of the shared data ---------------------------------------------------------------
def _tree_files() -> list[Path]:
    out = []
    for folder, dirs, files in os.walk(ROOT):
        dirs[:] = [d for d in dirs if d not in SKIP_DIRS and not d.endswith(".egg-info")]
        out.extend(Path(folder) / f for f in files)
    return out


def _committable_files() -> list[Path]:
    """Tracked files and untracked ones git does not ignore: what could be committed."""
    try:
        out = subprocess.run(
            ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=ROOT,
            capture_output=True, check=True, timeout=30,
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return [p for p in _tree_files() if "results" not in p.relative_to(ROOT).parts[:1]]
    return [ROOT / name for name in out.decode().split("\0") if name]


def test_no_file_named_like_the_shared_klines() -> None:
    copies = [p.relative_to(ROOT) for p in _tree_files() if p.name.startswith("BTCUSDT-1m-")]
    assert not copies, f"copies of ../shared/data in the project: {copies}"


@pytest.mark.skipif(not SHARED_KLINES.is_dir(),
                    reason="the real klines (../shared/data) are absent")
def test_no_file_contains_the_shared_klines() -> None:
    # Each shared file's first data row (headerless copies included) as its fingerprint.
    prints = []
    for csv in sorted(SHARED_KLINES.glob("*.csv")):
        rows = [ln.strip() for ln in csv.read_text().splitlines()[:3] if ln.strip()]
        prints.extend(r.encode() for r in rows if r[:1].isdigit())
    assert prints
    hits = []
    for path in _committable_files():
        if not path.is_file() or path.stat().st_size > 50_000_000:
            continue
        blob = path.read_bytes()
        if any(fp in blob for fp in prints):
            hits.append(path.relative_to(ROOT))
    assert not hits, f"files containing rows of ../shared/data: {hits}"
