"""Tests for the mechanism comparison: statistics on hand-made frames, ADL fairness from a
hand-made event log, common random numbers on a small scenario (variants that differ only in
a parameter with no effect give identical rows), worker-count independence, failed runs, the
charts and the experiment script."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from experiments import compare_mechanisms
from simulator import RunFailed, Scenario, ScenarioError, load_scenario
from simulator.charts.compare import CHARTS, write_charts
from simulator.run.adl_fairness import adl_haircuts, fairness_metrics, gini
from simulator.sweep import compare as cmp
from simulator.sweep import execute
from simulator.sweep.compare import Variant, compare, markdown_table, summarize, variant_scenario

SMALL = Path(__file__).parent / "data" / "scenario_small.yaml"
# 2 minutes keep the -10% shock at 1m and its cascade; the funding interval (8h by default)
# never comes round, so changing it changes nothing: the control variant for CRN.
SHORT = ["duration=2m"]
SAME = [Variant("a"), Variant("b", ("venues.v.funding.interval=12h",))]
SEEDS = [1, 2]


def frame(values: dict[str, list[float]], metric: str = "x", seeds=None) -> pd.DataFrame:
    rows = []
    for name, xs in values.items():
        for seed, x in zip(seeds or range(len(xs)), xs, strict=True):
            rows.append({"variant": name, "seed": seed, "status": "complete", "error": None,
                         metric: x})
    return pd.DataFrame(rows)


# ------------------------------------------------------------------------------ summarize


def test_summarize_exact_paired_difference():
    s = summarize(frame({"base": [1, 2, 3], "v": [2, 3, 4]}), ["x"], "base").set_index("variant")
    assert s.loc["v", "n"] == 3 and s.loc["v", "mean"] == 3.0 and s.loc["v", "std"] == 1.0
    assert (s.loc["v", "diff_mean"], s.loc["v", "diff_ci_low"], s.loc["v", "diff_ci_high"]) \
        == (1.0, 1.0, 1.0)
    assert s.loc["v", "share_higher"] == 1.0 and s.loc["v", "share_lower"] == 0.0
    assert s.loc["v", "ci_low"] >= 2.0 and s.loc["v", "ci_high"] <= 4.0
    # The baseline against itself: no difference, every seed equal.
    assert (s.loc["base", "diff_mean"], s.loc["base", "diff_ci_low"]) == (0.0, 0.0)
    assert s.loc["base", "share_equal"] == 1.0


def test_summarize_bootstrap_is_deterministic_and_keyed_by_name():
    rng = np.random.default_rng(5)
    runs = frame({"base": list(rng.normal(size=12)), "v": list(rng.normal(1, 1, 12))})
    one = summarize(runs, ["x"], "base", rng_seed=3)
    pd.testing.assert_frame_equal(one, summarize(runs, ["x"], "base", rng_seed=3))
    other = summarize(runs, ["x"], "base", rng_seed=4)
    assert not np.allclose(one["ci_low"], other["ci_low"])
    # Adding a variant leaves the other cells' intervals as they were.
    more = pd.concat([runs, frame({"w": list(rng.normal(size=12))})], ignore_index=True)
    pd.testing.assert_frame_equal(summarize(more, ["x"], "base", rng_seed=3).iloc[:2], one)
    ci = one.set_index("variant")
    assert (ci["ci_low"] <= ci["mean"]).all() and (ci["mean"] <= ci["ci_high"]).all()


def test_summarize_drops_nans_and_failed_runs():
    runs = frame({"base": [1.0, np.nan, 3.0, 5.0], "v": [2.0, 2.0, np.nan, 5.0]})
    runs.loc[(runs["variant"] == "v") & (runs["seed"] == 3), "status"] = "failed"
    s = summarize(runs, ["x"], "base").set_index("variant")
    assert s.loc["base", "n"] == 3 and s.loc["base", "mean"] == 3.0
    assert s.loc["v", "n"] == 2 and s.loc["v", "mean"] == 2.0
    # Paired over seeds both have finite and complete: only seed 0 (2 - 1).
    assert s.loc["v", "n_paired"] == 1 and s.loc["v", "diff_mean"] == 1.0
    empty = summarize(frame({"base": [np.nan], "v": [np.nan]}), ["x"], "base")
    assert (empty["n"] == 0).all() and empty["mean"].isna().all()
    assert empty["diff_ci_low"].isna().all()


def test_summarize_rejects_bad_input():
    runs = frame({"base": [1.0], "v": [2.0]})
    with pytest.raises(ValueError, match="baseline"):
        summarize(runs, ["x"], "nope")
    with pytest.raises(ValueError, match="metric"):
        summarize(runs, ["y"], "base")
    assert "| x | v | 1 |" in markdown_table(summarize(runs, ["x"], "base"), "base")


# --------------------------------------------------------------------------- ADL fairness


def test_adl_haircuts_per_account_from_events():
    nan = np.nan
    events = pd.DataFrame({
        "kind": ["liquidation", "adl", "adl", "adl", "adl", "adl"],
        "venue": ["v", "v", "v", "v", "w", "v"],
        "account": [9, 1, 1, 2, 1, 3],
        "qty": [5.0, -1.0, 2.0, 1.0, 1.0, 1.0],
        "price": [100.0] * 6,
        "amount": [999.0, 10.0, 5.0, 3.0, 4.0, 2.0],
        "balance": [nan, 40.0, 20.0, 0.0, 8.0, nan],
    })
    h = adl_haircuts(events).set_index(["venue", "account"])
    assert list(h.index) == [("v", 1), ("v", 2), ("v", 3), ("w", 1)]
    assert h.loc[("v", 1), ["adl_events", "qty", "haircut", "profit_closed", "haircut_share"]] \
        .tolist() == [2, 3.0, 15.0, 60.0, 0.25]
    assert h.loc[("v", 2), "profit_closed"] == 0.0 and math.isnan(h.loc[("v", 2), "haircut_share"])
    assert math.isnan(h.loc[("v", 3), "profit_closed"])  # profit not recorded
    assert h.loc[("w", 1), "haircut_share"] == 0.5
    fair = fairness_metrics(h.reset_index())
    assert fair["adl_share_pooled"] == pytest.approx((15 + 4) / (60 + 8))
    assert fair["adl_share_mean"] == pytest.approx(0.375)
    assert fair["adl_share_std"] == pytest.approx(0.125)
    assert fair["adl_haircut_gini"] == pytest.approx(gini(np.array([15.0, 3.0, 2.0, 4.0])))
    assert gini(np.array([3.0, 15.0])) == pytest.approx(1 / 3)


def test_adl_haircuts_without_profit_or_adl():
    events = pd.DataFrame({"kind": ["adl"], "venue": ["v"], "account": [4], "qty": [1.0],
                           "amount": [7.0]})  # an older log: no balance column at all
    h = adl_haircuts(events)
    assert h["haircut"].tolist() == [7.0] and h["haircut_share"].isna().all()
    fair = fairness_metrics(h)
    assert math.isnan(fair["adl_share_pooled"]) and fair["adl_haircut_gini"] == 0.0
    assert adl_haircuts(events.assign(kind="trade")).empty
    assert all(math.isnan(v) for v in fairness_metrics(adl_haircuts(None)).values())


# ------------------------------------------------------------------------- running


@pytest.fixture(scope="module")
def small() -> Scenario:
    return load_scenario(SMALL).with_overrides(SHORT)


@pytest.fixture(scope="module")
def same(small) -> cmp.Comparison:
    return compare(small, SAME, SEEDS)


def test_common_random_numbers_give_identical_rows(same):
    runs = same.runs
    assert list(zip(runs["variant"], runs["seed"], strict=True)) == \
        [("a", 1), ("a", 2), ("b", 1), ("b", 2)]
    assert (runs["status"] == "complete").all(), runs["error"].tolist()
    assert runs["liquidations"].gt(0).all()  # the control is only meaningful with a cascade
    metrics = [c for c in runs.columns if c not in cmp.ID_COLUMNS]
    a = runs[runs["variant"] == "a"][metrics].reset_index(drop=True)
    b = runs[runs["variant"] == "b"][metrics].reset_index(drop=True)
    pd.testing.assert_frame_equal(a, b)
    hc = same.haircuts.drop(columns="variant")
    pd.testing.assert_frame_equal(hc[same.haircuts["variant"] == "a"].reset_index(drop=True),
                                  hc[same.haircuts["variant"] == "b"].reset_index(drop=True))
    s = same.summary().set_index(["variant", "metric"])
    assert (s.loc["b", "diff_mean"].dropna() == 0).all()


def test_worker_count_does_not_change_results(small, same):
    two = compare(small, SAME, list(reversed(SEEDS)), workers=2)
    pd.testing.assert_frame_equal(two.runs, same.runs)
    pd.testing.assert_frame_equal(two.haircuts, same.haircuts)


def test_failed_run_is_recorded_and_comparison_goes_on(small, monkeypatch):
    real = execute.run

    def flaky(scenario, seed):
        if scenario.venues[0].insurance_fund == 12345 and seed == 1:
            raise RunFailed("boom", None)
        return real(scenario, seed)

    monkeypatch.setattr(execute, "run", flaky)
    seen = []
    out = compare(small, [Variant("ok"), Variant("bad", ("venues.v.insurance_fund=12345",))],
                  [1], progress=lambda done, total: seen.append((done, total)))
    runs = out.runs.set_index("variant")
    assert runs.loc["ok", "status"] == "complete" and runs.loc["bad", "status"] == "failed"
    assert runs.loc["bad", "error"] == "RunFailed: boom"
    assert seen == [(1, 2), (2, 2)]
    s = out.summary()
    assert (s[s["variant"] == "bad"]["n"] == 0).all()


def test_bad_variant_raises_before_running(small):
    with pytest.raises(ScenarioError, match="variant 'x'"):
        compare(small, [Variant("x", ("venues.v.nonsense=1",))], [0])
    with pytest.raises(ValueError, match="unique"):
        compare(small, [Variant("a"), Variant("a")], [0])


def test_presets(small):
    assert variant_scenario(small, Variant("bx", preset="bitmex")) != small
    with pytest.raises(ScenarioError, match="variant 'zz'"):
        variant_scenario(small, Variant("zz", preset="no_such_venue"))


# --------------------------------------------------------------------- charts and script


def test_charts_are_written(same, tmp_path):
    summary = same.summary()  # a few metrics suffice for a smoke test (each panel costs time)
    summary = summary[summary["metric"].isin(["cascade_depth", "bad_debt", "amplification"])]
    paths = write_charts(summary, same.haircuts, tmp_path, "a", ["a", "b"], title="t")
    assert sorted(p.name for p in paths) == sorted(f"{c}.{f}" for c in CHARTS
                                                   for f in ("png", "pdf"))
    for p in paths:
        head = p.read_bytes()[:4]
        assert head == (b"\x89PNG" if p.suffix == ".png" else b"%PDF"), p


def test_script_writes_its_outputs(tmp_path, capsys):
    code = compare_mechanisms.main([
        "--scenario", str(SMALL), "--set", SHORT[0], "--seeds", "2", "--seed-start", "1",
        "--variant", "a=", "--variant", "b=venues.v.funding.interval=12h",
        "--out", str(tmp_path), "--n-boot", "200", "--metrics", "cascade_depth,bad_debt,nope",
    ])
    assert code == 0
    for name in ("runs.csv", "summary.csv", "summary.md", "haircuts.csv", "compare.json"):
        assert (tmp_path / name).stat().st_size > 0, name
    assert all((tmp_path / "figures" / f"{c}.png").exists() for c in CHARTS)
    meta = json.loads((tmp_path / "compare.json").read_text())
    assert meta["seeds"] == [1, 2] and meta["baseline"] == "a"
    assert meta["base_scenario"]["duration"] == "2m"
    assert [v["name"] for v in meta["variants"]] == ["a", "b"]
    assert len(pd.read_csv(tmp_path / "runs.csv")) == 4
    out = capsys.readouterr().out
    assert "| cascade depth (generations) | b |" in out
    assert "[4/4]" in out and "ignored: nope" in out


def test_script_rejects_bad_options(tmp_path, capsys):
    args = ["--scenario", str(SMALL), "--out", str(tmp_path)]
    assert compare_mechanisms.main([*args, "--variant", "a=", "--baseline", "zz"]) == 2
    assert compare_mechanisms.main([*args, "--presets", "no_such_venue"]) == 2
    err = capsys.readouterr().err
    assert "--baseline 'zz'" in err
    assert "no_such_venue" in err or "with_preset is missing" in err


# ------------------------------------------------------------- one engine with the sweep


def test_numbers_equal_direct_runs(small, same):
    """A comparison's rows are the runs' own summaries: run(variant_scenario, seed)."""
    from simulator.run.runner import run

    for v in SAME:
        for seed in SEEDS:
            direct = run(variant_scenario(small, v), seed).summary
            row = same.runs[(same.runs["variant"] == v.name) & (same.runs["seed"] == seed)]
            assert len(row) == 1
            row = row.iloc[0]
            for key, value in direct.items():
                if key == "units" or not isinstance(value, int | float | np.number):
                    continue
                got = row[key]
                if isinstance(value, float | np.floating) and not math.isfinite(value):
                    assert got is None or not math.isfinite(got), key
                else:
                    assert got == value, key


def test_variant_is_the_sweep_variant():
    from simulator.sweep.spec import Variant as SpecVariant

    v = Variant("b", ("venues.v.funding.interval=12h",), "bitmex")
    assert isinstance(v, SpecVariant) and v.set == ["venues.v.funding.interval=12h"]
    assert v.overrides == ("venues.v.funding.interval=12h",) and v.preset == "bitmex"
    assert Variant(name="b", set=["a=1"]).overrides == ("a=1",)


def test_comparison_folder_resumes(small, same, tmp_path):
    """With a folder: the sweep format, the same rows, and a rerun skips every run."""
    first = compare(small, SAME, SEEDS, out_dir=tmp_path)
    assert (first.skipped, first.ran) == (0, 4)
    for name in ("sweep.yaml", "base_scenario.yaml", "manifest.json", "runs.parquet",
                 "statistics.parquet", "haircuts.parquet", "summary.md"):
        assert (tmp_path / name).stat().st_size > 0, name
    pd.testing.assert_frame_equal(first.runs, same.runs)
    pd.testing.assert_frame_equal(first.haircuts, same.haircuts)
    again = compare(small, SAME, SEEDS, out_dir=tmp_path)
    assert (again.skipped, again.ran) == (4, 0)
    pd.testing.assert_frame_equal(again.runs, same.runs)
    pd.testing.assert_frame_equal(again.haircuts, same.haircuts)
    # The folder is a sweep folder: its sweep.yaml (with the base scenario beside) plans the
    # same runs, so ``liqsim sweep <folder>/sweep.yaml --out <folder>`` resumes it too.
    from simulator.sweep import load_sweep, plan

    keys = [r.run_key for r in plan(load_sweep(tmp_path / "sweep.yaml"))]
    assert keys == list(same.runs["run_key"])


# --------------------------------------------------------------------- liqsim compare


def test_cli_compare_writes_a_sweep_folder_and_resumes(small, same, tmp_path):
    from typer.testing import CliRunner

    from simulator.cli import app

    args = ["compare", str(SMALL), "--set", SHORT[0], "--variant", "a",
            "--variant", "b=venues.v.funding.interval=12h", "--seeds", "2", "--seed-start", "1",
            "--out", str(tmp_path)]
    first = CliRunner().invoke(app, args)
    assert first.exit_code == 0, first.output
    text = " ".join(first.output.split())
    assert "4 runs; 0 already complete (skipped), 4 to run" in text
    assert "paired differences against a" in text and "(baseline)" in text
    assert "4 runs (0 skipped, 4 run), 0 failed" in text
    runs = pd.read_parquet(tmp_path / "runs.parquet")
    assert list(runs["run_key"]) == list(same.runs["run_key"])
    assert (tmp_path / "summary.md").read_text().startswith("| metric |")
    again = CliRunner().invoke(app, args)
    assert again.exit_code == 0, again.output
    assert "4 runs (4 skipped, 0 run), 0 failed" in " ".join(again.output.split())
    # The report builds from the comparison folder (a sweep folder without axes).
    from simulator.report.folders import build_folder_report

    assert build_folder_report(tmp_path).html.exists()


def test_cli_compare_several_assignments_for_one_variant(small):
    v = cmp.variants_from_options(["bitmex"], ["big=venues.v.insurance_fund=3e6", "base",
                                               "big=venues.v.liquidation.fee_rate=1%",
                                               "p=preset=okx"])
    assert [x.name for x in v] == ["bitmex", "big", "base", "p"]
    assert v[0].preset == "bitmex" and v[3].preset == "okx" and v[2].set == []
    assert v[1].set == ["venues.v.insurance_fund=3e6", "venues.v.liquidation.fee_rate=1%"]


@pytest.mark.parametrize("extra, words", [
    (["--variant", "a=venues.v.nonsense=1"], "variant 'a': venues[0].nonsense: unknown key"),
    (["--variant", "a", "--variant", "a=preset=nope"], "unknown preset 'nope'"),
    (["--variant", "b@d=duration=1m"], "variant 'b@d': name"),
    (["--preset", "okx", "--variant", "okx"], "unique, repeated: okx"),
    ([], "nothing to compare"),
    (["--variant", "a", "--seeds", "0"], "--seeds"),
])
def test_cli_compare_bad_input_is_one_line_exit_2(tmp_path, extra, words):
    from typer.testing import CliRunner

    from simulator.cli import app

    result = CliRunner().invoke(app, ["compare", str(SMALL), "--out", str(tmp_path / "x"),
                                      *extra])
    assert result.exit_code == 2, result.output
    assert words in " ".join(result.output.split())
    assert "Traceback" not in result.output and not (tmp_path / "x").exists()
