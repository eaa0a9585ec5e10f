"""Sweep reports: one self-contained HTML page and its Markdown twin, from a stored sweep.

``build_report(sweep_dir)`` reads only what a sweep wrote (``sweep.yaml``, ``manifest.json``,
``runs.parquet``, ``statistics.parquet`` and the run folders, the last through
``chart_plan.write_sweep_charts``) and writes into ``<sweep_dir>/report/``::

    report.html   one file to attach as it is: CSS inline, charts embedded as PNG data
    report.md     the same text and tables, charts linked from charts/
    charts/       every chart as PNG, PDF and SVG (PDF/SVG for papers and slides)

Sections: the sweep's description and base scenario, its design (setup, axes, variants), the
headline table, the paired comparison against the baseline variant, the per-cell table, the
charts, the failed runs, every run with a relative link to its folder, the drill-down (per
cell and variant its runs and its representative run, inline: ``drilldown``; every cell number
in the tables links to it) and how to reproduce. ``run_reports`` ("representative", "all")
also builds those runs' own pages inside the sweep folder, and the drill-down links them.
The first table of results, before the headline, is the risk scorecard
(``simulator.sweep.scorecard``), with the claims its intervals support under it.
Every table and chart carries an ``id`` (``table-<id>``, ``chart-<name>``) so a reader, or a
test, can find it. The output holds no timestamps: the same sweep folder gives the same
report. This module renders (the page skeleton is ``page``'s); the numbers come from
``tables`` and the charts from ``simulator.charts``. It must not run simulations.
"""

from __future__ import annotations

import html
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from simulator.charts.sweep_plan import ChartFile, write_sweep_charts
from simulator.report.drilldown import (
    RUN_REPORTS,
    anchored_table,
    build_run_reports,
    drilldown,
    groups,
    representative_metric,
)
from simulator.report.page import (
    Report,
    ReportError,
    html_table,
    page,
    paragraphs,
    png_figure,
    provenance_text,
)
from simulator.report.tables import (
    MAX_CELL_ROWS,
    Table,
    cell_table,
    comparison_table,
    design_tables,
    failure_table,
    headline_table,
    pooled_summary,
    report_metrics,
)
from simulator.run.result import write_atomic
from simulator.sweep.scorecard import NOTE as SCORECARD_NOTE
from simulator.sweep.scorecard import scorecard, scorecard_table, statements

__all__ = ["Report", "ReportError", "build_report"]

CELL_METRICS = ("cascade_depth", "liquidated_notional", "insurance_fund_paid", "adl_notional")
def _read(sweep_dir: Path) -> tuple[dict[str, Any], pd.DataFrame, pd.DataFrame,
                                    dict[str, dict[str, Any]]]:
    runs_path = sweep_dir / "runs.parquet"
    if not runs_path.exists():
        raise ReportError(f"{sweep_dir}: no runs.parquet; is this a sweep folder "
                          "(liqsim sweep ... --out DIR) that has finished?")
    sweep_file = sweep_dir / "sweep.yaml"
    sweep = yaml.safe_load(sweep_file.read_text()) if sweep_file.exists() else {}
    runs = pd.read_parquet(runs_path)
    stats_path = sweep_dir / "statistics.parquet"
    stats = pd.read_parquet(stats_path) if stats_path.exists() else pd.DataFrame()
    manifest_path = sweep_dir / "manifest.json"
    manifest = json.loads(manifest_path.read_text()) if manifest_path.exists() else {}
    return sweep or {}, runs, stats, manifest


def _runs_table(runs: pd.DataFrame, sweep_dir: Path, out: Path) -> Table:
    """Every run (up to MAX_CELL_ROWS) with a relative link from the report to its folder;
    ``liqsim report`` on that folder gives the run's own page."""
    rows = []
    for r in runs.head(MAX_CELL_ROWS).itertuples(index=False):
        folder = sweep_dir / "runs" / str(r.run_key)
        link = Path(os.path.relpath(folder, out)).as_posix() + "/" if folder.is_dir() else ""
        rows.append([link, str(r.cell), str(r.variant), str(r.replication), str(r.seed),
                     str(r.status)])
    cut = len(runs) > MAX_CELL_ROWS
    # The links are the page's only ones to other files, so the note always says what they are.
    note = ((f"The first {MAX_CELL_ROWS} of {len(runs)} runs; runs.parquet has them all. "
             if cut else "")
            + "Each link opens the run's folder (liqsim report on it: its own page).")
    return Table("runs", "Runs", ["folder", "cell", "variant", "replication", "seed", "status"],
                 rows, note, right=[False, True, False, True, True, False], link_column=0)


def _first_run(sweep_dir: Path, runs: pd.DataFrame) -> dict[str, Any] | None:
    """The stored run.json of the first complete run: its scenario and provenance."""
    for key in runs.loc[runs["status"] == "complete", "run_key"]:
        path = sweep_dir / "runs" / str(key) / "run.json"
        if path.exists():
            return json.loads(path.read_text())
    return None


def build_report(sweep_dir: str | Path, out_dir: str | Path | None = None,
                 formats: tuple[str, ...] = ("png", "pdf", "svg"),
                 run_reports: str = "none") -> Report:
    """Write ``report.html``, ``report.md`` and ``charts/`` for the sweep in ``sweep_dir``
    (into ``out_dir``, default ``<sweep_dir>/report``). ``run_reports`` ("none",
    "representative" or "all") builds those runs' ``report/report.html`` in their folders
    (about a second each). Raises ``ReportError`` when the folder holds no sweep results."""
    sweep_dir = Path(sweep_dir)
    out = Path(out_dir) if out_dir is not None else sweep_dir / "report"
    if run_reports not in RUN_REPORTS:
        raise ReportError(f"run reports: {run_reports!r} is not one of "
                          f"{', '.join(RUN_REPORTS)}")
    sweep, runs, stats, manifest = _read(sweep_dir)
    if "png" not in formats:
        formats = ("png", *formats)  # the HTML embeds the PNGs
    out.mkdir(parents=True, exist_ok=True)
    first = _first_run(sweep_dir, runs)
    scenario = first.get("scenario") if first else None
    charts = write_sweep_charts(sweep_dir, out / "charts", formats=formats) if first else []

    tables = design_tables(sweep, runs, scenario)
    variants = list(dict.fromkeys(runs["variant"]))
    complete = runs[runs["status"] == "complete"]
    metrics = report_metrics(runs)
    said: list[str] = []
    if not complete.empty:  # the risk scorecard first: probabilities and tails per cell
        card = scorecard(runs).head(MAX_CELL_ROWS)
        header, rows, right = scorecard_table(card)
        cut = f" The first {MAX_CELL_ROWS} rows; scorecard.parquet has them all." \
            if runs[["cell", "variant"]].drop_duplicates().shape[0] > MAX_CELL_ROWS else ""
        tables.append(Table("scorecard", "Risk scorecard", header, rows, SCORECARD_NOTE + cut,
                            right))
        said = statements(card)
    if not complete.empty and metrics:
        baseline = variants[0] if variants[0] in set(complete["variant"]) \
            else str(complete["variant"].iloc[0])
        summary = pooled_summary(complete, metrics, baseline)
        tables.append(headline_table(summary, runs["cell"].nunique()))
        comparison = comparison_table(summary, baseline)
        if comparison is not None:
            tables.append(comparison)
        per_cell = cell_table(stats, CELL_METRICS) if runs["cell"].nunique() > 1 else None
        if per_cell is not None:
            tables.append(per_cell)
    by = representative_metric(runs)
    found = groups(runs, by)
    build_run_reports(sweep_dir, runs, found, run_reports)  # before rendering: links to them
    drill = drilldown(found, runs, sweep_dir, out, by, _md_table)
    tables += drill.tables  # shown after the charts, before the failures
    failures = failure_table(runs, manifest)
    if failures is not None:
        tables.append(failures)
    tables.append(_runs_table(runs, sweep_dir, out))

    name = str(sweep.get("name") or sweep_dir.name)
    context = _Context(name, str(sweep.get("description") or ""), scenario, first, tables,
                       charts, out, statements=tuple(said),
                       anchors={(g.cell, g.variant): g.anchor for g in found},
                       drilldown=drill.html, drilldown_md=drill.markdown)
    html_path, md_path = out / "report.html", out / "report.md"
    page, markdown = _html(context), _markdown(context)
    write_atomic(html_path, lambda p: Path(p).write_text(page, encoding="utf-8"))
    write_atomic(md_path, lambda p: Path(p).write_text(markdown, encoding="utf-8"))
    return Report(html_path, md_path, charts, tables)


@dataclass(frozen=True)
class _Context:
    name: str
    description: str
    scenario: dict[str, Any] | None
    first_run: dict[str, Any] | None
    tables: list[Table]
    charts: list[ChartFile]
    out: Path
    statements: tuple[str, ...] = ()  # what the scorecard's intervals support
    anchors: dict[tuple[str, str], str] = field(default_factory=dict)  # (cell, variant) -> id
    drilldown: str = ""  # the drill-down section, HTML
    drilldown_md: str = ""

    def table_html(self, t: Table) -> str:
        """The table, its cell numbers linked to the drill-down when it has (cell, variant)
        columns."""
        if not self.anchors or t.id not in _ANCHORED:
            return html_table(t)
        return anchored_table(t, self.anchors, t.header.index("cell"),
                              t.header.index("variant"))

    def provenance(self) -> str:
        return provenance_text(self.first_run)

    def scenario_text(self) -> str:
        if not self.scenario:
            return "No run completed, so the base scenario is unknown."
        text = str(self.scenario.get("description") or "").strip()
        return text or "The base scenario has no description."

    def section(self, table_id: str) -> Table | None:
        return next((t for t in self.tables if t.id == table_id), None)

    def rel(self, path: Path) -> str:
        return path.relative_to(self.out).as_posix()


_ANCHORED = ("scorecard", "cells", "failures")  # tables whose cell numbers link the drill-down
_ORDER = ("design", "axes", "variants", "scorecard", "headline", "comparison", "cells")
_HEADINGS = {"design": "Design", "scorecard": "Risk", "headline": "Results",
             "cells": "Per cell"}


def _html_chart(c: ChartFile, out: Path) -> str:
    links = " · ".join(f'<a href="{html.escape(p.relative_to(out).as_posix())}">{fmt.upper()}'
                       f"</a>" for fmt, p in c.paths.items() if fmt != "png")
    more = f" <span class=\"meta\">(also {links} in charts/)</span>" if links else ""
    return png_figure(c.name, c.title, c.paths["png"], c.caption, more)


def _html(ctx: _Context) -> str:
    parts = [f"<h1>Sweep report: {html.escape(ctx.name)}</h1>",
             f'<p class="meta">Built from stored results with {html.escape(ctx.provenance())}.'
             "</p>"]
    parts.extend(paragraphs(ctx.description))
    parts.append("<h2>Scenario</h2>")
    parts.extend(paragraphs(ctx.scenario_text()))
    toc = [f'<li><a href="#table-{t.id}">{html.escape(t.title)}</a></li>' for t in ctx.tables
           if not t.id.startswith("drill-")]  # the drill-down is one entry, below
    toc += [f'<li><a href="#chart-{html.escape(c.name)}">{html.escape(c.title)}</a></li>'
            for c in ctx.charts]
    if ctx.drilldown:
        toc.append('<li><a href="#drilldown">Drill-down: runs per cell</a></li>')
    parts.append(f"<nav><ul>{''.join(toc)}</ul></nav>")
    for table_id in _ORDER:
        t = ctx.section(table_id)
        if t is None:
            continue
        if table_id in _HEADINGS:
            parts.append(f"<h2>{_HEADINGS[table_id]}</h2>")
        parts.append(ctx.table_html(t))
        if table_id == "scorecard" and ctx.statements:
            items = "".join(f"<li>{html.escape(s)}</li>" for s in ctx.statements)
            parts.append(f'<ul id="scorecard-statements">{items}</ul>')
    if ctx.charts:
        parts.append("<h2>Charts</h2>")
        parts.extend(_html_chart(c, ctx.out) for c in ctx.charts)
    if ctx.drilldown:
        parts.append(ctx.drilldown)
    failures = ctx.section("failures")
    if failures is not None:
        parts.append("<h2>Failures</h2>")
        parts.append(ctx.table_html(failures))
    parts.append("<h2>Runs</h2>")
    parts.append(html_table(ctx.section("runs")))
    parts.append("<h2>Reproduce</h2>")
    parts.append(f"<pre>{html.escape(_reproduce())}</pre>")
    return page(f"Sweep report: {ctx.name}", "\n".join(parts))


def _reproduce() -> str:
    return ("# the sweep file is stored beside the results as sweep.yaml\n"
            "liqsim sweep sweep.yaml --out <folder> --workers 4\n"
            "liqsim report <folder>")


def _md_cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _md_table(t: Table) -> str:
    right = t.right or [False] * len(t.header)
    lines = [f"### {t.title}", "", "| " + " | ".join(_md_cell(h) for h in t.header) + " |",
             "|" + "|".join("---:" if r else "---" for r in right) + "|"]
    lines += ["| " + " | ".join(_md_cell(c) for c in row) + " |" for row in t.rows]
    if t.note:
        lines += ["", f"*{t.note}*"]
    return "\n".join(lines) + "\n"


def _markdown(ctx: _Context) -> str:
    parts = [f"# Sweep report: {ctx.name}", "", f"Built from stored results with "
             f"{ctx.provenance()}.", ""]
    if ctx.description:
        parts += [ctx.description.strip(), ""]
    parts += ["## Scenario", "", ctx.scenario_text(), ""]
    for table_id in _ORDER:
        t = ctx.section(table_id)
        if t is None:
            continue
        if table_id in _HEADINGS:
            parts += [f"## {_HEADINGS[table_id]}", ""]
        parts.append(_md_table(t))
        if table_id == "scorecard" and ctx.statements:
            parts += [*[f"- {_md_cell(s)}" for s in ctx.statements], ""]
    if ctx.charts:
        parts += ["## Charts", ""]
        for c in ctx.charts:
            others = ", ".join(f"[{fmt.upper()}]({ctx.rel(p)})" for fmt, p in c.paths.items()
                               if fmt != "png")
            parts += [f"### {c.title}", "", f"![{c.title}]({ctx.rel(c.paths['png'])})", "",
                      c.caption + (f" ({others})" if others else ""), ""]
    if ctx.drilldown_md:
        parts += [ctx.drilldown_md]
    failures = ctx.section("failures")
    if failures is not None:
        parts += ["## Failures", "", _md_table(failures)]
    parts += ["## Runs", "", _md_table(ctx.section("runs"))]
    parts += ["## Reproduce", "", "```", _reproduce(), "```", ""]
    return "\n".join(parts)
