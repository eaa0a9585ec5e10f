"""Run reports: one self-contained HTML page from a stored run folder.

``build_run_report(run_dir)`` reads only the run folder (``RunResult.load``) and writes into
``<run_dir>/report/``::

    report.html     one file to attach as it is: CSS inline, charts as inline SVG
    scenario.json   the scenario as run, for ``liqsim run scenario.json --seed N``
    charts/         the run's charts as SVG

Sections: the run's label and scenario description, its summary figures with units, its
provenance (seed, status, date, versions, commit), the charts, the cascade graph as a picture
(``simulator.charts.cascade``), the timeline of price, liquidation queue, insurance fund and
ADL (``simulator.charts.timeline``), and how to reproduce it. The
page holds nothing the run folder does not: the same folder gives the same report. This
module renders; it must not run simulations.
"""

from __future__ import annotations

import html
import json
from pathlib import Path
from typing import Any

import matplotlib.style
import pandas as pd

from simulator.charts import style as ps
from simulator.charts.cascade import cascade_figure, cascade_view
from simulator.charts.run import write_figures
from simulator.charts.timeline import TOP_N, timeline_figure
from simulator.report.page import (
    Report,
    ReportError,
    html_table,
    page,
    paragraphs,
    provenance_text,
    svg_figure,
)
from simulator.report.tables import Table
from simulator.run import catalogue
from simulator.run.epoch import parse_epoch
from simulator.run.provenance import run_label
from simulator.run.result import RunResult, write_atomic

__all__ = ["RUN_FIGURES", "build_run_report", "run_summary_table"]

# The summary figures of a run: the catalogue's headline figures, in its reading order.
RUN_FIGURES: tuple[str, ...] = tuple(catalogue.names("headline"))
CAPTIONS = {
    "price_paths": "Prices per market over the run, each liquidation marked at its price: "
                   "colour by cascade generation, marker by side.",
    "liquidated_notional": "Liquidated notional per sample interval, longs and shorts "
                           "mirrored.",
    "insurance_fund": "The insurance fund over the run, with auto-deleveraging events.",
    "generations": "Liquidations per cascade generation (bars) and their notional.",
}
TITLES = {"price_paths": "Price paths and liquidations",
          "liquidated_notional": "Liquidated notional", "insurance_fund": "Insurance fund",
          "generations": "Cascade generations"}


def run_summary_table(summary: dict[str, Any]) -> Table:
    """The run's headline figures (those it recorded) with their units and meanings."""
    rows = []
    for key in RUN_FIGURES:
        if key in summary:
            fig = catalogue.figure(key)
            rows.append([fig.label, catalogue.format_value(summary[key], fig.unit, missing="–"),
                         fig.unit, fig.meaning])
    return Table("summary", "Summary", ["figure", "value", "unit", "meaning"], rows,
                 right=[False, True, False, False])


def _provenance_table(meta: dict[str, Any], run_dir: Path) -> Table:
    libraries = meta.get("libraries") or {}
    rows = [
        ["label", str(meta.get("label") or run_label(meta.get("scenario") or {}))],
        ["scenario", str((meta.get("scenario") or {}).get("name", "?"))],
        ["seed", str(meta.get("seed"))],
        ["status", str(meta.get("status"))],
    ]
    if meta.get("error"):
        rows.append(["error", str(meta["error"])])
    simulated_ms = int(meta.get("simulated_ms") or 0)
    simulated = f"{simulated_ms / 60_000:g} min"
    epoch = parse_epoch(meta.get("epoch_utc"))
    if epoch is not None:  # a replay's run: its span on the UTC clock too
        end = epoch + pd.Timedelta(milliseconds=simulated_ms)
        simulated += f", {epoch:%Y-%m-%d %H:%M} to {end:%Y-%m-%d %H:%M} UTC"
    rows += [
        ["date (UTC)", str(meta.get("created") or "not recorded")],
        ["simulated", simulated],
        ["liqsim", str(meta.get("liqsim_version", "unknown"))],
        ["git commit", str(meta.get("git_commit") or "unknown")],
        ["Python", str(meta.get("python", "unknown"))],
        ["libraries", ", ".join(f"{k} {v}" for k, v in sorted(libraries.items())) or "–"],
        ["run folder", run_dir.name],
    ]
    return Table("provenance", "Provenance", ["field", "value"], rows)


def build_run_report(run_dir: str | Path, out_dir: str | Path | None = None) -> Report:
    """Write ``report.html``, ``scenario.json`` and ``charts/`` for the run stored in
    ``run_dir`` (into ``out_dir``, default ``<run_dir>/report``). Raises ``ReportError``
    when the folder holds no readable run."""
    run_dir = Path(run_dir)
    try:
        result = RunResult.load(run_dir)
    except (OSError, ValueError, KeyError) as exc:
        raise ReportError(f"{run_dir}: cannot read the run folder: {exc}") from None
    meta = result.meta
    scenario = meta.get("scenario") or {}
    name = str(meta.get("label") or run_label(scenario))
    out = Path(out_dir) if out_dir is not None else run_dir / "report"
    out.mkdir(parents=True, exist_ok=True)
    charts = write_figures(result.events, result.timeseries, result.summary, out / "charts",
                           title=name, formats=("svg",))
    tables = [run_summary_table(result.summary), _provenance_table(meta, run_dir)]
    scenario_text = json.dumps(scenario, indent=2) + "\n"
    write_atomic(out / "scenario.json", lambda p: Path(p).write_text(scenario_text))

    parts = [f"<h1>Run report: {html.escape(name)}</h1>",
             f'<p class="meta">Seed {html.escape(str(meta.get("seed")))}, '
             f'{html.escape(str(meta.get("status")))}; run with '
             f"{html.escape(provenance_text(meta))}.</p>"]
    parts += paragraphs(str(scenario.get("description") or "")
                        or "The scenario has no description.")
    parts += ["<h2>Results</h2>", html_table(tables[0]), html_table(tables[1])]
    parts.append("<h2>Charts</h2>")
    for path in charts:
        key = path.stem
        parts.append(svg_figure(key, TITLES.get(key, key), path, CAPTIONS.get(key, "")))
    views = _views(result, out / "charts")
    charts += [path for path, _ in views.values()]
    path, caption = views["cascade_graph"]
    parts += ["<h2>Cascade graph</h2>",
              svg_figure("cascade_graph", "Cascade graph", path, caption)]
    path, caption = views["timeline"]
    parts += ["<h2>Timeline</h2>", svg_figure("timeline", "Timeline", path, caption)]
    parts += ["<h2>Reproduce</h2>", f"<pre>{html.escape(_reproduce(meta))}</pre>"]
    html_path = out / "report.html"
    text = page(f"Run report: {name}", "\n".join(parts))
    write_atomic(html_path, lambda p: Path(p).write_text(text, encoding="utf-8"))
    return Report(html_path, None, charts, tables, kind="run")


def _views(result: RunResult, out: Path) -> dict[str, tuple[Path, str]]:
    """The cascade picture and the timeline as ``out/<name>.svg``, with their captions.
    Drawn from the stored tables, so folders saved without GraphML (sweeps) work too."""
    view = cascade_view(result.events, result.cascade_edges)
    captions = {"cascade_graph": view.caption,
                "timeline": "Mark price change per market (the largest "
                            f"{TOP_N} liquidations circled, labelled with their notional), "
                            "liquidation queue, insurance fund and cumulative ADL notional "
                            "on one time axis."}
    written: dict[str, tuple[Path, str]] = {}
    with matplotlib.style.context(ps.STYLE_PATH):
        figures = {"cascade_graph": cascade_figure(result.events, result.cascade_edges,
                                                   view=view),
                   "timeline": timeline_figure(result)}
        for name, fig in figures.items():
            path = out / f"{name}.svg"
            ps.save_atomic(fig, path, "svg")
            fig.clear()
            written[name] = (path, captions[name])
    return written


def _reproduce(meta: dict[str, Any]) -> str:
    return ("# scenario.json (beside this page) is the scenario as run, overrides applied\n"
            f"liqsim run scenario.json --seed {meta.get('seed')}\n"
            "liqsim report <the new run folder>")
