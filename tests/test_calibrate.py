"""Tests for ``liqsim calibrate``: the spec's checks, the objective and CI arithmetic, recovery
of a known parameter from synthetic targets, determinism, and the command end to end."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
import yaml

from simulator.calibrate import (
    CalibrationError,
    calibrate,
    load_calibration,
    mean_ci,
    parse_calibration,
)
from simulator.calibrate.search import PENALTY, objective
from simulator.calibrate.spec import Parameter, Target, assignment
from simulator.config import load_scenario
from simulator.config.scenarios import load_builtin
from simulator.run.runner import run
from tests.conftest import flat, invoke

# The default world, small and short: ~0.15 s a run.
SMALL = ["duration=4m", "populations.retail.count=300", "populations.whales.count=2"]
LONG_SHARE = "populations.retail.long_share"


def spec_data(**changes) -> dict:
    data = {"scenario": "default", "set": SMALL, "seeds": 2,
            "parameters": [{"path": LONG_SHARE, "low": 0.5, "high": 0.95}],
            "targets": [{"metric": "liquidated_notional", "value": 6e5}],
            "max_evaluations": 4}
    return {**data, **changes}


def write_spec(tmp_path, **changes):
    path = tmp_path / "calib.yaml"
    path.write_text(yaml.safe_dump(spec_data(**changes)))
    return path


def observed(overrides: list[str], seeds=(1, 2)) -> float:
    """The mean liquidated notional of the small world with ``overrides`` at ``seeds``."""
    sc = load_builtin("default").with_overrides(SMALL + overrides)
    return float(np.mean([run(sc, s).summary["liquidated_notional"] for s in seeds]))


# --- arithmetic ------------------------------------------------------------------------------
def test_ci_of_one_two_three_by_hand():
    mean, sd, half = mean_ci([1.0, 2.0, 3.0])
    assert mean == 2.0 and sd == pytest.approx(1.0)
    # t(0.975, 2) = 4.302653; 4.302653 / sqrt(3) = 2.48414
    assert half == pytest.approx(2.48414, abs=1e-5)
    mean, sd, half = mean_ci([5.0])
    assert mean == 5.0 and math.isnan(sd) and math.isnan(half)


def test_objective_weights_relative_and_absolute_misses():
    targets = [Target(metric="a", value=100.0, weight=2), Target(metric="b", value=0.0)]
    # 2 x (110/100 - 1)^2 + 1 x (0.3 - 0)^2 = 0.02 + 0.09
    assert objective([110.0, 0.3], targets) == pytest.approx(0.11)
    assert objective([100.0, 0.0], targets) == 0.0
    assert objective([math.nan, 0.0], targets) == PENALTY


def test_parameter_scales_round_and_clip():
    log = Parameter(path="x", low=1.0, high=100.0, log=True)
    assert log.value(0.5) == pytest.approx(10.0) and log.unit(10.0) == pytest.approx(0.5)
    count = Parameter(path="x", low=99.5, high=200.2, integer=True)
    assert count.value(0.0) == 100 and count.value(1.0) == 200  # kept inside the bounds
    assert count.value(0.5) == 150 and isinstance(count.value(0.5), int)
    assert Parameter(path="x", low=0.0, high=1.0).value(1.7) == 1.0
    assert assignment("a.b", 1e-5) == "a.b=1.0e-05"  # PyYAML reads 1e-05 as a string
    assert yaml.safe_load(assignment("a", 1e-5).split("=")[1]) == 1e-5


# --- the spec's checks -----------------------------------------------------------------------
@pytest.mark.parametrize(("change", "message"), [
    ({"parameters": [{"path": LONG_SHARE, "low": 0.9, "high": 0.5}]},
     "parameters[0]: low (0.9) must be below high (0.5)"),
    ({"parameters": [{"path": LONG_SHARE, "low": 0.0, "high": 0.5, "log": True}]},
     "parameters[0].low: a log-scaled parameter needs low > 0"),
    ({"method": "nelder_mead"}, "method: unknown method 'nelder_mead', did you mean "
                                "'nelder-mead'?"),
    ({"targets": [{"metric": "liquidations", "ratio": ["a", "b"], "value": 1}]},
     "targets[0]: a target has either `metric`"),
    ({"targets": [{"value": 1}]}, "not neither"),
    ({"targets": [{"metric": "liquidations", "value": 1, "weight": 0}]},
     "targets[0].weight: Input should be greater than 0"),
    ({"seeds": 0}, "seeds: a number of seeds must be at least 1"),
    ({"targets": [{"metric": "liquidations", "value": 1},
                  {"metric": "liquidations", "value": 2}]},
     "targets (name): must be unique, repeated: liquidations"),
    ({"max_evals": 3}, "max_evals: unknown key (not part of the calibration format), did you "
                       "mean 'max_evaluations'?"),
])
def test_bad_spec_gets_one_clear_line(change, message):
    with pytest.raises(CalibrationError) as exc:
        parse_calibration(spec_data(**change))
    assert message in flat(str(exc.value))


def test_seed_count_and_default_target_names():
    spec = parse_calibration(spec_data(seeds=3, targets=[
        {"ratio": ["liquidated_long_notional", "liquidated_notional"], "value": 0.9}]))
    assert spec.seeds == [1, 2, 3]
    assert spec.targets[0].name == "liquidated_long_notional/liquidated_notional"


@pytest.mark.parametrize(("parameter", "message"), [
    ({"path": "populations.retail.nope", "low": 1, "high": 2},
     "parameters[0] (populations.retail.nope): the scenario cannot take it at its midpoint 1.5"),
    ({"path": "populations.nobody.count", "low": 1, "high": 2},
     "no item named 'nobody'"),
    ({"path": LONG_SHARE, "low": 0.5, "high": 1.5},
     f"parameters[0] ({LONG_SHARE}): the scenario cannot take it at its high bound 1.5"),
])
def test_a_path_the_scenario_cannot_take_fails_at_load(tmp_path, parameter, message):
    with pytest.raises(CalibrationError) as exc:
        load_calibration(write_spec(tmp_path, parameters=[parameter]))
    assert message in flat(str(exc.value))


def test_unknown_summary_key_names_close_matches():
    spec = parse_calibration(spec_data(max_evaluations=1, targets=[
        {"metric": "liquidated_notionl", "value": 1e6}]))
    with pytest.raises(CalibrationError) as exc:
        calibrate(spec, spec.base_scenario())
    text = str(exc.value)
    assert text.startswith("targets[0].metric: 'liquidated_notionl' is not a key of the run "
                           "summary; close matches: liquidated_notional")


# --- the search ------------------------------------------------------------------------------
def test_recovers_a_known_long_share():
    truth = 0.8
    target = observed([f"{LONG_SHARE}={truth}"])
    spec = parse_calibration(spec_data(
        parameters=[{"path": LONG_SHARE, "low": 0.5, "high": 0.95, "start": 0.55}],
        targets=[{"metric": "liquidated_notional", "value": target}], max_evaluations=20))
    fit = calibrate(spec, spec.base_scenario())
    (param,) = fit.parameters
    assert abs(param["value"] - truth) < 0.05
    assert param["at_bound"] == ""
    (achieved,) = fit.targets
    assert abs(achieved["mean"] / target - 1) < 0.05
    assert achieved["n"] == 2 and achieved["ci_low"] < achieved["mean"] < achieved["ci_high"]
    # The fit's figures are those of its best evaluation, which is the history's minimum.
    best = fit.history.iloc[fit.best]
    assert best["objective"] == fit.history["objective"].min() == fit.objective
    assert best[f"mean:{achieved['name']}"] == achieved["mean"]
    assert fit.fitted.populations[0].long_share == param["value"]
    assert 1 <= fit.evaluations <= 20 and len(fit.history) == fit.evaluations
    # The cache: no point is run twice, however often the search comes back to it.
    assert fit.history[f"param:{LONG_SHARE}"].is_unique and fit.calls >= fit.evaluations


def test_same_spec_same_history_whatever_the_workers():
    spec = parse_calibration(spec_data(
        parameters=[{"path": "populations.retail.count", "low": 100, "high": 400,
                     "integer": True}],
        targets=[{"metric": "liquidated_notional", "value": 6e5}], max_evaluations=6))
    first = calibrate(spec, spec.base_scenario())
    again = calibrate(spec, spec.base_scenario())
    pooled = calibrate(spec, spec.base_scenario(), workers=2)
    pd.testing.assert_frame_equal(first.history, again.history)
    pd.testing.assert_frame_equal(first.history, pooled.history)
    assert first.parameters == pooled.parameters
    counts = first.history["param:populations.retail.count"]
    assert counts.dtype == np.int64
    assert counts.is_unique  # a point that rounds to a count already run is not run again
    assert first.calls >= first.evaluations


def test_a_differential_evolution_is_seeded():
    data = spec_data(method="differential-evolution", max_evaluations=5, seeds=[1])
    spec_a, spec_b = parse_calibration(data), parse_calibration({**data, "search_seed": 1})
    a, a_again = (calibrate(spec_a, spec_a.base_scenario()) for _ in range(2))
    b = calibrate(spec_b, spec_b.base_scenario())
    pd.testing.assert_frame_equal(a.history, a_again.history)
    assert not np.array_equal(a.history[f"param:{LONG_SHARE}"], b.history[f"param:{LONG_SHARE}"])
    assert not a.success and "max_evaluations (5)" in a.message


def fake_runs(monkeypatch) -> list[int]:
    """Replace the simulation by a summary of $2,000 liquidated per retail trader (seed 2:
    $2,200); returns the list of counts run, one entry per (point, seed)."""
    import simulator.calibrate.search as search

    ran: list[int] = []

    def run_one(scenario, seed, run_dir):
        count = scenario.populations[0].count
        ran.append(count)
        return {"status": "complete", "error": None,
                "summary": {"liquidated_notional": count * (2000.0 if seed == 1 else 2200.0)}}

    monkeypatch.setattr(search, "run_one", run_one)
    return ran


def test_integer_points_are_cached_and_recovered(monkeypatch):
    ran = fake_runs(monkeypatch)
    spec = parse_calibration(spec_data(
        parameters=[{"path": "populations.retail.count", "low": 100, "high": 1000,
                     "integer": True}],
        targets=[{"metric": "liquidated_notional", "value": 321 * 2100.0}],
        max_evaluations=40))
    fit = calibrate(spec, spec.base_scenario())
    assert fit.parameters[0]["value"] == 321 and fit.objective == 0.0
    assert fit.success  # converged inside the budget
    assert len(ran) == 2 * fit.evaluations  # every evaluation ran both seeds, once
    assert sorted(set(ran)) == sorted(fit.history["param:populations.retail.count"])
    assert fit.calls > fit.evaluations  # the search came back to rounded points: cache hits
    # per seed 642,000 and 706,200: mean 674,100, sd 45,396.3, half-width 12.7062 x sd / sqrt 2
    (t,) = fit.targets
    assert t["mean"] == pytest.approx(674_100.0)
    assert t["half_width"] == pytest.approx(12.7062 * 64_200 / math.sqrt(2) / math.sqrt(2),
                                            rel=1e-4)


def test_a_fit_at_a_bound_says_so(monkeypatch):
    fake_runs(monkeypatch)
    spec = parse_calibration(spec_data(
        parameters=[{"path": "populations.retail.count", "low": 100, "high": 1000,
                     "integer": True}],
        targets=[{"metric": "liquidated_notional", "value": 5e6}], max_evaluations=30))
    fit = calibrate(spec, spec.base_scenario())
    assert fit.parameters[0]["value"] >= 991 and fit.parameters[0]["at_bound"] == "high"


# --- the command -----------------------------------------------------------------------------
def test_calibrate_command_end_to_end(tmp_path):
    spec = write_spec(tmp_path)
    out = tmp_path / "out"
    result = invoke("calibrate", spec, "--out", out)
    assert result.exit_code == 0, result.output
    assert "target vs achieved" in flat(result.output)
    fit = json.loads((out / "fit.json").read_text())
    fitted_share = fit["parameters"][0]["value"]
    assert fit["evaluations"] == len(pd.read_parquet(out / "history.parquet")) <= 4
    assert fit["seeds"] == [1, 2] and fit["targets"][0]["n"] == 2
    assert len(fit["targets"][0]["per_seed"]) == 2
    assert (out / "fit.png").stat().st_size > 0
    md = (out / "fit.md").read_text()
    assert "| target | value | achieved mean | 95% CI | rel. error |" in md
    assert f"`{LONG_SHARE}`" in md
    scenario = load_scenario(out / "fitted.yaml")
    assert scenario.populations[0].long_share == fitted_share
    assert scenario.populations[0].count == 300 and scenario.duration == 240_000  # the `set`
    ran = invoke("run", out / "fitted.yaml", "--no-figures", "--seed", "1", "--out",
                 tmp_path / "run")
    assert ran.exit_code == 0, ran.output


def test_calibrate_command_options_override_the_file(tmp_path):
    out = tmp_path / "out"
    result = invoke("calibrate", write_spec(tmp_path), "--out", out, "--seeds", "1",
                    "--max-evaluations", "2", "--no-figures")
    assert result.exit_code == 0, result.output
    fit = json.loads((out / "fit.json").read_text())
    assert fit["seeds"] == [1] and fit["evaluations"] == 2
    assert fit["targets"][0]["half_width"] is None  # one seed: no CI (NaN, JSON null)
    assert "– (one seed)" in (out / "fit.md").read_text()
    assert not (out / "fit.png").exists()


def test_calibrate_command_refuses_bad_input(tmp_path):
    bad = write_spec(tmp_path, method="simplex")
    result = invoke("calibrate", bad)
    assert result.exit_code == 2
    assert "method: unknown method 'simplex'" in flat(result.output)
    scenario = tmp_path / "scenario.yaml"
    scenario.write_text(yaml.safe_dump(load_builtin("default").to_dict()))
    result = invoke("calibrate", scenario)
    assert result.exit_code == 2 and "is a scenario, not a calibration" in flat(result.output)
    result = invoke("calibrate", tmp_path / "missing.yaml")
    assert result.exit_code == 2 and "cannot read calibration file" in flat(result.output)


def test_the_example_calibration_loads():
    from pathlib import Path

    example = Path(__file__).resolve().parent.parent / "experiments" / "calibrations"
    spec, base = load_calibration(example / "flash_crash_liquidations.yaml")
    assert base.name == "flash_crash" and base.duration == 6 * 60_000  # its `set` applied
    assert spec.seeds == [1, 2] and [p.path for p in spec.parameters] == [
        "populations.retail.count", LONG_SHARE]
