"""The memory estimate and the check before a run: a scenario that cannot fit is refused in one
line with exit 2 (``--no-memory-check`` overrides), instead of dying in a MemoryError.

The available memory is monkeypatched throughout, so nothing here allocates what it checks.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from simulator.cli import app
from simulator.cli import checks as cli_checks
from simulator.config import ScenarioError, memory, parse_scenario

ROOT = Path(__file__).resolve().parent.parent
BASE = yaml.safe_load((ROOT / "simulator" / "config" / "scenarios" / "default.yaml").read_text())
MiB, GiB = 2**20, 2**30


def _data(count: int = 9980, markets: int = 2, duration: str = "15m") -> dict:
    data = yaml.safe_load(yaml.safe_dump(BASE))
    data["duration"] = duration
    data["populations"][0]["count"] = count
    venue = data["venues"][0]
    template = venue["markets"][0]
    venue["markets"] = venue["markets"][:min(markets, 2)]
    for k in range(2, markets):
        venue["markets"].append({**template, "name": f"BTC-PERP-{k}"})
    if markets == 1:
        for p in data["populations"]:
            p["markets"] = {"BTC-PERP": 1.0}
    return data


def _estimate(**kwargs) -> int:
    return memory.estimate(parse_scenario(_data(**kwargs))).bytes


def _write(tmp_path: Path, data: dict, name: str = "scenario.yaml") -> Path:
    file = tmp_path / name
    file.write_text(yaml.safe_dump(data, sort_keys=False))
    return file


@pytest.fixture
def available(monkeypatch):
    """Set the machine's available memory: ``available(bytes)``."""
    def set_(n: int | None) -> None:
        monkeypatch.setattr(memory, "available_bytes", lambda: n)
    return set_


def _one_line_refusal(result) -> str:
    output = " ".join(result.output.split())
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    assert len([x for x in result.output.splitlines() if x.strip()]) <= 2, result.output
    return output


# --- the estimate -------------------------------------------------------------------------------
def test_the_estimate_grows_with_accounts():
    sizes = [_estimate(count=n) for n in (0, 1_000, 10_000, 100_000, 10_000_000)]
    assert sizes == sorted(sizes) and len(set(sizes)) == len(sizes)


def test_the_estimate_grows_with_markets():
    sizes = [_estimate(count=50_000, markets=m) for m in (1, 2, 3, 5)]
    assert sizes == sorted(sizes) and len(set(sizes)) == len(sizes)


def test_the_estimate_grows_with_duration_samples():
    assert _estimate(duration="1h") > _estimate(duration="5m")


def test_the_estimate_names_what_drives_it():
    est = memory.estimate(parse_scenario(_data(count=1_000_000)))
    assert est.driver == "populations[0].count = 1,000,000 accounts × 2 markets"


_MEASURE = """
import json, sys, tracemalloc
from simulator.config import parse_scenario
from simulator.run.runner import run
peaks = []
tracemalloc.start()
for data in json.loads(sys.argv[1]):
    sc = parse_scenario(data)
    tracemalloc.reset_peak()
    run(sc, sc.seed)
    peaks.append(tracemalloc.get_traced_memory()[1])
print(peaks[1] - peaks[0])
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="ru_maxrss in KiB on Linux")
def test_the_estimate_is_within_a_factor_of_three_of_a_measured_run():
    # The growth of the traced peak from a small run to a bigger one in one process: what a
    # first run also pays (imports, caches) cancels out, and so does allocator slack.
    small, big = _data(count=2000, duration="4m"), _data(count=30_000, duration="4m")
    out = subprocess.run([sys.executable, "-c", _MEASURE, json.dumps([small, big])],
                         check=True, capture_output=True, text=True, cwd=ROOT, timeout=300)
    measured = int(out.stdout.split()[-1])
    estimated = (memory.estimate(parse_scenario(big)).bytes
                 - memory.estimate(parse_scenario(small)).bytes)
    assert measured / 3 <= estimated <= measured * 3, (measured / MiB, estimated / MiB)


def test_available_memory_is_read_from_meminfo(tmp_path, monkeypatch):
    meminfo = tmp_path / "meminfo"
    meminfo.write_text("MemTotal:       32000000 kB\nMemAvailable:   21000000 kB\n")
    monkeypatch.setattr(memory, "MEMINFO", meminfo)
    monkeypatch.setattr(memory, "CGROUP", tmp_path / "no-cgroup")
    assert memory.available_bytes() == 21_000_000 * 1024


def test_a_cgroup_limit_lowers_the_available_memory(tmp_path, monkeypatch):
    meminfo = tmp_path / "meminfo"
    meminfo.write_text("MemAvailable:   21000000 kB\n")
    (tmp_path / "memory.max").write_text(f"{4 * GiB}\n")
    (tmp_path / "memory.current").write_text(f"{1 * GiB}\n")
    monkeypatch.setattr(memory, "MEMINFO", meminfo)
    monkeypatch.setattr(memory, "CGROUP", tmp_path)
    assert memory.available_bytes() == 3 * GiB


def test_without_meminfo_sysconf_is_the_fallback(tmp_path, monkeypatch):
    monkeypatch.setattr(memory, "MEMINFO", tmp_path / "missing")
    monkeypatch.setattr(memory, "CGROUP", tmp_path / "no-cgroup")
    found = memory.available_bytes()
    assert found is None or found > 0


def test_bytes_are_formatted_in_binary_units():
    assert memory.format_bytes(412 * GiB) == "412 GiB"
    assert memory.format_bytes(2.4 * 2**40) == "2.4 TiB"
    assert memory.format_bytes(35 * MiB) == "35 MiB"


# --- the refusal --------------------------------------------------------------------------------
def test_validate_refuses_a_scenario_that_does_not_fit(tmp_path, available):
    available(21 * GiB)
    file = _write(tmp_path, _data(count=1_000_000_000))
    output = _one_line_refusal(CliRunner().invoke(app, ["validate", str(file)]))
    assert output.startswith("error: this scenario needs about ")
    assert "(populations[0].count = 1,000,000,000 accounts × 2 markets)" in output
    assert "this machine has 21 GiB available (--no-memory-check to run anyway)" in output


def test_count_in_scientific_notation_is_checked_not_a_memory_error(tmp_path, available):
    available(21 * GiB)
    file = tmp_path / "big.yaml"
    file.write_text(yaml.safe_dump(_data(), sort_keys=False).replace("count: 9980",
                                                                       "count: 1e9"))
    for command in (["validate", str(file)], ["run", str(file), "--out", str(tmp_path / "o")]):
        output = _one_line_refusal(CliRunner().invoke(app, command))
        assert "1,000,000,000 accounts" in output
        assert "MemoryError" not in output


def test_no_memory_check_overrides(tmp_path, available):
    available(1 * MiB)
    file = _write(tmp_path, _data())
    assert CliRunner().invoke(app, ["validate", str(file)]).exit_code == 2
    result = CliRunner().invoke(app, ["validate", str(file), "--no-memory-check"])
    assert result.exit_code == 0, result.output
    assert result.output.startswith("ok: default")


def test_run_refuses_and_the_flag_lets_it_run(tmp_path, available):
    available(1 * MiB)
    file = _write(tmp_path, _data(count=200, duration="4m"))
    out = tmp_path / "out"
    output = _one_line_refusal(CliRunner().invoke(app, ["run", str(file), "--out", str(out)]))
    assert "--no-memory-check" in output and not out.exists()
    result = CliRunner().invoke(app, ["run", str(file), "--out", str(out), "--no-figures",
                                      "--no-memory-check"])
    assert result.exit_code == 0, result.output
    assert (out / "run.json").exists() or any(out.iterdir())


def test_an_unknown_available_memory_skips_the_check(tmp_path, available):
    available(None)
    file = _write(tmp_path, _data(count=1_000_000_000))
    assert CliRunner().invoke(app, ["validate", str(file)]).exit_code == 0


def _sweep(tmp_path: Path, count: int) -> Path:
    _write(tmp_path, _data(count=count, duration="4m"))
    sweep = {"name": "tiny", "base": "scenario.yaml",
             "axes": [{"path": "shocks.0.move", "values": ["-5%", "-10%"]}]}
    return _write(tmp_path, sweep, "sweep.yaml")


def test_sweep_refuses_per_run_times_workers(tmp_path, available):
    file = _sweep(tmp_path, 1_000_000)
    per_run = memory.estimate(parse_scenario(_data(count=1_000_000, duration="4m"))).bytes
    available(int(per_run * 1.5))  # one run fits, two at once do not
    out = tmp_path / "out"
    output = _one_line_refusal(CliRunner().invoke(
        app, ["sweep", str(file), "--workers", "2", "--out", str(out)]))
    assert "each run of this sweep needs about" in output
    assert "× 2 workers =" in output and "--no-memory-check" in output
    assert not out.exists()


def test_validate_checks_a_sweeps_largest_run(tmp_path, available):
    file = _sweep(tmp_path, 1_000_000)
    available(1 * GiB)
    output = _one_line_refusal(CliRunner().invoke(app, ["validate", str(file)]))
    assert "the largest run of this sweep needs about" in output
    result = CliRunner().invoke(app, ["validate", str(file), "--no-memory-check"])
    assert result.exit_code == 0, result.output


def test_check_sweep_memory_counts_workers():
    scenario = parse_scenario(_data(count=100_000))
    need = memory.estimate(scenario).bytes
    cli_checks.check_sweep_memory([scenario], workers=2, available=2 * need)
    with pytest.raises(ScenarioError, match="× 3 workers"):
        cli_checks.check_sweep_memory([scenario], workers=3, available=2 * need)
