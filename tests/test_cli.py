"""Tests for the ``liqsim`` command line (simulator.cli): run, validate, scenarios and show;
bad input exits with code 2 and one message naming the field path, never a traceback."""

from __future__ import annotations

import json
import math
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml
from conftest import fail_after, flat, invoke
from typer.testing import CliRunner

from simulator.cli import app
from simulator.config import load_scenario
from simulator.errors import SimulationError
from simulator.run import catalogue

DATA = Path(__file__).parent / "data"
SMALL = DATA / "scenario_small.yaml"
FIGURES = ("price_paths", "liquidated_notional", "insurance_fund", "generations")
RUN_FILES = (
    "run.json", "summary.json", "events.parquet", "timeseries.parquet", "accounts.parquet",
    "cascade_edges.parquet", "cascade.graphml", "exposure.graphml", "market_graph.graphml",
)


@pytest.fixture(scope="module")
def small_run(tmp_path_factory):
    """One CLI run of the small scenario (seed 3, no figures), shared by several tests."""
    out = tmp_path_factory.mktemp("cli") / "run"
    result = invoke("run", SMALL, "--out", out, "--seed", "3", "--no-figures")
    return result, out


# ------------------------------------------------------------------------------------- run


def test_run_writes_the_run_folder(small_run):
    result, out = small_run
    assert result.exit_code == 0, result.output
    for name in RUN_FILES:
        assert (out / name).is_file(), name
        assert (out / name).stat().st_size > 0, name
    assert not (out / "figures").exists()
    meta = json.loads((out / "run.json").read_text())
    assert meta["status"] == "complete"
    assert meta["error"] is None
    assert meta["seed"] == 3
    assert meta["scenario"]["name"] == "small"
    assert "git_commit" in meta
    assert set(meta["libraries"]) >= {"numpy", "pandas", "simpy", "networkx", "pydantic"}
    assert meta["simulated_ms"] == 240_000


def test_run_prints_the_summary_table(small_run):
    result, out = small_run
    summary = json.loads((out / "summary.json").read_text())
    assert summary["liquidations"] > 10
    assert "liquidations" in result.stdout
    assert f"{summary['liquidations']:,}" in result.stdout
    assert "small (seed 3)" in result.stdout


def test_run_tables_match_the_summary(small_run):
    _, out = small_run
    summary = json.loads((out / "summary.json").read_text())
    events = pd.read_parquet(out / "events.parquet")
    assert int((events["kind"] == "liquidation").sum()) == summary["liquidations"]
    accounts = pd.read_parquet(out / "accounts.parquet")
    assert len(accounts) == 1 + 300  # the market maker plus the populations


def test_run_is_deterministic(small_run, tmp_path):
    _, first = small_run
    result = invoke("run", SMALL, "--out", tmp_path / "again", "--seed", "3", "--no-figures")
    assert result.exit_code == 0
    a = pd.read_parquet(first / "events.parquet")
    b = pd.read_parquet(tmp_path / "again" / "events.parquet")
    pd.testing.assert_frame_equal(a, b)


def test_run_with_figures(tmp_path):
    out = tmp_path / "fig"
    result = invoke("run", SMALL, "--out", out, "--seed", "3", "--set", "duration=2m")
    assert result.exit_code == 0, result.output
    for name in FIGURES:
        png, pdf = out / "figures" / f"{name}.png", out / "figures" / f"{name}.pdf"
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", name
        assert pdf.read_bytes()[:5] == b"%PDF-", name
    leftovers = [p.name for p in (out / "figures").iterdir() if p.name.startswith(".")]
    assert leftovers == []


def test_run_set_overrides_reach_the_run(tmp_path):
    out = tmp_path / "o"
    result = invoke("run", SMALL, "--out", out, "--no-figures",
                    "--set", "venues.0.insurance_fund=12345", "--set", "duration=90s")
    assert result.exit_code == 0, result.output
    summary = json.loads((out / "summary.json").read_text())
    meta = json.loads((out / "run.json").read_text())
    assert summary["insurance_fund_start"] == 12345
    assert meta["scenario"]["venues"][0]["insurance_fund"] == 12345
    assert meta["scenario"]["duration"] == "90s"
    assert meta["simulated_ms"] == 90_000
    assert meta["seed"] == 3  # the scenario's own seed when --seed is not given


@pytest.mark.parametrize(
    ("assignment", "words"),
    [
        ("venues.7.insurance_fund=1", "index out of range"),
        ("venues.nope.insurance_fund=1", "no item named 'nope'"),
        ("venues.v.insurance_fundd=1", "venues[0].insurance_fundd: unknown key"),
        ("venues.v.insurance_fund=lots", "venues[0].insurance_fund"),
        ("no_equals_sign", "path.to.field=value"),
    ],
)
def test_run_bad_set(tmp_path, assignment, words):
    out = tmp_path / "o"
    result = invoke("run", SMALL, "--out", out, "--no-figures", "--set", assignment)
    assert result.exit_code == 2
    assert words in flat(result.stderr)
    assert "error" in result.stderr
    assert not out.exists()


def test_run_unknown_builtin(tmp_path):
    result = invoke("run", "no-such-scenario", "--out", tmp_path / "o", "--no-figures")
    assert result.exit_code == 2
    assert "no built-in scenario 'no-such-scenario'" in flat(result.stderr)
    assert "default" in result.stderr
    assert not (tmp_path / "o").exists()


def test_run_missing_file(tmp_path):
    result = invoke("run", tmp_path / "missing.yaml", "--out", tmp_path / "o", "--no-figures")
    assert result.exit_code == 2
    assert "cannot read scenario file" in flat(result.stderr)


def test_run_negative_seed(tmp_path):
    result = invoke("run", SMALL, "--seed", "-1", "--out", tmp_path / "o", "--no-figures")
    assert result.exit_code == 2
    assert "--seed" in result.stderr
    assert not (tmp_path / "o").exists()


def test_run_check(tmp_path):
    out = tmp_path / "c"
    result = invoke("run", SMALL, "--check", "--out", out, "--no-figures", "--seed", "3")
    assert result.exit_code == 0, result.output
    assert json.loads((out / "run.json").read_text())["status"] == "complete"


def test_run_that_stops_early_writes_what_it_had(tmp_path, monkeypatch):
    fail_after(monkeypatch, 3, SimulationError("boom"))
    out = tmp_path / "f"
    result = invoke("run", SMALL, "--out", out, "--no-figures", "--seed", "3")
    assert result.exit_code == 1
    assert "boom" in result.stderr
    meta = json.loads((out / "run.json").read_text())
    assert meta["status"] == "failed"
    assert meta["error"] == "boom"
    assert meta["simulated_ms"] < 240_000
    events = pd.read_parquet(out / "events.parquet")
    assert (events["kind"] == "liquidation").sum() >= 3


def test_run_with_an_unexpected_error_exits_1_without_traceback(tmp_path, monkeypatch):
    fail_after(monkeypatch, 3, ZeroDivisionError("division by zero"))
    out = tmp_path / "z"
    result = invoke("run", SMALL, "--out", out, "--no-figures", "--seed", "3")
    assert result.exit_code == 1
    assert "ZeroDivisionError" in flat(result.stderr)
    meta = json.loads((out / "run.json").read_text())
    assert meta["status"] == "failed"
    assert meta["error"].startswith("ZeroDivisionError")

def test_run_default_folder_name(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = invoke("run", SMALL, "--seed", "4", "--no-figures", "--set", "duration=90s")
    assert result.exit_code == 0, result.output
    folders = list((tmp_path / "results" / "small").iterdir())
    assert len(folders) == 1
    assert re.fullmatch(r"small_duration=90s_seed4-[0-9a-f]{10}", folders[0].name)
    assert (folders[0] / "run.json").is_file()


def test_run_records_its_label(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = invoke("run", SMALL, "--seed", "4", "--no-figures", "--set", "duration=90s",
                    "--set", "venues.v.preset=hyperliquid", "--set", "shocks.0.move = -20%")
    assert result.exit_code == 0, result.output
    label = "small+hyperliquid set:duration=90s set:shocks.0.move=-20%"
    assert result.stdout.splitlines()[0] == f"{label} seed 4"  # the header line
    (folder,) = (tmp_path / "results" / "small").iterdir()
    assert folder.name.startswith("small+hyperliquid_duration=90s_shocks.0.move=-20pct_seed4-")
    meta = json.loads((folder / "run.json").read_text())
    assert meta["label"] == label
    assert meta["scenario"]["venues"][0]["preset"] == "hyperliquid"
    shown = invoke("show", folder)
    assert shown.exit_code == 0
    assert shown.stdout.splitlines()[0] == f"{label} seed 4"


def test_same_scenario_and_seed_share_a_folder_other_overrides_do_not(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for move in ("-5%", "-5%", "-6%"):
        args = ("--set", "duration=70s", "--set", f"shocks.0.move={move}")
        assert invoke("run", SMALL, "--seed", "1", "--no-figures", *args).exit_code == 0
    names = sorted(p.name for p in (tmp_path / "results" / "small").iterdir())
    assert len(names) == 2
    assert names[0].startswith("small_duration=70s_shocks.0.move=-5pct_seed1-")
    assert names[1].startswith("small_duration=70s_shocks.0.move=-6pct_seed1-")


# -------------------------------------------------------------------------------- validate


def test_validate_good_file():
    result = invoke("validate", SMALL)
    assert result.exit_code == 0
    out = flat(result.stdout)
    assert out.startswith("ok: small:")
    assert "2 assets" in out and "2 markets" in out and "300 accounts" in out
    assert "1 shocks" in out and "4 min" in out


def _bad_files() -> dict[str, tuple]:
    def unknown_key(d):
        d["venues"][0]["markets"][0]["depthh"] = 1

    def wrong_type(d):
        d["venues"][0]["insurance_fund"] = "lots"

    def non_psd(d):
        d["correlation"] = [[1.0, 1.5], [1.5, 1.0]]

    def non_psd3(d):
        d["assets"].append({"name": "SOL", "price": 150})
        d["correlation"] = [[1, 0.9, -0.9], [0.9, 1, 0.9], [-0.9, 0.9, 1]]

    def mmr(d):
        d["venues"][0]["markets"][1]["tiers"][0] = {"notional": 0, "mmr": "2%",
                                                   "max_leverage": 60}

    def negative_count(d):
        d["populations"][1]["count"] = -5

    def unknown_market(d):
        d["populations"][0]["markets"] = {"BTC-PERP": 1, "SOL-PERP": 1}

    return {
        "unknown-key": (unknown_key, "venues[0].markets[0].depthh", "unknown key"),
        "wrong-type": (wrong_type, "venues[0].insurance_fund", "number"),
        "outside-range": (non_psd, "correlation", "[-1, 1]"),
        "non-psd": (non_psd3, "correlation", "positive semi-definite"),
        "mmr": (mmr, "venues[0].markets[1].tiers", "maintenance margin"),
        "negative-count": (negative_count, "populations[1].count", "greater than or equal"),
        "unknown-market": (unknown_market, "populations[0].markets", "SOL-PERP"),
    }


@pytest.mark.parametrize("case", list(_bad_files()))
def test_validate_bad_files(tmp_path, case):
    mutate, path, words = _bad_files()[case]
    data = yaml.safe_load(SMALL.read_text())
    mutate(data)
    file = tmp_path / f"{case}.yaml"
    file.write_text(yaml.safe_dump(data))
    result = invoke("validate", file)
    assert result.exit_code == 2
    message = flat(result.stderr)
    assert message.startswith(f"error: {path}: ")
    assert words in message
    assert result.stdout == ""


def test_validate_invalid_yaml(tmp_path):
    file = tmp_path / "broken.yaml"
    file.write_text("name: [unclosed\n")
    result = invoke("validate", file)
    assert result.exit_code == 2
    assert "not valid YAML" in flat(result.stderr)


def test_validate_missing_file(tmp_path):
    result = invoke("validate", tmp_path / "nope.yaml")
    assert result.exit_code == 2
    assert "cannot read scenario file" in flat(result.stderr)


# ------------------------------------------------------------------------- scenarios, show


def test_scenarios_lists_default():
    result = invoke("scenarios")
    assert result.exit_code == 0
    assert "default" in result.stdout
    assert "flash crash" in flat(result.stdout).lower()


def test_show_prints_the_stored_summary(small_run):
    _, out = small_run
    summary = json.loads((out / "summary.json").read_text())
    result = invoke("show", out)
    assert result.exit_code == 0, result.output
    text = result.stdout
    assert "liquidations" in text
    assert f"{summary['liquidations']:,}" in text
    assert f"${summary['insurance_fund_start']:,.0f}" in text
    amp = summary["amplification"]
    assert amp is not None and math.isfinite(amp)
    assert catalogue.format_value(amp, "ratio") in text


def test_show_missing_folder(tmp_path):
    result = invoke("show", tmp_path / "nothing")
    assert result.exit_code == 2
    assert "cannot read run folder" in flat(result.stderr)


# -------------------------------------------------------------------------------------- runs


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory):
    """A results folder with two short runs (the second made older by hand), and clutter."""
    root = tmp_path_factory.mktemp("results")
    for name, move in (("new", "-10%"), ("old", "-6%")):
        result = invoke("run", SMALL, "--out", root / "small" / name, "--seed", "2",
                        "--no-figures", "--set", "duration=70s", "--set", f"shocks.0.move={move}")
        assert result.exit_code == 0, result.output
    meta_path = root / "small" / "old" / "run.json"
    meta = json.loads(meta_path.read_text())
    meta["created"] = "2020-01-02T03:04:05+00:00"
    meta_path.write_text(json.dumps(meta))
    (root / "notes").mkdir()
    (root / "notes" / "readme.txt").write_text("not a run")
    (root / "broken").mkdir()
    (root / "broken" / "run.json").write_text("{not json")
    (root / "sweeps" / "s" / "runs" / "k").mkdir(parents=True)  # a sweep's runs are not listed
    (root / "sweeps" / "s" / "manifest.json").write_text("{}")
    shutil.copytree(root / "small" / "new", root / "sweeps" / "s" / "runs" / "k",
                    dirs_exist_ok=True)
    return root


def test_runs_lists_stored_runs_newest_first(two_runs):
    result = CliRunner().invoke(app, ["runs", str(two_runs)], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    lines = [line for line in result.stdout.splitlines() if "small set:" in line]
    assert len(lines) == 2  # no clutter, no broken folder, no sweep runs
    assert "shocks.0.move=-10%" in lines[0] and "shocks.0.move=-6%" in lines[1]
    assert "2020-01-02" in lines[1]
    assert "2020-01-02" not in lines[0]
    for line, name in zip(lines, ("new", "old"), strict=True):
        summary = json.loads((two_runs / "small" / name / "summary.json").read_text())
        assert f" {summary['liquidations']:,} " in line
        assert f"${summary['bad_debt']:,.0f}" in line
        assert " 2 " in line  # the seed
    assert "small/new" in result.stdout and "small/old" in result.stdout
    assert "broken" not in result.stdout and "sweeps" not in result.stdout


def test_runs_of_a_sweep_folder_lists_its_runs(two_runs):
    result = CliRunner().invoke(app, ["runs", str(two_runs / "sweeps" / "s")],
                                env={"COLUMNS": "200"})
    assert result.exit_code == 0
    assert "runs/k" in result.stdout
    assert result.stdout.count("small set:") == 1


def test_runs_of_an_empty_folder_says_so(tmp_path):
    result = invoke("runs", tmp_path)
    assert result.exit_code == 0
    assert result.stdout.strip() == f"no runs in {tmp_path}"
    assert invoke("runs", tmp_path / "missing").stdout.strip() == \
        f"no runs in {tmp_path / 'missing'}"


def test_runs_defaults_to_the_results_folder(two_runs, monkeypatch):
    monkeypatch.chdir(two_runs.parent)
    if (two_runs.parent / "results").exists():
        shutil.rmtree(two_runs.parent / "results")
    shutil.copytree(two_runs / "small", two_runs.parent / "results" / "small")
    result = CliRunner().invoke(app, ["runs"], env={"COLUMNS": "200"})
    assert result.exit_code == 0
    assert result.stdout.count("small set:") == 2


def test_no_arguments_prints_help():
    result = CliRunner().invoke(app, [])
    assert "run" in result.output and "validate" in result.output
    assert "Traceback" not in result.output


# --------------------------------------------------------------------------- console script


def test_console_script_end_to_end(tmp_path):
    script = Path(sys.executable).parent / "liqsim"
    assert script.is_file()
    out = tmp_path / "e2e"
    proc = subprocess.run(
        [str(script), "run", str(SMALL), "--out", str(out), "--seed", "3", "--no-figures"],
        capture_output=True, text=True, timeout=120, cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    assert "liquidations" in proc.stdout
    meta = json.loads((out / "run.json").read_text())
    assert meta["status"] == "complete" and meta["seed"] == 3
    summary = json.loads((out / "summary.json").read_text())
    assert summary["liquidations"] > 10
    assert load_scenario(SMALL).to_dict() == meta["scenario"]



def test_a_misspelt_builtin_gets_a_suggestion(tmp_path):
    result = invoke("run", "flash_crsh", "--out", tmp_path / "o", "--no-figures")
    assert result.exit_code == 2
    assert "no built-in scenario 'flash_crsh', did you mean 'flash_crash'?" in flat(result.stderr)
    assert len(result.stderr.strip().splitlines()) <= 2
    assert not (tmp_path / "o").exists()
