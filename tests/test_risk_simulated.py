"""Simulated VaR/ES over seeds and the stress grid from full runs (``simulator.risk.simulated``,
``liqsim risk --runs/--full-stress``).

The tiny world of test_risk_book (X at 8000, A long 1 with 1000 cross, B short 2 with 2000
cross, C isolated long 0.5 with 500, fund 500) with X -20% over 10 s from 1 s: A and C are
liquidated with bad debt (their whole equity lost: 1000 and 500), B keeps its short, so the
traders' loss is 1000 + 500 + 2 (P_end - 8000) with P_end the last mark. X's 50% volatility
makes each seed's path, and so its losses, differ a little.
"""

from __future__ import annotations

import math
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import invoke
from test_chart_quality import problems
from test_risk_book import tiny

import simulator.risk.simulated as sim
from simulator import run
from simulator.charts.risk_simulated import losses_figure, stress_compare_figure
from simulator.config import load_scenario, parse_scenario
from simulator.risk import book
from simulator.risk.var import historical_var_es, order_statistic_ranks

SMALL = Path(__file__).parent / "data" / "scenario_small.yaml"
SEEDS = [3, 4, 5, 6, 7, 8]


def falling(volatility: float = 0.5) -> dict:
    data = tiny()
    data["assets"][0]["volatility"] = volatility
    data["shocks"] = [{"asset": "X", "at": "1s", "move": "-20%", "over": "10s"}]
    return data


@pytest.fixture(scope="module")
def samples():
    sc = parse_scenario(falling())
    return sc, *sim.simulated_samples(sc, SEEDS)


def test_the_losses_by_hand_and_against_run(samples):
    sc, runs, accounts = samples
    assert runs["status"].eq("complete").all() and runs["seed"].tolist() == SEEDS
    for seed in (3, 7):
        res = run(sc, seed)
        s = res.summary
        row = runs[runs["seed"] == seed].iloc[0]
        p_end = float(res.timeseries["mark"].iloc[-1])
        assert row["traders_loss_usd"] == pytest.approx(1500 + 2 * (p_end - 8000), abs=1e-6)
        mine = accounts[accounts["seed"] == seed].set_index("account")["loss_usd"]
        assert mine.to_dict() == pytest.approx({1: 1000, 2: 2 * (p_end - 8000), 3: 500})
        assert row["bad_debt_usd"] == pytest.approx(s["lin.bad_debt"]) and s["bad_debt"] > 0
        assert row["fund_loss_usd"] == pytest.approx(
            s["insurance_fund_start"] - s["insurance_fund_end"])
        assert row["liquidated_usd"] == pytest.approx(s["lin.liquidated_notional"])
        assert row["adl_usd"] == s["lin.adl_notional"]


def test_a_populated_world_matches_its_runs_summary():
    sc = load_scenario(SMALL).with_overrides(["duration=2m"])
    runs, accounts = sim.simulated_samples(sc, [1, 2], workers=2)
    for seed in (1, 2):
        s = run(sc, seed).summary
        row = runs[runs["seed"] == seed].iloc[0]
        assert row["liquidated_usd"] == pytest.approx(s["v.liquidated_notional"], rel=1e-12)
        assert row["bad_debt_usd"] == pytest.approx(s["v.bad_debt"], rel=1e-12)
        assert row["adl_usd"] == pytest.approx(s["v.adl_notional"], rel=1e-12)
        assert row["adl_haircut_usd"] == pytest.approx(s["v.adl_haircut"], rel=1e-12)
        assert row["fund_loss_usd"] == pytest.approx(
            s["insurance_fund_start"] - s["insurance_fund_end"])
        assert s["liquidations"] > 0
    # Every trader of every run is a sample, the maker is not.
    traders = int(book.world_of(sc, 1).venues[0].accounts.liquidatable.sum())
    assert len(accounts) == 2 * traders
    assert accounts.groupby("seed")["loss_usd"].sum().to_numpy() == pytest.approx(
        runs["traders_loss_usd"].to_numpy())


def test_var_is_historical_var_es_on_those_losses(samples):
    _, runs, accounts = samples
    var = sim.simulated_var(runs, accounts, seed=11)
    assert list(var.columns) == list(sim.SIM_VAR_COLUMNS)
    assert set(var["scope"]) == {"venue", "fund", "account", "all"}  # one venue: no pooled
    venue = var[var["scope"] == "venue"].reset_index(drop=True)
    # The venue's rows come first: the same generator's first draws.
    expect = historical_var_es(runs["traders_loss_usd"], book.LEVELS,
                               rng=np.random.default_rng(11), n_boot=sim.N_BOOT)
    pd.testing.assert_frame_equal(venue[expect.columns.tolist()], expect)
    assert (venue["n"] == len(SEEDS)).all()
    every = var[var["scope"] == "account"]
    assert (every["n"] == 3 * len(SEEDS)).all()
    plain = historical_var_es(accounts["loss_usd"], book.LEVELS)
    assert every["var"].tolist() == plain["var"].tolist()
    assert every["es"].tolist() == plain["es"].tolist()
    # Six runs: the 95% quantile is the largest loss and no interval has an upper end.
    top = runs["traders_loss_usd"].max()
    assert (venue["var"] == top).all() and venue["var_high"].isna().all()
    assert venue["note"].str.contains("upper bound open: 99.9% needs >= 3,688").any()
    assert "tail under one sample" in venue["note"].iloc[0]  # 6 x 5% < 1


def test_runs_needed_is_where_the_upper_bound_appears():
    for level in (0.95, 0.99, 0.999):
        n = sim.runs_needed(level)
        assert order_statistic_ranks(n, level)[1] <= n
        assert order_statistic_ranks(n - 1, level)[1] == n  # rank n of n - 1: open
    assert [sim.runs_needed(p) for p in (0.95, 0.99, 0.999)] == [72, 368, 3688]


def test_failed_runs_are_rows_but_not_samples(monkeypatch):
    real = sim.start_simulation

    def flaky(scenario, seed):
        if seed == 4:
            raise RuntimeError("boom")
        return real(scenario, seed)

    monkeypatch.setattr(sim, "start_simulation", flaky)
    runs, accounts = sim.simulated_samples(parse_scenario(falling()), [3, 4, 5])
    bad = runs[runs["seed"] == 4].iloc[0]
    assert bad["status"] == "failed" and math.isnan(bad["traders_loss_usd"])
    assert sorted(accounts["seed"].unique()) == [3, 5]
    var = sim.simulated_var(runs, accounts, 0)
    assert (var.loc[var["scope"] == "venue", "n"] == 2).all()
    count = sim.run_count(runs, accounts).iloc[0]
    assert (count["runs"], count["complete"], count["failed"]) == (3, 2, 1)
    assert count["statement"].startswith("2 complete run(s) of 3 (seeds 3..5)")


def test_deterministic_and_the_same_with_workers(samples):
    sc, runs, accounts = samples
    again, accounts2 = sim.simulated_samples(sc, SEEDS, workers=2)
    pd.testing.assert_frame_equal(runs, again)
    pd.testing.assert_frame_equal(accounts, accounts2)
    pd.testing.assert_frame_equal(sim.simulated_var(runs, accounts, 5),
                                  sim.simulated_var(again, accounts2, 5))


def test_bad_seeds_and_moves_are_refused():
    sc = parse_scenario(falling())
    with pytest.raises(ValueError, match="at least one seed"):
        sim.simulated_losses(sc, [])
    with pytest.raises(ValueError, match="distinct"):
        sim.simulated_losses(sc, [1, 1])
    with pytest.raises(ValueError, match="workers"):
        sim.simulated_losses(sc, [1, 2], workers=0)
    assert sim.parse_moves("-10%, -0.2,-10%") == [-0.1, -0.2]
    for text, message in (("", "at least one"), ("lots", "lots"), ("-100%", "within")):
        with pytest.raises(ValueError, match=message):
            sim.parse_moves(text)


def test_the_stressed_scenario_replaces_the_shocks():
    sc = parse_scenario(falling())
    one = sim.stressed_scenario(sc, "X", -0.3)
    (shock,) = one.shocks  # at the first shock's time, over its ramp
    assert (shock.asset, shock.move, shock.at, shock.over, shock.co_move) == (
        "X", -0.3, 1000, 10000, False)
    data = falling()
    data["assets"].append({"name": "Y", "price": 10, "volatility": 0.1})
    data["shocks"] = []
    both = sim.stressed_scenario(parse_scenario(data), "all", 0.1, over_ms=0)
    assert [(s.asset, s.move, s.at, s.over) for s in both.shocks] == [
        ("X", 0.1, 1000, 0), ("Y", 0.1, 1000, 0)]  # no shock given: at 1 s
    with pytest.raises(ValueError, match="'Z': not one of"):
        sim.stressed_scenario(sc, "Z", -0.1)
    data = falling()
    data["duration"], data["shocks"] = "1s", []  # the default shock at 1 s: after the end
    with pytest.raises(ValueError, match="full-run stress: .*after the run ends"):
        sim.full_run_stress(parse_scenario(data), 0, [-0.1], over_ms=0)


def test_a_replay_is_refused():
    # Any replay will do: the refusal looks only at whether there is one.
    sc = parse_scenario(falling()).model_copy(update={"replays": ["a replay"]})
    with pytest.raises(ValueError, match="without replays"):
        sim.stressed_scenario(sc, "X", -0.1)


@pytest.fixture(scope="module")
def stressed():
    sc = parse_scenario(falling(volatility=0.0))
    moves = [-0.2, 0.0, 0.2]
    full = sim.full_run_stress(sc, 0, moves, over_ms=5000)
    return full, sim.stress_comparison(book.stress_grid(sc, 0, moves), full)


def test_full_runs_beside_the_static_pass(stressed):
    full, compare = stressed
    assert list(full.columns) == list(sim.FULL_COLUMNS)
    assert (full["source"] == "run").all() and (full["status"] == "complete").all()
    cell = compare.set_index(["asset", "move"])
    # 0%: nothing moves, nothing is liquidated, in either.
    for asset in ("X", "all"):
        zero = cell.loc[(asset, 0.0)]
        assert zero["liquidated_usd_static"] == 0 == zero["liquidated_usd_run"]
        assert zero["bad_debt_usd_run"] == 0 == zero["fund_drawdown_usd_run"]
    # -20%: the static pass liquidates A and C whole at 6400 (9600); the run over 5 s
    # liquidates them as they breach (below 7035), at higher prices: more notional.
    down = cell.loc[("X", -0.2)]
    assert down["liquidated_usd_static"] == pytest.approx(9600)
    assert down["liquidated_usd_run"] > down["liquidated_usd_static"]
    assert down["liquidated_ratio"] == pytest.approx(
        down["liquidated_usd_run"] / 9600)
    # +20%: B (short 2) is breached in both; the run closes it on the way up, below the
    # static pass's 9600: its notional is lower, the breached accounts are the same.
    rows = full.set_index(["asset", "move"])
    static = book.stress_grid(parse_scenario(falling(0.0)), 0, [0.2, -0.2]).set_index(
        ["asset", "move"])
    for key in (("X", 0.2), ("X", -0.2), ("all", -0.2)):
        assert rows.loc[key, "accounts"] >= static.loc[key, "accounts"] > 0
    assert cell.loc[("X", 0.2), "liquidated_usd_run"] < cell.loc[("X", 0.2),
                                                                 "liquidated_usd_static"]
    # One asset: "all" is the same run.
    x = full[full["asset"] == "X"].drop(columns="asset").reset_index(drop=True)
    pd.testing.assert_frame_equal(x, full[full["asset"] == "all"].drop(
        columns="asset").reset_index(drop=True))


def test_the_charts_pass_the_quality_checks(samples, stressed):
    _, runs, accounts = samples
    var = sim.simulated_var(runs, accounts, 0)
    figures = {"losses": losses_figure(runs, var), "stress": stress_compare_figure(stressed[1])}
    assert problems(figures) == {}
    ax = figures["losses"].axes[0]
    assert ax.get_xlabel() == "traders' loss per run (USD k)"  # about 1,700 USD
    assert len(ax.lines) == 1 + 3  # the ECDF and one VaR line per level


def test_liqsim_risk_runs_and_full_stress(tmp_path):
    import yaml

    path = tmp_path / "falling.yaml"
    path.write_text(yaml.safe_dump(falling()))
    out = tmp_path / "r"
    result = invoke("risk", path, "--out", out, "--max-move", "20%", "--step", "10%",
                    "--seed", "2", "--runs", "3", "--full-stress", "-20%,0%")
    assert result.exit_code == 0, result.output
    runs = pd.read_parquet(out / "simulated_runs.parquet")
    assert runs["seed"].tolist() == [2, 3, 4] and list(runs.columns) == list(sim.RUN_COLUMNS)
    var = pd.read_parquet(out / "simulated_var.parquet")
    assert (var.loc[var["scope"] == "all", "n"] == 3).all()
    assert len(pd.read_parquet(out / "simulated_accounts.parquet")) == 9
    full = pd.read_parquet(out / "stress_full.parquet")
    assert sorted(full["move"].unique()) == [-0.2, 0.0] and set(full["asset"]) == {"X", "all"}
    assert not pd.read_parquet(out / "stress_compare.parquet").empty
    for name in ("simulated_losses", "stress_full"):
        assert (out / "figures" / f"{name}.svg").stat().st_size > 0
    page = (out / "risk.html").read_text()
    assert "Simulated runs" in page and "Stress grid from full runs" in page
    assert "3 complete run(s) of 3 (seeds 2..4)" in page
    assert re.findall(r'src="(?!data:)', page) == []
    assert "3 complete run(s) of 3" in result.output


def test_liqsim_risk_without_the_options_has_no_simulated_part(tmp_path):
    import yaml

    path = tmp_path / "falling.yaml"
    path.write_text(yaml.safe_dump(falling()))
    result = invoke("risk", path, "--out", tmp_path / "r", "--max-move", "20%", "--step", "10%")
    assert result.exit_code == 0, result.output
    assert not list((tmp_path / "r").glob("simulated_*")) and "Simulated runs" not in (
        tmp_path / "r" / "risk.html").read_text()


@pytest.mark.parametrize("args, message", [(["--full-stress", "lots"], "--full-stress"),
                                           (["--runs", "-1"], "--runs"),
                                           (["--runs", "2", "--workers", "0"], "--workers")])
def test_liqsim_risk_refuses_bad_simulated_input(args, message, tmp_path):
    import yaml

    path = tmp_path / "falling.yaml"
    path.write_text(yaml.safe_dump(falling()))
    result = invoke("risk", path, "--out", tmp_path / "r", "--max-move", "10%", "--step",
                    "10%", *args)
    assert result.exit_code == 2 and message in result.output
    assert result.output.count("error:") == 1
