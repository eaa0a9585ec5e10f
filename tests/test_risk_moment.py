"""The risk report at a moment of a run (``simulator.risk.moment``, ``liqsim risk --at``).

test_risk_book's tiny world (X at 8000, 0.5% maintenance, fund 500; A cross long 1 X with 1000
USD, B cross short 2 X with 2000, C isolated long 0.5 X with 500) with volatility 0 and one
shock: X -20% from 100 s over 60 s, geometric, so P(t) = 8000 x 0.8^((t - 100 s) / 60 s) on
the oracle's 1 s ticks, 6400 from 160 s. A and C are below maintenance under 7035.18 (first
at the 135 s tick) and are closed at once (no latency): both flat from 135 s.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from conftest import invoke
from test_risk_book import tiny

from simulator import run
from simulator.config import parse_scenario
from simulator.risk import book, moment
from simulator.run.result import RunResult


def shocked(**liquidation: object) -> dict:
    data = tiny()
    data["assets"][0]["volatility"] = 0
    data["shocks"] = [{"asset": "X", "at": "100s", "move": "-20%", "over": "60s"}]
    data["venues"][0]["liquidation"].update(liquidation)
    return data


def price(t_s: float) -> float:
    return 8000 * 0.8 ** ((t_s - 100) / 60)


@pytest.fixture(scope="module")
def stored(tmp_path_factory):
    sc = parse_scenario(shocked())
    folder = tmp_path_factory.mktemp("run") / "tiny"
    run(sc, 0).save(folder, graphs=False)
    return sc, folder


def grid_at(world, scenario, move):
    grid, _ = book.stress_cells(scenario, 0, [move], world)
    return grid[grid["asset"] == "X"].iloc[0]


def test_the_world_at_0_is_the_built_world(stored):
    sc, _ = stored
    built, at0 = book.world_of(sc, 0), moment.world_at(sc, 0, 0)
    for a, b in zip(built.venues, at0.venues, strict=True):
        for name in ("pos", "wallet", "entry", "iso_margin"):
            assert np.array_equal(getattr(a.accounts, name), getattr(b.accounts, name)), name
        assert np.array_equal(a.trigger_prices(), b.trigger_prices())
        assert [f.available() for f in a.funds] == [f.available() for f in b.funds] == [500]
    pd.testing.assert_frame_equal(book.exposure_table(built), book.exposure_table(at0))


def test_the_world_at_t_has_the_positions_the_events_imply(stored):
    sc, folder = stored
    events = RunResult.load(folder).events
    closed = events[(events["kind"] == "liquidation") & (events["time_ms"] <= 150_000)]
    assert sorted(closed["account"]) == [1, 3]  # A and C, at 135 s
    before, _ = moment.moment_of_run(folder, "134s")
    after, info = moment.moment_of_run(folder, "150s")
    assert before.venues[0].accounts.pos[:, 0].tolist() == [0.5, 1, -2, 0.5]
    pos = after.venues[0].accounts.pos[:, 0]
    assert pos[1] == pos[3] == 0 and pos[2] == -2
    assert pos.sum() == pytest.approx(0)  # the maker bought what A and C sold
    assert after.venues[0].trigger_prices()[0] == pytest.approx(price(150))
    assert info.at_ms == 150_000 and info.events_checked == len(
        events[events["time_ms"] <= 150_000]) == 5


def test_after_the_shock_more_is_breached_at_minus_10_percent(stored):
    sc, _ = stored
    at0 = grid_at(moment.world_at(sc, 0, 0), sc, -0.1)
    assert (at0["positions"], at0["bad_debt_usd"]) == (0, 0)  # 7200 > 7035.18
    # At 120 s, P = 8000 x 0.8^(1/3) = 7426.54; -10%: 6683.89. A: 1000 - 1316.11 = -316.11,
    # C: 500 - 0.5 x 1316.11 = -158.05 (B, short, gains): 474.17 of bad debt, notional
    # 1.5 x 6683.89.
    mid = grid_at(moment.world_at(sc, 0, 120_000), sc, -0.1)
    p = 0.9 * price(120)
    assert (mid["positions"], mid["accounts"]) == (2, 2)
    assert mid["liquidated_usd"] == pytest.approx(1.5 * p)
    assert mid["bad_debt_usd"] == pytest.approx(1.5 * (8000 - p) - 1500) == pytest.approx(
        474.168, abs=1e-3)
    assert mid["fund_drawdown_usd"] == pytest.approx(474.168, abs=1e-3)  # the fund has 500


def test_a_queued_breach_counts_once_and_a_held_position_not_again():
    # With 20 s of latency A and C, breached at the 135 s tick, wait in the queue until 155 s:
    # at 140 s (P = 6894.19) they are below zero at the unmoved price, still theirs.
    sc = parse_scenario(shocked(latency="20s"))
    w = moment.world_at(sc, 0, 140_000)
    cell = grid_at(w, sc, 0.0)
    assert moment.moment_of(w, 140_000, "140s").queued == 2
    assert (cell["positions"], cell["accounts"]) == (2, 2)
    assert cell["bad_debt_usd"] == pytest.approx(1.5 * (8000 - price(140)) - 1500)
    # A backstop vault taking over at once holds A's and C's 1.5 X (less its unwinding) at
    # 140 s: not liquidatable, so no scope of the static pass; the moment reports it held.
    sc = parse_scenario(shocked(backstop={"below": 1.0, "capital": 100000, "unwind": "100m"}))
    w = moment.world_at(sc, 0, 140_000)
    venue = w.venues[0]
    assert venue.accounts.pos[[1, 3], 0].tolist() == [0, 0]
    held = venue.accounts.pos[venue.rows.vault, 0]
    assert 1.49 < held < 1.5
    assert moment.held_usd(w) == pytest.approx(held * price(140))
    assert grid_at(w, sc, -0.1)["positions"] == 0


def test_the_prefix_check_refuses_a_tampered_log(stored, tmp_path):
    _, folder = stored
    copy = tmp_path / "copy"
    copy.mkdir()
    for f in folder.iterdir():
        if f.is_file():
            (copy / f.name).write_bytes(f.read_bytes())
    events = pd.read_parquet(copy / "events.parquet")
    liq = events.index[events["kind"] == "liquidation"][0]
    events.loc[liq, "notional"] += 1.0
    events.to_parquet(copy / "events.parquet")
    with pytest.raises(moment.MomentError, match="does not reproduce"):
        moment.moment_of_run(copy, "150s")
    # The tampered event is at 135 s: the log before it still reproduces.
    assert moment.moment_of_run(copy, "134s")[1].events_checked == 1


def test_keywords_resolve_on_the_stored_run(stored):
    sc, folder = stored
    result = RunResult.load(folder)
    assert moment.resolve_moment("shock", result, sc) == 101_000  # logged at the next tick
    assert moment.resolve_moment("peak", result, sc) == 120_000  # both closes at 135 s
    assert moment.resolve_moment("low", result, sc) == 160_000  # 6400 from 160 s on


def synthetic(events: list[tuple], samples: list[tuple], epoch: str | None = None) -> RunResult:
    ev = pd.DataFrame(events, columns=["time_ms", "kind", "notional"])
    ts = pd.DataFrame(samples, columns=["time_ms", "asset", "fundamental"])
    return RunResult(summary={}, events=ev, timeseries=ts, accounts=pd.DataFrame(),
                     cascade_edges=pd.DataFrame(), meta={"epoch_utc": epoch})


def test_keywords_and_times_by_hand():
    sc = parse_scenario({**shocked(), "assets": [{"name": "X", "price": 8000, "volatility": 0},
                                                 {"name": "Y", "price": 10, "volatility": 0}]})
    # Minute 0: 100 of liquidations; minute 3: 80 + 80 = 160, the peak, starting at 180 s.
    res = synthetic([(5_000, "liquidation", 100.0), (190_000, "liquidation", 80.0),
                     (230_000, "liquidation", 80.0), (200_000, "trade", 1e9)],
                    # X's low is 7000 at 20 s (Y, lower, is not the first asset).
                    [(0, "X", 8000.0), (10_000, "Y", 1.0), (20_000, "X", 7000.0),
                     (30_000, "X", 7000.0), (40_000, "X", 7500.0)],
                    epoch="2025-10-10T21:00:00+00:00")
    assert moment.resolve_moment("peak", res, sc) == 180_000
    assert moment.resolve_moment("LOW", res, sc) == 20_000
    assert moment.resolve_moment("2025-10-10T21:15:00Z", res, sc) == 900_000
    assert moment.resolve_moment("2025-10-10 21:01:30", res, sc) == 90_000  # naive: UTC
    with pytest.raises(moment.MomentError, match="no shock"):
        moment.resolve_moment("shock", res, sc)
    assert [moment.parse_at(t) for t in ("5400000", "90s", "1h30m", "1.5s", "2m 5s")] == [
        5_400_000, 90_000, 5_400_000, 1_500, 125_000]
    for bad in ("soon", "", "5 parsecs", "-3s"):
        with pytest.raises(moment.MomentError, match="cannot read"):
            moment.parse_at(bad)
    no_epoch = synthetic([], [])
    with pytest.raises(moment.MomentError, match="needs a replay run"):
        moment.resolve_moment("2025-10-10T21:15:00Z", no_epoch, sc)


def test_times_outside_the_run_are_refused(stored):
    sc, folder = stored
    with pytest.raises(moment.MomentError, match="outside the run, 0 to 400000 ms"):
        moment.moment_of_run(folder, "401s")
    with pytest.raises(moment.MomentError, match="outside the run"):
        moment.world_at(sc, 0, -1)


def test_liqsim_risk_of_a_run_folder_says_the_moment(stored):
    _, folder = stored
    result = invoke("risk", folder, "--at", "2m", "--max-move", "10%", "--step", "10%")
    assert result.exit_code == 0, result.output
    out = folder / "risk_at_2m"
    stress = pd.read_parquet(out / "stress.parquet")
    cell = stress[(stress["asset"] == "X") & (stress["move"].round(6) == -0.1)].iloc[0]
    assert cell["bad_debt_usd"] == pytest.approx(474.168, abs=1e-3)
    assert not (out / "sensitivity.parquet").exists()  # it rebuilds worlds at t = 0
    meta = json.loads((out / "risk.json").read_text())
    assert meta["seed"] == 0 and meta["moment"]["at_ms"] == 120_000
    assert meta["moment"]["events_checked"] == 1 and meta["moment"]["run_dir"] == str(folder)
    page = (out / "risk.html").read_text()
    assert f"the book at 2m of run {folder}" in page and "re-simulation matches" in page
    assert "t = 0, before anything runs" not in page


def test_liqsim_risk_at_a_moment_of_a_scenario_and_its_refusals(stored, tmp_path):
    import yaml

    _, folder = stored
    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump(shocked()))
    out = tmp_path / "r"
    result = invoke("risk", path, "--at", "120s", "--out", out, "--max-move", "10%",
                    "--step", "10%")
    assert result.exit_code == 0, result.output
    assert json.loads((out / "risk.json").read_text())["moment"]["run_dir"] is None
    assert "the book at 2m of the scenario re-simulated" in (out / "risk.html").read_text()
    for args, message in ((("--at", "401s"), "outside the run"),
                          (("--seed", "3"), "its own scenario and seed"),
                          (("--at", "never"), "cannot read")):
        result = invoke("risk", folder, *args)
        assert result.exit_code == 2 and message in result.output, result.output
    result = invoke("risk", folder, "--max-move", "10%", "--step", "10%")  # at its shock
    assert result.exit_code == 0, result.output
    meta = json.loads((folder / "risk_at_101s" / "risk.json").read_text())
    assert (meta["moment"]["at_ms"], meta["moment"]["asked"]) == (101_000, "shock")
    result = invoke("risk", path, "--at", "peak")
    assert result.exit_code == 2 and "needs a run folder" in result.output


def test_the_moments_line():
    m = moment.Moment(at_ms=90_000, asked="Low", utc="2025-10-10T21:01:30+00:00", run_dir="r",
                      events_checked=1234, queued=2, held_usd=10332.6)
    assert m.text() == ("the book at 90s (low) (UTC 2025-10-10T21:01:30+00:00) of run r; "
                        "re-simulation matches the stored log's 1,234 events up to then; "
                        "2 breaches queued, $10,333 held by venue-side holders")
    assert moment.slug(5_400_000) == "at_90m" and moment.slug(0) == "at_0ms"
