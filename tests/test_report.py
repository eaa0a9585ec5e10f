"""Tests for sweep reports (simulator.report.sweep and ``liqsim report``): the report builds
from a stored sweep only, holds every chart and table it names, its numbers are the runs
table's, it is deterministic, and it renders in a real headless browser (Debian's chromium,
installed by .ci/run; skipped elsewhere unless LIQSIM_REQUIRE_BROWSER=1 makes it required).
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pandas as pd
import pytest
from conftest import fail_runs_with_seed
from headless import assert_drawn, render
from typer.testing import CliRunner

from simulator.cli import app
from simulator.report.folders import FolderKind, build_folder_report, folder_kind
from simulator.report.page import ReportError
from simulator.report.sweep import build_report
from simulator.report.tables import format_value
from simulator.run import catalogue
from simulator.sweep import parse_sweep, plan, run_sweep

SMALL = Path(__file__).parent / "data" / "scenario_small.yaml"
SWEEP = {
    "name": "report_test",
    "description": "Shock size x insurance fund on the small test scenario.",
    "base": str(SMALL),
    "set": ["duration=2m", "populations.retail.count=60", "populations.whales.count=3"],
    "axes": [{"path": "shocks.0.move", "values": ["-5%", "-10%"]},
             {"path": "venues.v.insurance_fund", "values": [0, 20000]}],
    "variants": [{"name": "base"},
                 {"name": "fee", "set": ["venues.v.liquidation.fee_rate=1%"]}],
    "replications": 2,
    "seed": 5,
}


@pytest.fixture(scope="module")
def stored(tmp_path_factory):
    """A finished sweep (16 runs) and its report, built from the folder alone."""
    out = tmp_path_factory.mktemp("report") / "sweep"
    frame = run_sweep(parse_sweep(SWEEP), out, workers=1)
    return out, frame, build_report(out)


def test_report_holds_every_chart_and_table_it_names(stored):
    out, frame, report = stored
    assert report.html == out / "report" / "report.html"
    page = report.html.read_text()
    md = report.markdown.read_text()
    names = [c.name for c in report.charts]
    # Two axes with two values each: the heatmap and the metric-vs-axis charts must be there.
    assert any(n.startswith("heatmap") for n in names), names
    assert sum("_vs_" in n for n in names) == 2, names
    assert len(names) == len(set(names)) >= 5
    for chart in report.charts:
        assert set(chart.paths) == {"png", "pdf", "svg"}
        for path in chart.paths.values():
            assert path.is_file() and path.stat().st_size > 1000, path
        block = re.search(rf'<figure id="chart-{chart.name}">(.*?)</figure>', page, re.S)
        assert block is not None, chart.name
        assert 'src="data:image/png;base64,' in block.group(1)  # embedded, not linked
        assert f"![{chart.title}](charts/{chart.name}.png)" in md
    ids = [t.id for t in report.tables]
    assert ids[:3] == ["design", "axes", "variants"]
    assert {"headline", "comparison", "cells"} <= set(ids)
    for table in report.tables:
        assert f'<table id="table-{table.id}">' in page
        assert f"### {table.title}" in md
        html_rows = re.search(rf'<table id="table-{table.id}">.*?<tbody>(.*?)</tbody>', page,
                              re.S).group(1).count("<tr>")
        assert html_rows == len(table.rows)
    assert SWEEP["description"] in page and "A small test scenario" in page
    assert "<script" not in page and 'src="http' not in page  # nothing fetched from outside


def test_headline_numbers_are_the_runs_tables(stored):
    _, frame, report = stored
    headline = next(t for t in report.tables if t.id == "headline")
    assert headline.header[1:] == ["base (n=8)", "fee (n=8)"]
    rows = {r[0]: r[1:] for r in headline.rows}
    for variant, col in (("base", 0), ("fee", 1)):
        runs = frame[frame["variant"] == variant]
        depth = runs["cascade_depth"].mean()
        assert rows["cascade depth (generations)"][col].startswith(format_value(depth, "count"))
        notional = runs["liquidated_notional"].mean()
        assert rows["liquidated notional (USD)"][col].startswith(format_value(notional, "USD"))
    cells = next(t for t in report.tables if t.id == "cells")
    assert len(cells.rows) == 4 * 2  # cells x variants
    design = dict(next(t for t in report.tables if t.id == "design").rows)
    assert design["runs"] == "16 planned, 16 complete, 0 failed"
    # The paired comparison: the fee variant only changes the fee, so the liquidation count
    # difference is the mean of the paired differences.
    comp = next(t for t in report.tables if t.id == "comparison")
    row = next(r for r in comp.rows if r[1] == "liquidations")
    base = frame[frame["variant"] == "base"].set_index(["cell", "replication"])["liquidations"]
    fee = frame[frame["variant"] == "fee"].set_index(["cell", "replication"])["liquidations"]
    assert row[2] == "8" and row[3].startswith(format_value(float((fee - base).mean())))


def test_report_is_deterministic(stored, tmp_path):
    out, _, report = stored
    first = report.html.read_bytes(), report.markdown.read_bytes()
    again = build_report(out)  # the same place: the links to the runs are relative to it
    assert (again.html.read_bytes(), again.markdown.read_bytes()) == first
    elsewhere = build_report(out, tmp_path / "again").html.read_text()
    runs = re.compile(r'<table id="table-runs">.*?</table>', re.S)
    assert runs.sub("", elsewhere) == runs.sub("", first[0].decode())


def test_failed_runs_are_listed(monkeypatch, tmp_path):
    spec = parse_sweep({**SWEEP, "axes": SWEEP["axes"][:1], "variants": [{"name": "base"}]})
    fail_runs_with_seed(monkeypatch, plan(spec)[1].seed)
    run_sweep(spec, tmp_path / "f")
    report = build_report(tmp_path / "f")
    failures = next(t for t in report.tables if t.id == "failures")
    assert [r[-1] for r in failures.rows] == ["RuntimeError: boom"] * 2
    assert '<table id="table-failures">' in report.html.read_text()


def test_cli_report(stored, tmp_path):
    out, _, _ = stored
    copy = tmp_path / "copy"
    shutil.copytree(out, copy, ignore=shutil.ignore_patterns("report"))
    result = CliRunner().invoke(app, ["report", str(copy)])
    assert result.exit_code == 0, result.output
    assert (copy / "report" / "report.html").is_file()
    assert (copy / "report" / "report.md").is_file()
    bad = CliRunner().invoke(app, ["report", str(tmp_path)])
    assert bad.exit_code == 2
    assert "no runs.parquet" in " ".join(bad.output.split())
    assert "Traceback" not in bad.output


def test_report_renders_in_headless_chromium(stored, tmp_path):
    _, _, report = stored
    shown = render(report.html, tmp_path)
    assert_drawn(shown)
    figures, tables = shown.figures, shown.tables
    assert [f[0] for f in figures] == [f"chart-{c.name}" for c in report.charts]
    assert all(f[1] == "img" for f in figures)  # the sweep report's charts are PNGs
    assert [(t[0], t[1]) for t in tables] == [(f"table-{t.id}", len(t.rows))
                                              for t in _page_order(report)]


def _page_order(report) -> list:
    """Tables in the order the page shows them: failures and the runs after the charts."""
    last = ("failures", "runs")
    main = [t for t in report.tables if t.id not in last]
    return main + [t for i in last for t in report.tables if t.id == i]


def test_sweep_report_links_every_run_to_its_folder(stored):
    out, frame, report = stored
    page = report.html.read_text()
    block = re.search(r'<table id="table-runs">(.*?)</table>', page, re.S).group(1)
    links = re.findall(r'<a href="([^"]+)">', block)
    assert len(links) == len(frame) == 16
    for link, key in zip(links, frame["run_key"], strict=True):
        assert not link.startswith(("/", "http"))  # relative, so the folder can move
        target = (report.html.parent / link).resolve()
        assert target.is_dir() and target == (out / "runs" / key).resolve()
        assert (target / "run.json").is_file()


@pytest.fixture(scope="module")
def run_report(tmp_path_factory):
    """One short CLI run (no figures) and its report, built from the folder alone."""
    folder = tmp_path_factory.mktemp("single") / "run"
    ran = CliRunner().invoke(app, ["run", str(SMALL), "--out", str(folder), "--seed", "3",
                                   "--no-figures", "--set", "duration=90s",
                                   "--set", "shocks.0.move=-20%"])
    assert ran.exit_code == 0, ran.output
    built = CliRunner().invoke(app, ["report", str(folder)])
    assert built.exit_code == 0, built.output
    return folder, folder / "report" / "report.html"


def test_run_report_holds_label_summary_and_charts(run_report):
    folder, html_path = run_report
    page = html_path.read_text()
    meta = json.loads((folder / "run.json").read_text())
    summary = json.loads((folder / "summary.json").read_text())
    assert meta["label"] == "small set:duration=90s set:shocks.0.move=-20%"
    assert f"<h1>Run report: {meta['label']}</h1>" in page
    rows = dict(re.findall(r"<tr><td>([^<]+)</td><td class=\"num\">([^<]+)</td>", page))
    assert rows["liquidations"] == f"{summary['liquidations']:,}"
    assert rows["bad debt"] == catalogue.format_value(summary["bad_debt"], "USD", missing="–")
    assert rows["liquidated notional"] == catalogue.format_value(
        summary["liquidated_notional"], "USD", missing="–")
    assert rows["max drawdown (traded)"] == f"{100 * summary['max_drawdown']:.2f}%"
    assert "<td>USD</td>" in page
    for name in ("price_paths", "liquidated_notional", "insurance_fund", "generations"):
        block = re.search(rf'<figure id="chart-{name}">(.*?)</figure>', page, re.S)
        assert block is not None, name
        assert block.group(1).count("<svg") == 1 and "<path" in block.group(1)
        ids = re.findall(r'\bid="([^"]+)"', block.group(1))
        assert ids and all(i.startswith(f"{name}-") for i in ids)  # no clashes across charts
    assert meta["git_commit"][:10] in page and str(meta["created"]) in page
    # Self-contained: nothing fetched, no scripts, no links outside the page.
    assert not re.search(r"""(src|href)\s*=\s*["']?\s*(https?:|//)""", page, re.I)
    assert "<script" not in page and "<img" not in page
    scenario = json.loads((folder / "report" / "scenario.json").read_text())
    assert scenario == meta["scenario"]


def test_run_report_is_deterministic(run_report, tmp_path):
    folder, html_path = run_report
    again = build_folder_report(folder, tmp_path / "again")
    assert again.html.read_bytes() == html_path.read_bytes()


def test_report_of_an_unrelated_folder_is_one_line_exit_2(tmp_path):
    (tmp_path / "notes.txt").write_text("hello")
    for folder in (tmp_path, tmp_path / "missing"):
        bad = CliRunner().invoke(app, ["report", str(folder)])
        assert bad.exit_code == 2
        assert bad.output.strip().startswith("error:") and "Traceback" not in bad.output
        assert len(bad.output.strip().splitlines()) <= 2  # one message (wrapped at 80)
    assert folder_kind_of(tmp_path) is None


def folder_kind_of(folder):
    try:
        return folder_kind(folder)
    except ReportError:
        return None


def test_folder_kinds(stored, run_report):
    out, _, _ = stored
    assert folder_kind(out) is FolderKind.SWEEP
    assert folder_kind(run_report[0]) is FolderKind.RUN
    assert folder_kind(out / "runs" / next((out / "runs").iterdir()).name) is FolderKind.RUN


def test_html_tables_are_the_markdown_tables(stored):
    _, _, report = stored
    md = report.markdown.read_text()
    for table in report.tables:
        for row in table.rows:
            assert "| " + " | ".join(c.replace("|", "\\|") for c in row) + " |" in md
    assert pd.read_parquet(stored[0] / "runs.parquet").shape[0] == 16
