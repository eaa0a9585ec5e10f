"""Tests for the experiment scripts in experiments/: each one's --quick design end to end
(exit code, the runs, the experiment's own chart, one experiment-specific number checked
against runs.parquet), the helpers they share, and compare_mechanisms' --scenarios loop.

Every sweep here is the script's --quick version (300 traders, a couple of simulated minutes,
2-8 runs), so the whole file stays within the CI budget."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from experiments import (
    adl_rankings,
    compare_mechanisms,
    contagion,
    depeg,
    historical_replay,
    insurance_fund_sizing,
    mm_withdrawal,
    phase_diagram,
)
from experiments import sweep_experiment as sx

SMALL = Path(__file__).parent / "data" / "scenario_small.yaml"
FORMATS = ("png", "pdf", "svg")


def quick(module, out: Path, workers: int = 2, *extra: str) -> int:
    return module.main(["--quick", "--out", str(out), "--workers", str(workers), "--no-report",
                        *extra])


def check_runs(out: Path, n: int) -> pd.DataFrame:
    runs = pd.read_parquet(out / "runs.parquet")
    assert len(runs) == n
    assert (runs["status"] == "complete").all(), runs["error"].tolist()
    return runs


def check_chart(out: Path, name: str) -> None:
    for fmt in FORMATS:
        path = out / "figures" / f"{name}.{fmt}"
        assert path.stat().st_size > 1000, path


# ------------------------------------------------------------------------------ helpers


def test_wilson_interval() -> None:
    lo, hi = sx.wilson(0, 10)
    assert lo == 0.0 and hi == pytest.approx(0.2775, abs=1e-4)  # the textbook value
    lo, hi = sx.wilson(10, 10)
    assert hi == 1.0 and lo == pytest.approx(1 - 0.2775, abs=1e-4)
    lo, hi = sx.wilson(3, 10)
    assert lo < 0.3 < hi
    assert all(math.isnan(v) for v in sx.wilson(0, 0))


def test_invalid_sweep_is_a_usage_error(tmp_path: Path, capsys) -> None:
    with pytest.raises(sx.ExperimentError, match="no_such_field"):
        sx.build_spec({"name": "bad", "set": ["no_such_field=1"]})
    assert insurance_fund_sizing.main(["--quick", "--workers", "0", "--out",
                                       str(tmp_path)]) == 2
    assert "--workers" in capsys.readouterr().err


def test_markdown_table() -> None:
    text = sx.markdown(pd.DataFrame({"a": ["x"], "b": [1234567.0], "c": [0.01234]}))
    assert text.splitlines() == ["| a | b | c |", "|---|---|---|", "| x | 1,234,567 | 0.01234 |"]


def test_leverage_level_inverts_the_mix() -> None:
    for level in phase_diagram.LEVELS:
        mix = phase_diagram.leverage_mix(level)
        assert phase_diagram.leverage_level(mix) == level
        # As runs.parquet holds it: canonical JSON with string keys.
        assert phase_diagram.leverage_level(json.dumps(mix, sort_keys=True)) == level


# --------------------------------------------------------------------------- the scripts


def test_insurance_fund_sizing(tmp_path: Path, capsys) -> None:
    out = tmp_path / "ifs"
    assert quick(insurance_fund_sizing, out) == 0
    runs = check_runs(out, 4)  # 2 fund sizes x 1 variant x 2 replications
    check_chart(out, "insurance_fund_sizing")
    table = pd.read_csv(out / "insurance_fund_sizing.csv")
    # P(ADL) is the share of runs with ADL events, per fund size.
    share = runs.groupby(insurance_fund_sizing.FUND)["adl_events"].apply(lambda s: (s > 0).mean())
    got = table.set_index("insurance_fund")["p_adl"]
    assert got.to_dict() == pytest.approx(share.to_dict())
    assert (table["p_adl_low"] <= table["p_adl"]).all()
    assert (table["p_adl"] <= table["p_adl_high"]).all()
    # The quick design is built so that ADL fires on an empty fund and not on a big one.
    assert got[0.0] > 0 and got[2e5] == 0
    assert "P(ADL) < 5% from a fund of $200,000 on" in capsys.readouterr().out


def test_sufficient_fund_needs_every_larger_fund_below_target() -> None:
    table = pd.DataFrame({"variant": ["a"] * 4 + ["b"] * 2,
                          "insurance_fund": [0.0, 1.0, 2.0, 3.0, 0.0, 1.0],
                          "p_adl": [1.0, 0.0, 0.5, 0.0, 1.0, 0.5]})
    # a: the 0 at fund 1 is followed by 0.5 at fund 2, so only fund 3 is sufficient.
    assert insurance_fund_sizing.sufficient_fund(table, 0.05) == {"a": 3.0, "b": None}


def test_adl_rankings(tmp_path: Path) -> None:
    out = tmp_path / "adl"
    assert quick(adl_rankings, out) == 0
    runs = check_runs(out, 4)  # 2 rules x 2 replications
    assert set(runs["variant"]) == {"bitmex", "profit"}
    for name in ("adl_haircuts", "adl_overuse"):
        check_chart(out, name)
    assert (runs["adl_events"] > 0).all()  # no fund, no fee income: ADL in every run
    # haircuts.csv has one row per deleveraged account of each run: the summary's count.
    cuts = pd.read_csv(out / "haircuts.csv")
    per_run = cuts.groupby("run_key").size()
    assert per_run.reindex(runs["run_key"]).fillna(0).tolist() == runs["adl_accounts"].tolist()
    table = pd.read_csv(out / "adl_rankings.csv")
    base = table[table["variant"] == "bitmex"]
    assert (base["diff_mean"].fillna(0) == 0).all()  # the baseline against itself


def test_phase_diagram(tmp_path: Path) -> None:
    out = tmp_path / "pd"
    assert quick(phase_diagram, out, 2, "--depth-threshold", "3") == 0
    runs = check_runs(out, 4)  # 2 shocks x 2 leverage levels x 1 replication
    check_chart(out, "phase_diagram")
    critical = pd.read_csv(out / "critical_leverage.csv").set_index("shock")["critical_leverage"]
    # Recomputed from runs.parquet: the smallest level whose mean depth reaches the threshold.
    runs["level"] = runs[phase_diagram.MIX].map(phase_diagram.leverage_level)
    means = runs.groupby([phase_diagram.SHOCK, "level"])["cascade_depth"].mean()
    assert sorted(critical.index) == sorted(set(runs[phase_diagram.SHOCK]))
    for shock, lv in critical.items():
        deep = means.loc[shock][means.loc[shock] >= 3]
        want = float(deep.index.min()) if len(deep) else math.nan
        assert (lv == want) or (math.isnan(lv) and math.isnan(want)), (shock, lv, want)
    table = pd.read_csv(out / "phase_diagram.csv")
    assert sorted(table["leverage_level"].unique()) == [3.0, 20.0]


def test_mm_withdrawal(tmp_path: Path) -> None:
    out = tmp_path / "mm"
    assert quick(mm_withdrawal, out) == 0
    runs = check_runs(out, 8)  # 2 half-lives x 2 variants x 2 replications
    check_chart(out, "mm_withdrawal")
    # Both markets' half-lives moved together (a zip axis).
    btc, eth = (f"venues.cex.markets.{m}.withdrawal.half_life" for m in mm_withdrawal.MARKETS)
    assert (runs[btc] == runs[eth]).all()
    table = pd.read_csv(out / "mm_withdrawal.csv")
    runs["half_life_s"] = runs[btc].map(sx.seconds)
    means = runs.groupby(["variant", "half_life_s"])["amplification"].mean()
    got = table.set_index(["variant", "half_life_s"])["amplification_mean"]
    assert got.to_dict() == pytest.approx(means.to_dict())
    # With withdrawal off the half-life cannot matter: same seeds, identical runs.
    off = runs[runs["variant"] == "no_withdrawal"].pivot(index="replication",
                                                          columns="half_life_s",
                                                          values="liquidated_notional")
    assert np.allclose(off.to_numpy(), off.to_numpy()[:, :1])
    assert (table.loc[table["variant"] == "no_withdrawal", "added_amplification"] == 0).all()


def test_contagion(tmp_path: Path) -> None:
    out = tmp_path / "contagion"
    assert quick(contagion, out) == 0
    runs = check_runs(out, 16)  # 2 capitals x 2 latencies x 2 variants x 2 replications
    check_chart(out, "contagion")
    check_chart(out, "contagion_cascade")
    table = pd.read_csv(out / "contagion.csv")
    # The table's extra liquidations are the paired differences of the runs.
    runs["latency_s"] = runs[contagion.LATENCY].map(sx.seconds)
    keys = ["variant", contagion.CAPITAL, "latency_s", "replication"]
    deep = runs.set_index(keys)["deep.liquidations"]
    extra = (deep.xs("arbitrage") - deep.xs("no_arbitrage")).groupby(level=[0, 1]).mean()
    got = table.set_index(["capital", "latency_s"])["deep_extra"]
    assert got.to_dict() == pytest.approx(extra.to_dict())
    # An arbitrageur that never trades: every cell is the same run, replication by replication.
    off = runs[runs["variant"] == "no_arbitrage"].pivot_table(
        index="replication", columns=[contagion.CAPITAL, "latency_s"],
        values="liquidated_notional")
    assert np.allclose(off.to_numpy(), off.to_numpy()[:, :1])
    assert (runs.loc[runs["variant"] == "no_arbitrage", "deep.cross_venue_share"] == 0).all()
    # With capital to carry it, some of deep's cascade is lev's.
    rich = runs[(runs["variant"] == "arbitrage") & (runs[contagion.CAPITAL] == 1e7)]
    assert (rich["deep.cross_venue_share"] > 0).all()


def test_depeg(tmp_path: Path) -> None:
    out = tmp_path / "depeg"
    assert quick(depeg, out) == 0
    runs = check_runs(out, 32)  # 2 depths x 2 shares x 2 haircuts x 2 variants x 2 replications
    check_chart(out, "depeg")
    table = pd.read_csv(out / "depeg.csv")
    # The table's extra liquidations are the paired differences of the runs.
    keys = ["variant", depeg.MOVE, depeg.SHARE, depeg.HAIRCUT, "replication"]
    liq = runs.set_index(keys)["liquidations"]
    extra = (liq.xs("depeg") - liq.xs("no_depeg")).groupby(level=[0, 1, 2]).mean()
    extra.index = extra.index.set_levels(-extra.index.levels[0], level=0)  # move -> depth
    got = table.set_index(["depth", "share", "haircut"])["extra_liquidations"]
    assert got.to_dict() == pytest.approx(extra.to_dict())
    # A depeg that never happens: every cell is the same run, replication by replication
    # (the coin's fundamental does not move, so neither its share nor its haircut matters).
    off = runs[runs["variant"] == "no_depeg"].pivot_table(
        index="replication", columns=[depeg.MOVE, depeg.SHARE, depeg.HAIRCUT],
        values="liquidated_notional")
    assert np.allclose(off.to_numpy(), off.to_numpy()[:, :1])
    # The depeg never lowers liquidations (the same traders, only their collateral lost
    # value), and the deeper depeg on the larger share liquidates more.
    assert (table["extra_liquidations"] >= 0).all()
    by = table.set_index(["depth", "share", "haircut"])["extra_liquidations"]
    assert by[(0.10, 1.0, 0.0)] > by[(0.03, 1.0, 0.0)]
    assert by[(0.10, 1.0, 0.0)] > by[(0.10, 0.5, 0.0)]
    # The haircut only grosses up the holdings: a trader's loss is share x depth of its
    # credited margin, so the haircut changes nothing.
    on = runs[runs["variant"] == "depeg"].set_index(keys[1:])["liquidations"]
    assert on.xs(0.0, level=depeg.HAIRCUT).to_dict() == on.xs(0.05, level=depeg.HAIRCUT).to_dict()


def test_historical_replay_without_data(tmp_path: Path, capsys) -> None:
    missing = tmp_path / "nowhere"
    code = historical_replay.main(["--data", str(missing), "--out", str(tmp_path / "hr"),
                                   "--no-report"])
    assert code == 0
    out = capsys.readouterr().out
    for day in historical_replay.DAYS:
        assert f"BTCUSDT-1m-{day}.csv" in out
    assert str(missing) in out and "skipped" in out
    assert not (tmp_path / "hr" / "runs.parquet").exists()


def test_historical_replay(tmp_path: Path) -> None:
    if not all(historical_replay.kline_file(historical_replay.DATA, d).is_file()
               for d in historical_replay.DAYS):
        pytest.skip(f"kline files not in {historical_replay.DATA}")
    out = tmp_path / "hr"
    assert quick(historical_replay, out) == 0
    runs = check_runs(out, 3)  # 3 days x 1 mechanism x 1 replication
    check_chart(out, "historical_replay")
    # The replayed fundamental is the real path: its drawdown is the data's, day by day.
    real = pd.read_csv(out / "real_windows.csv").set_index("day")["real_drawdown"]
    runs["day"] = runs[historical_replay.CSV].map(historical_replay.day_of)
    sim = runs.set_index("day")["cex:BTC-PERP.exogenous_drawdown"]
    assert sim.to_dict() == pytest.approx(real.to_dict(), rel=1e-9)
    assert real["2021-05-19"] == pytest.approx(0.29, abs=0.01)
    # BTC starts at each file's first open, so the replay keeps real price levels.
    opens = runs.set_index("day")["assets.BTC.price"]
    assert opens["2020-03-12"] == 7650.78 and opens["2025-10-10"] == 117590.8


# ------------------------------------------------------------------ compare --scenarios


def test_compare_mechanisms_over_several_scenarios(tmp_path: Path, capsys) -> None:
    other = tmp_path / "small_b.yaml"
    other.write_text(SMALL.read_text().replace("name: small\n", "name: small_b\n", 1))
    out = tmp_path / "cmp"
    code = compare_mechanisms.main([
        "--scenarios", f"{SMALL},{other}", "--set", "duration=2m", "--seeds", "1",
        "--variant", "a=", "--out", str(out), "--n-boot", "50", "--metrics", "cascade_depth",
    ])
    assert code == 0
    for name in ("small", "small_b"):
        assert len(pd.read_csv(out / name / "runs.csv")) == 1
        assert (out / name / "summary.md").exists()
    assert "=== scenario small_b ===" in capsys.readouterr().out


def test_compare_mechanisms_scenario_options(tmp_path: Path, capsys) -> None:
    args = ["--out", str(tmp_path), "--variant", "a="]
    # A bad name fails before anything runs; so does asking for two kinds of scenario list.
    assert compare_mechanisms.main([*args, "--scenarios", f"{SMALL},no_such"]) == 2
    assert compare_mechanisms.main([*args, "--scenario", str(SMALL), "--all-scenarios"]) == 2
    err = capsys.readouterr().err
    assert "no_such" in err and "only one of" in err
    assert not any(tmp_path.iterdir())
    for name in compare_mechanisms.ALL_SCENARIOS:
        assert compare_mechanisms.resolve_scenario(name).name == name


def test_compare_mechanisms_quick_writes_a_sweep_folder_and_resumes(tmp_path: Path,
                                                                    capsys) -> None:
    args = ["--scenario", str(SMALL), "--quick", "--variant", "a=", "--out", str(tmp_path),
            "--n-boot", "50", "--metrics", "cascade_depth"]
    assert compare_mechanisms.main(args) == 0
    meta = json.loads((tmp_path / "compare.json").read_text())
    assert meta["seeds"] == [0, 1] and meta["base_scenario"]["duration"] == "5m"
    for name in ("sweep.yaml", "manifest.json", "runs.parquet", "statistics.parquet"):
        assert (tmp_path / name).exists(), name
    assert "(0 already complete, 2 to run)" in capsys.readouterr().out
    assert compare_mechanisms.main(args) == 0  # a rerun finds every run complete
    assert "(2 already complete, 0 to run)" in capsys.readouterr().out
    assert len(pd.read_csv(tmp_path / "runs.csv")) == 2
