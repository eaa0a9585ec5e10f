"""The sweep report's drill-down: every cell links to an in-page section listing its runs and
its representative run (the median by liquidated notional, ties by seed); optional run reports
inside the sweep folder are linked by relative path; the page stays one self-contained file.

One tiny sweep (2 cells x 2 variants x 3 replications, 2 simulated minutes) serves every test;
tests that build run reports copy it first so the others see a folder without them.
"""

from __future__ import annotations

import html
import json
import re
import shutil
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import flat, invoke

from simulator.report import drilldown
from simulator.report.drilldown import groups, representative_metric
from simulator.report.page import ReportError
from simulator.report.sweep import build_report
from simulator.sweep import parse_sweep, run_sweep

SMALL = Path(__file__).parent / "data" / "scenario_small.yaml"


@pytest.fixture(scope="module")
def sweep(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("drill_sweep")
    spec = parse_sweep({
        "name": "drill", "base": str(SMALL),
        "set": ["duration=2m", "populations.retail.count=120", "populations.whales.count=3"],
        "axes": [{"path": "venues.v.insurance_fund", "values": [2000, 1e6]}],
        "variants": [{"name": "base"}, {"name": "fee",
                                        "set": ["venues.v.liquidation.fee_rate=1%"]}],
        "replications": 3, "seed": 1,
    })
    run_sweep(spec, out)
    return out


@pytest.fixture(scope="module")
def page(sweep, tmp_path_factory) -> str:
    """The report built with the defaults (no run reports), HTML unescaped."""
    report = build_report(sweep, tmp_path_factory.mktemp("drill_report") / "report",
                          formats=("png",))
    return report.html.read_text(encoding="utf-8")


class _Refs(HTMLParser):
    """Every id, every link target and every asset source of a page."""

    def __init__(self) -> None:
        super().__init__()
        self.ids: set[str] = set()
        self.hrefs: list[str] = []
        self.srcs: list[str] = []
        self.tags: set[str] = set()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.add(tag)
        for k, v in attrs:
            if k == "id":
                self.ids.add(v or "")
            elif k in ("href", "xlink:href"):
                self.hrefs.append(v or "")
            elif k == "src":
                self.srcs.append(v or "")


def refs(text: str) -> _Refs:
    parser = _Refs()
    parser.feed(text)
    return parser


def _table_rows(text: str, table_id: str) -> list[list[str]]:
    body = re.search(rf'<table id="{re.escape(table_id)}">.*?<tbody>(.*?)</tbody>', text, re.S)
    assert body is not None, table_id
    return [[html.unescape(re.sub(r"<[^>]+>", "", c)) for c in re.findall(r"<td[^>]*>(.*?)</td>",
                                                                          row, re.S)]
            for row in re.findall(r"<tr>(.*?)</tr>", body.group(1), re.S)]


def _details(text: str, anchor: str) -> str:
    found = re.search(rf'<details id="{anchor}"(?: open)?>(.*?)</details>', text, re.S)
    assert found is not None, anchor
    return found.group(1)


def _manifest_seeds(sweep: Path) -> dict[tuple[str, str], list[int]]:
    out: dict[tuple[str, str], list[int]] = {}
    for entry in json.loads((sweep / "manifest.json").read_text()).values():
        out.setdefault((str(entry["cell"]), entry["variant"]), []).append(entry["seed"])
    return out


# ----------------------------------------------------------------- the representative run


def test_representative_is_the_lower_median_ties_by_seed():
    # Values 5, 1, 3, 3 (+ a failed run and a run without a value, neither eligible): sorted
    # by (value, seed) they are (1, s20), (3, s30), (3, s40), (5, s10); four runs, so the
    # lower median, the second: seed 30 (the tie at 3 goes to the lower seed).
    runs = pd.DataFrame({
        "cell": 0, "variant": "base", "replication": range(6),
        "seed": [10, 20, 40, 30, 50, 60], "run_key": list("abcdef"),
        "status": ["complete"] * 4 + ["failed", "complete"],
        "liquidated_notional": [5.0, 1.0, 3.0, 3.0, 0.0, np.nan],
    })
    (g,) = groups(runs, "liquidated_notional")
    assert (g.representative, g.n_complete, g.anchor) == ("d", 4, "drill-0-0")
    (g,) = groups(runs.iloc[[0, 1, 2]], "liquidated_notional")  # 5, 1, 3: the median is 3
    assert g.representative == "c"
    (g,) = groups(runs.iloc[[4, 5]], "liquidated_notional")
    assert g.representative is None and g.n_complete == 0


def test_representative_on_the_sweep_is_the_median_of_its_cells_values(sweep, page):
    runs = pd.read_parquet(sweep / "runs.parquet")
    assert representative_metric(runs) == "liquidated_notional"
    found = groups(runs, "liquidated_notional")
    assert [(g.cell, g.variant) for g in found] == [("0", "base"), ("0", "fee"),
                                                   ("1", "base"), ("1", "fee")]
    for g in found:
        rows = runs[(runs["cell"] == int(g.cell)) & (runs["variant"] == g.variant)]
        ranked = sorted(zip(rows["liquidated_notional"], rows["seed"], rows["run_key"],
                            strict=True))
        assert len(ranked) == 3 and g.representative == ranked[1][2]  # the middle of three
        seed = int(rows.loc[rows["run_key"] == g.representative, "seed"].iloc[0])
        section = _details(page, g.anchor)
        assert f"Representative run: seed {seed} (replication" in section
        marked = [r[0] for r in _table_rows(section, f"table-{g.anchor}-runs") if r[3] == "yes"]
        assert marked == [str(seed)]


# ------------------------------------------------------------------------------ the page


def test_every_cell_links_to_a_section_that_exists(sweep, page):
    found = refs(page)
    anchors = [h[1:] for h in found.hrefs if h.startswith("#")]
    assert [a for a in anchors if a not in found.ids] == []
    keys = sorted(_manifest_seeds(sweep))
    variants = ["base", "fee"]
    expected = {f"drill-{c}-{variants.index(v)}" for c, v in keys}
    assert expected <= found.ids and len(expected) == 4
    # The per-cell table and the scorecard link each row's cell number.
    for table_id, cell_col in (("table-cells", 0), ("table-scorecard", 0)):
        body = re.search(rf'<table id="{table_id}">.*?</table>', page, re.S).group(0)
        rows = re.findall(r"<tr>(.*?)</tr>", body, re.S)[1:]  # [0] is the header row
        assert rows, table_id
        for row in rows:
            cell = re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)[cell_col]
            link = re.fullmatch(r'<a href="#(drill-\d+-\d)">(\d+)</a>', cell)
            assert link is not None and link.group(1) in expected, (table_id, cell)
            assert link.group(1).split("-")[1] == link.group(2)


def test_each_section_lists_exactly_its_cells_seeds(sweep, page):
    for (cell, variant), seeds in _manifest_seeds(sweep).items():
        anchor = f"drill-{cell}-{['base', 'fee'].index(variant)}"
        rows = _table_rows(_details(page, anchor), f"table-{anchor}-runs")
        assert sorted(int(r[0]) for r in rows) == sorted(seeds)
        assert [r[2] for r in rows] == ["complete"] * 3
    assert page.count('aria-label="Price paths and liquidations"') == 4  # one chart each


def test_default_page_is_self_contained(page):
    found = refs(page)
    assert found.srcs and all(s.startswith("data:image/png;base64,") for s in found.srcs)
    assert not {"script", "link", "iframe", "object", "embed"} & found.tags
    assert "url(" not in re.search(r"<style>(.*?)</style>", page, re.S).group(1)
    files = [h for h in found.hrefs if not h.startswith("#")]
    # Without run reports the only file links are the run folders (documented on the page).
    assert files and all(re.fullmatch(r"(\.\./)+[\w./-]*runs/[0-9a-f]+/", h) for h in files)
    assert "report.html" not in " ".join(found.hrefs)


def test_run_reports_all_are_built_and_every_link_resolves(sweep, tmp_path):
    copy = tmp_path / "sweep"
    shutil.copytree(sweep, copy)
    report = build_report(copy, formats=("png",), run_reports="all")
    text = report.html.read_text(encoding="utf-8")
    keys = pd.read_parquet(copy / "runs.parquet")["run_key"].tolist()
    for key in keys:
        assert (copy / "runs" / key / "report" / "report.html").is_file(), key
    found = refs(text)
    files = [h for h in found.hrefs if not h.startswith("#")]
    run_pages = [h for h in files if h.endswith("/report/report.html")]
    # Each section: a link per listed run, plus one for its representative run.
    assert len(run_pages) == len(keys) + 4
    assert {h.split("/")[-3] for h in run_pages} == set(keys)
    for ref in files:
        assert (report.html.parent / ref).exists(), ref
        assert re.fullmatch(r"\.\./runs/[0-9a-f]+/(report/report\.html)?", ref), ref
    # The optional page links are optional; the assets are still all inline.
    assert all(s.startswith("data:") for s in found.srcs)
    section = _details(text, "drill-0-0")
    assert "Its run report, in the sweep folder: <a href=\"../runs/" in section
    assert "works while this page stays in the folder" in section
    markdown = report.markdown.read_text(encoding="utf-8")
    assert "## Drill-down" in markdown and "](../runs/" in markdown
    # The drill-down's tables are the report's too, in page order after the per-cell table.
    ids = [t.id for t in report.tables]
    assert ids[ids.index("cells") + 1: ids.index("runs")] == [
        f"drill-{c}-{v}-{kind}" for c in (0, 1) for v in (0, 1) for kind in ("runs", "figures")]


def test_representative_run_reports_only(sweep, tmp_path):
    copy = tmp_path / "sweep"
    shutil.copytree(sweep, copy)
    build_report(copy, formats=("png",), run_reports="representative")
    runs = pd.read_parquet(copy / "runs.parquet")
    reps = {g.representative for g in groups(runs, "liquidated_notional")}
    built = {p.parent.parent.name for p in (copy / "runs").glob("*/report/report.html")}
    assert built == reps and len(reps) == 4


def test_two_builds_give_the_same_page(sweep, page, tmp_path_factory):
    again = build_report(sweep, tmp_path_factory.mktemp("drill_report") / "report",
                         formats=("png",))
    assert again.html.read_text(encoding="utf-8") == page  # no timestamps anywhere


# -------------------------------------------------------------------------------- caps


def test_caps_on_runs_listed_and_charts(sweep, monkeypatch, tmp_path):
    # 25 runs of one cell (folders absent: no charts drawn, no links), and 3 cells at most
    # one of which may have a chart.
    runs = pd.DataFrame({"cell": [0] * 25 + [1, 2], "variant": "base",
                         "replication": list(range(25)) + [0, 0], "seed": range(100, 127),
                         "run_key": [f"k{i}" for i in range(27)], "status": "complete",
                         "liquidated_notional": np.arange(27.0)})
    found = groups(runs, "liquidated_notional")
    text = drilldown.drilldown(found, runs, tmp_path, tmp_path / "report",
                               "liquidated_notional", lambda t: "").html
    rows = _table_rows(text, "table-drill-0-0-runs")
    assert [r[0] for r in rows] == [str(s) for s in range(100, 120)]
    assert "The first 20 of 25 runs; runs.parquet has them all." in text
    assert found[0].representative == "k12"  # the median of 0..24
    assert '<details id="drill-0-0" open>' in text  # 3 sections: all open
    monkeypatch.setattr(drilldown, "MAX_SVG_GROUPS", 1)
    monkeypatch.setattr(drilldown, "MAX_GROUPS", 2)
    monkeypatch.setattr(drilldown, "MAX_OPEN", 1)
    real = pd.read_parquet(sweep / "runs.parquet")
    capped = groups(real, "liquidated_notional")
    assert len(capped) == 2
    built = drilldown.drilldown(capped, real, sweep, sweep / "report", "liquidated_notional",
                                lambda t: f"<{t.id}>")
    assert built.html.count("<svg") == 1
    assert "The first 2 of 4 cells and variants have a section." in built.html
    assert "in the first 1 sections" in built.html and "start collapsed" in built.html
    assert '<details id="drill-0-0">' in built.html  # collapsed
    ids = ["drill-0-0-runs", "drill-0-0-figures", "drill-0-1-runs", "drill-0-1-figures"]
    assert [t.id for t in built.tables] == ids
    assert all(f"<{i}>" in built.markdown for i in ids)


# --------------------------------------------------------------------------------- CLI


def test_cli_run_reports_option_is_checked(sweep):
    result = invoke("report", sweep, "--run-reports", "some")
    assert result.exit_code != 0
    assert "'some' is not one of none, representative, all" in flat(result.output)
    run_folder = next((sweep / "runs").iterdir())
    result = invoke("report", run_folder, "--run-reports", "all")
    assert result.exit_code != 0 and "applies to sweep folders only" in flat(result.output)
    with pytest.raises(ReportError, match="not one of"):
        build_report(sweep, run_reports="every")
