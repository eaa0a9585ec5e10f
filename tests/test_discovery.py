"""Tests for discovery in the ``liqsim`` command line: --version, presets, and the built-in
scenarios, including the project's experiments/scenarios/ files, runnable by name."""

from __future__ import annotations

import json
from importlib import metadata
from pathlib import Path

from conftest import flat, invoke
from typer.testing import CliRunner

import simulator.config.scenarios as builtins
from simulator.cli import app, resolve_scenario
from simulator.config import Scenario, load_scenario
from simulator.config.presets import DESCRIPTIONS, PRESETS

ROOT = Path(__file__).resolve().parents[1]
EXPERIMENTS = ROOT / "experiments" / "scenarios"
SHIPPED = ("flash_crash", "isolated_margin", "short_squeeze", "replay_2025_10_10")


# ------------------------------------------------------------------------------- --version


def test_version_prints_the_installed_version():
    result = invoke("--version")
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == f"liqsim {metadata.version('liqsim')}"


def test_version_unknown_when_not_installed(monkeypatch):
    def missing(name):
        raise metadata.PackageNotFoundError(name)

    monkeypatch.setattr(metadata, "version", missing)
    result = invoke("--version")
    assert result.exit_code == 0
    assert result.stdout.strip() == "liqsim unknown"


def test_no_arguments_still_prints_help():
    result = CliRunner().invoke(app, [])
    assert "Usage" in result.output
    assert "presets" in result.output and "scenarios" in result.output


# --------------------------------------------------------------------------------- presets


def test_every_preset_has_a_description():
    assert set(DESCRIPTIONS) == set(PRESETS)
    assert set(PRESETS) == {"binance", "bitmex", "bybit", "okx", "hyperliquid", "dydx", "drift"}
    for name, text in DESCRIPTIONS.items():
        assert text.strip().endswith("."), name
        assert "\n" not in text, name


def test_presets_lists_all_with_descriptions():
    result = invoke("presets")
    assert result.exit_code == 0, result.output
    text = flat(result.stdout)
    for name, description in DESCRIPTIONS.items():
        assert name in text
        # The first words of each description (the table wraps the rest).
        assert " ".join(description.split()[:3]) in text, name


# ------------------------------------------------------------------------------- scenarios


def test_scenarios_lists_default_and_the_experiment_files():
    result = invoke("scenarios")
    assert result.exit_code == 0, result.output
    text = result.stdout
    assert "default" in text
    for name in SHIPPED:
        if (EXPERIMENTS / f"{name}.yaml").exists():
            assert name in text, name
    assert "flash_crash" in text


def test_builtin_scenarios_include_experiments_when_asked():
    names = builtins.builtin_scenarios(experiments=True)
    assert "default" in names
    for path in EXPERIMENTS.glob("*.yaml"):
        assert path.stem in names
    # By default only the package's own (what the smoke tests run).
    assert list(builtins.builtin_scenarios()) == ["default", "oct-2025-like"]


def test_an_unloadable_file_is_listed_with_a_note(tmp_path, monkeypatch):
    (tmp_path / "broken_replay.yaml").write_text(
        (EXPERIMENTS / "flash_crash.yaml").read_text()
        + "replays:\n  - {asset: BTC, csv: no/such/klines.csv}\n")
    monkeypatch.setattr(builtins, "EXPERIMENTS", tmp_path)
    listed = builtins.builtin_scenarios(experiments=True)
    assert listed["broken_replay"].startswith("(cannot be loaded:")
    assert "default" in listed
    result = invoke("scenarios")
    assert result.exit_code == 0, result.output
    assert "broken_replay" in result.stdout
    assert "cannot be loaded" in flat(result.stdout)


def test_the_package_builtin_wins_a_name_clash(tmp_path, monkeypatch):
    (tmp_path / "default.yaml").write_text("name: impostor\n")
    monkeypatch.setattr(builtins, "EXPERIMENTS", tmp_path)
    assert builtins.load_builtin("default").name == "default"
    assert not builtins.builtin_scenarios(experiments=True)["default"].startswith("(cannot")


def test_no_experiments_folder(tmp_path, monkeypatch):
    monkeypatch.setattr(builtins, "EXPERIMENTS", tmp_path / "absent")
    assert list(builtins.builtin_scenarios(experiments=True)) == ["default", "oct-2025-like"]


def test_resolve_scenario_by_name():
    sc = resolve_scenario("flash_crash")
    assert isinstance(sc, Scenario)
    from_file = load_scenario(EXPERIMENTS / "flash_crash.yaml")
    assert sc.name == from_file.name == "flash_crash"
    assert sc.description == from_file.description
    assert sc.to_dict() == from_file.to_dict()


def test_run_flash_crash_by_name(tmp_path):
    out = tmp_path / "run"
    result = invoke("run", "flash_crash", "--out", out, "--no-figures")
    assert result.exit_code == 0, result.output
    assert "flash_crash" in result.stdout
    meta = json.loads((out / "run.json").read_text())
    assert meta["scenario"]["name"] == "flash_crash"
