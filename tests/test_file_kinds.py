"""Scenario files and sweep files told apart by their top-level keys: ``liqsim validate``
validates either; a file of the wrong kind given to ``liqsim run`` or ``liqsim sweep`` gets
one line saying so (exit 2) instead of a list of unknown keys."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from simulator.cli import app
from simulator.cli.checks import document_kind

ROOT = Path(__file__).resolve().parent.parent
DEFAULT = ROOT / "simulator" / "config" / "scenarios" / "default.yaml"
EXAMPLE = ROOT / "experiments" / "sweeps" / "example.yaml"
BASE = yaml.safe_load(DEFAULT.read_text())


def _files(tmp_path: Path, sweep: dict | None = None) -> tuple[Path, Path]:
    scenario = yaml.safe_load(yaml.safe_dump(BASE))
    scenario["duration"] = "4m"
    scenario["populations"][0]["count"] = 100
    scenario_file = tmp_path / "flash.yaml"
    scenario_file.write_text(yaml.safe_dump(scenario, sort_keys=False))
    sweep = sweep if sweep is not None else {
        "name": "tiny", "base": "flash.yaml",
        "axes": [{"path": "shocks.0.move", "values": ["-5%", "-10%", "-15%"]}],
        "variants": [{"name": "base"}, {"name": "binance", "preset": "binance"}],
        "replications": 2}
    sweep_file = tmp_path / "sweep.yaml"
    sweep_file.write_text(yaml.safe_dump(sweep, sort_keys=False))
    return scenario_file, sweep_file


def _one_line(result, code: int = 2) -> str:
    assert result.exit_code == code, result.output
    assert "Traceback" not in result.output
    assert len([x for x in result.output.splitlines() if x.strip()]) <= 2, result.output
    return " ".join(result.output.split())


@pytest.mark.parametrize(("data", "kind"), [
    (BASE, "scenario"),
    ({"name": "x", "duration": "1m"}, "scenario"),
    ({"name": "s", "base": "default"}, "sweep"),
    ({"name": "s", "axes": [], "variants": [], "seeds": 3}, "sweep"),
    ({"name": "s", "replications": 3, "set": ["duration=1m"]}, "sweep"),
    ({"name": "only a name"}, None),
    ({"duration": "1m", "axes": []}, None),  # one key of each: not telling
    ({}, None), ([1, 2], None), ("text", None), (None, None),
])
def test_document_kind_by_top_level_keys(data, kind):
    assert document_kind(data) == kind


def test_validate_plans_a_sweep_file(tmp_path):
    _, sweep = _files(tmp_path)
    output = _one_line(CliRunner().invoke(app, ["validate", str(sweep)]), 0)
    assert output == ("ok: sweep tiny: 12 runs planned (3 cells × 2 variants × "
                      "2 replications), base flash.yaml")


def test_validate_the_example_sweep():
    output = _one_line(CliRunner().invoke(app, ["validate", str(EXAMPLE)]), 0)
    assert output.startswith("ok: sweep example: 16 runs planned (4 cells × 2 variants × "
                             "2 replications)")


def test_validate_a_sweep_with_a_single_everything(tmp_path):
    _, sweep = _files(tmp_path, {"name": "one", "base": "flash.yaml", "replications": 1})
    output = _one_line(CliRunner().invoke(app, ["validate", str(sweep)]), 0)
    assert output == "ok: sweep one: 1 run planned (1 cell × 1 variant × 1 replication), " \
                     "base flash.yaml"


@pytest.mark.parametrize(("sweep", "expected"), [
    ({"name": "s", "base": "flash.yaml", "axes": [{"path": "shocks.0.move"}]},
     "axes[0]: an axis needs `values`"),
    ({"name": "s", "base": "flash.yaml", "axes": [{"path": "shocks.0.mvoe", "values": [1]}]},
     "axes[0]:"),
    ({"name": "s", "base": "flash.yaml", "replications": 0}, "replications:"),
    ({"name": "s", "base": "flash.yaml", "varaints": []}, "did you mean 'variants'?"),
    ({"name": "s", "base": "flash.yaml", "bogus_key": 1}, "not part of the sweep format"),
    ({"name": "s", "base": "missing.yaml"}, "cannot read scenario file"),
    ({"name": "s", "base": "flash.yaml", "set": ["duration=abc"]}, "set: duration:"),
    ({"name": "s", "base": "flash.yaml", "variants": [{"name": "v", "preset": "binanse"}]},
     "binanse"),
])
def test_validate_a_bad_sweep_gets_one_line(tmp_path, sweep, expected):
    _, file = _files(tmp_path, sweep)
    output = _one_line(CliRunner().invoke(app, ["validate", str(file)]))
    assert expected in output, output


def test_a_scenario_given_to_sweep_says_so(tmp_path):
    scenario, _ = _files(tmp_path)
    out = tmp_path / "out"
    output = _one_line(CliRunner().invoke(app, ["sweep", str(scenario), "--out", str(out)]))
    assert f"{scenario} is a scenario, not a sweep: run it with `liqsim run {scenario}`" in output
    assert "base: flash.yaml" in output
    assert "unknown key" not in output and not out.exists()


def test_a_broken_scenario_given_to_sweep_still_says_scenario(tmp_path):
    data = yaml.safe_load(yaml.safe_dump(BASE))
    data["durration"] = data.pop("duration")
    file = tmp_path / "typo.yaml"
    file.write_text(yaml.safe_dump(data))
    output = _one_line(CliRunner().invoke(app, ["sweep", str(file)]))
    assert "is a scenario, not a sweep" in output


def test_a_sweep_given_to_run_says_so(tmp_path):
    _, sweep = _files(tmp_path)
    out = tmp_path / "out"
    output = _one_line(CliRunner().invoke(app, ["run", str(sweep), "--out", str(out)]))
    assert f"{sweep} is a sweep, not a scenario: run it with `liqsim sweep {sweep}`" in output
    assert "unknown key" not in output and not out.exists()


def test_the_example_sweep_given_to_run_says_so():
    output = _one_line(CliRunner().invoke(app, ["run", str(EXAMPLE)]))
    assert "is a sweep, not a scenario" in output


def test_a_file_of_neither_kind_keeps_its_own_errors(tmp_path):
    file = tmp_path / "odd.yaml"
    file.write_text("name: x\nduration: 1m\nassets: []\n")  # a scenario lacking venues
    output = " ".join(CliRunner().invoke(app, ["validate", str(file)]).output.split())
    assert "venues" in output  # read as a scenario: what it lacks
    file.write_text("name: x\nbogus_key: 1\n")
    output = " ".join(CliRunner().invoke(app, ["sweep", str(file)]).output.split())
    assert "bogus_key: unknown key (not part of the sweep format)" in output
