"""The sweep report's drill-down: per cell and variant, its runs and its representative run.

The sweep report links the cell number of each row of its scorecard, per-cell and failures
tables to an in-page section here: a ``<details>`` block listing the group's runs (seed,
status, headline figures with units) and, for its representative run (the median complete run
by ``REPRESENTATIVE_BY``, the lower median for an even count, ties by seed), its key figures
and one inline SVG chart. Everything is inline, so ``report.html`` stays one file. The only
links to other files are optional: the runs' own ``report/report.html`` inside the sweep
folder, when built (``build_run_reports``, ``liqsim report --run-reports``), shown as their
relative path and said to work while the page stays in the folder. The representative's
folder is named as text relative to the sweep folder, so the section is the same wherever the
report is written.

Caps keep a sweep of thousands of runs readable: at most ``MAX_GROUPS`` sections,
``MAX_RUNS_LISTED`` runs listed per section, ``MAX_SVG_GROUPS`` sections with a chart, and
sections collapsed when there are more than ``MAX_OPEN``; the page says so. The sections'
tables are returned too (``Drilldown.tables``): the report lists them with its own. This module
reads the sweep's frames and stored run folders and renders strings; it must not run
simulations (the chart comes from ``simulator.charts.run``).
"""

from __future__ import annotations

import html
import io
import math
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import matplotlib.style
import pandas as pd

from simulator.charts.run import make_figures
from simulator.charts.style import STYLE_PATH
from simulator.charts.sweep_data import axis_name, axis_text
from simulator.report.page import ReportError, html_table, inline_svg
from simulator.report.tables import MAX_CELL_ROWS, Table, format_value, report_metrics
from simulator.run import catalogue
from simulator.run.result import RunResult
from simulator.sweep.stats import axis_columns

__all__ = ["MAX_GROUPS", "MAX_OPEN", "MAX_RUNS_LISTED", "MAX_SVG_GROUPS", "REPRESENTATIVE_BY",
           "RUN_REPORTS", "Drilldown", "Group", "anchored_table", "build_run_reports",
           "drilldown", "groups", "representative_metric", "run_report_path"]

MAX_GROUPS = MAX_CELL_ROWS  # as many sections as the per-cell table has rows
MAX_RUNS_LISTED = 20
MAX_SVG_GROUPS = 12  # one chart is ~50 kB of SVG: 12 keep the page under a megabyte of them
MAX_OPEN = MAX_SVG_GROUPS  # up to this many sections start open; more start collapsed
# A continuous money figure: its median is rarely tied, unlike counts such as cascade depth.
REPRESENTATIVE_BY = "liquidated_notional"
RUN_REPORTS = ("none", "representative", "all")
RUN_METRICS = ("liquidations", "liquidated_notional", "cascade_depth", "bad_debt",
               "insurance_fund_paid", "adl_notional")
CHART = "price_paths"
CHART_TITLE = "Price paths and liquidations"


@dataclass(frozen=True)
class Group:
    """One (cell, variant) of the sweep: its runs in plan order and its representative."""

    cell: str
    variant: str
    anchor: str
    axes: tuple[tuple[str, str], ...]  # (readable axis name, value) of the cell
    runs: pd.DataFrame
    representative: str | None  # run_key
    n_complete: int


def representative_metric(runs: pd.DataFrame) -> str | None:
    """``REPRESENTATIVE_BY`` when the runs recorded it, else the first headline metric."""
    metrics = report_metrics(runs)
    if REPRESENTATIVE_BY in metrics:
        return REPRESENTATIVE_BY
    return metrics[0] if metrics else None


def _representative(rows: pd.DataFrame, metric: str | None) -> tuple[str | None, int]:
    """(run_key of the median complete run by ``metric``, ties by seed, the lower median
    when the count is even; number of complete runs with a value)."""
    ok = rows[rows["status"] == "complete"]
    if metric is None or ok.empty:
        return None, 0
    values = pd.to_numeric(ok[metric], errors="coerce")
    ok = ok.assign(_v=values)[values.notna()]
    if ok.empty:
        return None, 0
    ordered = ok.sort_values(["_v", "seed"], kind="stable")
    return str(ordered["run_key"].iloc[(len(ordered) - 1) // 2]), len(ordered)


def groups(runs: pd.DataFrame, metric: str | None) -> list[Group]:
    """The first ``MAX_GROUPS`` (cell, variant) groups in plan order."""
    variants = list(dict.fromkeys(str(v) for v in runs["variant"]))
    axes = axis_columns(runs)
    keys = list(dict.fromkeys(zip(runs["cell"].astype(str), runs["variant"].astype(str),
                                  strict=True)))
    out = []
    for cell, variant in keys[:MAX_GROUPS]:
        rows = runs[(runs["cell"].astype(str) == cell) & (runs["variant"].astype(str) == variant)]
        first = rows.iloc[0]
        rep, n = _representative(rows, metric)
        out.append(Group(cell, variant, f"drill-{cell}-{variants.index(variant)}",
                         tuple((axis_name(a), axis_text(first[a])) for a in axes), rows, rep, n))
    return out


def run_report_path(sweep_dir: Path, run_key: str) -> Path:
    """Where ``build_run_report`` writes a run's page inside the sweep folder."""
    return sweep_dir / "runs" / run_key / "report" / "report.html"


def build_run_reports(sweep_dir: Path, runs: pd.DataFrame, found: Sequence[Group],
                      which: str) -> list[Path]:
    """Build the run reports ``which`` asks for ("none", "representative": each section's
    representative run, "all": every stored run) and return their pages. A run folder that
    cannot be read is skipped: the drill-down then shows no link for it."""
    if which not in RUN_REPORTS:
        raise ReportError(f"run_reports: {which!r} is not one of {', '.join(RUN_REPORTS)}")
    if which == "none":
        return []
    from simulator.report.run import build_run_report  # only when asked: it draws 4 charts

    keys = ([g.representative for g in found if g.representative is not None]
            if which == "representative" else [str(k) for k in runs["run_key"]])
    built = []
    for key in keys:
        folder = sweep_dir / "runs" / key
        if not (folder / "run.json").is_file():
            continue
        try:
            built.append(build_run_report(folder).html)
        except ReportError:
            continue
    return built


def _rel(path: Path, out: Path) -> str:
    return Path(os.path.relpath(path, out)).as_posix()


def anchored_table(t: Table, anchors: Mapping[tuple[str, str], str], cell_column: int,
                   variant_column: int) -> str:
    """``html_table(t)`` with each row's cell number linked to its drill-down section (rows
    without a section, beyond the cap, stay plain). The link wraps the cell's text only, so
    the table reads as before."""
    text = html_table(t)
    right = t.right or [False] * len(t.header)
    rows_html = []
    for row in t.rows:
        anchor = anchors.get((row[cell_column], row[variant_column]))
        cells = []
        for i, (c, num) in enumerate(zip(row, right, strict=False)):
            inner = html.escape(c)
            if i == t.link_column and c:
                inner = f'<a href="{html.escape(c)}">{inner}</a>'
            elif i == cell_column and anchor:
                inner = f'<a href="#{anchor}">{inner}</a>'
            cells.append(f'<td class="num">{inner}</td>' if num else f"<td>{inner}</td>")
        rows_html.append("<tr>" + "".join(cells) + "</tr>")
    start, end = text.index("<tbody>") + len("<tbody>"), text.index("</tbody>")
    return text[:start] + "".join(rows_html) + text[end:]


def _runs_listing(g: Group, sweep_dir: Path, out: Path) -> Table:
    metrics = [m for m in RUN_METRICS if m in g.runs.columns]
    listed = g.runs.head(MAX_RUNS_LISTED).to_dict("records")
    reports = [run_report_path(sweep_dir, str(r["run_key"])) for r in listed]
    linked = any(p.is_file() for p in reports)  # the column only when some run has a page
    rows = []
    for r, report in zip(listed, reports, strict=True):
        values = [format_value(r[m], catalogue.unit_of(m)) if r["status"] == "complete"
                  else "–" for m in metrics]
        row = [str(r["seed"]), str(r["replication"]), str(r["status"]),
               "yes" if str(r["run_key"]) == g.representative else "", *values]
        if linked:
            row.append(_rel(report, out) if report.is_file() else "")
        rows.append(row)
    note = (f"The first {MAX_RUNS_LISTED} of {len(g.runs)} runs; runs.parquet has them all."
            if len(g.runs) > MAX_RUNS_LISTED else "")
    if linked:
        note += (" Each run report link opens a page inside the sweep folder (liqsim report "
                 "--run-reports): it works while this page stays in the folder.")
    header = ["seed", "replication", "status", "representative",
              *[catalogue.title(m) for m in metrics]]
    right = [True, True, False, False, *[True] * len(metrics)]
    return Table(f"{g.anchor}-runs", f"Runs of cell {g.cell}, {g.variant} ({len(g.runs)})",
                 header + (["run report (in the sweep folder)"] if linked else []), rows,
                 note.strip(), right=right + ([False] if linked else []),
                 link_column=len(header) if linked else None)


def _figures_table(g: Group, row: Mapping[str, object]) -> Table:
    rows = []
    for key in catalogue.names("headline"):
        value = row.get(key)
        if value is None or (isinstance(value, float) and math.isnan(value)):
            continue
        fig = catalogue.figure(key)
        rows.append([fig.label, catalogue.format_value(value, fig.unit, missing="–"), fig.unit])
    return Table(f"{g.anchor}-figures", "Representative run: its figures",
                 ["figure", "value", "unit"], rows, right=[False, True, False])


def _chart_svg(run_dir: Path, prefix: str) -> str | None:
    """The run's price/liquidations chart as inline SVG markup; None when unreadable."""
    try:
        result = RunResult.load(run_dir)
    except (OSError, ValueError, KeyError):
        return None
    figures = make_figures(result.events, result.timeseries, result.summary)
    buffer = io.StringIO()
    try:
        # svg.hashsalt comes from the style: the same run gives the same markup.
        with matplotlib.style.context(STYLE_PATH):
            figures[CHART].savefig(buffer, format="svg", metadata={"Date": None})
    finally:
        for fig in figures.values():
            fig.clear()
    return inline_svg(buffer.getvalue(), prefix, CHART_TITLE)


def _summary_line(g: Group) -> str:
    axes = ", ".join(f"{n} = {v}" for n, v in g.axes)
    return (f"Cell {g.cell}" + (f" ({axes})" if axes else "") + f", {g.variant}: "
            f"{len(g.runs)} run{'s' if len(g.runs) != 1 else ''}")


@dataclass(frozen=True)
class Drilldown:
    """The rendered drill-down: its HTML, its Markdown and the tables it shows (in order)."""

    html: str
    markdown: str
    tables: list[Table]


def _section(g: Group, sweep_dir: Path, out: Path, metric: str | None, chart: bool,
             opened: bool, md_table: Callable[[Table], str]) -> tuple[str, str, list[Table]]:
    listing = _runs_listing(g, sweep_dir, out)
    tables = [listing]
    head = f'<details id="{g.anchor}"{" open" if opened else ""}>'
    parts = [head, f"<summary>{html.escape(_summary_line(g))}</summary>", html_table(listing)]
    md = [f"### {_summary_line(g)}", "", md_table(listing)]
    if g.representative is None:
        text = "No complete run with a value: no representative run."
        parts.append(f'<p class="note">{text}</p>')
        return "\n".join([*parts, "</details>"]), "\n".join([*md, text, ""]), tables
    row = g.runs[g.runs["run_key"].astype(str) == g.representative].iloc[0].to_dict()
    value = format_value(row[metric], catalogue.unit_of(str(metric)))
    # The folder as text relative to the sweep folder: the page's links to run folders are
    # in the runs table; this keeps the section the same wherever the report is written.
    text = (f"Representative run: seed {row['seed']} (replication {row['replication']}), "
            f"the median of {g.n_complete} complete run(s) by "
            f"{catalogue.title(str(metric))}, {value}; its folder is "
            f"runs/{g.representative}/ in the sweep folder.")
    parts.append(f"<p>{html.escape(text)}</p>")
    md += [text, ""]
    report = run_report_path(sweep_dir, g.representative)
    if report.is_file():
        rel = _rel(report, out)
        parts.append(f"<p>Its run report, in the sweep folder: <a href=\"{html.escape(rel)}\">"
                     f"{html.escape(rel)}</a></p>")
        md += [f"Its run report, in the sweep folder: [{rel}]({rel})", ""]
    figures = _figures_table(g, row)
    tables.append(figures)
    parts.append(html_table(figures))
    md.append(md_table(figures))
    svg = _chart_svg(sweep_dir / "runs" / g.representative, f"{g.anchor}-chart") \
        if chart else None
    if svg is not None:
        # Not a <figure>: the page's figures are the sweep's charts; this one is the run's.
        svg = svg.replace("<svg", '<svg style="max-width: 100%; height: auto"', 1)
        parts.append(f'<div class="drill-chart" id="{g.anchor}-chart">\n{svg}\n'
                     f'<p class="note">{CHART_TITLE} of the representative run (seed '
                     f"{html.escape(str(row['seed']))}).</p>\n</div>")
    parts.append("</details>")
    return "\n".join(parts), "\n".join(md), tables


def _intro(found: Sequence[Group], total: int, metric: str | None, opened: bool) -> str:
    by = catalogue.title(metric) if metric else "no metric (none recorded)"
    text = (f"Each cell number in the scorecard and per-cell tables opens its section here. "
            f"Per cell and variant: its runs (at most {MAX_RUNS_LISTED} listed) and its "
            f"representative run, the median complete run by {by} (the lower median for an "
            f"even count, ties by seed), with its figures and, in the first {MAX_SVG_GROUPS} "
            f"sections, its {CHART_TITLE.lower()} chart.")
    if not opened:
        text += f" With more than {MAX_OPEN} sections they start collapsed: click to open."
    if total > len(found):
        text += f" The first {len(found)} of {total} cells and variants have a section."
    return text


def drilldown(found: Sequence[Group], runs: pd.DataFrame, sweep_dir: Path, out: Path,
              metric: str | None, md_table: Callable[[Table], str]) -> Drilldown:
    """The drill-down section of the sweep page: heading, note, one block per group, in HTML
    and Markdown (``md_table`` renders a table as the Markdown file does)."""
    total = runs[["cell", "variant"]].drop_duplicates().shape[0]
    opened = len(found) <= MAX_OPEN  # a small sweep's page shows (and prints) everything
    intro = _intro(found, total, metric, opened)
    html_parts = ['<h2 id="drilldown">Drill-down</h2>', f'<p class="note">{html.escape(intro)}</p>']
    md_parts = ["## Drill-down", "", intro, ""]
    tables: list[Table] = []
    for i, g in enumerate(found):
        h, m, t = _section(g, sweep_dir, out, metric, i < MAX_SVG_GROUPS, opened, md_table)
        html_parts.append(h)
        md_parts.append(m)
        tables += t
    return Drilldown("\n".join(html_parts), "\n".join(md_parts), tables)
