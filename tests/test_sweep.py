"""Tests for declarative sweeps (simulator.sweep): the sweep file's validation, the plan's
expansion and seeds (common random numbers), running with one or two workers, resuming,
failure tolerance and the ``liqsim sweep`` command. Runs use the small test scenario cut to
2 minutes and 63 traders, so each takes a fraction of a second."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd
import pytest
import yaml
from conftest import fail_runs_with_seed
from typer.testing import CliRunner

import simulator.sweep.execute as execute
from simulator.cli import app
from simulator.config import ScenarioError
from simulator.sweep import load_sweep, parse_sweep, plan, run_sweep
from simulator.sweep.stats import cell_statistics

SMALL = Path(__file__).parent / "data" / "scenario_small.yaml"
FAST = ["duration=2m", "populations.retail.count=60", "populations.whales.count=3"]
GRID = {
    "name": "tiny",
    "base": str(SMALL),
    "set": FAST,
    "axes": [{"path": "shocks.0.move", "values": ["-5%", "-10%"]},
             {"path": "venues.v.insurance_fund", "values": [1000, 20000]}],
    "variants": [{"name": "base"},
                 {"name": "fee", "set": ["venues.v.liquidation.fee_rate=1%"]}],
    "replications": 2,
    "seed": 11,
}


def write(tmp_path: Path, data: dict, name: str = "sweep.yaml") -> Path:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def error_of(data: dict, tmp_path: Path) -> str:
    with pytest.raises(ScenarioError) as info:
        load_sweep(write(tmp_path, data))
    return str(info.value)


# ------------------------------------------------------------------------------ validation


def test_unknown_key_is_named(tmp_path):
    assert error_of({**GRID, "replicas": 3}, tmp_path) == (
        "replicas: unknown key (not part of the sweep format), did you mean 'replications'?")
    bad_axis = {**GRID, "axes": [{"path": "shocks.0.move", "values": [1], "step": 2}]}
    assert error_of(bad_axis, tmp_path) == (
        "axes[0].step: unknown key (not part of the sweep format)")


def test_zip_lengths_must_match(tmp_path):
    data = {**GRID, "axes": [{"zip": [{"path": "shocks.0.move", "values": ["-5%", "-9%"]},
                                      {"path": "venues.v.insurance_fund", "values": [1, 2, 3]}]}]}
    assert error_of(data, tmp_path) == (
        "axes[0].zip: every list of values must have the same length, got shocks.0.move: 2, "
        "venues.v.insurance_fund: 3")


def test_bad_paths_and_values(tmp_path):
    data = {**GRID, "axes": [{"path": "shocks.0.mvoe", "values": ["-5%"]}]}
    assert error_of(data, tmp_path) == (
        "axes[0]: shocks[0].mvoe: unknown key (not part of the scenario format), "
        "did you mean 'move'?")
    data = {**GRID, "axes": [{"path": "shocks..move", "values": [1]}]}
    assert error_of(data, tmp_path) == (
        "axes[0].path: 'shocks..move' is not a field path (dotted names or list indices, "
        "e.g. shocks.0.move)")
    assert error_of({**GRID, "replications": 0}, tmp_path) == (
        "replications: Input should be greater than or equal to 1")
    data = {**GRID, "axes": [{"path": "venues.v.insurance_fund", "range": [5, 1], "samples": 2}]}
    assert error_of(data, tmp_path) == (
        "axes[0].range: expected finite [lo, hi] with lo <= hi, got [5.0, 1.0]")
    # A value the scenario rejects names the cell and the variant.
    data = {**GRID, "axes": [{"path": "venues.v.insurance_fund", "values": [1000, -5]}]}
    spec = load_sweep(write(tmp_path, data))
    with pytest.raises(ScenarioError, match=r"^cell 1 \(venues.v.insurance_fund=-5\), "
                                            r"variant 'base': venues\[0\].insurance_fund"):
        plan(spec)


# ------------------------------------------------------------------------------------ plan


def test_plan_expands_grid_variants_and_replications():
    runs = plan(parse_sweep(GRID))
    assert len(runs) == 16  # 2 x 2 cells x 2 variants x 2 replications
    assert [r.index for r in runs] == list(range(16))
    assert [r.cell for r in runs] == [c for c in range(4) for _ in range(4)]
    assert runs[0].axes == {"shocks.0.move": "-5%", "venues.v.insurance_fund": 1000}
    assert runs[4].axes == {"shocks.0.move": "-5%", "venues.v.insurance_fund": 20000}
    r = runs[-1]
    assert r.scenario.shocks[0].move == pytest.approx(-0.10)
    assert r.scenario.venues[0].insurance_fund == 20000
    assert r.scenario.venues[0].liquidation.fee_rate == pytest.approx(0.01)
    assert len({r.run_key for r in runs}) == 16
    # CRN: one seed per replication, the same in every variant and every cell.
    seeds = {(r.replication, r.seed) for r in runs}
    assert len(seeds) == 2 and len({s for _, s in seeds}) == 2
    independent = plan(parse_sweep({**GRID, "common_random_numbers": False}))
    assert len({(r.variant, r.replication, r.seed) for r in independent}) == 4
    assert len({r.seed for r in independent}) == 4


def test_sampled_axes_are_deterministic():
    data = {**GRID, "axes": [
        {"path": "venues.v.insurance_fund", "range": [100, 1e6], "samples": 3, "log": True},
        {"path": "shocks.0.move", "range": [-0.2, -0.05], "samples": 2}]}
    first = [r.axes for r in plan(parse_sweep(data))]
    assert first == [r.axes for r in plan(parse_sweep(data))]
    funds = sorted({a["venues.v.insurance_fund"] for a in first})
    assert len(funds) == 3 and all(100 <= f <= 1e6 for f in funds)
    assert len(first) == 3 * 2 * 2 * 2
    # Keyed by the path: reordering the axes keeps the samples; another seed changes them.
    swapped = {**data, "axes": data["axes"][::-1]}
    assert sorted({a["venues.v.insurance_fund"] for a in
                   (r.axes for r in plan(parse_sweep(swapped)))}) == funds
    other = [r.axes for r in plan(parse_sweep({**data, "seed": 12}))]
    assert sorted({a["venues.v.insurance_fund"] for a in other}) != funds


# --------------------------------------------------------------------------------- running


SMALL_GRID = {**GRID, "axes": GRID["axes"][:1], "replications": 2}  # 2 x 2 x 2 = 8 runs


@pytest.fixture(scope="module")
def first_sweep(tmp_path_factory):
    out = tmp_path_factory.mktemp("sweep") / "one"
    frame = run_sweep(parse_sweep(SMALL_GRID), out, workers=1)
    return out, frame


def test_sweep_folder_and_table(first_sweep):
    out, frame = first_sweep
    assert (out / "sweep.yaml").is_file()
    manifest = json.loads((out / "manifest.json").read_text())
    assert len(manifest) == 8 and {e["status"] for e in manifest.values()} == {"complete"}
    assert list(frame.columns[:8]) == ["shocks.0.move", "cell", "variant", "replication",
                                       "seed", "run_key", "status", "error"]
    assert "liquidations" in frame.columns
    for key in frame["run_key"]:
        assert (out / "runs" / key / "summary.json").is_file()
    pd.testing.assert_frame_equal(pd.read_parquet(out / "runs.parquet"), frame)


def test_workers_do_not_change_the_table(first_sweep, tmp_path):
    _, frame = first_sweep
    two = run_sweep(parse_sweep(SMALL_GRID), tmp_path / "two", workers=2)
    pd.testing.assert_frame_equal(two, frame)
    pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "two" / "runs.parquet"),
                                  pd.read_parquet(first_sweep[0] / "runs.parquet"))


def test_a_local_dask_cluster_gives_the_same_table_as_the_process_pool(first_sweep, tmp_path):
    pytest.importorskip("distributed")
    _, frame = first_sweep
    dask = run_sweep(parse_sweep(SMALL_GRID), tmp_path / "dask", workers=2, dask_local=True)
    pd.testing.assert_frame_equal(dask, frame)
    pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "dask" / "runs.parquet"),
                                  pd.read_parquet(first_sweep[0] / "runs.parquet"))
    manifest = json.loads((tmp_path / "dask" / "manifest.json").read_text())
    assert all(e["status"] == "complete" for e in manifest.values())


def test_resume_runs_only_what_is_missing(first_sweep, tmp_path):
    src, frame = first_sweep
    out = tmp_path / "resume"
    shutil.copytree(src, out)
    manifest = json.loads((out / "manifest.json").read_text())
    gone = list(manifest)[2:4]
    for key in gone:
        del manifest[key]
        shutil.rmtree(out / "runs" / key)
    (out / "manifest.json").write_text(json.dumps(manifest))
    calls: list[tuple[int, int, int]] = []
    again = run_sweep(parse_sweep(SMALL_GRID), out, progress=lambda *a: calls.append(a))
    assert calls == [(1, 2, 0), (2, 2, 0)]
    assert all((out / "runs" / key / "summary.json").is_file() for key in gone)
    pd.testing.assert_frame_equal(again, frame)
    pd.testing.assert_frame_equal(pd.read_parquet(out / "runs.parquet"), frame)
    calls.clear()
    run_sweep(parse_sweep(SMALL_GRID), out, progress=lambda *a: calls.append(a))
    assert calls == []  # everything complete: nothing runs


def test_an_interrupted_sweep_keeps_every_finished_run(first_sweep, tmp_path, monkeypatch):
    """The manifest is rewritten at most every few seconds, and always when the sweep stops:
    a sweep interrupted after three runs lists those three, and a rerun does only the rest."""
    src, frame = first_sweep
    monkeypatch.setattr(execute, "MANIFEST_EVERY_S", 3600.0)  # no write while it runs
    out = tmp_path / "interrupted"
    seen = []

    def stop_after_three(run, outcome):
        seen.append(run.run_key)
        if len(seen) == 3:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        execute.execute(parse_sweep(SMALL_GRID), out, on_run=stop_after_three)
    manifest = json.loads((out / "manifest.json").read_text())
    assert list(manifest) == seen and {e["status"] for e in manifest.values()} == {"complete"}
    calls: list[tuple[int, int, int]] = []
    again = run_sweep(parse_sweep(SMALL_GRID), out, progress=lambda *a: calls.append(a))
    assert [c[1] for c in calls] == [5] * 5
    pd.testing.assert_frame_equal(again, frame)


def test_a_failing_run_is_recorded(monkeypatch, tmp_path):
    spec = parse_sweep({**SMALL_GRID, "variants": [{"name": "base"}]})  # 4 runs
    bad_seed = plan(spec)[1].seed
    real = fail_runs_with_seed(monkeypatch, bad_seed)
    frame = run_sweep(spec, tmp_path / "f", workers=1)
    failed = frame[frame["status"] == "failed"]
    assert list(failed["seed"]) == [bad_seed, bad_seed]  # replication 1 in both cells
    assert set(failed["error"]) == {"RuntimeError: boom"}
    assert (frame["status"] == "complete").sum() == 2
    entry = json.loads((tmp_path / "f" / "manifest.json").read_text())[failed["run_key"].iloc[0]]
    assert entry["status"] == "failed" and "RuntimeError: boom" in entry["traceback"]
    # A rerun retries the failed runs only (now succeeding).
    monkeypatch.setattr(execute, "run", real)
    calls: list[tuple[int, int, int]] = []
    again = run_sweep(spec, tmp_path / "f", progress=lambda *a: calls.append(a))
    assert len(calls) == 2 and (again["status"] == "complete").all()


def test_cli_sweep(tmp_path):
    data = {**SMALL_GRID, "variants": [{"name": "base"}], "replications": 1}
    out = tmp_path / "cli"
    result = CliRunner().invoke(app, ["sweep", str(write(tmp_path, data)), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert len(pd.read_parquet(out / "runs.parquet")) == 2
    bad = CliRunner().invoke(app, ["sweep", str(write(tmp_path, {**data, "foo": 1}, "b.yaml"))])
    assert bad.exit_code == 2
    assert "foo: unknown key (not part of the sweep format)" in " ".join(bad.output.split())
    assert "Traceback" not in bad.output


def test_cell_statistics_pair_variants_by_replication() -> None:
    # Two cells x two variants x three replications; in cell 1 the variant is exactly 1 above
    # the baseline in every replication, in cell 0 it equals it.
    rows = []
    for cell, move in ((0, "-5%"), (1, "-10%")):
        for variant, bump in (("base", 0.0), ("alt", float(cell))):
            for rep, value in enumerate((1.0, 2.0, 6.0)):
                rows.append({"shocks.0.move": move, "cell": cell, "variant": variant,
                             "replication": rep, "seed": 100 + rep,
                             "run_key": f"{cell}{variant}{rep}", "status": "complete",
                             "error": None, "bad_debt": value + bump})
    stats = cell_statistics(pd.DataFrame(rows), ["bad_debt"], n_boot=200)
    alt = stats[stats["variant"] == "alt"].set_index("cell")
    assert list(stats.columns[:2]) == ["cell", "shocks.0.move"]
    assert alt.loc[1, "shocks.0.move"] == "-10%"
    assert alt.loc[1, "mean"] == pytest.approx(4.0) and alt.loc[0, "mean"] == pytest.approx(3.0)
    assert (alt.loc[1, "diff_mean"], alt.loc[1, "diff_ci_low"], alt.loc[1, "diff_ci_high"]) == (
        pytest.approx(1.0), pytest.approx(1.0), pytest.approx(1.0))
    assert alt.loc[0, "share_equal"] == 1.0 and alt.loc[1, "share_higher"] == 1.0
    assert alt.loc[1, "n_paired"] == 3


def test_a_sweep_writes_its_cell_statistics(first_sweep) -> None:
    out, frame = first_sweep
    stats = pd.read_parquet(out / "statistics.parquet")
    cells, variants = frame["cell"].nunique(), frame["variant"].nunique()
    assert len(stats) == cells * variants * stats["metric"].nunique()
    base = stats[stats["variant"] == frame["variant"].iloc[0]]
    assert (base["diff_mean"].dropna() == 0).all()  # the baseline against itself


def test_cli_sweep_says_what_it_skipped_and_ran(tmp_path):
    data = {**SMALL_GRID, "variants": [{"name": "base"}], "replications": 1}
    file, out = write(tmp_path, data), tmp_path / "cli"
    first = CliRunner().invoke(app, ["sweep", str(file), "--out", str(out)])
    assert first.exit_code == 0, first.output
    assert "2 runs; 0 already complete (skipped), 2 to run" in " ".join(first.output.split())
    manifest = json.loads((out / "manifest.json").read_text())
    del manifest[next(iter(manifest))]
    (out / "manifest.json").write_text(json.dumps(manifest))
    again = CliRunner().invoke(app, ["sweep", str(file), "--out", str(out)])
    assert again.exit_code == 0, again.output
    assert "2 runs; 1 already complete (skipped), 1 to run" in " ".join(again.output.split())
